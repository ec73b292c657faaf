//! The fixture format: a recorded block replays to a match in every mode,
//! a tampered outcome names the first differing transaction and field, and
//! malformed files are typed errors naming the file and the field.

use defivm::fixture::{Fixture, FixtureError, LoadedFixture, OLDEST_VERSION, VERSION};
use defivm::vm::{ParallelExecutor, SequentialExecutor, U256};
use defivm::workload::{Workload, WorkloadSpec, generate};
use std::path::{Path, PathBuf};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("defivm-test-{}-{name}.json", std::process::id()))
}

fn recorded(txs: usize) -> Fixture {
    let block = generate(&WorkloadSpec { users: 40, hot: 0.3, ..WorkloadSpec::new(Workload::Mixed, txs) }).unwrap();
    let outcome = SequentialExecutor::new().execute(block.state(), &block.env, &block.txs).unwrap();
    Fixture::new("mixed", block.state(), &block.env, &block.txs, Some(&outcome))
}

#[test]
fn a_recorded_block_round_trips_and_replays_to_a_match_in_every_mode() {
    let fixture = recorded(150);
    let path = temp("round-trip");
    fixture.save(&path).unwrap();
    let loaded = Fixture::load(&path).unwrap();
    let streamed = LoadedFixture::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded, fixture);
    let (state, env, txs) = loaded.block(&path).unwrap();
    // Converted while parsed, the block is the one converted afterwards.
    assert_eq!((&streamed.state, &streamed.env, &streamed.txs), (&state, &env, &txs));
    assert_eq!((&streamed.name, &streamed.outcome), (&loaded.name, &loaded.outcome));
    let sequential = SequentialExecutor::new().execute(&state, &env, &txs).unwrap();
    assert_eq!(loaded.compare(&sequential, &state), Ok(()));
    for threads in [1, 2, 4] {
        let parallel = ParallelExecutor::new(threads).unwrap().execute(&state, &env, &txs).unwrap();
        assert_eq!(loaded.compare(&parallel, &state), Ok(()), "{threads} threads");
        assert_eq!(streamed.check(&Ok(parallel)), Ok(()), "{threads} threads");
    }
}

#[test]
fn a_tampered_outcome_names_the_first_differing_transaction_and_field() {
    let mut fixture = recorded(20);
    let outcome = fixture.outcome.as_mut().unwrap();
    outcome.receipts[3].gas_used += 1;
    outcome.receipts[7].status = "revert".into();
    let (state, env, txs) = fixture.block(Path::new("tampered.json")).unwrap();
    let replay = SequentialExecutor::new().execute(&state, &env, &txs).unwrap();
    let mismatch = fixture.compare(&replay, &state).unwrap_err();
    assert_eq!((mismatch.tx, mismatch.field), (Some(3), "gasUsed"));
    assert!(mismatch.to_string().starts_with("transaction 3: gasUsed: expected "), "{mismatch}");
}

#[test]
fn a_streamed_check_gives_the_verdict_of_the_collected_one() {
    let path = temp("streamed-check");
    recorded(60).save(&path).unwrap();
    let pristine = LoadedFixture::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    type Tamper = fn(&mut LoadedFixture);
    let tamperings: [(&str, Tamper); 8] = [
        ("nothing", |_| {}),
        ("two receipts", |f| {
            let receipts = &mut f.outcome.as_mut().unwrap().receipts;
            receipts[41].status = "revert".into();
            receipts[7].gas_used += 1;
        }),
        ("the root", |f| f.outcome.as_mut().unwrap().state_root = Default::default()),
        ("the count", |f| drop(f.outcome.as_mut().unwrap().receipts.pop())),
        ("an expected error", |f| f.expected_error = Some("some error".into())),
        ("no outcome", |f| f.outcome = None),
        ("a nonce", |f| f.txs[9].nonce += 1),
        // The block fails as the fixture says it must: a match, whatever
        // receipts were handed over before the failure.
        ("a nonce, the error expected", |f| {
            f.txs[9].nonce += 1;
            let error = SequentialExecutor::new().execute(&f.state, &f.env, &f.txs).unwrap_err();
            f.expected_error = Some(error.to_string());
        }),
    ];
    for (what, tamper) in tamperings {
        let mut fixture = pristine.clone();
        tamper(&mut fixture);
        let (state, env, txs) = (&fixture.state, &fixture.env, &fixture.txs);
        let expected = fixture.check(&SequentialExecutor::new().execute(state, env, txs));
        assert_eq!(expected.is_ok(), what == "nothing" || what.ends_with("expected"), "tampered {what}");
        let check = fixture.stream_check();
        let result = SequentialExecutor::new().execute_streamed(state, env, txs, |i, r| check.receipt(i, &r));
        assert_eq!(check.finish(&result), expected, "tampered {what}, sequential");
        for threads in [1, 2, 4] {
            for segment in [defivm::vm::SEGMENT_TXS, 7] {
                let executor = ParallelExecutor::new(threads).unwrap().with_segment_txs(segment);
                let check = fixture.stream_check();
                let result = executor.execute_streamed(state, env, txs, |i, r| check.receipt(i, &r));
                assert_eq!(
                    check.finish(&result),
                    expected,
                    "tampered {what}, {threads} threads, segments of {segment}"
                );
            }
        }
    }
}

