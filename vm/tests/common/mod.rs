//! Generated blocks for the differential tests: native transfers and calls
//! to a storage-heavy contract, with contention knobs.

#![allow(dead_code)]

pub(crate) mod ethereum;

use alloy_primitives::{Address, Bytes, U256};
use defivm_vm::{AccessSet, Account, BlockEnv, Bytecode, Fee, State, StateKey, Transaction};

/// A contract assembled by hand. Calldata: `slot`, `amount`, `other` (three
/// words). It reverts if `amount > 0xffff`; otherwise it stores
/// `sload(slot) + amount + sload(other)` at `slot` and logs the new value
/// with `slot` as topic.
pub(crate) const BANK: &[u8] = &[
    0x61, 0xff, 0xff, // PUSH2 0xffff
    0x60, 0x20, 0x35, // amount
    0x11, // GT: amount > 0xffff
    0x60, 0x27, 0x57, // JUMPI to the revert
    0x60, 0x00, 0x35, // slot
    0x80, 0x54, // DUP1 SLOAD: slot, old
    0x60, 0x20, 0x35, 0x01, // + amount
    0x60, 0x40, 0x35, 0x54, 0x01, // + sload(other)
    0x80, 0x60, 0x00, 0x52, // mem[0] = new
    0x90, 0x55, // SSTORE(slot, new)
    0x60, 0x00, 0x35, // topic: slot
    0x60, 0x20, 0x60, 0x00, 0xa1, // LOG1(mem[0..32])
    0x00, // STOP
    0x5b, 0x60, 0x00, 0x60, 0x00, 0xfd, // JUMPDEST; REVERT(0, 0)
];

pub(crate) const BANK_ADDRESS: Address = Address::new([0xba; 20]);

/// Stores the beneficiary's balance, as this transaction sees it, in slot 0:
/// `SSTORE(0, BALANCE(COINBASE))`.
pub(crate) const PROBE: &[u8] = &[0x41, 0x31, 0x60, 0x00, 0x55, 0x00];

pub(crate) const PROBE_ADDRESS: Address = Address::new([0xbe; 20]);

pub(crate) fn user(i: usize) -> Address {
    let mut bytes = [0x11; 20];
    bytes[12..20].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    Address::new(bytes)
}

pub(crate) fn block() -> BlockEnv {
    BlockEnv { basefee: 7, ..BlockEnv::default() }
}

/// Users funded generously, the bank with a few non-zero slots.
pub(crate) fn genesis(users: usize) -> State {
    let mut state = State::new();
    for i in 0..users {
        state.insert_account(user(i), Account::with_balance(U256::from(10u64).pow(U256::from(21))));
    }
    let mut bank = Account { nonce: 1, code: Some(Bytecode::new_raw(Bytes::from_static(BANK))), ..Account::default() };
    for slot in 0..8u64 {
        bank.storage.insert(U256::from(slot), U256::from(slot * 1000 + 1));
    }
    state.insert_account(BANK_ADDRESS, bank);
    let probe = Account { nonce: 1, code: Some(Bytecode::new_raw(Bytes::from_static(PROBE))), ..Account::default() };
    state.insert_account(PROBE_ADDRESS, probe);
    state
}

/// A call to the probe: it reads the beneficiary's account, so it must
/// declare it, and with it every earlier fee.
pub(crate) fn probe_call(from: Address, nonce: u64, beneficiary: Address) -> Transaction {
    Transaction {
        from,
        to: Some(PROBE_ADDRESS),
        value: U256::ZERO,
        input: Bytes::new(),
        gas_limit: 100_000,
        fee: fee(),
        nonce,
        access: AccessSet::new(
            vec![StateKey::Account(beneficiary)],
            vec![StateKey::Storage(PROBE_ADDRESS, U256::ZERO)],
        ),
        envelope: None,
    }
}

pub(crate) fn fee() -> Fee {
    Fee::Dynamic { max_fee_per_gas: 100, max_priority_fee_per_gas: 3 }
}

/// A call to the bank with its correct declaration.
pub(crate) fn bank_call(from: Address, nonce: u64, slot: u64, amount: u64, other: u64) -> Transaction {
    let mut input = Vec::with_capacity(96);
    for word in [slot, amount, other] {
        input.extend_from_slice(&U256::from(word).to_be_bytes::<32>());
    }
    let access = AccessSet::new(
        vec![StateKey::Storage(BANK_ADDRESS, U256::from(other))],
        vec![StateKey::Storage(BANK_ADDRESS, U256::from(slot))],
    );
    Transaction {
        from,
        to: Some(BANK_ADDRESS),
        value: U256::ZERO,
        input: input.into(),
        gas_limit: 100_000,
        fee: fee(),
        nonce,
        access,
        envelope: None,
    }
}

pub(crate) fn transfer(from: Address, nonce: u64, to: Address, value: u64) -> Transaction {
    Transaction {
        from,
        to: Some(to),
        value: U256::from(value),
        input: Bytes::new(),
        gas_limit: 21_000,
        fee: fee(),
        nonce,
        access: AccessSet::default(),
        envelope: None,
    }
}

/// The shape of a generated block.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub(crate) users: usize,
    /// Bank slots in use: 1 puts every call on one key.
    pub(crate) slots: u64,
    /// Receivers of transfers: 1 sends every transfer to one account.
    pub(crate) receivers: usize,
    /// Transactions: `(kind, a, b, c)` choices drawn by the caller.
    pub(crate) picks: Vec<(u8, u64, u64, u64)>,
}

/// A block from `shape`, with correct declarations and nonces. Kinds: 0-3 a
/// bank call (amount over 0xffff 1 time in 16: a revert), 4-6 a transfer,
/// 7 a transfer to the block's beneficiary or a probe of its balance, which
/// then depend on every earlier fee.
pub(crate) fn generate(shape: &Shape, block: &BlockEnv) -> Vec<Transaction> {
    let mut nonces = vec![0u64; shape.users];
    shape
        .picks
        .iter()
        .map(|&(kind, a, b, c)| {
            let sender = (a as usize) % shape.users;
            let from = user(sender);
            let nonce = nonces[sender];
            nonces[sender] += 1;
            match kind % 8 {
                0..=3 => {
                    let amount = if b % 16 == 0 { 0x1_0000 + b % 1000 } else { b % 1000 };
                    bank_call(from, nonce, c % shape.slots, amount, (c / 7).wrapping_add(b) % shape.slots)
                }
                4..=6 => transfer(from, nonce, user(shape.users + (b as usize % shape.receivers)), c % 1_000_000),
                _ if c % 2 == 0 => transfer(from, nonce, block.beneficiary, c % 1_000_000 + 1),
                _ => probe_call(from, nonce, block.beneficiary),
            }
        })
        .collect()
}
