//! Declarations as hints, by hand: transactions whose declarations were
//! derived against the block's pre-state, and are wrong once the
//! transactions before them have run. Under hints every mode gives the
//! outcome of the block with no declaration at all and counts the same
//! strays; the lock-graph modes run again exactly the transactions whose
//! first run read something block order changes (a stray that read, outside
//! its hint, what an earlier transaction wrote; one that read what a stray
//! wrote outside its hint), and nothing else. Under strict declarations the
//! same strays are rejected.

mod common;

use alloy_primitives::{Address, Bytes, U256};
use common::ethereum::{SENDER, block_of, call, slot, state_with};
use defivm_vm::{
    AccessSet, Account, BalExecutor, BlockEnv, BlockOutcome, Declarations, Declarer, ListedAccess, ParallelExecutor,
    ParallelMode, Repairs, SEGMENT_TXS, SequentialExecutor, SpecId, State, StateKey, Status, Transaction,
};

/// Runs `txs` with their declarations derived against the pre-state, as
/// hints, in every mode at 1–4 threads (the lock-graph modes whole and in
/// segments of one transaction, recording access and not; bal from the
/// block's list): every outcome must be the undeclared block's, with the
/// same strays, and the lock-graph modes must each run `reexecuted`
/// transactions again, or `unrecorded` without a record of access (where
/// a first run whose balances alone moved is shifted, not run again).
/// Returns the outcome.
fn every_mode_with_hints(
    state: &State,
    block: &BlockEnv,
    txs: &[Transaction],
    reexecuted: usize,
    unrecorded: usize,
) -> BlockOutcome {
    let (undeclared, _) = SequentialExecutor::new().record(state, block, txs).unwrap();
    let hints = Declarer::new(2).unwrap().declare(state, block, txs).unwrap();
    let txs: Vec<Transaction> =
        txs.iter().cloned().zip(hints).map(|(tx, access)| Transaction { access, ..tx }).collect();
    let sequential = SequentialExecutor::new().with_access_record(true).with_declarations(Declarations::Hints);
    let expected = sequential.execute(state, block, &txs).unwrap();
    assert_eq!(BlockOutcome { repairs: Repairs::default(), ..expected.clone() }, undeclared);
    assert_eq!(expected.repairs.reexecuted, 0);
    let strays = expected.repairs.strays;
    for threads in 1..=4 {
        for mode in [ParallelMode::Waves, ParallelMode::Dag] {
            for (segment, record) in [SEGMENT_TXS, 1].into_iter().flat_map(|s| [(s, true), (s, false)]) {
                let executor = ParallelExecutor::new(threads)
                    .unwrap()
                    .with_mode(mode)
                    .with_fallback(false)
                    .with_segment_txs(segment)
                    .with_access_record(record)
                    .with_declarations(Declarations::Hints);
                let got = executor.execute(state, block, &txs).unwrap();
                let how = format!("{threads} threads, {mode:?}, segments of {segment}, record {record}");
                assert_eq!(got.repairs.strays, strays, "{how}");
                if segment == SEGMENT_TXS {
                    assert_eq!(got.repairs.reexecuted, if record { reexecuted } else { unrecorded }, "{how}");
                }
                let access = if record { got.access } else { expected.access.clone() };
                assert_eq!(BlockOutcome { repairs: expected.repairs, access, ..got }, expected, "{how}");
            }
        }
        let list = ListedAccess::new(expected.access.clone());
        let bal = BalExecutor::new(threads).unwrap().with_declarations(Declarations::Hints);
        let got = bal.execute(state, block, &txs, &list).unwrap();
        assert_eq!(got.repairs, Repairs { strays, reexecuted: 0 }, "{threads} threads, bal");
        assert_eq!(BlockOutcome { access: expected.access.clone(), ..got }, expected, "{threads} threads, bal");
    }
    // Taken strictly, each stray is rejected instead.
    let strict = SequentialExecutor::new().execute(state, block, &txs).unwrap();
    let violations = strict.receipts.iter().filter(|r| matches!(r.status, Status::AccessViolation { .. })).count();
    assert!(violations > 0 || strays == 0, "strict declarations reject the strays");
    expected
}

