//! The state a block starts from: the in-memory [`State`], or any revm
//! database.
//!
//! Every executor reads the state before the block through [`BaseState`],
//! which [`State`] implements and so does every revm [`DatabaseRef`] that
//! threads can share (`Sync`): a node's database, revm's `CacheDB`, a
//! user's own. The executors never write to it; a block's changes come
//! back in its outcome.
//!
//! Inside, they read through a [`Base`], whose reads cannot fail: a
//! database error is kept (the first one), the read answers as if the key
//! were empty, and the executor returns the error
//! ([`VmError::Database`]) in place of whatever the block came to. A block
//! whose read failed therefore never gives an outcome: nothing of it is
//! applied. The sequential executor stops at the next transaction, the
//! parallel one at the end of the segment (before it runs, if the read
//! failed while preparing it); bal mode runs on to the block's end.
//!
//! An account from a database is given to revm as made from its fields
//! (balance, nonce, code): a missing or zero code hash and empty code all
//! mean no code, and a hash without its code is looked up.
//!
//! What is read, and when:
//! - the parallel executor reads, while preparing each segment, every key
//!   the segment's transactions declare or imply that no earlier segment
//!   changed, once, on all its workers ([`BaseState::in_memory`] is false);
//!   from the in-memory [`State`] it reads each at first use instead, by
//!   the transaction that comes first, which two threads share better
//!   (`prepare.rs`);
//! - the sequential executor (and the parallel one's sequential path, and
//!   the repair's walk) and bal mode read a key whenever a transaction
//!   reads one the block has not changed: nothing is kept between
//!   transactions, a database being expected to keep what it reads;
//! - outside the declarations: the system calls' contracts and slots, the
//!   accounts credited after the last transaction, and under hints what a
//!   stray reads beyond its hint, when it is read.

use crate::error::{DatabaseRead, VmError};
use crate::key::StateKey;
use crate::state::{Account, AccountValue, State, Value};
use alloy_primitives::{Address, B256, U256};
use core::convert::Infallible;
use revm::database_interface::DatabaseRef;
use revm::primitives::KECCAK_EMPTY;
use revm::state::{AccountInfo, Bytecode};
use std::borrow::Cow;
use std::sync::OnceLock;

/// What a base state's database failed with.
pub type DatabaseError = Box<dyn core::error::Error + Send + Sync>;

/// A state for blocks to start from: read, never written, by every thread
/// of an executor at once.
///
/// Implemented by [`State`] and by every revm [`DatabaseRef`] that is
/// `Sync`, so an executor runs over a user's own database as it is (the
/// README shows one).
pub trait BaseState: Sync {
    /// The account at `address` (`None` if it does not exist), its code
    /// included where it has any.
    fn basic(&self, address: Address) -> Result<Option<AccountInfo>, DatabaseError>;
    /// A storage slot's value (zero when unset).
    fn storage(&self, address: Address, slot: U256) -> Result<U256, DatabaseError>;
    /// The hash of block `number`, for `BLOCKHASH`.
    fn block_hash(&self, number: u64) -> Result<B256, DatabaseError>;
    /// Code by its hash (asked only for code that [`basic`](Self::basic)
    /// did not give).
    fn code_by_hash(&self, hash: B256) -> Result<Bytecode, DatabaseError>;
    /// Whether a read costs no more than a lookup in memory: the parallel
    /// executor then reads each key at its first use rather than all of a
    /// segment's while preparing it.
    fn in_memory(&self) -> bool {
        false
    }

    /// The in-memory [`State`] itself, if this is one: the executors then
    /// read it in place, sharing its code rather than copying it.
    #[doc(hidden)]
    fn as_state(&self) -> Option<&State> {
        None
    }
}

impl<D: DatabaseRef + Sync> BaseState for D {
    fn basic(&self, address: Address) -> Result<Option<AccountInfo>, DatabaseError> {
        let Some(mut info) = self.basic_ref(address)? else { return Ok(None) };
        // A database may give the code's hash alone (a node's does); a zero
        // hash is no code, as revm has it.
        let hash = info.code_hash;
        if info.code.as_ref().is_none_or(Bytecode::is_empty) && hash != KECCAK_EMPTY && !hash.is_zero() {
            info.code = Some(self.code_by_hash_ref(hash)?);
        }
        Ok(Some(info))
    }

    fn storage(&self, address: Address, slot: U256) -> Result<U256, DatabaseError> {
        Ok(self.storage_ref(address, slot)?)
    }

    fn block_hash(&self, number: u64) -> Result<B256, DatabaseError> {
        Ok(self.block_hash_ref(number)?)
    }

    fn code_by_hash(&self, hash: B256) -> Result<Bytecode, DatabaseError> {
        Ok(self.code_by_hash_ref(hash)?)
    }
}

impl BaseState for State {
    fn basic(&self, address: Address) -> Result<Option<AccountInfo>, DatabaseError> {
        Ok(self.account(&address).map(|a| a.info()))
    }

    fn storage(&self, address: Address, slot: U256) -> Result<U256, DatabaseError> {
        Ok(State::storage(self, &address, &slot))
    }

