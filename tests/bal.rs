//! EIP-7928 block access lists: the list defivm's executors record equals,
//! entry for entry and in its hash, the one revm's own builder makes of the
//! same block run by plain revm; on every generated workload at several
//! hotnesses and on every mainnet fixture, in every mode.

mod common;

use alloy_eip7928::{BlockAccessIndex, NonceChange};
use defivm::ethereum::{AccountChanges, BlockAccessList, bal_hash, block_access, block_access_list};
use defivm::fixture::{Codes, LoadedFixture};
use defivm::vm::{
    Address, BalExecutor, BlockEffects, BlockEnv, BlockOutcome, Field, FieldValue, ListMismatch, ListedAccess,
    MismatchKind, ParallelExecutor, ParallelMode, Receipt, SequentialExecutor, State, Status, Transaction, U256,
    VmError, revm_block_access_list,
};
use defivm::workload::{Workload, WorkloadSpec, generate};
use std::path::Path;
use std::sync::Mutex;

/// Every executor the list must come out of alike.
fn executors() -> Vec<ParallelExecutor> {
    [1, 2, 4]
        .into_iter()
        .flat_map(|threads| {
            [ParallelMode::Waves, ParallelMode::Dag].map(|mode| {
                ParallelExecutor::new(threads).unwrap().with_mode(mode).with_fallback(false).with_access_record(true)
            })
        })
        .collect()
}

/// The block's list as defivm records it in every mode, checked against
/// revm's builder; `what` names the block in a failure.
fn check(what: &str, state: &State, env: &BlockEnv, txs: &[Transaction], executors: &[ParallelExecutor]) {
    let sequential = SequentialExecutor::new().with_access_record(true).execute(state, env, txs).unwrap();
    let ours = block_access_list(&sequential.access);
    let revm = revm_block_access_list(state, env, txs).unwrap();
    if ours != revm {
        let first = ours.iter().zip(&revm).position(|(a, b)| a != b).unwrap_or(ours.len().min(revm.len()));
        panic!(
            "{what}: {} accounts against revm's {}; first difference at entry {first}:\n ours {:?}\n revm {:?}",
            ours.len(),
            revm.len(),
            ours.get(first),
            revm.get(first)
        );
    }
    assert_eq!(bal_hash(&ours), bal_hash(&revm), "{what}");
    for executor in executors {
        let parallel = executor.execute(state, env, txs).unwrap();
        assert_eq!(parallel.access, sequential.access, "{what}: {} threads {:?}", executor.threads(), executor.mode());
    }
}

#[test]
fn every_generated_workload_records_the_list_revm_builds() {
    let executors = executors();
    for workload in Workload::ALL {
        for hot in [0.0, 0.1, 0.5, 1.0] {
            let spec = WorkloadSpec { users: 60, hot, seed: 11, ..WorkloadSpec::new(workload, 300) };
            let block = generate(&spec).unwrap();
            check(&format!("{workload} hot {hot}"), block.state(), &block.env, &block.txs, &executors);
        }
    }
}

#[test]
fn every_mainnet_block_records_the_list_revm_builds() {
    let files = common::mainnet_files();
    let executors = executors();
    let codes = Codes::new();
    for file in &files {
        let fixture = LoadedFixture::load_with(file, &codes).unwrap();
        check(&file.display().to_string(), &fixture.state, &fixture.env, &fixture.txs, &executors);
    }
    assert_eq!(files.len(), 68);
}

#[test]
fn the_committed_fixtures_carry_the_list_the_executors_record() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut files: Vec<_> = ["erc20", "dex", "lending", "staking", "mixed"]
        .iter()
        .map(|w| root.join(format!("{w}.json.gz")))
        .chain(std::fs::read_dir(root.join("mainnet")).unwrap().map(|e| e.unwrap().path()))
        .collect();
    files.sort();
    let codes = Codes::new();
    let executor = ParallelExecutor::new(2).unwrap().with_access_record(true);
    for file in &files {
        let fixture = LoadedFixture::load_with(file, &codes).unwrap();
        assert!(fixture.block_access_list.is_some(), "{} has no block access list", file.display());
        let outcome = executor.execute(&fixture.state, &fixture.env, &fixture.txs).unwrap();
        assert_eq!(fixture.compare_access(&outcome.access), Ok(()), "{}", file.display());
    }
    assert_eq!(files.len(), 73);
}

