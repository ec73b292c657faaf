//! Hand-made Ethereum cases: transactions declared by a recorded run, then
//! run in every mode, which must agree with the sequential executor.

use alloy_primitives::{Address, Bytes, U256};
use defivm_vm::{
    Account, BalExecutor, BlockEnv, BlockOutcome, Bytecode, Envelope, Fee, ListedAccess, ParallelExecutor,
    ParallelMode, SEGMENT_TXS, SequentialExecutor, State, StateChanges, StateKey, Transaction, TxType, Value, VmError,
};

/// A funded sender.
pub(crate) const SENDER: Address = Address::new([0x5e; 20]);

/// `txs` declaring what a recorded run says they touch. The recorded run's
/// outcome is the one the declared transactions give.
pub(crate) fn declared(state: &State, block: &BlockEnv, txs: &[Transaction]) -> Vec<Transaction> {
    let (recorded, declarations) = SequentialExecutor::new().record(state, block, txs).unwrap();
    let txs: Vec<Transaction> =
        txs.iter().cloned().zip(declarations).map(|(tx, access)| Transaction { access, ..tx }).collect();
    let declared = SequentialExecutor::new().with_access_record(true).execute(state, block, &txs).unwrap();
    assert_eq!(declared, recorded);
    txs
}

/// Runs `txs` (declared by a recorded run) in the sequential executor and
/// in both parallel modes at 1, 2 and 4 threads, whole and in segments of
/// one transaction, and from the block's access list; every outcome, what
/// the block accessed included, must be the sequential one, which is
/// returned.
pub(crate) fn every_mode(state: &State, block: &BlockEnv, txs: &[Transaction]) -> BlockOutcome {
    let txs = declared(state, block, txs);
    let expected = SequentialExecutor::new().with_access_record(true).execute(state, block, &txs).unwrap();
    for threads in [1, 2, 4] {
        for mode in [ParallelMode::Waves, ParallelMode::Dag] {
            for segment in [SEGMENT_TXS, 1] {
                let executor = ParallelExecutor::new(threads)
                    .unwrap()
                    .with_mode(mode)
                    .with_fallback(false)
                    .with_segment_txs(segment)
                    .with_access_record(true);
                let got = executor.execute(state, block, &txs).unwrap();
                assert_eq!(got, expected, "{threads} threads, {mode:?}, segments of {segment}");
            }
        }
        // From the block's access list: the same outcome (its record is
        // the list).
        let list = ListedAccess::new(expected.access.clone());
        let got = BalExecutor::new(threads).unwrap().execute(state, block, &txs, &list).unwrap();
        assert_eq!(BlockOutcome { access: expected.access.clone(), ..got }, expected, "{threads} threads, bal");
    }
    expected
}

/// The error every mode fails `txs` (as given) with; they must agree.
pub(crate) fn every_mode_fails(state: &State, block: &BlockEnv, txs: &[Transaction]) -> VmError {
    let expected = SequentialExecutor::new().execute(state, block, txs).unwrap_err();
    for threads in [1, 2] {
        for mode in [ParallelMode::Waves, ParallelMode::Dag] {
            let executor = ParallelExecutor::new(threads).unwrap().with_mode(mode).with_fallback(false);
            assert_eq!(executor.execute(state, block, txs).unwrap_err(), expected, "{threads} threads, {mode:?}");
        }
    }
    expected
}

/// A state with the sender funded and `contracts` deployed.
pub(crate) fn state_with(contracts: &[(Address, &[u8])]) -> State {
    let mut state = State::new();
    state.insert_account(SENDER, Account::with_balance(U256::from(10u64).pow(U256::from(20))));
    for (address, code) in contracts {
        let code = Some(Bytecode::new_raw(Bytes::copy_from_slice(code)));
        state.insert_account(*address, Account { nonce: 1, code, ..Account::default() });
    }
    state
}

/// A call from the sender with nonce `nonce`.
pub(crate) fn call(nonce: u64, to: Address, input: &[u8], value: u64) -> Transaction {
    Transaction {
        from: SENDER,
        to: Some(to),
        value: U256::from(value),
        input: Bytes::copy_from_slice(input),
        gas_limit: 1_000_000,
        fee: Fee::Legacy { gas_price: 10 },
        nonce,
        access: Default::default(),
        envelope: None,
    }
}

/// `tx` as an Ethereum transaction of `tx_type` signed for chain 1.
pub(crate) fn typed(tx: Transaction, tx_type: TxType) -> Transaction {
    let envelope = Envelope { tx_type, chain_id: Some(1), ..Envelope::default() };
    Transaction { envelope: Some(Box::new(envelope)), ..tx }
}

/// A storage slot's final value in `changes`, if the block wrote it.
pub(crate) fn slot(changes: &StateChanges, address: Address, slot: u64) -> Option<U256> {
    match changes.get(&StateKey::Storage(address, U256::from(slot))) {
        Some(Value::Storage(value)) => Some(*value),
        _ => None,
    }
}

/// A block of `spec` with the sender's balance able to pay.
pub(crate) fn block_of(spec: defivm_vm::SpecId) -> BlockEnv {
    BlockEnv { spec, basefee: 1, ..BlockEnv::default() }
}
