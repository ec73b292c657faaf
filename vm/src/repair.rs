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
//!     transaction that touches a key outside its hint is not stopped: it
//!     reads such a key as the segment found it (no cell holds it for the
//!     transaction, and another may be writing the cell), and its writes
//!     to such keys are kept aside, not committed. What it read and wrote
//!     outside its hint is noted; so is a transaction that fails. Each
//!     transaction's committed writes are kept ([`FirstPass`]).
//!   - If nothing strayed or failed, the first pass is the answer: each
//!     transaction read only keys it declared, after every declared writer
//!     of them before it, so it read what it reads in block order.
//!   - Else a [`Walk`] goes through the segment once in block order,
//!     keeping the state as of each position (an overlay of the kept
//!     writes, the sequential executor's). A transaction runs again there,
//!     on exactly the state before it and with no rule, if it failed, if
//!     it read a declared key that the first pass left with another value
//!     than block order has there (a *dirty* key), or if it strayed and a
//!     key it read outside its hint has another value there. Every other
//!     transaction is not run again: its first run read what it reads in
//!     block order, and its writes are applied as they stand; a stray's
//!     writes outside its hint, which no later transaction saw in the
//!     first pass, make their keys dirty. So a stray whose outside reads
//!     held runs once, and only what truly depends on a wrong first run
//!     runs twice, never the rest of the block behind the first stray.
//!   - In DAG mode the walk goes on while the first pass does, as far as
//!     the first pass has come: the calling thread walks before it takes
//!     first-pass work, and any worker with no first-pass work to take
//!     walks meanwhile, one at a time ([`Walker`]). In wave mode the walk
//!     follows the first pass.
//!
//! A key's dirtiness is kept exactly where it can be: a key a transaction
//! leaves with the value the first pass left in its cell is clean. An
//! account whose balance alone differs (the commonest case on mainnet: a
//! wrapped-ether contract's ether, the beneficiary's fees) is dirty only in
//! its balance, by a known amount. A transaction that read such an account
//! and nothing else dirty need not run again if its first run never
//! looked at that balance, only added to it or took from it
//! ([`crate::balances_seen`]: a send the balance covers either way, a
//! sender that can pay either way): its writes are kept with that
//! account's balance moved by the same amount. So is a stray whose only
//! outside read that block order changed is such a balance. One thing is
//! kept coarsely, which costs re-runs but never a wrong result: once a
//! repaired transaction clears an account's storage differently, every
//! slot of that account is dirty.
//!
//! [`Repairs`] counts the strays (the same in every mode: a transaction
//! whose run in block order touches a key outside its declaration) and the
//! transactions run again.

use crate::access::{Recorder, StepObserver};
use crate::balances_seen::Seen;
use crate::base::Base;
use crate::block::BlockEnv;
use crate::error::{Result, VmError};
use crate::exec::{Evm, build_evm, execute, tx_env};
use crate::key::StateKey;
use crate::parallel::panic_message;
use crate::prepare::Prepared;
use crate::receipt::Receipt;
use crate::results::{Done, Results};
use crate::sequential::{Enforce, Overlay, View};
use crate::state::{AccountValue, StateChanges, Value};
use crate::tx::Transaction;
use alloy_primitives::{Address, U256};
use core::cell::RefCell;
use hashbrown::{HashMap, HashSet};
use revm::context_interface::Transaction as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// What a transaction's declaration is to an executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Declarations {
    /// A promise (the Solana rule): a transaction that touches a key
    /// outside its declaration gets a [`crate::Status::AccessViolation`]
    /// receipt and is rejected whole.
    #[default]
    Strict,
    /// A hint, which may be wrong (derived by simulation): a transaction
    /// that strays outside it is not rejected, and the outcome is the
    /// sequential executor's with no declaration at all.
    Hints,
}

