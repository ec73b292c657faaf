//! Throughput of plain revm, the sequential executor and wave mode on a
//! generated workload, with the schedule's speedup bound.
//!
//! `cargo run --release --example workload -- WORKLOAD TXS HOT [THREADS]`
//! e.g. `... -- mixed 100000 0.1 2`. Plain revm runs on a database filled
//! beforehand; defivm's times include interning, scheduling and collecting
//! the changes. Best of 3.

use defivm::scheduler::{Limits, LockGraph, ScheduleStats};
use defivm::vm::{ParallelExecutor, PlainRevm, SequentialExecutor, Transaction};
use defivm::workload::{Workload, WorkloadSpec, generate};
use std::time::{Duration, Instant};

fn best_of<T>(mut run: impl FnMut() -> (Duration, T)) -> (Duration, T) {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..3 {
        let (time, out) = run();
        if best.as_ref().is_none_or(|(b, _)| time < *b) {
            best = Some((time, out));
        }
    }
    best.expect("three runs")
}

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed(), out)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let workload: Workload = args.first().map_or("mixed", String::as_str).parse().expect("a workload name");
    let txs = args.get(1).map_or(100_000, |s| s.parse().expect("TXS is a number"));
    let hot = args.get(2).map_or(0.0, |s| s.parse().expect("HOT is a number"));
    let threads = args.get(3).map_or(2, |s| s.parse().expect("THREADS is a number"));
    let spec = WorkloadSpec { hot, users: (txs / 4).max(100), ..WorkloadSpec::new(workload, txs) };
    let block = generate(&spec).expect("a valid spec");
    let state = block.state();

    let (plain, receipts) = best_of(|| {
        let mut revm = PlainRevm::new(state);
        timed(|| revm.execute(&block.env, &block.txs).expect("valid"))
    });
    let sequential = SequentialExecutor::new();
    let (seq, expected) = best_of(|| timed(|| sequential.execute(state, &block.env, &block.txs).expect("valid")));
    let parallel = ParallelExecutor::new(threads).expect("a pool");
    let (par, got) = best_of(|| timed(|| parallel.execute(state, &block.env, &block.txs).expect("valid")));
    assert_eq!(got, expected, "wave mode must equal the sequential executor");
    assert_eq!(expected.receipts, receipts, "the sequential executor must equal plain revm");

    let sets: Vec<_> = block.txs.iter().map(Transaction::full_access).collect();
    let graph = LockGraph::from_access_sets(&sets, Limits::default()).expect("declarations within limits");
    let gas: Vec<u64> = expected.receipts.iter().map(|r| r.gas_used).collect();
    let stats = ScheduleStats::new(&graph, &gas);
    let tps = |d: Duration| txs as f64 / d.as_secs_f64();
    println!(
        "{workload}, {txs} txs, hot {hot}, {threads} threads: {} waves, bound {:.2}x (gas-weighted)",
        stats.waves(),
        stats.speedup_bound(threads)
    );
    println!("  plain revm           {:>10.0} tx/s", tps(plain));
    println!("  defivm sequential    {:>10.0} tx/s", tps(seq));
    println!(
        "  defivm waves         {:>10.0} tx/s  = {:.2}x plain revm",
        tps(par),
        plain.as_secs_f64() / par.as_secs_f64()
    );
}