fn parse_error(text: &str) -> String {
    let parsed = Fixture::parse(Path::new("bad.json"), text).unwrap_err().to_string();
    // Read from a file and converted while parsed, the error is the one
    // `Fixture::load` gives (a reader counts columns slightly differently
    // from `Fixture::parse` on text).
    let loaded = file_error(text, |path| Fixture::load(path).unwrap_err().to_string());
    assert_eq!(load_error(text), loaded);
    parsed
}

/// The error of converting `text` as `Fixture::load` + `Fixture::block`
/// would, through `LoadedFixture::load`.
fn load_error(text: &str) -> String {
    file_error(text, |path| LoadedFixture::load(path).unwrap_err().to_string())
}

/// What `read` says of a file holding `text`, the file named `bad.json`.
fn file_error(text: &str, read: impl FnOnce(&Path) -> String) -> String {
    let path = temp("bad");
    std::fs::write(&path, text).unwrap();
    let err = read(&path);
    std::fs::remove_file(&path).unwrap();
    err.replace(&path.display().to_string(), "bad.json")
}

fn block_error(text: &str) -> String {
    let fixture = Fixture::parse(Path::new("bad.json"), text).unwrap();
    let err = fixture.block(Path::new("bad.json")).unwrap_err();
    assert!(matches!(err, FixtureError::Invalid { .. }));
    assert_eq!(load_error(text), err.to_string());
    err.to_string()
}

#[test]
fn malformed_fixtures_are_errors_that_name_the_file_and_the_field() {
    let good = serde_json::to_value(recorded(2)).unwrap();
    assert!(parse_error("{ not json").starts_with("bad.json:1:3: "), "{}", parse_error("{ not json"));

    let mut v = good.clone();
    v["version"] = (VERSION + 1).into();
    assert_eq!(
        parse_error(&v.to_string()),
        format!(
            "bad.json: fixture version {} is not supported (this build reads versions {OLDEST_VERSION} to {VERSION})",
            VERSION + 1
        )
    );

    let mut v = good.clone();
    v["transactions"][1].as_object_mut().unwrap().remove("nonce");
    assert!(parse_error(&v.to_string()).contains("missing field `nonce`"), "{}", parse_error(&v.to_string()));

    let mut v = good.clone();
    v["transactions"][0]["value"] = "0xzz".into();
    assert!(parse_error(&v.to_string()).starts_with("bad.json:"), "{}", parse_error(&v.to_string()));

    // Wrong JSON types inside the parts converted while parsed: the same
    // errors from both readers (`parse_error` checks).
    let (address, _) = good["genesis"].as_object().unwrap().iter().next().unwrap();
    for (part, wrong) in [
        ("genesis", serde_json::json!([])),
        ("transactions", serde_json::json!({})),
        ("account", serde_json::json!(5)),
        ("storage", serde_json::json!([1])),
    ] {
        let mut v = good.clone();
        match part {
            "account" => v["genesis"][address] = wrong,
            "storage" => v["genesis"][address]["storage"] = wrong,
            _ => v[part] = wrong,
        }
        assert!(parse_error(&v.to_string()).contains("invalid type"), "{part}: {}", parse_error(&v.to_string()));
    }

    // A recorded receipt's gas is held in 64 bits.
    let mut v = good.clone();
    v["outcome"]["receipts"][1]["gasUsed"] = format!("{:#x}", U256::from(u64::MAX) + U256::from(1)).into();
    let error = parse_error(&v.to_string());
    assert!(
        error.starts_with("bad.json:") && error.contains("invalid value: string \"0x10000000000000000\""),
        "{error}"
    );

    let mut v = good.clone();
    v["env"]["hardfork"] = "Shanghaai".into();
    assert_eq!(
        block_error(&v.to_string()),
        "bad.json: env.hardfork: unknown hardfork \"Shanghaai\" (expected e.g. Cancun)"
    );

    let mut v = good.clone();
    let tx = v["transactions"][1].as_object_mut().unwrap();
    tx.remove("maxFeePerGas");
    assert_eq!(
        block_error(&v.to_string()),
        "bad.json: transactions[1].gasPrice: give either gasPrice, or both maxFeePerGas and maxPriorityFeePerGas"
    );

    // A later transaction does not convert either: the first one is named.
    v["transactions"][0]["gas"] = format!("{:#x}", U256::from(u64::MAX) + U256::from(1)).into();
    assert_eq!(block_error(&v.to_string()), "bad.json: transactions[0].gas: 18446744073709551616 does not fit 64 bits");

    // The genesis is converted before the transactions.
    v["genesis"][address]["nonce"] = format!("{:#x}", U256::from(u64::MAX) + U256::from(1)).into();
    assert_eq!(
        block_error(&v.to_string()),
        format!("bad.json: genesis[{address}].nonce: 18446744073709551616 does not fit 64 bits")
    );
    assert!(
        LoadedFixture::load(Path::new("/nonexistent/fixture.json"))
            .unwrap_err()
            .to_string()
            .starts_with("/nonexistent/fixture.json: ")
    );
    assert!(
        Fixture::load(Path::new("/nonexistent/fixture.json"))
            .unwrap_err()
            .to_string()
            .starts_with("/nonexistent/fixture.json: ")
    );
}

