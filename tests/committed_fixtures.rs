//! Every committed fixture replays to a match in every mode at 1, 2 and 4
//! threads.

use defivm::fixture::Fixture;
use defivm::vm::{ParallelExecutor, ParallelMode, SequentialExecutor};
use std::path::Path;

#[test]
fn every_committed_fixture_replays_to_a_match_in_every_mode() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(".json") || s.ends_with(".json.gz")))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "one fixture per workload at least: {files:?}");
    let executors: Vec<_> = [1, 2, 4]
        .into_iter()
        .flat_map(|t| {
            [ParallelMode::Waves, ParallelMode::Dag]
                .map(|m| ParallelExecutor::new(t).unwrap().with_mode(m).with_fallback(false))
        })
        .collect();
    for file in files {
        let fixture = Fixture::load(&file).unwrap();
        let (state, env, txs) = fixture.block(&file).unwrap();
        let sequential = SequentialExecutor::new().execute(&state, &env, &txs);
        assert_eq!(fixture.check(&sequential, &state), Ok(()), "{} sequential", file.display());
        for executor in &executors {
            let result = executor.execute(&state, &env, &txs);
            let (threads, mode) = (executor.threads(), executor.mode());
            assert_eq!(fixture.check(&result, &state), Ok(()), "{} {threads} threads {mode:?}", file.display());
        }
    }
}
