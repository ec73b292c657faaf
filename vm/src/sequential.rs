//! The sequential executor: the specification every parallel mode must match.

use crate::beneficiary;
use crate::block::BlockEnv;
use crate::error::{Result, UndeclaredRead};
use crate::exec::{build_evm, execute};
use crate::key::StateKey;
use crate::parallel::KEEP_BUFFERS_TXS;
use crate::receipt::{BlockEffects, BlockOutcome, Receipt};
use crate::state::{AccountValue, State, Value};
use crate::tx::{Transaction, check_declarations};
use alloy_primitives::{Address, B256, U256};
use core::cell::RefCell;
use defivm_scheduler::Limits;
use hashbrown::HashMap;
use revm::database_interface::{Database, DatabaseRef};
use revm::state::{AccountInfo, Bytecode};

/// Runs a block one transaction at a time, in block order, through one
/// reused revm EVM, committing after each.
///
/// The access rule is the same as in every parallel mode: a transaction that
/// reads a key it did not declare (or imply), or writes one it did not
/// declare as a write, gets an [`crate::Status::AccessViolation`] receipt and
/// is rejected whole: no nonce bump, no fee, no writes.
///
/// After a block of more than [`KEEP_BUFFERS_TXS`] transactions, the calling
/// thread's KECCAK256 memo (up to 25 MiB) is freed: a thread that ran one
/// such block need not hold it through whatever comes next.
#[derive(Debug, Clone, Copy, Default)]
pub struct SequentialExecutor {
    limits: Limits,
}

impl SequentialExecutor {
    /// An executor with the default [`Limits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The same, with a limit on declaration sizes.
    pub fn with_limits(limits: Limits) -> Self {
        Self { limits }
    }

    /// Executes `txs` on top of `state` (which is left untouched).
    pub fn execute(&self, state: &State, block: &BlockEnv, txs: &[Transaction]) -> Result<BlockOutcome> {
        let mut receipts = Vec::with_capacity(txs.len());
        let BlockEffects { changes, fees } = self.execute_streamed(state, block, txs, |_, r| receipts.push(r))?;
        Ok(BlockOutcome { receipts, changes, fees })
    }

    /// [`execute`](Self::execute), handing each receipt to `receipt` with
    /// its transaction's position as soon as the transaction is done, in
    /// block order, instead of keeping them: a caller that checks or stores
    /// receipts one by one never holds a whole block's. If the block fails,
    /// the receipts handed over so far are of a block that did not happen.
    /// `receipt` runs on the calling thread: a panic in it unwinds to the
    /// caller.
    pub fn execute_streamed(
        &self,
        state: &State,
        block: &BlockEnv,
        txs: &[Transaction],
        mut receipt: impl FnMut(usize, Receipt),
    ) -> Result<BlockEffects> {
        check_declarations(txs, &self.limits)?;
        // One transaction's declaration at a time, in one reused buffer.
        let declared = RefCell::new(Declared::default());
        let overlay = RefCell::new(Overlay { base: state, changes: HashMap::new() });
        let mut evm = build_evm(View { overlay: &overlay, declared: &declared }, block);
        let beneficiary = StateKey::Account(block.beneficiary);
        let (mut pending, mut fees, mut any_ran) = (U256::ZERO, U256::ZERO, false);
        let ran: Result<()> = txs.iter().enumerate().try_for_each(|(index, tx)| {
            declared.borrow_mut().fill(tx);
            if declared.borrow().find(&beneficiary).is_some() && !pending.is_zero() {
                let mut overlay = overlay.borrow_mut();
                let current = overlay.account(&block.beneficiary);
                overlay.changes.insert(beneficiary, Value::Account(beneficiary::credit(current, pending)));
                pending = U256::ZERO;
            }
            let writable = |key: &StateKey| (declared.borrow().find(key) == Some(true)).then_some(*key);
            let executed = execute(&mut evm, tx, index, block, writable)?;
            any_ran |= executed.receipt.ran();
            pending += executed.fee;
            fees += executed.fee;
            overlay.borrow_mut().changes.extend(executed.writes);
            receipt(index, executed.receipt);
            Ok(())
        });
        drop(evm);
        if txs.len() > KEEP_BUFFERS_TXS {
            // Whether the block ran or failed: else the memo stays until the
            // thread ends.
            crate::keccak_memo::release();
        }
        ran?;
        let overlay = overlay.into_inner();
        let current = overlay.account(&block.beneficiary);
        let mut changes = overlay.changes;
        beneficiary::settle(&mut changes, state, block, current, pending, any_ran);
        Ok(BlockEffects { changes, fees })
    }
}

/// A transaction's full declaration: keys sorted, each once, writes winning
/// over reads, so a lookup is a binary search in one small allocation.
#[derive(Debug, Default)]
struct Declared {
    keys: Vec<(StateKey, bool)>,
}

impl Declared {
    /// Becomes `tx`'s declaration.
    fn fill(&mut self, tx: &Transaction) {
        tx.declared_keys(&mut self.keys);
    }

    /// `None` if `key` is not declared, else whether it may be written.
    fn find(&self, key: &StateKey) -> Option<bool> {
        self.keys.binary_search_by(|k| k.0.cmp(key)).ok().map(|at| self.keys[at].1)
    }
}

/// The state as of the last committed transaction.
#[derive(Debug)]
struct Overlay<'a> {
    base: &'a State,
    changes: HashMap<StateKey, Value>,
}

impl Overlay<'_> {
    fn get(&self, key: &StateKey) -> Value {
        self.changes.get(key).cloned().unwrap_or_else(|| self.base.get(key))
    }

    fn account(&self, address: &Address) -> Option<AccountValue> {
        match self.get(&StateKey::Account(*address)) {
            Value::Account(account) => account,
            Value::Storage(_) => None,
        }
    }
}

/// What one transaction sees: the overlay, through its declaration.
#[derive(Debug)]
struct View<'o, 'a> {
    overlay: &'o RefCell<Overlay<'a>>,
    /// The running transaction's declaration.
    declared: &'o RefCell<Declared>,
}

impl View<'_, '_> {
    fn read(&self, key: StateKey) -> Result<Value, UndeclaredRead> {
        if self.declared.borrow().find(&key).is_none() {
            return Err(UndeclaredRead(key));
        }
        Ok(self.overlay.borrow().get(&key))
    }
}

impl Database for View<'_, '_> {
    type Error = UndeclaredRead;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        match self.read(StateKey::Account(address))? {
            Value::Account(account) => Ok(account.map(|a| a.info())),
            Value::Storage(_) => Ok(None),
        }
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        let base = self.overlay.borrow().base;
        Ok(base.code_by_hash_ref(code_hash).unwrap_or_else(|never| match never {}))
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, Self::Error> {
        match self.read(StateKey::Storage(address, index))? {
            Value::Storage(value) => Ok(value),
            Value::Account(_) => Ok(U256::ZERO),
        }
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        let base = self.overlay.borrow().base;
        Ok(base.block_hash_ref(number).unwrap_or_else(|never| match never {}))
    }
}
