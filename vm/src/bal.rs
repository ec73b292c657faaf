//! Executing a block from its access list (EIP-7928): every transaction at
//! once, none waiting for another.
//!
//! The list gives the value every step left in every key it changed, so
//! transaction `i` need not wait for the ones before it: it reads what they
//! left from the list ([`ListedAccess`]: the last change below its block
//! access index `i + 1`, else the base state). Workers take transactions
//! from a shared counter, heaviest first, each with one EVM reused for all
//! it takes, and check each as it ends against the list (`listed.rs`):
//! what it loaded is listed, and the changes it computed are the list's at
//! its index. Once every step checks, the list is the block's, and so is
//! what each transaction computed from it.
//!
//! The block's changes are made without replaying its writes in order:
//! the list says which transaction changes a key last, so a worker keeps
//! that write as the key's final value and drops the ones a later
//! transaction overwrites ([`Fate`]). Only what depends on what came before
//! goes in block order, on the calling thread once the workers are done:
//! created and deleted accounts, accounts the block destroys, and the
//! beneficiary's fees, folded as the sequential executor folds them. Then
//! the block's rules after the last transaction run on the changes and are
//! checked against the list too. The outcome is the sequential executor's,
//! whatever the thread count; any disagreement fails the block with
//! [`VmError::AccessList`] for the first step in block order that shows
//! it, and nothing is applied.
//!
//! A block before EIP-161 (Spurious Dragon) runs on the sequential path,
//! and its list is checked against what that run records: there a touched
//! account that did not exist comes into being, empty, and whether it
//! exists changes what a later transaction pays, which no list says.
//!
//! Declarations still hold: a transaction that reads or writes outside its
//! declaration is rejected for an access violation as in every mode (and
//! leaves no entry in the list). Under [`Declarations::Hints`] nothing is
//! rejected, and a stray needs no repair: it read what the list holds at
//! its index, as every transaction does. It is only counted.

use crate::access::{Recorder, after_last};
use crate::base::{Base, BaseState};
use crate::beneficiary;
use crate::block::BlockEnv;
use crate::block::SpecId;
use crate::error::{Result, UndeclaredRead, VmError};
use crate::exec::{Evm, build_evm, execute};
use crate::keep::Keep;
use crate::key::StateKey;
use crate::listed::{Fate, ListMismatch, ListedAccess, RecordCheck, Seen, StepCheck};
use crate::parallel::{Phases, Sink, panic_message};
use crate::receipt::{BlockEffects, BlockOutcome, Receipt};
use crate::repair::{Declarations, Repairs};
use crate::results::Receipts;
use crate::sequential::SequentialExecutor;
use crate::sequential::{Enforce, Overlay};
use crate::state::{StateChanges, Value};
use crate::system;
use crate::tx::{Transaction, heaviest_first};
use crate::txs::Txs;
use crate::workers::Workers;
use crate::{BlockAccess, Plan, Why};
use alloy_primitives::{Address, B256, Bytes, U256};
use core::cell::RefCell;
use core::ops::Range;
use defivm_scheduler::Limits;
use hashbrown::HashMap;
use hashbrown::hash_map::Entry;
use revm::database_interface::{Database, DatabaseRef};
use revm::state::{AccountInfo, Bytecode};
use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Executes a block from its access list on a pool of threads, all its
/// transactions at once. Output is identical to
/// [`crate::SequentialExecutor`]'s for every block whose list is right; a
/// wrong list fails the block with [`VmError::AccessList`].
#[derive(Debug)]
pub struct BalExecutor {
    workers: Workers,
    limits: Limits,
    /// Each worker's own copies of the code it ran, kept from block to
    /// block (a copy is analysed and hashed once): see `ListView::info`.
    codes: Vec<Mutex<HashMap<B256, Bytecode>>>,
    /// What a declaration is.
    declarations: Declarations,
}

/// The most codes a worker keeps copies of; past it, it starts again.
const KEEP_CODES: usize = 4096;