/// How a block's strays were dealt with (all zero under
/// [`Declarations::Strict`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Repairs {
    /// Transactions that touched a key outside their declaration when run
    /// in block order: the same in every mode.
    pub strays: usize,
    /// Transactions run a second time: in the lock-graph modes, those
    /// whose first run failed or read something block order changes; none
    /// in the sequential and list modes.
    pub reexecuted: usize,
}

impl core::ops::AddAssign for Repairs {
    fn add_assign(&mut self, other: Self) {
        self.strays += other.strays;
        self.reexecuted += other.reexecuted;
    }
}

/// A segment's first pass under hints, shared by its workers: where each
/// transaction stands, and the writes each committed.
///
/// Ordering: a transaction's writes, fee and receipt are set before its
/// standing is stored (`Release`), and read after it is loaded
/// (`Acquire`).
#[derive(Debug)]
pub(crate) struct FirstPass {
    /// Per transaction of the segment: [`PENDING`], [`DONE`], [`STRAYED`]
    /// or [`FAILED`].
    standing: Vec<AtomicU8>,
    /// Per transaction, the writes its first run committed.
    writes: Vec<OnceLock<Writes>>,
    /// Per transaction whose first run looked at a balance, what it made
    /// of it ([`crate::balances_seen`]).
    seen: Vec<OnceLock<Box<[Seen]>>>,
    /// Per transaction that strayed, what it read and wrote outside its
    /// declaration.
    outside: Vec<OnceLock<Box<Outside>>>,
    /// Whether any transaction strayed or failed: the segment is walked.
    needs_walk: AtomicBool,
}

/// A transaction's writes, in the order made.
type Writes = Box<[(StateKey, Value)]>;

/// Not through its first pass yet.
const PENDING: u8 = 0;
/// Ran within its declaration; its writes are kept.
const DONE: u8 = 1;
/// Failed: it runs in the walk.
const FAILED: u8 = 2;
/// Ran, straying outside its declaration; its writes are kept, and what it
/// did outside.
const STRAYED: u8 = 3;

/// What a first run did outside its declaration.
#[derive(Debug, Default)]
pub(crate) struct Outside {
    /// Each key read, with the value the segment started with.
    pub(crate) reads: Vec<(StateKey, Value)>,
    /// Each key written, with its new value (not committed).
    pub(crate) writes: Vec<(StateKey, Value)>,
}

impl FirstPass {
    /// A pass over `txs` transactions, none through yet.
    pub(crate) fn new(txs: usize) -> Self {
        Self {
            standing: (0..txs).map(|_| AtomicU8::new(PENDING)).collect(),
            writes: (0..txs).map(|_| OnceLock::new()).collect(),
            seen: (0..txs).map(|_| OnceLock::new()).collect(),
            outside: (0..txs).map(|_| OnceLock::new()).collect(),
            needs_walk: AtomicBool::new(false),
        }
    }

    /// Transaction `tx` (of the segment) is about to commit `writes`,
    /// having seen the balances of `seen`.
    pub(crate) fn wrote<'v>(&self, tx: usize, writes: impl Iterator<Item = (StateKey, &'v Value)>, seen: Vec<Seen>) {
        let _ = self.writes[tx].set(writes.map(|(key, value)| (key, value.clone())).collect());
        if !seen.is_empty() {
            let _ = self.seen[tx].set(seen.into());
        }
    }

    /// Transaction `tx` is through, its writes, fee and receipt set, and
    /// with `outside`, what it did outside its declaration.
    pub(crate) fn done(&self, tx: usize, outside: Option<Outside>) {
        let standing = match outside {
            Some(outside) => {
                let _ = self.outside[tx].set(Box::new(outside));
                self.needs_walk.store(true, Ordering::Relaxed);
                STRAYED
            }
            None => DONE,
        };
        self.standing[tx].store(standing, Ordering::Release);
    }

    /// Transaction `tx` failed: it runs again in the walk.
    pub(crate) fn failed(&self, tx: usize) {
        self.needs_walk.store(true, Ordering::Relaxed);
        self.standing[tx].store(FAILED, Ordering::Release);
    }

    /// Whether any transaction strayed or failed, so that the segment is
    /// walked.
    pub(crate) fn needs_walk(&self) -> bool {
        self.needs_walk.load(Ordering::Relaxed)
    }
}

