//! Generated DeFi workloads: declarations are right (no access violation),
//! most transactions succeed, the same seed gives the same block, the
//! sequential executor equals plain revm (whose KECCAK256 is revm's own, not
//! the executors' memo), and every parallel run equals the sequential one at
//! every hotness.

use defivm::vm::{ParallelExecutor, ParallelMode, PlainRevm, SequentialExecutor, Status};
use defivm::workload::{Workload, WorkloadError, WorkloadSpec, generate};

#[test]
fn sequential_equals_plain_revm_and_parallel_equals_sequential_for_every_workload_and_hotness() {
    let executors: Vec<_> = [2, 4]
        .into_iter()
        .flat_map(|t| {
            [ParallelMode::Waves, ParallelMode::Dag]
                .map(|m| ParallelExecutor::new(t).unwrap().with_mode(m).with_fallback(false))
        })
        .collect();
    for workload in Workload::ALL {
        for hot in [0.0, 0.3, 0.7, 1.0] {
            let spec = WorkloadSpec { users: 60, hot, seed: 7, ..WorkloadSpec::new(workload, 300) };
            let block = generate(&spec).unwrap();
            let expected = SequentialExecutor::new().execute(block.state(), &block.env, &block.txs).unwrap();
            let ok = expected.receipts.iter().filter(|r| r.status == Status::Success).count();
            for (i, r) in expected.receipts.iter().enumerate() {
                assert!(!matches!(r.status, Status::AccessViolation { .. }), "{workload} hot {hot} tx {i}: {r:?}");
            }
            assert!(ok * 10 >= spec.txs * 9, "{workload} hot {hot}: only {ok} of {} succeeded", spec.txs);
            let mut plain = PlainRevm::new(block.state());
            assert_eq!(plain.execute(&block.env, &block.txs).unwrap(), expected.receipts, "{workload} hot {hot}");
            assert_eq!(expected.state_root(block.state()), plain.post_state().root(), "{workload} hot {hot}");
            for executor in &executors {
                let got = executor.execute(block.state(), &block.env, &block.txs).unwrap();
                assert_eq!(
                    got,
                    expected,
                    "{workload} hot {hot}, {} threads, {:?}",
                    executor.threads(),
                    executor.mode()
                );
            }
        }
    }
}

#[test]
fn long_lending_blocks_keep_prices_positive() {
    // Enough markdowns to take a price to zero without recoveries.
    let spec = WorkloadSpec { users: 200, hot: 1.0, ..WorkloadSpec::new(Workload::Lending, 12_000) };
    let block = generate(&spec).unwrap();
    let outcome = SequentialExecutor::new().execute(block.state(), &block.env, &block.txs).unwrap();
    let ok = outcome.receipts.iter().filter(|r| r.status == Status::Success).count();
    assert!(ok * 10 >= spec.txs * 9, "only {ok} of {} succeeded", spec.txs);
}

#[test]
fn the_world_size_knobs_shape_the_world() {
    let spec = WorkloadSpec { tokens: 6, pools: 5, markets: 4, ..WorkloadSpec::new(Workload::Mixed, 200) };
    let block = generate(&spec).unwrap();
    let world = &block.world;
    assert_eq!((world.tokens.len(), world.pools.len(), world.lending.markets.len()), (6, 5, 4));
    let outcome = SequentialExecutor::new().execute(block.state(), &block.env, &block.txs).unwrap();
    assert!(outcome.receipts.iter().all(|r| !matches!(r.status, Status::AccessViolation { .. })));
    let parallel = ParallelExecutor::new(2).unwrap().execute(block.state(), &block.env, &block.txs).unwrap();
    assert_eq!(parallel, outcome);
}

#[test]
fn the_same_seed_gives_the_same_block() {
    let spec = WorkloadSpec { hot: 0.3, ..WorkloadSpec::new(Workload::Mixed, 200) };
    assert_eq!(generate(&spec).unwrap().txs, generate(&spec).unwrap().txs);
    let other = WorkloadSpec { seed: 2, ..spec.clone() };
    assert_ne!(generate(&spec).unwrap().txs, generate(&other).unwrap().txs);
}

#[test]
fn bad_specs_are_typed_errors() {
    let bad = WorkloadSpec { hot: 1.5, ..WorkloadSpec::new(Workload::Dex, 1) };
    assert_eq!(generate(&bad).unwrap_err(), WorkloadError::Hot(1.5));
    let bad = WorkloadSpec { pools: 1, ..WorkloadSpec::new(Workload::Dex, 1) };
    assert_eq!(generate(&bad).unwrap_err().to_string(), "a workload needs at least 2 pools, got 1");
    let bad = WorkloadSpec { markets: 5, ..WorkloadSpec::new(Workload::Lending, 1) };
    assert_eq!(generate(&bad).unwrap_err().to_string(), "5 lending markets need as many tokens, but there are 4");
    assert_eq!(
        "swaps".parse::<Workload>().unwrap_err().to_string(),
        "unknown workload \"swaps\": expected one of erc20, dex, lending, staking, mixed"
    );
}

#[test]
fn the_lending_workload_liquidates_positions_after_markdowns() {
    use alloy_sol_types::SolEvent;
    use defivm::contracts::{ILendingPool, IOracle};
    let block = generate(&WorkloadSpec { users: 100, ..WorkloadSpec::new(Workload::Lending, 2_000) }).unwrap();
    let outcome = SequentialExecutor::new().execute(block.state(), &block.env, &block.txs).unwrap();
    let count =
        |topic| outcome.receipts.iter().filter(|r| r.logs.iter().any(|l| l.topics().first() == Some(&topic))).count();
    let (markdowns, liquidations) =
        (count(IOracle::PriceSet::SIGNATURE_HASH), count(ILendingPool::Liquidate::SIGNATURE_HASH));
    assert!(markdowns > 0 && liquidations > 0, "{markdowns} markdowns, {liquidations} liquidations");
}
