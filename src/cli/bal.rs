//! `defivm bal`: a fixture's EIP-7928 block access list.

use clap::Args;
use defivm::ethereum::{bal_hash, bal_to_json, block_access_list};
use defivm::fixture::LoadedFixture;
use defivm::vm::SequentialExecutor;
use std::path::PathBuf;
use std::process::ExitCode;

/// Show a fixture's block access list: a summary, or the list as JSON. A
/// fixture that records none has it computed by the sequential executor.
#[derive(Debug, Args)]
pub(crate) struct Bal {
    /// The fixture.
    file: PathBuf,
    /// Print the list (with its hash) as JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

impl Bal {
    pub(crate) fn execute(self) -> Result<ExitCode, String> {
        let fixture = LoadedFixture::load(&self.file).map_err(|e| e.to_string())?;
        let (list, source) = match fixture.block_access_list {
            Some(list) => (list, "recorded in the fixture"),
            None => {
                let executor = SequentialExecutor::new().with_access_record(true);
                let outcome = executor
                    .execute(&fixture.state, &fixture.env, &fixture.txs)
                    .map_err(|e| format!("{}: {e}", self.file.display()))?;
                (block_access_list(&outcome.access), "computed by the sequential executor")
            }
        };
        let hash = bal_hash(&list);
        if self.json {
            let json = serde_json::json!({ "blockAccessList": bal_to_json(&list), "blockAccessListHash": hash });
            println!("{}", serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?);
            return Ok(ExitCode::SUCCESS);
        }
        let count = |f: fn(&defivm::ethereum::AccountChanges) -> usize| list.iter().map(f).sum::<usize>();
        println!("{}: block access list {source}", self.file.display());
        println!("  hash              {hash}");
        println!("  accounts          {}", list.len());
        println!("  slots changed     {}", count(|a| a.storage_changes.len()));
        println!("  slot changes      {}", count(|a| a.storage_changes.iter().map(|s| s.changes.len()).sum()));
        println!("  slots only read   {}", count(|a| a.storage_reads.len()));
        println!("  balance changes   {}", count(|a| a.balance_changes.len()));
        println!("  nonce changes     {}", count(|a| a.nonce_changes.len()));
        println!("  code changes      {}", count(|a| a.code_changes.len()));
        Ok(ExitCode::SUCCESS)
    }
}