/// What one worker's transactions left, for the block's changes.
#[derive(Debug, Default)]
struct Share {
    /// Writes that are their key's last ([`Fate::Final`]): no two
    /// workers' hold the same key.
    finals: StateChanges,
    /// Each transaction the worker ran, in block order.
    done: Vec<Done>,
    /// The writes that join the changes in block order ([`Fate::Ordered`]),
    /// transaction after transaction.
    ordered: Vec<(StateKey, Value)>,
    /// How many of its transactions strayed from a hint.
    strays: usize,
}

/// One transaction's part in the block's changes.
#[derive(Debug)]
struct Done {
    index: u32,
    fee: U256,
    ran: bool,
    /// Whether it declares the beneficiary: the fees before it are folded
    /// into its account first.
    sees_beneficiary: bool,
    /// Where its ordered writes lie in its share's.
    ordered: Range<usize>,
}

impl BalExecutor {
    /// An executor on `threads` threads: the calling thread and
    /// `threads - 1` helpers of its own (named `defivm-bal-{i}`), with the
    /// default [`Limits`].
    pub fn new(threads: usize) -> Result<Self> {
        let threads = threads.max(1);
        let workers =
            Workers::new(threads, "defivm-bal").map_err(|e| VmError::ThreadPool { threads, message: e.to_string() })?;
        let codes = (0..workers.threads()).map(|_| Mutex::default()).collect();
        Ok(Self { workers, limits: Limits::default(), codes, declarations: Declarations::default() })
    }

    /// The same executor, taking declarations as `declarations` says:
    /// [`Declarations::Strict`] by default.
    pub fn with_declarations(mut self, declarations: Declarations) -> Self {
        self.declarations = declarations;
        self
    }

    /// The same, with a limit on declaration sizes.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Number of threads a block runs on, the caller's included.
    pub fn threads(&self) -> usize {
        self.workers.threads()
    }

    /// Executes `txs` on top of `state` (left untouched) from `list`, the
    /// block's access list, checking it as it goes. The outcome's
    /// [`BlockOutcome::access`] is left empty: the list is the record.
    pub fn execute(
        &self,
        state: &impl BaseState,
        block: &BlockEnv,
        txs: &[Transaction],
        list: &ListedAccess,
    ) -> Result<BlockOutcome> {
        self.execute_timed(state, block, txs, list).map(|(outcome, _)| outcome)
    }

    /// [`execute`](Self::execute), also reporting where the time went:
    /// `prepare` is the system calls before the transactions, `execute` the
    /// transactions, `finish` their changes, the block's rules and the last
    /// checks; nothing is scheduled.
    pub fn execute_timed(
        &self,
        state: &impl BaseState,
        env: &BlockEnv,
        txs: &[Transaction],
        list: &ListedAccess,
    ) -> Result<(BlockOutcome, Phases)> {
        let base = Base::new(state);
        Receipts::collect(txs.len(), |sink| base.verdict(self.run(&base, env, txs.into(), list, sink)))
    }