/// A segment whose first pass left transactions to run again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment<'a> {
    pub(crate) base: &'a Base<'a>,
    pub(crate) env: &'a BlockEnv,
    /// The segment's transactions.
    pub(crate) txs: &'a [Transaction],
    /// The segment's first position.
    pub(crate) offset: usize,
    /// Its declarations, over cells.
    pub(crate) prepared: &'a Prepared,
    /// Its first pass's fees.
    pub(crate) results: &'a Results,
    /// Its first pass.
    pub(crate) pass: &'a FirstPass,
}

/// What the walk knows to differ from the first pass.
#[derive(Debug, Default)]
struct Dirty {
    keys: HashSet<StateKey>,
    /// Accounts any of whose slots may differ.
    storage: HashSet<Address>,
    /// Accounts (not in `keys`) that differ in their balance only: by how
    /// much block order's exceeds the first pass's, modulo 2^256.
    balances: HashMap<Address, U256>,
}

impl Dirty {
    fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.storage.is_empty() && self.balances.is_empty()
    }

    /// Whether a transaction declaring `keys` may have read anything dirty
    /// beyond a balance.
    fn touches(&self, mut keys: impl Iterator<Item = StateKey>) -> bool {
        keys.any(|key| self.differs(&key))
    }

    /// Whether `key` may differ beyond a balance.
    fn differs(&self, key: &StateKey) -> bool {
        self.keys.contains(key) || matches!(key, StateKey::Storage(a, _) if self.storage.contains(a))
    }

    /// A transaction ran again and wrote `new` where its first pass wrote
    /// `old` to cells; `before` is block order's value of a key before it.
    fn rewritten(&mut self, new: &[(StateKey, Value)], old: &[(StateKey, Value)], before: impl Fn(&StateKey) -> Value) {
        for (key, value) in new {
            let cell = match old.iter().find(|(k, _)| k == key) {
                Some((_, old)) => Some(old.clone()),
                // The first run left the cell as it was.
                None => self.cell(key, before(key)),
            };
            self.settle(key, cell.as_ref(), value);
        }
        for (key, value) in old {
            if !new.iter().any(|(k, _)| k == key) {
                self.settle(key, Some(value), &before(key));
            }
        }
    }

    /// What the first pass's cell of `key` holds, as far as known, where
    /// block order has `exact`.
    fn cell(&self, key: &StateKey, exact: Value) -> Option<Value> {
        if self.differs(key) {
            return None;
        }
        match (key, exact) {
            (StateKey::Account(address), exact) if let Some(by) = self.balances.get(address) => match exact {
                Value::Account(Some(mut account)) => {
                    account.balance = account.balance.wrapping_sub(*by);
                    Some(Value::Account(Some(account)))
                }
                _ => None,
            },
            (_, exact) => Some(exact),
        }
    }

    /// The first pass's cell of `key` holds `cell` (`None`: not known)
    /// where block order has `exact`.
    fn settle(&mut self, key: &StateKey, cell: Option<&Value>, exact: &Value) {
        match (key, cell) {
            (_, Some(cell)) if cell == exact => {
                self.keys.remove(key);
                self.forget_balance(key);
            }
            (StateKey::Account(address), Some(cell)) if let Some(shift) = balance_shift(cell, exact) => {
                self.keys.remove(key);
                self.balances.insert(*address, shift);
            }
            _ => self.mark(key, exact, cell),
        }
    }

    fn mark(&mut self, key: &StateKey, value: &Value, other: Option<&Value>) {
        self.keys.insert(*key);
        self.forget_balance(key);
        if let StateKey::Account(address) = key
            && (value.clears_storage() || other.is_some_and(Value::clears_storage))
        {
            self.storage.insert(*address);
        }
    }

    fn forget_balance(&mut self, key: &StateKey) {
        if let StateKey::Account(address) = key {
            self.balances.remove(address);
        }
    }

    /// Block order's balance of `address` moved by `by` (modulo 2^256)
    /// against the first pass's: a fee that differs, for the beneficiary.
    fn shift(&mut self, address: Address, by: U256) {
        if by.is_zero() || self.keys.contains(&StateKey::Account(address)) {
            return;
        }
        let shift = self.balances.entry(address).or_default();
        *shift = shift.wrapping_add(by);
        if shift.is_zero() {
            self.balances.remove(&address);
        }
    }
}

