//! Property tests against a naive O(n²) oracle over random blocks. The size
//! of the key universe is the contention knob: 1 key is a total order, 64
//! keys is mostly independent work.

use defivm_scheduler::{
    AccessSet, BlockOrder, DenseBuilder, Limits, LockGraph, LockGraphBuilder, LongestRemainingPath, ReadySet, TxIndex,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

fn block() -> impl Strategy<Value = Vec<AccessSet<u8>>> {
    (1u8..64, 0usize..80).prop_flat_map(|(universe, txs)| {
        let access = (prop::collection::vec(0..universe, 0..5), prop::collection::vec(0..universe, 0..4))
            .prop_map(|(reads, writes)| AccessSet::new(reads, writes));
        prop::collection::vec(access, txs)
    })
}

/// `conflicts[j]` = every earlier transaction that conflicts with `j`.
fn oracle_conflicts(sets: &[AccessSet<u8>]) -> Vec<Vec<usize>> {
    (0..sets.len()).map(|j| (0..j).filter(|&i| sets[i].conflicts_with(&sets[j])).collect()).collect()
}

/// Longest-path levels of the full conflict graph.
fn oracle_levels(conflicts: &[Vec<usize>]) -> Vec<usize> {
    let mut level = vec![0; conflicts.len()];
    for j in 0..conflicts.len() {
        level[j] = conflicts[j].iter().map(|&i| level[i] + 1).max().unwrap_or(0);
    }
    level
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn waves_equal_the_oracles_levels_and_never_hold_a_conflict(sets in block()) {
        let graph = LockGraph::from_access_sets(&sets, Limits::default()).unwrap();
        let conflicts = oracle_conflicts(&sets);
        let levels = oracle_levels(&conflicts);
        for j in 0..sets.len() {
            prop_assert_eq!(graph.wave_of(j as TxIndex), levels[j], "wave of tx {}", j);
            for &i in &conflicts[j] {
                prop_assert!(graph.wave_of(i as TxIndex) < graph.wave_of(j as TxIndex), "{} and {} conflict", i, j);
            }
            for &p in graph.preds(j as TxIndex) {
                prop_assert!(conflicts[j].contains(&(p as usize)), "edge {} -> {} without a conflict", p, j);
            }
        }
        let mut seen = vec![false; sets.len()];
        for (w, wave) in graph.waves().iter().enumerate() {
            prop_assert!(wave.windows(2).all(|p| p[0] < p[1]), "wave {} out of block order", w);
            for &tx in wave {
                prop_assert_eq!(graph.wave_of(tx), w);
                prop_assert!(!std::mem::replace(&mut seen[tx as usize], true));
            }
        }
        prop_assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn the_dense_builder_gives_the_same_graph(sets in block(), bound in 0usize..80) {
        let graph = LockGraph::from_access_sets(&sets, Limits::default()).unwrap();
        // Keys as dense numbers; a bound below the largest key grows the table.
        let dense: Vec<AccessSet<u32>> = sets
            .iter()
            .map(|s| AccessSet::new(s.reads().iter().map(|&k| k as u32).collect(), s.writes().iter().map(|&k| k as u32).collect()))
            .collect();
        let mut builder = DenseBuilder::new();
        for _ in 0..2 {
            let built = builder.build(&dense, bound, Limits::default()).unwrap();
            for j in 0..sets.len() as TxIndex {
                prop_assert_eq!(built.preds(j), graph.preds(j), "tx {}", j);
            }
            prop_assert_eq!(built.waves(), graph.waves());
            builder.recycle(built);
        }
    }

    #[test]
    fn successors_mirror_predecessors(sets in block()) {
        let graph = LockGraph::from_access_sets(&sets, Limits::default()).unwrap();
        for j in 0..sets.len() as TxIndex {
            for &p in graph.preds(j) {
                prop_assert!(p < j);
                prop_assert!(graph.succs(p).contains(&j));
            }
            for &s in graph.succs(j) {
                prop_assert!(graph.preds(s).contains(&j));
            }
            prop_assert_eq!(graph.in_degree(j), graph.preds(j).len());
        }
    }

    /// One driver, random interleavings: take ready transactions from random
    /// queues and complete random running ones.
    #[test]
    fn ready_set_releases_each_transaction_once_after_all_its_conflicts(
        sets in block(),
        workers in 1usize..5,
        choices in prop::collection::vec(any::<u32>(), 200),
    ) {
        let graph = LockGraph::from_access_sets(&sets, Limits::default()).unwrap();
        let conflicts = oracle_conflicts(&sets);
        let costs: Vec<u64> = (0..sets.len() as u64).map(|i| i % 7 + 1).collect();
        let ready = ReadySet::new(&graph, &LongestRemainingPath::new(&costs), workers);
        let mut completed = vec![false; sets.len()];
        let mut started = vec![false; sets.len()];
        let mut running: Vec<TxIndex> = Vec::new();
        let mut released = Vec::new();
        let mut step = 0;
        while !ready.is_finished() {
            let choice = choices[step % choices.len()] as usize + step;
            step += 1;
            let take = running.is_empty() || !choice.is_multiple_of(3);
            if take {
                if let Some(tx) = ready.try_pop(choice % workers) {
                    prop_assert!(!std::mem::replace(&mut started[tx as usize], true), "tx {} released twice", tx);
                    for &i in &conflicts[tx as usize] {
                        prop_assert!(completed[i], "tx {} started before its conflict {} completed", tx, i);
                    }
                    running.push(tx);
                    continue;
                }
                prop_assert!(!running.is_empty(), "nothing ready, nothing running, block unfinished");
            }
            let tx = running.swap_remove(choice % running.len());
            completed[tx as usize] = true;
            released.clear();
            ready.complete(0, tx, &mut released);
            for &r in &released {
                ready.push(choice, r);
            }
        }
        prop_assert!(completed.iter().all(|&c| c));
        prop_assert!(ready.try_pop(0).is_none());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Real threads through the `Worker` API: a transaction must never start
    /// before every conflicting predecessor has completed, and each runs once.
    #[test]
    fn ready_set_is_safe_under_real_threads(sets in block(), threads in 2usize..5) {
        let graph = LockGraph::from_access_sets(&sets, Limits::default()).unwrap();
        let conflicts = oracle_conflicts(&sets);
        let ready = ReadySet::new(&graph, &BlockOrder, threads);
        let done: Vec<AtomicBool> = sets.iter().map(|_| AtomicBool::new(false)).collect();
        let runs: Vec<AtomicU32> = sets.iter().map(|_| AtomicU32::new(0)).collect();
        let violations = AtomicU32::new(0);
        std::thread::scope(|s| {
            for t in 0..threads {
                let (ready, done, runs, conflicts, violations) = (&ready, &done, &runs, &conflicts, &violations);
                s.spawn(move || {
                    let mut worker = ready.worker(t);
                    while let Some(tx) = worker.next_ready() {
                        let tx_us = tx as usize;
                        if conflicts[tx_us].iter().any(|&i| !done[i].load(Ordering::Acquire)) {
                            violations.fetch_add(1, Ordering::Relaxed);
                        }
                        runs[tx_us].fetch_add(1, Ordering::Relaxed);
                        std::thread::yield_now();
                        done[tx_us].store(true, Ordering::Release);
                        worker.complete(tx);
                    }
                });
            }
        });
        prop_assert_eq!(violations.load(Ordering::Relaxed), 0);
        for (tx, r) in runs.iter().enumerate() {
            prop_assert_eq!(r.load(Ordering::Relaxed), 1, "tx {} ran a wrong number of times", tx);
        }
    }
}

#[test]
fn an_aborted_ready_set_stops_every_worker() {
    let sets = vec![AccessSet::new(vec![], vec![1u8]); 10];
    let graph = LockGraph::from_access_sets(&sets, Limits::default()).unwrap();
    let ready = ReadySet::new(&graph, &BlockOrder, 2);
    let mut worker = ready.worker(0);
    assert_eq!(worker.next_ready(), Some(0));
    ready.abort();
    worker.complete(0);
    // The released successor was kept locally; after it, nothing more.
    assert_eq!(worker.next_ready(), Some(1));
    assert_eq!(worker.next_ready(), None);
    assert_eq!(ready.worker(1).next_ready(), None);
}

#[test]
fn a_hot_chain_stays_on_the_worker_that_released_it() {
    // 0 -> 1 -> 2 -> ... -> 9 on one key: one worker runs all of it.
    let sets = vec![AccessSet::new(vec![], vec![1u8]); 10];
    let graph = LockGraph::from_access_sets(&sets, Limits::default()).unwrap();
    let ready = ReadySet::new(&graph, &BlockOrder, 2);
    let mut worker = ready.worker(1);
    let mut order = Vec::new();
    while let Some(tx) = worker.next_ready() {
        order.push(tx);
        worker.complete(tx);
    }
    assert_eq!(order, (0..10).collect::<Vec<_>>());
    assert!(ready.is_finished());
}

/// The per-key lock rules done the plain way (a std `HashMap`), as a second
/// oracle that scales to blocks big enough to split into many partitions.
fn reference_preds(sets: &[AccessSet<u16>]) -> Vec<Vec<TxIndex>> {
    use std::collections::{BTreeSet, HashMap};
    let mut last_write: HashMap<u16, TxIndex> = HashMap::new();
    let mut readers: HashMap<u16, Vec<TxIndex>> = HashMap::new();
    let mut preds = Vec::new();
    for (j, set) in sets.iter().enumerate() {
        let j = j as TxIndex;
        let mut mine = BTreeSet::new();
        let writes: BTreeSet<u16> = set.writes().iter().copied().collect();
        for &k in &writes {
            match readers.remove(&k) {
                Some(rs) if !rs.is_empty() => mine.extend(rs),
                _ => mine.extend(last_write.get(&k)),
            }
            last_write.insert(k, j);
        }
        let reads: BTreeSet<u16> = set.reads().iter().copied().filter(|k| !writes.contains(k)).collect();
        for &k in &reads {
            mine.extend(last_write.get(&k));
            readers.entry(k).or_default().push(j);
        }
        preds.push(mine.into_iter().collect());
    }
    preds
}

fn large_block() -> impl Strategy<Value = Vec<AccessSet<u16>>> {
    (prop_oneof![Just(1u16), Just(50), Just(5_000), Just(60_000)], 2_000usize..6_000).prop_flat_map(
        |(universe, txs)| {
            let access = (prop::collection::vec(0..universe, 0..4), prop::collection::vec(0..universe, 0..4))
                .prop_map(|(reads, writes)| AccessSet::new(reads, writes));
            prop::collection::vec(access, txs)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Blocks of thousands of transactions, split into many key-hash
    /// partitions, lock lanes and waiter buckets: the edges must not change.
    #[test]
    fn partitioned_building_matches_the_reference_rules(sets in large_block(), partition in 1usize..512) {
        let accesses = sets.iter().map(AccessSet::len).sum();
        let mut builder = LockGraphBuilder::new(Limits::default()).with_partition_size(partition, accesses);
        let graph = builder.build_block(&sets).unwrap();
        let expected = reference_preds(&sets);
        let mut level = vec![0usize; sets.len()];
        for j in 0..sets.len() {
            prop_assert_eq!(graph.preds(j as TxIndex), &expected[j][..], "preds of tx {}", j);
            level[j] = expected[j].iter().map(|&p| level[p as usize] + 1).max().unwrap_or(0);
            prop_assert_eq!(graph.wave_of(j as TxIndex), level[j]);
        }
    }
}

#[test]
fn a_reused_builder_gives_the_same_graphs() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut builder = LockGraphBuilder::new(Limits::default()).with_partition_size(100, 0);
    for _ in 0..6 {
        let sets = large_block().new_tree(&mut runner).unwrap().current();
        let fresh = LockGraph::from_access_sets(&sets, Limits::default()).unwrap();
        let reused = builder.build_block(&sets).unwrap();
        for j in 0..sets.len() as TxIndex {
            assert_eq!(fresh.preds(j), reused.preds(j));
        }
        assert_eq!(fresh.waves(), reused.waves());
        builder.recycle(reused);
    }
}

#[test]
fn a_reused_builder_is_exact_whatever_the_pool_size_and_block_size() {
    use defivm_scheduler::LockGraphBuilder;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let blocks: Vec<Vec<AccessSet<u16>>> =
        (0..4).map(|_| large_block().new_tree(&mut runner).unwrap().current()).collect();
    let mut builder = LockGraphBuilder::new(Limits::default());
    // Pools of different sizes leave the builder with different lane counts;
    // big and tiny blocks alternate so partitions and buckets grow and shrink.
    for threads in [3, 1, 4, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        for sets in blocks.iter().flat_map(|b| [&b[..], &b[..3]]) {
            let reused = pool.install(|| builder.build_block(sets)).unwrap();
            let expected = reference_preds(sets);
            for (j, preds) in expected.iter().enumerate() {
                assert_eq!(reused.preds(j as TxIndex), &preds[..], "{threads} threads, tx {j}");
            }
            // Buffers released now and then: the next block starts afresh.
            if threads % 2 == 1 && sets.len() > 3 {
                builder.release_buffers();
            } else {
                builder.recycle(reused);
            }
        }
    }
}

#[test]
fn blocks_recorded_by_several_threads_match_the_reference_rules() {
    // Big enough that `build_block` records it on every thread of the pool.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let access = (prop::collection::vec(0..3_000u16, 0..4), prop::collection::vec(0..3_000u16, 0..3))
        .prop_map(|(reads, writes)| AccessSet::new(reads, writes));
    let sets = prop::collection::vec(access, 40_000).new_tree(&mut runner).unwrap().current();
    let expected = reference_preds(&sets);
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut builder = LockGraphBuilder::new(Limits::default()).with_partition_size(512, 0);
        for _ in 0..2 {
            let graph = pool.install(|| builder.build_block(&sets)).unwrap();
            for (j, preds) in expected.iter().enumerate() {
                assert_eq!(graph.preds(j as TxIndex), &preds[..], "{threads} threads, tx {j}");
            }
            builder.recycle(graph);
        }
    }
}
