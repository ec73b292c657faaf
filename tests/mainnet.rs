//! The 68 recorded mainnet blocks (`fixtures/mainnet`, imported from
//! `shared/mainnet` by `defivm import`) verify against their headers in every
//! mode at 1, 2 and 4 threads, and every parallel run equals the sequential
//! one: receipts, changes, fees and the state root. Plain revm, run on the
//! same blocks with the block's own rules, leaves the same post-state.

mod common;

use defivm::fixture::{Codes, LoadedFixture};
use defivm::vm::{ParallelExecutor, ParallelMode, PlainRevm, SequentialExecutor};
use std::path::Path;

#[test]
fn every_mainnet_block_verifies_against_its_header_in_every_mode_and_thread_count() {
    let files = common::mainnet_files();
    assert_eq!(files.len(), 68, "the 68 blocks of shared/mainnet");
    let executors: Vec<_> = [1, 2, 4]
        .into_iter()
        .flat_map(|threads| {
            [ParallelMode::Waves, ParallelMode::Dag].into_iter().flat_map(move |mode| {
                // The parallel machinery on every block, and the executor as
                // users get it (small blocks and chains on the sequential path).
                [false, true]
                    .map(|fallback| ParallelExecutor::new(threads).unwrap().with_mode(mode).with_fallback(fallback))
            })
        })
        .collect();
    let codes = Codes::new();
    let (mut txs, mut with_root) = (0, 0);
    for file in &files {
        let fixture = LoadedFixture::load_with(file, &codes).unwrap();
        let header = fixture.header.as_ref().expect("an imported block carries its header");
        with_root += usize::from(header.receipts_root.is_some());
        txs += fixture.txs.len();
        let sequential = SequentialExecutor::new().execute(&fixture.state, &fixture.env, &fixture.txs);
        assert_eq!(fixture.check(&sequential), Ok(()), "{} sequential", file.display());
        let sequential = sequential.unwrap();
        let mut plain = PlainRevm::new(&fixture.state);
        assert_eq!(plain.execute(&fixture.env, &fixture.txs).unwrap(), sequential.receipts, "{}", file.display());
        let post = sequential.post_state(&fixture.state);
        assert_eq!(plain.post_state().root(), post.root(), "{} plain revm's post-state", file.display());
        for executor in &executors {
            let parallel = executor.execute(&fixture.state, &fixture.env, &fixture.txs).unwrap();
            let (threads, mode) = (executor.threads(), executor.mode());
            assert_eq!(parallel, sequential, "{} {threads} threads {mode:?}", file.display());
            assert_eq!(fixture.compare(&parallel), Ok(()), "{} {threads} threads {mode:?}", file.display());
        }
    }
    assert_eq!(txs, 17_517);
    // Byzantium on: 53 of the blocks commit to a receipts root.
    assert_eq!(with_root, files.iter().filter(|f| block_number(f) >= 4_370_000).count());
}

fn block_number(path: &Path) -> u64 {
    path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".json.gz")).unwrap().parse().unwrap()
}

#[test]
fn a_streamed_replay_checks_the_header_too() {
    let codes = Codes::new();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mainnet/19933612.json.gz");
    let mut fixture = LoadedFixture::load_with(&path, &codes).unwrap();
    let executor = ParallelExecutor::new(2).unwrap().with_mode(ParallelMode::Dag);
    let check = fixture.stream_check();
    let result = executor.execute_streamed(&fixture.state, &fixture.env, &fixture.txs, |i, r| check.receipt(i, &r));
    let computed = check.computed_header().unwrap();
    assert_eq!(check.finish(&result), Ok(()));
    // A header the block does not reproduce: the block and the field named.
    fixture.header.as_mut().unwrap().logs_bloom.0[7] ^= 1;
    let check = fixture.stream_check();
    let result = executor.execute_streamed(&fixture.state, &fixture.env, &fixture.txs, |i, r| check.receipt(i, &r));
    let mismatch = check.finish(&result).unwrap_err();
    assert_eq!((mismatch.block, mismatch.tx, mismatch.field), (Some(19_933_612), None, "header.logsBloom"));
    assert_eq!(mismatch.found, computed.logs_bloom.to_string());
    assert!(mismatch.to_string().starts_with("block 19933612: header.logsBloom: expected 0x"), "{mismatch}");
}