#[test]
fn a_transaction_rejected_for_an_access_violation_leaves_no_entries() {
    let spec = WorkloadSpec { users: 1_000, seed: 3, ..WorkloadSpec::new(Workload::Erc20, 200) };
    let mut block = generate(&spec).unwrap();
    // A transaction whose sender no other transaction sends from or to
    // declares nothing beyond what it implies: its token balances are
    // undeclared reads, and it is rejected.
    let alone = |i: usize| {
        let sender = block.txs[i].from;
        block.txs.iter().enumerate().all(|(j, tx)| j == i || (tx.from != sender && tx.to != Some(sender)))
    };
    let rejected = (5..block.txs.len() - 1).find(|&i| alone(i)).unwrap();
    let sender = block.txs[rejected].from;
    block.txs[rejected].access = Default::default();
    let sequential =
        SequentialExecutor::new().with_access_record(true).execute(block.state(), &block.env, &block.txs).unwrap();
    let status = &sequential.receipts[rejected].status;
    assert!(matches!(status, Status::AccessViolation { .. }), "{status:?}");
    let list = block_access_list(&sequential.access);
    let at = |index: u64| {
        list.iter().any(|a| {
            a.balance_changes.iter().any(|c| c.block_access_index.get() == index)
                || a.nonce_changes.iter().any(|c| c.block_access_index.get() == index)
                || a.storage_changes.iter().any(|s| s.changes.iter().any(|c| c.block_access_index.get() == index))
        })
    };
    let index = rejected as u64 + 1;
    assert!(at(index - 1) && at(index + 1), "its neighbours leave entries");
    assert!(!at(index), "transaction {rejected} (index {index}) left an entry");
    assert!(list.iter().all(|a| a.address != sender), "its sender, which it loaded, is not listed");
    for executor in executors() {
        let parallel = executor.execute(block.state(), &block.env, &block.txs).unwrap();
        assert_eq!(parallel, sequential, "{} threads {:?}", executor.threads(), executor.mode());
    }
}

/// Executes the block from `list` at 1 to 4 threads: each outcome must be
/// `expected` (the sequential one), what it accessed aside.
fn from_list(
    what: &str,
    state: &State,
    env: &BlockEnv,
    txs: &[Transaction],
    list: &ListedAccess,
    expected: &BlockOutcome,
) {
    for threads in 1..=4 {
        let got = BalExecutor::new(threads).unwrap().execute(state, env, txs, list);
        let got = got.unwrap_or_else(|e| panic!("{what}: {threads} threads: {e}"));
        assert_eq!(got.receipts, expected.receipts, "{what}: {threads} threads");
        assert_eq!(got.changes, expected.changes, "{what}: {threads} threads");
        assert_eq!(got.fees, expected.fees, "{what}: {threads} threads");
    }
    // Streamed: each receipt once, the same effects.
    let slots: Vec<Mutex<Vec<Receipt>>> = txs.iter().map(|_| Mutex::default()).collect();
    let streamed = BalExecutor::new(2).unwrap().execute_streamed(state, env, txs, list, |i, r| {
        slots[i].lock().unwrap().push(r);
    });
    let streamed = streamed.unwrap_or_else(|e| panic!("{what}: streamed: {e}"));
    let receipts: Vec<Vec<Receipt>> = slots.into_iter().map(|slot| slot.into_inner().unwrap()).collect();
    assert!(receipts.iter().all(|got| got.len() == 1), "{what}: streamed, each receipt once");
    assert_eq!(receipts.concat(), expected.receipts, "{what}: streamed");
    assert_eq!((&streamed.changes, streamed.fees), (&expected.changes, expected.fees), "{what}: streamed");
    checked_against(what, state, env, txs, list, expected);
}