/// What the walk knows of a transaction's first run, to judge whether it
/// holds for balances block order moved.
#[derive(Debug, Clone, Copy)]
struct FirstRun<'r> {
    transaction: &'r Transaction,
    /// What it made of balances.
    seen: &'r [Seen],
    /// Its writes to its cells.
    written: &'r [(StateKey, Value)],
    /// Its writes outside its declaration.
    left: &'r [(StateKey, Value)],
    /// Whether access is recorded.
    recording: bool,
}

/// `value` written to `key`, its balance moved where `shifts` says.
fn shifted(key: &StateKey, value: &Value, shifts: &[(Address, U256)]) -> Value {
    match (key, value) {
        (StateKey::Account(address), Value::Account(Some(account)))
            if let Some((_, by)) = shifts.iter().find(|(a, _)| a == address) =>
        {
            Value::Account(Some(AccountValue { balance: account.balance.wrapping_add(*by), ..account.clone() }))
        }
        _ => value.clone(),
    }
}

/// How much `new`'s balance exceeds `old`'s (modulo 2^256), if the two are
/// the same existing account but for the balance.
fn balance_shift(old: &Value, new: &Value) -> Option<U256> {
    match (old, new) {
        (Value::Account(Some(old)), Value::Account(Some(new))) if old.nonce == new.nonce && old.code == new.code => {
            Some(new.balance.wrapping_sub(old.balance))
        }
        _ => None,
    }
}

/// The walk's EVM: the sequential executor's, over the walk's overlay.
type WalkEvm<'o, 'a> = Evm<View<'o, 'a, Enforce>>;

/// The walk through a segment (module docs), with the state as of its
/// position and its rule: one worker at a time walks on, whichever has
/// nothing else to do (see `parallel.rs`).
#[derive(Debug)]
pub(crate) struct Walker<'a> {
    walk: Walk<'a>,
    overlay: RefCell<Overlay<'a>>,
    policy: Enforce,
}

impl<'a> Walker<'a> {
    /// A walk through `segment` from the state `changes` (the block's
    /// changes before it) leave over the base, `pending` the fees not yet
    /// in the beneficiary's account.
    pub(crate) fn new(segment: Segment<'a>, pending: U256, changes: StateChanges) -> Self {
        let overlay = RefCell::new(Overlay::resume(segment.base, changes));
        Self { walk: Walk::new(segment, pending), overlay, policy: Enforce::new(Declarations::Hints) }
    }

    /// Whether the walk is through the segment.
    pub(crate) fn is_over(&self) -> bool {
        self.walk.at == self.walk.end
    }

    /// The next position.
    pub(crate) fn position(&self) -> usize {
        self.walk.at
    }

    /// Walks on as far as the first pass has come, running again what must
    /// run again, its steps recorded in `recorder`. An error is the first
    /// failure in block order, as the sequential executor reports it.
    pub(crate) fn advance(&mut self, recorder: Option<&mut Recorder>) -> Result<()> {
        let Self { walk, overlay, policy } = self;
        // Built only if a transaction runs again.
        let mut evm = None;
        walk.advance(policy, overlay, &mut evm, recorder)
    }

