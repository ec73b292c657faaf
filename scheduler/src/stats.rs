//! What the schedule promises before anything runs.

use crate::access::{TxId, TxIndex};
use crate::graph::LockGraph;
use crate::priority::cost_of;

/// Shape of a block's schedule and the best speedup any executor can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleStats {
    /// Transactions in the block.
    pub txs: usize,
    /// Edges in the lock graph.
    pub edges: usize,
    /// Size of every wave, in order.
    pub wave_sizes: Vec<usize>,
    /// The longest chain of conflicting transactions, counted in transactions
    /// (equal to the number of waves).
    pub critical_path_txs: usize,
    /// Sum of all costs: the sequential time `T1`.
    pub total_cost: u64,
    /// The heaviest chain by cost: `Tcp`.
    pub critical_path_cost: u64,
}

impl ScheduleStats {
    /// Measures `graph` with per-transaction `costs` (missing costs count 1).
    pub fn new<Id: TxId>(graph: &LockGraph<Id>, costs: &[u64]) -> Self {
        let n = graph.len();
        let mut finish = vec![0u64; n];
        let mut total_cost = 0u64;
        let mut critical_path_cost = 0u64;
        for j in 0..n {
            let cost = cost_of(costs, j);
            let start = graph.preds(j as TxIndex).iter().map(|&p| finish[p as usize]).max().unwrap_or(0);
            finish[j] = start.saturating_add(cost);
            total_cost = total_cost.saturating_add(cost);
            critical_path_cost = critical_path_cost.max(finish[j]);
        }
        let wave_sizes: Vec<usize> = graph.waves().sizes().collect();
        Self {
            txs: n,
            edges: graph.edge_count(),
            critical_path_txs: wave_sizes.len(),
            wave_sizes,
            total_cost,
            critical_path_cost,
        }
    }

    /// Number of waves.
    pub fn waves(&self) -> usize {
        self.wave_sizes.len()
    }

    /// The largest wave: the most parallelism a wave executor ever sees.
    pub fn largest_wave(&self) -> usize {
        self.wave_sizes.iter().copied().max().unwrap_or(0)
    }

    /// No schedule on `threads` threads beats `max(T1 / threads, Tcp)`, so the
    /// speedup is bounded by `min(threads, T1 / Tcp)`.
    pub fn speedup_bound(&self, threads: usize) -> f64 {
        if self.critical_path_cost == 0 {
            return threads.max(1) as f64;
        }
        (threads.max(1) as f64).min(self.total_cost as f64 / self.critical_path_cost as f64)
    }
}
