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
    outcome.receipts[3].gas_used += defivm::vm::U256::from(1);
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
            receipts[7].gas_used += U256::from(1);
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