    /// [`execute`](Self::execute), handing each receipt to `receipt` with
    /// its transaction's position as soon as the transaction is done, as
    /// [`ParallelExecutor::execute_streamed`](crate::ParallelExecutor::execute_streamed)
    /// does: a caller that checks or stores receipts one by one never holds
    /// a whole block's. They come from the worker threads in no particular
    /// order. If the block fails (a step the list does not account for,
    /// found after some transactions were done), the receipts handed over
    /// so far are of a block that did not happen; a panic in `receipt`
    /// fails the block with [`VmError::Internal`]. `txs` is a slice, or a
    /// [`TxStream`](crate::TxStream) whose segments are run one after the
    /// other, each all at once ([`Txs`]).
    pub fn execute_streamed<'t>(
        &self,
        state: &impl BaseState,
        block: &BlockEnv,
        txs: impl Into<Txs<'t>>,
        list: &ListedAccess,
        receipt: impl Fn(usize, Receipt) + Sync,
    ) -> Result<BlockEffects> {
        let base = Base::new(state);
        base.verdict(self.run(&base, block, txs.into(), list, &receipt)).map(|(effects, _)| effects)
    }

    /// [`execute_timed`](Self::execute_timed) on `state`, judged by the caller.
    fn run(
        &self,
        state: &Base<'_>,
        env: &BlockEnv,
        mut txs: Txs<'_>,
        list: &ListedAccess,
        receipt: &Sink<'_>,
    ) -> Result<(BlockEffects, Phases)> {
        let start = Instant::now();
        txs.check_declarations(&self.limits)?;
        if !env.spec.is_enabled_in(SpecId::SPURIOUS_DRAGON) {
            // The sequential path, and the list checked against its record.
            let sequential = SequentialExecutor::with_limits(self.limits).with_declarations(self.declarations);
            let keep = Keep::Checked(RecordCheck::new(list, env.beneficiary));
            let effects = sequential.streamed_to_sink(state, env, txs, keep, receipt)?;
            let plan = Plan::Sequential(Why::BeforeEip161);
            return Ok((effects, Phases { plan, execute: start.elapsed(), ..Phases::default() }));
        }
        let (_turn, run) = list.begin();
        let after = after_last(txs.len());
        let failed = |mismatch: Box<ListMismatch>| Err(VmError::AccessList(mismatch));
        let seen = RefCell::default();
        let mut check = StepCheck::new(list, &seen, run, env.beneficiary);
        // Step 0: the system calls, on the base state.
        let mut recorder = Recorder::new(1, env.beneficiary);
        let system_changes = system::pre_execution(state, env, Some(&mut recorder))?;
        check.start();
        check.record(0, &recorder.into_access());
        if let Err(mismatch) = check.finish(0) {
            return failed(mismatch);
        }
        let mut phases = Phases { plan: Plan::Parallel, prepare: start.elapsed(), ..Phases::default() };

        // The writes that must go in block order, over the base; the last
        // writes of every key, by the list.
        let mut overlay = Overlay::new(state, system_changes);
        let mut changes = StateChanges::default();
        let (mut pending, mut fees, mut any_ran) = (U256::ZERO, U256::ZERO, false);
        let (mut marked, mut strays) = (check.marked, 0);
        // A whole block at once; a stream's segments one after the other.
        while let Some((offset, segment)) = txs.next(usize::MAX, &self.limits)? {
            let start = Instant::now();
            let block = Run {
                base: state,
                env,
                txs: segment,
                offset,
                after,
                list,
                run,
                declarations: self.declarations,
                order: {
                    let mut order: Vec<u32> = (0..segment.len() as u32).collect();
                    heaviest_first(&mut order, segment);
                    order
                },
                next: AtomicUsize::new(0),
                first_failure: AtomicU32::new(u32::MAX),
                failure: Mutex::new(None),
                marked: AtomicU64::new(0),
                shares: Mutex::new(Vec::new()),
                receipt,
            };
            // Each transaction catches its own panic; this one is for the rest.
            let abort = || block.first_failure.store(0, Ordering::Relaxed);
            let work = |worker: usize| {
                let mut codes = self.codes[worker].lock().unwrap_or_else(PoisonError::into_inner);
                if codes.len() > KEEP_CODES {
                    codes.clear();
                }
                block.work(&mut codes);
            };
            if segment.len() < 2 {
                // Nothing to share: the calling thread alone.
                if let Err(panic) = catch_unwind(AssertUnwindSafe(|| work(0))) {
                    let error = VmError::Internal { index: offset, message: panic_message(panic.as_ref()) };
                    block.fail(offset as u32, error);
                }
            } else if let Err(message) = self.workers.run(&work, &abort) {
                block.fail(offset as u32, VmError::Internal { index: offset, message });
            }
            phases.execute += start.elapsed();

            let start = Instant::now();
            let Run { failure, marked: loaded, shares, .. } = block;
            if let Some((_, error)) = failure.into_inner().unwrap_or_else(PoisonError::into_inner) {
                return Err(error);
            }
            marked += loaded.into_inner();
            let mut shares = shares.into_inner().unwrap_or_else(PoisonError::into_inner);
            strays += shares.iter().map(|share| share.strays).sum::<usize>();
            // Each share's transactions in block order (taken heaviest first).
            shares.iter_mut().for_each(|share| share.done.sort_unstable_by_key(|done| done.index));
            let mut at = vec![0usize; shares.len()];
            for index in offset as u32..(offset + segment.len()) as u32 {
                let share = (0..shares.len()).find(|&s| shares[s].done.get(at[s]).is_some_and(|d| d.index == index));
                let Some(s) = share else {
                    return Err(VmError::Internal {
                        index: index as usize,
                        message: "the transaction has no result".into(),
                    });
                };
                let done = &shares[s].done[at[s]];
                if done.sees_beneficiary && !pending.is_zero() {
                    overlay.credit(env.beneficiary, pending);
                    pending = U256::ZERO;
                }
                for (key, value) in shares[s].ordered[done.ordered.clone()].iter().cloned() {
                    overlay.commit(key, value);
                }
                pending += done.fee;
                fees += done.fee;
                any_ran |= done.ran;
                at[s] += 1;
            }
            // A key's last write is one step's: no two shares, nor
            // segments, hold the same key.
            shares.sort_by_key(|share| core::cmp::Reverse(share.finals.len()));
            for share in &mut shares {
                let finals = core::mem::take(&mut share.finals);
                if changes.is_empty() {
                    changes = finals;
                } else {
                    changes.extend(finals);
                }
            }
            phases.finish += start.elapsed();
        }

        let start = Instant::now();
        let repairs = Repairs { strays, reexecuted: 0 };
        // The last writes, over the ordered ones (which are earlier).
        for (key, earlier) in overlay.into_changes() {
            match changes.entry(key) {
                Entry::Occupied(mut last) => {
                    let value = Value::overwrite(Some(&earlier), last.get().clone());
                    last.insert(value);
                }
                Entry::Vacant(entry) => {
                    entry.insert(earlier);
                }
            }
        }
        beneficiary::settle(&mut changes, state, env, pending, any_ran);
        // The block's rules after the last transaction, and the last checks.
        let mut rules = BlockAccess::default();
        system::post_execution(&mut changes, state, env, Some((&mut rules, after)))?;
        check.marked = 0;
        check.start();
        check.record(after, &rules);
        if let Err(mismatch) = check.finish(after) {
            return failed(mismatch);
        }
        if let Some(past) = list.first_past(after) {
            check.start();
            if let Err(mismatch) = check.finish(past) {
                return failed(mismatch);
            }
        }
        if let Some(mismatch) = list.unloaded(run, marked + check.marked) {
            return failed(Box::new(mismatch));
        }
        phases.finish += start.elapsed();
        Ok((BlockEffects { changes, fees, access: BlockAccess::default(), repairs }, phases))
    }
}

