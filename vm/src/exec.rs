//! Running one transaction through revm: the part every executor shares.
//!
//! The EVM is revm's mainnet EVM with one change: the handler skips the
//! beneficiary's fee credit. revm would load and touch the beneficiary in
//! every transaction, making every pair of transactions conflict; instead
//! each transaction's credit is computed here and the executors add the
//! credits up (addition commutes), see [`crate::beneficiary`].

use crate::access::StepObserver;
use crate::block::BlockEnv;
use crate::error::{UndeclaredRead, VmError};
use crate::key::{AccessKind, StateKey};
use crate::receipt::{Receipt, Status};
use crate::state::{AccountValue, Value};
use crate::tx::{Fee, Transaction};
use alloy_primitives::{TxKind, U256};
use core::marker::PhantomData;
use revm::context::result::{EVMError, ExecutionResult, HaltReason, InvalidTransaction, Output};
use revm::context::{Context, ContextSetters, ContextTr, JournalTr, TxEnv};
use revm::context_interface::Transaction as _;
use revm::context_interface::either::Either;
use revm::database_interface::Database;
use revm::handler::{EthFrame, EvmTr, EvmTrError, FrameResult, FrameTr, Handler, MainnetContext, MainnetEvm};
use revm::interpreter::interpreter::EthInterpreter;
use revm::interpreter::interpreter_action::FrameInit;
use revm::primitives::hardfork::SpecId;
use revm::state::EvmState;
use revm::{ExecuteEvm, MainBuilder, MainContext};

/// revm's mainnet EVM over one of our databases.
pub(crate) type Evm<DB> = MainnetEvm<MainnetContext<DB>>;

/// Builds revm's mainnet EVM for `block` over `db`, as revm ships it: the
/// baseline.
pub(crate) fn build_plain_evm<DB: Database>(db: DB, block: &BlockEnv) -> Evm<DB> {
    Context::mainnet()
        .modify_cfg_chained(|cfg| {
            cfg.set_spec_and_mainnet_gas_params(block.spec);
            cfg.chain_id = block.chain_id;
        })
        .modify_block_chained(|b: &mut revm::context::BlockEnv| {
            b.number = U256::from(block.number);
            b.timestamp = U256::from(block.timestamp);
            b.beneficiary = block.beneficiary;
            b.basefee = block.basefee;
            b.gas_limit = block.gas_limit;
            b.difficulty = block.difficulty;
            b.prevrandao = Some(block.prevrandao);
            b.blob_excess_gas_and_price = None;
            if block.spec.is_enabled_in(SpecId::CANCUN) {
                b.set_blob_excess_gas_and_price(block.excess_blob_gas, blob_update_fraction(block));
            }
        })
        .with_db(db)
        .build_mainnet()
}

/// Builds the executors' EVM for `block` over `db`, to be reused for many
/// transactions (swap the database between them): the mainnet EVM with
/// KECCAK256 memoized (see [`crate::keccak_memo`]).
pub(crate) fn build_evm<DB: Database>(db: DB, block: &BlockEnv) -> Evm<DB> {
    let mut evm = build_plain_evm(db, block);
    crate::keccak_memo::install(&mut evm.instruction);
    evm
}

/// The blob base fee's update fraction in `block`.
fn blob_update_fraction(block: &BlockEnv) -> u64 {
    use revm::primitives::eip4844::{BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE};
    block.blob_base_fee_update_fraction.unwrap_or(if block.spec.is_enabled_in(SpecId::PRAGUE) {
        BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE
    } else {
        BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN
    })
}

