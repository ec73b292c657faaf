//! Plain revm, the baseline every speedup is measured against.
//!
//! One reused mainnet EVM over revm's own `CacheDB`, committing after each
//! transaction: no declarations, no enforcement, no scheduling, the
//! beneficiary credited by revm itself. The block's own rules as a client
//! of revm applies them (`system.rs`): the system calls first, as revm makes
//! them; after the transactions, the rewards and withdrawals credited to the
//! database and the request system calls. With correct declarations the
//! [`crate::SequentialExecutor`] must produce the same receipts and
//! post-state.

use crate::block::{BlockEnv, SpecId};
use crate::error::{Result, VmError};
use crate::exec::tx_env;
use crate::receipt::{Receipt, Status};
use crate::state::{Account, AccountValue, State};
use crate::tx::Transaction;
use alloy_primitives::{Address, B256, Bytes, U256};
use core::convert::Infallible;
use hashbrown::HashMap;
use revm::ExecuteCommitEvm;
use revm::context::result::{EVMError, ExecutionResult, Output};
use revm::database::{AccountState, CacheDB};
use revm::database_interface::DatabaseRef;
use revm::handler::SystemCallCommitEvm;
use revm::state::{AccountInfo, Bytecode};

/// Plain revm over its own in-memory database.
///
/// [`PlainRevm::new`] copies a [`State`] into revm's `CacheDB` (not part of
/// any timing); [`PlainRevm::execute`] runs a block on it, committing after
/// each transaction; [`PlainRevm::post_state`] reads the result back.
#[derive(Debug, Clone)]
pub struct PlainRevm {
    db: CacheDB<BlockHashes>,
    /// Whether the last block ran under EIP-161 (Spurious Dragon on), which
    /// deletes empty accounts; before it they exist.
    clears_empty: bool,
}

/// Whether `address` holds code in `evm`'s database (a system call to an
/// account without code is skipped, as the protocol says).
fn has_code(evm: &crate::exec::Evm<&mut CacheDB<BlockHashes>>, address: Address) -> bool {
    let accounts = &evm.ctx.journaled_state.database.cache.accounts;
    accounts.get(&address).is_some_and(|a| a.info.code.as_ref().is_some_and(|c| !c.is_empty()))
}

/// What revm's cache falls back to: no accounts (the cache holds them all)
/// and the state's block hashes, zero for any other block.
#[derive(Debug, Clone, Default)]
struct BlockHashes(HashMap<u64, B256>);

impl DatabaseRef for BlockHashes {
    type Error = Infallible;

    fn basic_ref(&self, _address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(None)
    }

    fn code_by_hash_ref(&self, _code_hash: B256) -> Result<Bytecode, Self::Error> {
        Ok(Bytecode::default())
    }

    fn storage_ref(&self, _address: Address, _index: U256) -> Result<U256, Self::Error> {
        Ok(U256::ZERO)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        Ok(self.0.get(&number).copied().unwrap_or_default())
    }
}

impl PlainRevm {
    /// revm's database holding `state`.
    pub fn new(state: &State) -> Self {
        let mut db = CacheDB::new(BlockHashes(state.block_hashes().collect()));
        for (address, account) in state.accounts() {
            db.insert_account_info(*address, account.value().info());
            for (slot, value) in &account.storage {
                db.insert_account_storage(*address, *slot, *value).unwrap_or_else(|never| match never {});
            }
        }
        Self { db, clears_empty: true }
    }

    /// Runs `txs` in block order through one reused EVM and returns their
    /// receipts. The database keeps the result.
    pub fn execute(&mut self, block: &BlockEnv, txs: &[Transaction]) -> Result<Vec<Receipt>> {
        self.clears_empty = block.spec.is_enabled_in(SpecId::SPURIOUS_DRAGON);
        let mut evm = crate::exec::build_plain_evm(&mut self.db, block);
        for (what, address, data) in crate::system::calls(block) {
            if has_code(&evm, address) {
                evm.system_call_commit(address, Bytes::copy_from_slice(data.as_slice()))
                    .map_err(|e| VmError::InvalidBlock(format!("the {what} system call failed: {e}")))?;
            }
        }
        let mut receipts = Vec::with_capacity(txs.len());
        for (index, tx) in txs.iter().enumerate() {
            let result = evm.transact_commit(tx_env(tx, block.chain_id)).map_err(|e| match e {
                EVMError::Transaction(e) => VmError::InvalidTransaction { index, reason: e.to_string() },
                EVMError::Header(e) => VmError::InvalidBlock(e.to_string()),
                e => VmError::Internal { index, message: e.to_string() },
            })?;
            let gas_used = result.tx_gas_used();
            let (status, logs, output) = match result {
                ExecutionResult::Success { logs, output: Output::Call(o) | Output::Create(o, _), .. } => {
                    (Status::Success, logs, o)
                }
                ExecutionResult::Revert { output, .. } => (Status::Revert, Vec::new(), output),
                ExecutionResult::Halt { reason, .. } => (Status::Halt(reason), Vec::new(), Default::default()),
            };
            receipts.push(Receipt { status, gas_used, logs, output });
        }
        let db = &mut evm.ctx.journaled_state.database;
        for (address, amount) in crate::system::balance_increments(block) {
            let account = db.load_account(address).unwrap_or_else(|never| match never {});
            account.info.balance = account.info.balance.saturating_add(amount);
            if matches!(account.account_state, AccountState::NotExisting) {
                account.account_state = AccountState::Touched;
            }
        }
        if block.spec.is_enabled_in(SpecId::PRAGUE) {
            for (what, address) in crate::system::REQUESTS {
                if has_code(&evm, address) {
                    evm.system_call_commit(address, Bytes::new())
                        .map_err(|e| VmError::InvalidBlock(format!("the {what} system call failed: {e}")))?;
                }
            }
        }
        Ok(receipts)
    }

    /// The state as every client sees it: after a block under EIP-161
    /// (Spurious Dragon on), without its empty accounts.
    pub fn post_state(&self) -> State {
        let mut post = State::new();
        for (address, cached) in &self.db.cache.accounts {
            if matches!(cached.account_state, AccountState::NotExisting) {
                continue;
            }
            let info = &cached.info;
            let code = AccountValue::from_info(info).code;
            let mut account = Account { balance: info.balance, nonce: info.nonce, code, ..Account::default() };
            account.storage.extend(cached.storage.iter().filter(|(_, v)| !v.is_zero()).map(|(k, v)| (*k, *v)));
            // EIP-161: touched empty accounts do not exist.
            if !(self.clears_empty && account.value().is_empty() && account.storage.is_empty()) {
                post.insert_account(*address, account);
            }
        }
        post
    }
}