    /// The walk's findings, with the state it reached; an error if it
    /// stopped short of the segment's end (a transaction the first pass
    /// never went through).
    pub(crate) fn finish(self) -> Result<Walked> {
        self.walk.finish(self.overlay.into_inner())
    }
}

/// The walk through a segment (module docs): its position, and what it
/// found so far.
#[derive(Debug)]
struct Walk<'a> {
    segment: Segment<'a>,
    /// The segment's end.
    end: usize,
    /// The next position.
    at: usize,
    dirty: Dirty,
    /// Fees not yet in the beneficiary's account.
    pending: U256,
    fees: U256,
    ran: bool,
    credited: U256,
    strays: usize,
    /// The block access indices of the transactions run again, ascending.
    again: Vec<u32>,
    /// Their receipts, and what they left the beneficiary with.
    receipts: Vec<(usize, Receipt, Option<U256>, Done)>,
    writes: Vec<(StateKey, Value)>,
}

/// The walk's EVM over `overlay`, under `policy`.
fn walk_evm<'o, 'a>(overlay: &'o RefCell<Overlay<'a>>, policy: &'o Enforce, env: &BlockEnv) -> WalkEvm<'o, 'a> {
    build_evm(View { overlay, policy, system: false }, env)
}

/// A walked segment.
#[derive(Debug)]
pub(crate) struct Walked {
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
    /// Their receipts, what they left the beneficiary with (if it changed)
    /// and their fees.
    pub(crate) receipts: Vec<(usize, Receipt, Option<U256>, Done)>,
    /// The segment's strays.
    pub(crate) strays: usize,
}

impl<'a> Walk<'a> {
    /// A walk through `segment`, `pending` the fees not yet in the
    /// beneficiary's account at its start.
    fn new(segment: Segment<'a>, pending: U256) -> Self {
        Self {
            segment,
            end: segment.offset + segment.pass.standing.len(),
            at: segment.offset,
            dirty: Dirty::default(),
            pending,
            fees: U256::ZERO,
            ran: false,
            credited: U256::ZERO,
            strays: 0,
            again: Vec::new(),
            receipts: Vec::new(),
            writes: Vec::new(),
        }
    }

