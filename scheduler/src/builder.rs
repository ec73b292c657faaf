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
//! 3. Edges come out bucketed by waiter (runs of 4096 transactions). The
//!    buckets are grouped in parallel, each by a counting sort that stays in
//!    cache, and lists are deduplicated. A last pass in block order
//!    concatenates them and gives each transaction its wave, `1 + max(wave
//!    of its blockers)`.
//!
//! Every step is linear in the declared keys. A builder is meant to live as
//! long as the executor: its buffers stay allocated between blocks, and
//! [`LockGraphBuilder::recycle`] takes a spent graph's buffers back, because
//! fresh memory costs a page fault and a clear per 4 KiB.

use crate::access::{Declaration, ResourceKey, TxId, TxIndex};
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
/// Blocks smaller than this are recorded on one thread.
const PARALLEL_PUSH_TXS: usize = 16_384;
/// Accesses per partition to aim for, by default: few enough that the lock
/// table for them fits a core's L2 cache, many enough that pushing writes to
/// a few hundred streams rather than thousands (each stream's tail costs a
/// TLB entry).
const PARTITION_ACCESSES: usize = 8192;

/// Builds a [`LockGraph`] one transaction at a time, in block order.
#[derive(Debug)]
pub struct LockGraphBuilder<K, Id> {
    limits: Limits,
    ids: Vec<Id>,
    /// Accesses by push lane, then by key-hash partition. [`push`](Self::push)
    /// fills lane 0; [`build_block`](Self::build_block) fills one lane per
    /// thread, each a contiguous run of the block, so partition `p` in block
    /// order is lane 0's `p`, then lane 1's, and so on. How many partitions
    /// is fixed while a block is pushed: from the capacity hint or the size
    /// of the previous block.
    staged: Vec<Vec<Vec<Access<K>>>>,
    partition_accesses: usize,
    declared: usize,
    hasher: DefaultHashBuilder,
    /// One lock table and edge buffer per worker thread.
    workers: Vec<Lane<K>>,
    cursor: Vec<u32>,
    /// Predecessor lists by bucket of waiters, before concatenation.
    grouped: Vec<Grouped>,
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
            staged: vec![
                (0..partition_count(txs.saturating_mul(keys_per_tx), PARTITION_ACCESSES)).map(|_| Vec::new()).collect(),
            ],
            partition_accesses: PARTITION_ACCESSES,
            declared: 0,
            hasher: DefaultHashBuilder::default(),
            workers: Vec::new(),
            cursor: Vec::new(),
            grouped: Vec::new(),
            spare: None,
        }
    }

    /// Sets how many accesses a key-hash partition should hold (16,384 by
    /// default), for blocks of `accesses` declared keys in all. Tuning only:
    /// the graph is the same whatever the partitioning.
    pub fn with_partition_size(mut self, partition: usize, accesses: usize) -> Self {
        debug_assert!(self.is_empty(), "partitioning is fixed while a block is pushed");
        self.partition_accesses = partition.max(1);
        let count = partition_count(accesses, self.partition_accesses);
        self.staged.iter_mut().for_each(|lane| lane.resize_with(count, Vec::new));
        self
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
    pub fn push(&mut self, id: Id, access: &impl Declaration<K>) -> Result<TxIndex, ScheduleError<Id>> {
        let index = self.ids.len();
        self.check(id, index, access)?;
        self.declared += access.access_count();
        route(&self.hasher, &mut self.staged[0], index as TxIndex, access);
        self.ids.push(id);
        Ok(index as TxIndex)
    }

    /// Whether `access` may join the block at `index`.
    fn check(&self, id: Id, index: usize, access: &impl Declaration<K>) -> Result<(), ScheduleError<Id>> {
        let keys = access.access_count();
        if keys > self.limits.max_keys_per_tx {
            return Err(ScheduleError::DeclarationTooLarge { tx: id, index, keys, max: self.limits.max_keys_per_tx });
        }
        if index >= MAX_TXS {
            return Err(ScheduleError::BlockTooLarge { tx: id, index, what: "transactions", max: MAX_TXS });
        }
        if self.declared + keys > MAX_DECLARED_KEYS {
            return Err(ScheduleError::BlockTooLarge { tx: id, index, what: "declared keys", max: MAX_DECLARED_KEYS });
        }
        Ok(())
    }

    /// Finishes the graph of the transactions pushed so far and leaves the
    /// builder empty, ready for the next block.
    pub fn finish(&mut self) -> LockGraph<Id> {
        let n = self.ids.len();
        let wanted = partition_count(self.declared, self.partition_accesses);
        if wanted >= self.staged[0].len() * 4 {
            self.repartition(wanted); // the block is far larger than foreseen
        }
        // Partitions are independent: each lane runs a contiguous share, and
        // there are exactly as many lanes as shares, so every lane is reset.
        let partitions = self.staged[0].len();
        let share = partitions.div_ceil(rayon::current_num_threads().max(1));
        let lanes = partitions.div_ceil(share);
        self.workers.resize_with(lanes, || Lane { table: LockTable::new(), edges: EdgeBuckets::default() });
        let staged = &self.staged;
        self.workers.par_iter_mut().enumerate().for_each(|(i, lane)| {
            lane.edges.reset(n);
            for p in i * share..partitions.min((i + 1) * share) {
                lane.table.run(staged.iter().map(|runs| &runs[p][..]), &mut lane.edges);
            }
        });
        // Size the partitions for the next block like this one.
        for lane in &mut self.staged {
            lane.iter_mut().for_each(Vec::clear);
            lane.resize_with(wanted, Vec::new);
        }
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

    /// Frees the working buffers kept for the next block (staged accesses,
    /// lock tables, edges, a recycled graph): after a very large block they
    /// are hundreds of megabytes that a caller may rather not hold while it
    /// executes. Only the partitioning is remembered. The next block costs
    /// fresh memory, and nothing else changes.
    pub fn release_buffers(&mut self) {
        debug_assert!(self.is_empty(), "buffers are released between blocks");
        let partitions = self.staged[0].len();
        self.staged = vec![(0..partitions).map(|_| Vec::new()).collect()];
        self.workers = Vec::new();
        self.cursor = Vec::new();
        self.grouped = Vec::new();
        self.spare = None;
    }

    /// Splits the accesses into `count` partitions (a larger power of two).
    /// Each new partition draws from exactly one old one, since both are
    /// picked by the top bits of the hash, so block order is kept.
    fn repartition(&mut self, count: usize) {
        let shift = 64 - count.trailing_zeros();
        for lane in &mut self.staged {
            let old = core::mem::take(lane);
            lane.resize_with(count, Vec::new);
            for access in old.iter().flatten() {
                lane[(self.hasher.hash_one(access.key) >> shift) as usize].push(*access);
            }
        }
    }

    /// Groups the edges by waiter into `graph`'s predecessor lists, drops
    /// duplicates (the same blocker through two keys), and assigns waves in
    /// block order.
    ///
    /// Buckets of waiters are grouped in parallel, each by a counting sort
    /// small enough to stay in cache; only the final pass, which needs every
    /// earlier transaction's wave, walks the block in order.
    fn group_edges(&mut self, n: usize, graph: &mut LockGraph<Id>) {
        let lanes = &self.workers;
        let buckets = n.div_ceil(BUCKET_TXS);
        self.grouped.resize_with(buckets, Grouped::default);
        self.grouped.par_iter_mut().enumerate().for_each(|(bucket, out)| {
            let lo = bucket * BUCKET_TXS;
            out.group(lo, BUCKET_TXS.min(n - lo), || lanes.iter().flat_map(|lane| &lane.edges.buckets[bucket]));
        });
        let (offsets, preds, level) = (&mut graph.pred_offsets, &mut graph.preds, &mut graph.level);
        offsets.clear();
        offsets.push(0);
        preds.clear();
        level.clear();
        for out in &self.grouped[..buckets] {
            let mut from = 0;
            for &to in &out.ends {
                let list = &out.preds[from..to as usize];
                from = to as usize;
                level.push(list.iter().map(|&p| level[p as usize] + 1).max().unwrap_or(0));
                preds.extend_from_slice(list);
                offsets.push(preds.len() as u32);
            }
        }
    }
}

/// One bucket of waiters' predecessor lists, sorted and deduplicated, with
/// the scratch space that produced them (kept between blocks).
#[derive(Debug, Default)]
struct Grouped {
    /// Where each waiter's list ends in `preds`.
    ends: Vec<u32>,
    preds: Vec<TxIndex>,
    scratch: Vec<TxIndex>,
}

impl Grouped {
    /// Groups the `(waiter, blocker)` edges of waiters `lo..lo + len`.
    fn group<'e, I: Iterator<Item = &'e (TxIndex, TxIndex)>>(&mut self, lo: usize, len: usize, edges: impl Fn() -> I) {
        // After the prefix sum `at[i]` is where waiter `lo + i` starts; after
        // the scatter, where it ends.
        let at = &mut self.ends;
        at.clear();
        at.resize(len + 1, 0);
        for &(waiter, _) in edges() {
            at[waiter as usize - lo + 1] += 1;
        }
        for i in 0..len {
            at[i + 1] += at[i];
        }
        self.scratch.clear();
        self.scratch.resize(at[len] as usize, 0);
        for &(waiter, blocker) in edges() {
            let slot = &mut at[waiter as usize - lo];
            self.scratch[*slot as usize] = blocker;
            *slot += 1;
        }
        at.truncate(len);
        self.preds.clear();
        let mut start = 0;
        for end in at.iter_mut() {
            let list = &mut self.scratch[start..*end as usize];
            start = *end as usize;
            sort_small(list);
            let first = self.preds.len();
            for &p in list.iter() {
                if self.preds.len() == first || self.preds[self.preds.len() - 1] != p {
                    self.preds.push(p);
                }
            }
            *end = self.preds.len() as u32;
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
pub(crate) fn sort_small(list: &mut [TxIndex]) {
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
fn partition_count(accesses: usize, per_partition: usize) -> usize {
    (accesses / per_partition).next_power_of_two().min(1 << 16)
}

impl<K: ResourceKey> LockGraphBuilder<K, TxIndex> {
    /// Pushes `sets` (each named by its position) and finishes the graph.
    /// Large blocks are recorded by every thread of the rayon pool at once,
    /// each taking a contiguous run of transactions. On error nothing is
    /// recorded and the builder is left empty.
    pub fn build_block<D: Declaration<K>>(&mut self, sets: &[D]) -> Result<LockGraph, ScheduleError<TxIndex>> {
        let first = self.ids.len();
        for (i, access) in sets.iter().enumerate() {
            let index = first + i;
            if let Err(e) = self.check(index as TxIndex, index, access) {
                self.finish();
                return Err(e);
            }
            self.declared += access.access_count();
        }
        let lanes = if sets.len() < PARALLEL_PUSH_TXS { 1 } else { rayon::current_num_threads().max(1) };
        let run = sets.len().div_ceil(lanes).max(1);
        let partitions = self.staged[0].len();
        self.staged.resize_with(lanes.max(self.staged.len()), || (0..partitions).map(|_| Vec::new()).collect());
        let hasher = &self.hasher;
        self.staged.par_iter_mut().zip(sets.par_chunks(run)).enumerate().for_each(|(lane, (staged, sets))| {
            let base = first + lane * run;
            for (i, access) in sets.iter().enumerate() {
                route(hasher, staged, (base + i) as TxIndex, access);
            }
        });
        self.ids.extend(first as TxIndex..(first + sets.len()) as TxIndex);
        Ok(self.finish())
    }
}

/// Appends `tx`'s accesses to the partitions their keys hash to, writes
/// before reads, so a key also declared as a read is taken as written. The
/// top bits of the hash pick the partition; the lock table uses the low bits.
fn route<K: ResourceKey>(
    hasher: &DefaultHashBuilder,
    partitions: &mut [Vec<Access<K>>],
    tx: TxIndex,
    access: &impl Declaration<K>,
) {
    let shift = 64 - partitions.len().trailing_zeros();
    access.for_each_access(|key, written| {
        let tx = if written { tx | Access::<K>::WRITE } else { tx };
        let hash = hasher.hash_one(key);
        partitions[hash.checked_shr(shift).unwrap_or(0) as usize].push(Access { key, tx, hash: hash as u32 });
    });
}
