//! `Declarer` on generated workloads and on the mainnet blocks: with their
//! declarations removed and derived again against the prefix, every block
//! runs in every mode as it did declared by hand, and every mainnet block
//! still verifies against its header; against the pre-state, transfers
//! (whose keys do not depend on what came before) get the exact
//! declarations at every thread count, and every block, taken with its
//! derived declarations as hints, runs in every mode as it does with no
//! declaration at all (the mainnet blocks verifying against their headers).

mod common;

use defivm::fixture::{Codes, LoadedFixture};
use defivm::vm::{
    AccessSet, BalExecutor, BlockEnv, BlockOutcome, Declarations, Declarer, ListedAccess, ParallelExecutor,
    ParallelMode, Repairs, SequentialExecutor, State, Status, Transaction,
};
use defivm::workload::{Workload, WorkloadSpec, generate};

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
    let files = common::mainnet_files();
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

/// Runs `txs` (with hints) in every mode at `threads`, whole, and checks
/// each outcome against `expected` (the block with no declaration at all),
/// its strays against `strays`; returns how many transactions the
/// lock-graph modes ran again.
fn hinted_in_every_mode(
    state: &State,
    env: &BlockEnv,
    txs: &[Transaction],
    expected: &BlockOutcome,
    strays: usize,
    threads: &[usize],
    what: &str,
) -> usize {
    let same = |got: &BlockOutcome, how: &str| {
        assert_eq!(got.repairs.strays, strays, "{what}: {how}");
        let got = (&got.receipts, &got.changes, got.fees);
        assert_eq!(got, (&expected.receipts, &expected.changes, expected.fees), "{what}: {how}");
    };
    let list = ListedAccess::new(expected.access.clone());
    let mut again = None;
    for &threads in threads {
        for mode in [ParallelMode::Waves, ParallelMode::Dag] {
            let executor = ParallelExecutor::new(threads)
                .unwrap()
                .with_mode(mode)
                .with_fallback(false)
                .with_declarations(Declarations::Hints);
            let got = executor.execute(state, env, txs).unwrap();
            same(&got, &format!("{threads} threads {mode:?}"));
            // The repair is in block order: the same at every thread count.
            assert_eq!(*again.get_or_insert(got.repairs.reexecuted), got.repairs.reexecuted, "{what}");
        }
        let bal = BalExecutor::new(threads).unwrap().with_declarations(Declarations::Hints);
        let got = bal.execute(state, env, txs, &list).unwrap();
        same(&got, &format!("{threads} threads bal"));
        assert_eq!(got.repairs.reexecuted, 0);
    }
    again.unwrap_or_default()
}

#[test]
fn pre_state_hints_run_every_workload_in_every_mode_as_no_declaration_does() {
    let declarer = Declarer::new(2).unwrap();
    let (mut strays, mut again) = (0, 0);
    for workload in Workload::ALL {
        for hot in [0.0, 0.1, 0.5, 1.0] {
            let spec = WorkloadSpec { users: 60, hot, seed: 11, ..WorkloadSpec::new(workload, 300) };
            let block = generate(&spec).unwrap();
            let (state, env) = (block.state(), &block.env);
            let what = format!("{workload} hot {hot}");
            let mut undeclared = block.txs.clone();
            undeclared.iter_mut().for_each(|tx| tx.access = AccessSet::default());
            let (expected, _) = SequentialExecutor::new().record(state, env, &undeclared).unwrap();
            let txs = redeclared(&declarer, state, env, &block.txs);
            let sequential = SequentialExecutor::new().with_access_record(true).with_declarations(Declarations::Hints);
            let hinted = sequential.execute(state, env, &txs).unwrap();
            assert_eq!(BlockOutcome { repairs: Repairs::default(), ..hinted.clone() }, expected, "{what}");
            again += hinted_in_every_mode(state, env, &txs, &expected, hinted.repairs.strays, &[1, 2, 3, 4], &what);
            strays += hinted.repairs.strays;
        }
    }
    // Some workloads stray against the pre-state, and some first runs are
    // wrong in block order: the repair is exercised.
    assert!(strays > 0 && again > 0, "{strays} strays, {again} run again");
}

#[test]
fn pre_state_hints_of_every_mainnet_block_verify_against_its_header_in_every_mode() {
    let files = common::mainnet_files();
    let codes = Codes::new();
    let declarer = Declarer::new(2).unwrap();
    let (mut strays, mut again) = (0, 0);
    for file in &files {
        let fixture = LoadedFixture::load_with(file, &codes).unwrap();
        let (state, env) = (&fixture.state, &fixture.env);
        let txs = redeclared(&declarer, state, env, &fixture.txs);
        let sequential = SequentialExecutor::new().with_access_record(true).with_declarations(Declarations::Hints);
        let expected = sequential.execute(state, env, &txs).unwrap();
        let what = file.display().to_string();
        assert_eq!(fixture.compare(&expected), Ok(()), "{what}");
        assert_eq!(fixture.compare_access(&expected.access), Ok(()), "{what}");
        again += hinted_in_every_mode(state, env, &txs, &expected, expected.repairs.strays, &[2], &what);
        strays += expected.repairs.strays;
    }
    assert_eq!(files.len(), 68);
    // Measured when this test was written: 266 strays, 312 run again.
    assert!(strays > 0 && again > 0, "{strays} strays, {again} run again");
}
