//! Scheduler cost: building the lock graph and its waves, per transaction,
//! across conflict shapes, block sizes and declaration sizes.
//!
//! `cargo bench --bench scheduler -- target` runs the headline case alone:
//! 1,000,000 transactions of 4 random keys over 1,000,000 keys.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use defivm_scheduler::synthetic::{Shape, block};
use defivm_scheduler::{Limits, LockGraph};
use std::hint::black_box;
use std::time::Duration;

fn build(c: &mut Criterion, group: &str, shape: Shape, txs: usize, keys: usize) {
    let sets = block(shape, txs, keys, 7);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(txs as u64));
    if txs * keys >= 1_000_000 {
        g.sample_size(10).measurement_time(Duration::from_secs(20));
    }
    g.bench_function(BenchmarkId::new(shape.name(), format!("{txs}tx/{keys}keys")), |b| {
        b.iter(|| {
            let graph = LockGraph::from_access_sets(black_box(&sets), Limits::default()).expect("within limits");
            black_box(graph.waves().len())
        })
    });
    g.finish();
}

fn target(c: &mut Criterion) {
    build(c, "target", Shape::Random, 1_000_000, 4);
}

fn sweep(c: &mut Criterion) {
    for shape in Shape::ALL {
        for txs in [1_000, 100_000, 1_000_000] {
            for keys in [2, 8, 64] {
                build(c, "graph_and_waves", shape, txs, keys);
            }
        }
    }
}

criterion_group!(benches, target, sweep);
criterion_main!(benches);
