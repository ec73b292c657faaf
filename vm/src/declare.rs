//! Declarations for code nobody declared: derived by simulating each
//! transaction and recording the keys it really read and wrote.
//!
//! Two ways, as [`Declarer`] is set:
//! - **Against the block's pre-state** (the default): every transaction
//!   runs alone on the state the block's system calls leave, all of them at
//!   once on the declarer's threads. Its sender is given the nonce the
//!   transaction carries and at least the funds it may spend, as if its
//!   earlier transactions in the block had run. What a transaction touches
//!   can depend on what the transactions before it wrote (a branch on a
//!   flag, a route through a pool whose price moved, a contract created
//!   earlier in the block): such a declaration may be wrong once the block
//!   runs, a *hint*.
//! - **Against the prefix** ([`Declarer::with_prefix`]): each transaction
//!   runs on the state the transactions before it leave, one after the
//!   other ([`SequentialExecutor::record`]). Exact for this block in this
//!   order, and sequential.
//!
//! Either way a declaration is in the form the executors take: a key
//! written is declared as a write only, and keys the transaction implies
//! (its sender, its callee, a created contract) are left out where the
//! implied access covers them. Declarations the transactions carry are
//! ignored.

use crate::base::{Base, BaseState};
use crate::block::BlockEnv;
use crate::error::{Result, UndeclaredRead, VmError};
use crate::exec::{build_evm, execute};
use crate::key::StateKey;
use crate::parallel::panic_message;
use crate::sequential::{SequentialExecutor, declaration};
use crate::state::{StateChanges, Value};
use crate::system;
use crate::tx::{Fee, Transaction};
use crate::workers::Workers;
use alloy_primitives::{Address, B256, U256};
use defivm_scheduler::AccessSet;
use revm::database_interface::{Database, DatabaseRef};
use revm::state::{AccountInfo, Bytecode};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Derives each transaction's declaration by simulation (see the module
/// docs).
#[derive(Debug)]
pub struct Declarer {
    workers: Workers,
    prefix: bool,
}

impl Declarer {
    /// A declarer that simulates on `threads` threads (the calling thread
    /// and `threads - 1` helpers of its own, named `defivm-declare-{i}`),
    /// against the block's pre-state.
    pub fn new(threads: usize) -> Result<Self> {
        let threads = threads.max(1);
        let workers = Workers::new(threads, "defivm-declare")
            .map_err(|e| VmError::ThreadPool { threads, message: e.to_string() })?;
        Ok(Self { workers, prefix: false })
    }

    /// The same, simulating each transaction on the state the ones before
    /// it leave (`prefix`): exact, and sequential.
    pub fn with_prefix(mut self, prefix: bool) -> Self {
        self.prefix = prefix;
        self
    }

    /// Whether declarations are derived against the prefix.
    pub fn prefix(&self) -> bool {
        self.prefix
    }

    /// Number of threads the simulations run on.
    pub fn threads(&self) -> usize {
        self.workers.threads()
    }

    /// The declaration of each of `txs` in a block on `state` (left
    /// untouched), in block order. A transaction that cannot run in its
    /// simulation (invalid even with its nonce and funds given) fails with
    /// its error and position.
    /// `state` is the in-memory [`State`](crate::State) or any revm database
    /// ([`BaseState`]).
    pub fn declare(
        &self,
        state: &impl BaseState,
        block: &BlockEnv,
        txs: &[Transaction],
    ) -> Result<Vec<AccessSet<StateKey>>> {
        if self.prefix {
            return SequentialExecutor::new().record(state, block, txs).map(|(_, declarations)| declarations);
        }
        let base = Base::new(state);
        base.verdict(self.simulate(&base, block, txs))
    }

