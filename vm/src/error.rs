//! The VM's errors.

use crate::key::StateKey;
use crate::listed::ListMismatch;
use alloy_primitives::{Address, B256, U256};
use defivm_scheduler::ScheduleError;

/// Why a block could not be executed. Nothing of a failed block reaches the
/// state, whichever the mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VmError {
    /// A transaction is invalid for its block (nonce mismatch, balance below
    /// its gas cost, gas limit over the block's, ...). Every mode reports the
    /// first such transaction in block order.
    #[error("transaction {index} is invalid: {reason}")]
    InvalidTransaction {
        /// Position in the block.
        index: usize,
        /// revm's account of what is wrong.
        reason: String,
    },
    /// The block environment is unusable for its hardfork.
    #[error("invalid block environment: {0}")]
    InvalidBlock(String),
    /// The declarations could not be scheduled (an oversized declaration, say).
    #[error("cannot schedule the block: {0}")]
    Schedule(#[from] ScheduleError<usize>),
    /// A worker thread panicked while executing a transaction: a bug, caught
    /// and reported instead of tearing the process down.
    #[error("internal error while executing transaction {index}: {message}")]
    Internal {
        /// Position in the block.
        index: usize,
        /// What was caught.
        message: String,
    },
    /// The block's access list disagrees with the block
    /// ([`crate::BalExecutor`]): the first step, in block order, that shows
    /// it.
    #[error("the block access list is wrong: {0}")]
    AccessList(Box<ListMismatch>),
    /// The base state's database failed a read ([`crate::BaseState`]): the
    /// first failure, whatever the block came to without it.
    #[error("the base state's database failed to read {read}: {message}")]
    Database {
        /// What was being read.
        read: DatabaseRead,
        /// The database's error.
        message: String,
    },
    /// The block's transactions could not be had: a [`crate::TxStream`]'s
    /// producer failed, ended early or gave too many.
    #[error("cannot have the block's transaction {index}: {message}")]
    Source {
        /// Position in the block of the first transaction not had.
        index: usize,
        /// Why.
        message: String,
    },
    /// The thread pool could not be built.
    #[error("cannot start {threads} worker threads: {message}")]
    ThreadPool {
        /// Threads asked for.
        threads: usize,
        /// The reason given.
        message: String,
    },
}

/// A read of the base state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DatabaseRead {
    /// An account's fields and code.
    #[error("account {0}")]
    Account(Address),
    /// A storage slot.
    #[error("storage slot {1:#x} of {0}")]
    Storage(Address, U256),
    /// A block's hash.
    #[error("the hash of block {0}")]
    BlockHash(u64),
    /// Code by its hash.
    #[error("code {0}")]
    Code(B256),
}

/// What the executors' databases refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("undeclared read of {0}")]
pub(crate) struct UndeclaredRead(pub(crate) StateKey);

impl revm::database_interface::DBErrorMarker for UndeclaredRead {}

/// Convenience alias.
pub type Result<T, E = VmError> = core::result::Result<T, E>;
