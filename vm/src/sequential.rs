//! The sequential executor: the specification every parallel mode must match.

use crate::access::{BeneficiaryBalance, BlockAccess, LOGGED_STEPS, Recorder, StepObserver, after_last};
use crate::base::{Base, BaseState};
use crate::beneficiary;
use crate::block::BlockEnv;
use crate::error::{Result, UndeclaredRead, VmError};
use crate::exec::{build_evm, execute};
use crate::keep::Keep;
use crate::key::StateKey;
use crate::listed::{ListedAccess, RecordCheck};
use crate::parallel::{KEEP_BUFFERS_TXS, Sink, panic_message};
use crate::receipt::{BlockEffects, BlockOutcome, Receipt};
use crate::repair::{Declarations, Repairs};
use crate::state::{AccountValue, StateChanges, Value};
use crate::system;
use crate::tx::Transaction;
use crate::txs::Txs;
use alloy_primitives::{Address, B256, Bytes, U256};
use core::cell::{Cell, RefCell};
use defivm_scheduler::{AccessSet, Limits};
use hashbrown::HashMap;
use hashbrown::hash_map::Entry;
use revm::database_interface::{Database, DatabaseRef};
use revm::state::{AccountInfo, Bytecode};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs a block one transaction at a time, in block order, through one
/// reused revm EVM, committing after each.
///
/// The access rule is the same as in every parallel mode: a transaction that
/// reads a key it did not declare (or imply), or writes one it did not
/// declare as a write, gets an [`crate::Status::AccessViolation`] receipt and
/// is rejected whole: no nonce bump, no fee, no writes.
/// [`record`](Self::record) runs a block without that rule and reports what
/// each transaction really touched instead. Under
/// [`Declarations::Hints`] nothing is refused: every transaction runs as if
/// it declared nothing, and those that stray from their declaration are
/// counted ([`BlockOutcome::repairs`]).
///
/// After a block of more than [`KEEP_BUFFERS_TXS`] transactions, the calling
/// thread's KECCAK256 memo (up to 25 MiB) is freed: a thread that ran one
/// such block need not hold it through whatever comes next.
#[derive(Debug, Clone, Copy, Default)]
pub struct SequentialExecutor {
    limits: Limits,
    /// Whether a block's accesses are recorded ([`BlockOutcome::access`]).
    record_access: bool,
    /// What a declaration is.
    declarations: Declarations,
}

impl SequentialExecutor {
    /// An executor with the default [`Limits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The same, with a limit on declaration sizes.
    pub fn with_limits(limits: Limits) -> Self {
        Self { limits, ..Self::default() }
    }

    /// The same executor, recording what each block accessed (its EIP-7928
    /// block access list's content) in [`BlockOutcome::access`]; off by
    /// default, when the record is left empty. [`record`](Self::record)
    /// always records.
    pub fn with_access_record(mut self, record: bool) -> Self {
        self.record_access = record;
        self
    }

    /// The same executor, taking declarations as `declarations` says:
    /// [`Declarations::Strict`] by default.
    pub fn with_declarations(mut self, declarations: Declarations) -> Self {
        self.declarations = declarations;
        self
    }

    /// Executes `txs` on top of `state` (which is left untouched): the
    /// in-memory [`State`](crate::State) or any revm database
    /// ([`BaseState`]).
    pub fn execute(&self, state: &impl BaseState, block: &BlockEnv, txs: &[Transaction]) -> Result<BlockOutcome> {
        let base = Base::new(state);
        base.verdict(self.execute_on(&base, block, txs))
    }

    /// [`execute`](Self::execute) on a base the caller reads too, and
    /// judges ([`Base::verdict`]).
    pub(crate) fn execute_on(&self, base: &Base<'_>, block: &BlockEnv, txs: &[Transaction]) -> Result<BlockOutcome> {
        let mut receipts = Vec::with_capacity(txs.len());
        let BlockEffects { changes, fees, access, repairs } =
            self.streamed_on(base, block, txs.into(), |_, r| receipts.push(r))?;
        Ok(BlockOutcome { receipts, changes, fees, access, repairs })
    }