/// revm's view of a transaction.
pub(crate) fn tx_env(tx: &Transaction, chain_id: u64) -> TxEnv {
    let (gas_price, gas_priority_fee) = match tx.fee {
        Fee::Legacy { gas_price } => (gas_price, None),
        Fee::Dynamic { max_fee_per_gas, max_priority_fee_per_gas } => (max_fee_per_gas, Some(max_priority_fee_per_gas)),
    };
    // Every field named: `..Default::default()` would build (and drop) a
    // whole default transaction through revm's builder each time.
    let mut env = TxEnv {
        tx_type: tx.tx_type().number(),
        caller: tx.from,
        kind: tx.to.map_or(TxKind::Create, TxKind::Call),
        value: tx.value,
        data: tx.input.clone(),
        gas_limit: tx.gas_limit,
        gas_price,
        gas_priority_fee,
        nonce: tx.nonce,
        chain_id: Some(chain_id),
        access_list: Default::default(),
        blob_hashes: Vec::new(),
        max_fee_per_blob_gas: 0,
        authorization_list: Vec::new(),
    };
    if let Some(envelope) = &tx.envelope {
        env.chain_id = envelope.chain_id;
        env.access_list = envelope.access_list.clone();
        env.blob_hashes = envelope.blob_hashes.clone();
        env.max_fee_per_blob_gas = envelope.max_fee_per_blob_gas;
        env.authorization_list = envelope.authorization_list.iter().cloned().map(Either::Left).collect();
    }
    env
}

/// A transaction that ran (or was rejected for an access violation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Executed {
    pub(crate) receipt: Receipt,
    /// Its credit to the beneficiary.
    pub(crate) fee: U256,
    /// The beneficiary's balance as it left it (its own fee not counted),
    /// where it changed it and its accesses were recorded.
    pub(crate) beneficiary: Option<U256>,
}

impl Executed {
    fn violation(key: StateKey, kind: AccessKind) -> Self {
        let receipt = Receipt {
            status: Status::AccessViolation { key, kind },
            gas_used: 0,
            logs: Vec::new(),
            output: Default::default(),
        };
        Self { receipt, fee: U256::ZERO, beneficiary: None }
    }
}

/// Runs `tx` (position `index`) on `evm`, whose database must already
/// enforce `tx`'s reads. `writable` names a key `tx` declared as written
/// the way the executor will commit it (`None`: not declared so), so that
/// each written key is looked up once. Nothing is committed: what it wrote
/// is left in `writes` (cleared first, and left empty for a violation), each
/// key as `writable` named it with its new value, for the caller to apply.
/// The caller keeps `writes` from one transaction to the next, so that it
/// is allocated once. With `access`, the transaction's state diff is shown
/// there too, unless it was rejected for a violation (a recorder records
/// it; a list's check checks it).
pub(crate) fn execute<DB, W>(
    evm: &mut Evm<DB>,
    tx: &Transaction,
    index: usize,
    block: &BlockEnv,
    writable: impl Fn(&StateKey) -> Option<W>,
    writes: &mut Vec<(W, Value)>,
    access: Option<&mut dyn StepObserver>,
) -> Result<Executed, VmError>
where
    DB: Database<Error = UndeclaredRead>,
{
    let env = tx_env(tx, block.chain_id);
    let price = env.effective_gas_price(block.basefee as u128);
    evm.ctx.set_tx(env);
    let mut handler =
        NoBeneficiaryCredit::<_, EVMError<UndeclaredRead, InvalidTransaction>, EthFrame<EthInterpreter>>::default();
    let result = handler.run(evm);
    // Always finalize, on errors too: it empties the journal for the next one.
    let mut state = evm.finalize();
    writes.clear();
    let mut result = collect(result, &state, index, block, price, writable, writes);
    if let (Some(access), Ok(executed)) = (access, &mut result)
        && executed.receipt.ran()
    {
        executed.beneficiary = access.observe(index as u32 + 1, &state);
    }
    // The emptied map goes back to the journal: the next transaction
    // reuses its allocation instead of growing a new one.
    state.clear();
    evm.ctx.journaled_state.inner.state = state;
    result
}

