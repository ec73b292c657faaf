//! `defivm generate`: a workload, recorded as a fixture.

use super::shape::Shape;
use clap::Args;
use defivm::fixture::Fixture;
use defivm::vm::SequentialExecutor;
use defivm::workload::{REALISTIC_HOT, Workload, generate};
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
    #[arg(long, default_value_t = REALISTIC_HOT)]
    hot: f64,
    #[command(flatten)]
    shape: Shape,
    /// Where to write the fixture.
    #[arg(short, long)]
    output: PathBuf,
}

impl Generate {
    pub(crate) fn execute(self) -> Result<ExitCode, String> {
        let spec = self.shape.spec(self.workload, self.txs, self.users, self.hot);
        let block = generate(&spec).map_err(|e| e.to_string())?;
        let outcome = SequentialExecutor::new()
            .with_access_record(true)
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
