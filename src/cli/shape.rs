//! The workload flags `generate` and `bench` share.

use clap::Args;
use defivm::workload::{Workload, WorkloadSpec};

/// How a generated block is shaped, beyond its workload, size, users and hotness.
#[derive(Debug, Args)]
pub(crate) struct Shape {
    /// Seed of the generator: the same seed gives the same block, byte for byte.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// ERC-20 tokens in the world (at least 3).
    #[arg(long, default_value_t = 4)]
    tokens: usize,
    /// DEX pools (at least 2); pool i pairs tokens i and i + 1.
    #[arg(long, default_value_t = 4)]
    pools: usize,
    /// Lending markets (at least 2, at most the tokens).
    #[arg(long, default_value_t = 3)]
    markets: usize,
}

impl Shape {
    /// The full spec for `txs` transactions of `workload` from `users` users,
    /// `hot` of them aimed at the hottest target.
    pub(crate) fn spec(&self, workload: Workload, txs: usize, users: usize, hot: f64) -> WorkloadSpec {
        WorkloadSpec {
            workload,
            txs,
            users,
            hot,
            seed: self.seed,
            tokens: self.tokens,
            pools: self.pools,
            markets: self.markets,
        }
    }
}