/// One block's run, shared by the workers.
struct Run<'a> {
    base: &'a Base<'a>,
    env: &'a BlockEnv,
    /// The transactions of the segment being run, the first at `offset`
    /// in the block; `after` is the block access index after the block's
    /// last.
    txs: &'a [Transaction],
    offset: usize,
    after: u32,
    list: &'a ListedAccess,
    run: u64,
    declarations: Declarations,
    /// The transactions, heaviest first (by gas limit; block order among
    /// equals): a heavy one taken last would leave the other workers idle.
    order: Vec<u32>,
    /// The next of `order` to take.
    next: AtomicUsize,
    /// The block access index of the first step known to fail.
    first_failure: AtomicU32,
    /// Its error.
    failure: Mutex<Option<(u32, VmError)>>,
    /// The list's entries the workers loaded.
    marked: AtomicU64,
    /// Each worker's, once it is done.
    shares: Mutex<Vec<Share>>,
    /// Where each transaction's receipt goes once it is done.
    receipt: &'a Sink<'a>,
}

impl Run<'_> {
    /// Keeps `error` of step `index` if no earlier step failed.
    fn fail(&self, index: u32, error: VmError) {
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        if failure.as_ref().is_none_or(|(first, _)| index < *first) {
            self.first_failure.fetch_min(index, Ordering::Relaxed);
            *failure = Some((index, error));
        }
    }

    /// One worker's share: transactions from the counter until none is
    /// left, or every one left comes after a failure.
    fn work(&self, kept: &mut HashMap<B256, Bytecode>) {
        let policy = Enforce::new(self.declarations);
        let (seen, codes) = (RefCell::default(), RefCell::new(core::mem::take(kept)));
        let new_evm = || {
            let view = ListView {
                base: self.base,
                list: self.list,
                index: 0,
                policy: &policy,
                seen: &seen,
                codes: &codes,
                unlisted: None,
            };
            build_evm(view, self.env)
        };
        let mut evm = new_evm();
        let mut check = StepCheck::new(self.list, &seen, self.run, self.env.beneficiary);
        let mut writes = Vec::new();
        let mut share = Share::default();
        while let Some(&index) = self.order.get(self.next.fetch_add(1, Ordering::Relaxed)) {
            let index = self.offset + index as usize;
            let step = index as u32 + 1;
            if step > self.first_failure.load(Ordering::Relaxed) {
                continue;
            }
            // Nothing may unwind past here: the block fails instead.
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                self.one(&mut evm, &policy, &mut check, &mut writes, &mut share, index)
            }));
            let failure = match outcome {
                Ok(Ok(())) => continue,
                Ok(Err(error)) => error,
                Err(panic) => {
                    // The EVM may be mid-transaction: start a fresh one.
                    evm = new_evm();
                    VmError::Internal { index, message: panic_message(panic.as_ref()) }
                }
            };
            self.fail(step, failure);
        }
        self.marked.fetch_add(check.marked, Ordering::Relaxed);
        self.shares.lock().unwrap_or_else(PoisonError::into_inner).push(share);
        drop(evm);
        *kept = codes.into_inner();
    }
}

