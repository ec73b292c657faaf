//! `defivm generate`: a workload, recorded as a fixture.

use clap::Args;
use defivm::fixture::Fixture;
use defivm::vm::SequentialExecutor;
use defivm::workload::{Workload, WorkloadSpec, generate};
use std::path::PathBuf;
use std::process::ExitCode;

/// Generate a DeFi workload and record it, with its sequential outcome.
#[derive(Debug, Args)]
pub(crate) struct Generate {
    /// The workload: erc20, dex, lending, staking or mixed.
    #[arg(long)]
    workload: Workload,
    /// Transactions in the block.
    #[arg(long)]
    txs: usize,
    /// Users sending them.
    #[arg(long, default_value_t = 1_000)]
    users: usize,
    /// Fraction of transactions aimed at the single hottest pool, token or market (0 = spread evenly, 1 = all on one).
    #[arg(long, default_value_t = 0.0)]
    hot: f64,
    /// Seed of the generator: the same seed gives the same fixture, byte for byte.
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
    /// Where to write the fixture.
    #[arg(short, long)]
    output: PathBuf,
}

impl Generate {
    pub(crate) fn execute(self) -> Result<ExitCode, String> {
        let spec = WorkloadSpec {
            workload: self.workload,
            txs: self.txs,
            users: self.users,
            hot: self.hot,
            seed: self.seed,
            tokens: self.tokens,
            pools: self.pools,
            markets: self.markets,
        };
        let block = generate(&spec).map_err(|e| e.to_string())?;
        let outcome = SequentialExecutor::new()
            .execute(block.state(), &block.env, &block.txs)
            .map_err(|e| format!("the generated block does not execute: {e}"))?;
        let name =
            format!("{} txs={} users={} hot={} seed={}", spec.workload, spec.txs, spec.users, spec.hot, spec.seed);
        Fixture::new(&name, block.state(), &block.env, &block.txs, Some(&outcome))
            .save(&self.output)
            .map_err(|e| e.to_string())?;
        println!("wrote {} ({} transactions)", self.output.display(), spec.txs);
        Ok(ExitCode::SUCCESS)
    }
}