    /// [`Walker::advance`], on the state `overlay` under `policy`, with
    /// `evm` over them once one is needed.
    fn advance<'o>(
        &mut self,
        policy: &'o Enforce,
        overlay: &'o RefCell<Overlay<'a>>,
        evm: &mut Option<WalkEvm<'o, 'a>>,
        mut recorder: Option<&mut Recorder>,
    ) -> Result<()> {
        let Segment { env, txs, offset, prepared, results, pass, .. } = self.segment;
        while self.at < self.end {
            let (index, tx) = (self.at, self.at - offset);
            let standing = pass.standing[tx].load(Ordering::Acquire);
            if standing == PENDING {
                return Ok(());
            }
            // A failed first run counts as having written nothing (it may
            // have failed half-way through committing), nor had a fee.
            let ran = standing != FAILED;
            let old = pass.writes[tx].get().filter(|_| ran).map_or(&[][..], |w| &w[..]);
            // Set only where the first run went through, straying.
            let outside = pass.outside[tx].get();
            let decl = prepared.decl(tx);
            let keys = || decl.keys.iter().map(|k| prepared.cell(k.cell()).key);
            if decl.beneficiary {
                // Its balance as block order has it, for `shifts`.
                self.credit(overlay);
            }
            let seen = pass.seen[tx].get().map_or(&[][..], |s| &s[..]);
            let left = outside.map_or(&[][..], |o| &o.writes[..]);
            let first = FirstRun { transaction: &txs[tx], seen, written: old, left, recording: recorder.is_some() };
            // A failed first run runs again.
            let shifts = if !ran || self.dirty.touches(keys()) {
                None
            } else if self.dirty.is_empty() {
                Some(Vec::new())
            } else {
                self.shifts(keys(), &first, overlay)
            };
            let held = shifts.and_then(|mut shifts| {
                if let Some(outside) = outside {
                    shifts.extend(self.outside_shifts(outside, &first, overlay)?);
                }
                Some(shifts)
            });
            if let Some(shifts) = held {
                // Its first run read what it reads in block order, but for
                // balances it never saw: what it left them is shifted as
                // they are.
                let mut overlay = overlay.borrow_mut();
                for (key, value) in old {
                    overlay.commit(*key, shifted(key, value, &shifts));
                }
                if let Some(outside) = outside {
                    // No later transaction saw these in the first pass:
                    // their cells (if any) hold what they held.
                    for (key, value) in &outside.writes {
                        let value = shifted(key, value, &shifts);
                        let cell = self.dirty.cell(key, overlay.value(key));
                        self.dirty.settle(key, cell.as_ref(), &value);
                        overlay.commit(*key, value);
                    }
                    self.strays += 1;
                }
                let fee = results.fee(index).unwrap_or_default();
                self.pending += fee;
                self.fees += fee;
                self.ran = true;
                self.at += 1;
                continue;
            }
            let transaction = &txs[tx];
            policy.declare(transaction);
            self.credit(overlay);
            let writes = &mut self.writes;
            let observer = recorder.as_deref_mut().map(|r| r as &mut dyn StepObserver);
            let run = catch_unwind(AssertUnwindSafe(|| {
                // Under hints every key is allowed; one outside the
                // declaration marks the transaction a stray.
                let writable = |key: &StateKey| policy.allows(key, true).then_some(*key);
                let evm = evm.get_or_insert_with(|| walk_evm(overlay, policy, env));
                execute(evm, transaction, index, env, writable, writes, observer)
            }));
            let executed = match run {
                Ok(executed) => executed?,
                Err(panic) => return Err(VmError::Internal { index, message: panic_message(panic.as_ref()) }),
            };
            self.strays += usize::from(policy.strayed());
            self.dirty.rewritten(&self.writes, old, |key| overlay.borrow().value(key));
            let first = results.fee(index).unwrap_or_default();
            self.dirty.shift(env.beneficiary, executed.fee.wrapping_sub(first));
            let mut overlay = overlay.borrow_mut();
            for (key, value) in self.writes.drain(..) {
                overlay.commit(key, value);
            }
            drop(overlay);
            let done = Done { fee: executed.fee, ran: executed.receipt.ran() };
            self.receipts.push((index, executed.receipt, executed.beneficiary, done));
            self.ran |= done.ran;
            self.pending += done.fee;
            self.fees += done.fee;
            self.again.push(index as u32 + 1);
            self.at += 1;
        }
        Ok(())
    }

    /// Where a transaction, declaring `keys`, read accounts whose balance
    /// alone is dirty, and nothing else dirty: by how much each account's
    /// balance differs, if its first run holds for them ([`Self::holds`]);
    /// `None` if it must run again.
    fn shifts(
        &self,
        keys: impl Iterator<Item = StateKey>,
        first: &FirstRun<'_>,
        overlay: &RefCell<Overlay<'a>>,
    ) -> Option<Vec<(Address, U256)>> {
        let mut shifts = Vec::new();
        for key in keys {
            let StateKey::Account(address) = key else { continue };
            let Some(&by) = self.dirty.balances.get(&address) else { continue };
            match overlay.borrow().value(&key) {
                Value::Account(Some(account)) if self.holds(address, by, account.balance, first) => {}
                _ => return None,
            }
            shifts.push((address, by));
        }
        Some(shifts)
    }

    /// Where a stray's first run read keys outside its declaration (as the
    /// segment found them): by how much each account it read differs in
    /// block order, if only in its balance and the first run holds for it
    /// ([`Self::holds`]); `None` if any other key it read differs, or if it
    /// must run again. It must also run again if it read or wrote the
    /// beneficiary's account outside its declaration (the walk folds the
    /// fees into it as it goes), or wrote outside it an account whose
    /// storage that write clears (its slots' writes may be on both sides of
    /// the declaration).
    fn outside_shifts(
        &self,
        outside: &Outside,
        first: &FirstRun<'_>,
        overlay: &RefCell<Overlay<'a>>,
    ) -> Option<Vec<(Address, U256)>> {
        let beneficiary = StateKey::Account(self.segment.env.beneficiary);
        if outside.writes.iter().any(|(key, value)| *key == beneficiary || value.clears_storage()) {
            return None;
        }
        let overlay = overlay.borrow();
        let mut shifts = Vec::new();
        for (key, read) in &outside.reads {
            if *key == beneficiary {
                return None;
            }
            let exact = overlay.value(key);
            if exact == *read {
                continue;
            }
            match (key, balance_shift(read, &exact), &exact) {
                (StateKey::Account(address), Some(by), Value::Account(Some(account)))
                    if self.holds(*address, by, account.balance, first) =>
                {
                    shifts.push((*address, by));
                }
                _ => return None,
            }
        }
        Some(shifts)
    }

    /// Whether a first run holds for the balance of `address` moved by `by`
    /// (modulo 2^256), to `exact` in block order. It does if what the run
    /// made of the balance ([`Seen::holds`]) holds for the moved one, so
    /// that it otherwise only added to it or took from it; if, as the
    /// transaction's sender, the account can pay what it may spend either
    /// way; and if the account has a balance before the run and after it,
    /// either way (a write that deletes or recreates it counts as none).
    /// Then neither its emptiness nor its existence differs: what looks at
    /// them (a call's new-account cost, `EXTCODEHASH`, EIP-161) looks at
    /// the start of the run or its end, and a balance falls during a run
    /// only where the account has code or is the sender, so it never
    /// empties in between. Every balance involved must also stay below
    /// 2^128 wei, so that a transfer overflowing one side only (which revm
    /// refuses) takes a single one of more than 2^256 - 2^128 wei, and the
    /// sign of `by` is its top bit. Never where access is recorded (a
    /// run's record holds the balances it left).
    fn holds(&self, address: Address, by: U256, exact: U256, first: &FirstRun<'_>) -> bool {
        let FirstRun { transaction, seen, written, left, recording } = *first;
        if recording || seen.iter().any(|seen| seen.address() == address && !seen.holds(by)) {
            return false;
        }
        if address == transaction.from {
            let Ok(spends) = tx_env(transaction, self.segment.env.chain_id).max_balance_spending() else {
                return false;
            };
            if exact < spends || exact.wrapping_sub(by) < spends {
                return false;
            }
        }
        let key = StateKey::Account(address);
        let after = written.iter().chain(left).find(|(k, _)| *k == key).map(|(_, value)| match value {
            Value::Account(Some(account)) => account.balance,
            _ => U256::ZERO,
        });
        // A balance on both sides, below 2^128 wei.
        let funded = |balance: U256| {
            let other = balance.wrapping_sub(by);
            !balance.is_zero() && !other.is_zero() && balance.bit_len() <= 128 && other.bit_len() <= 128
        };
        funded(exact) && after.is_none_or(|after| funded(after.wrapping_add(by)))
    }

    /// Puts the pending fees in the beneficiary's account.
    fn credit(&mut self, overlay: &RefCell<Overlay<'a>>) {
        if !self.pending.is_zero() {
            overlay.borrow_mut().credit(self.segment.env.beneficiary, self.pending);
            self.credited += self.pending;
            self.pending = U256::ZERO;
        }
    }

    /// [`Walker::finish`], with the state it reached (`overlay`).
    fn finish(self, overlay: Overlay<'_>) -> Result<Walked> {
        if self.at != self.end {
            let message = "the first pass left the transaction unfinished".into();
            return Err(VmError::Internal { index: self.at, message });
        }
        let Self { fees, ran, credited, again, receipts, strays, .. } = self;
        Ok(Walked { changes: overlay.into_changes(), fees, ran, credited, again, receipts, strays })
    }
}
