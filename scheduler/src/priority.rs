//! Which ready transaction to run first.

use crate::access::{TxId, TxIndex};
use crate::graph::LockGraph;

/// A policy that ranks transactions; the ready-set runs the highest first and
/// breaks ties by block position.
pub trait Priority {
    /// One rank per transaction of `graph`, higher runs earlier.
    fn ranks<Id: TxId>(&self, graph: &LockGraph<Id>) -> Vec<u64>;
}

/// The default: the longest remaining path to the end of the block, weighted
/// by each transaction's estimated cost (its gas limit, say). Starting the
/// head of the heaviest chain first is what keeps the critical path short.
#[derive(Debug, Clone, Copy)]
pub struct LongestRemainingPath<'a> {
    costs: &'a [u64],
}

impl<'a> LongestRemainingPath<'a> {
    /// Weighted by `costs[tx]`; a transaction past the end of `costs` counts 1.
    pub fn new(costs: &'a [u64]) -> Self {
        Self { costs }
    }
}

pub(crate) fn cost_of(costs: &[u64], tx: usize) -> u64 {
    costs.get(tx).copied().unwrap_or(1)
}

impl Priority for LongestRemainingPath<'_> {
    fn ranks<Id: TxId>(&self, graph: &LockGraph<Id>) -> Vec<u64> {
        let n = graph.len();
        let mut remaining: Vec<u64> = (0..n).map(|tx| cost_of(self.costs, tx)).collect();
        // Reverse block order: when `j` is visited every successor is final.
        for j in (0..n).rev() {
            let tail = remaining[j];
            for &p in graph.preds(j as TxIndex) {
                let p = p as usize;
                remaining[p] = remaining[p].max(cost_of(self.costs, p).saturating_add(tail));
            }
        }
        remaining
    }
}

/// Plain block order: earlier transactions first.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlockOrder;

impl Priority for BlockOrder {
    fn ranks<Id: TxId>(&self, graph: &LockGraph<Id>) -> Vec<u64> {
        (0..graph.len() as u64).rev().collect()
    }
}
