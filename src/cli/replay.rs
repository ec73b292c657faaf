//! `defivm replay`: execute fixtures and check them against their recorded
//! outcome.

use clap::{Args, ValueEnum};
use defivm::ethereum::listed_access;
use defivm::fixture::{Codes, LoadedFixture};
use defivm::vm::{BalExecutor, Declarations, ParallelExecutor, ParallelMode, Receipt, SequentialExecutor, Txs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Which executor to replay with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    /// The sequential reference executor.
    Sequential,
    /// Conflict-free waves on a thread pool.
    Waves,
    /// Barrier-free execution along the dependency graph.
    Dag,
    /// Every transaction at once, from the fixture's block access list
    /// (`blockAccessList`), which is checked as it is used.
    Bal,
    /// Every mode in turn (bal where the fixture has a block access list).
    All,
}

/// Replay fixtures in one or every mode and check them against their recorded outcome.
#[derive(Debug, Args)]
pub(crate) struct Replay {
    /// Fixture files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The mode to replay with.
    #[arg(long, value_enum, default_value_t = Mode::All)]
    mode: Mode,
    /// Worker threads of the parallel modes.
    #[arg(long, default_value_t = std::thread::available_parallelism().map_or(1, usize::from))]
    threads: usize,
    /// Print one JSON object with every result instead of text.
    #[arg(long)]
    json: bool,
    /// Take the declarations as promises (a stray is rejected) or as hints
    /// (a stray runs again); by default, as each fixture says.
    #[arg(long, value_enum)]
    declarations: Option<DeclarationsArg>,
}

/// `--declarations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DeclarationsArg {
    /// A transaction that touches a key outside its declaration is rejected.
    Strict,
    /// A transaction that strays is run again after what it truly conflicts with.
    Hints,
}

impl From<DeclarationsArg> for Declarations {
    fn from(arg: DeclarationsArg) -> Self {
        match arg {
            DeclarationsArg::Strict => Declarations::Strict,
            DeclarationsArg::Hints => Declarations::Hints,
        }
    }
}

