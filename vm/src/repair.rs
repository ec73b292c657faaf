//! Declarations as hints, and the repair of the transactions that stray
//! from them.
//!
//! A user's own declaration is a promise: a transaction that touches a key
//! outside it is rejected whole (the Solana rule, [`Declarations::Strict`]).
//! A declaration derived by simulation ([`crate::Declarer`]) is only a
//! guess: run against the block's pre-state, a transaction may take another
//! path once the transactions before it have run. Under
//! [`Declarations::Hints`] a declaration never changes a result: the
//! outcome is the sequential executor's with no declaration at all, which is
//! plain revm's.
//!
//! - The sequential executor and the block-access-list executor need no
//!   repair: each transaction reads exactly the state before it (from the
//!   overlay, or from the list), so a stray is only counted.
//! - The lock-graph executors (waves, DAG) run a segment in two passes.
//!   - The first is the ordinary run, on the hints' lock graph. A
//!     transaction that touches a key outside its hint is stopped before
//!     it commits anything, as under the strict rule; one that fails (a
//!     nonce its stopped predecessor did not bump) is noted too. Every
//!     worker keeps a trail of the writes it committed, by position.
//!   - If nothing strayed or failed, the first pass is the answer: each
//!     transaction read only keys it declared, after every declared writer
//!     of them before it, so it read what it reads in block order.
//!   - Else [`repair`] walks the segment once in block order on the calling
//!     thread, keeping the state as of each position (an overlay of the
//!     trail's writes, the sequential executor's). A transaction that
//!     strayed or failed runs again there, on exactly the state before it,
//!     with no rule. So does one that read a key a repaired transaction
//!     left with another value than the first pass had there: a *dirty*
//!     key. Every other transaction is not run again: it read nothing
//!     dirty, so its first run read what it reads in block order, and its
//!     trail is applied as it stands. Only the strays and what truly
//!     depends on them run twice, never the rest of the block behind the
//!     first stray.
//!
//! A key's dirtiness is kept exactly where it can be: a repaired
//! transaction that writes a key with the value the first pass wrote there
//! leaves it clean. Two things are kept coarsely, which costs re-runs but
//! never a wrong result: once a repaired transaction clears an account's
//! storage differently, every slot of that account is dirty; once a
//! repaired transaction's fee differs from its first run's, the
//! beneficiary's account is dirty (every later fee folded into it moved).
//!
//! [`Repairs`] counts the strays (the same in every mode: a transaction
//! whose run in block order touches a key outside its declaration) and the
//! transactions run again.

use crate::access::{Recorder, StepObserver};
use crate::block::BlockEnv;
use crate::error::{Result, VmError};
use crate::exec::{build_evm, execute};
use crate::key::StateKey;
use crate::parallel::panic_message;
use crate::prepare::Prepared;
use crate::receipt::Receipt;
use crate::results::{Done, LeftBeneficiary, Results};
use crate::sequential::{Enforce, Overlay, View};
use crate::state::{State, StateChanges, Value};
use crate::tx::Transaction;
use alloy_primitives::{Address, U256};
use core::cell::RefCell;
use core::ops::Range;
use hashbrown::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What a transaction's declaration is to an executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Declarations {
    /// A promise (the Solana rule): a transaction that touches a key
    /// outside its declaration gets a [`crate::Status::AccessViolation`]
    /// receipt and is rejected whole.
    #[default]
    Strict,
    /// A hint, which may be wrong (derived by simulation): a transaction
    /// that strays outside it runs again after what it truly conflicts
    /// with, and the outcome is the sequential executor's with no
    /// declaration at all.
    Hints,
}

/// How a block's strays were dealt with (all zero under
/// [`Declarations::Strict`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Repairs {
    /// Transactions that touched a key outside their declaration when run
    /// in block order: the same in every mode.
    pub strays: usize,
    /// Transactions run a second time: in the lock-graph modes, those that
    /// strayed or failed in the first pass and those that read what a
    /// second run changed; none in the sequential and list modes.
    pub reexecuted: usize,
}

impl core::ops::AddAssign for Repairs {
    fn add_assign(&mut self, other: Self) {
        self.strays += other.strays;
        self.reexecuted += other.reexecuted;
    }
}

