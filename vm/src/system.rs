//! What a block does outside its transactions, as the protocol has it.
//!
//! - **Before the first transaction**, system calls store header fields in
//!   system contracts: the parent beacon block root (EIP-4788, Cancun on)
//!   and the parent block hash (EIP-2935, Prague on). Each is a call from
//!   the system address that pays no gas and bumps no nonce, skipped when
//!   the contract has no code.
//! - **After the last transaction** (and the beneficiary's fees), balances
//!   grow: the block reward and the ommer rewards before the Merge, the
//!   validator withdrawals from Shanghai on. Then, from Prague, system calls
//!   dequeue the execution-layer requests: withdrawal requests (EIP-7002),
//!   then consolidation requests (EIP-7251), on the state the block left.
//!
//! defivm's executors (sequential and parallel, every mode) apply all of it
//! alike: the first calls' changes are the state the block's first
//! transaction runs on, and everything here is part of the block's changes.
//! So does plain revm, the baseline ([`crate::PlainRevm`]), on its own
//! database.

use crate::access::{BlockAccess, Recorder};
use crate::base::Base;
use crate::block::{BlockEnv, SpecId};
use crate::error::{Result, VmError};
use crate::exec::{Evm, build_plain_evm};
use crate::key::StateKey;
use crate::state::{StateChanges, Value};
use alloy_eips::eip2935::HISTORY_STORAGE_ADDRESS;
use alloy_eips::eip4788::BEACON_ROOTS_ADDRESS;
use alloy_eips::eip7002::WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS;
use alloy_eips::eip7251::CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS;
use alloy_primitives::{Address, B256, Bytes, U256};
use core::convert::Infallible;
use revm::ExecuteEvm;
use revm::context::result::ExecutionResult;
use revm::database_interface::{Database, DatabaseRef, WrapDatabaseRef};
use revm::handler::SystemCallEvm;
use revm::state::{AccountInfo, Bytecode};

/// Wei in an ether.
const ETHER: u128 = 1_000_000_000_000_000_000;

/// The system calls that run before `block`'s first transaction, in the
/// order they run: what each is, the contract called, and the data it is
/// called with.
pub(crate) fn calls(block: &BlockEnv) -> Vec<(&'static str, Address, B256)> {
    let mut calls = Vec::new();
    if block.number == 0 {
        return calls;
    }
    if block.spec.is_enabled_in(SpecId::PRAGUE)
        && let Some(parent) = block.parent_hash
    {
        calls.push(("EIP-2935 block hash", HISTORY_STORAGE_ADDRESS, parent));
    }
    if block.spec.is_enabled_in(SpecId::CANCUN)
        && let Some(root) = block.parent_beacon_block_root
    {
        calls.push(("EIP-4788 beacon root", BEACON_ROOTS_ADDRESS, root));
    }
    calls
}

/// The changes of the system calls that run before `block`'s first
/// transaction, on `base`; their accesses go to `access` at index 0.
pub(crate) fn pre_execution(
    base: &Base<'_>,
    block: &BlockEnv,
    mut access: Option<&mut Recorder>,
) -> Result<StateChanges> {
    let mut changes = StateChanges::default();
    for (what, address, data) in calls(block) {
        let data = Bytes::copy_from_slice(data.as_slice());
        system_call(base, block, what, address, data, &mut changes, access.as_deref_mut().map(|a| (a, 0)))?;
    }
    Ok(changes)
}

/// Calls the system contract at `address` on `db` with `data`, adding the
/// slots it changed to `changes` and its accesses to `access` at the index
/// given. Skipped where the contract has no code.
fn system_call<DB: DatabaseRef<Error = Infallible>>(
    db: DB,
    block: &BlockEnv,
    what: &str,
    address: Address,
    data: Bytes,
    changes: &mut StateChanges,
    access: Option<(&mut Recorder, u32)>,
) -> Result<()> {
    let has_code = |info: Option<AccountInfo>| info.and_then(|a| a.code).is_some_and(|c| !c.is_empty());
    if !has_code(db.basic_ref(address).unwrap_or_else(|never| match never {})) {
        return Ok(());
    }
    let mut evm = build_plain_evm(WrapDatabaseRef(db), block);
    call_on(&mut evm, what, address, data, access, |key, value| {
        changes.insert(key, value);
    })
}

/// Makes the system call `what` to `address` with `data` on `evm` (whose
/// database holds the state it runs on, the contract's code included),
/// handing each slot of the contract it changed to `write`, and what it
/// accessed to `access` at the index given (the system address left out).
/// The EVM's journal is left empty, ready for the next call or transaction.
pub(crate) fn call_on<DB: Database>(
    evm: &mut Evm<DB>,
    what: &str,
    address: Address,
    data: Bytes,
    access: Option<(&mut Recorder, u32)>,
    mut write: impl FnMut(StateKey, Value),
) -> Result<()> {
    let result = evm.system_call_one(address, data);
    let mut state = evm.finalize();
    match result {
        Ok(ExecutionResult::Success { .. }) => {}
        Ok(failed) => return Err(VmError::InvalidBlock(format!("the {what} system call failed: {failed:?}"))),
        Err(e) => return Err(VmError::InvalidBlock(format!("the {what} system call failed: {e}"))),
    }
    if let Some((access, index)) = access {
        access.record(index, &state, true);
    }
    // Only the contract's storage: the system address is not an account
    // the call may change.
    if let Some(account) = state.get(&address) {
        for (slot, value) in account.changed_storage_slots() {
            write(StateKey::Storage(address, *slot), Value::Storage(value.present_value));
        }
    }
    state.clear();
    evm.ctx.journaled_state.inner.state = state;
    Ok(())
}