/// Turns revm's result and state diff into an [`Executed`] and its writes.
fn collect<W>(
    result: Result<ExecutionResult, EVMError<UndeclaredRead, InvalidTransaction>>,
    state: &EvmState,
    index: usize,
    block: &BlockEnv,
    price: u128,
    writable: impl Fn(&StateKey) -> Option<W>,
    writes: &mut Vec<(W, Value)>,
) -> Result<Executed, VmError> {
    let result = match result {
        Ok(result) => result,
        Err(EVMError::Database(UndeclaredRead(key))) => return Ok(Executed::violation(key, AccessKind::Read)),
        Err(EVMError::Transaction(e)) => return Err(VmError::InvalidTransaction { index, reason: e.to_string() }),
        Err(EVMError::Header(e)) => return Err(VmError::InvalidBlock(e.to_string())),
        Err(e) => return Err(VmError::Internal { index, message: e.to_string() }),
    };
    let mut undeclared = None::<StateKey>;
    writes_of(state, block.spec, |key, value| match writable(&key) {
        Some(at) => writes.push((at, value)),
        None => undeclared = Some(undeclared.map_or(key, |first| first.min(key))),
    });
    if let Some(key) = undeclared {
        writes.clear();
        return Ok(Executed::violation(key, AccessKind::Write));
    }
    let gas_used = result.tx_gas_used();
    let per_gas =
        if block.spec.is_enabled_in(SpecId::LONDON) { price.saturating_sub(block.basefee as u128) } else { price };
    let fee = U256::from(per_gas) * U256::from(gas_used);
    let (status, logs, output) = match result {
        ExecutionResult::Success { logs, output, .. } => {
            // revm's log list starts with room for four, and a receipt
            // outlives its transaction: keep exactly the logs. They are
            // moved to a new list, as a shrinking realloc may keep the block.
            let logs = if logs.len() < logs.capacity() { exact(logs) } else { logs };
            let output = match output {
                Output::Call(bytes) | Output::Create(bytes, _) => bytes,
            };
            (Status::Success, logs, output)
        }
        ExecutionResult::Revert { output, .. } => (Status::Revert, Vec::new(), output),
        ExecutionResult::Halt { reason, .. } => (Status::Halt(reason), Vec::new(), Default::default()),
    };
    Ok(Executed { receipt: Receipt { status, gas_used, logs, output }, fee, beneficiary: None })
}

/// `items` in a list of exactly their number.
fn exact<T>(items: Vec<T>) -> Vec<T> {
    let mut exact = Vec::with_capacity(items.len());
    exact.extend(items);
    exact
}

/// Hands `write` the keys a transaction wrote, with their new values, from
/// revm's state diff (which lists every key it loaded, read-only ones
/// included).
fn writes_of(state: &EvmState, spec: SpecId, mut write: impl FnMut(StateKey, Value)) {
    for (&address, account) in state {
        if !account.is_touched() {
            continue; // only read
        }
        let key = StateKey::Account(address);
        if account.is_selfdestructed() {
            write(key, Value::Account(None));
            continue;
        }
        // EIP-161: a touched account left empty is deleted (if it existed).
        let clears_empty = spec.is_enabled_in(SpecId::SPURIOUS_DRAGON);
        if clears_empty && account.is_empty() {
            if !account.is_loaded_as_not_existing() {
                write(key, Value::Account(None));
            }
            continue;
        }
        // A created account starts with no storage (revm reads none for it
        // from the database), and so it stays for later transactions.
        // Before EIP-161 touching an account that did not exist (a call to
        // it, with or without value) creates it, empty as it may be.
        if account.is_created() {
            write(key, Value::Created(AccountValue::from_info(&account.info)));
        } else if account.is_changed() || (!clears_empty && account.is_loaded_as_not_existing()) {
            write(key, Value::Account(Some(AccountValue::from_info(&account.info))));
        }
        for (slot, value) in account.changed_storage_slots() {
            write(StateKey::Storage(address, *slot), Value::Storage(value.present_value));
        }
    }
}

/// revm's mainnet handler minus the beneficiary's fee credit; everything on
/// the sender's side (gas purchase, refund) is unchanged.
struct NoBeneficiaryCredit<EVM, ERROR, FRAME> {
    _types: PhantomData<(EVM, ERROR, FRAME)>,
}

impl<EVM, ERROR, FRAME> Default for NoBeneficiaryCredit<EVM, ERROR, FRAME> {
    fn default() -> Self {
        Self { _types: PhantomData }
    }
}

impl<EVM, ERROR, FRAME> Handler for NoBeneficiaryCredit<EVM, ERROR, FRAME>
where
    EVM: EvmTr<Context: ContextTr<Journal: JournalTr<State = EvmState>>, Frame = FRAME>,
    ERROR: EvmTrError<EVM>,
    FRAME: FrameTr<FrameResult = FrameResult, FrameInit = FrameInit>,
{
    type Evm = EVM;
    type Error = ERROR;
    type HaltReason = HaltReason;

    fn reward_beneficiary(&self, _evm: &mut Self::Evm, _result: &mut FrameResult) -> Result<(), Self::Error> {
        Ok(())
    }
}