    /// [`execute`](Self::execute), handing each receipt to `receipt` with
    /// its transaction's position as soon as the transaction is done, in
    /// block order, instead of keeping them: a caller that checks or stores
    /// receipts one by one never holds a whole block's. If the block fails,
    /// the receipts handed over so far are of a block that did not happen.
    /// `receipt` runs on the calling thread: a panic in it unwinds to the
    /// caller. `txs` is a slice, or a [`TxStream`](crate::TxStream) whose
    /// segments are run as they come ([`Txs`]).
    pub fn execute_streamed<'t>(
        &self,
        state: &impl BaseState,
        block: &BlockEnv,
        txs: impl Into<Txs<'t>>,
        receipt: impl FnMut(usize, Receipt),
    ) -> Result<BlockEffects> {
        let base = Base::new(state);
        base.verdict(self.streamed_on(&base, block, txs.into(), receipt))
    }

    /// [`execute_streamed`](Self::execute_streamed) on a base the caller
    /// reads too, and judges ([`Base::verdict`]).
    pub(crate) fn streamed_on(
        &self,
        base: &Base<'_>,
        block: &BlockEnv,
        txs: Txs<'_>,
        receipt: impl FnMut(usize, Receipt),
    ) -> Result<BlockEffects> {
        self.kept_on(base, block, txs, Keep::whole_if(self.record_access), receipt)
    }

    /// [`streamed_on`](Self::streamed_on), the record going to `keep`.
    fn kept_on(
        &self,
        base: &Base<'_>,
        block: &BlockEnv,
        txs: Txs<'_>,
        keep: Keep<'_>,
        receipt: impl FnMut(usize, Receipt),
    ) -> Result<BlockEffects> {
        txs.check_declarations(&self.limits)?;
        run(base, block, txs, &self.limits, &Enforce::new(self.declarations), keep, receipt)
    }

    /// [`execute_streamed`](Self::execute_streamed), checking what the
    /// block accesses against `list`, its EIP-7928 access list, as it runs:
    /// the record is checked every 65,536 transactions and dropped, so a
    /// block of any length holds no more than that many transactions'
    /// record. A list that is not the block's fails it with
    /// [`VmError::AccessList`] for its first mismatch in block order: by
    /// step, account and field; then a key the list does not hold that a
    /// step only read (a record says where a key changed, not which step
    /// read it: [`ListMismatch::index`](crate::ListMismatch::index) is
    /// `None`); then an account or slot no step loaded. No record is kept
    /// ([`BlockEffects::access`] is empty), with or without
    /// [`with_access_record`](Self::with_access_record). Runs of one list
    /// take turns.
    pub fn execute_checked<'t>(
        &self,
        state: &impl BaseState,
        block: &BlockEnv,
        txs: impl Into<Txs<'t>>,
        list: &ListedAccess,
        receipt: impl FnMut(usize, Receipt),
    ) -> Result<BlockEffects> {
        let base = Base::new(state);
        let keep = Keep::Checked(RecordCheck::new(list, block.beneficiary));
        base.verdict(self.kept_on(&base, block, txs.into(), keep, receipt))
    }

    /// [`streamed_on`](Self::streamed_on), the record going to `keep`, for
    /// an executor that promised a panic fails the block: a panic in
    /// `receipt` fails it with [`VmError::Internal`] naming the transaction
    /// whose receipt was being handed over, and a panic elsewhere the last
    /// one handed over before.
    pub(crate) fn streamed_to_sink(
        &self,
        base: &Base<'_>,
        block: &BlockEnv,
        txs: Txs<'_>,
        keep: Keep<'_>,
        receipt: &Sink<'_>,
    ) -> Result<BlockEffects> {
        let delivering = AtomicUsize::new(0);
        let run = catch_unwind(AssertUnwindSafe(|| {
            self.kept_on(base, block, txs, keep, |index, r| {
                delivering.store(index, Ordering::Relaxed);
                receipt(index, r)
            })
        }));
        run.unwrap_or_else(|panic| {
            Err(VmError::Internal { index: delivering.into_inner(), message: panic_message(panic.as_ref()) })
        })
    }

    /// Runs the block with no declarations enforced and records, for each
    /// transaction, every key it really read and wrote: the declaration that
    /// lets it replay in every mode. A key written is listed as a write
    /// only (a write may be read); keys the transaction implies (its sender,
    /// its callee, a created contract; see [`Transaction::implied_access`])
    /// are left out where the implied access already covers them, and so
    /// are the declarations `txs` carry. No declaration limit applies. The
    /// outcome is what [`execute`](Self::execute) gives on the transactions
    /// with the recorded declarations, where they are within its
    /// [`Limits`] (else it refuses them, naming the first too large).
    pub fn record(
        &self,
        state: &impl BaseState,
        block: &BlockEnv,
        txs: &[Transaction],
    ) -> Result<(BlockOutcome, Vec<AccessSet<StateKey>>)> {
        let recorder = Record::default();
        let mut receipts = Vec::with_capacity(txs.len());
        let base = Base::new(state);
        let unlimited = Limits { max_keys_per_tx: usize::MAX };
        let BlockEffects { changes, fees, access, repairs } =
            base.verdict(run(&base, block, txs.into(), &unlimited, &recorder, Keep::Whole, |_, r| receipts.push(r)))?;
        let outcome = BlockOutcome { receipts, changes, fees, access, repairs };
        Ok((outcome, recorder.declarations.into_inner()))
    }
}

