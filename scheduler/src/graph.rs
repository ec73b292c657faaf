//! The lock graph: an edge `i -> j` when `i < j` conflict and `i` is `j`'s
//! nearest conflicting predecessor on some key.

use crate::access::{AccessSet, ResourceKey, TxId, TxIndex};
use crate::builder::LockGraphBuilder;
use crate::error::ScheduleError;
use crate::waves::Waves;
use std::sync::OnceLock;

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

/// The lock graph of one block, in compressed adjacency form.
///
/// Invariants (checked by the property tests against an O(n²) oracle):
/// - every edge goes forward in block order (`p < j` for `p` in `preds(j)`);
/// - two transactions conflict only if one reaches the other;
/// - `wave(j) = 1 + max(wave(p))` over `preds(j)`, `0` for roots, which equals
///   the longest-path level of the full conflict graph.
#[derive(Debug, Clone)]
pub struct LockGraph<Id = TxIndex> {
    pub(crate) ids: Vec<Id>,
    pub(crate) pred_offsets: Vec<u32>,
    pub(crate) preds: Vec<TxIndex>,
    /// Successor lists, derived on first use: wave execution never needs them.
    pub(crate) succs: OnceLock<Successors>,
    pub(crate) level: Vec<u32>,
    pub(crate) waves: Waves,
}

/// Successor lists in compressed form.
#[derive(Debug, Clone, Default)]
pub(crate) struct Successors {
    offsets: Vec<u32>,
    succs: Vec<TxIndex>,
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

    pub(crate) fn empty() -> Self {
        Self {
            ids: Vec::new(),
            pred_offsets: vec![0],
            preds: Vec::new(),
            succs: OnceLock::new(),
            level: Vec::new(),
            waves: Waves::default(),
        }
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

    /// The transactions waiting for `tx`, ascending. The first call derives
    /// every list (linear in the edges); later calls are lookups.
    pub fn succs(&self, tx: TxIndex) -> &[TxIndex] {
        let s = self.succs.get_or_init(|| self.successors());
        let t = tx as usize;
        &s.succs[s.offsets[t] as usize..s.offsets[t + 1] as usize]
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

    /// Successors by counting sort of the predecessor lists; each list ends
    /// up ascending because waiters are visited in block order.
    fn successors(&self) -> Successors {
        let n = self.len();
        let mut offsets = vec![0u32; n + 1];
        for &p in &self.preds {
            offsets[p as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut cursor = offsets[..n].to_vec();
        let mut succs = vec![0; self.preds.len()];
        for j in 0..n {
            for &p in self.preds(j as TxIndex) {
                let slot = &mut cursor[p as usize];
                succs[*slot as usize] = j as TxIndex;
                *slot += 1;
            }
        }
        Successors { offsets, succs }
    }
}

impl LockGraph<TxIndex> {
    /// Builds the graph of `sets` in block order, each named by its position.
    pub fn from_access_sets<K: ResourceKey>(
        sets: &[AccessSet<K>],
        limits: Limits,
    ) -> Result<Self, ScheduleError<TxIndex>> {
        let keys = sets.first().map_or(0, AccessSet::len);
        LockGraphBuilder::with_capacity(sets.len(), keys, limits).build_block(sets)
    }
}
