//! Every executor over a revm database as its base state (revm's `CacheDB`
//! over an `EmptyDB`, filled with a block's pre-state, behind a node-like
//! front that gives code by hash only): the same outcome as over the
//! in-memory `State`, in every mode, strict and with hints; the parallel
//! executor reads each declared key once, while preparing; a failed read
//! is a typed error naming the key, in every executor.

mod common;

use defivm::fixture::{Codes, LoadedFixture};
use defivm::vm::{
    AccessSet, BalExecutor, BaseState, BlockEnv, DatabaseRead, Declarations, Declarer, ListedAccess, ParallelExecutor,
    ParallelMode, SequentialExecutor, State, StateKey, Transaction, VmError,
};
use defivm::workload::{Workload, WorkloadSpec, generate};
use revm::database::{CacheDB, EmptyDB};
use revm::database_interface::{DBErrorMarker, DatabaseRef};
use revm::primitives::{Address, B256, KECCAK_EMPTY, U256};
use revm::state::{AccountInfo, Bytecode};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;

/// The error [`Node`] fails with.
#[derive(Debug, thiserror::Error)]
#[error("the disk is on fire")]
struct OnFire;

impl DBErrorMarker for OnFire {}

/// A database as a node may have one: accounts come with their code's
/// hash only (a zero hash for no code), every account and slot read is
/// counted, and one key may fail, or panic.
struct Node {
    db: CacheDB<EmptyDB>,
    fails: Option<StateKey>,
    panics: bool,
    reads: Mutex<HashMap<StateKey, usize>>,
}

impl Node {
    /// `state` in revm's in-memory database.
    fn new(state: &State) -> Self {
        let mut db = CacheDB::new(EmptyDB::default());
        for (address, account) in state.accounts() {
            let mut info = AccountInfo { balance: account.balance, nonce: account.nonce, ..AccountInfo::default() };
            if let Some(code) = account.code.clone() {
                info.code_hash = code.hash_slow();
                info.code = Some(code);
            }
            db.insert_account_info(*address, info);
            for (slot, value) in &account.storage {
                db.insert_account_storage(*address, *slot, *value).unwrap();
            }
        }
        db.cache.block_hashes.extend(state.block_hashes().map(|(n, hash)| (U256::from(n), hash)));
        Self { db, fails: None, panics: false, reads: Mutex::default() }
    }

    fn failing(mut self, key: StateKey) -> Self {
        self.fails = Some(key);
        self
    }

    fn panicking(mut self, key: StateKey) -> Self {
        self.fails = Some(key);
        self.panics = true;
        self
    }

    fn read(&self, key: StateKey) -> Result<(), OnFire> {
        *self.reads.lock().unwrap().entry(key).or_default() += 1;
        match self.fails == Some(key) {
            true if self.panics => panic!("the disk fell off"),
            true => Err(OnFire),
            false => Ok(()),
        }
    }

    /// Every key read so far, with how many times, and none from now on.
    fn take_reads(&self) -> HashMap<StateKey, usize> {
        std::mem::take(&mut *self.reads.lock().unwrap())
    }
}

