//! `defivm declare`: each transaction's declaration derived by simulation,
//! written into a copy of the fixture.

use clap::Args;
use defivm::fixture::{Codes, DeclarationsJson, Fixture};
use defivm::vm::{AccessSet, Declarer, StateKey, Transaction};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Derive each transaction's declaration by simulating it, and write the fixture with them in place of its own.
#[derive(Debug, Args)]
pub(crate) struct Declare {
    /// The fixtures whose transactions to declare (their own declarations are ignored).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Where to write the fixture with the derived declarations (`.gz`: compressed), its code taken into it; with several inputs, a folder to write each into under its own name.
    #[arg(short, long)]
    output: PathBuf,
    /// Simulate each transaction on the state the ones before it leave: exact for this block, and sequential. By default each runs on the block's pre-state, all at once.
    #[arg(long)]
    prefix: bool,
    /// Threads the simulations on the pre-state run on.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Also print each transaction's keys (declared and implied) as an EIP-2930 access list, as JSON (one input only).
    #[arg(long)]
    access_list: bool,
}

/// One input, declared.
struct Declared {
    input: PathBuf,
    fixture: Fixture,
    txs: Vec<Transaction>,
    declarations: Vec<AccessSet<StateKey>>,
    took: Duration,
}

impl Declare {
    pub(crate) fn execute(self) -> Result<ExitCode, String> {
        let several = self.inputs.len() > 1;
        if several && self.access_list {
            return Err("--access-list takes one input".into());
        }
        let declarer = Declarer::new(self.threads).map_err(|e| e.to_string())?.with_prefix(self.prefix);
        let output = |input: &Path| match input.file_name() {
            Some(name) if several => Ok(self.output.join(name)),
            None if several => Err(format!("{}: not a file", input.display())),
            _ => Ok(self.output.clone()),
        };
        let mut outputs = std::collections::HashMap::new();
        for input in &self.inputs {
            if let Some(other) = outputs.insert(output(input)?, input) {
                return Err(format!("{} and {} would both be written to one file", other.display(), input.display()));
            }
        }
        // Every input is declared before anything is written: one that
        // cannot be leaves the output as it was.
        let codes = Codes::new();
        let declared =
            self.inputs.iter().map(|input| declare(&declarer, input, &codes)).collect::<Result<Vec<_>, _>>()?;
        if several {
            std::fs::create_dir_all(&self.output).map_err(|e| format!("{}: {e}", self.output.display()))?;
        }
        let against = if self.prefix {
            "the prefix, sequentially".to_string()
        } else {
            format!("the pre-state on {} threads", declarer.threads())
        };
        let rate = |txs: usize, took: Duration| txs as f64 / took.as_secs_f64().max(f64::MIN_POSITIVE);
        let mut summary = Vec::new();
        for Declared { input, fixture, txs, declarations, took } in &declared {
            let path = output(input)?;
            fixture.save(&path).map_err(|e| e.to_string())?;
            let keys: usize = declarations.iter().map(|d| d.reads().len() + d.writes().len()).sum();
            summary.push(format!(
                "{}: {} transactions declared against {against} in {:.1} ms ({:.0} tx/s), {keys} keys beyond the implied; written to {}",
                input.display(),
                txs.len(),
                took.as_secs_f64() * 1e3,
                rate(txs.len(), *took),
                path.display(),
            ));
        }
        if several {
            let txs: usize = declared.iter().map(|d| d.txs.len()).sum();
            let took: Duration = declared.iter().map(|d| d.took).sum();
            summary.push(format!(
                "{} fixtures: {txs} transactions declared in {:.1} ms ({:.0} tx/s)",
                declared.len(),
                took.as_secs_f64() * 1e3,
                rate(txs, took)
            ));
        }
        let summary = summary.join("\n");
        if let (true, [Declared { txs, declarations, .. }]) = (self.access_list, declared.as_slice()) {
            // Standard output is the JSON; the summary goes beside it.
            eprintln!("{summary}");
            let lists: Vec<_> = txs.iter().zip(declarations).map(|(tx, d)| access_list(tx, d)).collect();
            println!("{}", serde_json::to_string_pretty(&lists).map_err(|e| e.to_string())?);
        } else {
            println!("{summary}");
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `input`'s declarations derived by `declarer`, put in its fixture (its
/// code taken into it, from `codes`, the code files read so far); the time
/// is the derivation's alone.
fn declare(declarer: &Declarer, input: &Path, codes: &Codes) -> Result<Declared, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", input.display());
    let mut fixture = Fixture::load(input).map_err(|e| e.to_string())?;
    // The code in the fixture first: the block is then read from it alone.
    fixture.inline_codes(input, codes).map_err(|e| e.to_string())?;
    let (state, env, txs) = fixture.block(input).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let declarations = declarer.declare(&state, &env, &txs).map_err(|e| at(&e))?;
    let took = start.elapsed();
    fixture.set_declarations(&declarations, DeclarationsJson::Hints);
    Ok(Declared { input: input.to_path_buf(), fixture, txs, declarations, took })
}

/// Every key `tx` touches under `declaration`, implied ones included, as
/// an EIP-2930 access list: one entry per account, its slots sorted.
fn access_list(tx: &Transaction, declaration: &AccessSet<StateKey>) -> alloy_eips::eip2930::AccessList {
    use alloy_eips::eip2930::{AccessList, AccessListItem};
    use std::collections::BTreeMap;
    let mut accounts: BTreeMap<_, Vec<_>> = BTreeMap::new();
    let mut add = |key: StateKey| {
        let slots = accounts.entry(key.address()).or_default();
        if let StateKey::Storage(_, slot) = key {
            slots.push(slot.into());
        }
    };
    tx.implied_access_each(|key, _| add(key));
    declaration.reads().iter().chain(declaration.writes()).for_each(|&key| add(key));
    AccessList(
        accounts
            .into_iter()
            .map(|(address, mut storage_keys)| {
                storage_keys.sort_unstable();
                storage_keys.dedup();
                AccessListItem { address, storage_keys }
            })
            .collect(),
    )
}
