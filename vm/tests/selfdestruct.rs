//! `SELFDESTRUCT` and storage, by hand, in every mode (whole blocks and
//! segments of one transaction): after a destruction, no later transaction
//! of the block reads the old storage; a contract deployed again at its
//! address (`CREATE2`) starts empty; from Cancun a pre-existing contract is
//! not destroyed at all (EIP-6780).

mod common;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use common::ethereum::{SENDER, block_of, call, every_mode, slot};
use defivm_vm::{Account, Bytecode, SpecId, State, StateKey, Value};

/// The contract: with calldata it self-destructs (to the caller); without,
/// it returns `SLOAD(0)`.
const RUNTIME: [u8; 18] = [
    0x36, 0x60, 0x0f, 0x57, // CALLDATASIZE; JUMPI to the kill
    0x60, 0x00, 0x54, 0x60, 0x00, 0x52, // MSTORE(0, SLOAD(0))
    0x60, 0x20, 0x60, 0x00, 0xf3, // RETURN(0, 32)
    0x5b, 0x33, 0xff, // JUMPDEST; SELFDESTRUCT(CALLER)
];

/// Its init code: `SSTORE(1, 9)`, then return the runtime.
fn init_code() -> Vec<u8> {
    let mut code = vec![0x60, 0x09, 0x60, 0x01, 0x55]; // SSTORE(1, 9)
    code.extend([0x60, 0x12, 0x80, 0x60, 0x10, 0x60, 0x00, 0x39]); // CODECOPY(0, 16, 18)
    code.extend([0x60, 0x00, 0xf3]); // RETURN(0, 18)
    code.extend(RUNTIME);
    code
}

/// The factory: deploys the init code with `CREATE2`, salt 0.
fn factory_code() -> Vec<u8> {
    let init = init_code();
    let mut code = vec![0x60, 0x00, 0x60, init.len() as u8, 0x80, 0x60, 0x10, 0x60, 0x00, 0x39]; // salt; CODECOPY
    code.extend([0x60, 0x00, 0x60, 0x00, 0xf5, 0x00]); // CREATE2(0, 0, len, 0); STOP
    code.extend(init);
    code
}

const FACTORY: Address = Address::new([0xfa; 20]);

fn contract_address() -> Address {
    FACTORY.create2(B256::ZERO, keccak256(init_code()))
}

/// The sender, the factory, and the contract as the factory deployed it
/// earlier, with slots 0 and 1 set.
fn state() -> State {
    let mut state = common::ethereum::state_with(&[]);
    let factory = Account { nonce: 1, code: Some(Bytecode::new_raw(factory_code().into())), ..Account::default() };
    state.insert_account(FACTORY, factory);
    let runtime = Some(Bytecode::new_raw(Bytes::copy_from_slice(&RUNTIME)));
    let mut contract = Account { nonce: 1, balance: U256::from(1_000), code: runtime, ..Account::default() };
    contract.storage.extend([(U256::ZERO, U256::from(42)), (U256::from(1), U256::from(7))]);
    state.insert_account(contract_address(), contract);
    state
}

fn word(value: u64) -> Bytes {
    U256::from(value).to_be_bytes::<32>().to_vec().into()
}

#[test]
fn before_cancun_a_destroyed_contract_deployed_again_reads_no_old_storage() {
    let (state, c) = (state(), contract_address());
    let block = block_of(SpecId::SHANGHAI);
    let txs = [call(0, c, &[1], 0), call(1, FACTORY, &[], 0), call(2, c, &[], 0)];
    let outcome = every_mode(&state, &block, &txs);
    assert!(outcome.receipts.iter().all(|r| r.is_success()), "{:?}", outcome.receipts);
    // Slot 0 held 42 before the block; the contract deployed again reads 0.
    assert_eq!(outcome.receipts[2].output, word(0));
    // Its storage: only what the new deployment wrote.
    let post = outcome.post_state(&state);
    let account = post.account(&c).unwrap();
    assert_eq!(account.storage.iter().collect::<Vec<_>>(), vec![(&U256::from(1), &U256::from(9))]);
    assert_eq!(account.code.as_ref().unwrap().original_bytes().as_ref(), &RUNTIME);
    assert!(matches!(outcome.changes[&StateKey::Account(c)], Value::Created(_)));
    // The state root agrees with the state the changes build.
    assert_eq!(outcome.state_root(&state), post.root());
}

#[test]
fn before_cancun_a_destroyed_contract_given_value_exists_with_no_storage() {
    let (state, c) = (state(), contract_address());
    let block = block_of(SpecId::SHANGHAI);
    let outcome = every_mode(&state, &block, &[call(0, c, &[1], 0), call(1, c, &[], 5)]);
    let post = outcome.post_state(&state);
    let account = post.account(&c).unwrap();
    assert_eq!((account.balance, account.code.is_none(), account.storage.len()), (U256::from(5), true, 0));
    assert_eq!(outcome.state_root(&state), post.root());
    // The sender got the contract's 1,000 wei back.
    assert!(outcome.changes.contains_key(&StateKey::Account(SENDER)));
}

#[test]
fn from_cancun_a_pre_existing_contract_only_sends_its_balance() {
    let (state, c) = (state(), contract_address());
    let block = block_of(SpecId::CANCUN);
    let outcome = every_mode(&state, &block, &[call(0, c, &[1], 0), call(1, c, &[], 0)]);
    // Still there, storage and all: the read gives 42.
    assert_eq!(outcome.receipts[1].output, word(42));
    let post = outcome.post_state(&state);
    let account = post.account(&c).unwrap();
    assert_eq!((account.balance, account.storage.len()), (U256::ZERO, 2));
}

#[test]
fn a_contract_destroyed_in_the_transaction_that_created_it_is_gone_in_every_fork() {
    // A factory whose child destroys itself while it is being created.
    let child_init: [u8; 2] = [0x33, 0xff]; // SELFDESTRUCT(CALLER)
    let mut factory = vec![0x60, 0x00, 0x60, 0x02, 0x80, 0x60, 0x10, 0x60, 0x00, 0x39];
    factory.extend([0x60, 0x00, 0x60, 0x00, 0xf5, 0x00]);
    factory.extend(child_init);
    let child = FACTORY.create2(B256::ZERO, keccak256(child_init));
    let state = common::ethereum::state_with(&[(FACTORY, &factory)]);
    for spec in [SpecId::SHANGHAI, SpecId::CANCUN] {
        let outcome = every_mode(&state, &block_of(spec), &[call(0, FACTORY, &[], 0)]);
        assert!(outcome.receipts[0].is_success());
        assert!(outcome.post_state(&state).account(&child).is_none(), "{spec:?}");
        assert_eq!(slot(&outcome.changes, child, 0), None);
    }
}

#[test]
fn a_contract_destroyed_again_loses_what_it_wrote_since_the_first_time() {
    let (state, c) = (state(), contract_address());
    let block = block_of(SpecId::SHANGHAI);
    // Destroyed, deployed again (writing slot 1), destroyed again: slot 1
    // ends as zero, in the changes of every mode alike.
    let txs = [call(0, c, &[1], 0), call(1, FACTORY, &[], 0), call(2, c, &[1], 0)];
    let outcome = every_mode(&state, &block, &txs);
    assert_eq!(outcome.changes[&StateKey::Account(c)], Value::Account(None));
    assert_eq!(slot(&outcome.changes, c, 1), Some(U256::ZERO));
    assert!(outcome.post_state(&state).account(&c).is_none());
}
