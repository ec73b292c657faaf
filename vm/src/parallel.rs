//! The parallel executor: waves, or barrier-free along the dependency graph.
//!
//! 1. **Prepare.** Every declared (and implied) key is interned to a dense
//!    index; each transaction's declaration becomes a sorted list of indices,
//!    so enforcement is a binary search over integers.
//! 2. **Schedule.** The lock graph of the declarations (from
//!    `defivm-scheduler`) cut into waves. If any transaction declares the
//!    beneficiary, a pseudo-key read by every transaction and written by
//!    those makes them wait for every earlier fee (see
//!    [`crate::beneficiary`]).
//! 3. **Execute.** One worker per thread of a private rayon pool, each with
//!    one EVM reused for the whole block. In wave mode workers take the
//!    transactions of a wave from a shared counter and meet at a barrier
//!    between waves; in DAG mode they take ready transactions from the
//!    scheduler's `ReadySet` and report each one complete. A
//!    transaction reads and writes the per-key cells of the block directly:
//!    nothing it may touch is touched by anyone else in its wave, and a
//!    transaction that strays outside its declaration is rejected before it
//!    can commit anything.
//! 4. **Finish.** Errors are reported for the first failing transaction in
//!    block order (as the sequential executor would); otherwise the written
//!    cells become the block's changes.

use crate::beneficiary;
use crate::block::BlockEnv;
use crate::error::{Result, UndeclaredRead, VmError};
use crate::exec::{Executed, build_evm, execute};
use crate::key::StateKey;
use crate::receipt::BlockOutcome;
use crate::state::{AccountValue, State, StateChanges, Value};
use crate::tx::{Transaction, check_declarations};
use alloy_primitives::{Address, B256, U256};
use defivm_scheduler::{
    AccessSet, Limits, LockGraph, LockGraphBuilder, LongestRemainingPath, ReadySet, ScheduleError, TxIndex,
};
use hashbrown::HashMap;
use revm::database_interface::{Database, DatabaseRef};
use revm::state::{AccountInfo, Bytecode};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, MutexGuard, OnceLock};

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

/// Executes a block in parallel on a pool of threads, in waves or along the
/// dependency graph. Output is identical to [`crate::SequentialExecutor`]'s
/// for every block.
#[derive(Debug)]
pub struct ParallelExecutor {
    pool: rayon::ThreadPool,
    limits: Limits,
    mode: ParallelMode,
    builder: Mutex<LockGraphBuilder<u32, TxIndex>>,
}