/// Every executor that runs a block from its declarations, checking what
/// it accessed against a list: sequential, and waves and dag at 1, 2 and 4
/// threads, in one segment and in segments of 64 (a piece of the record
/// each).
fn checking() -> Vec<(String, Checking)> {
    let mut all = vec![("sequential".to_string(), Checking::Sequential(SequentialExecutor::new()))];
    for threads in [1, 2, 4] {
        for mode in [ParallelMode::Waves, ParallelMode::Dag] {
            for segment in [usize::MAX, 64] {
                let executor = ParallelExecutor::new(threads).unwrap().with_mode(mode).with_fallback(false);
                let what = format!("{mode:?}, {threads} threads, segments of {segment}");
                all.push((what, Checking::Parallel(Box::new(executor.with_segment_txs(segment)))));
            }
        }
    }
    all
}

/// An executor that checks a block against its list as it runs.
enum Checking {
    Sequential(SequentialExecutor),
    Parallel(Box<ParallelExecutor>),
}

impl Checking {
    /// The block run and checked against `list`: its effects, with its
    /// receipts in block order, each handed over once.
    fn run(
        &self,
        state: &State,
        env: &BlockEnv,
        txs: &[Transaction],
        list: &ListedAccess,
    ) -> Result<(Vec<Receipt>, BlockEffects), VmError> {
        let slots: Vec<Mutex<Vec<Receipt>>> = txs.iter().map(|_| Mutex::default()).collect();
        let receipt = |i: usize, r| slots[i].lock().unwrap().push(r);
        let effects = match self {
            Checking::Sequential(executor) => executor.execute_checked(state, env, txs, list, receipt)?,
            Checking::Parallel(executor) => executor.execute_checked(state, env, txs, list, receipt)?,
        };
        let receipts: Vec<Vec<Receipt>> = slots.into_iter().map(|slot| slot.into_inner().unwrap()).collect();
        assert!(receipts.iter().all(|got| got.len() == 1), "each receipt once");
        Ok((receipts.concat(), effects))
    }
}

/// Runs the block checked against `list` on every checking executor: each
/// outcome must be `expected` (the sequential one), with no record kept.
fn checked_against(
    what: &str,
    state: &State,
    env: &BlockEnv,
    txs: &[Transaction],
    list: &ListedAccess,
    expected: &BlockOutcome,
) {
    for (how, executor) in checking() {
        let (receipts, effects) =
            executor.run(state, env, txs, list).unwrap_or_else(|e| panic!("{what}: checked, {how}: {e}"));
        assert_eq!(receipts, expected.receipts, "{what}: checked, {how}");
        assert_eq!((&effects.changes, effects.fees), (&expected.changes, expected.fees), "{what}: checked, {how}");
        assert!(effects.access.is_empty(), "{what}: checked, {how}: no record kept");
    }
}

#[test]
fn a_panic_in_the_receipt_sink_fails_a_block_before_eip_161_run_from_its_list() {
    // Block 930,196 (Frontier) runs on the sequential path in bal mode.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mainnet/930196.json.gz");
    let fixture = LoadedFixture::load(&path).unwrap();
    let list = ListedAccess::new(block_access(fixture.block_access_list.as_ref().unwrap()));
    let sink = |index: usize, _| assert_ne!(index, 5, "the sink gives up");
    let error = BalExecutor::new(2)
        .unwrap()
        .execute_streamed(&fixture.state, &fixture.env, &fixture.txs, &list, sink)
        .unwrap_err();
    assert!(matches!(&error, VmError::Internal { index: 5, .. }), "{error}");
}

#[test]
fn every_generated_workload_runs_from_its_list_as_sequentially() {
    for workload in Workload::ALL {
        for hot in [0.0, 0.1, 0.5, 1.0] {
            let spec = WorkloadSpec { users: 60, hot, seed: 12, ..WorkloadSpec::new(workload, 300) };
            let block = generate(&spec).unwrap();
            let expected = SequentialExecutor::new()
                .with_access_record(true)
                .execute(block.state(), &block.env, &block.txs)
                .unwrap();
            let list = ListedAccess::new(expected.access.clone());
            from_list(&format!("{workload} hot {hot}"), block.state(), &block.env, &block.txs, &list, &expected);
        }
    }
}