impl Replay {
    pub(crate) fn execute(self) -> Result<ExitCode, String> {
        let modes = match self.mode {
            Mode::All => vec![Mode::Sequential, Mode::Waves, Mode::Dag, Mode::Bal],
            one => vec![one],
        };
        let mut results = Vec::new();
        let mut failed = false;
        // Fixtures of one chain share a code file: read once.
        let codes = Codes::new();
        for file in &self.files {
            // A block too long to hold is read again from the file for each
            // run, a segment at a time.
            let mut fixture = LoadedFixture::load_lean(file, &codes).map_err(|e| e.to_string())?;
            // The list in lookup form, as a block's list is decoded before
            // its block runs: bal mode runs from it, the others are checked
            // against it as they run. The fixture's form is dropped: a
            // large block's takes hundreds of megabytes.
            let list = fixture.block_access_list.take().map(listed_access);
            let (state, env, count) = (&fixture.state, &fixture.env, fixture.tx_count());
            let declarations = self.declarations.map_or(fixture.declarations, Declarations::from);
            for &mode in &modes {
                let name = match mode {
                    Mode::Sequential => "sequential",
                    Mode::Waves => "waves",
                    Mode::Bal => "bal",
                    _ => "dag",
                };
                match (mode, &list) {
                    (Mode::Bal, None) if self.mode == Mode::All => continue,
                    (Mode::Bal, None) => return Err(format!("{}: bal mode needs a blockAccessList", file.display())),
                    _ => {}
                }
                // A fresh executor per run, made before the clock starts: its
                // threads end with it, and with them their keccak memos (up
                // to 25 MiB each), which a kept idle pool would hold through
                // the next run.
                let parallel = match mode {
                    Mode::Sequential | Mode::Bal => None,
                    Mode::Waves => Some(ParallelMode::Waves),
                    _ => Some(ParallelMode::Dag),
                };
                let executor = parallel
                    .map(|m| {
                        ParallelExecutor::new(self.threads).map(|e| e.with_mode(m).with_declarations(declarations))
                    })
                    .transpose()
                    .map_err(|e| e.to_string())?;
                let bal = (mode == Mode::Bal)
                    .then(|| BalExecutor::new(self.threads).map(|e| e.with_declarations(declarations)))
                    .transpose();
                let bal = bal.map_err(|e| e.to_string())?;
                let sequential = SequentialExecutor::new().with_declarations(declarations);
                // Receipts are checked as they come and not kept: a large
                // block's receipts and logs would be most of a gigabyte.
                let check = fixture.stream_check();
                let receipt = |index, receipt: Receipt| check.receipt(index, &receipt);
                let mut stream = fixture.stream();
                let txs: Txs<'_> = match &mut stream {
                    Some(stream) => stream.into(),
                    None => (&fixture.txs).into(),
                };
                let start = Instant::now();
                // A fixture with a block access list is checked against it
                // as the block runs, in every mode.
                let result = match (&executor, &bal, &list) {
                    (Some(executor), _, Some(list)) => executor.execute_checked(state, env, txs, list, receipt),
                    (Some(executor), _, None) => executor.execute_streamed(state, env, txs, receipt),
                    (None, Some(executor), Some(list)) => executor.execute_streamed(state, env, txs, list, receipt),
                    (None, _, Some(list)) => sequential.execute_checked(state, env, txs, list, receipt),
                    (None, _, None) => sequential.execute_streamed(state, env, txs, receipt),
                };
                let repairs = result.as_ref().map(|effects| effects.repairs).unwrap_or_default();
                let seconds = start.elapsed().as_secs_f64();
                drop((executor, bal, stream));
                let gas = if result.is_ok() { check.gas_used() } else { 0 };
                let header = result.is_ok().then(|| check.computed_header()).flatten();
                let (matches, detail) = match check.finish(&result) {
                    Ok(()) => (true, String::new()),
                    Err(mismatch) => (false, mismatch.to_string()),
                };
                failed |= !matches;
                let tps = count as f64 / seconds;
                let mgas = gas as f64 / seconds / 1e6;
                if !self.json {
                    let verdict = if matches { "match".to_string() } else { format!("MISMATCH: {detail}") };
                    let hints = match declarations {
                        Declarations::Hints => {
                            format!(", hints: {} strays, {} re-executed", repairs.strays, repairs.reexecuted)
                        }
                        Declarations::Strict => String::new(),
                    };
                    println!(
                        "{} [{name}, {} threads{hints}]: {verdict}; {} txs, {tps:.0} tx/s, {mgas:.1} Mgas/s",
                        file.display(),
                        if mode == Mode::Sequential { 1 } else { self.threads },
                        count
                    );
                }
                let mut row = serde_json::json!({
                    "file": file.display().to_string(),
                    "mode": name,
                    "threads": if mode == Mode::Sequential { 1 } else { self.threads },
                    "matches": matches,
                    "detail": detail,
                    "txs": count,
                    "seconds": seconds,
                    "tps": tps,
                    "mgas_per_s": mgas,
                    "declarations": if declarations == Declarations::Hints { "hints" } else { "strict" },
                    "strays": repairs.strays,
                    "reexecuted": repairs.reexecuted,
                });
                // A block of a real chain: what defivm computed for its header.
                if let Some(header) = header {
                    row["block"] = serde_json::json!({
                        "number": env.number,
                        "gasUsed": format!("{:#x}", header.gas_used),
                        "logsBloom": header.logs_bloom.to_string(),
                        "receiptsRoot": header.receipts_root.map(|r| r.to_string()),
                    });
                }
                results.push(row);
            }
        }
        if self.json {
            println!("{}", serde_json::json!({ "results": results }));
        }
        Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
    }
}