/// The state a block left: its changes over the state it ran on, for the
/// system calls after its transactions.
struct After<'a> {
    base: &'a Base<'a>,
    changes: &'a StateChanges,
}

impl DatabaseRef for After<'_> {
    type Error = Infallible;

    fn basic_ref(&self, address: Address) -> core::result::Result<Option<AccountInfo>, Self::Error> {
        Ok(Value::after(self.changes, self.base, &StateKey::Account(address)).0.account().map(|a| a.info()))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> core::result::Result<Bytecode, Self::Error> {
        self.base.code_by_hash_ref(code_hash)
    }

    fn storage_ref(&self, address: Address, index: U256) -> core::result::Result<U256, Self::Error> {
        match Value::after(self.changes, self.base, &StateKey::Storage(address, index)).0 {
            Value::Storage(value) => Ok(value),
            _ => Ok(U256::ZERO),
        }
    }

    fn block_hash_ref(&self, number: u64) -> core::result::Result<B256, Self::Error> {
        self.base.block_hash_ref(number)
    }
}

/// The balance increments after `block`'s transactions, in the order they
/// are credited: the ommer rewards (of the ommers whose header is known)
/// and the block reward (before the Merge), then the withdrawals (Shanghai
/// on). Zero amounts are left out.
pub fn balance_increments(block: &BlockEnv) -> Vec<(Address, U256)> {
    let mut increments = Vec::new();
    if let Some(reward) = base_block_reward(block.spec) {
        for ommer in block.ommers.iter().filter_map(|o| o.header) {
            // (8 + ommer number - block number) / 8 of the reward: 7/8 for
            // the block's parent's sibling, down to 2/8 six blocks back.
            let depth = block.number.saturating_sub(ommer.number).min(8) as u128;
            increments.push((ommer.beneficiary, U256::from(reward * (8 - depth) / 8)));
        }
        let inclusion = reward / 32 * block.ommers.len() as u128;
        increments.push((block.beneficiary, U256::from(reward + inclusion)));
    }
    if block.spec.is_enabled_in(SpecId::SHANGHAI) {
        increments.extend(block.withdrawals.iter().map(|w| (w.address, w.amount_wei())));
    }
    increments.retain(|(_, amount)| !amount.is_zero());
    increments
}

/// The block reward before the Merge (Yellow Paper 11.3; EIP-649 at
/// Byzantium, EIP-1234 at Constantinople, which revm names Petersburg); none after.
fn base_block_reward(spec: SpecId) -> Option<u128> {
    if spec.is_enabled_in(SpecId::MERGE) {
        None
    } else if spec.is_enabled_in(SpecId::PETERSBURG) {
        Some(2 * ETHER)
    } else if spec.is_enabled_in(SpecId::BYZANTIUM) {
        Some(3 * ETHER)
    } else {
        Some(5 * ETHER)
    }
}

/// The system calls that dequeue the execution-layer requests after the
/// last transaction (Prague on), in the order they run: what each is, and
/// the contract called (with no data).
pub(crate) const REQUESTS: [(&str, Address); 2] = [
    ("EIP-7002 withdrawal requests", WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS),
    ("EIP-7251 consolidation requests", CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS),
];

/// Credits `block`'s balance increments on top of `changes` (the block's
/// changes so far, over `base`), then makes the system calls that close
/// the block (Prague on) on the state that leaves. What they access goes
/// to `access` at the index given (the one after the last transaction's).
pub(crate) fn post_execution(
    changes: &mut StateChanges,
    base: &Base<'_>,
    block: &BlockEnv,
    mut access: Option<(&mut BlockAccess, u32)>,
) -> Result<()> {
    for (address, amount) in balance_increments(block) {
        if let Some((access, index)) = access.as_mut() {
            let before = Value::after(changes, base, &StateKey::Account(address)).0;
            let before = before.account().map_or(U256::ZERO, |account| account.balance);
            access.balance(*index, address, before, before.saturating_add(amount));
        }
        crate::state::credit(changes, base, address, amount);
    }
    if !block.spec.is_enabled_in(SpecId::PRAGUE) {
        return Ok(());
    }
    for (what, address) in REQUESTS {
        let mut written = StateChanges::default();
        let mut recorder = access.as_ref().map(|(_, index)| (Recorder::new(1, block.beneficiary), *index));
        let record = recorder.as_mut().map(|(recorder, index)| (recorder, *index));
        system_call(After { base, changes }, block, what, address, Bytes::new(), &mut written, record)?;
        if let (Some((access, _)), Some((recorder, _))) = (access.as_mut(), recorder) {
            access.absorb(recorder);
        }
        changes.extend(written);
    }
    Ok(())
}
