//! EIP-7928 block access lists: the list defivm's executors record equals,
//! entry for entry and in its hash, the one revm's own builder makes of the
//! same block run by plain revm; on every generated workload at several
//! hotnesses and on every mainnet fixture, in every mode.

use defivm::ethereum::{bal_hash, block_access_list};
use defivm::fixture::{Codes, LoadedFixture};
use defivm::vm::{
    BlockEnv, ParallelExecutor, ParallelMode, SequentialExecutor, State, Status, Transaction, revm_block_access_list,
};
use defivm::workload::{Workload, WorkloadSpec, generate};
use std::path::Path;

/// Every executor the list must come out of alike.
fn executors() -> Vec<ParallelExecutor> {
    [1, 2, 4]
        .into_iter()
        .flat_map(|threads| {
            [ParallelMode::Waves, ParallelMode::Dag].map(|mode| {
                ParallelExecutor::new(threads).unwrap().with_mode(mode).with_fallback(false).with_access_record(true)
            })
        })
        .collect()
}

/// The block's list as defivm records it in every mode, checked against
/// revm's builder; `what` names the block in a failure.
fn check(what: &str, state: &State, env: &BlockEnv, txs: &[Transaction], executors: &[ParallelExecutor]) {
    let sequential = SequentialExecutor::new().with_access_record(true).execute(state, env, txs).unwrap();
    let ours = block_access_list(&sequential.access);
    let revm = revm_block_access_list(state, env, txs).unwrap();
    if ours != revm {
        let first = ours.iter().zip(&revm).position(|(a, b)| a != b).unwrap_or(ours.len().min(revm.len()));
        panic!(
            "{what}: {} accounts against revm's {}; first difference at entry {first}:\n ours {:?}\n revm {:?}",
            ours.len(),
            revm.len(),
            ours.get(first),
            revm.get(first)
        );
    }
    assert_eq!(bal_hash(&ours), bal_hash(&revm), "{what}");
    for executor in executors {
        let parallel = executor.execute(state, env, txs).unwrap();
        assert_eq!(parallel.access, sequential.access, "{what}: {} threads {:?}", executor.threads(), executor.mode());
    }
}

#[test]
fn every_generated_workload_records_the_list_revm_builds() {
    let executors = executors();
    for workload in Workload::ALL {
        for hot in [0.0, 0.1, 0.5, 1.0] {
            let spec = WorkloadSpec { users: 60, hot, seed: 11, ..WorkloadSpec::new(workload, 300) };
            let block = generate(&spec).unwrap();
            check(&format!("{workload} hot {hot}"), block.state(), &block.env, &block.txs, &executors);
        }
    }
}

#[test]
fn every_mainnet_block_records_the_list_revm_builds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mainnet");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let executors = executors();
    let codes = Codes::new();
    for file in &files {
        let fixture = LoadedFixture::load_with(file, &codes).unwrap();
        check(&file.display().to_string(), &fixture.state, &fixture.env, &fixture.txs, &executors);
    }
    assert_eq!(files.len(), 68);
}

#[test]
fn the_committed_fixtures_carry_the_list_the_executors_record() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut files: Vec<_> = ["erc20", "dex", "lending", "staking", "mixed"]
        .iter()
        .map(|w| root.join(format!("{w}.json.gz")))
        .chain(std::fs::read_dir(root.join("mainnet")).unwrap().map(|e| e.unwrap().path()))
        .collect();
    files.sort();
    let codes = Codes::new();
    let executor = ParallelExecutor::new(2).unwrap().with_access_record(true);
    for file in &files {
        let fixture = LoadedFixture::load_with(file, &codes).unwrap();
        assert!(fixture.block_access_list.is_some(), "{} has no block access list", file.display());
        let outcome = executor.execute(&fixture.state, &fixture.env, &fixture.txs).unwrap();
        assert_eq!(fixture.compare_access(&outcome.access), Ok(()), "{}", file.display());
    }
    assert_eq!(files.len(), 73);
}

#[test]
fn a_transaction_rejected_for_an_access_violation_leaves_no_entries() {
    let spec = WorkloadSpec { users: 1_000, seed: 3, ..WorkloadSpec::new(Workload::Erc20, 200) };
    let mut block = generate(&spec).unwrap();
    // A transaction whose sender no other transaction sends from or to
    // declares nothing beyond what it implies: its token balances are
    // undeclared reads, and it is rejected.
    let alone = |i: usize| {
        let sender = block.txs[i].from;
        block.txs.iter().enumerate().all(|(j, tx)| j == i || (tx.from != sender && tx.to != Some(sender)))
    };
    let rejected = (5..block.txs.len() - 1).find(|&i| alone(i)).unwrap();
    let sender = block.txs[rejected].from;
    block.txs[rejected].access = Default::default();
    let sequential =
        SequentialExecutor::new().with_access_record(true).execute(block.state(), &block.env, &block.txs).unwrap();
    let status = &sequential.receipts[rejected].status;
    assert!(matches!(status, Status::AccessViolation { .. }), "{status:?}");
    let list = block_access_list(&sequential.access);
    let at = |index: u64| {
        list.iter().any(|a| {
            a.balance_changes.iter().any(|c| c.block_access_index.get() == index)
                || a.nonce_changes.iter().any(|c| c.block_access_index.get() == index)
                || a.storage_changes.iter().any(|s| s.changes.iter().any(|c| c.block_access_index.get() == index))
        })
    };
    let index = rejected as u64 + 1;
    assert!(at(index - 1) && at(index + 1), "its neighbours leave entries");
    assert!(!at(index), "transaction {rejected} (index {index}) left an entry");
    assert!(list.iter().all(|a| a.address != sender), "its sender, which it loaded, is not listed");
    for executor in executors() {
        let parallel = executor.execute(block.state(), &block.env, &block.txs).unwrap();
        assert_eq!(parallel, sequential, "{} threads {:?}", executor.threads(), executor.mode());
    }
}
