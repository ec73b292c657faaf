//! Each fork's block rules, by hand, in every mode: who gets the fee,
//! `DIFFICULTY` before the Merge and `PREVRANDAO` after, `BLOCKHASH` of the
//! listed blocks only, EIP-4788's beacon-root system call before the first
//! transaction, block and ommer rewards and withdrawals after the last. The
//! block's changes hold all of it.

mod common;

use alloy_eips::eip4788::{BEACON_ROOTS_ADDRESS, BEACON_ROOTS_CODE};
use alloy_primitives::{Address, B256, U256};
use common::ethereum::{call, every_mode, slot, state_with};
use defivm_vm::{BlockEnv, Ommer, OmmerHeader, SpecId, StateKey, Value, Withdrawal, balance_increments};

/// Stores `DIFFICULTY` (`PREVRANDAO` from the Merge) in slot 0.
const DIFFICULTY: &[u8] = &[0x44, 0x60, 0x00, 0x55, 0x00];
/// Stores `BLOCKHASH(NUMBER - 1)` in slot 0 and `BLOCKHASH(NUMBER - 2)` in
/// slot 1.
const HASHES: &[u8] = &[
    0x60, 0x01, 0x43, 0x03, 0x40, 0x60, 0x00, 0x55, // BLOCKHASH(NUMBER - 1) → slot 0
    0x60, 0x02, 0x43, 0x03, 0x40, 0x60, 0x01, 0x55, 0x00, // BLOCKHASH(NUMBER - 2) → slot 1
];
/// Calls the beacon roots contract with the block's timestamp and stores
/// the root it answers in slot 0.
const BEACON_READER: &[u8] = &[
    0x42, 0x60, 0x00, 0x52, // MSTORE(0, TIMESTAMP)
    0x60, 0x20, 0x60, 0x00, 0x60, 0x20, 0x60, 0x00, 0x60, 0x00, // out 0..32, in 0..32, value 0
    0x73, // PUSH20 the beacon roots contract
    0x00, 0x0f, 0x3d, 0xf6, 0xd7, 0x32, 0x80, 0x7e, 0xf1, 0x31, 0x9f, 0xb7, 0xb8, 0xbb, 0x85, 0x22, 0xd0, 0xbe, 0xac,
    0x02, 0x5a, 0xf1, // GAS CALL
    0x50, 0x60, 0x00, 0x51, 0x60, 0x00, 0x55, 0x00, // POP; SSTORE(0, MLOAD(0))
];
const PROBE: Address = Address::new([0x9b; 20]);
const ETHER: u128 = 1_000_000_000_000_000_000;

fn balance(outcome: &defivm_vm::BlockOutcome, address: Address) -> Option<U256> {
    outcome.changes.get(&StateKey::Account(address)).and_then(Value::account).map(|a| a.balance)
}

#[test]
fn before_london_the_whole_gas_price_is_the_beneficiarys_and_after_only_the_tip() {
    let state = state_with(&[]);
    let to = Address::repeat_byte(0x77);
    // Berlin: the price of 10 is all the beneficiary's (beside the 2 ether
    // block reward before the Merge).
    let berlin = BlockEnv { spec: SpecId::BERLIN, basefee: 0, ..BlockEnv::default() };
    let outcome = every_mode(&state, &berlin, &[call(0, to, &[], 1)]);
    let fee = U256::from(outcome.receipts[0].gas_used * 10);
    assert_eq!(balance(&outcome, berlin.beneficiary), Some(fee + U256::from(2 * ETHER)));
    // London: 7 of the 10 are burned.
    let london = BlockEnv { spec: SpecId::LONDON, basefee: 7, ..berlin };
    let outcome = every_mode(&state, &london, &[call(0, to, &[], 1)]);
    let tip = U256::from(outcome.receipts[0].gas_used * 3);
    assert_eq!(balance(&outcome, london.beneficiary), Some(tip + U256::from(2 * ETHER)));
    // After the Merge there is no block reward.
    let merged = BlockEnv { spec: SpecId::MERGE, ..london };
    let outcome = every_mode(&state, &merged, &[call(0, to, &[], 1)]);
    assert_eq!(balance(&outcome, merged.beneficiary), Some(tip));
}

#[test]
fn difficulty_before_the_merge_and_prevrandao_after() {
    let state = state_with(&[(PROBE, DIFFICULTY)]);
    let randao = B256::repeat_byte(0x3a);
    let difficulty = U256::from(0x1234_5678u64);
    for (spec, expected) in [(SpecId::LONDON, difficulty), (SpecId::MERGE, randao.into())] {
        let block = BlockEnv { spec, difficulty, prevrandao: randao, basefee: 1, ..BlockEnv::default() };
        let outcome = every_mode(&state, &block, &[call(0, PROBE, &[], 0)]);
        assert_eq!(slot(&outcome.changes, PROBE, 0), Some(expected), "{spec:?}");
    }
}