impl ParallelExecutor {
    /// An executor with `threads` worker threads of its own and the default
    /// [`Limits`].
    pub fn new(threads: usize) -> Result<Self> {
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("defivm-worker-{i}"))
            .build()
            .map_err(|e| VmError::ThreadPool { threads, message: e.to_string() })?;
        Ok(Self {
            pool,
            limits: Limits::default(),
            mode: ParallelMode::default(),
            builder: Mutex::new(LockGraphBuilder::new(Limits { max_keys_per_tx: usize::MAX })),
        })
    }

    /// The same, with a limit on declaration sizes.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
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

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Executes `txs` on top of `state` (which is left untouched).
    pub fn execute(&self, state: &State, block: &BlockEnv, txs: &[Transaction]) -> Result<BlockOutcome> {
        check_declarations(txs, &self.limits)?;
        let prepared = Prepared::new(txs, block);
        let graph = self.schedule(&prepared)?;
        let shared = Shared::new(state, &prepared);
        let results: Vec<OnceLock<Result<Executed>>> = txs.iter().map(|_| OnceLock::new()).collect();
        let segments = Segment::split(graph.waves());
        let cursors: Vec<AtomicUsize> = segments.iter().map(|_| AtomicUsize::new(0)).collect();
        let barrier = Barrier::new(self.threads());
        let beneficiary = StateKey::Account(block.beneficiary);
        let costs: Vec<u64> = txs.iter().map(|tx| tx.gas_limit).collect();
        let ready = (self.mode == ParallelMode::Dag)
            .then(|| ReadySet::new(&graph, &LongestRemainingPath::new(&costs), self.threads()));
        self.pool.broadcast(|worker| {
            let nothing = Decl::default();
            let mut evm = build_evm(View { shared: &shared, decl: &nothing }, block);
            let mut run = |tx: TxIndex| {
                let index = tx as usize;
                let decl = &prepared.decls[index];
                // Nothing may unwind past here: a worker that left the loop
                // would never reach the next barrier, and the others with it.
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    if decl.beneficiary {
                        shared.fold_fees(&results, index, &beneficiary);
                    }
                    evm.ctx.journaled_state.database = View { shared: &shared, decl };
                    let result = execute(&mut evm, &txs[index], index, block, |key| prepared.may_write(decl, key));
                    if let Ok(executed) = &result {
                        shared.commit(&executed.writes);
                    }
                    result
                }));
                let result = outcome.unwrap_or_else(|panic| {
                    // The EVM may be mid-transaction: start a fresh one. The
                    // block fails, so a half-committed transaction is moot.
                    evm = build_evm(View { shared: &shared, decl: &nothing }, block);
                    Err(VmError::Internal { index, message: panic_message(panic.as_ref()) })
                });
                // Each transaction is claimed once: from one cursor, or by
                // worker 0 alone.
                let _ = results[index].set(result);
            };
            if let Some(ready) = &ready {
                // Everything `tx` waits for committed before `complete` released it.
                let mut handle = ready.worker(worker.index());
                while let Some(tx) = handle.next_ready() {
                    run(tx);
                    handle.complete(tx);
                }
                return;
            }
            for (segment, cursor) in segments.iter().zip(&cursors) {
                match segment {
                    Segment::Wave(w) => {
                        let wave = graph.waves().wave(*w);
                        while let Some(&tx) = wave.get(cursor.fetch_add(1, Ordering::Relaxed)) {
                            run(tx);
                        }
                    }
                    Segment::Chain(waves) if worker.index() == 0 => {
                        waves.clone().flat_map(|w| graph.waves().wave(w)).for_each(|&tx| run(tx));
                    }
                    Segment::Chain(_) => {}
                }
                barrier.wait();
            }
        });
        self.finish(state, block, &prepared, shared, results)
    }

    fn schedule(&self, prepared: &Prepared) -> Result<LockGraph> {
        let mut builder = lock(&self.builder);
        let fee_key = prepared.keys.len() as u32;
        let any_beneficiary = prepared.decls.iter().any(|d| d.beneficiary);
        let sets: Vec<AccessSet<u32>> = prepared
            .decls
            .iter()
            .map(|d| {
                let mut reads: Vec<u32> = d.keys.iter().filter(|k| !k.write).map(|k| k.index).collect();
                let mut writes: Vec<u32> = d.keys.iter().filter(|k| k.write).map(|k| k.index).collect();
                if any_beneficiary {
                    if d.beneficiary { writes.push(fee_key) } else { reads.push(fee_key) }
                }
                AccessSet::new(reads, writes)
            })
            .collect();
        // Declarations were checked against `self.limits`; the builder's
        // default limit is far above any checked one plus implied keys.
        let graph = builder.build_block(&sets).map_err(|e| match e {
            ScheduleError::DeclarationTooLarge { index, keys, max, .. } => {
                ScheduleError::DeclarationTooLarge { tx: index, index, keys, max }
            }
            ScheduleError::BlockTooLarge { index, what, max, .. } => {
                ScheduleError::BlockTooLarge { tx: index, index, what, max }
            }
        })?;
        Ok(graph)
    }

    fn finish(
        &self,
        state: &State,
        block: &BlockEnv,
        prepared: &Prepared,
        shared: Shared<'_>,
        results: Vec<OnceLock<Result<Executed>>>,
    ) -> Result<BlockOutcome> {
        let mut receipts = Vec::with_capacity(results.len());
        let (mut fees, mut any_ran) = (U256::ZERO, false);
        for (index, result) in results.into_iter().enumerate() {
            let executed = result
                .into_inner()
                .unwrap_or_else(|| Err(VmError::Internal { index, message: "the transaction was never run".into() }))?;
            fees += executed.fee;
            any_ran |= executed.ran();
            receipts.push(executed.receipt);
        }
        let pending = fees - lock(&shared.folded).credited;
        let mut changes = StateChanges::with_capacity(prepared.keys.len());
        for (index, cell) in shared.cells.into_iter().enumerate() {
            let cell = cell.into_inner().unwrap_or_else(|p| p.into_inner());
            if let (true, Some(value)) = (cell.written, cell.value) {
                changes.insert(prepared.keys[index], value);
            }
        }
        let current = match changes.get(&StateKey::Account(block.beneficiary)) {
            Some(Value::Account(account)) => account.clone(),
            _ => state.account(&block.beneficiary).map(|a| a.value()),
        };
        beneficiary::settle(&mut changes, state, block, current, pending, any_ran);
        Ok(BlockOutcome { receipts, changes, fees })
    }
}