impl<'a> Run<'a> {
    /// Runs transaction `index` on `evm` and checks it against the list.
    fn one(
        &self,
        evm: &mut Evm<ListView<'a, '_>>,
        policy: &Enforce,
        check: &mut StepCheck<'_, '_>,
        writes: &mut Vec<(StateKey, Value)>,
        share: &mut Share,
        index: usize,
    ) -> Result<()> {
        let tx = &self.txs[index - self.offset];
        let step = index as u32 + 1;
        policy.declare(tx);
        let db = &mut evm.ctx.journaled_state.database;
        db.index = step;
        db.unlisted = None;
        db.seen.borrow_mut().clear();
        check.start();
        let writable = |key: &StateKey| policy.allows(key, true).then_some(*key);
        let executed = execute(evm, tx, index, self.env, writable, writes, Some(check))?;
        let ran = executed.receipt.ran();
        share.strays += usize::from(policy.strayed());
        if ran {
            if let Some((address, slot)) = evm.ctx.journaled_state.database.unlisted {
                check.unlisted(step, address, slot);
            }
            check.fee(self.base, step, executed.beneficiary, executed.fee);
        }
        check.finish(step).map_err(VmError::AccessList)?;
        let after = self.after;
        let ordered_start = share.ordered.len();
        for (key, value) in writes.drain(..) {
            let seen = evm.ctx.journaled_state.database.seen.borrow();
            match self.list.fate(&key, &value, step, after, self.env.beneficiary, &seen) {
                Fate::Final => {
                    share.finals.insert(key, value);
                }
                Fate::Superseded => {}
                Fate::Ordered => share.ordered.push((key, value)),
            }
        }
        share.done.push(Done {
            index: step - 1,
            fee: executed.fee,
            ran,
            sees_beneficiary: policy.sees(&StateKey::Account(self.env.beneficiary)),
            ordered: ordered_start..share.ordered.len(),
        });
        (self.receipt)(index, executed.receipt);
        Ok(())
    }
}

