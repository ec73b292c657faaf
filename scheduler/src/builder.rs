//! Building the lock graph: record, partition, lock, group.
//!
//! 1. [`LockGraphBuilder::push`] checks a declaration and appends each access
//!    (writes before reads) to the partition its key hashes to. Partitions
//!    are sized so that one partition's lock table fits a core's cache, and
//!    each keeps block order, so a block over a million keys never does a
//!    random access into a million-key table.
//! 2. [`LockGraphBuilder::finish`] runs each partition through the
//!    [`LockTable`] rules, yielding `(waiter, blocker)` edges. Partitions are
//!    independent of each other.
//! 3. Edges come out bucketed by waiter (runs of 4096 transactions); each
//!    bucket is grouped by a counting sort that stays in cache, lists are
//!    deduplicated, and each transaction's wave is `1 + max(wave of its
//!    blockers)`, in block order.
//!
//! Every step is linear in the declared keys. A builder is meant to live as
//! long as the executor: its buffers stay allocated between blocks, and
//! [`LockGraphBuilder::recycle`] takes a spent graph's buffers back, because
//! fresh memory costs a page fault and a clear per 4 KiB.

use crate::access::{AccessSet, ResourceKey, TxId, TxIndex};
use crate::error::ScheduleError;
use crate::graph::{Limits, LockGraph};
use crate::lock_table::{Access, BUCKET_TXS, EdgeBuckets, LockTable};
use crate::waves::Waves;
use core::hash::BuildHasher;
use hashbrown::DefaultHashBuilder;
use rayon::prelude::*;

/// Transaction positions leave the top bit to [`Access::WRITE`].
const MAX_TXS: usize = (1 << 31) - 1;
/// Edges are at most twice the declared keys and are counted in `u32`.
const MAX_DECLARED_KEYS: usize = (u32::MAX / 2) as usize;
/// Accesses per partition to aim for: the lock table for that many fits in
/// a core's L2 cache.
const PARTITION_ACCESSES: usize = 2048;

/// Builds a [`LockGraph`] one transaction at a time, in block order.
#[derive(Debug)]
pub struct LockGraphBuilder<K, Id> {
    limits: Limits,
    ids: Vec<Id>,
    /// Accesses by key-hash partition; how many is fixed while a block is
    /// pushed, from the capacity hint or the size of the previous block.
    partitions: Vec<Vec<Access<K>>>,
    declared: usize,
    hasher: DefaultHashBuilder,
    /// One lock table and edge buffer per worker thread.
    workers: Vec<Lane<K>>,
    cursor: Vec<u32>,
    scratch: Vec<TxIndex>,
    spare: Option<LockGraph<Id>>,
}

impl<K: ResourceKey, Id: TxId> LockGraphBuilder<K, Id> {
    /// An empty builder.
    pub fn new(limits: Limits) -> Self {
        Self::with_capacity(0, 0, limits)
    }

    /// An empty builder sized for `txs` transactions of about `keys_per_tx` keys.
    pub fn with_capacity(txs: usize, keys_per_tx: usize, limits: Limits) -> Self {
        Self {
            limits,
            ids: Vec::with_capacity(txs),
            partitions: (0..partition_count(txs.saturating_mul(keys_per_tx))).map(|_| Vec::new()).collect(),
            declared: 0,
            hasher: DefaultHashBuilder::default(),
            workers: Vec::new(),
            cursor: Vec::new(),
            scratch: Vec::new(),
            spare: None,
        }
    }

    /// Number of transactions pushed since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether nothing was pushed since the last [`finish`](Self::finish).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Adds the next transaction in block order and returns its position.
    /// On error nothing of this transaction is recorded.
    pub fn push(&mut self, id: Id, access: &AccessSet<K>) -> Result<TxIndex, ScheduleError<Id>> {
        let index = self.ids.len();
        let keys = access.len();
        if keys > self.limits.max_keys_per_tx {
            return Err(ScheduleError::DeclarationTooLarge { tx: id, index, keys, max: self.limits.max_keys_per_tx });
        }
        if index >= MAX_TXS {
            return Err(ScheduleError::BlockTooLarge { tx: id, index, what: "transactions", max: MAX_TXS });
        }
        if self.declared + keys > MAX_DECLARED_KEYS {
            return Err(ScheduleError::BlockTooLarge { tx: id, index, what: "declared keys", max: MAX_DECLARED_KEYS });
        }
        let tx = index as TxIndex;
        // The top bits of the hash pick the partition; the table uses the low bits.
        let shift = 64 - self.partitions.len().trailing_zeros();
        // Writes first, so a key also declared as a read is taken as written.
        let writes = access.writes().iter().map(|&key| Access { key, tx: tx | Access::<K>::WRITE, hash: 0 });
        let reads = access.reads().iter().map(|&key| Access { key, tx, hash: 0 });
        for mut access in writes.chain(reads) {
            let hash = self.hasher.hash_one(access.key);
            access.hash = hash as u32;
            self.partitions[hash.checked_shr(shift).unwrap_or(0) as usize].push(access);
        }
        self.declared += keys;
        self.ids.push(id);
        Ok(tx)
    }

