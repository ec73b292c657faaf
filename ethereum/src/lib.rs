//! # defivm-ethereum
//!
//! Ethereum's side of defivm: what turns a block of a real chain into a
//! block defivm runs, and what checks the result against the chain.
//!
//! - **Transactions** arrive as signed EIP-2718 envelopes (types 0 to 4)
//!   and become [`defivm_vm::Transaction`]s whose type-specific fields
//!   (chain id, EIP-2930 access list, blobs, authorizations) go to revm as
//!   signed (`envelope.rs`). The EIP-2930 list is not the declared access.
//! - **Forks**: the mainnet schedule gives each block its hardfork, by
//!   number up to the Merge and by timestamp after, and its blob fee
//!   parameters (`fork.rs`).
//! - **Receipts** as Ethereum encodes them (typed, with cumulative gas and
//!   a bloom), and what a header commits to about them: `gasUsed`,
//!   `logsBloom` and, from Byzantium, `receiptsRoot` (`receipts.rs`).
//! - **Block access lists** (EIP-7928): what an executor recorded of a
//!   block, ordered, encoded and hashed as the EIP says (`bal.rs`).
//! - **Import**: recorded mainnet blocks in the layout of
//!   `../shared/mainnet` are read ([`MainnetSource`], `source.rs`), run once
//!   to record every transaction's reads and writes as its declaration, and
//!   verified against their headers ([`import`], `import.rs`).
//!
//! The block-level rules (system calls, rewards, withdrawals) are applied
//! by every executor of `defivm-vm`; this crate fills the environment they
//! read.

mod bal;
mod envelope;
mod error;
mod fork;
mod import;
mod receipts;
mod source;

pub use alloy_eip7928::{AccountChanges, BlockAccessList};
pub use bal::{
    BalAccountJson, BalBalanceJson, BalCodeJson, BalNonceJson, BalSlotChangeJson, BalSlotJson, EMPTY_BAL_HASH,
    bal_from_json, bal_hash, bal_to_json, block_access, block_access_list, first_difference, listed_access,
    noncanonical,
};
pub use envelope::transaction;
pub use error::ImportError;
pub use fork::{mainnet_blob_update_fraction, mainnet_spec};
pub use import::{ImportedBlock, import};
pub use receipts::{HeaderMismatch, ReceiptCommitments, receipt_envelopes};
pub use source::{MainnetSource, SourceBlock};