/// How the sequential loop treats what a transaction touches.
pub(crate) trait Policy {
    /// Called before transaction `tx` runs.
    fn start(&self, tx: &Transaction);
    /// Whether the running transaction may read `key` (recording it, if
    /// this policy records).
    fn may_read(&self, key: &StateKey) -> bool;
    /// Whether it may write `key`.
    fn may_write(&self, key: &StateKey) -> bool;
    /// Whether every earlier fee must be in the beneficiary's account
    /// before the running transaction: it may look at it.
    fn sees_beneficiary(&self, beneficiary: &StateKey) -> bool;
    /// Called after the running transaction's writes were committed.
    fn finish(&self, tx: &Transaction);
    /// How many transactions so far strayed from a declaration taken as a
    /// hint.
    fn strays(&self) -> usize {
        0
    }
}

/// The access rule: the running transaction's full declaration, declared
/// and implied keys with a tag of each ([`StateKey::tag`]), in buffers
/// reused for every transaction. Under [`Declarations::Hints`] the rule
/// refuses nothing and notes a transaction that strays instead
/// ([`Enforce::allows`]). A short declaration is kept as
/// [`Transaction::for_each_key`] walks it (a key's first mention is its
/// strongest) and scanned by tag; a long one is also indexed by tag, sorted
/// once, and searched.
#[derive(Debug, Default)]
pub(crate) struct Enforce {
    keys: RefCell<Vec<(StateKey, bool)>>,
    tags: RefCell<Vec<u32>>,
    /// For a long declaration: `(tag, position in keys)`, sorted.
    index: RefCell<Vec<(u32, u32)>>,
    /// The accounts the transaction implies it writes (its sender, and its
    /// callee when value moves or the contract it creates): the keys it
    /// touches most, answered without a search.
    written: Cell<[Option<Address>; 2]>,
    /// Whether declarations are hints.
    hints: bool,
    /// Whether the running transaction strayed (under hints).
    strayed: Cell<bool>,
    /// How many transactions strayed so far.
    strays: Cell<usize>,
}

/// Declarations up to this long are scanned.
const SCAN: usize = 16;

impl Enforce {
    /// The rule for declarations taken as `declarations` says.
    pub(crate) fn new(declarations: Declarations) -> Self {
        Self { hints: declarations == Declarations::Hints, ..Self::default() }
    }

