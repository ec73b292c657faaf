//! Differential tests: every parallel run must equal the sequential
//! executor's outcome (receipts, changes, fees, state root), and the
//! sequential executor must equal plain revm when declarations are right.

mod common;

use alloy_primitives::U256;
use common::*;
use defivm_vm::{
    AccessKind, AccessSet, BalExecutor, BlockEnv, BlockOutcome, ListedAccess, ParallelExecutor, ParallelMode,
    PlainRevm, Receipt, SequentialExecutor, State, StateKey, Status, Transaction,
};
use proptest::prelude::*;
use std::sync::Mutex;

fn shape() -> impl Strategy<Value = Shape> {
    (
        2usize..24,
        prop_oneof![Just(1u64), Just(2), 1u64..64],
        prop_oneof![Just(1usize), 1usize..30],
        prop::collection::vec((any::<u8>(), any::<u64>(), any::<u64>(), any::<u64>()), 0..120),
    )
        .prop_map(|(users, slots, receivers, picks)| Shape { users, slots, receivers, picks })
}

const MODES: [ParallelMode; 2] = [ParallelMode::Waves, ParallelMode::Dag];

/// Segment lengths: the default (more than any block here), one
/// transaction, and a few.
const SEGMENTS: [usize; 3] = [defivm_vm::SEGMENT_TXS, 1, 5];

/// The parallel machinery itself: no block takes the sequential path.
fn executor(threads: usize, mode: ParallelMode) -> ParallelExecutor {
    ParallelExecutor::new(threads).unwrap().with_mode(mode).with_fallback(false)
}

fn parallel(threads: usize, mode: ParallelMode, state: &State, block: &BlockEnv, txs: &[Transaction]) -> BlockOutcome {
    executor(threads, mode).execute(state, block, txs).unwrap()
}

fn plain_revm(state: &State, block: &BlockEnv, txs: &[Transaction]) -> (Vec<Receipt>, State) {
    let mut revm = PlainRevm::new(state);
    let receipts = revm.execute(block, txs).unwrap();
    (receipts, revm.post_state())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn every_thread_count_matches_the_sequential_executor(shape in shape()) {
        let (state, block) = (genesis(shape.users), block());
        let txs = generate(&shape, &block);
        let expected = SequentialExecutor::new().execute(&state, &block, &txs).unwrap();
        for threads in [1, 2, 4, 8] {
            for mode in MODES {
                for segment in SEGMENTS {
                    let got = executor(threads, mode).with_segment_txs(segment).execute(&state, &block, &txs).unwrap();
                    prop_assert_eq!(&got, &expected, "{} threads, {:?}, segments of {}", threads, mode, segment);
                }
                // As users get it: a block that cannot gain takes the
                // sequential path.
                let default = ParallelExecutor::new(threads).unwrap().with_mode(mode);
                prop_assert_eq!(&default.execute(&state, &block, &txs).unwrap(), &expected, "{} threads, {:?}, fallback", threads, mode);
            }
        }
    }

    #[test]
    fn with_correct_declarations_the_sequential_executor_is_plain_revm(shape in shape()) {
        let (state, block) = (genesis(shape.users), block());
        let txs = generate(&shape, &block);
        let ours = SequentialExecutor::new().execute(&state, &block, &txs).unwrap();
        let (receipts, post) = plain_revm(&state, &block, &txs);
        prop_assert_eq!(&ours.receipts, &receipts);
        prop_assert_eq!(ours.state_root(&state), post.root());
        let mut applied = state.clone();
        applied.apply(&ours.changes);
        prop_assert_eq!(applied, post);
    }
}

/// A block with contention on one slot, one hot receiver and a beneficiary
/// transfer, from a fixed seed.
fn contended_block(txs: usize) -> (State, BlockEnv, Vec<Transaction>) {
    let picks = (0..txs as u64).map(|i| ((i * 7 % 8) as u8, i * 31 + 5, i * 17 + 3, i * 13 + 1)).collect();
    let shape = Shape { users: 16, slots: 2, receivers: 1, picks };
    let block = block();
    let txs = generate(&shape, &block);
    (genesis(shape.users), block, txs)
}

#[test]
fn the_same_block_gives_the_same_root_fifty_times() {
    let (state, block, txs) = contended_block(300);
    let expected = SequentialExecutor::new().execute(&state, &block, &txs).unwrap();
    for mode in MODES {
        let executor = executor(2, mode);
        for run in 0..50 {
            let got = executor.execute(&state, &block, &txs).unwrap();
            assert_eq!(got.state_root(&state), expected.state_root(&state), "run {run}, {mode:?}");
            assert_eq!(got, expected, "run {run}, {mode:?}");
        }
    }
}

