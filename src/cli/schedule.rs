//! `defivm schedule`: why a block does or does not parallelise.

use clap::Args;
use defivm::fixture::LoadedFixture;
use defivm::schedule::{independent_bound, report};
use defivm::vm::Plan;
use std::path::PathBuf;
use std::process::ExitCode;

/// Show a fixture's waves, critical path, speedup bound and conflict hot spots.
#[derive(Debug, Args)]
pub(crate) struct Schedule {
    /// The fixture.
    file: PathBuf,
    /// Threads to compute the speedup bound for.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// How many hot spots to list.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl Schedule {
    pub(crate) fn execute(self) -> Result<ExitCode, String> {
        let fixture = LoadedFixture::load(&self.file).map_err(|e| e.to_string())?;
        let (state, txs) = (&fixture.state, &fixture.txs);
        // Costs: gas used where the outcome is recorded, else gas limits.
        let costs: Vec<u64> = match &fixture.outcome {
            Some(outcome) => outcome.receipts.iter().map(|r| r.gas_used).collect(),
            None => txs.iter().map(|t| t.gas_limit).collect(),
        };
        let report = report(state, txs, &costs, self.top).map_err(|e| format!("{}: {e}", self.file.display()))?;
        let stats = &report.stats;
        let bound = stats.speedup_bound(self.threads);
        // Executed from its block access list, no transaction waits.
        let bal_bound = independent_bound(&costs, self.threads);
        // The path the parallel executor takes on this block at these threads.
        let plan = Plan::for_block(txs, self.threads);
        if self.json {
            let hot: Vec<_> = report
                .hot_spots
                .iter()
                .map(|h| serde_json::json!({ "key": h.key.to_string(), "label": h.label, "txs": h.txs, "writers": h.writers }))
                .collect();
            let json = serde_json::json!({
                "file": self.file.display().to_string(),
                "txs": stats.txs,
                "waves": stats.waves(),
                "largest_wave": stats.largest_wave(),
                "wave_sizes": stats.wave_sizes,
                "critical_path_txs": stats.critical_path_txs,
                "critical_path_cost": stats.critical_path_cost,
                "total_cost": stats.total_cost,
                "threads": self.threads,
                "bound": bound,
                "bal_bound": bal_bound,
                "plan": plan.to_string(),
                "hot_spots": hot,
            });
            println!("{json}");
        } else {
            println!(
                "{}: {} transactions in {} waves (largest {})",
                self.file.display(),
                stats.txs,
                stats.waves(),
                stats.largest_wave()
            );
            const SHOWN: usize = 24;
            let sizes: Vec<String> = stats.wave_sizes.iter().take(SHOWN).map(usize::to_string).collect();
            let more = stats.waves().saturating_sub(SHOWN);
            let more = if more > 0 { format!(", … {more} more") } else { String::new() };
            println!("wave sizes: {}{more}", sizes.join(", "));
            println!(
                "critical path: {} transactions, {} of {} gas; speedup bound on {} threads: {bound:.2}x",
                stats.critical_path_txs, stats.critical_path_cost, stats.total_cost, self.threads
            );
            println!(
                "from the block access list (bal mode) no transaction waits: bound on {} threads {bal_bound:.2}x",
                self.threads
            );
            println!("parallel executor's path on {} threads: {plan}", self.threads);
            println!("hot spots (keys shared by the most transactions, at least one writing):");
            for (i, h) in report.hot_spots.iter().enumerate() {
                println!("  {:>2}. {} — {} txs, {} writing", i + 1, h.label, h.txs, h.writers);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