/// A funded sender of its own, `n`.
fn sender(n: u8) -> Address {
    Address::new([0xa0 + n; 20])
}

/// `state` with senders 1 to `n` funded.
fn with_senders(mut state: State, n: u8) -> State {
    for i in 1..=n {
        state.insert_account(sender(i), Account::with_balance(U256::from(10u64).pow(U256::from(20))));
    }
    state
}

/// A call from sender `from`'s first transaction.
fn call_from(from: u8, to: Address, input: &[u8]) -> Transaction {
    Transaction { from: sender(from), ..call(0, to, input, 0) }
}

/// A contract whose writes depend on what an earlier transaction wrote.
/// Without calldata: `SSTORE(0, 1)`. With a word `n`: if slot `n` is not
/// zero, `SSTORE(n + 1, 1)`, else `SSTORE(n + 100, 1)`.
fn branch_code() -> Vec<u8> {
    let mut code = vec![0x36, 0x15, 0x60, 0x00, 0x57]; // CALLDATASIZE ISZERO PUSH1 set JUMPI
    code.extend([0x60, 0x00, 0x35, 0x80, 0x54]); // PUSH1 0 CALLDATALOAD DUP1 SLOAD
    let taken_at = code.len() + 1;
    code.extend([0x60, 0x00, 0x57]); // PUSH1 taken JUMPI
    code.extend([0x60, 0x64, 0x01, 0x60, 0x01, 0x90, 0x55, 0x00]); // n+100 = 1
    let taken = code.len() as u8;
    code[taken_at] = taken;
    code.extend([0x5b, 0x60, 0x01, 0x01, 0x60, 0x01, 0x90, 0x55, 0x00]); // n+1 = 1
    let set = code.len() as u8;
    code[3] = set;
    code.extend([0x5b, 0x60, 0x01, 0x60, 0x00, 0x55, 0x00]); // slot 0 = 1
    code
}

fn word(n: u64) -> [u8; 32] {
    U256::from(n).to_be_bytes()
}

const CONTRACT: Address = Address::new([0xc0; 20]);

#[test]
fn a_transaction_whose_branch_depends_on_an_earlier_write_is_kept_as_its_first_run_made_it() {
    let code = branch_code();
    let state = with_senders(state_with(&[(CONTRACT, &code)]), 4);
    let block = block_of(SpecId::CANCUN);
    // Sender 1 sets slot 0; sender 2's call then takes the branch that
    // writes slot 1, not slot 100 as against the pre-state. It reads slot 0
    // as declared, after sender 1, so its first run is right: nothing runs
    // again. Senders 3 and 4 pay each other, untouched by it.
    let txs = vec![
        call_from(1, CONTRACT, &[]),
        Transaction { value: U256::from(5), ..call_from(3, sender(4), &[]) },
        call_from(2, CONTRACT, &word(0)),
        Transaction { value: U256::from(7), ..call_from(4, sender(3), &[]) },
    ];
    let outcome = every_mode_with_hints(&state, &block, &txs, 0, 0);
    assert_eq!(outcome.repairs.strays, 1);
    assert_eq!(slot(&outcome.changes, CONTRACT, 1), Some(U256::from(1)));
    assert_eq!(slot(&outcome.changes, CONTRACT, 100), None);
}

#[test]
fn a_chain_of_three_strays_each_depending_on_the_last_runs_again_after_the_one_before() {
    let code = branch_code();
    let state = with_senders(state_with(&[(CONTRACT, &code)]), 5);
    let block = block_of(SpecId::CANCUN);
    // Slot 0 set, then calls with n = 0, 1, 2: against the pre-state each
    // writes slot n + 100, which no later hint reads, so the hints order
    // none of them after another; in block order each finds slot n set by
    // the one before and writes n + 1, which the next reads. The first
    // reads slot 0 as declared, after sender 1: its first run holds. The
    // other two read, in the first pass, what the one before had not
    // written yet: each runs again, after it.
    let mut txs = vec![call_from(1, CONTRACT, &[])];
    for n in 0..3u8 {
        txs.push(call_from(2 + n, CONTRACT, &word(n.into())));
    }
    let outcome = every_mode_with_hints(&state, &block, &txs, 2, 2);
    assert_eq!(outcome.repairs.strays, 3);
    for n in 1..=3 {
        assert_eq!(slot(&outcome.changes, CONTRACT, n), Some(U256::from(1)), "slot {n}");
    }
}

