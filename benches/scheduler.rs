#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Scheduler cost: building the lock graph and its waves, per transaction,
//! across conflict shapes, block sizes and declaration sizes.
//!
//! `cargo bench --bench scheduler -- target` runs the headline case alone:
//! 1,000,000 transactions of 4 random keys over 1,000,000 keys, both with a
//! builder reused from block to block (how an executor runs it) and with a
//! fresh one (every buffer newly allocated and page-faulted in).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use defivm_scheduler::synthetic::{Shape, block};
use defivm_scheduler::{Limits, LockGraph, LockGraphBuilder};
use std::hint::black_box;
use std::time::Duration;

fn build(c: &mut Criterion, group: &str, shape: Shape, txs: usize, keys: usize, fresh: bool) {
    let sets = block(shape, txs, keys, 7);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(txs as u64));
    if txs * keys >= 1_000_000 {
        g.sample_size(10).measurement_time(Duration::from_secs(15));
    }
    let name = format!("{}{}", shape.name(), if fresh { "/fresh" } else { "" });
    // One builder for every sample, warm after the first block, as in an executor.
    let mut builder = LockGraphBuilder::new(Limits::default());
    g.bench_function(BenchmarkId::new(name, format!("{txs}tx/{keys}keys")), |b| {
        if fresh {
            b.iter(|| {
                let graph = LockGraph::from_access_sets(black_box(&sets), Limits::default()).expect("within limits");
                black_box(graph.waves().len())
            })
        } else {
            b.iter(|| {
                let graph = builder.build_block(black_box(&sets)).expect("within limits");
                black_box(graph.waves().len());
                builder.recycle(graph);
            })
        }
    });
    g.finish();
}

fn target(c: &mut Criterion) {
    build(c, "target", Shape::Random, 1_000_000, 4, false);
    build(c, "target", Shape::Random, 1_000_000, 4, true);
}

fn sweep(c: &mut Criterion) {
    for shape in Shape::ALL {
        for txs in [1_000, 100_000, 1_000_000] {
            for keys in [2, 8, 64] {
                build(c, "graph_and_waves", shape, txs, keys, false);
            }
        }
    }
}

criterion_group!(benches, target, sweep);
criterion_main!(benches);
