//! A block's transactions streamed a segment at a time ([`TxStream`]):
//! every executor gives what it gives on the block held whole, checked
//! against the block's access list or not, whatever the stream's segments;
//! and a stream that fails, ends early, gives too many or brings a
//! declaration over the limit fails the block the same way in every mode.

use defivm::fixture::{Codes, LoadedFixture, STREAM_TXS};
use defivm::vm::{
    BalExecutor, BlockEffects, BlockEnv, BlockOutcome, Limits, ListedAccess, ParallelExecutor, ParallelMode, Receipt,
    SequentialExecutor, State, StateKey, Transaction, TxStream, Txs, U256, VmError,
};
use defivm::workload::{Workload, WorkloadSpec, generate};
use std::sync::Mutex;

/// A stream of `txs` in segments of `segment`, whose producer gives up
/// (with `Err`) when asked for the segment that starts at `fail_at`.
fn stream(txs: &[Transaction], segment: usize, fail_at: Option<usize>) -> TxStream {
    claimed(txs, segment, fail_at, txs.len())
}

/// [`stream`], claiming to be a block of `len` transactions.
fn claimed(txs: &[Transaction], segment: usize, fail_at: Option<usize>, len: usize) -> TxStream {
    let segments: Vec<Vec<Transaction>> = txs.chunks(segment).map(<[Transaction]>::to_vec).collect();
    let mut segments = segments.into_iter();
    let mut at = 0;
    TxStream::new(len, move || {
        if fail_at == Some(at) {
            return Err("the file is gone".to_string());
        }
        let next = segments.next().unwrap_or_default();
        at += next.len();
        Ok(next)
    })
}

/// Every executor, by name, as a run of the block from `txs` (checked
/// against `list` where given): its effects and its receipts in block order,
/// each handed over once.
type Run<'a> = Box<dyn Fn(Txs<'_>, Option<&ListedAccess>) -> Result<(Vec<Receipt>, BlockEffects), VmError> + 'a>;

/// Runs the block with `run`, given a receipt sink: its receipts in block
/// order, each handed over once, and its effects.
fn collect(
    len: usize,
    run: impl FnOnce(&(dyn Fn(usize, Receipt) + Sync)) -> Result<BlockEffects, VmError>,
) -> Result<(Vec<Receipt>, BlockEffects), VmError> {
    let slots: Vec<Mutex<Vec<Receipt>>> = (0..len).map(|_| Mutex::default()).collect();
    let effects = run(&|i, r| slots[i].lock().unwrap().push(r))?;
    let receipts: Vec<Vec<Receipt>> = slots.into_iter().map(|slot| slot.into_inner().unwrap()).collect();
    assert!(receipts.iter().all(|got| got.len() == 1), "each receipt once");
    Ok((receipts.concat(), effects))
}

fn executors<'a>(state: &'a State, env: &'a BlockEnv, len: usize, limits: Limits) -> Vec<(String, Run<'a>)> {
    let mut all: Vec<(String, Run<'a>)> = Vec::new();
    let sequential = SequentialExecutor::with_limits(limits);
    all.push((
        "sequential".into(),
        Box::new(move |txs, list| {
            collect(len, |sink| match list {
                Some(list) => sequential.execute_checked(state, env, txs, list, sink),
                None => sequential.execute_streamed(state, env, txs, sink),
            })
        }),
    ));
    for threads in [1, 2, 4] {
        for mode in [ParallelMode::Waves, ParallelMode::Dag] {
            for segment in [usize::MAX, 64] {
                let executor = ParallelExecutor::new(threads)
                    .unwrap()
                    .with_mode(mode)
                    .with_fallback(false)
                    .with_limits(limits)
                    .with_segment_txs(segment);
                let run: Run<'a> = Box::new(move |txs, list| {
                    collect(len, |sink| match list {
                        Some(list) => executor.execute_checked(state, env, txs, list, sink),
                        None => executor.execute_streamed(state, env, txs, sink),
                    })
                });
                all.push((format!("{mode:?}, {threads} threads, segments of {segment}"), run));
            }
        }
        let bal = BalExecutor::new(threads).unwrap().with_limits(limits);
        let run: Run<'a> = Box::new(move |txs, list| match list {
            Some(list) => collect(len, |sink| bal.execute_streamed(state, env, txs, list, sink)),
            // Bal mode runs only from a list.
            None => Err(VmError::InvalidBlock("no list".into())),
        });
        all.push((format!("bal, {threads} threads"), run));
    }
    all
}

fn assert_same(how: &str, got: Result<(Vec<Receipt>, BlockEffects), VmError>, expected: &BlockOutcome) {
    let (receipts, effects) = got.unwrap_or_else(|e| panic!("{how}: {e}"));
    assert_eq!(receipts, expected.receipts, "{how}");
    assert_eq!((&effects.changes, effects.fees), (&expected.changes, expected.fees), "{how}");
}

