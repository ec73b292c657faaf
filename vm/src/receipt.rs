//! What executing a block produces.

use crate::access::BlockAccess;
use crate::key::{AccessKind, StateKey};
use crate::repair::Repairs;
use crate::state::{State, StateChanges};
use alloy_primitives::{B256, Bytes, Log, U256, keccak256};
use revm::context::result::HaltReason;

/// How a transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// It ran to completion; its writes are in the state.
    Success,
    /// It reverted: only its fee payment and nonce bump remain.
    Revert,
    /// It halted exceptionally (out of gas, bad opcode, ...): as a revert,
    /// with all gas spent.
    Halt(HaltReason),
    /// It touched a key it did not declare (`kind` says how). It is rejected
    /// like an invalid transaction: no nonce bump, no fee, no gas, and none
    /// of its writes reach the state.
    AccessViolation {
        /// The first undeclared key, in [`StateKey`] order for writes.
        key: StateKey,
        /// Whether it was read without any declaration, or written without a
        /// write declaration.
        kind: AccessKind,
    },
}

/// The receipt of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// How it ended.
    pub status: Status,
    /// Gas charged (after refunds), as in an Ethereum receipt.
    pub gas_used: u64,
    /// Logs emitted (none unless it succeeded).
    pub logs: Vec<Log>,
    /// Return data, revert data, or the created contract's code.
    pub output: Bytes,
}

impl Receipt {
    /// Whether the transaction succeeded.
    pub fn is_success(&self) -> bool {
        self.status == Status::Success
    }

    /// Whether the transaction ran: it was not rejected for an access
    /// violation.
    pub(crate) fn ran(&self) -> bool {
        !matches!(self.status, Status::AccessViolation { .. })
    }

    /// A digest of the logs (emitters, topics, data, in order), for fixtures
    /// to record and compare.
    pub fn logs_digest(&self) -> B256 {
        let mut bytes = Vec::new();
        for log in &self.logs {
            bytes.extend_from_slice(log.address.as_slice());
            for topic in log.topics() {
                bytes.extend_from_slice(topic.as_slice());
            }
            bytes.extend_from_slice(&keccak256(&log.data.data).0);
        }
        keccak256(bytes)
    }
}

/// The outcome of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutcome {
    /// One receipt per transaction, in block order.
    pub receipts: Vec<Receipt>,
    /// Every key the block changed, with its final value (the beneficiary's
    /// account included).
    pub changes: StateChanges,
    /// Total fees credited to the beneficiary, in wei.
    pub fees: U256,
    /// Every account and slot the block accessed, with the value each step
    /// left: the content of its EIP-7928 block access list.
    pub access: BlockAccess,
    /// Under [`Declarations::Hints`](crate::Declarations::Hints), the
    /// transactions that strayed from their declaration and those run
    /// again.
    pub repairs: Repairs,
}

/// A block's outcome less its receipts, which the executor handed over one
/// by one as they were made: see
/// [`SequentialExecutor::execute_streamed`](crate::SequentialExecutor::execute_streamed)
/// and [`ParallelExecutor::execute_streamed`](crate::ParallelExecutor::execute_streamed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEffects {
    /// Every key the block changed, with its final value (the beneficiary's
    /// account included).
    pub changes: StateChanges,
    /// Total fees credited to the beneficiary, in wei.
    pub fees: U256,
    /// Every account and slot the block accessed, with the value each step
    /// left: the content of its EIP-7928 block access list.
    pub access: BlockAccess,
    /// Under [`Declarations::Hints`](crate::Declarations::Hints), the
    /// transactions that strayed from their declaration and those run
    /// again.
    pub repairs: Repairs,
}

impl BlockEffects {
    /// The Ethereum state root after the block run on `pre`, as
    /// [`BlockOutcome::state_root`].
    pub fn state_root(&self, pre: &State) -> B256 {
        pre.root_after(&self.changes)
    }
}

impl BlockOutcome {
    /// The state after the block: `pre` (the state the block ran on) with
    /// [`changes`](Self::changes) applied.
    pub fn post_state(&self, pre: &State) -> State {
        let mut post = pre.clone();
        post.apply(&self.changes);
        post
    }

    /// The Ethereum state root after the block. It costs a pass over the
    /// whole state, so executors leave it to whoever needs it.
    pub fn state_root(&self, pre: &State) -> B256 {
        pre.root_after(&self.changes)
    }

    /// Total gas used by the block.
    pub fn gas_used(&self) -> u64 {
        self.receipts.iter().map(|r| r.gas_used).sum()
    }

    /// A digest of the receipts (status, gas, logs, output, in order), for
    /// fixtures to record and compare.
    pub fn receipts_digest(&self) -> B256 {
        let mut bytes = Vec::new();
        for r in &self.receipts {
            let status = match &r.status {
                Status::Success => "success".to_string(),
                Status::Revert => "revert".to_string(),
                Status::Halt(reason) => format!("halt {reason:?}"),
                Status::AccessViolation { key, kind } => format!("violation {kind} {key}"),
            };
            bytes.extend_from_slice(status.as_bytes());
            bytes.extend_from_slice(&r.gas_used.to_be_bytes());
            bytes.extend_from_slice(r.logs_digest().as_slice());
            bytes.extend_from_slice(&keccak256(&r.output).0);
        }
        keccak256(bytes)
    }
}