    /// Whether the running transaction may touch `key` (write it, with
    /// `write`). Under hints always, and a key outside the declaration
    /// marks the transaction as a stray.
    pub(crate) fn allows(&self, key: &StateKey, write: bool) -> bool {
        if self.find(key).is_some_and(|written| written || !write) {
            return true;
        }
        if self.hints {
            self.strayed.set(true);
        }
        self.hints
    }

    /// Whether the running transaction strayed from its declaration.
    pub(crate) fn strayed(&self) -> bool {
        self.strayed.get()
    }

    /// Whether the running transaction sees the beneficiary's account, so
    /// that every earlier fee must be in it first: it declares it, or it
    /// may touch anything.
    pub(crate) fn sees(&self, beneficiary: &StateKey) -> bool {
        self.hints || self.find(beneficiary).is_some()
    }

    /// `None` if `key` is not declared, else whether it may be written.
    pub(crate) fn find(&self, key: &StateKey) -> Option<bool> {
        if let StateKey::Account(address) = key
            && self.written.get().contains(&Some(*address))
        {
            return Some(true);
        }
        let (keys, tags) = (self.keys.borrow(), self.tags.borrow());
        let tag = key.tag();
        if keys.len() <= SCAN {
            return tags.iter().zip(keys.iter()).find(|(t, k)| **t == tag && k.0 == *key).map(|(_, k)| k.1);
        }
        let index = self.index.borrow();
        let from = index.partition_point(|&(t, _)| t < tag);
        let mut found = None;
        for &(_, at) in index[from..].iter().take_while(|&&(t, _)| t == tag) {
            let (k, written) = keys[at as usize];
            if k == *key {
                found = Some(found.unwrap_or(false) | written);
            }
        }
        found
    }
}

impl Policy for Enforce {
    fn start(&self, tx: &Transaction) {
        self.declare(tx);
    }

    fn may_read(&self, key: &StateKey) -> bool {
        self.allows(key, false)
    }

    fn may_write(&self, key: &StateKey) -> bool {
        self.allows(key, true)
    }

    fn sees_beneficiary(&self, beneficiary: &StateKey) -> bool {
        self.sees(beneficiary)
    }

    fn finish(&self, _tx: &Transaction) {
        self.strays.set(self.strays.get() + usize::from(self.strayed()));
    }

    fn strays(&self) -> usize {
        self.strays.get()
    }
}

impl Enforce {
    /// Takes `tx`'s declaration, declared and implied keys, in place of the
    /// last one's.
    pub(crate) fn declare(&self, tx: &Transaction) {
        self.strayed.set(false);
        let callee = match tx.to {
            Some(to) => Some(to).filter(|_| !tx.value.is_zero()),
            None => tx.created_address(),
        };
        self.written.set([Some(tx.from), callee]);
        let (mut keys, mut tags) = (self.keys.borrow_mut(), self.tags.borrow_mut());
        keys.clear();
        tags.clear();
        tx.for_each_key(|key, written| {
            keys.push((key, written));
            tags.push(key.tag());
        });
        if keys.len() > SCAN {
            let mut index = self.index.borrow_mut();
            index.clear();
            index.extend(tags.iter().zip(0u32..).map(|(&tag, at)| (tag, at)));
            index.sort_unstable();
        }
    }
}

/// No rule: every key is allowed and recorded.
#[derive(Debug, Default)]
struct Record {
    /// The running transaction's reads and writes, in the order made.
    reads: RefCell<Vec<StateKey>>,
    writes: RefCell<Vec<StateKey>>,
    declarations: RefCell<Vec<AccessSet<StateKey>>>,
}

impl Policy for Record {
    fn start(&self, _tx: &Transaction) {
        self.reads.borrow_mut().clear();
        self.writes.borrow_mut().clear();
    }

    fn may_read(&self, key: &StateKey) -> bool {
        self.reads.borrow_mut().push(*key);
        true
    }

    fn may_write(&self, key: &StateKey) -> bool {
        self.writes.borrow_mut().push(*key);
        true
    }

    // Any transaction may look: every fee is folded before each one.
    fn sees_beneficiary(&self, _beneficiary: &StateKey) -> bool {
        true
    }

