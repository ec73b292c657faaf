//! Hand-drawn blocks with their exact graphs and waves.

use defivm_scheduler::{
    AccessSet, BlockOrder, Limits, LockGraph, LongestRemainingPath, Priority, ScheduleError, ScheduleStats, TxIndex,
};

fn r(keys: &[char]) -> AccessSet<char> {
    AccessSet::new(keys.to_vec(), vec![])
}
fn w(keys: &[char]) -> AccessSet<char> {
    AccessSet::new(vec![], keys.to_vec())
}
fn graph(sets: &[AccessSet<char>]) -> LockGraph {
    LockGraph::from_access_sets(sets, Limits::default()).expect("small declarations")
}
fn waves(g: &LockGraph) -> Vec<Vec<TxIndex>> {
    g.waves().iter().map(<[TxIndex]>::to_vec).collect()
}

#[test]
fn writers_of_one_key_form_a_chain() {
    // 0 -> 1 -> 2 -> 3
    let g = graph(&[w(&['A']), w(&['A']), w(&['A']), w(&['A'])]);
    assert_eq!(waves(&g), [[0], [1], [2], [3]]);
    assert_eq!(g.preds(3), [2]);
    assert_eq!(g.succs(0), [1]);
    assert_eq!(g.edge_count(), 3);
}

#[test]
fn readers_share_a_wave_and_the_next_writer_waits_for_all_of_them() {
    //      1
    //    /   \
    //  0       3 -> 4
    //    \   /
    //      2
    let g = graph(&[w(&['A']), r(&['A']), r(&['A']), w(&['A']), r(&['A'])]);
    assert_eq!(waves(&g), [vec![0], vec![1, 2], vec![3], vec![4]]);
    assert_eq!(g.preds(1), [0]);
    assert_eq!(g.preds(3), [1, 2]);
    assert_eq!(g.preds(4), [3]);
    assert_eq!(g.succs(0), [1, 2]);
    assert_eq!(g.in_degree(3), 2);
}

#[test]
fn disjoint_keys_make_one_wave() {
    let g = graph(&[w(&['A']), w(&['B']), r(&['C']), r(&['C'])]);
    assert_eq!(waves(&g), [[0, 1, 2, 3]]);
    assert_eq!(g.edge_count(), 0);
}

#[test]
fn a_key_read_and_written_counts_as_written_and_duplicates_are_harmless() {
    // 0 -> 1 -> 2: tx 1 reads and writes A (twice each), so tx 2 waits for it.
    let both = AccessSet::new(vec!['A', 'A'], vec!['A', 'A']);
    let g = graph(&[r(&['A']), both, r(&['A', 'A'])]);
    assert_eq!(waves(&g), [[0], [1], [2]]);
    assert_eq!(g.preds(1), [0]);
    assert_eq!(g.preds(2), [1]);
    assert_eq!(g.edge_count(), 2);
}

#[test]
fn a_predecessor_through_two_keys_is_one_edge() {
    // 0 -> 1 through both A and B.
    let g = graph(&[w(&['A', 'B']), AccessSet::new(vec!['A'], vec!['B'])]);
    assert_eq!(g.preds(1), [0]);
    assert_eq!(g.succs(0), [1]);
}

#[test]
fn waves_follow_the_longest_path() {
    // 0 -> 2 -> 3, and 1 -> 3: tx 3 is in wave 2, not 1.
    let g = graph(&[w(&['A']), w(&['B']), AccessSet::new(vec!['A'], vec!['C']), r(&['B', 'C'])]);
    assert_eq!(waves(&g), [vec![0, 1], vec![2], vec![3]]);
    assert_eq!(g.wave_of(3), 2);
}

#[test]
fn oversized_declarations_are_rejected_naming_the_transaction() {
    let sets = [w(&['A']), AccessSet::new(vec!['B', 'C'], vec!['D'])];
    let err = LockGraph::from_access_sets(&sets, Limits { max_keys_per_tx: 2 }).unwrap_err();
    assert_eq!(err, ScheduleError::DeclarationTooLarge { tx: 1, index: 1, keys: 3, max: 2 });
    assert_eq!(err.to_string(), "transaction 1 (position 1) declares 3 keys; the limit is 2");
}

#[test]
fn any_id_and_key_type_works() {
    let a = [0xaa; 32];
    let sets = [AccessSet::new(vec![], vec![a]), AccessSet::new(vec![a], vec![])];
    let g = LockGraph::build([("0xdead", &sets[0]), ("0xbeef", &sets[1])], Limits::default()).unwrap();
    assert_eq!(g.id(1), "0xbeef");
    assert_eq!(g.preds(1), [0]);
    let err = LockGraph::build([("0xdead", &sets[0])], Limits { max_keys_per_tx: 0 }).unwrap_err();
    assert!(err.to_string().starts_with("transaction \"0xdead\" (position 0)"), "{err}");
}

#[test]
fn stats_report_the_critical_path_and_the_bound() {
    // 0 -> 1 -> 2 on A, and 3 alone; costs 10, 10, 10, 30.
    let g = graph(&[w(&['A']), w(&['A']), w(&['A']), w(&['B'])]);
    let stats = ScheduleStats::new(&g, &[10, 10, 10, 30]);
    assert_eq!(stats.wave_sizes, [2, 1, 1]);
    assert_eq!(stats.critical_path_txs, 3);
    assert_eq!(stats.total_cost, 60);
    assert_eq!(stats.critical_path_cost, 30);
    assert_eq!(stats.speedup_bound(1), 1.0);
    assert_eq!(stats.speedup_bound(2), 2.0);
    assert_eq!(stats.speedup_bound(8), 2.0);
    assert_eq!(stats.largest_wave(), 2);
}

#[test]
fn empty_block() {
    let g = graph(&[]);
    assert!(g.waves().is_empty());
    let stats = ScheduleStats::new(&g, &[]);
    assert_eq!(stats.critical_path_cost, 0);
    assert_eq!(stats.speedup_bound(4), 4.0);
}

#[test]
fn longest_remaining_path_ranks_the_head_of_the_heaviest_chain_first() {
    // 0 -> 1 -> 2 (costs 1, 1, 5) and 3 (cost 4).
    let g = graph(&[w(&['A']), w(&['A']), w(&['A']), w(&['B'])]);
    assert_eq!(LongestRemainingPath::new(&[1, 1, 5, 4]).ranks(&g), [7, 6, 5, 4]);
    assert_eq!(BlockOrder.ranks(&g), [3, 2, 1, 0]);
}
