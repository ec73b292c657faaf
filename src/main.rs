//! The `defivm` command line: generate workloads into fixtures, replay
//! fixtures in every execution mode, show a block's schedule, and measure
//! throughput. One file per subcommand in `src/cli/`.

use clap::{Parser, Subcommand};
use cli::memory::Freed;
use std::process::ExitCode;

mod cli;

/// mimalloc rather than the system allocator: the parallel modes allocate
/// receipts, logs and writes on several threads at once. Measured in the
/// README's results (allocator A/B).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A parallel EVM for DeFi: declared access, a lock-graph scheduler, revm on many threads.
#[derive(Debug, Parser)]
#[command(name = "defivm", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a DeFi workload and record it, with its sequential outcome, as a fixture.
    Generate(cli::generate::Generate),
    /// Import recorded mainnet blocks as fixtures, each verified against its header.
    Import(cli::import::Import),
    /// Replay fixtures in one or every mode and check them against their recorded outcome.
    Replay(cli::replay::Replay),
    /// Show a fixture's waves, critical path, speedup bound and conflict hot spots.
    Schedule(cli::schedule::Schedule),
    /// Measure plain sequential revm and each parallel mode on the same block.
    Bench(cli::bench::Bench),
    /// Show a fixture's EIP-7928 block access list.
    Bal(cli::bal::Bal),
    /// Derive each transaction's declaration by simulation, and write the fixture with them.
    Declare(cli::declare::Declare),
}

fn main() -> ExitCode {
    let command = Cli::parse().command;
    // One-shot commands want a low peak; the benchmark, a node's steady state.
    cli::memory::set(match command {
        Command::Bench(_) => Freed::Keep,
        _ => Freed::Return,
    });
    let result = match command {
        Command::Generate(cmd) => cmd.execute(),
        Command::Import(cmd) => cmd.execute(),
        Command::Replay(cmd) => cmd.execute(),
        Command::Schedule(cmd) => cmd.execute(),
        Command::Bench(cmd) => cmd.execute(),
        Command::Bal(cmd) => cmd.execute(),
        Command::Declare(cmd) => cmd.execute(),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