/// One worker's notes of a segment's first pass under hints.
#[derive(Debug, Default)]
pub(crate) struct Trail {
    /// Every write committed, with its transaction's position: each
    /// transaction's writes together, in the order made.
    writes: Vec<(u32, StateKey, Value)>,
    /// The positions of the transactions that strayed or failed.
    redo: Vec<u32>,
}

impl Trail {
    /// Transaction `index` committed `writes`.
    pub(crate) fn wrote<'v>(&mut self, index: usize, writes: impl Iterator<Item = (StateKey, &'v Value)>) {
        self.writes.extend(writes.map(|(key, value)| (index as u32, key, value.clone())));
    }

    /// Transaction `index` strayed or failed: it must run again.
    pub(crate) fn redo(&mut self, index: usize) {
        self.redo.push(index as u32);
    }

    /// Whether any of `trails` has a transaction to run again.
    pub(crate) fn any_redo(trails: &[Trail]) -> bool {
        trails.iter().any(|t| !t.redo.is_empty())
    }
}

/// A segment whose first pass left transactions to run again.
pub(crate) struct Segment<'a> {
    pub(crate) base: &'a State,
    pub(crate) env: &'a BlockEnv,
    /// The whole block's transactions.
    pub(crate) txs: &'a [Transaction],
    /// The segment's positions.
    pub(crate) range: Range<usize>,
    /// Its declarations, over cells.
    pub(crate) prepared: &'a Prepared,
    /// Its first pass's fees.
    pub(crate) results: &'a Results,
}

/// A repaired segment.
#[derive(Debug)]
pub(crate) struct Repaired {
    /// The block's changes after the segment.
    pub(crate) changes: StateChanges,
    /// The segment's fees.
    pub(crate) fees: U256,
    /// Whether any of its transactions ran.
    pub(crate) ran: bool,
    /// The fees the walk put in the beneficiary's account.
    pub(crate) credited: U256,
    /// The block access indices (positions + 1) of the transactions run
    /// again, ascending.
    pub(crate) again: Vec<u32>,
    /// The segment's strays.
    pub(crate) strays: usize,
}

/// What the walk knows to differ from the first pass.
#[derive(Debug, Default)]
struct Dirty {
    keys: HashSet<StateKey>,
    /// Accounts any of whose slots may differ.
    storage: HashSet<Address>,
    /// Whether the fees before the current position differ.
    fees: bool,
}

impl Dirty {
    fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.storage.is_empty() && !self.fees
    }

    /// Whether a transaction declaring `keys` (and the beneficiary, with
    /// `beneficiary`) may have read anything dirty.
    fn touches(&self, mut keys: impl Iterator<Item = StateKey>, beneficiary: bool) -> bool {
        (beneficiary && self.fees)
            || keys.any(|key| {
                self.keys.contains(&key) || matches!(key, StateKey::Storage(a, _) if self.storage.contains(&a))
            })
    }

    /// A transaction ran again and wrote `new` where its first pass wrote
    /// `old`.
    fn rewritten(&mut self, new: &[(StateKey, Value)], old: &[(u32, StateKey, Value)]) {
        for (key, value) in new {
            let before = old.iter().find(|(_, k, _)| k == key).map(|(_, _, v)| v);
            if before == Some(value) {
                self.keys.remove(key);
            } else {
                self.mark(key, value, before);
            }
        }
        for (_, key, value) in old {
            if !new.iter().any(|(k, _)| k == key) {
                self.mark(key, value, None);
            }
        }
    }

    fn mark(&mut self, key: &StateKey, value: &Value, other: Option<&Value>) {
        self.keys.insert(*key);
        if let StateKey::Account(address) = key
            && (value.clears_storage() || other.is_some_and(Value::clears_storage))
        {
            self.storage.insert(*address);
        }
    }
}

