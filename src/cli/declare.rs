//! `defivm declare`: each transaction's declaration derived by simulation,
//! written into a copy of the fixture.

use clap::Args;
use defivm::fixture::Fixture;
use defivm::vm::{AccessSet, Declarer, StateKey, Transaction};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Derive each transaction's declaration by simulating it, and write the fixture with them in place of its own.
#[derive(Debug, Args)]
pub(crate) struct Declare {
    /// The fixture whose transactions to declare (their own declarations are ignored).
    input: PathBuf,
    /// Where to write the fixture with the derived declarations (`.gz`: compressed); its code is taken into it.
    #[arg(short, long)]
    output: PathBuf,
    /// Simulate each transaction on the state the ones before it leave: exact for this block, and sequential. By default each runs on the block's pre-state, all at once.
    #[arg(long)]
    prefix: bool,
    /// Threads the simulations on the pre-state run on.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Also print each transaction's keys (declared and implied) as an EIP-2930 access list, as JSON.
    #[arg(long)]
    access_list: bool,
}

impl Declare {
    pub(crate) fn execute(self) -> Result<ExitCode, String> {
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", self.input.display());
        let mut fixture = Fixture::load(&self.input).map_err(|e| e.to_string())?;
        let (state, env, txs) = fixture.block(&self.input).map_err(|e| e.to_string())?;
        let declarer = Declarer::new(self.threads).map_err(|e| at(&e))?.with_prefix(self.prefix);
        let start = Instant::now();
        let declarations = declarer.declare(&state, &env, &txs).map_err(|e| at(&e))?;
        let took = start.elapsed();
        fixture.inline_codes(&self.input).map_err(|e| e.to_string())?;
        fixture.set_declarations(&declarations);
        fixture.save(&self.output).map_err(|e| e.to_string())?;
        let against = if self.prefix {
            "the prefix, sequentially".to_string()
        } else {
            format!("the pre-state on {} threads", declarer.threads())
        };
        let keys: usize = declarations.iter().map(|d| d.reads().len() + d.writes().len()).sum();
        let summary = format!(
            "{}: {} transactions declared against {against} in {:.1} ms ({:.0} tx/s), {keys} keys beyond the implied; written to {}",
            self.input.display(),
            txs.len(),
            took.as_secs_f64() * 1e3,
            txs.len() as f64 / took.as_secs_f64().max(f64::MIN_POSITIVE),
            self.output.display(),
        );
        if self.access_list {
            // Standard output is the JSON; the summary goes beside it.
            eprintln!("{summary}");
            let lists: Vec<_> = txs.iter().zip(&declarations).map(|(tx, d)| access_list(tx, d)).collect();
            println!("{}", serde_json::to_string_pretty(&lists).map_err(|e| e.to_string())?);
        } else {
            println!("{summary}");
        }
        Ok(ExitCode::SUCCESS)
    }
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
