//! The parallel executor: waves, or barrier-free along the dependency graph.
//!
//! The calling thread does the work, and the executor's helper threads join
//! each step when they are awake (`workers.rs`): no step waits for a thread
//! to wake, and each step's work is claimed from shared counters, so it is
//! finished by whoever came.
//!
//! 0. **Plan** (see [`crate::plan`]). A block that cannot gain from threads
//!    runs on the sequential path, on the calling thread; every other block
//!    goes through the steps below.
//! 1. **Prepare** (a job of all workers, see [`crate::prepare`]). Every
//!    declared and implied key becomes a cell, which takes its value at its
//!    first use (from the base state, or from the changes of the block's
//!    earlier segments, see below); each declaration becomes a short list of
//!    cells.
//! 2. **Schedule** (on the calling thread). The lock graph of the
//!    declarations over cell numbers (`defivm-scheduler`'s dense builder:
//!    one pass in block order), cut into waves. A transaction that declares
//!    the beneficiary waits for every earlier one, whose fees it folds, and
//!    nothing waits for it on that account (pseudo-keys, see
//!    `prepare::Schedulable` and [`crate::beneficiary`]).
//! 3. **Execute.** A job of all workers, each with one EVM reused for the
//!    whole segment. In wave mode workers take the transactions of a wave
//!    from a shared counter, and no one starts the next wave before every
//!    transaction of this one is done (a gate that counts transactions, not
//!    workers, so a helper that comes late just joins the current wave); in
//!    DAG mode they take ready transactions from the scheduler's `ReadySet`
//!    and report each one complete. A
//!    transaction reads and writes the per-key cells of the block directly:
//!    nothing it may touch is touched by anyone else in its wave, and a
//!    transaction that strays outside its declaration is rejected before it
//!    can commit anything. (One commit reaches beyond the declaration: a
//!    write that clears an account's storage zeroes the account's slot
//!    cells, which only transactions ordered with it through the account
//!    itself can touch; see `Prepared::clear_storage`.)
//! 4. **Finish.** The written cells join the block's changes. Errors are
//!    reported for the first failing transaction in block order (as the
//!    sequential executor would), and the block's changes are then dropped.
//!
//! A block longer than [`SEGMENT_TXS`] transactions goes through these
//! steps one segment at a time ([`ParallelExecutor::with_segment_txs`]):
//! a segment's cells take their values from the changes of the segments
//! before it, over the base state, and its written cells are added to those
//! changes. Fees not yet folded into the beneficiary's cell carry over from
//! one segment to the next. A segment with a failing transaction ends the
//! block. So a block's working memory (cells, graph, ready-set, fee slots,
//! and the logs of what its steps accessed, see `access.rs`) is bounded by
//! a segment's, whatever the block's length.
//!
//! Receipts go to a sink as each transaction is done: slots the executor
//! collects ([`ParallelExecutor::execute`]), or the caller's function
//! ([`ParallelExecutor::execute_streamed`]), which then never holds a whole
//! block's receipts and logs.
//!
//! The executor keeps its buffers (cells, declarations, the graph) from one
//! block or segment to the next, fresh memory costing a page fault per 4 KiB,
//! except in a block too large to be worth it
//! ([`ParallelExecutor::with_kept_buffers`]).
//! [`ParallelExecutor::execute_timed`] reports the four phases' times,
//! summed over the segments.

use crate::access::{BeneficiaryBalance, BlockAccess, Recorder, StepObserver, after_last};
use crate::balances_seen;
use crate::base::{Base, BaseState};
use crate::beneficiary;
use crate::block::BlockEnv;
use crate::error::{Result, UndeclaredRead, VmError};
use crate::exec::{build_evm, execute};
use crate::keep::Keep;
use crate::key::StateKey;
use crate::listed::{ListedAccess, RecordCheck};
use crate::plan::Plan;
use crate::prepare::{Cell, CellId, Decl, DeclKey, Prepared, Source, Spare, lock};
use crate::receipt::{BlockEffects, BlockOutcome, Receipt};
use crate::repair::{Declarations, FirstPass, Outside, Repairs, Segment, Walker};
use crate::results::{Done, LeftBeneficiary, Receipts, Results};
use crate::sequential::SequentialExecutor;
use crate::state::{AccountValue, StateChanges, Value};
use crate::system;
use crate::tx::{Transaction, heaviest_first};
use crate::txs::Txs;
use crate::workers::Workers;
use alloy_primitives::{Address, B256, U256};
use core::cell::RefCell;
use core::ops::Range;
use crossbeam_utils::Backoff;
use defivm_scheduler::{
    DenseBuilder, Limits, LockGraph, LongestRemainingPath, ReadySet, ScheduleError, TxIndex, dealt_run,
};
use revm::database_interface::{Database, DatabaseRef};
use revm::state::{AccountInfo, Bytecode};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// By default, blocks up to this many transactions leave their buffers to
/// their next segment and to the next block (see
/// [`ParallelExecutor::with_kept_buffers`]).
pub const KEEP_BUFFERS_TXS: usize = 1 << 18;

/// By default, blocks longer than this many transactions run in segments of
/// this many (see [`ParallelExecutor::with_segment_txs`]).
pub const SEGMENT_TXS: usize = 1 << 17;

/// Parts per worker of a block's record of accesses: the parts are put
/// together one per worker at a time, so more parts than workers even out
/// the parts' sizes.
const RECORD_PARTS_PER_THREAD: usize = 4;

/// How a [`ParallelExecutor`] orders the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParallelMode {
    /// The graph's levels, one after another, with a barrier between two.
    #[default]
    Waves,
    /// No barrier: a transaction starts as soon as its last conflicting
    /// predecessor has committed. Workers take ready transactions by longest
    /// remaining path (weighted by gas limit) and keep a chain they release
    /// for themselves, so a hot key's transactions run back to back on one
    /// warm thread.
    Dag,
}

