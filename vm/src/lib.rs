//! # defivm-vm
//!
//! Executes blocks of transactions that declare their state access up front.
//!
//! ## The model
//!
//! A [`StateKey`] is an account (balance, nonce, code) or one storage slot.
//! A [`Transaction`] carries the usual fields and an [`AccessSet`] of keys it
//! reads and writes; the sender's account, the callee's account and a created
//! contract's account are implied ([`Transaction::implied_access`]).
//!
//! The [`SequentialExecutor`] is the specification: one revm EVM, block
//! order, commit after each transaction. The [`ParallelExecutor`] schedules
//! the block with `defivm-scheduler` and runs it on a thread pool, either in
//! conflict-free waves or barrier-free along the dependency graph
//! ([`ParallelMode`]); its [`BlockOutcome`] (receipts, changes, fees, state
//! root) is identical to the sequential one for every block. Both can hand
//! each receipt to the caller as soon as it is made instead of collecting
//! them (`execute_streamed`, which returns the [`BlockEffects`]), and the
//! parallel executor runs a block longer than [`SEGMENT_TXS`] one segment at
//! a time, so that neither a block's receipts nor its working memory need
//! grow with its length. Nor need its transactions: every executor also
//! takes them as a [`TxStream`], a segment at a time ([`Txs`]). A block that cannot gain from threads (too little
//! work, or one sender's chain: [`Plan`]) takes the sequential path.
//!
//! Rules every mode applies identically:
//! - **Access.** Reading a key that was not declared, or writing one not
//!   declared as written, ends the transaction with an
//!   [`Status::AccessViolation`] receipt naming the key. It is rejected whole:
//!   no nonce bump, no fee, no gas, none of its writes.
//!   [`SequentialExecutor::record`] runs a block without the rule and
//!   reports what each transaction really touched: a declaration that is
//!   exact for that block. A [`Declarer`] derives declarations for code
//!   nobody declared by simulation: each transaction alone on the block's
//!   pre-state, all at once (hints, which what earlier transactions wrote
//!   can make wrong), or on the state its prefix leaves (exact).
//! - **Declarations as hints.** With `with_declarations(`[`Declarations::Hints`]`)`,
//!   every executor takes declarations as hints that may be wrong: a
//!   transaction that strays outside its own is not rejected, and the
//!   outcome is the sequential one with no declaration at all. The
//!   lock-graph modes run a stray again after what it truly conflicts with,
//!   and only what read what it changed with it (`repair.rs`); the outcome
//!   counts both ([`Repairs`]).
//! - **Fees.** The beneficiary's credit is kept aside and added up, so it
//!   never orders two transactions; a transaction that declares the
//!   beneficiary sees every earlier credit (`beneficiary.rs`). Before London
//!   the whole gas price is the beneficiary's.
//! - **Storage that ends.** An account deleted (`SELFDESTRUCT` before
//!   Cancun, or of a contract created in the same transaction after it; an
//!   EIP-161 deletion) or created has no storage from before for every
//!   later transaction of the block; a contract deployed again at the same
//!   address (`CREATE2`) starts empty ([`Value`]).
//! - **The block's own rules** (`system.rs`): the system calls before the
//!   first transaction (EIP-4788 beacon root, EIP-2935 block hash), then
//!   after the last the block and ommer rewards (before the Merge), the
//!   withdrawals (Shanghai on) and the request system calls (EIP-7002,
//!   EIP-7251, Prague on). Their changes are part of the block's.
//! - **What a block accessed.** With `with_access_record(true)`, every
//!   executor also records each account and slot the block loaded, with the
//!   value each step (system calls, transaction, rewards) left where it
//!   changed one: the content of the block's EIP-7928 access list
//!   ([`BlockAccess`], `access.rs`), the same in every mode.
//!   [`revm_block_access_list`] is revm's own builder, to compare with.
//! - **Executing from the list.** With the block's access list
//!   ([`ListedAccess`]), the [`BalExecutor`] runs every transaction at once,
//!   each reading what the ones before it left from the list, and checks
//!   the list as it goes: the outcome is the sequential one, or
//!   [`VmError::AccessList`] names the first step the list disagrees with
//!   ([`ListMismatch`]). Declarations still hold.
//! - **Checking a block against its list.** Every other executor runs a
//!   block from its declarations and checks it against the list as it goes
//!   (`execute_checked`): the record of what it accessed is checked a piece
//!   at a time (a segment, or 65,536 transactions on the sequential path)
//!   and dropped, with the same [`ListMismatch`] for a list that disagrees.
//! - **The base state.** A block starts from the in-memory [`State`] or
//!   any revm database ([`BaseState`], `base.rs`), read and never written.
//!   The parallel executor reads a database's declared and implied keys
//!   once each, on all its threads, while preparing each segment; a failed
//!   read fails the block with [`VmError::Database`], nothing applied.
//! - **Invalid transactions** (nonce mismatch, balance below the gas cost,
//!   gas limit over the block's) fail the whole block with
//!   [`VmError::InvalidTransaction`] for the first one in block order;
//!   nothing is applied.
//!
//! A [`Transaction`] of a real chain carries its Ethereum [`Envelope`]
//! (type, chain id, EIP-2930 access list, blobs, authorizations), which goes
//! to revm as signed; its EIP-2930 access list is not its declared access.
//!
//! Files: `key.rs`, `tx.rs`, `block.rs`, `state.rs` (state, changes, state
//! root), `slot_map.rs` (a map keyed by slot, held densely: an account's storage), `base.rs` (the state a block starts from: a `State` or a
//! database), `receipt.rs`, `exec.rs` (one transaction through revm),
//! `system.rs` (the block's rules outside its transactions),
//! `keccak_memo.rs` (KECCAK256 remembering 64-byte inputs), `plan.rs`
//! (whether a block can gain from threads), `beneficiary.rs`,
//! `sequential.rs`, `prepare.rs` (cells and declarations for the parallel
//! executor), `parallel.rs`, `workers.rs` (the calling thread and its
//! helpers), `results.rs` (what its workers leave per transaction),
//! `baseline.rs` (plain revm, for comparison), `access.rs` (what a block
//! accessed: its EIP-7928 list's content), `revm_bal.rs` (revm's own list
//! builder, to compare with), `listed.rs` (a list in lookup form, and the
//! checks of the steps, or of a record, against it), `keep.rs` (where a
//! run's record goes: kept, or checked a piece at a time), `bal.rs`
//! (executing a block from its list), `declare.rs` (declarations derived by
//! simulation), `repair.rs` (declarations as hints, and the repair of
//! strays), `error.rs`.

