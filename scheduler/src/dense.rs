//! Building the lock graph when the keys are already small integers.
//!
//! An executor that has interned its keys (every distinct key a number
//! below some bound) needs no hashing and no partitioning: the lock table
//! is an array indexed by key, and one pass in block order applies the
//! lock rules (see `lock_table.rs`), so each transaction's predecessors
//! come out together, already grouped, and its wave follows at once.
//!
//! It runs on the calling thread and touches no thread pool, which suits
//! the blocks an executor prepares itself: a mainnet block's few thousand
//! keys take tens of microseconds. For a block of millions of keys whose
//! table does not fit a cache, [`crate::LockGraphBuilder`] partitions the
//! work and runs it on the rayon pool.

use crate::access::{Declaration, TxIndex};
use crate::builder::sort_small;
use crate::error::ScheduleError;
use crate::graph::{Limits, LockGraph};
use crate::waves::Waves;

/// No transaction: no writer yet, no reader.
const NONE: u32 = u32::MAX;
/// Transaction positions leave room for [`NONE`].
const MAX_TXS: usize = (u32::MAX - 1) as usize;

/// One key's lock: the last writer and the newest reader since, valid only
/// in the build its stamp names.
#[derive(Debug, Clone, Copy, Default)]
struct Lock {
    stamp: u32,
    last_write: TxIndex,
    readers: u32,
}

/// A reader in a key's chain: the transaction and the reader before it.
#[derive(Debug, Clone, Copy)]
struct Reader {
    tx: TxIndex,
    prev: u32,
}

/// Builds [`LockGraph`]s over dense keys (`u32`, ideally all below a bound
/// given up front), keeping its buffers from one block to the next.
#[derive(Debug, Default)]
pub struct DenseBuilder {
    table: Vec<Lock>,
    stamp: u32,
    readers: Vec<Reader>,
    scratch: Vec<TxIndex>,
    cursor: Vec<u32>,
    spare: Option<LockGraph>,
}

impl DenseBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The lock graph of `sets` in block order, each named by its position.
    /// `keys` bounds the keys (a larger key only costs a larger table).
    /// Errors as [`crate::LockGraphBuilder::build_block`]'s.
    pub fn build<D: Declaration<u32>>(
        &mut self,
        sets: &[D],
        keys: usize,
        limits: Limits,
    ) -> Result<LockGraph, ScheduleError<TxIndex>> {
        if sets.len() > MAX_TXS {
            let index = MAX_TXS;
            return Err(ScheduleError::BlockTooLarge {
                tx: index as TxIndex,
                index,
                what: "transactions",
                max: MAX_TXS,
            });
        }
        if let Some((index, set)) = sets.iter().enumerate().find(|(_, s)| s.access_count() > limits.max_keys_per_tx) {
            let (keys, max) = (set.access_count(), limits.max_keys_per_tx);
            return Err(ScheduleError::DeclarationTooLarge { tx: index as TxIndex, index, keys, max });
        }
        if self.table.len() < keys {
            self.table.resize(keys, Lock::default());
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            // Stamps wrapped: every old one must read as stale.
            self.table.iter_mut().for_each(|lock| lock.stamp = 0);
            self.stamp = 1;
        }
        self.readers.clear();
        let mut graph = self.spare.take().unwrap_or_else(LockGraph::empty);
        graph.ids.clear();
        graph.pred_offsets.clear();
        graph.pred_offsets.push(0);
        graph.preds.clear();
        graph.level.clear();
        let Self { table, stamp, readers, scratch, .. } = self;
        for (j, set) in sets.iter().enumerate() {
            let j = j as TxIndex;
            scratch.clear();
            set.for_each_access(|key, written| {
                let key = key as usize;
                if key >= table.len() {
                    table.resize(key + 1, Lock::default());
                }
                let lock = &mut table[key];
                if lock.stamp != *stamp {
                    *lock = Lock { stamp: *stamp, last_write: NONE, readers: NONE };
                }
                if lock.last_write == j {
                    return; // written earlier by the same transaction
                }
                if written {
                    if lock.readers != NONE {
                        // A transaction lists a key's write before any read
                        // of it, so `j` itself is never in the chain.
                        let mut node = lock.readers;
                        while node != NONE {
                            let reader = readers[node as usize];
                            scratch.push(reader.tx);
                            node = reader.prev;
                        }
                    } else if lock.last_write != NONE {
                        scratch.push(lock.last_write);
                    }
                    lock.last_write = j;
                    lock.readers = NONE;
                } else {
                    if lock.readers != NONE && readers[lock.readers as usize].tx == j {
                        return; // declared twice
                    }
                    if lock.last_write != NONE {
                        scratch.push(lock.last_write);
                    }
                    readers.push(Reader { tx: j, prev: lock.readers });
                    lock.readers = (readers.len() - 1) as u32;
                }
            });
            sort_small(scratch);
            scratch.dedup();
            let level = scratch.iter().map(|&p| graph.level[p as usize] + 1).max().unwrap_or(0);
            graph.level.push(level);
            graph.preds.extend_from_slice(scratch);
            graph.pred_offsets.push(graph.preds.len() as u32);
            graph.ids.push(j);
        }
        graph.succs = Default::default();
        graph.waves = Waves::from_levels(&graph.level, Some(core::mem::take(&mut graph.waves)), &mut self.cursor);
        Ok(graph)
    }

    /// Takes back a spent graph's buffers for the next build.
    pub fn recycle(&mut self, graph: LockGraph) {
        self.spare = Some(graph);
    }

    /// Frees every buffer kept for the next block.
    pub fn release_buffers(&mut self) {
        *self = Self { stamp: self.stamp, ..Self::default() };
    }
}