/// Where a [`ParallelExecutor`]'s time on one block went (wall clock).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Phases {
    /// The path the block took: on the sequential path, its whole time is
    /// `execute`.
    pub plan: Plan,
    /// The block's system calls, then interning the keys (their values are
    /// loaded as execution first uses them).
    pub prepare: Duration,
    /// Building the lock graph and its waves, and in DAG mode the ready-set
    /// with its critical-path ranks.
    pub schedule: Duration,
    /// Running the transactions.
    pub execute: Duration,
    /// Collecting receipts and changes, and settling the beneficiary.
    pub finish: Duration,
}

impl Phases {
    /// The whole block.
    pub fn total(&self) -> Duration {
        self.prepare + self.schedule + self.execute + self.finish
    }
}

/// Executes a block in parallel on a pool of threads, in waves or along the
/// dependency graph. Output is identical to [`crate::SequentialExecutor`]'s
/// for every block.
#[derive(Debug)]
pub struct ParallelExecutor {
    workers: Workers,
    limits: Limits,
    mode: ParallelMode,
    builder: Mutex<DenseBuilder>,
    /// Buffers of the last segment, for the next.
    spare: Mutex<Spare>,
    /// The largest block whose buffers are kept.
    keep_buffers_txs: usize,
    /// The most transactions prepared, scheduled and run at once.
    segment_txs: usize,
    /// Whether a block that cannot gain takes the sequential path.
    fallback: bool,
    /// Whether a block's accesses are recorded ([`BlockOutcome::access`]).
    record_access: bool,
    /// The workers' records of the last block's accesses, emptied, for the
    /// next.
    recorders: Mutex<Vec<Recorder>>,
    /// What a declaration is.
    declarations: Declarations,
}

impl ParallelExecutor {
    /// An executor that works on `threads` threads: the calling thread and
    /// `threads - 1` helper threads of its own (named `defivm-worker-{i}`),
    /// with the default [`Limits`].
    pub fn new(threads: usize) -> Result<Self> {
        let threads = threads.max(1);
        let workers = Workers::new(threads, "defivm-worker")
            .map_err(|e| VmError::ThreadPool { threads, message: e.to_string() })?;
        Ok(Self {
            workers,
            limits: Limits::default(),
            mode: ParallelMode::default(),
            builder: Mutex::new(DenseBuilder::new()),
            spare: Mutex::default(),
            keep_buffers_txs: KEEP_BUFFERS_TXS,
            segment_txs: SEGMENT_TXS,
            record_access: false,
            recorders: Mutex::default(),
            fallback: true,
            declarations: Declarations::default(),
        })
    }

    /// The same, with a limit on declaration sizes.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The same, keeping the buffers of blocks up to `txs` transactions
    /// (cells, declarations, the scheduler's working space) for the next
    /// segment or block, which then takes no fresh memory for them: the
    /// default is [`KEEP_BUFFERS_TXS`]. Each segment of a larger block frees
    /// each buffer as soon as it is spent: the interning tables after
    /// preparation, the scheduler's before execution, the cells before the
    /// changes grow. `0` keeps nothing.
    pub fn with_kept_buffers(mut self, txs: usize) -> Self {
        self.keep_buffers_txs = txs;
        self
    }

    /// The same, running a block of more than `txs` transactions as
    /// consecutive segments of `txs`, each prepared, scheduled and run on
    /// the state the segments before it left: the default is
    /// [`SEGMENT_TXS`]. Only one segment's cells, graph and ready-set are
    /// held at a time, so a block's working memory stops growing with its
    /// length; the price is a barrier between two segments. `0` counts as 1.
    pub fn with_segment_txs(mut self, txs: usize) -> Self {
        self.segment_txs = txs.max(1);
        self
    }

    /// The same, running every block on the parallel path when `fallback`
    /// is false: by default a block that cannot gain from threads (see
    /// [`Plan`]) runs on the sequential path. Tests and measurements of the
    /// parallel machinery itself turn it off.
    pub fn with_fallback(mut self, fallback: bool) -> Self {
        self.fallback = fallback;
        self
    }

    /// The same executor, recording what each block accessed (its EIP-7928
    /// block access list's content) in [`BlockOutcome::access`], as the
    /// sequential executor does with the same switch; off by default, when
    /// the record is left empty.
    pub fn with_access_record(mut self, record: bool) -> Self {
        self.record_access = record;
        self
    }

    /// The same executor, taking declarations as `declarations` says:
    /// [`Declarations::Strict`] by default. Under hints a segment with a
    /// stray is repaired after its first pass (the model is in the
    /// [crate docs](crate), *Declarations as hints*), and its receipts are
    /// handed over once it is.
    pub fn with_declarations(mut self, declarations: Declarations) -> Self {
        self.declarations = declarations;
        self
    }

    /// The path `txs` would take on this executor.
    pub fn plan(&self, txs: &[Transaction]) -> Plan {
        if self.fallback { Plan::for_block(txs, self.threads()) } else { Plan::Parallel }
    }

    /// The same, ordering work by `mode`.
    pub fn with_mode(mut self, mode: ParallelMode) -> Self {
        self.mode = mode;
        self
    }

    /// How work is ordered.
    pub fn mode(&self) -> ParallelMode {
        self.mode
    }

    /// Number of threads a block runs on, the caller's included.
    pub fn threads(&self) -> usize {
        self.workers.threads()
    }

    /// Executes `txs` on top of `state` (which is left untouched): the
    /// in-memory [`State`](crate::State) or any revm database
    /// ([`BaseState`]).
    pub fn execute(&self, state: &impl BaseState, block: &BlockEnv, txs: &[Transaction]) -> Result<BlockOutcome> {
        self.execute_timed(state, block, txs).map(|(outcome, _)| outcome)
    }