/// A stretch of the schedule between two barriers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// One wave, shared by all workers.
    Wave(usize),
    /// Consecutive waves of one transaction each: a chain that only one
    /// worker can run, so it runs them all with no barrier in between.
    Chain(core::ops::Range<usize>),
}

impl Segment {
    fn split(waves: &defivm_scheduler::Waves) -> Vec<Segment> {
        let mut segments = Vec::new();
        for (w, size) in waves.sizes().enumerate() {
            match segments.last_mut() {
                Some(Segment::Chain(range)) if size == 1 => range.end = w + 1,
                _ if size == 1 => segments.push(Segment::Chain(w..w + 1)),
                _ => segments.push(Segment::Wave(w)),
            }
        }
        segments
    }
}

/// One declared key of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct DeclKey {
    index: u32,
    write: bool,
}

/// A transaction's full declaration over interned keys, sorted.
#[derive(Debug, Default)]
struct Decl {
    keys: Vec<DeclKey>,
    /// Whether it declares the beneficiary's account.
    beneficiary: bool,
}

impl Decl {
    /// How `index` is declared: `None` if not at all.
    fn find(&self, index: u32) -> Option<bool> {
        self.keys.binary_search_by_key(&index, |k| k.index).ok().map(|at| self.keys[at].write)
    }
}

/// The block's keys interned, and every declaration over them.
#[derive(Debug)]
struct Prepared {
    keys: Vec<StateKey>,
    index: HashMap<StateKey, u32>,
    decls: Vec<Decl>,
}

impl Prepared {
    fn new(txs: &[Transaction], block: &BlockEnv) -> Self {
        // Most transactions bring a key or two of their own.
        let mut keys = Vec::with_capacity(txs.len() * 2);
        let mut index: HashMap<StateKey, u32> = HashMap::with_capacity(txs.len() * 2);
        let beneficiary = StateKey::Account(block.beneficiary);
        let decls = txs
            .iter()
            .map(|tx| {
                let access = tx.full_access();
                let mut intern = |key: &StateKey| {
                    *index.entry(*key).or_insert_with(|| {
                        keys.push(*key);
                        (keys.len() - 1) as u32
                    })
                };
                let mut decl_keys: Vec<DeclKey> =
                    access.writes().iter().map(|k| DeclKey { index: intern(k), write: true }).collect();
                decl_keys.extend(access.reads().iter().map(|k| DeclKey { index: intern(k), write: false }));
                // Sorted by index with writes first, so a key declared both
                // ways keeps its write entry.
                decl_keys.sort_unstable_by_key(|k| (k.index, !k.write));
                decl_keys.dedup_by_key(|k| k.index);
                Decl { keys: decl_keys, beneficiary: access.declares(&beneficiary) }
            })
            .collect();
        Self { keys, index, decls }
    }