#[test]
fn every_mainnet_block_runs_from_its_list_as_sequentially() {
    let files = common::mainnet_files();
    let codes = Codes::new();
    for file in &files {
        let fixture = LoadedFixture::load_with(file, &codes).unwrap();
        let expected = SequentialExecutor::new().execute(&fixture.state, &fixture.env, &fixture.txs).unwrap();
        // The list the fixture carries, as a block would.
        let list = ListedAccess::new(block_access(fixture.block_access_list.as_ref().unwrap()));
        from_list(&file.display().to_string(), &fixture.state, &fixture.env, &fixture.txs, &list, &expected);
    }
    assert_eq!(files.len(), 68);
}

/// A list made wrong by `tamper` fails the block at every thread count,
/// run from the list and checked against it in every mode, with the
/// mismatch `expected` accepts (told whether the block ran from the list),
/// and nothing is applied (the executor returns no outcome).
fn tampered(
    what: &str,
    block: &defivm::workload::GeneratedBlock,
    tamper: impl Fn(&mut BlockAccessList),
    expected: impl Fn(&ListMismatch, bool) -> bool,
) {
    let record =
        SequentialExecutor::new().with_access_record(true).execute(block.state(), &block.env, &block.txs).unwrap();
    let mut list = block_access_list(&record.access);
    tamper(&mut list);
    let list = ListedAccess::new(block_access(&list));
    for threads in 1..=4 {
        let error =
            BalExecutor::new(threads).unwrap().execute(block.state(), &block.env, &block.txs, &list).unwrap_err();
        let VmError::AccessList(mismatch) = &error else { panic!("{what}, {threads} threads: {error}") };
        assert!(expected(mismatch, true), "{what}, {threads} threads: {mismatch:?}");
    }
    // Checked, every executor names the same mismatch, however its record
    // is cut into pieces.
    let mut first = None;
    for (how, executor) in checking() {
        let error = executor.run(block.state(), &block.env, &block.txs, &list).unwrap_err();
        let VmError::AccessList(mismatch) = error else { panic!("{what}, checked, {how}: {error}") };
        assert!(expected(&mismatch, false), "{what}, checked, {how}: {mismatch:?}");
        let first = first.get_or_insert_with(|| mismatch.clone());
        assert_eq!(&mismatch, first, "{what}, checked, {how}");
    }
}

