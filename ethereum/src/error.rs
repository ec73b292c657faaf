//! Why an Ethereum block could not be read or imported.

use crate::receipts::HeaderMismatch;
use alloy_primitives::{Address, B256};
use defivm_vm::VmError;
use std::path::PathBuf;

/// Why a recorded block could not be read, executed or verified. Each
/// variant names the file or the block, and where it applies the
/// transaction and the account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        message: String,
    },
    /// A file is not valid JSON of its format.
    #[error("{path}:{line}:{column}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Line of the problem.
        line: usize,
        /// Column of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A code file holds code whose hash is not the one it is filed under.
    #[error("{path}: the code filed under {hash} hashes to {actual}")]
    CodeHash {
        /// The code file.
        path: PathBuf,
        /// The hash it is filed under.
        hash: B256,
        /// Its hash.
        actual: B256,
    },
    /// A pre-state account names code that no code file holds.
    #[error("block {block}: account {address} has code hash {code_hash}, and no code has that hash")]
    MissingCode {
        /// The block.
        block: u64,
        /// The account.
        address: Address,
        /// Its code hash.
        code_hash: B256,
    },
    /// A transaction of a type this build does not know.
    #[error("block {block}: transaction {index}: unknown transaction type {tx_type}")]
    UnknownTxType {
        /// The block.
        block: u64,
        /// The transaction's position.
        index: usize,
        /// The type as the file gives it.
        tx_type: String,
    },
    /// A transaction that does not parse as its type.
    #[error("block {block}: transaction {index}: {message}")]
    Transaction {
        /// The block.
        block: u64,
        /// The transaction's position.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// The block could not be executed (an invalid transaction names its
    /// position).
    #[error("block {block}: {source}")]
    Execution {
        /// The block.
        block: u64,
        /// The executor's error.
        source: VmError,
    },
    /// A header field disagrees with the block as executed.
    #[error("block {block}: {mismatch}")]
    Header {
        /// The block.
        block: u64,
        /// The field, the header's value and the computed one.
        mismatch: HeaderMismatch,
    },
}

impl ImportError {
    pub(crate) fn io(path: impl Into<PathBuf>, error: impl ToString) -> Self {
        ImportError::Io { path: path.into(), message: error.to_string() }
    }

    pub(crate) fn json(path: impl Into<PathBuf>, error: serde_json::Error) -> Self {
        ImportError::Json { path: path.into(), line: error.line(), column: error.column(), message: error.to_string() }
    }
}
