//! The lock rules, applied to one partition of the block's accesses.
//!
//! For every key the table remembers the last writer and the readers since
//! that write. Walking a key's accesses in block order, each access yields
//! the transactions that block it:
//!
//! - a read waits for the last writer;
//! - a write waits for every reader since the last write, or, when there are
//!   none, for the last writer.
//!
//! Those are the nearest conflicting predecessors; every other conflict is
//! implied through them, so the graph keeps O(declared keys) edges.
//!
//! The builder hands the table one partition at a time (all accesses to the
//! keys whose hash falls in it, in block order), sized so the table and its
//! reader chains stay in the core's cache. A generation stamp empties the
//! table between partitions without touching its memory.

use crate::access::{ResourceKey, TxIndex};

/// Transactions per edge bucket: one bucket's counting sort stays in L1.
pub(crate) const BUCKET_TXS: usize = 4096;

/// Edges as `(waiter, blocker)`, bucketed by waiter in runs of
/// [`BUCKET_TXS`] transactions, so the builder can group them by waiter
/// without a random access over the whole block.
#[derive(Debug, Default)]
pub(crate) struct EdgeBuckets {
    pub(crate) buckets: Vec<Vec<(TxIndex, TxIndex)>>,
}

impl EdgeBuckets {
    /// Empties every bucket and makes room for a block of `txs` transactions.
    pub(crate) fn reset(&mut self, txs: usize) {
        self.buckets.resize_with(txs.div_ceil(BUCKET_TXS), Vec::new);
        self.buckets.iter_mut().for_each(Vec::clear);
    }

    #[inline]
    fn push(&mut self, waiter: TxIndex, blocker: TxIndex) {
        self.buckets[waiter as usize / BUCKET_TXS].push((waiter, blocker));
    }
}

/// No transaction: no writer yet, no reader.
const NONE: u32 = u32::MAX;

/// One declared access, as the builder records it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Access<K> {
    pub(crate) key: K,
    /// The transaction, with [`Access::WRITE`] set for a write.
    pub(crate) tx: u32,
    /// The low bits of the key's hash (the high bits chose the partition),
    /// kept so the table never hashes a key twice.
    pub(crate) hash: u32,
}

impl<K> Access<K> {
    pub(crate) const WRITE: u32 = 1 << 31;
}

#[derive(Debug, Clone, Copy)]
struct Slot<K> {
    /// Slots from an earlier partition are empty: their stamp is stale.
    stamp: u32,
    last_write: TxIndex,
    /// Newest reader since the last write, as an index into the chain arena.
    readers: u32,
    key: K,
}

/// A reader in a key's chain: the transaction and the reader before it.
#[derive(Debug, Clone, Copy)]
struct Reader {
    tx: TxIndex,
    prev: u32,
}

#[derive(Debug)]
pub(crate) struct LockTable<K> {
    slots: Vec<Slot<K>>,
    stamp: u32,
    readers: Vec<Reader>,
}

impl<K: ResourceKey> LockTable<K> {
    pub(crate) fn new() -> Self {
        Self { slots: Vec::new(), stamp: 0, readers: Vec::new() }
    }

    /// Applies the lock rules to every access to this partition's keys, in
    /// block order, and adds one `(waiter, blocker)` pair per edge.
    /// The accesses come as consecutive runs (one per push lane), together
    /// in block order.
    pub(crate) fn run<'a, I>(&mut self, runs: I, edges: &mut EdgeBuckets)
    where
        K: 'a,
        I: Iterator<Item = &'a [Access<K>]> + Clone,
    {
        let Some(first) = runs.clone().find_map(|run| run.first()) else { return };
        let total: usize = runs.clone().map(<[_]>::len).sum();
        // At most half full; a partition's table stays far below 2^32 slots.
        let wanted = (total * 2).next_power_of_two();
        if self.slots.len() < wanted || self.stamp == u32::MAX {
            self.slots.clear();
            self.slots.resize(
                wanted.max(self.slots.capacity()),
                Slot { stamp: 0, last_write: NONE, readers: NONE, key: first.key },
            );
            self.stamp = 0;
        }
        self.stamp += 1;
        self.readers.clear();
        // Probe within the first `wanted` slots only.
        let mask = wanted - 1;
        for access in runs.flatten() {
            let tx = access.tx & !Access::<K>::WRITE;
            let mut i = access.hash as usize & mask;
            let slot = loop {
                let slot = &mut self.slots[i];
                if slot.stamp != self.stamp {
                    *slot = Slot { stamp: self.stamp, last_write: NONE, readers: NONE, key: access.key };
                    break slot;
                }
                if slot.key == access.key {
                    break slot;
                }
                i = (i + 1) & mask;
            };
            if slot.last_write == tx {
                continue; // written earlier by the same transaction (or declared twice)
            }
            if access.tx & Access::<K>::WRITE != 0 {
                if slot.readers != NONE {
                    // The builder records a transaction's writes before its
                    // reads, so `tx` itself is never in the chain.
                    let mut node = slot.readers;
                    while node != NONE {
                        let reader = self.readers[node as usize];
                        edges.push(tx, reader.tx);
                        node = reader.prev;
                    }
                } else if slot.last_write != NONE {
                    edges.push(tx, slot.last_write);
                }
                slot.last_write = tx;
                slot.readers = NONE;
            } else {
                if slot.readers != NONE && self.readers[slot.readers as usize].tx == tx {
                    continue; // declared twice
                }
                if slot.last_write != NONE {
                    edges.push(tx, slot.last_write);
                }
                self.readers.push(Reader { tx, prev: slot.readers });
                slot.readers = (self.readers.len() - 1) as u32;
            }
        }
    }
}