#[test]
fn blockhash_answers_the_listed_blocks_and_zero_for_others() {
    let mut state = state_with(&[(PROBE, HASHES)]);
    let block = BlockEnv { number: 1000, basefee: 1, ..BlockEnv::default() };
    let parent = B256::repeat_byte(0x99);
    state.insert_block_hash(999, parent);
    let outcome = every_mode(&state, &block, &[call(0, PROBE, &[], 0)]);
    assert_eq!(slot(&outcome.changes, PROBE, 0), Some(parent.into()));
    // Block 998 is not listed: zero, so the slot is never written.
    assert_eq!(slot(&outcome.changes, PROBE, 1), None);
}

#[test]
fn the_beacon_root_system_call_runs_before_the_first_transaction() {
    let mut state = state_with(&[(PROBE, BEACON_READER)]);
    let contract = defivm_vm::Account {
        nonce: 1,
        code: Some(defivm_vm::Bytecode::new_raw(BEACON_ROOTS_CODE.clone())),
        ..Default::default()
    };
    state.insert_account(BEACON_ROOTS_ADDRESS, contract);
    let root = B256::repeat_byte(0xbe);
    let timestamp = 1_710_338_135u64;
    let block = BlockEnv {
        spec: SpecId::CANCUN,
        timestamp,
        parent_beacon_block_root: Some(root),
        basefee: 1,
        ..BlockEnv::default()
    };
    let outcome = every_mode(&state, &block, &[call(0, PROBE, &[], 0)]);
    // The ring buffer: the timestamp at `timestamp % 8191`, the root 8191
    // slots on; and the transaction read the root back.
    let at = timestamp % 8191;
    assert_eq!(slot(&outcome.changes, BEACON_ROOTS_ADDRESS, at), Some(U256::from(timestamp)));
    assert_eq!(slot(&outcome.changes, BEACON_ROOTS_ADDRESS, at + 8191), Some(root.into()));
    assert_eq!(slot(&outcome.changes, PROBE, 0), Some(root.into()));

    // Before Cancun, or without a contract, there is no call.
    let shanghai = BlockEnv { spec: SpecId::SHANGHAI, ..block.clone() };
    let outcome = every_mode(&state, &shanghai, &[call(0, Address::repeat_byte(0x77), &[], 1)]);
    assert!(outcome.changes.keys().all(|k| k.address() != BEACON_ROOTS_ADDRESS));
    let outcome = every_mode(&state_with(&[]), &block, &[call(0, Address::repeat_byte(0x77), &[], 1)]);
    assert!(outcome.changes.keys().all(|k| k.address() != BEACON_ROOTS_ADDRESS));
}

#[test]
fn block_and_ommer_rewards_follow_the_fork_and_the_ommers_depth() {
    let state = state_with(&[]);
    let (uncle_one, uncle_three) = (Address::repeat_byte(0x01), Address::repeat_byte(0x03));
    let ommers = vec![
        Ommer { hash: B256::repeat_byte(1), header: Some(OmmerHeader { beneficiary: uncle_one, number: 99 }) },
        Ommer { hash: B256::repeat_byte(3), header: Some(OmmerHeader { beneficiary: uncle_three, number: 97 }) },
        // Listed by hash only: its miner cannot be paid; the block's still is.
        Ommer { hash: B256::repeat_byte(4), header: None },
    ];
    let block = BlockEnv { number: 100, spec: SpecId::HOMESTEAD, basefee: 0, ommers, ..BlockEnv::default() };
    let five = 5 * ETHER;
    assert_eq!(
        balance_increments(&block),
        vec![
            (uncle_one, U256::from(five * 7 / 8)),
            (uncle_three, U256::from(five * 5 / 8)),
            (block.beneficiary, U256::from(five + 3 * (five / 32))),
        ]
    );
    let outcome = every_mode(&state, &block, &[call(0, Address::repeat_byte(0x77), &[], 1)]);
    let fee = U256::from(outcome.receipts[0].gas_used * 10);
    assert_eq!(balance(&outcome, uncle_one), Some(U256::from(five * 7 / 8)));
    assert_eq!(balance(&outcome, uncle_three), Some(U256::from(five * 5 / 8)));
    assert_eq!(balance(&outcome, block.beneficiary), Some(fee + U256::from(five + 3 * (five / 32))));
    // Byzantium: 3 ether; Constantinople (Petersburg): 2; the Merge: none.
    for (spec, reward) in [(SpecId::BYZANTIUM, 3 * ETHER), (SpecId::PETERSBURG, 2 * ETHER)] {
        let block = BlockEnv { spec, ommers: Vec::new(), ..block.clone() };
        assert_eq!(balance_increments(&block), vec![(block.beneficiary, U256::from(reward))]);
    }
    assert_eq!(balance_increments(&BlockEnv { spec: SpecId::MERGE, ..block }), vec![]);
}

