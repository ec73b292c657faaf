//! The beneficiary's fee credits: commutative, so they never order two
//! transactions.
//!
//! Every executed transaction owes the beneficiary `(price - basefee) * gas`
//! (the whole price before London). Executors keep those credits aside and
//! fold them into the beneficiary's account only when someone looks:
//!
//! 1. before a transaction that declares the beneficiary account (it then
//!    depends on every earlier transaction, so all their credits are known
//!    and it observes exactly the balance it would see sequentially);
//! 2. at the end of the block.
//!
//! revm touches the beneficiary in every transaction that runs, so under
//! EIP-161 an empty beneficiary is deleted at the end as well.

use crate::base::Base;
use crate::block::{BlockEnv, SpecId};
use crate::key::StateKey;
use crate::state::{AccountValue, StateChanges, Value};
use alloy_primitives::U256;

/// `account` with `fees` more wei (created if it did not exist and the fees
/// are not zero).
pub(crate) fn credit(account: Option<AccountValue>, fees: U256) -> Option<AccountValue> {
    if fees.is_zero() {
        return account;
    }
    let mut account = account.unwrap_or_default();
    account.balance = account.balance.saturating_add(fees);
    Some(account)
}

/// Writes the beneficiary's final account into `changes` (which hold its
/// value after the last transaction, if the block wrote it): plus the
/// credits not yet folded, then EIP-161. The entry is left out when the
/// account ends as it began.
pub(crate) fn settle(changes: &mut StateChanges, base: &Base<'_>, block: &BlockEnv, pending: U256, any_ran: bool) {
    let key = StateKey::Account(block.beneficiary);
    let (current, _) = Value::after(changes, base, &key);
    let mut account = credit(current.account().cloned(), pending);
    if any_ran
        && block.spec.is_enabled_in(SpecId::SPURIOUS_DRAGON)
        && account.as_ref().is_some_and(AccountValue::is_empty)
    {
        account = None;
    }
    let value = Value::overwrite(changes.get(&key), Value::Account(account));
    if value == Value::Account(base.account(block.beneficiary)) {
        changes.remove(&key);
    } else {
        changes.insert(key, value);
    }
}

/// The beneficiary's balance before `block`'s first transaction, on
/// `base` (the system calls before it do not touch it).
pub(crate) fn balance(base: &Base<'_>, block: &BlockEnv) -> U256 {
    base.fields(block.beneficiary).map_or(U256::ZERO, |(balance, ..)| balance)
}
