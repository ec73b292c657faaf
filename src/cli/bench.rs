//! `defivm bench`: throughput of plain revm and each parallel mode on the
//! same block, in the same run, with the speedup bound beside each speedup.
//!
//! Runs are interleaved (plain revm, then each mode, round after round) and
//! the best of each is kept, so a slow spell of a noisy machine hits every
//! contender alike. Every parallel outcome is checked against the sequential
//! executor's, and the sequential executor's receipts against plain revm's.

use super::plot::{self, Point};
use super::replay::DeclarationsArg;
use super::shape::Shape;
use clap::{Args, ValueEnum};
use defivm::fixture::{Codes, LoadedFixture};
use defivm::schedule::independent_bound;
use defivm::scheduler::{Limits, LockGraph, ScheduleStats};
use defivm::vm::{
    BalExecutor, BlockAccess, BlockEnv, BlockOutcome, Declarations, ListedAccess, ParallelExecutor, ParallelMode,
    Phases, PlainRevm, Plan, Repairs, SequentialExecutor, State, Transaction,
};
use defivm::workload::{REALISTIC_HOT, Workload, bench_users, generate};
use indicatif::ProgressBar;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The parallel modes to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BenchMode {
    /// Conflict-free waves on a thread pool.
    Waves,
    /// Barrier-free execution along the dependency graph.
    Dag,
    /// Every transaction at once, from the block's EIP-7928 access list
    /// (recorded by a sequential run before the timing, as a block would
    /// carry it; put in lookup form within the timing).
    Bal,
    /// Every parallel mode.
    All,
}

/// A parallel executor under measurement.
#[derive(Debug)]
enum Contender {
    /// Waves or DAG.
    Declared(Box<ParallelExecutor>),
    /// From the block's access list.
    Bal(BalExecutor),
}

impl Contender {
    /// What a run needs besides the block, made before the clock starts:
    /// for bal mode, the block's access list as decoded (`access`).
    fn input(&self, access: Option<&BlockAccess>) -> Option<BlockAccess> {
        match self {
            Contender::Declared(_) => None,
            Contender::Bal(_) => access.cloned(),
        }
    }

    /// Runs the block on `input` (see [`Contender::input`]). Bal mode puts
    /// the list in its lookup form first, counted as preparation: the
    /// other modes' interning of their keys is timed too. What is left to
    /// free is returned, to be dropped after the clock stops.
    fn run(
        &self,
        state: &State,
        env: &BlockEnv,
        txs: &[Transaction],
        input: Option<BlockAccess>,
    ) -> Result<(BlockOutcome, Phases, Option<ListedAccess>), String> {
        match (self, input) {
            (Contender::Declared(executor), _) => {
                executor.execute_timed(state, env, txs).map(|(outcome, phases)| (outcome, phases, None))
            }
            (Contender::Bal(executor), Some(access)) => {
                let start = Instant::now();
                let list = ListedAccess::new(access);
                let lookup = start.elapsed();
                executor.execute_timed(state, env, txs, &list).map(|(outcome, mut phases)| {
                    phases.prepare += lookup;
                    (outcome, phases, Some(list))
                })
            }
            (Contender::Bal(_), None) => return Err("bal mode needs the block's access list".into()),
        }
        .map_err(|e| e.to_string())
    }