#[test]
fn a_streamed_block_runs_as_the_block_held_whole_in_every_mode() {
    for workload in Workload::ALL {
        for hot in [0.1, 1.0] {
            let spec = WorkloadSpec { users: 60, hot, seed: 31, ..WorkloadSpec::new(workload, 300) };
            let block = generate(&spec).unwrap();
            let (state, env, txs) = (block.state(), &block.env, &block.txs[..]);
            let expected = SequentialExecutor::new().with_access_record(true).execute(state, env, txs).unwrap();
            let list = ListedAccess::new(expected.access.clone());
            for (how, run) in executors(state, env, txs.len(), Limits::default()) {
                // Segments that the executors' own do not divide, one of a
                // single transaction, and the whole block in one.
                for segment in [37, 1, txs.len()] {
                    let how = format!("{workload} hot {hot}, {how}, stream segments of {segment}");
                    if !how.contains("bal") {
                        assert_same(&how, run(Txs::from(&mut stream(txs, segment, None)), None), &expected);
                    }
                    let checked = run(Txs::from(&mut stream(txs, segment, None)), Some(&list));
                    assert_same(&format!("{how}, checked"), checked, &expected);
                }
            }
        }
    }
}

#[test]
fn a_stream_that_fails_ends_early_or_gives_too_many_fails_the_block_where_it_did() {
    let spec = WorkloadSpec { users: 60, hot: 0.1, seed: 32, ..WorkloadSpec::new(Workload::Mixed, 200) };
    let block = generate(&spec).unwrap();
    let (state, env, txs) = (block.state(), &block.env, &block.txs[..]);
    let expected = SequentialExecutor::new().with_access_record(true).execute(state, env, txs).unwrap();
    let list = ListedAccess::new(expected.access.clone());
    for (how, run) in executors(state, env, txs.len(), Limits::default()) {
        let failed = run(Txs::from(&mut stream(txs, 37, Some(74))), Some(&list)).unwrap_err();
        assert!(
            matches!(&failed, VmError::Source { index: 74, message } if message.contains("gone")),
            "{how}: {failed}"
        );
        // 150 of 200: the producer has nothing left.
        let short = run(Txs::from(&mut claimed(&txs[..150], 37, None, 200)), Some(&list)).unwrap_err();
        assert!(matches!(&short, VmError::Source { index: 150, .. }), "{how}: {short}");
        // Given as a block of 199: the last segment is one too many.
        let long = run(Txs::from(&mut claimed(txs, 37, None, 199)), Some(&list)).unwrap_err();
        assert!(matches!(&long, VmError::Source { index: 199, .. }), "{how}: {long}");
    }
}

#[test]
fn a_streamed_declaration_over_the_limit_fails_the_block_alike_in_every_mode() {
    let spec = WorkloadSpec { users: 60, hot: 0.1, seed: 33, ..WorkloadSpec::new(Workload::Erc20, 200) };
    let block = generate(&spec).unwrap();
    let (state, env) = (block.state(), &block.env);
    let mut txs = block.txs.clone();
    let limits = Limits { max_keys_per_tx: 64 };
    let from = txs[150].from;
    for slot in 0..65u64 {
        txs[150].access.read(StateKey::Storage(from, U256::from(slot)));
    }
    let expected = SequentialExecutor::new().with_access_record(true).execute(state, env, &block.txs).unwrap();
    let list = ListedAccess::new(expected.access.clone());
    for (how, run) in executors(state, env, txs.len(), limits) {
        let error = run(Txs::from(&mut stream(&txs, 37, None)), Some(&list)).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("(position 150)") && message.contains("limit is 64"), "{how}: {message}");
        // Held whole, the same error, found before anything runs.
        assert_eq!(run(Txs::from(&txs), Some(&list)).unwrap_err(), error, "{how}");
    }
}

#[test]
fn a_fixture_too_long_to_hold_is_read_again_a_segment_at_a_time() {
    let spec =
        WorkloadSpec { users: 5_000, hot: 0.0, seed: 34, ..WorkloadSpec::new(Workload::Erc20, STREAM_TXS + 500) };
    let block = generate(&spec).unwrap();
    let outcome = SequentialExecutor::new().with_access_record(true).execute(block.state(), &block.env, &block.txs);
    let outcome = outcome.unwrap();
    let fixture = defivm::fixture::Fixture::new("long", block.state(), &block.env, &block.txs, Some(&outcome));
    let path = std::env::temp_dir().join(format!("defivm-test-{}-long.json", std::process::id()));
    fixture.save(&path).unwrap();

    let lean = LoadedFixture::load_lean(&path, &Codes::new()).unwrap();
    assert!(lean.txs.is_empty(), "not held");
    assert_eq!(lean.tx_count(), block.txs.len());
    let list = ListedAccess::new(outcome.access.clone());
    let dag = ParallelExecutor::new(2).unwrap();
    for run in 0..2 {
        // Each run reads the file again.
        let mut stream = lean.stream().expect("a stream");
        let check = lean.stream_check();
        let result = dag.execute_checked(&lean.state, &lean.env, &mut stream, &list, |i, r| check.receipt(i, &r));
        check.finish(&result).unwrap_or_else(|m| panic!("run {run}: {m}"));
    }
    // A block short enough is held, as `load` holds it.
    let mainnet = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/mainnet/930196.json.gz");
    let short = LoadedFixture::load_lean(std::path::Path::new(mainnet), &Codes::new()).unwrap();
    assert!(short.stream().is_none());
    assert_eq!(short.tx_count(), short.txs.len());
    std::fs::remove_file(&path).unwrap();
}