    /// [`execute`](Self::execute), also reporting where the time went.
    pub fn execute_timed(
        &self,
        state: &impl BaseState,
        block: &BlockEnv,
        txs: &[Transaction],
    ) -> Result<(BlockOutcome, Phases)> {
        let base = Base::new(state);
        Receipts::collect(txs.len(), |sink| {
            base.verdict(self.run(&base, block, txs.into(), Keep::whole_if(self.record_access), sink))
        })
    }

    /// [`execute`](Self::execute), handing each receipt to `receipt` with
    /// its transaction's position as soon as the transaction is done,
    /// instead of keeping them: a caller that checks or stores receipts one
    /// by one never holds a whole block's. They come from the worker
    /// threads, in no particular order, and a transaction's successors may
    /// wait for its call to return, so it should be quick; it must not run
    /// a block on this executor, which is busy until this call returns. If
    /// the block fails, the receipts handed over so far are of a block that
    /// did not happen; a panic in `receipt` fails the block with
    /// [`VmError::Internal`]. `txs` is a slice, or a
    /// [`TxStream`](crate::TxStream) whose segments are run as they come
    /// ([`Txs`]); the executor's segments do not straddle the stream's.
    pub fn execute_streamed<'t>(
        &self,
        state: &impl BaseState,
        block: &BlockEnv,
        txs: impl Into<Txs<'t>>,
        receipt: impl Fn(usize, Receipt) + Sync,
    ) -> Result<BlockEffects> {
        let base = Base::new(state);
        base.verdict(self.run(&base, block, txs.into(), Keep::whole_if(self.record_access), &receipt))
            .map(|(effects, _)| effects)
    }

    /// [`execute_streamed`](Self::execute_streamed), checking what the
    /// block accesses against `list`, its EIP-7928 access list, as it runs:
    /// each segment's record ([`with_segment_txs`](Self::with_segment_txs);
    /// on the sequential path, every 65,536 transactions') is checked as
    /// the segment ends, then dropped, so that a block of any length holds
    /// one segment's record. A list that is not the block's fails it with
    /// [`VmError::AccessList`] and the same mismatch as the sequential
    /// executor's
    /// [`execute_checked`](crate::SequentialExecutor::execute_checked),
    /// whatever the segments: the first in block order. No record is kept
    /// ([`BlockEffects::access`] is empty), with or without
    /// [`with_access_record`](Self::with_access_record). Runs of one list
    /// take turns.
    pub fn execute_checked<'t>(
        &self,
        state: &impl BaseState,
        block: &BlockEnv,
        txs: impl Into<Txs<'t>>,
        list: &ListedAccess,
        receipt: impl Fn(usize, Receipt) + Sync,
    ) -> Result<BlockEffects> {
        let base = Base::new(state);
        let keep = Keep::Checked(RecordCheck::new(list, block.beneficiary));
        base.verdict(self.run(&base, block, txs.into(), keep, &receipt)).map(|(effects, _)| effects)
    }

    /// The block, segment by segment; then the fees.
    fn run(
        &self,
        state: &Base<'_>,
        env: &BlockEnv,
        txs: Txs<'_>,
        keep: Keep<'_>,
        receipt: &Sink<'_>,
    ) -> Result<(BlockEffects, Phases)> {
        let plan = match txs.whole() {
            Some(whole) => self.plan(whole),
            None if self.fallback => Plan::for_stream(txs.len(), self.threads()),
            None => Plan::Parallel,
        };
        if let Plan::Sequential(_) = plan {
            return self.run_sequentially(state, env, txs, keep, receipt, plan);
        }
        self.run_in_parallel(state, env, txs, keep, receipt)
    }

    /// The block on the sequential path, on the calling thread; a panic
    /// fails the block as it does on the parallel path.
    fn run_sequentially(
        &self,
        state: &Base<'_>,
        env: &BlockEnv,
        txs: Txs<'_>,
        keep: Keep<'_>,
        receipt: &Sink<'_>,
        plan: Plan,
    ) -> Result<(BlockEffects, Phases)> {
        let start = Instant::now();
        let sequential = SequentialExecutor::with_limits(self.limits).with_declarations(self.declarations);
        let effects = sequential.streamed_to_sink(state, env, txs, keep, receipt)?;
        Ok((effects, Phases { plan, execute: start.elapsed(), ..Phases::default() }))
    }

    /// [`run`](Self::run) on the parallel path.
    fn run_in_parallel(
        &self,
        state: &Base<'_>,
        env: &BlockEnv,
        mut txs: Txs<'_>,
        mut keep: Keep<'_>,
        receipt: &Sink<'_>,
    ) -> Result<(BlockEffects, Phases)> {
        let start = Instant::now();
        txs.check_declarations(&self.limits)?;
        let len = txs.len();
        let mut spare = lock(&self.spare);
        // A record of what the block accessed per worker, each in parts by
        // address, to be put together part by part.
        let recording = keep.records();
        let mut recorders = if recording { std::mem::take(&mut *lock(&self.recorders)) } else { Vec::new() };
        let hints = self.declarations == Declarations::Hints;
        let parts = RECORD_PARTS_PER_THREAD * self.threads();
        if recording {
            recorders.resize_with(self.threads(), || Recorder::new(parts, env.beneficiary));
            for recorder in &mut recorders {
                recorder.reset(parts, env.beneficiary);
                // Under hints the steps run again are recorded anew.
                recorder.set_forgettable(hints);
            }
        }
        // The first segment runs on the state the system calls leave. Their
        // log starts the block's record.
        let mut changes = system::pre_execution(state, env, recorders.first_mut())?;
        changes.reserve(keep.expected_writes().saturating_sub(changes.len()));
        let mut access = if recording { BlockAccess::in_parts(parts) } else { BlockAccess::default() };
        if let Some(first) = recorders.first_mut() {
            first.flush_into(&mut access);
        }
        let block = BlockRun {
            base: state,
            env,
            folded: Mutex::default(),
            recorders: recorders.into_iter().map(Mutex::new).collect(),
            beneficiary: recording.then(|| Mutex::new(BeneficiaryBalance::new(beneficiary::balance(state, env)))),
            again: (recording && hints).then(|| Mutex::new(Recorder::new(parts, env.beneficiary))),
            receipt,
        };
        let mut phases = Phases { prepare: start.elapsed(), ..Phases::default() };
        let keep_buffers = len <= self.keep_buffers_txs;
        let (mut fees, mut any_ran, mut repairs) = (U256::ZERO, false, Repairs::default());
        while let Some((offset, segment)) = txs.next(self.segment_txs, &self.limits)? {
            let range = offset..offset + segment.len();
            // A segment with a failure fails the block: later ones need not run.
            let (segment_fees, segment_ran, segment_repairs) =
                self.run_segment(&block, (offset, segment), keep_buffers, &mut spare, &mut changes, &mut phases)?;
            fees += segment_fees;
            any_ran |= segment_ran;
            repairs += segment_repairs;
            lock(&block.folded).before = fees;
            // A failed read of the base fails the block: later segments
            // need not run.
            state.check()?;
            if recording {
                let start = Instant::now();
                self.put_together(&block, &mut access, range.end - 1)?;
                if let Some(beneficiary) = &block.beneficiary {
                    lock(beneficiary).drain_into(env.beneficiary, &mut access);
                }
                // The segment's steps: its last has block access index
                // `range.end`.
                keep.piece(&mut access, range.end as u32)?;
                phases.finish += start.elapsed();
            }
        }
        let start = Instant::now();
        let credited = lock(&block.folded).credited;
        beneficiary::settle(&mut changes, state, env, fees - credited, any_ran);
        if keep_buffers {
            // Emptied by `put_together`.
            let inner = |r: Mutex<Recorder>| r.into_inner().unwrap_or_else(PoisonError::into_inner);
            *lock(&self.recorders) = block.recorders.into_iter().map(inner).collect();
        }
        let after = after_last(len);
        system::post_execution(&mut changes, state, env, recording.then_some((&mut access, after)))?;
        let access = keep.finish(access, after)?;
        phases.finish += start.elapsed();
        Ok((BlockEffects { changes, fees, access, repairs }, phases))
    }

    /// Adds what the workers' recorders (and the walk's) logged of a segment
    /// to the block's record, `access`, and empties them: each part put
    /// together on one worker, the workers taking parts in turn. A helper's
    /// panic there is reported at the segment's last transaction (`last`),
    /// the step the log was closed after.
    fn put_together(&self, block: &BlockRun<'_>, access: &mut BlockAccess, last: usize) -> Result<()> {
        let mut logs: Vec<_> = block.recorders.iter().chain(&block.again).map(lock).collect();
        let recorders: Vec<&Recorder> = logs.iter().map(|log| &**log).collect();
        let parts: Vec<Mutex<_>> = std::mem::take(access).into_parts().into_iter().map(Mutex::new).collect();
        debug_assert!(recorders.iter().all(|r| r.parts() == parts.len()), "recorders split as the record");
        let next = AtomicUsize::new(0);
        let work = |_worker: usize| {
            loop {
                let p = next.fetch_add(1, Ordering::Relaxed);
                let Some(part) = parts.get(p) else { break };
                BlockAccess::add_to_part(&mut lock(part), &recorders, p);
            }
        };
        let ran = self.workers.run(&work, &|| ());
        drop(recorders);
        logs.iter_mut().for_each(|log| log.clear());
        ran.map_err(|message| VmError::Internal { index: last, message })?;
        let inner = |p: Mutex<_>| p.into_inner().unwrap_or_else(PoisonError::into_inner);
        *access = BlockAccess::from_parts(parts.into_iter().map(inner).collect());
        Ok(())
    }

    /// Prepares, schedules and runs `txs`, the block's from `offset` on, on the state
    /// the block's earlier segments left (`changes` over the base), then
    /// adds what they wrote to `changes`; returns their fees, whether any
    /// ran and their repairs, or the first failure. Under hints, a segment
    /// with a stray is then repaired ([`repair`]), and its receipts are
    /// handed over once it is. With `keep`, the buffers stay in `spare` and
    /// the builder for the next segment or block; without, each is freed as
    /// soon as it is spent.
    fn run_segment(
        &self,
        block: &BlockRun<'_>,
        (offset, txs): (usize, &[Transaction]),
        keep: bool,
        spare: &mut Spare,
        changes: &mut StateChanges,
        phases: &mut Phases,
    ) -> Result<(U256, bool, Repairs)> {
        let start = Instant::now();
        let range = offset..offset + txs.len();
        let results = Results::new(range.clone());
        let mut left = block.beneficiary.is_some().then(|| LeftBeneficiary::new(range.len()));
        let hints = self.declarations == Declarations::Hints;
        // Under hints: the first pass, the receipts held until the segment
        // is walked, and the fees not in the beneficiary's account as the
        // segment found them.
        let pass = hints.then(|| FirstPass::new(range.len()));
        let held = hints.then(|| Receipts::new(range.len()));
        let pending = {
            let folded = lock(&block.folded);
            folded.before - folded.credited
        };
        let source = Source { base: block.base, changes };
        let prepared = Prepared::new(txs, block.env.beneficiary, &source, spare, &self.workers)
            .map_err(|message| VmError::Internal { index: offset, message })?;
        // A failed read while preparing fails the block before it runs.
        block.base.check()?;
        if !keep {
            // The hash tables the cells were interned with.
            *spare = Spare::default();
        }
        let prepare = start.elapsed();
        let graph = self.schedule(&prepared, offset, keep)?;
        let ready = (self.mode == ParallelMode::Dag).then(|| {
            let costs: Vec<u64> = txs.iter().map(|tx| tx.gas_limit).collect();
            ReadySet::new(&graph, &LongestRemainingPath::new(&costs), self.threads())
        });
        let gates = (self.mode == ParallelMode::Waves).then(|| Gates::new(&graph, txs, self.threads()));
        let schedule = start.elapsed();
        let shared = Shared { base: block.base, source, prepared: &prepared, folded: &block.folded };
        let segment = pass.as_ref().map(|pass| Segment {
            base: block.base,
            env: block.env,
            txs,
            offset,
            prepared: &prepared,
            results: &results,
            pass,
        });
        // The walk, begun alongside the first pass by whichever worker had
        // nothing else to do; or the error it met.
        let walker: Mutex<Option<Walker<'_>>> = Mutex::default();
        let walked = AtomicBool::new(false);
        let walk_failed: Mutex<Option<VmError>> = Mutex::default();
        // Walks on if the first pass needs it and no other worker is
        // walking; whether the walk got further.
        let walk_on = || -> bool {
            let Some(segment) = segment.filter(|s| s.pass.needs_walk()) else { return false };
            let Ok(mut walker) = walker.try_lock() else { return false };
            let walker = walker.get_or_insert_with(|| Walker::new(segment, pending, shared.source.changes.clone()));
            // Set under this lock: once the walk is over or failed.
            if walked.load(Ordering::Relaxed) {
                return false;
            }
            if walker.is_over() {
                walked.store(true, Ordering::Relaxed);
                return false;
            }
            let from = walker.position();
            let mut again = block.again.as_ref().map(lock);
            if let Err(error) = walker.advance(again.as_deref_mut()) {
                // No one walks on past the first failure.
                walked.store(true, Ordering::Relaxed);
                *lock(&walk_failed) = Some(error);
                if let Some(ready) = &ready {
                    ready.abort();
                }
                return false;
            }
            walker.position() != from
        };
        let work = |worker: usize| {
            crate::keccak_memo::forget();
            // Under hints: what the running transaction did outside its
            // declaration, and its writes as they go.
            let outside_log = RefCell::new(Outside::default());
            let outside = pass.as_ref().map(|_| &outside_log);
            // Under hints the EVM notes which balances a run looks at, for
            // the walk (`balances_seen`).
            let new_evm = || {
                let mut evm = build_evm(View { shared: &shared, decl: Decl::NOTHING, outside }, block.env);
                if outside.is_some() {
                    balances_seen::install(&mut evm.instruction);
                }
                evm
            };
            let mut evm = new_evm();
            let mut writes = Vec::new();
            let mut targets = Vec::new();
            let mut recorder = block.recorders.get(worker).map(lock);
            let mut run = |tx: TxIndex| {
                let decl = prepared.decl(tx as usize);
                prepared.prefetch(decl);
                let index = offset + tx as usize;
                // Nothing may unwind past here: a worker that left its loop
                // would leave the transactions it holds unfinished, and the
                // others waiting for them.
                let mut strayed = None;
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    if decl.beneficiary {
                        // SAFETY: `tx` declares the beneficiary, so it runs
                        // after every earlier transaction and alone among
                        // those that declare it (`Schedulable`).
                        unsafe { shared.fold_fees(&results, offset, index) };
                    }
                    evm.ctx.journaled_state.database = View { shared: &shared, decl, outside };
                    let declared = |key: &StateKey| prepared.find(decl, key).filter(|k| k.written()).map(DeclKey::cell);
                    let tx = &txs[index - offset];
                    let access = recorder.as_deref_mut().map(|r| r as &mut dyn StepObserver);
                    let executed = match outside {
                        None => execute(&mut evm, tx, index, block.env, declared, &mut writes, access)?,
                        Some(log) => {
                            // Hints: a write outside the declaration is kept
                            // aside, as the reads outside it are noted.
                            log.take();
                            balances_seen::clear();
                            let target = |key: &StateKey| {
                                let cell = declared(key).filter(|_| slot_ordered(&prepared, decl, key));
                                Some(cell.ok_or(*key))
                            };
                            let executed = execute(&mut evm, tx, index, block.env, target, &mut targets, access)?;
                            let mut log = log.take();
                            for (target, value) in targets.drain(..) {
                                match target {
                                    Ok(cell) => writes.push((cell, value)),
                                    Err(key) => log.writes.push((key, value)),
                                }
                            }
                            strayed = (!log.reads.is_empty() || !log.writes.is_empty()).then_some(log);
                            executed
                        }
                    };
                    let done = Done { fee: executed.fee, ran: executed.receipt.ran() };
                    if let Some(pass) = pass.as_ref().filter(|_| done.ran) {
                        pass.wrote(
                            index - offset,
                            writes.iter().map(|(cell, value)| (prepared.cell(*cell).key, value)),
                            balances_seen::take(),
                        );
                    }
                    // SAFETY: each cell is one `tx` declared as written.
                    unsafe { shared.commit(writes.drain(..)) };
                    if let Some(left) = &left {
                        left.put(index - offset, executed.beneficiary, done);
                    }
                    match &held {
                        Some(held) => held.put(index - offset, executed.receipt),
                        None => (block.receipt)(index, executed.receipt),
                    }
                    Ok(done)
                }));
                let result = outcome.unwrap_or_else(|panic| {
                    // The EVM may be mid-transaction: start a fresh one. The
                    // block fails, so a half-committed transaction is moot.
                    evm = new_evm();
                    Err(VmError::Internal { index, message: panic_message(panic.as_ref()) })
                });
                let through = matches!(result, Ok(Done { ran: true, .. }));
                results.set(index, result);
                if let Some(pass) = &pass {
                    // A failure may come of a stray before it: it runs in
                    // the walk.
                    if through { pass.done(tx as usize, strayed) } else { pass.failed(tx as usize) }
                }
            };
            if let Some(ready) = &ready {
                // Everything `tx` waits for committed before `complete` released it.
                let mut handle = ready.worker(worker);
                match segment {
                    Some(_) => {
                        // Under hints the calling thread walks as far as the
                        // first pass has come before it takes first-pass
                        // work, and every worker walks when it has none.
                        let backoff = Backoff::new();
                        loop {
                            if worker == 0
                                && pass.as_ref().is_some_and(FirstPass::needs_walk)
                                && !walked.load(Ordering::Relaxed)
                            {
                                handle.share_kept();
                                walk_on();
                            }
                            match handle.try_next_ready() {
                                Some(tx) => {
                                    run(tx);
                                    handle.complete(tx);
                                    backoff.reset();
                                }
                                None if ready.is_finished() || ready.is_aborted() => break,
                                None if walk_on() => backoff.reset(),
                                None => backoff.snooze(),
                            }
                        }
                    }
                    None => {
                        while let Some(tx) = handle.next_ready() {
                            run(tx);
                            handle.complete(tx);
                        }
                    }
                }
            }
            if let Some(gates) = &gates {
                gates.work(&graph, &mut run);
            }
        };
        let abort = || {
            ready.as_ref().map(ReadySet::abort);
            gates.as_ref().map(Gates::abort);
        };
        let ran = self.workers.run(&work, &abort);
        drop((ready, gates));
        ran.map_err(|message| VmError::Internal { index: offset, message })?;
        if keep {
            // The graph's buffers serve the next segment or block.
            lock(&self.builder).recycle(graph);
        } else {
            drop(graph);
        }
        let mut execute = start.elapsed();
        let walk = match segment.filter(|s| s.pass.needs_walk()) {
            Some(segment) => {
                if let Some(error) = walk_failed.into_inner().unwrap_or_else(PoisonError::into_inner) {
                    return Err(error);
                }
                // The walk, or what is left of it, on the calling thread.
                let mut walker = walker
                    .into_inner()
                    .unwrap_or_else(PoisonError::into_inner)
                    .unwrap_or_else(|| Walker::new(segment, pending, changes.clone()));
                let mut again = block.again.as_ref().map(lock);
                walker.advance(again.as_deref_mut())?;
                Some(walker.finish()?)
            }
            None => None,
        };
        let (fees, ran, repairs) = if let Some(repaired) = walk {
            let mut receipts = held.map(Receipts::into_slots).unwrap_or_default();
            for (index, receipt, beneficiary, done) in repaired.receipts {
                receipts[index - offset] = Some(receipt);
                if let Some(left) = left.as_mut() {
                    left.replace(index - offset, beneficiary, done);
                }
            }
            // The walk is execution.
            execute = start.elapsed();
            *changes = repaired.changes;
            // The cells' values are the first pass's: only their buffers are kept.
            prepared.recycle(keep.then_some(spare));
            let mut folded = lock(&block.folded);
            folded.credited = folded.before - pending + repaired.credited;
            folded.upto = offset;
            drop(folded);
            for recorder in &block.recorders {
                lock(recorder).forget(&repaired.again);
            }
            self.hand_over(block, offset, receipts)?;
            let repairs = Repairs { strays: repaired.strays, reexecuted: repaired.again.len() };
            (repaired.fees, repaired.ran, repairs)
        } else {
            prepared.into_changes(changes, keep.then_some(spare));
            let (fees, ran) = results.finish()?;
            if let Some(held) = held {
                self.hand_over(block, offset, held.into_slots())?;
            }
            (fees, ran, Repairs::default())
        };
        phases.prepare += prepare;
        phases.schedule += schedule - prepare;
        phases.execute += execute - schedule;
        if let (Some(left), Some(balance)) = (left, &block.beneficiary) {
            left.add_to(&mut lock(balance), offset);
        }
        phases.finish += start.elapsed() - execute;
        Ok((fees, ran, repairs))
    }

    /// Hands a segment's held receipts (the segment starts at `offset`) to
    /// the block's sink in block order; a panic there fails the block,
    /// naming the transaction whose receipt it was.
    fn hand_over(&self, block: &BlockRun<'_>, offset: usize, receipts: Vec<Option<Receipt>>) -> Result<()> {
        for (index, receipt) in (offset..).zip(receipts) {
            let receipt =
                receipt.ok_or_else(|| VmError::Internal { index, message: "the transaction has no receipt".into() })?;
            catch_unwind(AssertUnwindSafe(|| (block.receipt)(index, receipt)))
                .map_err(|panic| VmError::Internal { index, message: panic_message(panic.as_ref()) })?;
        }
        Ok(())
    }

    /// The lock graph of a segment's declarations; errors name the
    /// transactions by their block position (`offset` is the segment's).
    fn schedule(&self, prepared: &Prepared, offset: usize, keep: bool) -> Result<LockGraph> {
        let mut builder = lock(&self.builder);
        let (sets, keys) = prepared.schedulable();
        // Declarations were checked against `self.limits`; implied keys and
        // fee pseudo-keys come on top of them.
        let unlimited = Limits { max_keys_per_tx: usize::MAX };
        let graph = builder.build(&sets, keys, unlimited).map_err(|e| match e {
            ScheduleError::DeclarationTooLarge { index, keys, max, .. } => {
                let index = offset + index;
                ScheduleError::DeclarationTooLarge { tx: index, index, keys, max }
            }
            ScheduleError::BlockTooLarge { index, what, max, .. } => {
                let index = offset + index;
                ScheduleError::BlockTooLarge { tx: index, index, what, max }
            }
        })?;
        if !keep {
            builder.release_buffers();
        }
        Ok(graph)
    }
}

