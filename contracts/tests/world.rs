//! A whole world in one genesis: every kind of operation runs in one block,
//! with its declarations enforced, and the parallel executor agrees.

use defivm_contracts::{World, WorldConfig};
use defivm_vm::{Address, BlockEnv, Fee, ParallelExecutor, SequentialExecutor, Status, U256};

#[test]
fn every_operation_runs_in_one_world_and_parallel_equals_sequential() {
    let world = World::build(&WorldConfig { users: 8, ..WorldConfig::default() }).unwrap();
    let (u, t, router, lending) = (&world.users, &world.tokens, world.router, &world.lending);
    let one = U256::from(10u64).pow(U256::from(18));
    let deadline = world_timestamp() + 3_600;
    let mut calls: Vec<(Address, defivm_contracts::Call)> = Vec::new();
    for (i, &user) in u.iter().enumerate() {
        for token in t {
            calls.push((user, token.approve(user, router.address, U256::MAX)));
            calls.push((user, token.approve(user, lending.address, U256::MAX)));
        }
        for pool in &world.staking {
            calls.push((user, pool.staking_token.approve(user, pool.address, U256::MAX)));
        }
        let pair = world.pools[i % world.pools.len()];
        calls.push((user, router.swap_exact_in(user, one, U256::ZERO, &[pair], pair.token0, user, deadline).unwrap()));
        calls.push((user, t[i % t.len()].transfer(user, u[(i + 1) % u.len()], one)));
        calls.push((user, lending.supply(user, t[1], one * U256::from(100))));
        calls.push((user, lending.borrow(user, t[0], one * U256::from(10))));
        calls.push((user, world.staking[i % world.staking.len()].stake(user, one)));
    }
    let mut nonces = std::collections::HashMap::new();
    let txs: Vec<_> = calls
        .into_iter()
        .map(|(from, call)| {
            let nonce = nonces.entry(from).or_insert(0u64);
            *nonce += 1;
            call.into_tx(from, *nonce - 1, 1_000_000, Fee::Dynamic { max_fee_per_gas: 10, max_priority_fee_per_gas: 1 })
        })
        .collect();
    let block = BlockEnv { basefee: 1, timestamp: world_timestamp() + 12, ..BlockEnv::default() };
    let sequential = SequentialExecutor::new().execute(&world.state, &block, &txs).unwrap();
    for (i, r) in sequential.receipts.iter().enumerate() {
        assert_eq!(r.status, Status::Success, "tx {i}: {r:?}");
    }
    for threads in [2, 4] {
        let parallel = ParallelExecutor::new(threads).unwrap().execute(&world.state, &block, &txs).unwrap();
        assert_eq!(parallel, sequential, "{threads} threads");
    }
}

fn world_timestamp() -> u64 {
    WorldConfig::default().timestamp
}