    fn may_write(&self, decl: &Decl, key: &StateKey) -> bool {
        self.index.get(key).is_some_and(|&i| decl.find(i) == Some(true))
    }
}

/// A key's value during the block. `None` until first read (then loaded
/// from the base state).
#[derive(Debug, Default)]
struct Cell {
    value: Option<Value>,
    written: bool,
}

/// Which fees are already in the beneficiary's cell.
#[derive(Debug, Default)]
struct Folded {
    /// Fees of transactions before this position are credited.
    upto: usize,
    /// Their sum.
    credited: U256,
}

/// What the workers share: the cells, and the fee-folding position.
#[derive(Debug)]
struct Shared<'a> {
    base: &'a State,
    prepared: &'a Prepared,
    cells: Vec<Mutex<Cell>>,
    folded: Mutex<Folded>,
}

impl<'a> Shared<'a> {
    fn new(base: &'a State, prepared: &'a Prepared) -> Self {
        let cells = prepared.keys.iter().map(|_| Mutex::new(Cell::default())).collect();
        Self { base, prepared, cells, folded: Mutex::new(Folded::default()) }
    }

    /// The current value of interned key `index`.
    fn read(&self, index: u32) -> Value {
        let mut cell = lock(&self.cells[index as usize]);
        cell.value.get_or_insert_with(|| self.base.get(&self.prepared.keys[index as usize])).clone()
    }

    fn write(&self, index: u32, value: Value) {
        let mut cell = lock(&self.cells[index as usize]);
        cell.value = Some(value);
        cell.written = true;
    }

    fn commit(&self, writes: &[(StateKey, Value)]) {
        for (key, value) in writes {
            // A transaction only writes keys it declared as written (or it
            // is rejected), and every declared key is interned.
            if let Some(&index) = self.prepared.index.get(key) {
                self.write(index, value.clone());
            }
        }
    }

    /// Credits to the beneficiary's cell the fees of every transaction before
    /// `upto` not credited yet. Called only for transactions that declare
    /// the beneficiary, which the schedule runs after every earlier one, so
    /// all those fees are known.
    fn fold_fees(&self, results: &[OnceLock<Result<Executed>>], upto: usize, beneficiary: &StateKey) {
        let mut folded = lock(&self.folded);
        let fees = results[folded.upto..upto]
            .iter()
            .filter_map(|r| r.get().and_then(|r| r.as_ref().ok()))
            .fold(U256::ZERO, |sum, executed| sum + executed.fee);
        folded.upto = upto;
        folded.credited += fees;
        if fees.is_zero() {
            return;
        }
        let Some(&index) = self.prepared.index.get(beneficiary) else { return };
        let current = match self.read(index) {
            Value::Account(account) => account,
            Value::Storage(_) => None,
        };
        self.write(index, Value::Account(beneficiary::credit(current, fees)));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Cells hold plain values, consistent even if a holder panicked.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
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
    decl: &'s Decl,
}

impl View<'_, '_> {
    fn read(&self, key: StateKey) -> Result<Value, UndeclaredRead> {
        match self.shared.prepared.index.get(&key) {
            Some(&index) if self.decl.find(index).is_some() => Ok(self.shared.read(index)),
            _ => Err(UndeclaredRead(key)),
        }
    }
}

impl Database for View<'_, '_> {
    type Error = UndeclaredRead;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        match self.read(StateKey::Account(address))? {
            Value::Account(account) => Ok(account.map(|a: AccountValue| a.info())),
            Value::Storage(_) => Ok(None),
        }
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        Ok(self.shared.base.code_by_hash_ref(code_hash).unwrap_or_else(|never| match never {}))
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, Self::Error> {
        match self.read(StateKey::Storage(address, index))? {
            Value::Storage(value) => Ok(value),
            Value::Account(_) => Ok(U256::ZERO),
        }
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        Ok(self.shared.base.block_hash_ref(number).unwrap_or_else(|never| match never {}))
    }
}
