//! `defivm import` on recorded mainnet blocks (a sample of `shared/mainnet`
//! in `tests/data/mainnet`: a Frontier block, the first Byzantium block and
//! a Cancun block with a blob transaction): it writes the committed fixtures,
//! and bad input is a typed error naming the block and the transaction, a
//! non-zero exit, and nothing written.

use alloy_eips::eip4788::BEACON_ROOTS_CODE;
use alloy_primitives::keccak256;
use defivm::ethereum::{ImportError, MainnetSource, import};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn defivm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_defivm")).args(args).output().expect("the binary runs")
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mainnet")
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("defivm-import-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn json(path: &Path) -> serde_json::Value {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_reader(flate2::read::GzDecoder::new(file)).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn importing_the_sample_writes_the_committed_fixtures() {
    // Laid out as the committed ones: the blocks in `mainnet/`, their code
    // in `code/mainnet.json.gz`.
    let base = temp("sample");
    let (out, codes) = (base.join("mainnet"), base.join("code/mainnet.json.gz"));
    let source = sample();
    let args = ["import", source.to_str().unwrap(), "-o", out.to_str().unwrap(), "--codes", codes.to_str().unwrap()];
    let run = defivm(&args);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(text(&run.stdout).starts_with("imported 3 blocks (122 transactions)"), "{}", text(&run.stdout));
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mainnet");
    for number in [46147, 4370000, 19923400] {
        let name = format!("{number}.json.gz");
        assert_eq!(json(&out.join(&name)), json(&committed.join(&name)), "{name}");
    }
    // The shared code file holds exactly the code these blocks run: the
    // source's, and the beacon roots contract the Cancun block's system
    // call runs (which its pre-state, of what transactions touched, lacks).
    let keys = |v: serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<std::collections::BTreeSet<_>>();
    let mut expected = keys(json(&sample().join("codes.json.gz")));
    expected.insert(keccak256(&BEACON_ROOTS_CODE).to_string());
    assert_eq!(keys(json(&codes)), expected);

    // One block file alone: its folder's shared files are found; the code
    // file goes beside the output folder by default, which then holds
    // blocks only.
    let one = temp("one");
    let file = sample().join("blocks/46147.json.gz");
    let run = defivm(&["import", file.to_str().unwrap(), "-o", one.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let fixture = json(&one.join("46147.json.gz"));
    let name = one.file_name().unwrap().to_str().unwrap();
    assert_eq!(fixture["codes"].as_str(), Some(format!("../{name}.codes.json.gz").as_str()));
    assert_eq!(std::fs::read_dir(&one).unwrap().count(), 1);
    let replay = defivm(&["replay", one.join("46147.json.gz").to_str().unwrap()]);
    assert!(replay.status.success(), "{}", text(&replay.stdout));
    std::fs::remove_dir_all(&base).unwrap();
    std::fs::remove_dir_all(&one).unwrap();
    std::fs::remove_file(one.with_file_name(format!("{name}.codes.json.gz"))).unwrap();
}

/// A copy of the sample whose block `number` is `edit`ed.
fn tampered(name: &str, number: u64, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let dir = temp(name);
    std::fs::create_dir_all(dir.join("blocks")).unwrap();
    for file in ["codes.json.gz", "block_hashes.json"] {
        std::fs::copy(sample().join(file), dir.join(file)).unwrap();
    }
    let mut block = json(&sample().join(format!("blocks/{number}.json.gz")));
    edit(&mut block);
    let path = dir.join(format!("blocks/{number}.json.gz"));
    let mut encoder = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), Default::default());
    serde_json::to_writer(&mut encoder, &block).unwrap();
    encoder.finish().unwrap();
    dir
}

/// Imports `source` with the binary and the library: the error both give.
fn failure(source: &Path) -> (String, ImportError) {
    let out = source.join("out");
    let run = defivm(&["import", source.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(!run.status.success());
    assert!(!out.exists() && !source.join("out.codes.json.gz").exists(), "nothing is written when a block fails");
    let stderr = text(&run.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let (source_files, blocks) = MainnetSource::open(source).unwrap();
    let error = blocks.iter().find_map(|b| source_files.block(b).and_then(import).err()).unwrap();
    assert_eq!(stderr.trim_end(), format!("error: {error}"));
    std::fs::remove_dir_all(source).unwrap();
    (stderr, error)
}

#[test]
fn a_pre_state_without_an_account_a_transaction_needs_fails_naming_the_block_and_the_transaction() {
    let source = tampered("no-sender", 46147, |block| {
        let sender = block["block"]["transactions"][0]["from"].as_str().unwrap().to_string();
        block["pre_state"].as_object_mut().unwrap().remove(&sender).unwrap();
    });
    let (stderr, error) = failure(&source);
    assert!(matches!(error, ImportError::Execution { block: 46147, .. }), "{error:?}");
    assert!(stderr.starts_with("error: block 46147: transaction 0 is invalid: "), "{stderr}");
}

#[test]
fn a_code_hash_with_no_code_fails_naming_the_block_and_the_account() {
    let account = "0x03df4c372a29376d2c8df33a1b5f001cd8d68b0e";
    let source = tampered("no-code", 4370000, |block| {
        block["pre_state"][account]["code_hash"] = format!("0x{}", "11".repeat(32)).into();
    });
    let (stderr, error) = failure(&source);
    assert!(matches!(error, ImportError::MissingCode { block: 4370000, .. }), "{error:?}");
    assert!(stderr.contains(&format!("block 4370000: account {}", account.parse::<defivm::vm::Address>().unwrap())));
}

#[test]
fn an_unknown_transaction_type_fails_naming_the_block_and_the_transaction() {
    let source = tampered("type", 19923400, |block| block["block"]["transactions"][3]["type"] = "0x7f".into());
    let (stderr, error) = failure(&source);
    assert!(matches!(error, ImportError::UnknownTxType { block: 19923400, index: 3, .. }), "{error:?}");
    assert_eq!(stderr.trim_end(), "error: block 19923400: transaction 3: unknown transaction type 0x7f");
}

#[test]
fn a_header_field_the_block_does_not_reproduce_fails_naming_the_block_and_the_field() {
    let source = tampered("gas", 4370000, |block| block["block"]["gasUsed"] = "0x1".into());
    let (stderr, _) = failure(&source);
    assert!(stderr.starts_with("error: block 4370000: gasUsed: the header has 0x1, the block computes 0x"), "{stderr}");

    let root = format!("0x{}", "22".repeat(32));
    let source = tampered("root", 4370000, |block| block["block"]["receiptsRoot"] = root.clone().into());
    let (stderr, _) = failure(&source);
    assert!(stderr.starts_with(&format!("error: block 4370000: receiptsRoot: the header has {root}")), "{stderr}");

    // A transaction that is not the one the header committed to.
    let source = tampered("tx", 4370000, |block| block["block"]["transactions"][5]["value"] = "0x1".into());
    let (stderr, _) = failure(&source);
    assert!(stderr.starts_with("error: block 4370000: transactionsRoot: the header has "), "{stderr}");
}
