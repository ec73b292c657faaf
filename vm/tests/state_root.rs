//! `State::root_after` must equal applying the changes to a copy and taking
//! the root, for every kind of change: new, changed and deleted accounts,
//! storage-only accounts, zero slots, and slots of deleted accounts.

use alloy_primitives::{Address, Bytes, U256};
use defivm_vm::{Account, AccountValue, Bytecode, State, StateChanges, StateKey, Value};
use proptest::prelude::*;

fn address(i: u8) -> Address {
    Address::with_last_byte(i)
}

fn small_u256() -> impl Strategy<Value = U256> {
    prop_oneof![Just(U256::ZERO), (1u64..5).prop_map(U256::from)]
}

fn account_value() -> impl Strategy<Value = AccountValue> {
    (small_u256(), 0u64..2, any::<bool>()).prop_map(|(balance, nonce, code)| AccountValue {
        balance,
        nonce,
        code: code.then(|| Bytecode::new_raw(Bytes::from_static(&[0x60, 0x00, 0x00]))),
    })
}

fn pre_state() -> impl Strategy<Value = State> {
    prop::collection::vec((0u8..6, account_value(), prop::collection::vec((0u8..4, small_u256()), 0..4)), 0..6)
        .prop_map(|accounts| {
            let mut state = State::new();
            for (a, value, slots) in accounts {
                let mut account =
                    Account { balance: value.balance, nonce: value.nonce, code: value.code, ..Default::default() };
                account.storage.extend(slots.into_iter().map(|(k, v)| (U256::from(k), v)));
                state.insert_account(address(a), account);
            }
            state
        })
}

fn changes() -> impl Strategy<Value = StateChanges> {
    let account = (0u8..8, prop::option::weighted(0.7, account_value()))
        .prop_map(|(a, v)| (StateKey::Account(address(a)), Value::Account(v)));
    let slot = (0u8..8, 0u8..4, small_u256())
        .prop_map(|(a, k, v)| (StateKey::Storage(address(a), U256::from(k)), Value::Storage(v)));
    prop::collection::vec(prop_oneof![account, slot], 0..12).prop_map(|entries| entries.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn root_after_equals_applying_to_a_copy(pre in pre_state(), changes in changes()) {
        let mut applied = pre.clone();
        applied.apply(&changes);
        prop_assert_eq!(pre.root_after(&changes), applied.root());
    }
}
