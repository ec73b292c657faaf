//! Plain revm on the benchmark's erc20 block (100,000 transfers, no hot
//! spot, the `defivm bench` users and seed), round after round: the
//! fastest, median and slowest round. Each round runs on a fresh copy of the
//! genesis database, copied before its timing starts.
//!
//! `cargo run --release --example plain_revm_rounds -- 15`
//!
//! Run two copies at once to see what this machine gives two independent
//! runs of the same work, with nothing shared and nothing to coordinate: the
//! ceiling any two-thread speedup over plain revm lives under.

use defivm::vm::PlainRevm;
use defivm::workload::{Workload, WorkloadSpec, bench_users, generate};
use std::process::ExitCode;
use std::time::Instant;

/// The allocator the `defivm` command runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TXS: usize = 100_000;

fn main() -> ExitCode {
    let rounds = match std::env::args().nth(1).map(|arg| arg.parse::<usize>()) {
        None => 10,
        Some(Ok(rounds)) if rounds > 0 => rounds,
        Some(_) => {
            eprintln!("usage: plain_revm_rounds [ROUNDS], ROUNDS at least 1");
            return ExitCode::FAILURE;
        }
    };
    let spec = WorkloadSpec { users: bench_users(TXS), hot: 0.0, ..WorkloadSpec::new(Workload::Erc20, TXS) };
    let block = match generate(&spec) {
        Ok(block) => block,
        Err(error) => {
            eprintln!("generating the block: {error}");
            return ExitCode::FAILURE;
        }
    };
    let genesis = PlainRevm::new(block.state());
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let mut revm = genesis.clone();
        let start = Instant::now();
        let receipts = revm.execute(&block.env, &block.txs);
        times.push(start.elapsed().as_secs_f64() * 1e3);
        if let Err(error) = receipts {
            eprintln!("plain revm: {error}");
            return ExitCode::FAILURE;
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "plain revm, {TXS} erc20 transfers, {rounds} rounds: fastest {:.1} ms, median {:.1} ms, slowest {:.1} ms",
        times[0],
        times[rounds / 2],
        times[rounds - 1]
    );
    ExitCode::SUCCESS
}
