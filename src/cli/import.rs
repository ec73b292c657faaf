//! `defivm import`: recorded mainnet blocks, verified against their
//! headers, written as fixtures that declare what each transaction touches.

use clap::Args;
use defivm::ethereum::{ImportedBlock, MainnetSource, import};
use defivm::fixture::{CodeFile, Fixture, HeaderJson};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

/// Import recorded mainnet blocks (the layout of `shared/mainnet`) as fixtures, each verified against its header.
#[derive(Debug, Args)]
pub(crate) struct Import {
    /// A folder holding `blocks/`, `codes.json.gz` and `block_hashes.json`, or one block file in its `blocks/`.
    source: PathBuf,
    /// The folder to write one fixture per block into, `<number>.json.gz`.
    #[arg(short, long)]
    output: PathBuf,
    /// The code file the fixtures share (default: `<output>.codes.json.gz`, beside the folder, so that the folder holds blocks only).
    #[arg(long)]
    codes: Option<PathBuf>,
}

impl Import {
    pub(crate) fn execute(self) -> Result<ExitCode, String> {
        let (source, files) = MainnetSource::open(&self.source).map_err(|e| e.to_string())?;
        // Every block is read, run and verified before anything is written:
        // a bad block leaves the output as it was.
        let imported: Vec<ImportedBlock> = files
            .par_iter()
            .map(|file| source.block(file).and_then(import))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let codes_path = self.codes.clone().unwrap_or_else(|| {
            let mut name = self.output.file_name().unwrap_or_default().to_os_string();
            name.push(".codes.json.gz");
            self.output.with_file_name(name)
        });
        for dir in [Some(self.output.as_path()), codes_path.parent()].into_iter().flatten() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
        }
        let reference = relative(&self.output, &codes_path)?;
        // A code file other fixtures may share keeps what it holds.
        let mut codes = BTreeMap::new();
        if codes_path.exists() {
            codes.extend(CodeFile::load(&codes_path).map_err(|e| e.to_string())?.entries());
        }
        // Written beside their names first, then renamed into place, so that
        // a failed write leaves no fixture half-made.
        let mut written = Vec::new();
        for ImportedBlock { block, outcome } in &imported {
            let name = format!("mainnet block {}", block.number);
            let mut fixture = Fixture::new(&name, &block.state, &block.env, &block.txs, Some(outcome));
            fixture.header = Some(HeaderJson::new(block.number, &block.header));
            fixture.share_codes(&reference, &mut codes);
            let path = self.output.join(format!("{}.json.gz", block.number));
            let partial = partial_name(&path);
            fixture.save(&partial).map_err(|e| e.to_string())?;
            written.push((partial, path));
        }
        let partial = partial_name(&codes_path);
        CodeFile::save(&partial, &codes).map_err(|e| e.to_string())?;
        written.push((partial, codes_path.clone()));
        for (partial, path) in written {
            std::fs::rename(&partial, &path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let txs: usize = imported.iter().map(|b| b.block.txs.len()).sum();
        println!(
            "imported {} blocks ({txs} transactions), each verified against its header, into {} ({} shared codes in {})",
            imported.len(),
            self.output.display(),
            codes.len(),
            codes_path.display()
        );
        Ok(ExitCode::SUCCESS)
    }
}

/// Where `path` is written before it is renamed into place: the same
/// folder, a `.partial` name (still gzip by its `.gz` ending).
fn partial_name(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.partial.gz"))
}

/// `file` as a path relative to the folder `dir` (both exist), with `/`
/// between its parts, as a fixture names its code file.
fn relative(dir: &Path, file: &Path) -> Result<String, String> {
    let absolute = |p: &Path| std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()));
    let (dir, file) = (absolute(dir)?, absolute(file)?);
    let (dir, file) = (normalized(&dir), normalized(&file));
    let common = dir.iter().zip(&file).take_while(|(a, b)| a == b).count();
    let ups = std::iter::repeat_n("..".to_string(), dir.len() - common);
    let downs = file[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned());
    Ok(ups.chain(downs).collect::<Vec<_>>().join("/"))
}

/// `path`'s parts with `.` and `..` resolved.
fn normalized(path: &Path) -> Vec<Component<'_>> {
    let mut parts = Vec::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts
}
