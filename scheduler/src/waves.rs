//! Waves: the levels of the lock graph.

use crate::access::TxIndex;

/// The block cut into waves. Nothing conflicts inside a wave; a wave may run
/// only after every earlier one has committed. Inside a wave transactions are
/// listed in block order, so a deterministic commit is a plain walk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Waves {
    offsets: Vec<u32>,
    txs: Vec<TxIndex>,
}

impl Waves {
    /// Groups transactions by level (`levels[tx]`) by counting sort, reusing
    /// the buffers of `spare` and `cursor` when given.
    pub(crate) fn from_levels(levels: &[u32], spare: Option<Waves>, cursor: &mut Vec<u32>) -> Self {
        let count = levels.iter().max().map_or(0, |&m| m as usize + 1);
        let Waves { mut offsets, mut txs } = spare.unwrap_or(Waves { offsets: Vec::new(), txs: Vec::new() });
        offsets.clear();
        offsets.resize(count + 1, 0);
        for &l in levels {
            offsets[l as usize + 1] += 1;
        }
        for w in 0..count {
            offsets[w + 1] += offsets[w];
        }
        cursor.clear();
        cursor.extend_from_slice(&offsets[..count]);
        txs.clear();
        txs.resize(levels.len(), 0);
        for (tx, &l) in levels.iter().enumerate() {
            let slot = &mut cursor[l as usize];
            txs[*slot as usize] = tx as TxIndex;
            *slot += 1;
        }
        Self { offsets, txs }
    }

    /// Number of waves.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether there are no waves (an empty block).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The transactions of wave `w`, in block order.
    pub fn wave(&self, w: usize) -> &[TxIndex] {
        &self.txs[self.offsets[w] as usize..self.offsets[w + 1] as usize]
    }

    /// Where wave `w` starts in a listing of every wave's transactions,
    /// wave after wave.
    pub fn offset(&self, w: usize) -> usize {
        self.offsets[w] as usize
    }

    /// The waves in execution order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[TxIndex]> + '_ {
        (0..self.len()).map(|w| self.wave(w))
    }

    /// The size of every wave.
    pub fn sizes(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.offsets.windows(2).map(|w| (w[1] - w[0]) as usize)
    }
}