#[test]
fn a_version_1_fixture_still_loads_and_replays() {
    let mut v = serde_json::to_value(recorded(30)).unwrap();
    v["version"] = 1.into();
    let path = temp("version-1");
    std::fs::write(&path, v.to_string()).unwrap();
    let fixture = LoadedFixture::load(&path).unwrap();
    let (state, env, txs) = Fixture::load(&path).unwrap().block(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!((&fixture.state, &fixture.env, &fixture.txs), (&state, &env, &txs));
    let outcome = ParallelExecutor::new(2).unwrap().execute(&state, &env, &txs);
    assert_eq!(fixture.check(&outcome), Ok(()));
}

#[test]
fn ethereum_transaction_fields_round_trip_and_are_checked_against_the_type() {
    // A mainnet block: every type but 4, EIP-2930 lists and a blob.
    let mainnet = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mainnet/19923400.json.gz");
    let loaded = LoadedFixture::load(&mainnet).unwrap();
    let fixture = Fixture::new("again", &loaded.state, &loaded.env, &loaded.txs, None);
    let path = temp("typed");
    fixture.save(&path).unwrap();
    let again = LoadedFixture::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!((again.txs, again.env, again.state), (loaded.txs.clone(), loaded.env, loaded.state));

    let good = serde_json::to_value(&fixture).unwrap();
    let blob = loaded.txs.iter().position(|t| t.tx_type() == defivm::vm::TxType::Eip4844).unwrap();
    let legacy = loaded.txs.iter().position(|t| t.tx_type() == defivm::vm::TxType::Legacy).unwrap();
    let cases: [(usize, &str, serde_json::Value, &str); 5] = [
        (legacy, "type", "0x7".into(), "type: unknown transaction type 0x7"),
        (blob, "type", "0x2".into(), "blobVersionedHashes: a type 2 transaction has no blobVersionedHashes"),
        (legacy, "type", "0x2".into(), "type: a type 2 transaction takes maxFeePerGas and maxPriorityFeePerGas"),
        (
            legacy,
            "type",
            serde_json::Value::Null,
            "type: chainId, accessList, blob and authorization fields belong to a typed transaction: give its type",
        ),
        (
            blob,
            "chainId",
            serde_json::Value::Null,
            "chainId: a type 3 transaction is signed for a chain: give its chainId",
        ),
    ];
    for (index, field, value, message) in cases {
        let mut v = good.clone();
        let tx = v["transactions"][index].as_object_mut().unwrap();
        if value.is_null() {
            tx.remove(field);
        } else {
            tx.insert(field.into(), value);
        }
        assert_eq!(block_error(&v.to_string()), format!("bad.json: transactions[{index}].{message}"));
    }
}

#[test]
fn code_in_a_shared_file_is_found_by_hash_or_named_missing() {
    let mainnet = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mainnet/46147.json.gz");
    let fixture = Fixture::load(&mainnet).unwrap();
    assert_eq!(fixture.codes.as_deref(), Some("../code/mainnet.json.gz"));
    // A code hash with no code file to take it from.
    let mut v = serde_json::to_value(recorded(5)).unwrap();
    let (address, _) = v["genesis"].as_object().unwrap().iter().find(|(_, a)| a.get("code").is_some()).unwrap();
    let address = address.clone();
    v["genesis"][&address].as_object_mut().unwrap().remove("code");
    v["genesis"][&address]["codeHash"] = format!("0x{}", "ab".repeat(32)).into();
    let message = block_error(&v.to_string());
    assert!(message.ends_with("codeHash: the fixture names no code file (`codes`)"), "{message}");
    // One that names a file that does not hold it.
    let dir = std::env::temp_dir().join(format!("defivm-test-{}-codes", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    defivm::fixture::CodeFile::save(&dir.join("codes.json"), &Default::default()).unwrap();
    v["codes"] = "codes.json".into();
    let path = dir.join("fixture.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let message = LoadedFixture::load(&path).unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(message.contains(&format!("codeHash: no code with hash 0x{}", "ab".repeat(32))), "{message}");
}