#[test]
fn withdrawals_are_credited_after_the_transactions_from_shanghai_on() {
    let state = state_with(&[]);
    let (validator, idle) = (Address::repeat_byte(0xa1), Address::repeat_byte(0xa2));
    let withdrawals = vec![
        Withdrawal { index: 0, validator_index: 7, address: validator, amount: 32 },
        Withdrawal { index: 1, validator_index: 8, address: idle, amount: 0 },
        Withdrawal { index: 2, validator_index: 7, address: validator, amount: 1 },
    ];
    // The validator is also paid by the transaction: the credit comes after it.
    let tx = call(0, validator, &[], 5);
    let block = BlockEnv { spec: SpecId::SHANGHAI, basefee: 1, withdrawals, ..BlockEnv::default() };
    let outcome = every_mode(&state, &block, std::slice::from_ref(&tx));
    assert_eq!(balance(&outcome, validator), Some(U256::from(33u64 * 1_000_000_000 + 5)));
    // A zero withdrawal touches nothing.
    assert!(!outcome.changes.contains_key(&StateKey::Account(idle)));
    // Before Shanghai a block has none to credit.
    let merged = BlockEnv { spec: SpecId::MERGE, ..block };
    assert_eq!(balance(&every_mode(&state, &merged, &[tx]), validator), Some(U256::from(5)));
}

#[test]
fn from_prague_the_request_system_calls_close_the_block() {
    use alloy_eips::eip7002::{WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS, WITHDRAWAL_REQUEST_PREDEPLOY_CODE};
    use alloy_eips::eip7251::{CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS, CONSOLIDATION_REQUEST_PREDEPLOY_CODE};
    // A stand-in for each predeploy: counts its calls in slot 0 and keeps
    // its last caller in slot 1.
    const COUNTER: &[u8] = &[0x60, 0x00, 0x54, 0x60, 0x01, 0x01, 0x60, 0x00, 0x55, 0x33, 0x60, 0x01, 0x55, 0x00];
    let (withdrawals, consolidations) = (WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS, CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS);
    let state = state_with(&[(withdrawals, COUNTER), (consolidations, COUNTER)]);
    let system = U256::from_be_slice(alloy_eips::eip4788::SYSTEM_ADDRESS.as_slice());
    let prague = BlockEnv { spec: SpecId::PRAGUE, basefee: 1, ..BlockEnv::default() };
    // The transaction calls one of them first: the system's call comes after.
    let outcome = every_mode(&state, &prague, &[call(0, withdrawals, &[], 0)]);
    assert_eq!(slot(&outcome.changes, withdrawals, 0), Some(U256::from(2)));
    assert_eq!(slot(&outcome.changes, withdrawals, 1), Some(system));
    assert_eq!(slot(&outcome.changes, consolidations, 0), Some(U256::from(1)));
    // Before Prague there are no such calls.
    let cancun = BlockEnv { spec: SpecId::CANCUN, ..prague.clone() };
    let outcome = every_mode(&state, &cancun, &[call(0, withdrawals, &[], 0)]);
    assert_eq!(slot(&outcome.changes, withdrawals, 1), Some(U256::from_be_slice(common::ethereum::SENDER.as_slice())));
    assert_eq!(slot(&outcome.changes, consolidations, 0), None);

    // The real predeploys, with nothing queued, run and leave the block valid.
    let real = state_with(&[
        (withdrawals, &WITHDRAWAL_REQUEST_PREDEPLOY_CODE),
        (consolidations, &CONSOLIDATION_REQUEST_PREDEPLOY_CODE),
    ]);
    let outcome = every_mode(&real, &prague, &[call(0, Address::repeat_byte(0x77), &[], 1)]);
    assert!(outcome.receipts[0].is_success());
}

/// Calls an address with no account, with a zero value: `CALL(gas, 0x42, 0, 0, 0, 0, 0)`.
const TOUCH: &[u8] = &[
    0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, // out, in, value: all 0
    0x60, 0x42, 0x5a, 0xf1, 0x00, // PUSH1 0x42, GAS, CALL, STOP
];

#[test]
fn before_eip_161_a_touched_account_that_did_not_exist_is_created_empty() {
    let state = state_with(&[(PROBE, TOUCH)]);
    let nobody = Address::with_last_byte(0x42);
    for (spec, exists) in [(SpecId::TANGERINE, true), (SpecId::SPURIOUS_DRAGON, false)] {
        let block = BlockEnv { spec, basefee: 0, ..BlockEnv::default() };
        let txs = [call(0, PROBE, &[], 0)];
        let outcome = every_mode(&state, &block, &txs);
        let post = outcome.post_state(&state);
        assert_eq!(post.account(&nobody).is_some(), exists, "{spec:?}");
        if exists {
            assert!(post.account(&nobody).is_some_and(|a| a.value().is_empty()));
        }
        // Plain revm, which knows nothing of our declarations, agrees.
        let mut plain = defivm_vm::PlainRevm::new(&state);
        plain.execute(&block, &common::ethereum::declared(&state, &block, &txs)).unwrap();
        assert_eq!(plain.post_state(), post, "{spec:?}");
        assert_eq!(outcome.state_root(&state), post.root());
    }
}
