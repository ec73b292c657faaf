//! `defivm bench`: throughput of plain revm and each parallel mode on the
//! same block, in the same run, with the speedup bound beside each speedup.

use super::shape::Shape;
use clap::{Args, ValueEnum};
use defivm::fixture::Fixture;
use defivm::scheduler::{Limits, LockGraph, ScheduleStats};
use defivm::vm::{BlockEnv, ParallelExecutor, ParallelMode, PlainRevm, SequentialExecutor, State, Transaction};
use defivm::workload::{Workload, generate};
use indicatif::ProgressBar;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The parallel modes to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BenchMode {
    /// Conflict-free waves on a thread pool.
    Waves,
    /// Barrier-free execution along the dependency graph.
    Dag,
    /// Every parallel mode.
    All,
}

/// Measure plain sequential revm and each parallel mode on the same block.
#[derive(Debug, Args)]
pub(crate) struct Bench {
    /// Generate the block from this workload: erc20, dex, lending, staking or mixed.
    #[arg(long, conflicts_with = "fixture", required_unless_present = "fixture")]
    workload: Option<Workload>,
    /// Transactions in a generated block.
    #[arg(long, default_value_t = 100_000)]
    txs: usize,
    /// Users in a generated block (default: a quarter of the transactions, at least 100).
    #[arg(long)]
    users: Option<usize>,
    #[command(flatten)]
    shape: Shape,
    /// Measure a recorded fixture instead of a generated block.
    #[arg(long)]
    fixture: Option<PathBuf>,
    /// Worker threads of the parallel modes.
    #[arg(long, default_value_t = std::thread::available_parallelism().map_or(1, usize::from))]
    threads: usize,
    /// The parallel modes to measure.
    #[arg(long, value_enum, default_value_t = BenchMode::All)]
    mode: BenchMode,
    /// Runs of each mode; the best is reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

fn best_of<T>(repeat: usize, progress: &ProgressBar, mut run: impl FnMut() -> (Duration, T)) -> (Duration, T) {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..repeat.max(1) {
        let (time, out) = run();
        progress.inc(1);
        if best.as_ref().is_none_or(|(b, _)| time < *b) {
            best = Some((time, out));
        }
    }
    best.expect("at least one run")
}

impl Bench {
    pub(crate) fn execute(self) -> Result<ExitCode, String> {
        let modes: Vec<(&str, ParallelMode)> = match self.mode {
            BenchMode::Waves => vec![("waves", ParallelMode::Waves)],
            BenchMode::Dag => vec![("dag", ParallelMode::Dag)],
            BenchMode::All => vec![("waves", ParallelMode::Waves), ("dag", ParallelMode::Dag)],
        };
        let (label, state, env, txs) = self.block()?;
        let n = txs.len();
        let progress = ProgressBar::new((2 + modes.len()) as u64 * self.repeat.max(1) as u64 + 1);
        let (plain, receipts) = best_of(self.repeat, &progress, || {
            let mut revm = PlainRevm::new(&state);
            let start = Instant::now();
            let receipts = revm.execute(&env, &txs);
            (start.elapsed(), receipts)
        });
        let receipts = receipts.map_err(|e| format!("plain revm: {e}"))?;
        let sequential = SequentialExecutor::new();
        let (_, expected) = best_of(1, &progress, || {
            let start = Instant::now();
            let outcome = sequential.execute(&state, &env, &txs);
            (start.elapsed(), outcome)
        });
        let expected = expected.map_err(|e| e.to_string())?;
        if expected.receipts != receipts {
            return Err("the sequential executor and plain revm disagree".into());
        }
        let mut timings = Vec::new();
        for &(name, mode) in &modes {
            let executor = ParallelExecutor::new(self.threads).map_err(|e| e.to_string())?.with_mode(mode);
            let (time, got) = best_of(self.repeat, &progress, || {
                let start = Instant::now();
                let outcome = executor.execute(&state, &env, &txs);
                (start.elapsed(), outcome)
            });
            if got.map_err(|e| e.to_string())? != expected {
                return Err(format!("{name} mode disagrees with the sequential executor"));
            }
            timings.push((name, time));
        }
        let sets: Vec<_> = txs.iter().map(Transaction::full_access).collect();
        let (schedule, graph) = best_of(self.repeat, &progress, || {
            let start = Instant::now();
            let graph = LockGraph::from_access_sets(&sets, Limits::default());
            (start.elapsed(), graph)
        });
        progress.finish_and_clear();
        let graph = graph.map_err(|e| e.to_string())?;
        let gas: Vec<u64> = receipts.iter().map(|r| r.gas_used).collect();
        let bound = ScheduleStats::new(&graph, &gas).speedup_bound(self.threads);
        let total_gas: u64 = gas.iter().sum();
        let row = |mode: &str, time: Duration| {
            let seconds = time.as_secs_f64();
            serde_json::json!({
                "mode": mode,
                "tps": n as f64 / seconds,
                "mgas_per_s": total_gas as f64 / seconds / 1e6,
                "speedup": plain.as_secs_f64() / seconds,
                "seconds": seconds,
            })
        };
        let mut rows = vec![row("sequential", plain)];
        rows.extend(timings.iter().map(|&(name, time)| row(name, time)));
        let schedule_ns = schedule.as_secs_f64() * 1e9 / n.max(1) as f64;
        if self.json {
            let json = serde_json::json!({
                "workload": label,
                "txs": n,
                "threads": self.threads,
                "bound": bound,
                "schedule_ns_per_tx": schedule_ns,
                "modes": rows,
            });
            println!("{json}");
        } else {
            println!(
                "{label}: {n} txs, {} threads, best of {}; scheduling {schedule_ns:.0} ns/tx; bound {bound:.2}x (gas-weighted)",
                self.threads,
                self.repeat.max(1)
            );
            println!("  {:<24} {:>12} {:>10} {:>9} {:>9}", "mode", "tx/s", "Mgas/s", "seconds", "speedup");
            for (i, m) in rows.iter().enumerate() {
                let name = if i == 0 { "sequential (plain revm)" } else { m["mode"].as_str().unwrap_or_default() };
                println!(
                    "  {:<24} {:>12.0} {:>10.1} {:>9.3} {:>8.2}x",
                    name,
                    m["tps"].as_f64().unwrap_or_default(),
                    m["mgas_per_s"].as_f64().unwrap_or_default(),
                    m["seconds"].as_f64().unwrap_or_default(),
                    m["speedup"].as_f64().unwrap_or_default()
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// The block to measure and a name for it.
    fn block(&self) -> Result<(String, State, BlockEnv, Vec<Transaction>), String> {
        if let Some(path) = &self.fixture {
            let fixture = Fixture::load(path).map_err(|e| e.to_string())?;
            let (state, env, txs) = fixture.block(path).map_err(|e| e.to_string())?;
            return Ok((path.display().to_string(), state, env, txs));
        }
        let workload = self.workload.ok_or("give --workload or --fixture")?;
        let users = self.users.unwrap_or((self.txs / 4).max(100));
        let spec = self.shape.spec(workload, self.txs, users);
        let block = generate(&spec).map_err(|e| e.to_string())?;
        Ok((workload.to_string(), block.world.state, block.env, block.txs))
    }
}