    /// Finishes the graph of the transactions pushed so far and leaves the
    /// builder empty, ready for the next block.
    pub fn finish(&mut self) -> LockGraph<Id> {
        let n = self.ids.len();
        // Partitions are independent: each lane runs a contiguous share, and
        // there are exactly as many lanes as shares, so every lane is reset.
        let share = self.partitions.len().div_ceil(rayon::current_num_threads().max(1));
        let lanes = self.partitions.len().div_ceil(share);
        self.workers.resize_with(lanes, || Lane { table: LockTable::new(), edges: EdgeBuckets::default() });
        self.partitions.par_chunks_mut(share).zip(self.workers.par_iter_mut()).for_each(|(partitions, lane)| {
            lane.edges.reset(n);
            for partition in partitions {
                lane.table.run(partition, &mut lane.edges);
                partition.clear();
            }
        });
        // Size the partitions for the next block like this one.
        let wanted = partition_count(self.declared);
        self.partitions.resize_with(wanted, Vec::new);
        self.declared = 0;

        let mut graph = self.spare.take().unwrap_or_else(LockGraph::empty);
        graph.ids.clear();
        graph.ids.append(&mut self.ids);
        self.group_edges(n, &mut graph);
        graph.succs = Default::default();
        graph.waves = Waves::from_levels(&graph.level, Some(core::mem::take(&mut graph.waves)), &mut self.cursor);
        graph
    }

    /// Takes back a spent graph's buffers for the next [`finish`](Self::finish).
    pub fn recycle(&mut self, graph: LockGraph<Id>) {
        self.spare = Some(graph);
    }

    /// Groups the edges by waiter into `graph`'s predecessor lists, drops
    /// duplicates (the same blocker through two keys), and assigns waves in
    /// block order. One bucket of waiters at a time: a counting sort small
    /// enough to stay in cache.
    fn group_edges(&mut self, n: usize, graph: &mut LockGraph<Id>) {
        let (offsets, preds, level) = (&mut graph.pred_offsets, &mut graph.preds, &mut graph.level);
        offsets.clear();
        offsets.push(0);
        preds.clear();
        level.clear();
        let (ends, scratch) = (&mut self.cursor, &mut self.scratch);
        for (bucket, lo) in (0..n).step_by(BUCKET_TXS).enumerate() {
            let len = BUCKET_TXS.min(n - lo);
            let edges = || self.workers.iter().flat_map(|lane| &lane.edges.buckets[bucket]);
            // After the prefix sum `ends[i]` is where waiter `lo + i` starts;
            // after the scatter, where it ends.
            ends.clear();
            ends.resize(len + 1, 0);
            for &(waiter, _) in edges() {
                ends[waiter as usize - lo + 1] += 1;
            }
            for i in 0..len {
                ends[i + 1] += ends[i];
            }
            scratch.clear();
            scratch.resize(ends[len] as usize, 0);
            for &(waiter, blocker) in edges() {
                let at = &mut ends[waiter as usize - lo];
                scratch[*at as usize] = blocker;
                *at += 1;
            }
            let mut start = 0;
            for &end in &ends[..len] {
                let list = &mut scratch[start..end as usize];
                start = end as usize;
                sort_small(list);
                let first = preds.len();
                let mut wave = 0;
                for &p in list.iter() {
                    if preds.len() > first && preds[preds.len() - 1] == p {
                        continue;
                    }
                    preds.push(p);
                    wave = wave.max(level[p as usize] + 1);
                }
                level.push(wave);
                offsets.push(preds.len() as u32);
            }
        }
    }
}

/// One worker's share of the lock phase.
#[derive(Debug)]
struct Lane<K> {
    table: LockTable<K>,
    edges: EdgeBuckets,
}

/// Sorts a predecessor list; almost all are a handful long, where an
/// insertion sort beats the general one.
#[inline]
fn sort_small(list: &mut [TxIndex]) {
    if list.len() > 16 {
        list.sort_unstable();
        return;
    }
    for i in 1..list.len() {
        let v = list[i];
        let mut j = i;
        while j > 0 && list[j - 1] > v {
            list[j] = list[j - 1];
            j -= 1;
        }
        list[j] = v;
    }
}

/// Partitions for a block of `accesses`: a power of two, at most 2^16.
fn partition_count(accesses: usize) -> usize {
    (accesses / PARTITION_ACCESSES).next_power_of_two().min(1 << 16)
}

impl<K: ResourceKey> LockGraphBuilder<K, TxIndex> {
    /// Pushes `sets` (each named by its position) and finishes the graph.
    /// On error the builder is left empty.
    pub fn build_block(&mut self, sets: &[AccessSet<K>]) -> Result<LockGraph, ScheduleError<TxIndex>> {
        for (i, access) in sets.iter().enumerate() {
            if let Err(e) = self.push(i as TxIndex, access) {
                self.finish();
                return Err(e);
            }
        }
        Ok(self.finish())
    }
}