    /// Each transaction alone on the block's pre-state over `state`.
    fn simulate(&self, state: &Base<'_>, block: &BlockEnv, txs: &[Transaction]) -> Result<Vec<AccessSet<StateKey>>> {
        let system = system::pre_execution(state, block, None)?;
        let pre = PreState { base: state, system: &system };
        let derived: Vec<OnceLock<Result<AccessSet<StateKey>>>> = txs.iter().map(|_| OnceLock::new()).collect();
        let next = AtomicUsize::new(0);
        let work = |_worker: usize| {
            crate::keccak_memo::forget();
            let (mut evm, mut writes) = (build_evm(pre.simulated(None), block), Vec::new());
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(tx) = txs.get(index) else { break };
                let mut simulate = || {
                    evm.ctx.journaled_state.database = pre.simulated(Some(tx));
                    execute(&mut evm, tx, index, block, |key: &StateKey| Some(*key), &mut writes, None)?;
                    let reads = core::mem::take(&mut evm.ctx.journaled_state.database.reads);
                    let written = writes.drain(..).map(|(key, _)| key).collect();
                    Ok(declaration(tx, reads, written))
                };
                let result = catch_unwind(AssertUnwindSafe(&mut simulate))
                    .unwrap_or_else(|panic| Err(VmError::Internal { index, message: panic_message(panic.as_ref()) }));
                if result.is_err() {
                    // The EVM may be mid-transaction.
                    evm = build_evm(pre.simulated(None), block);
                }
                let _ = derived[index].set(result);
            }
        };
        self.workers.run(&work, &|| ()).map_err(|message| VmError::Internal { index: 0, message })?;
        // The first failure in block order.
        let missing = |index| Err(VmError::Internal { index, message: "the transaction was not simulated".into() });
        derived.into_iter().enumerate().map(|(index, d)| d.into_inner().unwrap_or_else(|| missing(index))).collect()
    }
}

/// The block's pre-state: the base with the system calls' changes.
#[derive(Clone, Copy)]
struct PreState<'a> {
    base: &'a Base<'a>,
    system: &'a StateChanges,
}

impl<'a> PreState<'a> {
    /// What `tx` sees in its simulation (nothing special without one).
    fn simulated(self, tx: Option<&Transaction>) -> Simulated<'a> {
        let sender = tx.map(|tx| Sender { address: tx.from, nonce: tx.nonce, funds: most_spent(tx) });
        Simulated { pre: self, sender, reads: Vec::new() }
    }
}

/// The most a transaction may take from its sender: its gas at the highest
/// price it allows, its value, and its blobs' gas at their highest price.
fn most_spent(tx: &Transaction) -> U256 {
    /// Gas per blob (EIP-4844).
    const BLOB_GAS: u64 = 1 << 17;
    let price = match tx.fee {
        Fee::Legacy { gas_price } => gas_price,
        Fee::Dynamic { max_fee_per_gas, .. } => max_fee_per_gas,
    };
    let blobs = tx.envelope.as_ref().map_or(U256::ZERO, |envelope| {
        let gas = U256::from(envelope.blob_hashes.len() as u64) * U256::from(BLOB_GAS);
        gas.saturating_mul(U256::from(envelope.max_fee_per_blob_gas))
    });
    U256::from(tx.gas_limit).saturating_mul(U256::from(price)).saturating_add(tx.value).saturating_add(blobs)
}

/// A simulated transaction's sender, as its earlier transactions in the
/// block would have left it.
#[derive(Clone, Copy)]
struct Sender {
    address: Address,
    nonce: u64,
    funds: U256,
}

/// One transaction's view of the pre-state, recording every key it loads.
struct Simulated<'a> {
    pre: PreState<'a>,
    sender: Option<Sender>,
    /// Every key loaded, in the order loaded.
    reads: Vec<StateKey>,
}

impl Database for Simulated<'_> {
    type Error = UndeclaredRead;

    fn basic(&mut self, address: Address) -> core::result::Result<Option<AccountInfo>, Self::Error> {
        let key = StateKey::Account(address);
        self.reads.push(key);
        let (value, _) = Value::after(self.pre.system, self.pre.base, &key);
        let mut info = value.account().map(|account| account.info());
        if let Some(sender) = self.sender.filter(|sender| sender.address == address) {
            let info = info.get_or_insert_with(AccountInfo::default);
            info.nonce = sender.nonce;
            info.balance = info.balance.max(sender.funds);
        }
        Ok(info)
    }

    fn code_by_hash(&mut self, code_hash: B256) -> core::result::Result<Bytecode, Self::Error> {
        Ok(self.pre.base.code_by_hash_ref(code_hash).unwrap_or_else(|never| match never {}))
    }

    fn storage(&mut self, address: Address, index: U256) -> core::result::Result<U256, Self::Error> {
        let key = StateKey::Storage(address, index);
        self.reads.push(key);
        match Value::after(self.pre.system, self.pre.base, &key).0 {
            Value::Storage(value) => Ok(value),
            _ => Ok(U256::ZERO),
        }
    }

    fn block_hash(&mut self, number: u64) -> core::result::Result<B256, Self::Error> {
        Ok(self.pre.base.block_hash_ref(number).unwrap_or_else(|never| match never {}))
    }
}