    fn finish(&self, tx: &Transaction) {
        let writes = core::mem::take(&mut *self.writes.borrow_mut());
        let reads = core::mem::take(&mut *self.reads.borrow_mut());
        self.declarations.borrow_mut().push(declaration(tx, reads, writes));
    }
}

/// The declaration of `tx`, which loaded `reads` and wrote `writes` (each
/// in any order, with repeats): a key written is a write only, and keys
/// the transaction implies are left out where its implied access covers
/// them.
pub(crate) fn declaration(
    tx: &Transaction,
    mut reads: Vec<StateKey>,
    mut writes: Vec<StateKey>,
) -> AccessSet<StateKey> {
    let implied = tx.implied_access();
    writes.sort_unstable();
    writes.dedup();
    reads.sort_unstable();
    reads.dedup();
    reads.retain(|k| writes.binary_search(k).is_err() && !implied.declares(k));
    writes.retain(|k| !implied.writes_key(k));
    AccessSet::new(reads, writes)
}

/// The block, one transaction at a time under `policy`, declarations
/// checked against `limits` as a stream's segments arrive.
fn run(
    base: &Base<'_>,
    block: &BlockEnv,
    mut txs: Txs<'_>,
    limits: &Limits,
    policy: &impl Policy,
    mut keep: Keep<'_>,
    mut receipt: impl FnMut(usize, Receipt),
) -> Result<BlockEffects> {
    // Room for what the block may write: its senders, its callees and the
    // keys it declares as written (bounded: a declaration may overstate),
    // and the system calls' few slots. A stream's declarations are not at
    // hand: two a transaction.
    let writes: usize = match txs.whole() {
        Some(whole) => whole.iter().map(|tx| tx.access.writes().len() + 2).sum(),
        None => txs.len().saturating_mul(2),
    };
    let changes = StateChanges::with_capacity(writes.min(1 << 20) + 4);
    let overlay = RefCell::new(Overlay::new(base, changes));
    crate::keccak_memo::forget();
    // One EVM for the block: first the system calls, which no declaration
    // governs, then the transactions.
    let mut evm = build_evm(View { overlay: &overlay, policy, system: true }, block);
    let mut logged = keep.records().then(|| Logged::new(base, block));
    for (what, address, data) in system::calls(block) {
        let info = overlay.borrow().info(address);
        if info.and_then(|info| info.code).is_some_and(|code| !code.is_empty()) {
            let data = Bytes::copy_from_slice(data.as_slice());
            let commit = |key, value| overlay.borrow_mut().commit(key, value);
            system::call_on(&mut evm, what, address, data, logged.as_mut().map(|l| (&mut l.steps, 0)), commit)?;
        }
    }
    evm.ctx.journaled_state.database.system = false;
    let beneficiary = StateKey::Account(block.beneficiary);
    let (mut pending, mut fees, mut any_ran) = (U256::ZERO, U256::ZERO, false);
    let mut writes = Vec::new();
    let len = txs.len();
    let mut one = |index: usize, tx: &Transaction| -> Result<()> {
        policy.start(tx);
        if !pending.is_zero() && policy.sees_beneficiary(&beneficiary) {
            overlay.borrow_mut().credit(block.beneficiary, pending);
            pending = U256::ZERO;
        }
        let writable = |key: &StateKey| policy.may_write(key).then_some(*key);
        if let Some(logged) = logged.as_mut().filter(|_| index > 0 && index.is_multiple_of(LOGGED_STEPS)) {
            // The steps through transaction `index - 1`, block access index
            // `index`.
            logged.flush(block.beneficiary);
            keep.piece(&mut logged.record, index as u32)?;
        }
        let observer = logged.as_mut().map(|l| &mut l.steps as &mut dyn StepObserver);
        let executed = execute(&mut evm, tx, index, block, writable, &mut writes, observer)?;
        let ran = executed.receipt.ran();
        if let Some(logged) = logged.as_mut() {
            logged.beneficiary.add(index as u32 + 1, executed.beneficiary, executed.fee, ran);
        }
        any_ran |= ran;
        pending += executed.fee;
        fees += executed.fee;
        let mut overlay = overlay.borrow_mut();
        for (key, value) in writes.drain(..) {
            overlay.commit(key, value);
        }
        drop(overlay);
        policy.finish(tx);
        // A failed read of the base fails the block: no need to go on.
        base.check()?;
        receipt(index, executed.receipt);
        Ok(())
    };
    // A whole block in one piece; a stream's as its segments come.
    let ran: Result<()> = (|| {
        while let Some((offset, segment)) = txs.next(usize::MAX, limits)? {
            for (index, tx) in (offset..).zip(segment) {
                one(index, tx)?;
            }
        }
        Ok(())
    })();
    drop(evm);
    if len > KEEP_BUFFERS_TXS {
        // Whether the block ran or failed: else the memo stays until the
        // thread ends.
        crate::keccak_memo::release();
    }
    ran?;
    let mut changes = overlay.into_inner().changes;
    beneficiary::settle(&mut changes, base, block, pending, any_ran);
    let after = after_last(len);
    let access = match logged {
        Some(mut logged) => {
            logged.flush(block.beneficiary);
            system::post_execution(&mut changes, base, block, Some((&mut logged.record, after)))?;
            keep.finish(logged.record, after)?
        }
        None => {
            system::post_execution(&mut changes, base, block, None)?;
            BlockAccess::default()
        }
    };
    let repairs = Repairs { strays: policy.strays(), reexecuted: 0 };
    Ok(BlockEffects { changes, fees, access, repairs })
}