/// Where a receipt goes.
pub(crate) type Sink<'r> = dyn Fn(usize, Receipt) + Sync + 'r;

/// One block's run, shared by its segments and their workers.
struct BlockRun<'a> {
    base: &'a Base<'a>,
    env: &'a BlockEnv,
    /// Which fees are in the beneficiary's cell, across segments.
    folded: Mutex<Folded>,
    /// What each worker recorded of the block's accesses (worker `w`'s is
    /// `recorders[w]`).
    recorders: Vec<Mutex<Recorder>>,
    /// The beneficiary's balance, segment by segment, where accesses are
    /// recorded.
    beneficiary: Option<Mutex<BeneficiaryBalance>>,
    /// The record of the steps run again, where accesses are recorded
    /// under hints.
    again: Option<Mutex<Recorder>>,
    receipt: &'a Sink<'a>,
}

/// A stretch of the schedule between two gates.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stretch {
    /// One wave, shared by all workers.
    Wave(usize),
    /// Consecutive waves of one transaction each: a chain that only one
    /// worker can run, so it runs them all with no gate in between.
    Chain(Range<usize>),
}

impl Stretch {
    fn split(waves: &defivm_scheduler::Waves) -> Vec<Stretch> {
        let mut stretches = Vec::new();
        for (w, size) in waves.sizes().enumerate() {
            match stretches.last_mut() {
                Some(Stretch::Chain(range)) if size == 1 => range.end = w + 1,
                _ if size == 1 => stretches.push(Stretch::Chain(w..w + 1)),
                _ => stretches.push(Stretch::Wave(w)),
            }
        }
        stretches
    }

