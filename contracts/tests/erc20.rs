//! The token in revm: effects, reverts, and declarations that cover every
//! key the executed call touches. The executor enforces declarations, so a
//! missing or wrong slot in a builder surfaces as an access violation.

use alloy_primitives::{Address, U256};
use alloy_sol_types::{SolError, SolEvent};
use defivm_contracts::{Call, Erc20, IToken};
use defivm_vm::{Receipt, State, Status};
use proptest::prelude::*;

mod common;

const TOKEN: Address = Address::new([0x70; 20]);

fn user(i: u8) -> Address {
    Address::with_last_byte(0x40 + i)
}

fn world(balances: &[(Address, U256)]) -> (State, Erc20) {
    let mut state = State::new();
    for i in 0..8 {
        state.insert_account(user(i), defivm_vm::Account::with_balance(U256::from(10u64).pow(U256::from(20))));
    }
    let token = Erc20::deploy(&mut state, TOKEN, "Test Token", "TT", balances).unwrap();
    (state, token)
}

/// Runs the calls in order as one block; returns the receipts and the
/// post-state.
fn run(state: &State, calls: Vec<(Address, Call)>) -> (Vec<Receipt>, State) {
    common::block(state, calls, defivm_vm::BlockEnv::default().timestamp)
}

fn units(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

#[test]
fn transfer_moves_balances_and_logs_it() {
    let (state, token) = world(&[(user(0), units(100))]);
    let (receipts, post) = run(&state, vec![(user(0), token.transfer(user(0), user(1), units(30)))]);
    assert_eq!(receipts[0].status, Status::Success, "{:?}", receipts[0]);
    assert_eq!(token.balance_of(&post, user(0)), units(70));
    assert_eq!(token.balance_of(&post, user(1)), units(30));
    let log = IToken::Transfer::decode_log(&receipts[0].logs[0]).unwrap();
    assert_eq!((log.from, log.to, log.value), (user(0), user(1), units(30)));
}

#[test]
fn transfer_from_spends_the_allowance_unless_it_is_unlimited() {
    let (state, token) = world(&[(user(0), units(100)), (user(2), units(100))]);
    let (receipts, post) = run(
        &state,
        vec![
            (user(0), token.approve(user(0), user(1), units(50))),
            (user(1), token.transfer_from(user(1), user(0), user(3), units(20))),
            (user(2), token.approve(user(2), user(1), U256::MAX)),
            (user(1), token.transfer_from(user(1), user(2), user(3), units(5))),
        ],
    );
    assert!(receipts.iter().all(|r| r.status == Status::Success), "{receipts:?}");
    assert_eq!(token.allowance_of(&post, user(0), user(1)), units(30));
    assert_eq!(token.allowance_of(&post, user(2), user(1)), U256::MAX);
    assert_eq!(token.balance_of(&post, user(3)), units(25));
    let approval = IToken::Approval::decode_log(&receipts[0].logs[0]).unwrap();
    assert_eq!((approval.owner, approval.spender, approval.value), (user(0), user(1), units(50)));
}

#[test]
fn overspending_reverts_with_the_contracts_error() {
    let (state, token) = world(&[(user(0), units(10))]);
    let (receipts, post) = run(
        &state,
        vec![
            (user(0), token.transfer(user(0), user(1), units(11))),
            (user(1), token.transfer_from(user(1), user(0), user(1), units(1))),
        ],
    );
    assert_eq!(receipts[0].status, Status::Revert);
    let err = IToken::InsufficientBalance::abi_decode(&receipts[0].output).unwrap();
    assert_eq!((err.holder, err.balance, err.needed), (user(0), units(10), units(11)));
    assert_eq!(receipts[1].status, Status::Revert);
    let err = IToken::InsufficientAllowance::abi_decode(&receipts[1].output).unwrap();
    assert_eq!((err.allowed, err.needed), (U256::ZERO, units(1)));
    assert_eq!(token.balance_of(&post, user(0)), units(10));
}

#[test]
fn every_declared_key_is_needed() {
    // Dropping any one declared key from a successful call makes it touch an
    // undeclared key: the declarations are no wider than the calls.
    let (state, token) = world(&[(user(0), units(100))]);
    let setup = token.approve(user(0), user(1), units(50));
    let calls = [
        (user(0), token.transfer(user(0), user(1), units(1))),
        (user(1), token.transfer_from(user(1), user(0), user(2), units(1))),
    ];
    for (sender, call) in calls {
        for drop in 0..call.access.writes().len() {
            let mut narrowed = call.clone();
            let writes = call.access.writes().iter().enumerate().filter(|(i, _)| *i != drop).map(|(_, k)| *k);
            narrowed.access = defivm_vm::AccessSet::new(vec![], writes.collect());
            let (receipts, _) = run(&state, vec![(user(0), setup.clone()), (sender, narrowed)]);
            assert!(
                matches!(receipts[1].status, Status::AccessViolation { .. }),
                "dropping key {drop} still succeeded: {:?}",
                receipts[1]
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random holdings and random operations: no call ever touches a key its
    /// builder did not declare, and the balances follow a plain model.
    #[test]
    fn declarations_cover_every_executed_call(
        holdings in prop::collection::vec(0u64..1_000, 6),
        ops in prop::collection::vec((0u8..3, 0u8..6, 0u8..6, 0u8..6, 0u64..1_500), 1..40),
    ) {
        let balances: Vec<_> = holdings.iter().enumerate().map(|(i, &h)| (user(i as u8), U256::from(h))).collect();
        let (state, token) = world(&balances);
        let calls: Vec<(Address, Call)> = ops
            .iter()
            .map(|&(kind, a, b, c, amount)| {
                let amount = U256::from(amount);
                match kind {
                    0 => (user(a), token.transfer(user(a), user(b), amount)),
                    1 => (user(a), token.approve(user(a), user(b), amount)),
                    _ => (user(a), token.transfer_from(user(a), user(b), user(c), amount)),
                }
            })
            .collect();
        let (receipts, post) = run(&state, calls);
        // The model: balances and allowances as plain numbers.
        let mut balance: Vec<u64> = holdings.clone();
        let mut allowance = std::collections::HashMap::<(u8, u8), u64>::new();
        for (receipt, &(kind, a, b, c, amount)) in receipts.iter().zip(&ops) {
            prop_assert!(!matches!(receipt.status, Status::AccessViolation { .. }), "{:?}", receipt.status);
            let ok = match kind {
                0 => balance[a as usize] >= amount,
                1 => true,
                _ => allowance.get(&(b, a)).copied().unwrap_or(0) >= amount && balance[b as usize] >= amount,
            };
            prop_assert_eq!(receipt.status == Status::Success, ok, "{:?}", receipt);
            if ok {
                match kind {
                    0 => { balance[a as usize] -= amount; balance[b as usize] += amount; }
                    1 => { allowance.insert((a, b), amount); }
                    _ => {
                        *allowance.entry((b, a)).or_insert(0) -= amount;
                        balance[b as usize] -= amount;
                        balance[c as usize] += amount;
                    }
                }
            }
        }
        for (i, &expected) in balance.iter().enumerate() {
            prop_assert_eq!(token.balance_of(&post, user(i as u8)), U256::from(expected));
        }
    }
}