/// A recording run's log of its steps, the piece of the block's record it
/// is added to every `LOGGED_STEPS` transactions, and the beneficiary's
/// balance, which the log leaves out.
struct Logged {
    steps: Recorder,
    record: BlockAccess,
    beneficiary: BeneficiaryBalance,
}

impl Logged {
    fn new(base: &Base<'_>, block: &BlockEnv) -> Self {
        let beneficiary = BeneficiaryBalance::new(beneficiary::balance(base, block));
        Self { steps: Recorder::new(1, block.beneficiary), record: BlockAccess::in_parts(1), beneficiary }
    }

    /// Adds the log, and the beneficiary's balance changes since the last
    /// piece (at `beneficiary`), to the record, and empties the log.
    fn flush(&mut self, beneficiary: Address) {
        self.steps.flush_into(&mut self.record);
        self.beneficiary.drain_into(beneficiary, &mut self.record);
    }
}

/// The state as of the last committed transaction.
#[derive(Debug)]
pub(crate) struct Overlay<'a> {
    base: &'a Base<'a>,
    changes: StateChanges,
    /// Whether a committed write cleared an account's storage: until one
    /// does, a slot the block did not write is read from the base alone.
    cleared: bool,
    /// The slots the block wrote, by address, once an account's storage
    /// was cleared ([`Overlay::clear_slots`]).
    slots: Option<HashMap<Address, Vec<U256>>>,
}

impl<'a> Overlay<'a> {
    /// No change yet over `base`, with room for `changes` changes.
    pub(crate) fn new(base: &'a Base<'a>, changes: StateChanges) -> Self {
        Self { base, changes, cleared: false, slots: None }
    }

    /// The state `changes` (what a block wrote so far) leave over `base`.
    pub(crate) fn resume(base: &'a Base<'a>, changes: StateChanges) -> Self {
        let cleared = changes.values().any(Value::clears_storage);
        Self { base, changes, cleared, slots: None }
    }

    /// The block's changes.
    pub(crate) fn into_changes(self) -> StateChanges {
        self.changes
    }

    /// Adds `fees` (not zero) to the balance of the account at `address`,
    /// as [`beneficiary::credit`] and [`Overlay::commit`] would, in place
    /// (a block's transactions may credit their beneficiary again and
    /// again).
    pub(crate) fn credit(&mut self, address: Address, fees: U256) {
        crate::state::credit(&mut self.changes, self.base, address, fees);
    }

