//! The `defivm` binary end to end: generate, replay (text and JSON), and
//! the errors a person sees for bad input.

use std::path::PathBuf;
use std::process::{Command, Output};

fn defivm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_defivm")).args(args).output().expect("the binary runs")
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("defivm-cli-{}-{name}.json", std::process::id()))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn generate_then_replay_matches_in_every_mode_including_dag() {
    let path = temp("mixed");
    let file = path.to_str().unwrap();
    let out = defivm(&["generate", "--workload", "mixed", "--txs", "120", "--users", "30", "--hot", "0.3", "-o", file]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = defivm(&["replay", file, "--threads", "2"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("[sequential, 1 threads]: match") && stdout.contains("[waves, 2 threads]: match"),
        "{stdout}"
    );

    let out = defivm(&["replay", file, "--mode", "waves", "--threads", "4", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let result = &json["results"][0];
    assert_eq!((result["mode"].as_str(), result["threads"].as_u64()), (Some("waves"), Some(4)));
    assert_eq!((result["matches"].as_bool(), result["txs"].as_u64()), (Some(true), Some(120)));
    assert!(result["tps"].as_f64().unwrap() > 0.0 && result["file"].as_str() == Some(file));

    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_corrupted_fixture_fails_with_the_file_and_the_problem() {
    let path = temp("corrupt");
    let file = path.to_str().unwrap();
    let out = defivm(&["generate", "--workload", "erc20", "--txs", "5", "--users", "4", "-o", file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let good = std::fs::read_to_string(&path).unwrap();

    std::fs::write(&path, good.replacen("\"nonce\": \"0x0\"", "\"nonce\": \"0xq\"", 1)).unwrap();
    let out = defivm(&["replay", file]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with(&format!("error: {file}:")), "{stderr}");

    // A recorded outcome that disagrees: the first differing transaction and field.
    let mut json: serde_json::Value = serde_json::from_str(&good).unwrap();
    json["outcome"]["receipts"][2]["gasUsed"] = "0x1".into();
    std::fs::write(&path, json.to_string()).unwrap();
    let out = defivm(&["replay", file, "--mode", "sequential"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stdout).contains("MISMATCH: transaction 2: gasUsed: expected 1, found "),
        "{}",
        text(&out.stdout)
    );
    std::fs::remove_file(&path).unwrap();

    let out = defivm(&["generate", "--workload", "swaps", "--txs", "5", "-o", file]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unknown workload \"swaps\""), "{}", text(&out.stderr));
}

#[test]
fn schedule_names_the_hot_pool_and_reports_the_bound() {
    let path = temp("schedule");
    let file = path.to_str().unwrap();
    let out = defivm(&["generate", "--workload", "dex", "--txs", "60", "--users", "20", "--hot", "1", "-o", file]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = defivm(&["schedule", file, "--json", "--threads", "4"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["txs"].as_u64(), Some(60));
    // Every swap goes through pool 0: one chain, so no speedup is possible.
    assert_eq!(json["waves"].as_u64(), Some(60));
    assert_eq!(json["bound"].as_f64(), Some(1.0));
    let labels: Vec<&str> =
        json["hot_spots"].as_array().unwrap().iter().map(|h| h["label"].as_str().unwrap()).collect();
    assert!(labels.iter().any(|l| l.starts_with("Pair@") && l.contains("reserve0")), "{labels:?}");
    assert_eq!(json["hot_spots"][0]["txs"].as_u64(), Some(60));

    let out = defivm(&["schedule", file]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("60 transactions in 60 waves") && stdout.contains("speedup bound on 2 threads: 1.00x"),
        "{stdout}"
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn bench_reports_every_mode_with_phases_and_the_bound_as_json_and_plots_them() {
    let plot = std::env::temp_dir().join(format!("defivm-cli-bench-{}.svg", std::process::id()));
    let out = defivm(&[
        "bench",
        "--workload",
        "dex",
        "--txs",
        "80",
        "--users",
        "20",
        "--hot",
        "0,1",
        "--threads",
        "2",
        "--repeat",
        "1",
        "--json",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((json["workload"].as_str(), json["threads"].as_u64()), (Some("dex"), Some(2)));
    let blocks = json["blocks"].as_array().unwrap();
    let hots: Vec<f64> = blocks.iter().map(|b| b["hot"].as_f64().unwrap()).collect();
    assert_eq!(hots, [0.0, 1.0]);
    for block in blocks {
        assert_eq!(block["txs"].as_u64(), Some(80));
        let bound = block["bound"].as_f64().unwrap();
        assert!((1.0..=2.0).contains(&bound), "{bound}");
        let modes: Vec<&str> = block["modes"].as_array().unwrap().iter().map(|m| m["mode"].as_str().unwrap()).collect();
        assert_eq!(modes, ["sequential", "waves", "dag", "bal"]);
        for m in block["modes"].as_array().unwrap() {
            assert!(
                m["tps"].as_f64().unwrap() > 0.0
                    && m["seconds"].as_f64().unwrap() > 0.0
                    && m["speedup"].as_f64().unwrap() > 0.0
            );
        }
        for m in &block["modes"].as_array().unwrap()[1..3] {
            assert!(m["phases"]["execute"].as_f64().unwrap() > 0.0 && m["schedule_share"].as_f64().unwrap() > 0.0);
        }
        // Bal mode schedules nothing.
        let bal = &block["modes"][3];
        assert!(bal["phases"]["execute"].as_f64().unwrap() > 0.0 && bal["schedule_share"].as_f64() == Some(0.0));
    }
    // A pure chain on one pool has no parallelism to offer, but from its
    // block access list no transaction waits.
    assert_eq!(blocks[1]["bound"].as_f64(), Some(1.0));
    assert_eq!(blocks[1]["balBound"].as_f64(), Some(2.0));
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("speedup over plain revm") && svg.contains("dag"), "{svg}");
    std::fs::remove_file(&plot).unwrap();

    let out = defivm(&["bench", "--workload", "dex", "--txs", "10", "--mode", "dag", "--repeat", "1", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let modes: Vec<&str> =
        json["blocks"][0]["modes"].as_array().unwrap().iter().map(|m| m["mode"].as_str().unwrap()).collect();
    assert_eq!(modes, ["sequential", "dag"]);

    // A recorded fixture is measured as it is: one block, no hotness.
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/dex.json.gz");
    let out = defivm(&["bench", "--fixture", fixture, "--mode", "waves", "--repeat", "1", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let blocks = json["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 1);
    assert!(blocks[0]["hot"].is_null() && blocks[0]["txs"].as_u64() == Some(1000), "{}", blocks[0]);
    assert_eq!(json["workload"].as_str(), Some(fixture));
}

#[test]
fn replay_reports_what_it_computed_for_an_ethereum_blocks_header() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/mainnet");
    let (cancun, frontier) = (format!("{dir}/19923400.json.gz"), format!("{dir}/46147.json.gz"));
    let out = defivm(&["replay", &cancun, &frontier, "--threads", "2", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 8, "two blocks, four modes");
    let modes: Vec<&str> = results.iter().map(|r| r["mode"].as_str().unwrap()).collect();
    assert_eq!(modes[..4], ["sequential", "waves", "dag", "bal"]);
    for result in &results[..4] {
        assert_eq!(result["matches"].as_bool(), Some(true));
        let block = &result["block"];
        assert_eq!(block["number"].as_u64(), Some(19_923_400));
        assert_eq!(block["gasUsed"].as_str(), Some("0x18c7f1"));
        assert!(block["receiptsRoot"].as_str().is_some_and(|r| r.len() == 66), "{block}");
        assert!(block["logsBloom"].as_str().is_some_and(|b| b.len() == 2 + 512), "{block}");
    }
    // Before Byzantium there is no receipts root to give.
    assert_eq!(results[4]["block"]["number"].as_u64(), Some(46_147));
    assert!(results[4]["block"]["receiptsRoot"].is_null());
    // A generated block has no header: no `block` object.
    let generated = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/erc20.json.gz");
    let out = defivm(&["replay", generated, "--mode", "sequential", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["results"][0].get("block").is_none());
}

#[test]
fn bench_measures_many_fixtures_with_each_modes_total_and_the_path_each_block_takes() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/mainnet");
    let files = [format!("{dir}/19923400.json.gz"), format!("{dir}/13287210.json.gz")];
    let mut args = vec!["bench", "--threads", "2", "--repeat", "1", "--json", "--fixture"];
    args.extend(files.iter().map(String::as_str));
    let out = defivm(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let blocks = json["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2);
    for block in blocks {
        let modes: Vec<&str> = block["modes"].as_array().unwrap().iter().map(|m| m["mode"].as_str().unwrap()).collect();
        assert_eq!(modes, ["sequential", "waves", "dag", "bal"]);
        assert!(block["modes"].as_array().unwrap().iter().all(|m| m["seconds"].as_f64().unwrap() > 0.0));
    }
    // One exchange wallet's payouts: a chain the executor runs sequentially.
    assert!(blocks[1]["plan"].as_str().unwrap().starts_with("sequential (one sender's chain"), "{}", blocks[1]);
    let totals: Vec<&str> = json["totals"].as_array().unwrap().iter().map(|t| t["mode"].as_str().unwrap()).collect();
    assert_eq!(totals, ["sequential", "waves", "dag", "bal"]);
    let sum: f64 = blocks.iter().map(|b| b["modes"][2]["seconds"].as_f64().unwrap()).sum();
    assert!((json["totals"][2]["seconds"].as_f64().unwrap() - sum).abs() < 1e-9);

    let mut args = vec!["bench", "--threads", "2", "--repeat", "1", "--fixture"];
    args.extend(files.iter().map(String::as_str));
    let out = defivm(&args);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("total over 2 blocks") && stdout.contains("lowest block"), "{stdout}");
}

#[test]
fn a_generated_fixture_carries_its_block_access_list_which_replay_and_bal_check() {
    let path = temp("bal");
    let file = path.to_str().unwrap();
    let out = defivm(&["generate", "--workload", "dex", "--txs", "60", "--users", "20", "-o", file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fixture: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let hash = fixture["blockAccessListHash"].as_str().unwrap().to_string();
    assert!(fixture["blockAccessList"][0]["address"].is_string(), "{}", fixture["blockAccessList"]);

    let out = defivm(&["bal", file]);
    let stdout = text(&out.stdout);
    assert!(out.status.success() && stdout.contains("recorded in the fixture") && stdout.contains(&hash), "{stdout}");
    let out = defivm(&["bal", file, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["blockAccessListHash"].as_str(), Some(hash.as_str()));
    assert_eq!(json["blockAccessList"], fixture["blockAccessList"]);
    let out = defivm(&["replay", file, "--threads", "2"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));

    // A post-value changed, and the hash made to fit: every mode finds the
    // step that disagrees with it, bal mode running from the list and the
    // others checked against it as they run.
    let mut tampered = fixture.clone();
    let change = tampered["blockAccessList"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find_map(|a| a["balanceChanges"].as_array_mut().and_then(|c| c.first_mut()))
        .unwrap();
    change["postBalance"] = serde_json::json!("0x1");
    let list: Vec<defivm::ethereum::BalAccountJson> =
        serde_json::from_value(tampered["blockAccessList"].clone()).unwrap();
    let new_hash = defivm::ethereum::bal_hash(&defivm::ethereum::bal_from_json(list));
    tampered["blockAccessListHash"] = serde_json::json!(new_hash);
    std::fs::write(&path, tampered.to_string()).unwrap();
    let out = defivm(&["replay", file, "--threads", "2"]);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let found: Vec<&str> = stdout.lines().filter_map(|l| l.split("MISMATCH: ").nth(1)?.split(';').next()).collect();
    assert_eq!(found.len(), 4, "{stdout}");
    assert!(found.iter().all(|m| *m == found[0]), "every mode names the same step: {stdout}");
    assert!(found[0].contains("block access list is wrong") && found[0].contains("(list: 0x1, computed: "), "{stdout}");

    // A hash that is not the list's: the file does not load.
    let mut corrupted = fixture.clone();
    corrupted["blockAccessListHash"] = serde_json::json!(format!("0x{}", "11".repeat(32)));
    std::fs::write(&path, corrupted.to_string()).unwrap();
    let out = defivm(&["bal", file]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success() && stderr.contains("blockAccessListHash") && stderr.contains(file), "{stderr}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn bench_can_measure_every_mode_recording_the_block_access_list() {
    let args = ["bench", "--workload", "dex", "--txs", "200", "--users", "40", "--threads", "2", "--repeat", "1"];
    let out = defivm(&[&args[..], &["--record-access", "--json"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["recordAccess"].as_bool(), Some(true));
    let modes = json["blocks"][0]["modes"].as_array().unwrap();
    assert!(modes.len() >= 3, "{modes:?}");
    let out = defivm(&[&args[..], &["--json"]].concat());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["recordAccess"].as_bool(), Some(false));
}

#[test]
fn declare_derives_declarations_that_replay_and_prints_them_as_access_lists() {
    // The erc20 fixture with its declarations removed: replayed so, every
    // transaction is a violation.
    let undeclared = temp("undeclared-erc20");
    let input = undeclared.to_str().unwrap();
    let mut fixture = defivm::fixture::Fixture::load("fixtures/erc20.json.gz".as_ref()).unwrap();
    for tx in &mut fixture.transactions {
        (tx.reads, tx.writes) = (Vec::new(), Vec::new());
    }
    fixture.save(&undeclared).unwrap();
    assert!(!defivm(&["replay", input, "--mode", "dag"]).status.success());
    let path = temp("declared-erc20");
    let file = path.to_str().unwrap();
    for prefix in [false, true] {
        let mut args = vec!["declare", input, "-o", file, "--access-list"];
        if prefix {
            args.push("--prefix");
        }
        let out = defivm(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stderr = text(&out.stderr);
        let against = if prefix { "against the prefix" } else { "against the pre-state on 2 threads" };
        assert!(stderr.contains("1000 transactions declared") && stderr.contains(against), "{stderr}");
        let lists: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let first = &lists[0][0];
        assert_eq!(lists.as_array().map(Vec::len), Some(1000));
        assert!(first["address"].is_string() && first["storageKeys"].is_array(), "{first}");
        // Transfers touch what they touch whatever came before: the derived
        // declarations replay in every mode.
        let out = defivm(&["replay", file, "--mode", "all"]);
        assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(text(&out.stdout).matches(": match").count(), 4, "{}", text(&out.stdout));
    }
    // A mainnet fixture's shared code goes into the written one, which
    // replays from another folder.
    let dir = std::env::temp_dir().join(format!("defivm-cli-{}-declared", std::process::id()));
    let folder = dir.to_str().unwrap();
    let block = "fixtures/mainnet/19933612.json.gz";
    let out = defivm(&["declare", block, input, "-o", folder, "--prefix"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("2 fixtures: 1130 transactions declared"), "{}", text(&out.stdout));
    let written = dir.join("19933612.json.gz");
    let out = defivm(&["replay", written.to_str().unwrap(), "--mode", "all"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
    // Derived against its pre-state, a mainnet block with strays (whose
    // first runs all hold): the fixture says its declarations are hints,
    // and replay repairs them in every mode; taken strictly, the strays are
    // rejected and it fails.
    let hinted = dir.with_extension("hints.json.gz");
    let hinted = hinted.to_str().unwrap();
    let out = defivm(&["declare", "fixtures/mainnet/18085863.json.gz", "-o", hinted]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fixture = defivm::fixture::Fixture::load(std::path::Path::new(hinted)).unwrap();
    assert_eq!(fixture.declarations, Some(defivm::fixture::DeclarationsJson::Hints));
    let out = defivm(&["replay", hinted, "--mode", "all"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(stdout.matches("hints: 4 strays").count(), 4, "{stdout}");
    assert_eq!(stdout.matches("4 strays, 0 re-executed]: match").count(), 4, "{stdout}");
    let out = defivm(&["replay", hinted, "--mode", "dag", "--declarations", "strict"]);
    assert!(!out.status.success() && text(&out.stdout).contains("MISMATCH"), "{}", text(&out.stdout));
    std::fs::remove_file(hinted).unwrap();
    // Nothing is written unless every input is declared; two inputs of one
    // name, or an access list of two, are refused.
    let out = defivm(&["declare", block, "no-such-fixture.json", "-o", folder]);
    assert!(!out.status.success() && text(&out.stderr).contains("no-such-fixture.json"), "{}", text(&out.stderr));
    assert!(!dir.exists());
    let out = defivm(&["declare", block, "fixtures/../fixtures/mainnet/19933612.json.gz", "-o", folder]);
    assert!(!out.status.success() && text(&out.stderr).contains("would both be written to one file"));
    let out = defivm(&["declare", block, input, "-o", folder, "--access-list"]);
    assert!(!out.status.success() && text(&out.stderr).contains("--access-list takes one input"));
    assert!(!dir.exists());
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&undeclared).unwrap();
}
