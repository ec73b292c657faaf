#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Block execution: plain sequential revm against the parallel executor in
//! wave and DAG mode at 1 and 2 threads, for every workload at three
//! hotnesses (none, [`REALISTIC_HOT`], everything on one target). The
//! blocks come from the same generator as `defivm bench`.
//!
//! `cargo bench --bench execution` runs the whole matrix; a filter picks a
//! part, e.g. `cargo bench --bench execution -- mixed/hot=0.1`. Blocks have
//! 2,000 transactions from 500 users; `DEFIVM_BENCH_TXS` changes the size.
//! Every parallel outcome is checked against the sequential executor's once
//! before it is timed.

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use defivm::vm::{ParallelExecutor, ParallelMode, PlainRevm, SequentialExecutor};
use defivm::workload::{REALISTIC_HOT, Workload, WorkloadSpec, bench_users, generate};
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HOTNESS: [f64; 3] = [0.0, REALISTIC_HOT, 1.0];
const THREADS: [usize; 2] = [1, 2];
const MODES: [(&str, ParallelMode); 2] = [("waves", ParallelMode::Waves), ("dag", ParallelMode::Dag)];

fn execution(c: &mut Criterion) {
    let txs: usize = std::env::var("DEFIVM_BENCH_TXS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let executors: Vec<(&str, usize, ParallelExecutor)> = MODES
        .iter()
        .flat_map(|&(name, mode)| {
            THREADS.map(|threads| (name, threads, ParallelExecutor::new(threads).expect("a pool").with_mode(mode)))
        })
        .collect();
    for workload in Workload::ALL {
        for hot in HOTNESS {
            let spec = WorkloadSpec { hot, users: bench_users(txs), ..WorkloadSpec::new(workload, txs) };
            let block = generate(&spec).expect("a valid spec");
            let (state, env, txs) = (block.state(), &block.env, &block.txs);
            let expected = SequentialExecutor::new().execute(state, env, txs).expect("the block executes");
            let mut group = c.benchmark_group(format!("{workload}/hot={hot}"));
            group.throughput(Throughput::Elements(txs.len() as u64));
            group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
            group.bench_function("plain_revm", |b| {
                b.iter_batched(
                    || PlainRevm::new(state),
                    |mut revm| revm.execute(env, txs).expect("the block executes"),
                    BatchSize::LargeInput,
                )
            });
            for (name, threads, executor) in &executors {
                let outcome = executor.execute(state, env, txs).expect("the block executes");
                assert_eq!(outcome, expected, "{name} at {threads} threads disagrees with the sequential executor");
                group.bench_function(BenchmarkId::new(*name, format!("{threads}threads")), |b| {
                    b.iter_with_large_drop(|| executor.execute(state, env, txs).expect("the block executes"))
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, execution);
criterion_main!(benches);