#[test]
fn a_wrong_list_fails_the_block_naming_the_step_the_key_and_both_values() {
    let spec = WorkloadSpec { users: 40, hot: 0.5, seed: 5, ..WorkloadSpec::new(Workload::Mixed, 400) };
    let block = generate(&spec).unwrap();
    let record =
        SequentialExecutor::new().with_access_record(true).execute(block.state(), &block.env, &block.txs).unwrap();
    let list = block_access_list(&record.access);
    let index = |c: u64| u32::try_from(c).unwrap();

    // An account dropped: the first step that loads it reads what the list
    // does not hold (a sender: loaded first by its first transaction).
    let sender = block.txs[7].from;
    let first = block.txs.iter().position(|tx| tx.from == sender || tx.to == Some(sender)).unwrap() as u32 + 1;
    tampered(
        "account dropped",
        &block,
        |l| l.retain(|a| a.address != sender),
        |m, _| {
            m.kind == MismatchKind::UnlistedRead && m.address == sender && m.field.is_none() && m.index == Some(first)
        },
    );

    // A storage read dropped.
    let (reader, read) = list.iter().find_map(|a| a.storage_reads.first().map(|s| (a.address, *s))).unwrap();
    tampered(
        "storage read dropped",
        &block,
        |l| l.iter_mut().filter(|a| a.address == reader).for_each(|a| a.storage_reads.retain(|s| *s != read)),
        // A record knows where a slot changed, not where it was only read.
        |m, from_list| {
            m.kind == MismatchKind::UnlistedRead
                && m.address == reader
                && m.field == Some(Field::Storage(read))
                && m.index.is_some() == from_list
        },
    );

    // A storage read dropped and, later in the block, a post-value changed:
    // checked against a record, the read's step is not known, and the
    // change comes first whatever the pieces.
    let (owner, slot, at, value) = list
        .iter()
        .flat_map(|a| a.storage_changes.iter().map(move |s| (a.address, s)))
        .filter_map(|(address, s)| s.changes.last().map(|c| (address, s.slot, c.block_access_index, c.new_value)))
        .max_by_key(|c| c.2)
        .unwrap();
    let wrong = value ^ U256::from(1);
    tampered(
        "storage read dropped and a later post-value changed",
        &block,
        |l| {
            l.iter_mut().filter(|a| a.address == reader).for_each(|a| a.storage_reads.retain(|s| *s != read));
            let account = l.iter_mut().find(|a| a.address == owner).unwrap();
            let slot = account.storage_changes.iter_mut().find(|s| s.slot == slot).unwrap();
            slot.changes.last_mut().unwrap().new_value = wrong;
        },
        |m, from_list| {
            let read = (m.kind, m.address, m.field) == (MismatchKind::UnlistedRead, reader, Some(Field::Storage(read)));
            let changed = m.kind == MismatchKind::ValueDiffers
                && (m.index, m.address, m.field) == (Some(index(at.get())), owner, Some(Field::Storage(slot)));
            if from_list { read || changed } else { changed }
        },
    );

    // One post-value changed.
    let (owner, slot, at, value) = list
        .iter()
        .find_map(|a| {
            a.storage_changes
                .first()
                .map(|s| (a.address, s.slot, s.changes[0].block_access_index, s.changes[0].new_value))
        })
        .unwrap();
    let wrong = value ^ U256::from(1);
    tampered(
        "post-value changed",
        &block,
        |l| {
            let account = l.iter_mut().find(|a| a.address == owner).unwrap();
            account.storage_changes.iter_mut().find(|s| s.slot == slot).unwrap().changes[0].new_value = wrong;
        },
        |m, _| {
            m.kind == MismatchKind::ValueDiffers
                && (m.index, m.address, m.field) == (Some(index(at.get())), owner, Some(Field::Storage(slot)))
                && m.expected == Some(FieldValue::Storage(wrong))
                && m.computed == Some(FieldValue::Storage(value))
        },
    );

    // A balance change moved to a later index where its account has none:
    // its step makes a change the list does not record.
    let (mover, from, balance) = list
        .iter()
        .find_map(|a| {
            let c = a.balance_changes.first()?;
            let to = c.block_access_index.get() + 1;
            a.balance_changes.iter().all(|d| d.block_access_index.get() != to).then_some((
                a.address,
                c.block_access_index,
                c.post_balance,
            ))
        })
        .unwrap();
    tampered(
        "entry moved",
        &block,
        |l| {
            let account = l.iter_mut().find(|a| a.address == mover).unwrap();
            account.balance_changes[0].block_access_index = BlockAccessIndex::new(from.get() + 1);
        },
        |m, _| {
            m.kind == MismatchKind::UnlistedChange
                && (m.index, m.address, m.field) == (Some(index(from.get())), mover, Some(Field::Balance))
                && m.expected.is_none()
                && m.computed == Some(FieldValue::Balance(balance))
        },
    );

    // An entry nothing produced: a nonce change of a contract at the first
    // transaction's index.
    let contract = block.txs[0].to.unwrap();
    tampered(
        "entry added",
        &block,
        |l| {
            let account = l.iter_mut().find(|a| a.address == contract).unwrap();
            account.nonce_changes.insert(0, NonceChange::new(BlockAccessIndex::new(1), 77));
        },
        |m, _| {
            m.kind == MismatchKind::Unproduced
                && (m.index, m.address, m.field) == (Some(1), contract, Some(Field::Nonce))
                && m.expected == Some(FieldValue::Nonce(77))
        },
    );

    // A change at an index past every step (one no block reaches).
    tampered(
        "entry past the block",
        &block,
        |l| {
            let account = l.iter_mut().find(|a| a.address == contract).unwrap();
            account.nonce_changes.push(NonceChange::new(BlockAccessIndex::new(u64::MAX), 9));
        },
        |m, _| {
            m.kind == MismatchKind::Unproduced
                && (m.index, m.address, m.field) == (Some(u32::MAX), contract, Some(Field::Nonce))
        },
    );

    // An account added that no step loads.
    let stranger = Address::repeat_byte(0x5a);
    tampered(
        "account added",
        &block,
        |l| l.push(AccountChanges { address: stranger, ..AccountChanges::default() }),
        |m, _| m.kind == MismatchKind::Unproduced && m.address == stranger && m.index.is_none(),
    );
}

