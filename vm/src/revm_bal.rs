//! revm's own block access list builder, as a client of revm uses it: the
//! independent judge of the [`BlockAccess`](crate::BlockAccess) that
//! defivm's executors record.
//!
//! The block runs through plain revm (no declarations, revm crediting the
//! beneficiary itself) over revm's `State` database with its BAL builder
//! on, committing each step at its block access index: the system calls at
//! 0 (less the system address that makes them), transaction `i` at
//! `i + 1`, and the rewards, withdrawals and request system calls at
//! `n + 1`.

use crate::base::{Base, BaseState};
use crate::block::{BlockEnv, SpecId};
use crate::error::{Result, VmError};
use crate::exec::{Evm, build_plain_evm, tx_env};
use crate::system;
use crate::tx::Transaction;
use alloy_primitives::{Address, Bytes};
use revm::context::result::EVMError;
use revm::database::State as RevmState;
use revm::database_interface::{Database, DatabaseCommit, WrapDatabaseRef};
use revm::handler::{SYSTEM_ADDRESS, SystemCallEvm};
use revm::state::bal::alloy::AlloyBal;
use revm::state::{Account, EvmState};
use revm::{ExecuteCommitEvm, ExecuteEvm};

type Db<'a> = RevmState<WrapDatabaseRef<&'a Base<'a>>>;

/// The block access list revm's builder makes of `txs` run on `state` (the
/// in-memory [`State`](crate::State) or any revm database), sorted by
/// address as revm sorts it.
pub fn revm_block_access_list(state: &impl BaseState, block: &BlockEnv, txs: &[Transaction]) -> Result<AlloyBal> {
    let base = Base::new(state);
    base.verdict(build(&base, block, txs))
}

/// [`revm_block_access_list`] on `base`.
fn build(base: &Base<'_>, block: &BlockEnv, txs: &[Transaction]) -> Result<AlloyBal> {
    let mut db = RevmState::builder().with_database_ref(base).with_bal_builder().build();
    let mut evm = build_plain_evm(&mut db, block);
    for (what, address, data) in system::calls(block) {
        system_call(&mut evm, what, address, Bytes::copy_from_slice(data.as_slice()))?;
    }
    for (index, tx) in txs.iter().enumerate() {
        evm.ctx.journaled_state.database.bump_bal_index();
        evm.transact_commit(tx_env(tx, block.chain_id)).map_err(|e| match e {
            EVMError::Transaction(e) => VmError::InvalidTransaction { index, reason: e.to_string() },
            EVMError::Header(e) => VmError::InvalidBlock(e.to_string()),
            e => VmError::Internal { index, message: e.to_string() },
        })?;
    }
    let db = &mut evm.ctx.journaled_state.database;
    db.bump_bal_index();
    for (address, amount) in system::balance_increments(block) {
        let info = db.basic(address).map_err(database_error)?.unwrap_or_default();
        let mut account = Account::from(info);
        account.info.balance = account.info.balance.saturating_add(amount);
        account.mark_touch();
        db.commit(EvmState::from_iter([(address, account)]));
    }
    if block.spec.is_enabled_in(SpecId::PRAGUE) {
        for (what, address) in system::REQUESTS {
            system_call(&mut evm, what, address, Bytes::new())?;
        }
    }
    let built = evm.ctx.journaled_state.database.take_built_alloy_bal();
    built.ok_or_else(|| VmError::InvalidBlock("revm's BAL builder was not on".into()))
}

/// One system call, committed without the system address, skipped where
/// the contract has no code.
fn system_call(evm: &mut Evm<&mut Db<'_>>, what: &str, address: Address, data: Bytes) -> Result<()> {
    let db = &mut evm.ctx.journaled_state.database;
    let info = db.basic(address).map_err(database_error)?;
    if info.and_then(|info| info.code).is_none_or(|code| code.is_empty()) {
        return Ok(());
    }
    let result = evm.system_call_one(address, data);
    let mut state = evm.finalize();
    if !result.as_ref().is_ok_and(|r| r.is_success()) {
        return Err(VmError::InvalidBlock(format!("the {what} system call failed: {result:?}")));
    }
    state.remove(&SYSTEM_ADDRESS);
    evm.ctx.journaled_state.database.commit(state);
    Ok(())
}

/// revm's database fails only where a BAL is read, which this builder does
/// not do.
fn database_error(error: impl core::fmt::Display) -> VmError {
    VmError::InvalidBlock(format!("revm's state database failed: {error}"))
}