    /// Whether `outcome` is `expected`'s (bal mode records no accesses:
    /// its list is the record), strays included; how many transactions ran
    /// again is the mode's own.
    fn agrees(&self, outcome: &BlockOutcome, expected: &BlockOutcome) -> bool {
        let same = outcome.receipts == expected.receipts
            && outcome.changes == expected.changes
            && outcome.fees == expected.fees
            && outcome.repairs.strays == expected.repairs.strays;
        match self {
            Contender::Declared(_) => same && outcome.access == expected.access,
            Contender::Bal(_) => same,
        }
    }
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
    /// Fraction of transactions aimed at the hottest target; a comma-separated list measures one block per value.
    #[arg(long, value_delimiter = ',', default_values_t = [REALISTIC_HOT], conflicts_with = "fixture")]
    hot: Vec<f64>,
    #[command(flatten)]
    shape: Shape,
    /// Measure recorded fixtures instead of a generated block: each block's figures, then each mode's total.
    #[arg(long, num_args = 1..)]
    fixture: Vec<PathBuf>,
    /// Worker threads of the parallel modes.
    #[arg(long, default_value_t = std::thread::available_parallelism().map_or(1, usize::from))]
    threads: usize,
    /// The parallel modes to measure.
    #[arg(long, value_enum, default_value_t = BenchMode::All)]
    mode: BenchMode,
    /// Rounds (plain revm, then each mode); the best run of each is reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Also draw speedup and tx/s against hotness into this SVG file (needs a generated workload).
    #[arg(long, conflicts_with = "fixture")]
    plot: Option<PathBuf>,
    /// Have every mode record what the block accessed (its EIP-7928 block
    /// access list), to measure what that costs.
    #[arg(long)]
    record_access: bool,
    /// Take the declarations as promises or as hints (a stray runs again);
    /// by default, as each fixture says, and strict for a generated block.
    #[arg(long, value_enum)]
    declarations: Option<DeclarationsArg>,
}

/// One parallel mode's best run.
#[derive(Debug)]
struct ModeRun {
    name: &'static str,
    time: Duration,
    phases: Phases,
    /// Its strays and what it ran again.
    repairs: Repairs,
}

/// Everything measured on one block.
#[derive(Debug)]
struct Measured {
    label: String,
    hot: Option<f64>,
    txs: usize,
    gas: u64,
    bound: f64,
    /// Bal mode's bound, where it is measured: no transaction waits for
    /// another, so `min(threads, total gas / the heaviest's)`.
    bal_bound: Option<f64>,
    /// The path the executors take on this block.
    plan: Plan,
    /// What its declarations were taken as.
    declarations: Declarations,
    plain: Duration,
    modes: Vec<ModeRun>,
}

/// One contender's figures on a block, derived in one place for the table,
/// the JSON and the plot.
#[derive(Debug, Clone, Copy)]
struct Figures {
    seconds: f64,
    tps: f64,
    mgas_per_s: f64,
    /// Plain revm's time over this one's.
    speedup: f64,
}

impl Measured {
    /// The figures of a contender that took `time` on this block.
    fn figures(&self, time: Duration) -> Figures {
        let seconds = time.as_secs_f64();
        Figures {
            seconds,
            tps: self.txs as f64 / seconds,
            mgas_per_s: self.gas as f64 / seconds / 1e6,
            speedup: self.plain.as_secs_f64() / seconds,
        }
    }

    /// Its strays (the same in every mode), under hints.
    fn strays(&self) -> usize {
        self.modes.first().map_or(0, |r| r.repairs.strays)
    }

    /// A parallel run's scheduling time as a share of plain revm's time.
    fn schedule_share(&self, phases: &Phases) -> f64 {
        phases.schedule.as_secs_f64() / self.plain.as_secs_f64()
    }
}