/// Walks `segment` in block order over `changes` (the block's changes
/// before it), applying the first pass's `trails` and running again what
/// must run again (module docs). `pending` is the fees not yet in the
/// beneficiary's account at the segment's start. The receipts of the
/// transactions run again replace theirs in `receipts` (the segment's, by
/// position in it), and so do their beneficiary balances in `left` and
/// their records in `recorder`. An error is the first failure in block
/// order, as the sequential executor reports it.
pub(crate) fn repair(
    segment: Segment<'_>,
    trails: Vec<Trail>,
    changes: StateChanges,
    mut pending: U256,
    receipts: &mut [Option<Receipt>],
    mut left: Option<&mut LeftBeneficiary>,
    mut recorder: Option<&mut Recorder>,
) -> Result<Repaired> {
    let Segment { base, env, txs, range, prepared, results } = segment;
    let offset = range.start;
    let mut redo = vec![false; range.len()];
    let mut trail = Vec::with_capacity(trails.iter().map(|t| t.writes.len()).sum());
    for t in trails {
        t.redo.iter().for_each(|&index| redo[index as usize - offset] = true);
        trail.extend(t.writes);
    }
    // Stable: each transaction's writes stay in the order made.
    trail.sort_by_key(|(index, _, _)| *index);
    let overlay = RefCell::new(Overlay::resume(base, changes));
    let policy = Enforce::new(Declarations::Hints);
    let mut evm = build_evm(View { overlay: &overlay, policy: &policy, system: false }, env);
    let mut dirty = Dirty::default();
    let (mut fees, mut ran, mut credited, mut strays) = (U256::ZERO, false, U256::ZERO, 0);
    let mut again = Vec::new();
    let mut writes = Vec::new();
    let mut credit = |pending: &mut U256| {
        if !pending.is_zero() {
            overlay.borrow_mut().credit(env.beneficiary, *pending);
            credited += *pending;
            *pending = U256::ZERO;
        }
    };
    let mut at = 0;
    for index in range {
        let start = at;
        while trail.get(at).is_some_and(|(i, _, _)| *i as usize == index) {
            at += 1;
        }
        let old = &mut trail[start..at];
        let decl = prepared.decl(index - offset);
        let first = results.fee(index).filter(|_| !redo[index - offset]);
        let keys = || decl.keys.iter().map(|k| prepared.cell(k.cell()).key);
        if let Some(fee) = first.filter(|_| dirty.is_empty() || !dirty.touches(keys(), decl.beneficiary)) {
            // Its first run read what it reads in block order.
            if decl.beneficiary {
                credit(&mut pending);
            }
            let mut overlay = overlay.borrow_mut();
            for (_, key, value) in old.iter_mut() {
                overlay.commit(*key, core::mem::replace(value, Value::Storage(U256::ZERO)));
            }
            let receipt = receipts[index - offset].as_ref();
            ran |= receipt.is_some_and(Receipt::ran);
            pending += fee;
            fees += fee;
            continue;
        }
        let tx = &txs[index];
        policy.declare(tx);
        credit(&mut pending);
        let observer = recorder.as_deref_mut().map(|r| r as &mut dyn StepObserver);
        let run = catch_unwind(AssertUnwindSafe(|| {
            // Under hints every key is allowed; one outside the declaration
            // marks the transaction a stray.
            let writable = |key: &StateKey| policy.allows(key, true).then_some(*key);
            execute(&mut evm, tx, index, env, writable, &mut writes, observer)
        }));
        let executed = match run {
            Ok(executed) => executed?,
            Err(panic) => return Err(VmError::Internal { index, message: panic_message(panic.as_ref()) }),
        };
        strays += usize::from(policy.strayed());
        dirty.rewritten(&writes, old);
        dirty.fees |= results.fee(index).unwrap_or_default() != executed.fee;
        let mut overlay_mut = overlay.borrow_mut();
        for (key, value) in writes.drain(..) {
            overlay_mut.commit(key, value);
        }
        drop(overlay_mut);
        let done = Done { fee: executed.fee, ran: executed.receipt.ran() };
        if let Some(left) = left.as_deref_mut() {
            left.replace(index - offset, executed.beneficiary, done);
        }
        receipts[index - offset] = Some(executed.receipt);
        ran |= done.ran;
        pending += done.fee;
        fees += done.fee;
        again.push(index as u32 + 1);
    }
    drop(evm);
    let changes = overlay.into_inner().into_changes();
    Ok(Repaired { changes, fees, ran, credited, again, strays })
}