#[test]
fn a_long_block_is_checked_against_its_list_a_piece_at_a_time() {
    // Longer than the sequential executor's pieces of 65,536 transactions,
    // and run in parallel in segments of 16,384.
    let spec = WorkloadSpec { users: 5_000, hot: 0.0, seed: 21, ..WorkloadSpec::new(Workload::Erc20, 70_000) };
    let block = generate(&spec).unwrap();
    let (state, env, txs) = (block.state(), &block.env, &block.txs[..]);
    let expected = SequentialExecutor::new().with_access_record(true).execute(state, env, txs).unwrap();
    let list = block_access_list(&expected.access);
    let executors = [
        ("sequential", Checking::Sequential(SequentialExecutor::new())),
        ("dag", Checking::Parallel(Box::new(ParallelExecutor::new(2).unwrap().with_segment_txs(1 << 14)))),
    ];
    let right = ListedAccess::new(block_access(&list));
    for (how, executor) in &executors {
        let (receipts, effects) = executor.run(state, env, txs, &right).unwrap_or_else(|e| panic!("{how}: {e}"));
        assert_eq!(receipts, expected.receipts, "{how}");
        assert_eq!((&effects.changes, effects.fees), (&expected.changes, expected.fees), "{how}");
    }
    // A value changed in the first piece, one in the last, and an account
    // no step loads: each piece is checked, and the whole block at the end.
    let sender_slot = |tx: usize| {
        let index = tx as u64 + 1;
        list.iter()
            .find_map(|a| {
                let slot =
                    a.storage_changes.iter().find(|s| s.changes.iter().any(|c| c.block_access_index.get() == index))?;
                Some((a.address, slot.slot))
            })
            .unwrap()
    };
    for tx in [100, 68_000] {
        let (owner, slot) = sender_slot(tx);
        let mut wrong = list.clone();
        let account = wrong.iter_mut().find(|a| a.address == owner).unwrap();
        let slot_changes = account.storage_changes.iter_mut().find(|s| s.slot == slot).unwrap();
        let change = slot_changes.changes.iter_mut().find(|c| c.block_access_index.get() == tx as u64 + 1).unwrap();
        change.new_value ^= U256::from(1);
        let wrong = ListedAccess::new(block_access(&wrong));
        for (how, executor) in &executors {
            let error = executor.run(state, env, txs, &wrong).unwrap_err();
            let VmError::AccessList(m) = &error else { panic!("{how}, transaction {tx}: {error}") };
            assert_eq!((m.kind, m.index, m.address), (MismatchKind::ValueDiffers, Some(tx as u32 + 1), owner), "{how}");
        }
    }
    let mut wrong = list.clone();
    let stranger = Address::repeat_byte(0x5b);
    wrong.push(AccountChanges { address: stranger, ..AccountChanges::default() });
    let wrong = ListedAccess::new(block_access(&wrong));
    for (how, executor) in &executors {
        let error = executor.run(state, env, txs, &wrong).unwrap_err();
        let VmError::AccessList(m) = &error else { panic!("{how}, account added: {error}") };
        assert_eq!((m.kind, m.index, m.address), (MismatchKind::Unproduced, None, stranger), "{how}");
    }
}