impl Bench {
    pub(crate) fn execute(self) -> Result<ExitCode, String> {
        let modes: Vec<(&'static str, Option<ParallelMode>)> = match self.mode {
            BenchMode::Waves => vec![("waves", Some(ParallelMode::Waves))],
            BenchMode::Dag => vec![("dag", Some(ParallelMode::Dag))],
            BenchMode::Bal => vec![("bal", None)],
            BenchMode::All => {
                vec![("waves", Some(ParallelMode::Waves)), ("dag", Some(ParallelMode::Dag)), ("bal", None)]
            }
        };
        // The contenders for each way of taking declarations, made when a
        // block first needs them.
        let contenders = |declarations: Declarations| {
            modes
                .iter()
                .map(|&(name, mode)| {
                    let contender = match mode {
                        Some(mode) => {
                            let executor = ParallelExecutor::new(self.threads)?
                                .with_mode(mode)
                                .with_access_record(self.record_access)
                                .with_declarations(declarations);
                            Contender::Declared(Box::new(executor))
                        }
                        None => Contender::Bal(BalExecutor::new(self.threads)?.with_declarations(declarations)),
                    };
                    Ok((name, contender))
                })
                .collect::<Result<Vec<_>, defivm::vm::VmError>>()
                .map_err(|e| e.to_string())
        };
        let (mut strict, mut hints) = (None, None);
        let blocks: Vec<Source<'_>> = match self.fixture.as_slice() {
            [] => self.hot.iter().map(|&hot| Source::Generated { hot }).collect(),
            paths => paths.iter().map(|path| Source::Fixture(path)).collect(),
        };
        let many = blocks.len() > 1 && !self.fixture.is_empty();
        if self.record_access && !self.json {
            println!("every mode records what each block accessed (--record-access)");
        }
        let codes = Codes::new();
        let mut measured = Vec::new();
        for source in blocks {
            let (label, state, env, txs, declarations) = self.block(source, &codes)?;
            let executors = match declarations {
                Declarations::Strict => &mut strict,
                Declarations::Hints => &mut hints,
            };
            if executors.is_none() {
                *executors = Some(contenders(declarations)?);
            }
            let executors = executors.as_deref().unwrap_or_default();
            let m = self.measure(label, source.hot(), (&state, &env, &txs), declarations, executors)?;
            if !self.json {
                if many {
                    print_row(&m, measured.is_empty());
                } else {
                    print_table(&m, self.threads, self.repeat);
                }
            }
            measured.push(m);
        }
        if many && !self.json {
            print_totals(&measured, self.threads, self.repeat);
        }
        if self.json {
            println!("{}", self.to_json(&measured));
        }
        if let Some(path) = &self.plot {
            let points: Vec<Point> = measured.iter().map(point).collect();
            let title = format!(
                "defivm bench: {}, {} txs, {} threads",
                measured.first().map_or("", |m| m.label.as_str()),
                self.txs,
                self.threads
            );
            plot::render(path, &title, &points)?;
            if !self.json {
                println!("wrote {}", path.display());
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    fn measure(
        &self,
        label: String,
        hot: Option<f64>,
        (state, env, txs): (&State, &BlockEnv, &[Transaction]),
        declarations: Declarations,
        executors: &[(&'static str, Contender)],
    ) -> Result<Measured, String> {
        let rounds = self.repeat.max(1);
        let progress = ProgressBar::new(((1 + executors.len()) * rounds + 1) as u64);
        let sequential =
            SequentialExecutor::new().with_access_record(self.record_access).with_declarations(declarations);
        let expected = sequential.execute(state, env, txs).map_err(|e| e.to_string())?;
        // The block's access list, for bal mode: as a block carries it, and
        // decoded as its transactions are, so made before the timing.
        let access = if executors.iter().any(|(_, c)| matches!(c, Contender::Bal(_))) {
            let record = sequential.with_access_record(true).execute(state, env, txs);
            Some(record.map_err(|e| e.to_string())?.access)
        } else {
            None
        };
        // A warm-up run of each mode, checked too: the first block an
        // executor sees also allocates the buffers it keeps.
        for (name, executor) in executors {
            let (outcome, _, _) = executor.run(state, env, txs, executor.input(access.as_ref()))?;
            if !executor.agrees(&outcome, &expected) {
                return Err(format!("{name} mode disagrees with the sequential executor"));
            }
        }
        progress.inc(1);
        let mut plain = Duration::MAX;
        let mut best: Vec<Option<ModeRun>> = executors.iter().map(|_| None).collect();
        for _ in 0..rounds {
            let mut revm = PlainRevm::new(state);
            let start = Instant::now();
            let receipts = revm.execute(env, txs).map_err(|e| format!("plain revm: {e}"))?;
            plain = plain.min(start.elapsed());
            progress.inc(1);
            if receipts != expected.receipts {
                return Err("the sequential executor and plain revm disagree".into());
            }
            // Each contender runs with the previous one's memory freed, as
            // a node would run block after block; plain revm's database
            // held across the next run would push that run onto fresh pages.
            drop((revm, receipts));
            for ((name, executor), best) in executors.iter().zip(&mut best) {
                let input = executor.input(access.as_ref());
                let start = Instant::now();
                let (outcome, phases, spent) = executor.run(state, env, txs, input)?;
                let time = start.elapsed();
                drop(spent);
                progress.inc(1);
                if !executor.agrees(&outcome, &expected) {
                    return Err(format!("{name} mode disagrees with the sequential executor"));
                }
                if best.as_ref().is_none_or(|b| time < b.time) {
                    *best = Some(ModeRun { name, time, phases, repairs: outcome.repairs });
                }
            }
        }
        progress.finish_and_clear();
        let gas: Vec<u64> = expected.receipts.iter().map(|r| r.gas_used).collect();
        let sets: Vec<_> = txs.iter().map(Transaction::full_access).collect();
        let graph = LockGraph::from_access_sets(&sets, Limits::default()).map_err(|e| e.to_string())?;
        let bound = ScheduleStats::new(&graph, &gas).speedup_bound(self.threads);
        let bal_bound = access.is_some().then(|| independent_bound(&gas, self.threads));
        // The path the first mode's best run took.
        let plan = best.first().and_then(|b| b.as_ref()).map_or(Plan::Parallel, |run| run.phases.plan);
        Ok(Measured {
            label,
            hot,
            txs: txs.len(),
            gas: gas.iter().sum(),
            bound,
            bal_bound,
            plan,
            declarations,
            plain,
            modes: best.into_iter().flatten().collect(),
        })
    }

    fn to_json(&self, measured: &[Measured]) -> serde_json::Value {
        let blocks: Vec<_> = measured
            .iter()
            .map(|m| {
                let row = |mode: &str, time: Duration, phases: Option<&Phases>, repairs: Option<Repairs>| {
                    let f = m.figures(time);
                    let mut row = json!({
                        "mode": mode,
                        "tps": f.tps,
                        "mgas_per_s": f.mgas_per_s,
                        "speedup": f.speedup,
                        "seconds": f.seconds,
                    });
                    if m.declarations == Declarations::Hints {
                        row["reexecuted"] = json!(repairs.map_or(0, |r| r.reexecuted));
                    }
                    if let Some(p) = phases {
                        row["phases"] = json!({
                            "prepare": p.prepare.as_secs_f64(),
                            "schedule": p.schedule.as_secs_f64(),
                            "execute": p.execute.as_secs_f64(),
                            "finish": p.finish.as_secs_f64(),
                        });
                        row["schedule_share"] = json!(m.schedule_share(p));
                    }
                    row
                };
                let mut modes = vec![row("sequential", m.plain, None, None)];
                modes.extend(m.modes.iter().map(|r| row(r.name, r.time, Some(&r.phases), Some(r.repairs))));
                let hints = m.declarations == Declarations::Hints;
                json!({
                    "declarations": if hints { "hints" } else { "strict" },
                    "strays": hints.then(|| m.strays()),
                    "label": m.label,
                    "hot": m.hot,
                    "txs": m.txs,
                    "gas": m.gas,
                    "bound": m.bound,
                    "balBound": m.bal_bound,
                    "plan": m.plan.to_string(),
                    "modes": modes,
                })
            })
            .collect();
        let totals: Vec<_> = totals(measured)
            .iter()
            .map(|t| json!({ "mode": t.name, "seconds": t.seconds, "speedup": t.speedup, "reexecuted": t.reexecuted }))
            .collect();
        json!({
            "workload": measured.first().map(|m| m.label.clone()),
            "threads": self.threads,
            "rounds": self.repeat.max(1),
            "recordAccess": self.record_access,
            "blocks": blocks,
            "totals": totals,
        })
    }

    /// The block to measure, a name for it, and what its declarations are
    /// taken as.
    fn block(&self, source: Source<'_>, codes: &Codes) -> Result<Block, String> {
        let chosen = self.declarations.map(Declarations::from);
        match source {
            Source::Fixture(path) => {
                let fixture = LoadedFixture::load_with(path, codes).map_err(|e| e.to_string())?;
                let declarations = chosen.unwrap_or(fixture.declarations);
                Ok((path.display().to_string(), fixture.state, fixture.env, fixture.txs, declarations))
            }
            Source::Generated { hot } => {
                let workload = self.workload.ok_or("give --workload or --fixture")?;
                let users = self.users.unwrap_or_else(|| bench_users(self.txs));
                let spec = self.shape.spec(workload, self.txs, users, hot);
                let block = generate(&spec).map_err(|e| e.to_string())?;
                let declarations = chosen.unwrap_or_default();
                Ok((workload.to_string(), block.world.state, block.env, block.txs, declarations))
            }
        }
    }
}

/// A block to measure: its name, state, environment and transactions, and
/// what its declarations are taken as.
type Block = (String, State, BlockEnv, Vec<Transaction>, Declarations);

/// Where a measured block comes from.
#[derive(Debug, Clone, Copy)]
enum Source<'a> {
    /// A recorded fixture.
    Fixture(&'a Path),
    /// A block of the chosen workload at this hotness.
    Generated { hot: f64 },
}

impl Source<'_> {
    /// The hotness of a generated block.
    fn hot(self) -> Option<f64> {
        match self {
            Source::Fixture(_) => None,
            Source::Generated { hot } => Some(hot),
        }
    }
}

fn point(m: &Measured) -> Point {
    Point {
        hot: m.hot.unwrap_or_default(),
        bound: m.bound,
        plain_tps: m.figures(m.plain).tps,
        modes: m.modes.iter().map(|r| (r.name, m.figures(r.time).tps)).collect(),
    }
}

fn print_table(m: &Measured, threads: usize, rounds: usize) {
    let hot = m.hot.map(|h| format!(", hot {h}")).unwrap_or_default();
    let bal = m.bal_bound.map(|b| format!("; bal bound {b:.2}x")).unwrap_or_default();
    println!(
        "{}: {} txs{hot}, {threads} threads, best of {}; bound {:.2}x (gas-weighted){bal}",
        m.label,
        m.txs,
        rounds.max(1),
        m.bound
    );
    println!(
        "  {:<24} {:>10} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "mode", "tx/s", "Mgas/s", "seconds", "speedup", "prepare", "schedule", "execute", "finish"
    );
    let line = |name: &str, time: Duration, phases: Option<&Phases>| {
        let f = m.figures(time);
        let ms = |d: Duration| format!("{:.1}ms", d.as_secs_f64() * 1e3);
        let [a, b, c, d] =
            phases.map_or(Default::default(), |p| [ms(p.prepare), ms(p.schedule), ms(p.execute), ms(p.finish)]);
        println!(
            "  {:<24} {:>10.0} {:>9.1} {:>8.3} {:>7.2}x {:>9} {:>9} {:>9} {:>9}",
            name, f.tps, f.mgas_per_s, f.seconds, f.speedup, a, b, c, d
        );
    };
    line("sequential (plain revm)", m.plain, None);
    for r in &m.modes {
        line(r.name, r.time, Some(&r.phases));
    }
    let shares: Vec<String> =
        m.modes.iter().map(|r| format!("{} {:.1}%", r.name, 100.0 * m.schedule_share(&r.phases))).collect();
    println!("  scheduling, as a share of plain revm's time: {}", shares.join(", "));
    if m.declarations == Declarations::Hints {
        let again: Vec<String> = m.modes.iter().map(|r| format!("{} {}", r.name, r.repairs.reexecuted)).collect();
        println!("  declarations as hints: {} strays; run again: {}", m.strays(), again.join(", "));
    }
    println!("  path: {}", m.plan);
}

/// A contender's time over every measured block.
#[derive(Debug)]
struct Total {
    name: &'static str,
    seconds: f64,
    /// Plain revm's total time over this one's.
    speedup: f64,
    /// Transactions it ran again.
    reexecuted: usize,
}

/// Plain revm's total, then each mode's: the sums of the blocks' best runs.
fn totals(measured: &[Measured]) -> Vec<Total> {
    let plain: f64 = measured.iter().map(|m| m.plain.as_secs_f64()).sum();
    let mut totals = vec![Total { name: "sequential", seconds: plain, speedup: 1.0, reexecuted: 0 }];
    for (i, run) in measured.first().map(|m| m.modes.as_slice()).unwrap_or_default().iter().enumerate() {
        let seconds: f64 = measured.iter().map(|m| m.modes[i].time.as_secs_f64()).sum();
        let reexecuted = measured.iter().map(|m| m.modes[i].repairs.reexecuted).sum();
        totals.push(Total { name: run.name, seconds, speedup: plain / seconds, reexecuted });
    }
    totals
}

/// The bound of the blocks together: their sequential cost over the sum of
/// each block's least possible time, gas-weighted like each block's bound.
fn total_bound(measured: &[Measured]) -> f64 {
    let gas: f64 = measured.iter().map(|m| m.gas as f64).sum();
    let least: f64 = measured.iter().map(|m| m.gas as f64 / m.bound).sum();
    if least == 0.0 { 1.0 } else { gas / least }
}

/// Bal mode's bound over many blocks, as [`total_bound`].
fn total_bal_bound(measured: &[Measured]) -> Option<f64> {
    let gas: f64 = measured.iter().map(|m| m.gas as f64).sum();
    let least: Option<f64> = measured.iter().map(|m| Some(m.gas as f64 / m.bal_bound?)).sum();
    least.map(|least| if least == 0.0 { 1.0 } else { gas / least })
}

/// One block's line in a many-block table.
fn print_row(m: &Measured, first: bool) {
    if first {
        let names: Vec<String> = m.modes.iter().map(|r| format!("{:>8}", r.name)).collect();
        let header = format!("{:<40} {:>6} {:>11} {:>10} {}", "block", "txs", "gas", "plain ms", names.join(" "));
        let bal = if m.bal_bound.is_some() { format!(" {:>6}", "bal b.") } else { String::new() };
        println!("{header} {:>6}{bal}  path", "bound");
    }
    let speedups: Vec<String> = m.modes.iter().map(|r| format!("{:>7.2}x", m.figures(r.time).speedup)).collect();
    let plain = m.plain.as_secs_f64() * 1e3;
    let path = match m.plan {
        Plan::Parallel => "parallel",
        Plan::Sequential(_) => "sequential",
    };
    let row = format!("{:<40} {:>6} {:>11} {:>10.3} {}", m.label, m.txs, m.gas, plain, speedups.join(" "));
    let bal = m.bal_bound.map(|b| format!(" {b:>5.2}x")).unwrap_or_default();
    let hints = match m.declarations {
        Declarations::Hints => {
            let again = m.modes.iter().map(|r| r.repairs.reexecuted).max().unwrap_or_default();
            format!("  hints: {} strays, {again} run again", m.strays())
        }
        Declarations::Strict => String::new(),
    };
    println!("{row} {:>5.2}x{bal}  {path}{hints}", m.bound);
}

/// Each mode's total over many blocks, and the lowest block.
fn print_totals(measured: &[Measured], threads: usize, rounds: usize) {
    let bal = total_bal_bound(measured).map(|b| format!("; bal bound {b:.2}x")).unwrap_or_default();
    println!(
        "total over {} blocks, {threads} threads, best of {} per block; bound {:.2}x (gas-weighted){bal}",
        measured.len(),
        rounds.max(1),
        total_bound(measured)
    );
    for (i, total) in totals(measured).iter().enumerate() {
        let worst = (i > 0)
            .then(|| {
                measured
                    .iter()
                    .map(|m| (m.figures(m.modes[i - 1].time).speedup, &m.label))
                    .min_by(|a, b| a.0.total_cmp(&b.0))
            })
            .flatten()
            .map(|(s, label)| format!("; lowest block {s:.2}x ({label})"))
            .unwrap_or_default();
        println!("  {:<24} {:>9.3} s {:>7.2}x{worst}", total.name, total.seconds, total.speedup);
    }
    if measured.iter().any(|m| m.declarations == Declarations::Hints) {
        let strays: usize = measured.iter().map(Measured::strays).sum();
        let again: Vec<String> =
            totals(measured).iter().skip(1).map(|t| format!("{} {}", t.name, t.reexecuted)).collect();
        println!("  declarations as hints: {strays} strays; run again: {}", again.join(", "));
    }
}