    /// How many tasks the stretch is shared out as: a wave's transactions,
    /// or the whole chain as one.
    fn tasks(&self, waves: &defivm_scheduler::Waves) -> usize {
        match self {
            Stretch::Wave(w) => waves.wave(*w).len(),
            Stretch::Chain(_) => 1,
        }
    }
}

/// Wave mode's schedule: the stretches, each with a counter of tasks
/// claimed and one of tasks done. A worker claims tasks of the current
/// stretch until there are none left, then waits at its gate until every
/// task is done, whoever claimed it; so the workers need not all come (a
/// barrier would wait for a helper that has not woken up), and a late one
/// passes the gates already open and joins the current stretch.
///
/// Ordering: a task's worker counts it done with `Release` after its
/// writes, and a worker passes a gate on an `Acquire` load that sees the
/// last count (the increments form one release sequence), so every write of
/// a stretch happens-before anything of the next.
///
/// Inside a wave, transactions are claimed heaviest first (by gas limit, the
/// estimate known before running them): a long transaction claimed last
/// would run alone at the end of its wave while the other workers wait.
#[derive(Debug)]
struct Gates {
    stretches: Vec<Stretch>,
    /// Every wave's transactions, heaviest first, wave after wave.
    order: Vec<TxIndex>,
    claimed: Vec<AtomicUsize>,
    done: Vec<AtomicUsize>,
    aborted: AtomicBool,
    workers: usize,
}