/// A pool: `SSTORE(0, SLOAD(0) + 1)`.
const POOL: [u8; 10] = [0x60, 0x00, 0x54, 0x60, 0x01, 0x01, 0x60, 0x00, 0x55, 0x00];

/// A router: with a word of calldata, sets its route (slot 0) to that
/// address; without, calls the pool its route names.
const ROUTER: [u8; 29] = [
    0x36, 0x60, 0x15, 0x57, // CALLDATASIZE PUSH1 set JUMPI
    0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, // out, in, value
    0x60, 0x00, 0x54, 0x5a, 0xf1, 0x50, 0x00, // SLOAD(0) GAS CALL POP STOP
    0x5b, 0x60, 0x00, 0x35, 0x60, 0x00, 0x55, 0x00, // set: slot 0 = CALLDATALOAD(0)
];

#[test]
fn a_swap_whose_route_changed_earlier_in_the_block_goes_through_the_new_pool() {
    let (router, old_pool, new_pool) = (Address::new([0xd0; 20]), Address::new([0xd1; 20]), Address::new([0xd2; 20]));
    let mut state = with_senders(state_with(&[(router, &ROUTER), (old_pool, &POOL), (new_pool, &POOL)]), 3);
    let route = U256::from_be_slice(old_pool.as_slice());
    state.account_mut(&router).unwrap().storage.insert(U256::ZERO, route);
    let block = block_of(SpecId::CANCUN);
    // Sender 1 points the router at the new pool; sender 2 swaps through it,
    // which against the pre-state went through the old one. Its first run
    // reads the new pool outside its hint, as the block found it, which no
    // one before it changed: it holds. Sender 3 swaps in the old pool
    // directly.
    let mut new_route = [0u8; 32];
    new_route[12..].copy_from_slice(new_pool.as_slice());
    let txs = vec![call_from(1, router, &new_route), call_from(2, router, &[]), call_from(3, old_pool, &[])];
    let outcome = every_mode_with_hints(&state, &block, &txs, 0, 0);
    assert_eq!(outcome.repairs.strays, 1);
    assert_eq!(slot(&outcome.changes, new_pool, 0), Some(U256::from(1)));
    assert_eq!(slot(&outcome.changes, old_pool, 0), Some(U256::from(1)), "only sender 3's swap");
}

/// A counter's init code: returns [`POOL`] as its runtime.
fn init_code() -> Bytes {
    let mut code = vec![0x69];
    code.extend(POOL);
    code.extend([0x60, 0x00, 0x52, 0x60, 0x0a, 0x60, 0x16, 0xf3]);
    code.into()
}

#[test]
fn calls_to_a_contract_created_earlier_in_the_block_count_in_block_order() {
    let state = with_senders(state_with(&[]), 2);
    let block = block_of(SpecId::CANCUN);
    let create = Transaction { to: None, input: init_code(), ..call(0, Address::ZERO, &[], 0) };
    let counter = SENDER.create(0);
    // Two calls from other senders: against the pre-state the counter has
    // no code, so neither declares its slot; both count in block order. In
    // the first pass each reads the slot outside its hint as the block
    // found it (zero): right for the first, wrong for the second, which
    // runs again.
    let txs = vec![create, call_from(1, counter, &[]), call_from(2, counter, &[])];
    let outcome = every_mode_with_hints(&state, &block, &txs, 1, 1);
    assert_eq!(outcome.repairs.strays, 2);
    assert_eq!(slot(&outcome.changes, counter, 0), Some(U256::from(2)));
}

#[test]
fn hints_that_hold_run_once_and_change_nothing() {
    let code = branch_code();
    let state = with_senders(state_with(&[(CONTRACT, &code)]), 3);
    let block = block_of(SpecId::CANCUN);
    // No call depends on another: every hint is exact.
    let txs = vec![call_from(1, CONTRACT, &word(5)), call_from(2, CONTRACT, &word(6)), call_from(3, CONTRACT, &[])];
    let outcome = every_mode_with_hints(&state, &block, &txs, 0, 0);
    assert_eq!(outcome.repairs, Repairs::default());
}

