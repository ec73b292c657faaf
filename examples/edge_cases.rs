//! Writes the hand-made edge-case fixtures into `fixtures/`: a mis-declared
//! transaction, a reverting swap, a liquidation, a transaction that reads the
//! beneficiary's balance, and a nonce error (a block every mode must reject).
//!
//! `cargo run --release --example edge_cases` (run by `fixtures/generate.sh`).

use defivm::contracts::{Call, World, WorldConfig};
use defivm::fixture::Fixture;
use defivm::vm::{AccessSet, Address, BlockEnv, Bytes, Fee, SequentialExecutor, Transaction, U256};
use defivm::workload::approve_everything;
use std::path::Path;

fn whole(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

fn fee() -> Fee {
    Fee::Dynamic { max_fee_per_gas: 100, max_priority_fee_per_gas: 2 }
}

/// Turns `(sender, call)` pairs into transactions with consecutive nonces.
fn txs(calls: Vec<(Address, Call)>) -> Vec<Transaction> {
    let mut nonces = std::collections::HashMap::new();
    calls
        .into_iter()
        .map(|(from, call)| {
            let nonce = nonces.entry(from).or_insert(0u64);
            *nonce += 1;
            call.into_tx(from, *nonce - 1, 1_000_000, fee())
        })
        .collect()
}

fn write(name: &str, world: &World, env: &BlockEnv, txs: &[Transaction]) {
    let result = SequentialExecutor::new().execute(&world.state, env, txs);
    let mut fixture = Fixture::new(name, &world.state, env, txs, result.as_ref().ok());
    if let Err(e) = &result {
        fixture.expected_error = Some(e.to_string());
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(format!("{name}.json.gz"));
    fixture.save(&path).expect("the fixture is written");
    println!("wrote {}", path.display());
}

fn main() {
    let mut world = World::build(&WorldConfig { users: 6, ..WorldConfig::default() }).expect("a world");
    approve_everything(&mut world);
    let env = BlockEnv { basefee: 7, timestamp: WorldConfig::default().timestamp + 12, ..BlockEnv::default() };
    let (u, t, router) = (world.users.clone(), world.tokens.clone(), world.router);
    let pair = world.pools[0];
    let deadline = env.timestamp + 3_600;

    // A transfer whose declaration leaves out the receiver's balance.
    let mut misdeclared = t[0].transfer(u[1], u[2], whole(1));
    misdeclared.access = AccessSet::new(vec![], vec![misdeclared.access.writes()[0]]);
    let block = txs(vec![
        (u[0], t[0].transfer(u[0], u[2], whole(1))),
        (u[1], misdeclared),
        (u[2], t[0].transfer(u[2], u[3], whole(1))),
    ]);
    write("edge-misdeclared", &world, &env, &block);

    // A swap asking for more than the pool pays, between two that succeed.
    let swap = |user: Address, min_out: U256| {
        router.swap_exact_in(user, whole(10), min_out, &[pair], pair.token0, user, deadline).expect("a valid path")
    };
    let block =
        txs(vec![(u[0], swap(u[0], U256::ZERO)), (u[1], swap(u[1], whole(1_000))), (u[2], swap(u[2], U256::ZERO))]);
    write("edge-reverting-swap", &world, &env, &block);

    // Token 1 is worth $2 and lends at 75%: 100 of it backs 150 of token 0.
    // Borrow 140, let token 1 fall to $1.50 (112.50 of credit), liquidate half.
    let pool = &world.lending;
    let block = txs(vec![
        (u[0], pool.supply(u[0], t[1], whole(100))),
        (u[0], pool.borrow(u[0], t[0], whole(140))),
        (world.operator, pool.oracle.set_price(t[1].address, whole(3) / U256::from(2))),
        (u[1], pool.liquidate(u[1], u[0], (t[0], whole(70)), t[1])),
    ]);
    write("edge-liquidation", &world, &env, &block);

    // Fees first, then a payment to the beneficiary: it declares the
    // beneficiary's account, so it waits for every earlier fee.
    let mut calls = vec![(u[0], swap(u[0], U256::ZERO)), (u[1], t[1].transfer(u[1], u[4], whole(1)))];
    calls.push((
        u[2],
        Call { to: env.beneficiary, input: Bytes::new(), value: U256::from(1_000), access: AccessSet::default() },
    ));
    calls.push((u[3], swap(u[3], U256::ZERO)));
    write("edge-beneficiary-reader", &world, &env, &txs(calls));

    // A nonce gap: every mode must reject the block, naming transaction 1.
    let mut block = txs(vec![(u[0], t[0].transfer(u[0], u[1], whole(1))), (u[1], t[0].transfer(u[1], u[2], whole(1)))]);
    block[1].nonce = 5;
    write("edge-nonce-error", &world, &env, &block);
}