impl Gates {
    fn new(graph: &LockGraph, txs: &[Transaction], workers: usize) -> Self {
        let waves = graph.waves();
        let stretches = Stretch::split(waves);
        let mut order = Vec::with_capacity(graph.len());
        for wave in waves.iter() {
            let start = order.len();
            order.extend_from_slice(wave);
            heaviest_first(&mut order[start..], txs);
        }
        let counters = || stretches.iter().map(|_| AtomicUsize::new(0)).collect();
        let aborted = AtomicBool::new(false);
        Self { claimed: counters(), done: counters(), order, stretches, aborted, workers }
    }

    /// One worker's part: `run` each transaction it claims, stretch by
    /// stretch, until the last gate (or an abort).
    fn work(&self, graph: &LockGraph, run: &mut impl FnMut(TxIndex)) {
        let waves = graph.waves();
        for (s, stretch) in self.stretches.iter().enumerate() {
            let tasks = stretch.tasks(waves);
            loop {
                // A wide wave is claimed in runs, its tail one by one.
                let left = tasks.saturating_sub(self.claimed[s].load(Ordering::Relaxed));
                let claim = dealt_run(left, self.workers);
                let first = self.claimed[s].fetch_add(claim, Ordering::Relaxed);
                if first >= tasks {
                    break;
                }
                let claimed = first..tasks.min(first + claim);
                for task in claimed.clone() {
                    match stretch {
                        Stretch::Wave(w) => run(self.order[waves.offset(*w) + task]),
                        Stretch::Chain(chain) => chain.clone().flat_map(|w| waves.wave(w)).for_each(|&tx| run(tx)),
                    }
                }
                self.done[s].fetch_add(claimed.len(), Ordering::Release);
            }
            let backoff = Backoff::new();
            while self.done[s].load(Ordering::Acquire) < tasks {
                if self.aborted.load(Ordering::Relaxed) {
                    return;
                }
                backoff.snooze();
            }
        }
    }