/// Without calldata: `SSTORE(5, SLOAD(5) + 1)`; with: `SELFDESTRUCT(CALLER)`.
const KILLABLE: [u8; 17] = [
    0x36, 0x60, 0x0e, 0x57, // CALLDATASIZE PUSH1 kill JUMPI
    0x60, 0x05, 0x54, 0x60, 0x01, 0x01, 0x60, 0x05, 0x55, 0x00, // slot 5 += 1
    0x5b, 0x33, 0xff, // kill: JUMPDEST CALLER SELFDESTRUCT
];

/// A router that calls `to` with no calldata.
fn router_to(to: Address) -> Vec<u8> {
    let mut code = vec![0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x73];
    code.extend(to.as_slice());
    code.extend([0x5a, 0xf1, 0x00]); // GAS CALL STOP
    code
}

#[test]
fn a_hint_naming_a_slot_without_its_account_is_safe_beside_a_transaction_clearing_that_storage() {
    // Before Cancun, SELFDESTRUCT clears storage. Sender 1 goes through a
    // router to increment slot 5 of the contract, its hint naming the slot
    // but not the contract's account (which a derived hint would hold);
    // sender 2 then destroys the contract. The two hints share no key, so
    // the lock graph does not order them: the slot must be read as outside
    // the first hint, never through a cell the destruction clears at the
    // same time.
    let (contract, router) = (Address::new([0xe0; 20]), Address::new([0xe1; 20]));
    let mut state = with_senders(state_with(&[(contract, &KILLABLE), (router, &router_to(contract))]), 2);
    state.account_mut(&contract).unwrap().storage.insert(U256::from(5), U256::from(3));
    let block = block_of(SpecId::SHANGHAI);
    // The destruction the heavier (by gas limit), so that a wave runs it
    // first.
    let txs = [call_from(1, router, &[]), Transaction { gas_limit: 2_000_000, ..call_from(2, contract, &[1]) }];
    let (expected, _) = SequentialExecutor::new().record(&state, &block, &txs).unwrap();
    let mut hinted = txs.to_vec();
    hinted[0].access = AccessSet::new(Vec::new(), vec![StateKey::Storage(contract, U256::from(5))]);
    hinted[1].access = AccessSet::new(Vec::new(), vec![StateKey::Account(contract)]);
    for threads in 1..=4 {
        for mode in [ParallelMode::Waves, ParallelMode::Dag] {
            let executor = ParallelExecutor::new(threads)
                .unwrap()
                .with_mode(mode)
                .with_fallback(false)
                .with_access_record(true)
                .with_declarations(Declarations::Hints);
            // Whichever order the two first runs take.
            for _ in 0..50 {
                let got = executor.execute(&state, &block, &hinted).unwrap();
                assert_eq!(got.repairs.strays, 1, "{threads} threads {mode:?}");
                assert_eq!(BlockOutcome { repairs: Repairs::default(), ..got }, expected, "{threads} threads {mode:?}");
            }
        }
    }
}

/// A bank of ether. Without calldata it takes what it is sent; with the
/// word 2 it stores its balance (`SELFBALANCE`) in slot 0; with any other
/// word it sends 1000 wei to its caller.
const BANK: [u8; 38] = [
    0x36, 0x15, 0x60, 0x24, 0x57, // CALLDATASIZE ISZERO PUSH1 take JUMPI
    0x60, 0x00, 0x35, 0x60, 0x02, 0x14, 0x60, 0x1e, 0x57, // CALLDATALOAD(0) == 2: PUSH1 peek JUMPI
    0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, // out, in
    0x61, 0x03, 0xe8, 0x33, 0x5a, 0xf1, 0x50, 0x00, // CALL(GAS, CALLER, 1000) POP STOP
    0x5b, 0x47, 0x60, 0x00, 0x55, 0x00, // peek: SSTORE(0, SELFBALANCE)
    0x5b, 0x00, // take: STOP
];

/// A forwarder: with a word of calldata, sets its route (slot 0) to that
/// address; without, sends what it was sent on to the route.
const FORWARDER: [u8; 28] = [
    0x36, 0x60, 0x14, 0x57, // CALLDATASIZE PUSH1 set JUMPI
    0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, // out, in
    0x34, 0x60, 0x00, 0x54, 0x5a, 0xf1, 0x50, 0x00, // CALL(GAS, SLOAD(0), CALLVALUE) POP STOP
    0x5b, 0x60, 0x00, 0x35, 0x60, 0x00, 0x55, 0x00, // set: slot 0 = CALLDATALOAD(0)
];

