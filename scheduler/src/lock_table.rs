//! The per-key lock table the graph builder walks in block order.
//!
//! For every key it remembers the last writer and the readers since that
//! write. Adding an access returns (appends) the transactions that block it:
//!
//! - a read waits for the last writer;
//! - a write waits for every reader since the last write, or, when there are
//!   none, for the last writer.
//!
//! Those are the nearest conflicting predecessors; every other conflict is
//! implied through them, so the graph keeps O(declared keys) edges.

use crate::access::{ResourceKey, TxIndex};
use hashbrown::HashMap;

const NONE: u32 = u32::MAX;

/// A key's lock: 8 bytes, so a million hot keys stay cache-friendly.
#[derive(Debug, Clone, Copy)]
struct Lock {
    last_write: TxIndex,
    /// Head of this key's reader chain in [`LockTable::readers`], newest first.
    readers: u32,
}

/// One reader in a key's chain: the transaction and the previous reader.
#[derive(Debug, Clone, Copy)]
struct Reader {
    tx: TxIndex,
    prev: u32,
}

#[derive(Debug)]
pub(crate) struct LockTable<K> {
    locks: HashMap<K, Lock>,
    /// Reader chains of all keys in one arena. A write cuts its key's chain;
    /// the cut nodes stay as garbage until the table is dropped, which keeps
    /// a read to one push instead of a per-key allocation.
    readers: Vec<Reader>,
}

impl<K: ResourceKey> LockTable<K> {
    pub(crate) fn with_capacity(keys: usize) -> Self {
        Self { locks: HashMap::with_capacity(keys), readers: Vec::with_capacity(keys) }
    }

    /// Records that `tx` writes `key`; appends what it must wait for.
    #[inline]
    pub(crate) fn write(&mut self, key: K, tx: TxIndex, blockers: &mut Vec<TxIndex>) {
        let lock = self.locks.entry(key).or_insert(Lock { last_write: NONE, readers: NONE });
        if lock.last_write == tx {
            return; // declared twice
        }
        if lock.readers != NONE {
            let mut node = lock.readers;
            while node != NONE {
                let reader = self.readers[node as usize];
                // A transaction that reads and writes the same key is a writer.
                if reader.tx != tx {
                    blockers.push(reader.tx);
                }
                node = reader.prev;
            }
            lock.readers = NONE;
        } else if lock.last_write != NONE {
            blockers.push(lock.last_write);
        }
        lock.last_write = tx;
    }

    /// Records that `tx` reads `key`; appends what it must wait for.
    /// Must come after all of `tx`'s writes, so a key both read and written
    /// is seen as written.
    #[inline]
    pub(crate) fn read(&mut self, key: K, tx: TxIndex, blockers: &mut Vec<TxIndex>) {
        let lock = self.locks.entry(key).or_insert(Lock { last_write: NONE, readers: NONE });
        if lock.last_write == tx {
            return; // also written by `tx`: the write already holds the lock
        }
        if lock.readers != NONE && self.readers[lock.readers as usize].tx == tx {
            return; // declared twice
        }
        if lock.last_write != NONE {
            blockers.push(lock.last_write);
        }
        self.readers.push(Reader { tx, prev: lock.readers });
        lock.readers = (self.readers.len() - 1) as u32;
    }
}
