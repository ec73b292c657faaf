//! What one transaction declares it will touch.

use core::fmt::Debug;
use core::hash::Hash;

/// A piece of state a transaction can lock: anything small, comparable and
/// hashable. Blanket-implemented, so `u32`, `[u8; 32]` or the VM's state key
/// all qualify without ceremony.
pub trait ResourceKey: Copy + Eq + Hash + Debug + Send + Sync {}
impl<T: Copy + Eq + Hash + Debug + Send + Sync> ResourceKey for T {}

/// How a caller names a transaction (a hash, a block position, ...). The graph
/// keeps it only to report errors and answer [`crate::LockGraph::id`]; the hot
/// path works on dense [`TxIndex`] positions.
pub trait TxId: Copy + Eq + Debug + Send + Sync {}
impl<T: Copy + Eq + Debug + Send + Sync> TxId for T {}

/// Dense position of a transaction in block order, `0..n`.
pub type TxIndex = u32;

/// Anything that lists one transaction's accesses for the graph builder:
/// an [`AccessSet`], or a caller's own compact form (an executor that has
/// already interned and deduplicated its keys need not build one).
pub trait Declaration<K>: Sync {
    /// Number of accesses, duplicates counted: what a size limit is checked
    /// against.
    fn access_count(&self) -> usize;

    /// Calls `access(key, written)` for every access. A key listed more than
    /// once must come first as a write if it is written at all, so that it
    /// is taken as written ([`AccessSet`] lists every write before any read).
    fn for_each_access(&self, access: impl FnMut(K, bool));
}

impl<K: ResourceKey> Declaration<K> for AccessSet<K> {
    fn access_count(&self) -> usize {
        self.len()
    }

    fn for_each_access(&self, mut access: impl FnMut(K, bool)) {
        self.writes.iter().for_each(|&key| access(key, true));
        self.reads.iter().for_each(|&key| access(key, false));
    }
}

/// One transaction's declared reads and writes.
///
/// A key that is both read and written counts as a write, and duplicates are
/// harmless: the graph builder sees through both, so constructing a set never
/// has to sort or deduplicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSet<K> {
    reads: Vec<K>,
    writes: Vec<K>,
}

impl<K> Default for AccessSet<K> {
    fn default() -> Self {
        Self { reads: Vec::new(), writes: Vec::new() }
    }
}

impl<K: ResourceKey> AccessSet<K> {
    /// A set with the given reads and writes.
    pub fn new(reads: Vec<K>, writes: Vec<K>) -> Self {
        Self { reads, writes }
    }

    /// Declares a read of `key`.
    pub fn read(&mut self, key: K) -> &mut Self {
        self.reads.push(key);
        self
    }

    /// Declares a write of `key`.
    pub fn write(&mut self, key: K) -> &mut Self {
        self.writes.push(key);
        self
    }

    /// The declared reads, as given (may repeat or overlap the writes).
    pub fn reads(&self) -> &[K] {
        &self.reads
    }

    /// The declared writes, as given (may repeat).
    pub fn writes(&self) -> &[K] {
        &self.writes
    }

    /// Number of declared entries, duplicates included: what a size limit is
    /// checked against.
    pub fn len(&self) -> usize {
        self.reads.len() + self.writes.len()
    }

    /// Whether nothing is declared.
    pub fn is_empty(&self) -> bool {
        self.reads.is_empty() && self.writes.is_empty()
    }

    /// Whether `key` is declared as a write.
    pub fn writes_key(&self, key: &K) -> bool {
        self.writes.contains(key)
    }

    /// Whether `key` is declared at all (read or write).
    pub fn declares(&self, key: &K) -> bool {
        self.reads.contains(key) || self.writes.contains(key)
    }

    /// Whether the two sets conflict: one writes a key the other reads or
    /// writes. Quadratic; meant for tests and diagnostics, not the hot path.
    pub fn conflicts_with(&self, other: &Self) -> bool {
        self.writes.iter().any(|k| other.declares(k)) || other.writes.iter().any(|k| self.declares(k))
    }
}