mod access;
mod bal;
mod balances_seen;
mod base;
mod baseline;
mod beneficiary;
mod block;
mod declare;
mod error;
mod exec;
mod keccak_memo;
mod keep;
mod key;
mod listed;
mod parallel;
mod plan;
mod prepare;
mod receipt;
mod repair;
mod results;
mod revm_bal;
mod sequential;
mod slot_map;
mod state;
mod system;
mod tx;
mod txs;
mod workers;

pub use access::{AccountAccess, BlockAccess};
pub use alloy_primitives::{Address, B256, Bytes, Log, U256};
pub use bal::BalExecutor;
pub use base::{BaseState, DatabaseError};
pub use baseline::PlainRevm;
pub use block::{BlockEnv, Ommer, OmmerHeader, SpecId, Withdrawal};
pub use declare::Declarer;
pub use defivm_scheduler::{AccessSet, Limits};
pub use error::{DatabaseRead, Result, VmError};
pub use key::{AccessKind, StateKey};
pub use listed::{Field, FieldValue, ListMismatch, ListedAccess, MismatchKind};
pub use parallel::{KEEP_BUFFERS_TXS, ParallelExecutor, ParallelMode, Phases, SEGMENT_TXS};
pub use plan::{MIN_PARALLEL_GAIN, MIN_PARALLEL_KEYS, MIN_PARALLEL_TXS, Plan, Why};
pub use receipt::{BlockEffects, BlockOutcome, Receipt, Status};
pub use repair::{Declarations, Repairs};
pub use revm::primitives::KECCAK_EMPTY;
pub use revm::state::Bytecode;
pub use revm_bal::revm_block_access_list;
pub use sequential::SequentialExecutor;
pub use slot_map::{SlotMap, Storage};
pub use state::{Account, AccountValue, State, StateChanges, Value};
pub use system::balance_increments;
pub use tx::{Envelope, Fee, Transaction, TxType};
pub use txs::{TxStream, Txs};