#[test]
fn an_executor_reused_across_blocks_of_every_size_matches_the_sequential_executor() {
    // Sizes around the preparation chunk (2,048) and the scheduler's
    // parallel-recording threshold, an empty block, and back to small ones:
    // buffers kept from a larger block must not leak into a smaller one.
    let blocks: Vec<_> = [300, 5_000, 0, 3, 2_049, 17_000, 40].into_iter().map(contended_block).collect();
    // Kept buffers: all blocks' (the default), none, or only the small
    // blocks', so that a block that freed its buffers is followed by one
    // that keeps them and the other way round.
    // Segments of the default length, or short enough that the larger
    // blocks run in several, kept or not.
    let kept_all = defivm_vm::KEEP_BUFFERS_TXS;
    for (kept, segment) in [(kept_all, defivm_vm::SEGMENT_TXS), (kept_all, 2_000), (0, 4_000), (1_000, 2_000)] {
        for mode in MODES {
            for threads in [1, 3] {
                let executor = executor(threads, mode).with_kept_buffers(kept).with_segment_txs(segment);
                for (state, block, txs) in &blocks {
                    let expected = SequentialExecutor::new().execute(state, block, txs).unwrap();
                    let got = executor.execute(state, block, txs).unwrap();
                    let what =
                        format!("{} txs, {threads} threads, {mode:?}, kept {kept}, segments of {segment}", txs.len());
                    assert_eq!(got, expected, "{what}");
                }
            }
        }
    }
}

/// Runs `txs` with and without the transaction at `bad`, in every mode, and
/// checks the bad one is rejected as if it were absent.
fn assert_rejected_as_absent(txs: &[Transaction], bad: usize, key: StateKey, kind: AccessKind) {
    let (state, block) = (genesis(20), block());
    let mut without = txs.to_vec();
    without.remove(bad);
    let reference = SequentialExecutor::new().execute(&state, &block, &without).unwrap();
    let mut outcomes = vec![SequentialExecutor::new().execute(&state, &block, txs).unwrap()];
    for threads in [1, 2, 4] {
        for mode in MODES {
            outcomes.push(parallel(threads, mode, &state, &block, txs));
        }
    }
    for outcome in outcomes {
        let receipt = &outcome.receipts[bad];
        assert_eq!(receipt.status, Status::AccessViolation { key, kind });
        assert_eq!((receipt.gas_used, receipt.logs.len()), (0, 0));
        assert_eq!(outcome.changes, reference.changes);
        assert_eq!(outcome.state_root(&state), reference.state_root(&state));
        assert_eq!(outcome.fees, reference.fees);
        let mut others = outcome.receipts.clone();
        others.remove(bad);
        assert_eq!(others, reference.receipts);
    }
}

fn with_access(mut tx: Transaction, reads: Vec<StateKey>, writes: Vec<StateKey>) -> Transaction {
    tx.access = AccessSet::new(reads, writes);
    tx
}

fn slot(n: u64) -> StateKey {
    StateKey::Storage(BANK_ADDRESS, U256::from(n))
}

/// Neighbours that touch the same slots before and after the bad one.
fn around(bad: Transaction) -> Vec<Transaction> {
    vec![
        bank_call(user(0), 0, 1, 5, 2),
        bank_call(user(1), 0, 2, 6, 1),
        bad,
        bank_call(user(2), 0, 1, 7, 2),
        transfer(user(3), 0, user(4), 99),
        bank_call(user(0), 1, 2, 8, 3),
    ]
}

#[test]
fn a_missing_read_is_rejected_in_every_mode() {
    // Reads slot 3 without declaring it (declares only the write of 2).
    let bad = with_access(bank_call(user(9), 0, 2, 1, 3), vec![], vec![slot(2)]);
    assert_rejected_as_absent(&around(bad), 2, slot(3), AccessKind::Read);
}

#[test]
fn a_missing_write_is_rejected_in_every_mode() {
    // Writes slot 1 without declaring it; slot 2 is declared as read.
    let bad = with_access(bank_call(user(9), 0, 1, 1, 2), vec![slot(2)], vec![]);
    assert_rejected_as_absent(&around(bad), 2, slot(1), AccessKind::Read);
    // Declared as read, written: a write violation.
    let bad = with_access(bank_call(user(9), 0, 1, 1, 2), vec![slot(1), slot(2)], vec![]);
    assert_rejected_as_absent(&around(bad), 2, slot(1), AccessKind::Write);
}

