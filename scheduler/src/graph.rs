//! The lock graph: an edge `i -> j` when `i < j` conflict and `i` is `j`'s
//! nearest conflicting predecessor on some key.

use crate::access::{AccessSet, ResourceKey, TxId, TxIndex};
use crate::error::ScheduleError;
use crate::lock_table::LockTable;
use crate::waves::Waves;

/// Bounds on what a block may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most keys (reads plus writes) one transaction may declare. A larger
    /// declaration is rejected with [`ScheduleError::DeclarationTooLarge`]
    /// rather than silently slowing the whole block down.
    pub max_keys_per_tx: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_keys_per_tx: 4096 }
    }
}

/// Graph indices are `u32`; edges are at most twice the declared keys.
const MAX_TXS: usize = u32::MAX as usize - 1;
const MAX_DECLARED_KEYS: usize = (u32::MAX / 2) as usize;

/// Builds a [`LockGraph`] one transaction at a time, in block order.
#[derive(Debug)]
pub struct LockGraphBuilder<K, Id> {
    limits: Limits,
    table: LockTable<K>,
    ids: Vec<Id>,
    pred_offsets: Vec<u32>,
    preds: Vec<TxIndex>,
    /// Wave (level) of every transaction, computed as it is added: its
    /// predecessors are all earlier, so their levels are final.
    level: Vec<u32>,
    declared: usize,
}

impl<K: ResourceKey, Id: TxId> LockGraphBuilder<K, Id> {
    /// An empty builder sized for `txs` transactions of about `keys_per_tx` keys.
    pub fn with_capacity(txs: usize, keys_per_tx: usize, limits: Limits) -> Self {
        let mut pred_offsets = Vec::with_capacity(txs + 1);
        pred_offsets.push(0);
        Self {
            limits,
            table: LockTable::with_capacity(txs.saturating_mul(keys_per_tx)),
            ids: Vec::with_capacity(txs),
            pred_offsets,
            preds: Vec::with_capacity(txs.saturating_mul(keys_per_tx)),
            level: Vec::with_capacity(txs),
            declared: 0,
        }
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
        self.declared += keys;
        let tx = index as TxIndex;
        let start = self.preds.len();
        // Writes first, so a key also declared as a read is taken as written.
        for &key in access.writes() {
            self.table.write(key, tx, &mut self.preds);
        }
        for &key in access.reads() {
            self.table.read(key, tx, &mut self.preds);
        }
        let own = &mut self.preds[start..];
        if own.len() > 1 {
            own.sort_unstable();
        }
        let mut level = 0;
        let mut kept = start;
        for i in start..self.preds.len() {
            let p = self.preds[i];
            if i > start && p == self.preds[kept - 1] {
                continue; // the same predecessor through another key
            }
            self.preds[kept] = p;
            kept += 1;
            level = level.max(self.level[p as usize] + 1);
        }
        self.preds.truncate(kept);
        self.pred_offsets.push(kept as u32);
        self.level.push(level);
        self.ids.push(id);
        Ok(tx)
    }

    /// Finishes the graph: successor lists and waves.
    pub fn finish(self) -> LockGraph<Id> {
        let n = self.ids.len();
        // Successors by counting sort of the predecessor lists; each list
        // ends up in block order because `j` is visited in block order.
        let mut succ_offsets = vec![0u32; n + 1];
        for &p in &self.preds {
            succ_offsets[p as usize + 1] += 1;
        }
        for i in 0..n {
            succ_offsets[i + 1] += succ_offsets[i];
        }
        let mut cursor: Vec<u32> = succ_offsets[..n].to_vec();
        let mut succs = vec![0 as TxIndex; self.preds.len()];
        for j in 0..n {
            let (from, to) = (self.pred_offsets[j] as usize, self.pred_offsets[j + 1] as usize);
            for &p in &self.preds[from..to] {
                let slot = &mut cursor[p as usize];
                succs[*slot as usize] = j as TxIndex;
                *slot += 1;
            }
        }
        let waves = Waves::from_levels(&self.level);
        LockGraph {
            ids: self.ids,
            pred_offsets: self.pred_offsets,
            preds: self.preds,
            succ_offsets,
            succs,
            level: self.level,
            waves,
        }
    }
}

/// The lock graph of one block, in compressed adjacency form.
///
/// Invariants (checked by the property tests against an O(n²) oracle):
/// - every edge goes forward in block order (`p < j` for `p` in `preds(j)`);
/// - two transactions conflict only if one reaches the other;
/// - `wave(j) = 1 + max(wave(p))` over `preds(j)`, `0` for roots, which equals
///   the longest-path level of the full conflict graph.
#[derive(Debug, Clone)]
pub struct LockGraph<Id = TxIndex> {
    ids: Vec<Id>,
    pred_offsets: Vec<u32>,
    preds: Vec<TxIndex>,
    succ_offsets: Vec<u32>,
    succs: Vec<TxIndex>,
    level: Vec<u32>,
    waves: Waves,
}

impl<Id: TxId> LockGraph<Id> {
    /// Builds the graph of `(id, access)` pairs in block order.
    pub fn build<'a, K: ResourceKey + 'a>(
        txs: impl IntoIterator<Item = (Id, &'a AccessSet<K>)>,
        limits: Limits,
    ) -> Result<Self, ScheduleError<Id>> {
        let txs = txs.into_iter();
        let mut builder = LockGraphBuilder::with_capacity(txs.size_hint().0, 4, limits);
        for (id, access) in txs {
            builder.push(id, access)?;
        }
        Ok(builder.finish())
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the block is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.preds.len()
    }

    /// The caller's id of the transaction at `tx`.
    pub fn id(&self, tx: TxIndex) -> Id {
        self.ids[tx as usize]
    }

    /// The transactions `tx` must wait for, ascending.
    pub fn preds(&self, tx: TxIndex) -> &[TxIndex] {
        let t = tx as usize;
        &self.preds[self.pred_offsets[t] as usize..self.pred_offsets[t + 1] as usize]
    }

    /// The transactions waiting for `tx`, ascending.
    pub fn succs(&self, tx: TxIndex) -> &[TxIndex] {
        let t = tx as usize;
        &self.succs[self.succ_offsets[t] as usize..self.succ_offsets[t + 1] as usize]
    }

    /// How many transactions `tx` waits for.
    pub fn in_degree(&self, tx: TxIndex) -> usize {
        let t = tx as usize;
        (self.pred_offsets[t + 1] - self.pred_offsets[t]) as usize
    }

    /// The wave `tx` runs in (0-based).
    pub fn wave_of(&self, tx: TxIndex) -> usize {
        self.level[tx as usize] as usize
    }

    /// The waves: levels of the graph, each conflict-free, run in order.
    pub fn waves(&self) -> &Waves {
        &self.waves
    }
}

impl LockGraph<TxIndex> {
    /// Builds the graph of `sets` in block order, each named by its position.
    pub fn from_access_sets<K: ResourceKey>(sets: &[AccessSet<K>], limits: Limits) -> Result<Self, ScheduleError<TxIndex>> {
        let keys = sets.first().map_or(0, AccessSet::len);
        let mut builder = LockGraphBuilder::with_capacity(sets.len(), keys, limits);
        for (i, access) in sets.iter().enumerate() {
            builder.push(i as TxIndex, access)?;
        }
        Ok(builder.finish())
    }
}
