//! `defivm import`: recorded mainnet blocks, verified against their
//! headers, written as fixtures that declare what each transaction touches.

use clap::Args;
use defivm::ethereum::{ImportedBlock, MainnetSource, import};
use defivm::fixture::{CodeFile, Fixture, HeaderJson};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// The code file the imported fixtures share, in the output folder.
const CODES: &str = "codes.json.gz";

/// Import recorded mainnet blocks (the layout of `shared/mainnet`) as fixtures, each verified against its header.
#[derive(Debug, Args)]
pub(crate) struct Import {
    /// A folder holding `blocks/`, `codes.json.gz` and `block_hashes.json`, or one block file in its `blocks/`.
    source: PathBuf,
    /// The folder to write `<number>.json.gz` per block and the code they share (`codes.json.gz`) into.
    #[arg(short, long)]
    output: PathBuf,
}

impl Import {
    pub(crate) fn execute(self) -> Result<ExitCode, String> {
        let (source, files) = MainnetSource::open(&self.source).map_err(|e| e.to_string())?;
        // Every block is read, run and verified before anything is written:
        // a bad block leaves the output folder as it was.
        let imported: Vec<ImportedBlock> = files
            .par_iter()
            .map(|file| source.block(file).and_then(import))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&self.output).map_err(|e| format!("{}: {e}", self.output.display()))?;
        let mut codes = BTreeMap::new();
        for ImportedBlock { block, outcome } in &imported {
            let name = format!("mainnet block {}", block.number);
            let mut fixture = Fixture::new(&name, &block.state, &block.env, &block.txs, Some(outcome));
            fixture.header = Some(HeaderJson::new(block.number, &block.header));
            fixture.share_codes(CODES, &mut codes);
            let path = self.output.join(format!("{}.json.gz", block.number));
            fixture.save(&path).map_err(|e| e.to_string())?;
        }
        CodeFile::save(&self.output.join(CODES), &codes).map_err(|e| e.to_string())?;
        let txs: usize = imported.iter().map(|b| b.block.txs.len()).sum();
        println!(
            "imported {} blocks ({txs} transactions), each verified against its header, into {} ({} shared codes)",
            imported.len(),
            self.output.display(),
            codes.len()
        );
        Ok(ExitCode::SUCCESS)
    }
}