#[test]
fn an_invalid_transaction_fails_the_block_in_every_mode_naming_the_first() {
    let (state, block) = (genesis(8), block());
    let mut txs = around(transfer(user(5), 0, user(6), 1));
    txs.push(transfer(user(6), 7, user(5), 1)); // nonce gap, later in the block
    txs.insert(1, transfer(user(7), 3, user(5), 1)); // nonce gap, earlier
    let expected = SequentialExecutor::new().execute(&state, &block, &txs).unwrap_err();
    assert!(matches!(expected, defivm_vm::VmError::InvalidTransaction { index: 1, .. }), "{expected}");
    for threads in [1, 2, 4] {
        for mode in MODES {
            for segment in SEGMENTS {
                let executor = executor(threads, mode).with_segment_txs(segment);
                assert_eq!(executor.execute(&state, &block, &txs).unwrap_err(), expected);
                // The block stops with the segment that failed: in segments
                // of one, nothing after the failing transaction runs.
                let streamed = Mutex::new(Vec::new());
                let got = executor.execute_streamed(&state, &block, &txs, |i, _| streamed.lock().unwrap().push(i));
                assert_eq!(got.unwrap_err(), expected);
                let last = streamed.into_inner().unwrap().into_iter().max();
                if segment == 1 {
                    assert_eq!(last, Some(0), "{threads} threads, {mode:?}");
                }
            }
        }
    }
}

#[test]
fn the_beneficiary_balance_is_plain_revms_and_a_reader_sees_every_earlier_fee() {
    let (state, block) = (genesis(8), block());
    let mut txs = vec![bank_call(user(0), 0, 1, 5, 2), transfer(user(1), 0, user(2), 10)];
    txs.push(probe_call(user(5), 0, block.beneficiary)); // stores the balance it sees
    txs.push(transfer(user(3), 0, block.beneficiary, 1)); // declares the beneficiary
    txs.push(bank_call(user(4), 0, 3, 5, 4));
    let ours = SequentialExecutor::new().execute(&state, &block, &txs).unwrap();
    let (_, post) = plain_revm(&state, &block, &txs);
    assert!(!ours.fees.is_zero());
    assert_eq!(post.account(&block.beneficiary).map(|a| a.balance), Some(ours.fees + U256::from(1)));
    let seen = post.storage(&PROBE_ADDRESS, &U256::ZERO);
    let first_two: u64 = ours.receipts[..2].iter().map(|r| r.gas_used * 3).sum();
    assert_eq!(seen, U256::from(first_two), "the probe sees the fees of the two transactions before it");
    assert_eq!(ours.state_root(&state), post.root());
    for threads in [1, 2, 4] {
        for mode in MODES {
            // In segments of one and two, the fees folded for the probe and
            // the beneficiary transfer come from earlier segments.
            for segment in [defivm_vm::SEGMENT_TXS, 1, 2] {
                let executor = executor(threads, mode).with_segment_txs(segment);
                assert_eq!(executor.execute(&state, &block, &txs).unwrap(), ours, "{mode:?}, segments of {segment}");
            }
        }
    }
}

#[test]
fn a_panic_in_the_receipt_sink_fails_the_block_in_every_mode() {
    let (state, block, txs) = contended_block(40);
    for threads in [1, 2, 4] {
        for mode in MODES {
            let executor = executor(threads, mode);
            let sink = |index: usize, _| assert_ne!(index, 17, "the sink gives up");
            let error = executor.execute_streamed(&state, &block, &txs, sink).unwrap_err();
            assert!(matches!(&error, defivm_vm::VmError::Internal { index: 17, .. }), "{error}");
            // The executor is still good for the next block.
            let expected = SequentialExecutor::new().execute(&state, &block, &txs).unwrap();
            assert_eq!(executor.execute(&state, &block, &txs).unwrap(), expected, "{threads} threads, {mode:?}");
        }
        let (list, expected) = listed(&state, &block, &txs);
        let bal = BalExecutor::new(threads).unwrap();
        let sink = |index: usize, _| assert_ne!(index, 17, "the sink gives up");
        let error = bal.execute_streamed(&state, &block, &txs, &list, sink).unwrap_err();
        assert!(matches!(&error, defivm_vm::VmError::Internal { index: 17, .. }), "{error}");
        assert_eq!(bal.execute(&state, &block, &txs, &list).unwrap(), expected, "{threads} threads, bal");
    }
}

/// The block's list, as the sequential executor records it, and its
/// outcome as bal mode gives it (no record: the list is the record).
fn listed(state: &State, block: &BlockEnv, txs: &[Transaction]) -> (ListedAccess, BlockOutcome) {
    let mut outcome = SequentialExecutor::new().with_access_record(true).execute(state, block, txs).unwrap();
    let list = ListedAccess::new(std::mem::take(&mut outcome.access));
    (list, outcome)
}