    /// The account at `address` as revm takes it, made from the value in
    /// place (the read path of every transaction).
    fn info(&self, address: Address) -> Option<AccountInfo> {
        match self.changes.get(&StateKey::Account(address)) {
            Some(value) => value.account().map(AccountValue::info),
            None => self.base.info(address),
        }
    }

    /// `key`'s value ([`Value::after`]).
    pub(crate) fn value(&self, key: &StateKey) -> Value {
        Value::after(&self.changes, self.base, key).0
    }

    /// A slot's value ([`Value::after`], with the account looked at only
    /// once the block has cleared some storage).
    fn slot(&self, address: Address, slot: U256) -> U256 {
        match self.changes.get(&StateKey::Storage(address, slot)) {
            Some(Value::Storage(value)) => *value,
            Some(_) => U256::ZERO,
            None if self.cleared => match Value::after(&self.changes, self.base, &StateKey::Storage(address, slot)).0 {
                Value::Storage(value) => value,
                _ => U256::ZERO,
            },
            None => self.base.storage(address, slot),
        }
    }

    /// Writes a committed transaction's new value of `key`. A write that
    /// clears an account's storage sets every slot of it the block wrote
    /// before to zero; slots it did not write read as zero from then on
    /// ([`Value::after`]).
    pub(crate) fn commit(&mut self, key: StateKey, value: Value) {
        if let StateKey::Account(address) = key
            && value.clears_storage()
        {
            self.clear_slots(address);
        }
        let Self { changes, slots, .. } = self;
        match changes.entry(key) {
            Entry::Occupied(mut earlier) => {
                let value = Value::overwrite(Some(earlier.get()), value);
                earlier.insert(value);
            }
            Entry::Vacant(new) => {
                if let (StateKey::Storage(address, slot), Some(slots)) = (key, slots) {
                    slots.entry(address).or_default().push(slot);
                }
                new.insert(value);
            }
        }
    }

    /// Sets every slot of `address` the block wrote to zero. The slots by
    /// address are indexed at the first clearing and kept up to date after
    /// it, so a block of many clearings (a contract's children destroyed
    /// one by one, empty accounts created before EIP-161) costs one pass.
    fn clear_slots(&mut self, address: Address) {
        self.cleared = true;
        let changes = &mut self.changes;
        let slots = self.slots.get_or_insert_with(|| {
            let mut slots: HashMap<Address, Vec<U256>> = HashMap::new();
            for key in changes.keys() {
                if let StateKey::Storage(a, slot) = key {
                    slots.entry(*a).or_default().push(*slot);
                }
            }
            slots
        });
        for &slot in slots.get(&address).into_iter().flatten() {
            changes.insert(StateKey::Storage(address, slot), Value::Storage(U256::ZERO));
        }
    }
}

/// What one transaction sees: the overlay, through the policy.
#[derive(Debug)]
pub(crate) struct View<'o, 'a, P> {
    pub(crate) overlay: &'o RefCell<Overlay<'a>>,
    pub(crate) policy: &'o P,
    /// While the block's system calls run: no policy applies.
    pub(crate) system: bool,
}

impl<P: Policy> View<'_, '_, P> {
    fn check(&self, key: StateKey) -> Result<(), UndeclaredRead> {
        if self.system || self.policy.may_read(&key) { Ok(()) } else { Err(UndeclaredRead(key)) }
    }
}

impl<P: Policy> Database for View<'_, '_, P> {
    type Error = UndeclaredRead;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        self.check(StateKey::Account(address))?;
        Ok(self.overlay.borrow().info(address))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        let base = self.overlay.borrow().base;
        Ok(base.code_by_hash_ref(code_hash).unwrap_or_else(|never| match never {}))
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, Self::Error> {
        self.check(StateKey::Storage(address, index))?;
        Ok(self.overlay.borrow().slot(address, index))
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        let base = self.overlay.borrow().base;
        Ok(base.block_hash_ref(number).unwrap_or_else(|never| match never {}))
    }
}