    /// Lets every worker out of its gate: a worker failed outside a
    /// transaction, and its tasks will never be done.
    fn abort(&self) {
        self.aborted.store(true, Ordering::Relaxed);
    }
}

/// Which fees are already in the beneficiary's cell.
#[derive(Debug, Default)]
struct Folded {
    /// Fees of transactions before this position are credited.
    upto: usize,
    /// Their sum.
    credited: U256,
    /// The fees of every segment before the running one.
    before: U256,
}

/// What the workers share: the cells, and the fee-folding position.
#[derive(Debug)]
struct Shared<'a> {
    base: &'a Base<'a>,
    /// Where a cell's value comes from on first use.
    source: Source<'a>,
    prepared: &'a Prepared,
    folded: &'a Mutex<Folded>,
}

impl Shared<'_> {
    /// Commits a transaction's writes, to the cells its declaration named.
    /// An account write that clears the account's storage first clears its
    /// slot cells (the transaction's own slot writes come after it).
    ///
    /// # Safety
    /// The caller runs the transaction, and each cell is one it declared as
    /// written (so no other transaction touches it meanwhile).
    unsafe fn commit(&self, writes: impl Iterator<Item = (CellId, Value)>) {
        for (cell, value) in writes {
            let cell = self.prepared.cell(cell);
            if let StateKey::Account(address) = cell.key
                && value.clears_storage()
            {
                // SAFETY: the transaction writes the account.
                unsafe { self.prepared.clear_storage(&address, &self.source) };
            }
            // SAFETY: passed on from the caller.
            unsafe { cell.write(value, &self.source) };
        }
    }

    /// Credits to the beneficiary's cell the fees of every transaction before
    /// `upto` not credited yet, the running segment's in `results` (it
    /// starts at `offset`). Called only for transactions that declare the
    /// beneficiary, which the schedule runs after every earlier one of the
    /// segment, so all those fees are known.
    ///
    /// # Safety
    /// The caller runs transaction `upto`, which declares the beneficiary.
    unsafe fn fold_fees(&self, results: &Results, offset: usize, upto: usize) {
        let mut folded = lock(self.folded);
        let fees = if folded.upto < offset {
            // Earlier segments' fees not credited yet, then this one's.
            folded.before - folded.credited + results.fees(offset..upto)
        } else {
            results.fees(folded.upto..upto)
        };
        folded.upto = upto;
        folded.credited += fees;
        let Some(cell) = self.prepared.beneficiary.filter(|_| !fees.is_zero()) else { return };
        let cell = self.prepared.cell(cell);
        // SAFETY: every transaction that declares the beneficiary's cell is
        // ordered with the caller's (the caller promises it declares it).
        unsafe {
            let current = cell.read(&self.source).account().cloned();
            cell.write(Value::Account(beneficiary::credit(current, fees)), &self.source);
        }
    }
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a worker panicked".into())
}