#[test]
fn streamed_receipts_are_the_collected_ones_in_every_mode() {
    let (state, block, txs) = contended_block(3_000);
    let expected = SequentialExecutor::new().execute(&state, &block, &txs).unwrap();
    let effects = |outcome: &BlockOutcome| (outcome.changes.clone(), outcome.fees);
    let mut order = Vec::new();
    let mut receipts = Vec::new();
    let streamed = SequentialExecutor::new()
        .execute_streamed(&state, &block, &txs, |i, r| {
            order.push(i);
            receipts.push(r);
        })
        .unwrap();
    assert_eq!(order, (0..txs.len()).collect::<Vec<_>>(), "in block order");
    assert_eq!((receipts, (streamed.changes, streamed.fees)), (expected.receipts.clone(), effects(&expected)));
    for threads in [1, 2, 4] {
        for mode in MODES {
            for segment in [defivm_vm::SEGMENT_TXS, 700] {
                let slots: Vec<Mutex<Vec<Receipt>>> = txs.iter().map(|_| Mutex::default()).collect();
                let executor = executor(threads, mode).with_segment_txs(segment);
                let streamed =
                    executor.execute_streamed(&state, &block, &txs, |i, r| slots[i].lock().unwrap().push(r)).unwrap();
                let what = format!("{threads} threads, {mode:?}, segments of {segment}");
                // Each transaction's receipt, once.
                let receipts: Vec<Receipt> = slots
                    .into_iter()
                    .map(|slot| {
                        let mut got = slot.into_inner().unwrap();
                        assert_eq!(got.len(), 1, "{what}");
                        got.remove(0)
                    })
                    .collect();
                assert_eq!(receipts, expected.receipts, "{what}");
                assert_eq!(streamed.state_root(&state), expected.state_root(&state), "{what}");
                assert_eq!((streamed.changes, streamed.fees), effects(&expected), "{what}");
            }
        }
        let (list, _) = listed(&state, &block, &txs);
        let slots: Vec<Mutex<Vec<Receipt>>> = txs.iter().map(|_| Mutex::default()).collect();
        let bal = BalExecutor::new(threads).unwrap();
        let streamed =
            bal.execute_streamed(&state, &block, &txs, &list, |i, r| slots[i].lock().unwrap().push(r)).unwrap();
        let receipts: Vec<Vec<Receipt>> = slots.into_iter().map(|slot| slot.into_inner().unwrap()).collect();
        assert!(receipts.iter().all(|got| got.len() == 1), "{threads} threads, bal: each receipt once");
        assert_eq!(receipts.concat(), expected.receipts, "{threads} threads, bal");
        assert_eq!((streamed.changes, streamed.fees), effects(&expected), "{threads} threads, bal");
    }
}

#[test]
fn a_sender_short_of_gas_money_or_over_the_block_gas_limit_fails_the_block_in_every_mode() {
    let (state, block) = (genesis(8), block());
    let poor = transfer(user(100), 0, user(1), 1); // never funded
    let mut greedy = transfer(user(2), 0, user(1), 1);
    greedy.gas_limit = block.gas_limit + 1;
    for (bad, expected_index) in [(poor, 3), (greedy, 3)] {
        let mut txs = around(transfer(user(5), 0, user(6), 1));
        txs.insert(3, bad);
        let expected = SequentialExecutor::new().execute(&state, &block, &txs).unwrap_err();
        assert!(
            matches!(&expected, defivm_vm::VmError::InvalidTransaction { index, .. } if *index == expected_index),
            "{expected}"
        );
        for threads in [1, 2, 4] {
            for mode in MODES {
                assert_eq!(executor(threads, mode).execute(&state, &block, &txs).unwrap_err(), expected);
            }
        }
    }
}

#[test]
fn an_oversized_declaration_fails_the_block_in_every_mode() {
    let (state, block) = (genesis(8), block());
    let limits = defivm_scheduler::Limits { max_keys_per_tx: 2 };
    let big = with_access(bank_call(user(5), 0, 1, 1, 2), vec![slot(2), slot(3)], vec![slot(1)]);
    let txs = around(big);
    let expected = SequentialExecutor::with_limits(limits).execute(&state, &block, &txs).unwrap_err();
    assert_eq!(
        expected.to_string(),
        "cannot schedule the block: transaction 2 (position 2) declares 3 keys; the limit is 2"
    );
    for threads in [1, 2] {
        for mode in MODES {
            let executor = executor(threads, mode).with_limits(limits);
            assert_eq!(executor.execute(&state, &block, &txs).unwrap_err(), expected);
        }
    }
}