impl DatabaseRef for Node {
    type Error = OnFire;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, OnFire> {
        self.read(StateKey::Account(address))?;
        let info = self.db.basic_ref(address).unwrap();
        // The hash alone: the code is asked for by it. No code, no hash.
        let hash = |hash: B256| if hash == KECCAK_EMPTY { B256::ZERO } else { hash };
        Ok(info.map(|info| AccountInfo { code: None, code_hash: hash(info.code_hash), ..info }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, OnFire> {
        assert!(!code_hash.is_zero() && code_hash != KECCAK_EMPTY, "asked for no code by hash");
        Ok(self.db.code_by_hash_ref(code_hash).unwrap())
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, OnFire> {
        self.read(StateKey::Storage(address, index))?;
        Ok(self.db.storage_ref(address, index).unwrap())
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, OnFire> {
        Ok(self.db.cache.block_hashes.get(&U256::from(number)).copied().unwrap_or_default())
    }
}

/// Every lock-graph executor: both modes at `threads`, each also cut in
/// segments of 64 transactions.
fn parallel_executors(threads: &[usize], declarations: Declarations) -> Vec<ParallelExecutor> {
    threads
        .iter()
        .flat_map(|&threads| [(threads, ParallelMode::Waves), (threads, ParallelMode::Dag)])
        .flat_map(|(threads, mode)| {
            [defivm::vm::SEGMENT_TXS, 64].map(|segment| {
                ParallelExecutor::new(threads)
                    .unwrap()
                    .with_mode(mode)
                    .with_fallback(false)
                    .with_access_record(true)
                    .with_declarations(declarations)
                    .with_segment_txs(segment)
            })
        })
        .collect()
}

/// Runs `txs` over `state` and over `node` (the same state) in every
/// executor, and checks that each gives the same outcome over both.
fn same_over_both(
    state: &State,
    node: &Node,
    env: &BlockEnv,
    txs: &[Transaction],
    threads: &[usize],
    declarations: Declarations,
    what: &str,
) {
    let sequential = SequentialExecutor::new().with_access_record(true).with_declarations(declarations);
    let expected = sequential.execute(state, env, txs).unwrap();
    assert_eq!(sequential.execute(node, env, txs).unwrap(), expected, "{what}: sequential");
    for executor in parallel_executors(threads, declarations) {
        let how = format!("{what}: {} threads {:?}", executor.threads(), executor.mode());
        let over_state = executor.execute(state, env, txs).unwrap();
        assert_eq!(over_state.receipts, expected.receipts, "{how}");
        assert_eq!(executor.execute(node, env, txs).unwrap(), over_state, "{how}");
    }
    let list = ListedAccess::new(expected.access.clone());
    for &threads in threads {
        let bal = BalExecutor::new(threads).unwrap().with_declarations(declarations);
        let over_state = bal.execute(state, env, txs, &list).unwrap();
        assert_eq!(bal.execute(node, env, txs, &list).unwrap(), over_state, "{what}: {threads} threads bal");
    }
}

/// `txs` with their declarations removed, then derived against the
/// pre-state, over `base`.
fn derived_hints(base: &impl BaseState, env: &BlockEnv, txs: &[Transaction]) -> Vec<Transaction> {
    let mut txs = txs.to_vec();
    txs.iter_mut().for_each(|tx| tx.access = AccessSet::default());
    let declarations = Declarer::new(2).unwrap().declare(base, env, &txs).unwrap();
    txs.iter_mut().zip(declarations).for_each(|(tx, declaration)| tx.access = declaration);
    txs
}

#[test]
fn every_workload_runs_over_a_database_as_over_the_state_in_every_mode() {
    for workload in Workload::ALL {
        let spec = WorkloadSpec { users: 60, hot: 0.5, seed: 3, ..WorkloadSpec::new(workload, 300) };
        let block = generate(&spec).unwrap();
        let (state, env) = (block.state(), &block.env);
        let node = Node::new(state);
        let what = format!("{workload}");
        same_over_both(state, &node, env, &block.txs, &[1, 2, 4], Declarations::Strict, &what);
        // Derived over the database: the same as over the state.
        let hints = derived_hints(&node, env, &block.txs);
        assert_eq!(hints, derived_hints(state, env, &block.txs), "{what}");
        same_over_both(state, &node, env, &hints, &[1, 2, 4], Declarations::Hints, &format!("{what} hints"));
    }
}

#[test]
fn every_mainnet_block_runs_over_a_database_as_over_the_state_and_verifies() {
    let files = common::mainnet_files();
    let codes = Codes::new();
    for file in &files {
        let fixture = LoadedFixture::load_with(file, &codes).unwrap();
        let (state, env) = (&fixture.state, &fixture.env);
        let node = Node::new(state);
        let what = file.display().to_string();
        let outcome = ParallelExecutor::new(2).unwrap().with_fallback(false).execute(&node, env, &fixture.txs).unwrap();
        assert_eq!(fixture.compare(&outcome), Ok(()), "{what}");
        same_over_both(state, &node, env, &fixture.txs, &[2], Declarations::Strict, &what);
        let hints = derived_hints(&node, env, &fixture.txs);
        same_over_both(state, &node, env, &hints, &[2], Declarations::Hints, &format!("{what} hints"));
    }
    assert_eq!(files.len(), 68);
}

/// The keys a block's transactions declare or imply.
fn declared(txs: &[Transaction]) -> HashMap<StateKey, usize> {
    let mut keys = HashMap::new();
    for tx in txs {
        tx.for_each_key(|key, _| {
            keys.insert(key, 0);
        });
    }
    keys
}

#[test]
fn the_parallel_executor_reads_each_declared_key_once_while_preparing() {
    for workload in Workload::ALL {
        let spec = WorkloadSpec { users: 60, hot: 0.5, seed: 4, ..WorkloadSpec::new(workload, 300) };
        let block = generate(&spec).unwrap();
        let (state, env) = (block.state(), &block.env);
        let node = Node::new(state);
        let keys = declared(&block.txs);
        for mode in [ParallelMode::Waves, ParallelMode::Dag] {
            let executor = ParallelExecutor::new(2).unwrap().with_mode(mode).with_fallback(false);
            executor.execute(&node, env, &block.txs).unwrap();
            let mut reads = node.take_reads();
            // The beneficiary is read again to settle its fees.
            reads.remove(&StateKey::Account(env.beneficiary));
            let extra: Vec<_> = reads.keys().filter(|key| !keys.contains_key(key)).collect();
            assert!(extra.is_empty(), "{workload} {mode:?}: read undeclared {extra:?}");
            let unread: Vec<_> = keys.keys().filter(|key| !reads.contains_key(key)).collect();
            let unread = unread.into_iter().filter(|key| **key != StateKey::Account(env.beneficiary));
            assert_eq!(unread.count(), 0, "{workload} {mode:?}: declared keys left unread");
            let twice: Vec<_> = reads.iter().filter(|(_, n)| **n > 1).collect();
            assert!(twice.is_empty(), "{workload} {mode:?}: read more than once {twice:?}");
        }
    }
}

/// Whether `result` is the failed read of `key`.
fn failed_at<T: std::fmt::Debug>(result: Result<T, VmError>, key: StateKey) {
    let read = match key {
        StateKey::Account(address) => DatabaseRead::Account(address),
        StateKey::Storage(address, slot) => DatabaseRead::Storage(address, slot),
    };
    match result {
        Err(VmError::Database { read: got, message }) => {
            assert_eq!(got, read);
            assert_eq!(message, "the disk is on fire");
        }
        other => panic!("expected the failed read of {key:?}, got {other:?}"),
    }
}

#[test]
fn a_failed_read_fails_the_block_in_every_executor_naming_the_key() {
    let spec = WorkloadSpec { users: 60, hot: 0.5, seed: 6, ..WorkloadSpec::new(Workload::Mixed, 300) };
    let block = generate(&spec).unwrap();
    let (state, env, txs) = (block.state(), &block.env, &block.txs);
    let list =
        ListedAccess::new(SequentialExecutor::new().with_access_record(true).execute(state, env, txs).unwrap().access);
    // A slot and an account that a transaction late in the block declares.
    let late = &txs[txs.len() - 10];
    let slot = late.access.writes().iter().chain(late.access.reads()).find(|k| matches!(k, StateKey::Storage(..)));
    let keys = [StateKey::Account(late.from), *slot.expect("a declared slot")];
    for key in keys {
        let node = Node::new(state).failing(key);
        for declarations in [Declarations::Strict, Declarations::Hints] {
            let sequential = SequentialExecutor::new().with_declarations(declarations);
            failed_at(sequential.execute(&node, env, txs), key);
            for executor in parallel_executors(&[1, 2], declarations) {
                failed_at(executor.execute(&node, env, txs), key);
                let streamed = executor.execute_streamed(&node, env, txs, |_, _| {});
                failed_at(streamed, key);
            }
            // Read while preparing: the block fails before any transaction runs.
            let executor = ParallelExecutor::new(2).unwrap().with_fallback(false).with_declarations(declarations);
            let handed = AtomicUsize::new(0);
            failed_at(executor.execute_streamed(&node, env, txs, |_, _| _ = handed.fetch_add(1, Relaxed)), key);
            assert_eq!(handed.into_inner(), 0, "{key:?}");
            let bal = BalExecutor::new(2).unwrap().with_declarations(declarations);
            failed_at(bal.execute(&node, env, txs, &list), key);
        }
        failed_at(SequentialExecutor::new().record(&node, env, txs), key);
        failed_at(Declarer::new(2).unwrap().declare(&node, env, txs), key);
        failed_at(Declarer::new(1).unwrap().with_prefix(true).declare(&node, env, txs), key);
        failed_at(defivm::vm::revm_block_access_list(&node, env, txs), key);
    }
}

#[test]
fn a_database_that_panics_while_preparing_is_an_internal_error() {
    let spec = WorkloadSpec { users: 60, hot: 0.5, seed: 6, ..WorkloadSpec::new(Workload::Erc20, 300) };
    let block = generate(&spec).unwrap();
    let node = Node::new(block.state()).panicking(StateKey::Account(block.txs[100].from));
    for threads in [1, 2] {
        for executor in parallel_executors(&[threads], Declarations::Strict) {
            let result = executor.execute(&node, &block.env, &block.txs);
            assert!(
                matches!(&result, Err(VmError::Internal { message, .. }) if message == "the disk fell off"),
                "{result:?}"
            );
        }
    }
}
