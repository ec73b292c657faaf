//! Declarations derived by simulation, by hand: against the prefix they are
//! exact and replay in every mode; against the pre-state a transaction that
//! calls a contract created earlier in the block is missing its keys (a
//! hint, not a declaration to trust).

mod common;

use alloy_primitives::{Address, Bytes, U256};
use common::ethereum::{SENDER, block_of, call, state_with};
use defivm_vm::{
    AccessSet, Declarer, ParallelExecutor, ParallelMode, SequentialExecutor, SpecId, StateKey, Status, Transaction,
};

/// A counter: `SSTORE(0, SLOAD(0) + 1)`.
const COUNTER: [u8; 10] = [0x60, 0x00, 0x54, 0x60, 0x01, 0x01, 0x60, 0x00, 0x55, 0x00];

/// Its init code: return the runtime (`MSTORE` puts it in the last 10
/// bytes of the first word).
fn init_code() -> Bytes {
    let mut code = vec![0x69];
    code.extend(COUNTER);
    code.extend([0x60, 0x00, 0x52, 0x60, 0x0a, 0x60, 0x16, 0xf3]);
    code.into()
}

/// The sender creates the counter, then calls it twice.
fn block_txs() -> (Address, Vec<Transaction>) {
    let create = Transaction { to: None, input: init_code(), ..call(0, Address::ZERO, &[], 0) };
    let counter = SENDER.create(0);
    (counter, vec![create, call(1, counter, &[], 0), call(2, counter, &[], 0)])
}

fn derive(threads: usize, prefix: bool) -> Vec<AccessSet<StateKey>> {
    let (state, block) = (state_with(&[]), block_of(SpecId::CANCUN));
    let declarer = Declarer::new(threads).unwrap().with_prefix(prefix);
    declarer.declare(&state, &block, &block_txs().1).unwrap()
}

#[test]
fn against_the_prefix_a_call_to_a_contract_created_in_the_block_declares_its_storage() {
    let (counter, mut txs) = block_txs();
    let slot = StateKey::Storage(counter, U256::ZERO);
    let exact = derive(1, true);
    assert!(exact[1].writes().contains(&slot) && exact[2].writes().contains(&slot), "{exact:?}");
    // Declared so, the block runs in every mode as it does undeclared.
    let (state, block) = (state_with(&[]), block_of(SpecId::CANCUN));
    let (undeclared, _) = SequentialExecutor::new().record(&state, &block, &txs).unwrap();
    for (tx, declaration) in txs.iter_mut().zip(exact) {
        tx.access = declaration;
    }
    let sequential = SequentialExecutor::new().execute(&state, &block, &txs).unwrap();
    assert!(sequential.receipts.iter().all(|r| r.status == Status::Success));
    assert_eq!((&sequential.receipts, &sequential.changes), (&undeclared.receipts, &undeclared.changes));
    for threads in 1..=4 {
        for mode in [ParallelMode::Waves, ParallelMode::Dag] {
            let executor = ParallelExecutor::new(threads).unwrap().with_mode(mode).with_fallback(false);
            let parallel = executor.execute(&state, &block, &txs).unwrap();
            let how = format!("{threads} threads {mode:?}");
            assert_eq!((&parallel.receipts, &parallel.changes), (&undeclared.receipts, &undeclared.changes), "{how}");
        }
    }
}

#[test]
fn against_the_pre_state_the_same_call_finds_no_code_and_declares_nothing_beyond_the_implied() {
    let exact = derive(1, true);
    for threads in 1..=4 {
        let hinted = derive(threads, false);
        // The creation does not depend on what came before it.
        assert_eq!(hinted[0], exact[0], "{threads} threads");
        // On the pre-state the counter has no code yet: a hint that misses
        // its storage, which the hint policy must repair.
        assert_eq!((hinted[1].reads().len(), hinted[1].writes().len()), (0, 0), "{threads} threads");
        assert_ne!(hinted[1], exact[1]);
    }
}

#[test]
fn against_the_pre_state_a_sender_funded_earlier_in_the_block_is_given_what_it_may_spend() {
    // The sender funds a new account, which then sends on: on the
    // pre-state that account does not exist, and holds nothing.
    let (state, block) = (state_with(&[]), block_of(SpecId::CANCUN));
    let funded = Address::new([0xb0; 20]);
    let sink = Address::new([0xc0; 20]);
    let fund = call(0, funded, &[], 1_000_000_000_000);
    let onward = Transaction { from: funded, ..call(0, sink, &[], 5) };
    let txs = vec![fund, onward];
    let exact = Declarer::new(1).unwrap().with_prefix(true).declare(&state, &block, &txs).unwrap();
    for threads in 1..=2 {
        let hinted = Declarer::new(threads).unwrap().declare(&state, &block, &txs).unwrap();
        assert_eq!(hinted, exact, "{threads} threads");
    }
    // A transaction invalid whatever its sender holds fails, naming it.
    let starved = Transaction { gas_limit: 1_000, ..call(1, sink, &[], 0) };
    let error = Declarer::new(2).unwrap().declare(&state, &block, &[txs[0].clone(), starved]).unwrap_err();
    assert!(error.to_string().contains("transaction 1"), "{error}");
}
