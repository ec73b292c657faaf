//! `Declarer` on generated workloads and on the mainnet blocks: with their
//! declarations removed and derived again against the prefix, every block
//! runs in every mode as it did declared by hand, and every mainnet block
//! still verifies against its header; against the pre-state, transfers
//! (whose keys do not depend on what came before) get the exact
//! declarations at every thread count.

use defivm::fixture::{Codes, LoadedFixture};
use defivm::vm::{
    AccessSet, BlockEnv, Declarer, ParallelExecutor, ParallelMode, SequentialExecutor, State, Status, Transaction,
};
use defivm::workload::{Workload, WorkloadSpec, generate};
use std::path::Path;

/// `txs` with their declarations removed, then derived by `declarer`.
fn redeclared(declarer: &Declarer, state: &State, env: &BlockEnv, txs: &[Transaction]) -> Vec<Transaction> {
    let mut txs = txs.to_vec();
    txs.iter_mut().for_each(|tx| tx.access = AccessSet::default());
    let declarations = declarer.declare(state, env, &txs).unwrap();
    for (tx, declaration) in txs.iter_mut().zip(declarations) {
        tx.access = declaration;
    }
    txs
}

#[test]
fn prefix_declarations_run_every_workload_in_every_mode_as_its_own() {
    let declarer = Declarer::new(1).unwrap().with_prefix(true);
    let executors: Vec<ParallelExecutor> = (1..=4)
        .flat_map(|threads| {
            [ParallelMode::Waves, ParallelMode::Dag]
                .map(|mode| ParallelExecutor::new(threads).unwrap().with_mode(mode).with_fallback(false))
        })
        .collect();
    for workload in Workload::ALL {
        for hot in [0.0, 0.5, 1.0] {
            let spec = WorkloadSpec { users: 60, hot, seed: 5, ..WorkloadSpec::new(workload, 300) };
            let block = generate(&spec).unwrap();
            let what = format!("{workload} hot {hot}");
            let expected = SequentialExecutor::new().execute(block.state(), &block.env, &block.txs).unwrap();
            let txs = redeclared(&declarer, block.state(), &block.env, &block.txs);
            let derived = SequentialExecutor::new().execute(block.state(), &block.env, &txs).unwrap();
            assert!(derived.receipts.iter().all(|r| !matches!(r.status, Status::AccessViolation { .. })), "{what}");
            assert_eq!((&derived.receipts, &derived.changes), (&expected.receipts, &expected.changes), "{what}");
            for executor in &executors {
                let parallel = executor.execute(block.state(), &block.env, &txs).unwrap();
                let how = format!("{what}: {} threads {:?}", executor.threads(), executor.mode());
                assert_eq!((&parallel.receipts, &parallel.changes), (&expected.receipts, &expected.changes), "{how}");
            }
        }
    }
}

#[test]
fn pre_state_declarations_of_transfers_are_the_exact_ones_at_every_thread_count() {
    let spec = WorkloadSpec { users: 40, hot: 0.5, seed: 9, ..WorkloadSpec::new(Workload::Erc20, 400) };
    let block = generate(&spec).unwrap();
    let exact = Declarer::new(1).unwrap().with_prefix(true).declare(block.state(), &block.env, &block.txs).unwrap();
    for threads in 1..=4 {
        let declarer = Declarer::new(threads).unwrap();
        let derived = declarer.declare(block.state(), &block.env, &block.txs).unwrap();
        assert_eq!(derived, exact, "{threads} threads");
    }
}

#[test]
fn prefix_declarations_of_every_mainnet_block_verify_against_its_header() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mainnet");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let codes = Codes::new();
    let declarer = Declarer::new(1).unwrap().with_prefix(true);
    let executor = ParallelExecutor::new(2).unwrap().with_mode(ParallelMode::Dag).with_fallback(false);
    for file in &files {
        let fixture = LoadedFixture::load_with(file, &codes).unwrap();
        let txs = redeclared(&declarer, &fixture.state, &fixture.env, &fixture.txs);
        let outcome = executor.execute(&fixture.state, &fixture.env, &txs).unwrap();
        assert_eq!(fixture.compare(&outcome), Ok(()), "{}", file.display());
    }
    assert_eq!(files.len(), 68);
}