/// What one transaction sees: the cells, through its declaration.
#[derive(Debug)]
struct View<'s, 'a> {
    shared: &'s Shared<'a>,
    decl: Decl<'s>,
    /// Under hints: where a key outside the declaration is noted, read as
    /// the segment found it.
    outside: Option<&'s RefCell<Outside>>,
}

impl View<'_, '_> {
    /// The cell `key` is in, if the running transaction declares it.
    fn cell(&self, key: StateKey) -> Result<&Cell, UndeclaredRead> {
        let prepared = self.shared.prepared;
        match prepared.find(self.decl, &key) {
            Some(k) if self.outside.is_none() || slot_ordered(prepared, self.decl, &key) => Ok(prepared.cell(k.cell())),
            _ => Err(UndeclaredRead(key)),
        }
    }

    /// Under hints, `key` (outside the declaration) as the segment found
    /// it, noted: no cell holds it for the running transaction, and another
    /// may be writing the cell. `None` under strict declarations.
    fn outside(&self, key: StateKey) -> Option<Value> {
        let log = self.outside?;
        let value = Value::after(self.shared.source.changes, self.shared.source.base, &key).0;
        log.borrow_mut().reads.push((key, value.clone()));
        Some(value)
    }
}

/// Whether a transaction declaring `decl` may use `key`'s cell as far as
/// storage clearing goes: `key` is an account, or a slot of an account the
/// declaration holds too. A transaction that clears an account's storage
/// zeroes its slot cells (`Prepared::clear_storage`), and only a
/// declaration of the account orders another transaction with it. Under
/// strict declarations a slot is only reached by running its account's
/// code, which loads the account; a hint may name a slot without its
/// account (a stray reaches the account outside it), so under hints such a
/// slot is read and written as outside the declaration.
fn slot_ordered(prepared: &Prepared, decl: Decl<'_>, key: &StateKey) -> bool {
    match key {
        StateKey::Account(_) => true,
        StateKey::Storage(address, _) => prepared.find(decl, &StateKey::Account(*address)).is_some(),
    }
}

impl Database for View<'_, '_> {
    type Error = UndeclaredRead;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        let key = StateKey::Account(address);
        match self.cell(key) {
            // SAFETY: the running transaction declares the cell, so whoever
            // may write it is ordered with it (`prepare`'s module docs).
            Ok(cell) => Ok(unsafe { cell.account_info(&self.shared.source) }),
            Err(undeclared) => {
                let value = self.outside(key).ok_or(undeclared)?;
                Ok(value.account().map(AccountValue::info))
            }
        }
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        Ok(self.shared.base.code_by_hash_ref(code_hash).unwrap_or_else(|never| match never {}))
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, Self::Error> {
        let key = StateKey::Storage(address, index);
        match self.cell(key) {
            // SAFETY: as in `basic`.
            Ok(cell) => Ok(unsafe { cell.storage(&self.shared.source) }),
            Err(undeclared) => match self.outside(key).ok_or(undeclared)? {
                Value::Storage(value) => Ok(value),
                _ => Ok(U256::ZERO),
            },
        }
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        Ok(self.shared.base.block_hash_ref(number).unwrap_or_else(|never| match never {}))
    }
}