/// A contract that sends 1 wei to `to`.
fn payer_to(to: Address) -> Vec<u8> {
    let mut code = vec![0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x01, 0x73];
    code.extend(to.as_slice());
    code.extend([0x5a, 0xf1, 0x50, 0x00]); // GAS CALL POP STOP
    code
}

/// `address` as a word of calldata.
fn route(address: Address) -> [u8; 32] {
    let mut word = [0u8; 32];
    word[12..].copy_from_slice(address.as_slice());
    word
}

#[test]
fn first_runs_that_only_add_to_a_balance_a_stray_moved_are_shifted_and_those_that_look_at_it_run_again() {
    let (forwarder, bank, sink) = (Address::new([0xf0; 20]), Address::new([0xf1; 20]), Address::new([0xf2; 20]));
    // An account that exists and is empty (no balance, nonce or code), and
    // a contract that pays it.
    let (empty, payer) = (Address::new([0xf3; 20]), Address::new([0xf4; 20]));
    let contracts = [(forwarder, &FORWARDER[..]), (bank, &BANK[..]), (sink, &[0x00][..]), (payer, &payer_to(empty))];
    let mut state = with_senders(state_with(&contracts), 13);
    state.account_mut(&forwarder).unwrap().storage.insert(U256::ZERO, U256::from_be_slice(sink.as_slice()));
    state.account_mut(&bank).unwrap().balance = U256::from(10u64).pow(U256::from(18));
    state.account_mut(&payer).unwrap().balance = U256::from(10u64).pow(U256::from(18));
    state.insert_account(empty, Account::default());
    let block = block_of(SpecId::CANCUN);
    let txs = vec![
        // The route moves from the sink to the bank, so sender 2's 5000 wei
        // go to the bank: against the pre-state they went to the sink. Its
        // first run reads the bank outside its hint as the block found it,
        // 13 wei short of what sender 13's deposit left there: it only adds
        // to that balance, so it is shifted. The bank's balance is then 5000
        // wei above what the first pass had.
        call_from(1, forwarder, &route(bank)),
        Transaction { value: U256::from(13), ..call_from(13, bank, &[]) },
        Transaction { value: U256::from(5000), ..call_from(2, forwarder, &[]) },
        // A deposit, a withdrawal (the bank's balance covers it either
        // way) and a plain call leave the bank's balance shifted by those
        // 5000 wei, and run once.
        Transaction { value: U256::from(7), ..call_from(3, bank, &[]) },
        call_from(4, bank, &word(1)),
        call_from(6, bank, &[]),
        // This one looks at the balance: it runs again.
        call_from(5, bank, &word(2)),
        // The route moves to sender 10, who gets 3000 wei, then spends
        // some: its balance covers the transaction either way, so it runs
        // once.
        call_from(7, forwarder, &route(sender(10))),
        Transaction { value: U256::from(3000), ..call_from(8, forwarder, &[]) },
        Transaction { value: U256::from(100), ..call_from(10, sender(11), &[]) },
        // The route moves to the empty account, which gets 3000 wei; the
        // payer's 1 wei to it then costs no new account in block order, as
        // it did in the first pass: it runs again.
        call_from(11, forwarder, &route(empty)),
        Transaction { value: U256::from(3000), ..call_from(12, forwarder, &[]) },
        call_from(9, payer, &[]),
    ];
    // With a record of access every first run whose balances moved runs
    // again (the record holds the balances it left): sender 2's, the
    // deposit, the withdrawal, the plain call, the look, sender 10's
    // transfer and the payer. Without, only the look and the payer.
    let outcome = every_mode_with_hints(&state, &block, &txs, 7, 2);
    assert_eq!(outcome.repairs.strays, 3);
    let peeked = U256::from(10u64).pow(U256::from(18)) + U256::from(13 + 5000 + 7 - 1000);
    assert_eq!(slot(&outcome.changes, bank, 0), Some(peeked));
}