/// What one transaction sees: the list at its index over the base state,
/// through its declaration.
struct ListView<'a, 's> {
    base: &'a Base<'a>,
    list: &'a ListedAccess,
    /// The running transaction's block access index.
    index: u32,
    policy: &'s Enforce,
    /// Where the list holds what it loaded.
    seen: &'s RefCell<Seen<'a>>,
    /// This worker's copies of the code it ran, by code hash.
    codes: &'s RefCell<HashMap<B256, Bytecode>>,
    /// Its first read of a key the list does not hold: answered from the
    /// base state, which is right if the list holds every change, and an
    /// error unless the transaction is rejected for a violation (which
    /// leaves nothing in the list).
    unlisted: Option<(Address, Option<U256>)>,
}

impl ListView<'_, '_> {
    /// The account as revm takes it, with this worker's own copy of its
    /// code: the shared one's counter, bumped by every transaction that
    /// loads a hot contract, would bounce between the workers' cores.
    fn info(&self, balance: U256, nonce: u64, code: Option<Cow<'_, Bytecode>>) -> AccountInfo {
        static NO_CODE: LazyLock<AccountInfo> = LazyLock::new(|| AccountInfo::default().without_code());
        let mut info = NO_CODE.copy_without_code();
        info.balance = balance;
        info.nonce = nonce;
        if let Some(code) = code.filter(|code| !code.is_empty()) {
            let mut codes = self.codes.borrow_mut();
            // The shared code keeps its hash once computed (a read, not a
            // write, of what the workers share).
            let own = codes.entry(code.hash_slow()).or_insert_with(|| {
                let bytes = Bytes::copy_from_slice(code.original_byte_slice());
                Bytecode::new_raw_checked(bytes).unwrap_or_else(|_| code.clone().into_owned())
            });
            info.code_hash = own.hash_slow();
            info.code = Some(own.clone());
        }
        info
    }

    fn check(&self, key: StateKey) -> core::result::Result<(), UndeclaredRead> {
        if self.policy.allows(&key, false) { Ok(()) } else { Err(UndeclaredRead(key)) }
    }
}

impl Database for ListView<'_, '_> {
    type Error = UndeclaredRead;

    fn basic(&mut self, address: Address) -> core::result::Result<Option<AccountInfo>, Self::Error> {
        self.check(StateKey::Account(address))?;
        let account = match self.list.account(self.base, address, self.index, self.seen) {
            Ok(account) => account,
            Err(()) => {
                self.unlisted.get_or_insert((address, None));
                self.base.fields(address)
            }
        };
        Ok(account.map(|(balance, nonce, code)| self.info(balance, nonce, code)))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> core::result::Result<Bytecode, Self::Error> {
        Ok(self.base.code_by_hash_ref(code_hash).unwrap_or_else(|never| match never {}))
    }

    fn storage(&mut self, address: Address, index: U256) -> core::result::Result<U256, Self::Error> {
        self.check(StateKey::Storage(address, index))?;
        match self.list.slot(self.base, address, index, self.index, self.seen) {
            Ok(value) => Ok(value),
            Err(()) => {
                self.unlisted.get_or_insert((address, Some(index)));
                Ok(self.base.storage(address, index))
            }
        }
    }

    fn block_hash(&mut self, number: u64) -> core::result::Result<B256, Self::Error> {
        Ok(self.base.block_hash_ref(number).unwrap_or_else(|never| match never {}))
    }
}