    fn block_hash(&self, number: u64) -> Result<B256, DatabaseError> {
        Ok(State::block_hash(self, number))
    }

    fn code_by_hash(&self, hash: B256) -> Result<Bytecode, DatabaseError> {
        // `basic` always gives the code itself, so this is asked only for
        // code no account here has.
        let code = self.accounts().filter_map(|(_, a)| a.code.as_ref()).find(|c| c.hash_slow() == hash);
        Ok(code.cloned().unwrap_or_default())
    }

    fn in_memory(&self) -> bool {
        true
    }

    fn as_state(&self) -> Option<&State> {
        Some(self)
    }
}

/// An account's balance, nonce and code; the code borrowed from a base in
/// memory.
pub(crate) type Fields<'a> = (U256, u64, Option<Cow<'a, Bytecode>>);

/// A block's base state as the executors read it: reads that cannot fail,
/// the first database error kept (module docs).
pub(crate) struct Base<'a> {
    state: &'a dyn BaseState,
    /// `state` itself, if it is the in-memory one.
    memory: Option<&'a State>,
    failure: OnceLock<VmError>,
}

impl core::fmt::Debug for Base<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Base").field("failure", &self.failure.get()).finish_non_exhaustive()
    }
}

impl<'a> Base<'a> {
    /// Reads from `state`, no read failed yet.
    pub(crate) fn new(state: &'a dyn BaseState) -> Self {
        Self { state, memory: state.as_state(), failure: OnceLock::new() }
    }

    /// Keeps `error` (unless an earlier one is kept) and answers with the
    /// empty value.
    fn failed_with<T: Default>(&self, read: DatabaseRead, error: DatabaseError) -> T {
        let _ = self.failure.set(VmError::Database { read, message: error.to_string() });
        T::default()
    }

    /// The account at `address` as revm takes it: from a database, made
    /// again from its fields, so that every executor gives revm the same
    /// hash for the same code (none for no code, whatever the database's).
    pub(crate) fn info(&self, address: Address) -> Option<AccountInfo> {
        if let Some(state) = self.memory {
            return state.account(&address).map(Account::info);
        }
        self.account(address).map(|account| account.info())
    }

    /// The account at `address`.
    pub(crate) fn account(&self, address: Address) -> Option<AccountValue> {
        if let Some(state) = self.memory {
            return state.account(&address).map(Account::value);
        }
        let info = self.state.basic(address).unwrap_or_else(|e| self.failed_with(DatabaseRead::Account(address), e));
        info.map(AccountValue::from_info_owned)
    }

    /// The account at `address`, its code borrowed where the base is in
    /// memory.
    pub(crate) fn fields(&self, address: Address) -> Option<Fields<'a>> {
        if let Some(state) = self.memory {
            return state.account(&address).map(|a| (a.balance, a.nonce, a.code.as_ref().map(Cow::Borrowed)));
        }
        let account = self.account(address)?;
        Some((account.balance, account.nonce, account.code.map(Cow::Owned)))
    }

    /// A storage slot's value.
    pub(crate) fn storage(&self, address: Address, slot: U256) -> U256 {
        if let Some(state) = self.memory {
            return state.storage(&address, &slot);
        }
        self.state.storage(address, slot).unwrap_or_else(|e| self.failed_with(DatabaseRead::Storage(address, slot), e))
    }

    /// The value `key` holds.
    pub(crate) fn get(&self, key: &StateKey) -> Value {
        match *key {
            StateKey::Account(address) => Value::Account(self.account(address)),
            StateKey::Storage(address, slot) => Value::Storage(self.storage(address, slot)),
        }
    }

    /// Whether reads are as cheap as a lookup in memory.
    pub(crate) fn in_memory(&self) -> bool {
        self.memory.is_some() || self.state.in_memory()
    }

    /// The failure, if a read failed.
    pub(crate) fn check(&self) -> Result<(), VmError> {
        self.failure.get().map_or(Ok(()), |failure| Err(failure.clone()))
    }

    /// `result`, unless a read failed: then that failure, whatever the
    /// block came to on the empty values it was given.
    pub(crate) fn verdict<T>(&self, result: Result<T, VmError>) -> Result<T, VmError> {
        self.check()?;
        result
    }
}

/// The base as a revm database, for the EVMs that read it whole (the
/// system calls, revm's own list builder).
impl DatabaseRef for Base<'_> {
    type Error = Infallible;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Infallible> {
        Ok(self.info(address))
    }

    fn code_by_hash_ref(&self, hash: B256) -> Result<Bytecode, Infallible> {
        Ok(self.state.code_by_hash(hash).unwrap_or_else(|e| self.failed_with(DatabaseRead::Code(hash), e)))
    }

    fn storage_ref(&self, address: Address, slot: U256) -> Result<U256, Infallible> {
        Ok(self.storage(address, slot))
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Infallible> {
        Ok(self.state.block_hash(number).unwrap_or_else(|e| self.failed_with(DatabaseRead::BlockHash(number), e)))
    }
}
