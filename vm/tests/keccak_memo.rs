//! The executors' memoizing KECCAK256 against plain revm's, opcode edge
//! cases first: empty input at a huge offset, offsets and lengths past
//! any memory, an unaligned 64-byte input, the same input hashed twice and
//! a different one at the same place, and every gas limit around the
//! opcode, so that running out of gas inside it ends the same way.

mod common;

use alloy_primitives::{Address, Bytes, U256};
use common::{block, fee, genesis, user};
use defivm_vm::{
    AccessSet, Account, BlockEnv, Bytecode, ParallelExecutor, ParallelMode, PlainRevm, SequentialExecutor, SpecId,
    State, StateKey, Status, Transaction,
};
use revm::context::result::{HaltReason, OutOfGasError};

/// Writes calldata words 2 and 3 to memory `0..64`, hashes memory at
/// (offset, length) = (word 0, word 1), and stores the hash in slot 0.
const HASHER: &[u8] = &[
    0x60, 0x40, 0x35, 0x60, 0x00, 0x52, // mem[0..32] = calldata[64..96]
    0x60, 0x60, 0x35, 0x60, 0x20, 0x52, // mem[32..64] = calldata[96..128]
    0x60, 0x20, 0x35, // length
    0x60, 0x00, 0x35, // offset, on top
    0x20, // KECCAK256
    0x60, 0x00, 0x55, // slot 0 = hash
    0x00,
];

const HASHER_ADDRESS: Address = Address::new([0x4a; 20]);

/// Before Prague's calldata floor, so that a gas limit just above the
/// intrinsic cost leaves only a few dozen gas for the code.
fn cancun() -> BlockEnv {
    BlockEnv { spec: SpecId::CANCUN, ..block() }
}

fn state() -> State {
    let mut state = genesis(2);
    let hasher = Account { nonce: 1, code: Some(Bytecode::new_raw(Bytes::from_static(HASHER))), ..Account::default() };
    state.insert_account(HASHER_ADDRESS, hasher);
    state
}

fn hash_call(nonce: u64, offset: U256, length: U256, data: [U256; 2], gas_limit: u64) -> Transaction {
    let mut input = Vec::with_capacity(128);
    for word in [offset, length, data[0], data[1]] {
        input.extend_from_slice(&word.to_be_bytes::<32>());
    }
    Transaction {
        from: user(0),
        to: Some(HASHER_ADDRESS),
        value: U256::ZERO,
        input: input.into(),
        gas_limit,
        fee: fee(),
        nonce,
        access: AccessSet::new(vec![], vec![StateKey::Storage(HASHER_ADDRESS, U256::ZERO)]),
        envelope: None,
    }
}

/// Gas before the code runs: 21,000 plus 4 per zero and 16 per other
/// calldata byte.
fn intrinsic(tx: &Transaction) -> u64 {
    21_000 + tx.input.iter().map(|&b| if b == 0 { 4 } else { 16 }).sum::<u64>()
}

#[test]
fn memoized_keccak_matches_plain_revm_on_every_edge() {
    let words = |a: u64, b: u64| [U256::from(a) << 200 | U256::from(a), U256::from(b) << 100 | U256::from(b)];
    let huge = U256::from(1) << 200;
    let near_end = U256::from(u64::MAX - 10);
    let cases = [
        (U256::ZERO, U256::from(64), words(1, 2)),     // a memoized input
        (U256::ZERO, U256::from(64), words(1, 2)),     // the same again, from the memo
        (U256::ZERO, U256::from(64), words(3, 4)),     // different bytes, same place
        (U256::from(1), U256::from(64), words(1, 2)),  // unaligned, growing memory
        (U256::from(32), U256::from(64), words(5, 6)), // half in fresh memory
        (U256::ZERO, U256::from(63), words(1, 2)),     // not 64 bytes: not memoized
        (U256::ZERO, U256::ZERO, words(1, 2)),         // empty
        (huge, U256::ZERO, words(1, 2)),               // empty, far away: no memory touched
        (huge, U256::from(64), words(1, 2)),           // past any memory
        (near_end, U256::from(64), words(1, 2)),       // offset plus length overflows
        (U256::ZERO, huge, words(1, 2)),               // a length past any memory
    ];
    let mut txs: Vec<Transaction> = Vec::new();
    for &(offset, length, data) in &cases {
        txs.push(hash_call(txs.len() as u64, offset, length, data, 200_000));
    }
    // Every gas limit from the intrinsic cost up to past the opcode, for a
    // memoized and an unaligned input: out of gas before, inside (static
    // cost, word cost, memory expansion) and after it.
    for (offset, data) in [(U256::ZERO, words(7, 8)), (U256::from(1), words(9, 10))] {
        let probe = hash_call(0, offset, U256::from(64), data, 0);
        for gas in intrinsic(&probe)..intrinsic(&probe) + 160 {
            txs.push(hash_call(txs.len() as u64, offset, U256::from(64), data, gas));
        }
    }
    let (state, block) = (state(), cancun());
    let ours = SequentialExecutor::new().execute(&state, &block, &txs).unwrap();
    let mut revm = PlainRevm::new(&state);
    let receipts = revm.execute(&block, &txs).unwrap();
    for (i, (got, expected)) in ours.receipts.iter().zip(&receipts).enumerate() {
        assert_eq!(got, expected, "transaction {i}");
    }
    assert_eq!(ours.post_state(&state), revm.post_state());
    // The first eight cases hash; the next three and the whole sweep halt,
    // the sweep at every step up to the store, whose 2,300-gas sentry none
    // of its limits passes.
    let (hashed, rest) = ours.receipts.split_at(8);
    assert!(hashed.iter().all(|r| r.is_success()), "{hashed:?}");
    assert!(rest.iter().all(|r| matches!(r.status, Status::Halt(_))), "{rest:?}");
    for reason in
        [OutOfGasError::Basic, OutOfGasError::Memory, OutOfGasError::InvalidOperand, OutOfGasError::ReentrancySentry]
    {
        let halt = Status::Halt(HaltReason::OutOfGas(reason));
        assert!(rest.iter().any(|r| r.status == halt), "no {halt:?}");
    }
    for mode in [ParallelMode::Waves, ParallelMode::Dag] {
        let parallel = ParallelExecutor::new(2).unwrap().with_mode(mode).execute(&state, &block, &txs).unwrap();
        assert_eq!(parallel, ours, "{mode:?}");
    }
}
