//! What a block touched: every account and storage slot its steps loaded,
//! with the value each step left where it changed one. This is the content
//! of an EIP-7928 block access list in defivm's terms; `defivm-ethereum`
//! orders and encodes it.
//!
//! Steps are numbered by *block access index*: 0 for the system calls
//! before the first transaction, `i + 1` for transaction `i`, `n + 1` for
//! what follows the last of `n` transactions (rewards, withdrawals, the
//! request system calls).
//!
//! Rules kept here, the same for every executor and mode:
//! - A step records the accounts and slots revm loaded for it, whether it
//!   changed them or not, and for each changed field (balance, nonce, code,
//!   a slot) its value at the end of the step; a field left as the step
//!   found it records nothing, however often it moved in between.
//! - An account destroyed in the step ends it empty, its loaded slots zero.
//! - The beneficiary's fee is part of the transaction that pays it: the
//!   beneficiary is accessed by every transaction that ran, and its balance
//!   after a transaction includes that transaction's fee
//!   ([`BeneficiaryBalance`]).
//! - A transaction rejected for an access violation records nothing.
//! - The system address, the caller of the system calls, is not recorded.
//!
//! How it is kept: each thread appends what the steps it runs loaded and
//! changed to a [`Recorder`] of its own, in parts by address, whatever the
//! steps' order, with no lookup; at the end of a segment of the block part
//! `p` of every recorder is put together, each field's changes in index
//! order, and added to part `p` of the block's record, the parts on several
//! threads at once. The recorders are then emptied, so a block's log holds
//! one segment's steps, never the whole block's (a million transactions log
//! about a gigabyte): what the block keeps is its record, one entry per
//! account, slot and change. The beneficiary's balance changes join the
//! record at the same time, so each segment adds every entry of its steps:
//! a run that checks the block against its list checks that piece and
//! empties the record (`keep.rs`), holding one segment's record, never the
//! block's.

use alloy_primitives::{Address, Bytes, U256};
use hashbrown::HashMap;
use hashbrown::hash_map::Entry;
use revm::handler::SYSTEM_ADDRESS;
use revm::primitives::KECCAK_EMPTY;
use revm::state::EvmState;

/// How many transactions the sequential executor logs before it adds the
/// log to the block's record ([`Recorder::flush_into`]): a log takes about
/// a kilobyte a transaction, the record a fraction of that.
pub(crate) const LOGGED_STEPS: usize = 1 << 16;

/// Every account a block accessed, with what each step changed.
#[derive(Debug, Clone, Default)]
pub struct BlockAccess {
    /// Accounts by [`part`].
    parts: Vec<HashMap<Address, AccountAccess>>,
}

/// One account's accesses in a block: each field's changes as
/// `(block access index, value after that step)`, in index order, and every
/// slot accessed (a slot with no changes was only read, or written back to
/// the value the step found).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountAccess {
    /// Balance changes.
    pub balance: Vec<(u32, U256)>,
    /// Nonce changes.
    pub nonce: Vec<(u32, u64)>,
    /// Code changes: the runtime code after the step.
    pub code: Vec<(u32, Bytes)>,
    /// Every slot accessed, with its changes.
    pub storage: HashMap<U256, Vec<(u32, U256)>>,
}

/// The block access index of what follows the last of a block's `txs`
/// transactions.
pub(crate) fn after_last(txs: usize) -> u32 {
    u32::try_from(txs).map_or(u32::MAX, |n| n.saturating_add(1))
}

/// Which of `parts` parts holds the account at `address` (addresses are
/// hashes: their last byte is as good as any).
fn part(address: &Address, parts: usize) -> usize {
    usize::from(address.0[19]) % parts
}

impl PartialEq for BlockAccess {
    /// The same accounts with the same accesses, however they are split.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.accounts().all(|(address, a)| other.account(address) == Some(a))
    }
}

impl Eq for BlockAccess {}

impl BlockAccess {
    /// The accounts accessed, in no particular order.
    pub fn accounts(&self) -> impl Iterator<Item = (&Address, &AccountAccess)> {
        self.parts.iter().flatten()
    }

    /// The accesses of the account at `address`, if the block had any.
    pub fn account(&self, address: &Address) -> Option<&AccountAccess> {
        self.parts.get(part(address, self.parts.len().max(1)))?.get(address)
    }

    /// The accounts accessed, taken out, in no particular order.
    pub fn into_accounts(self) -> impl Iterator<Item = (Address, AccountAccess)> {
        self.parts.into_iter().flatten()
    }

    /// A block's accesses made of each account's (an account given twice
    /// keeps both's changes).
    pub fn from_accounts(accounts: impl IntoIterator<Item = (Address, AccountAccess)>) -> Self {
        let mut access = Self::default();
        for (address, account) in accounts {
            access.entry(address).absorb(account);
        }
        access
    }

    /// How many accounts the block accessed.
    pub fn len(&self) -> usize {
        self.parts.iter().map(HashMap::len).sum()
    }

    /// Whether the block accessed no account at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The account at `address`, added if new.
    fn entry(&mut self, address: Address) -> &mut AccountAccess {
        if self.parts.is_empty() {
            self.parts.push(HashMap::new());
        }
        let parts = self.parts.len();
        self.parts[part(&address, parts)].entry(address).or_default()
    }

    /// Records that step `index` moved the balance of the account at
    /// `address` from `before` (what the step found) to `after`: a reward
    /// or a withdrawal after the transactions, credited in place.
    pub(crate) fn balance(&mut self, index: u32, address: Address, before: U256, after: U256) {
        let account = self.entry(address);
        // An earlier record of the same step: `before` is what that record
        // said, so the change is the record's replacement.
        if before != after || account.balance.last().is_some_and(|(at, _)| *at == index) {
            set(&mut account.balance, index, after);
        }
    }

    /// Takes in what `recorder` recorded (a few system calls).
    pub(crate) fn absorb(&mut self, recorder: Recorder) {
        for (address, account) in recorder.into_access().into_accounts() {
            self.entry(address).absorb(account);
        }
    }

    /// An empty record in `parts` parts (at least one), for [`add_to_part`]
    /// to fill part by part.
    ///
    /// [`add_to_part`]: Self::add_to_part
    pub(crate) fn in_parts(parts: usize) -> Self {
        Self { parts: (0..parts.max(1)).map(|_| HashMap::new()).collect() }
    }

    /// The same record with no account, in as many parts, its room given
    /// back (the next piece's parts are built afresh).
    pub(crate) fn clear(&mut self) {
        self.parts.iter_mut().for_each(|part| *part = HashMap::new());
    }

    /// The record's parts, taken out to be added to on several threads at
    /// once ([`add_to_part`](Self::add_to_part)) and given back
    /// ([`from_parts`](Self::from_parts)).
    pub(crate) fn into_parts(self) -> Vec<HashMap<Address, AccountAccess>> {
        self.parts
    }

    /// Adds part `p` of what `recorders` logged (all in as many parts as
    /// the record) to `part`, part `p` of a record whose steps all came
    /// before the logged ones.
    pub(crate) fn add_to_part(part: &mut HashMap<Address, AccountAccess>, recorders: &[&Recorder], p: usize) {
        let built = Self::build(recorders, p);
        if part.is_empty() {
            *part = built;
            return;
        }
        for (address, account) in built {
            match part.entry(address) {
                Entry::Vacant(vacant) => {
                    vacant.insert(account);
                }
                Entry::Occupied(occupied) => occupied.into_mut().absorb(account),
            }
        }
    }
}

impl AccountAccess {
    /// Puts each field's changes in index order, one per index (of two at
    /// one index, the later given kept), their spare room given back.
    pub(crate) fn put_in_order(&mut self) {
        in_order(&mut self.balance);
        in_order(&mut self.nonce);
        in_order(&mut self.code);
        self.storage.values_mut().for_each(in_order);
    }

    /// Takes in `other`'s accesses of the same account (from other steps),
    /// each field's changes put in index order, one per index.
    pub(crate) fn absorb(&mut self, other: AccountAccess) {
        append(&mut self.balance, other.balance);
        append(&mut self.nonce, other.nonce);
        append(&mut self.code, other.code);
        for (slot, changes) in other.storage {
            append(self.storage.entry(slot).or_default(), changes);
        }
    }
}

/// Adds `changes` to a field's `into` with [`set`]; where `into` has none
/// and `changes` are in index order, one per index (as a record's parts
/// are built), they are moved in whole.
fn append<T>(into: &mut Vec<(u32, T)>, changes: Vec<(u32, T)>) {
    if into.is_empty() && changes.is_sorted_by(|a, b| a.0 < b.0) {
        *into = changes;
        return;
    }
    for (at, value) in changes {
        set(into, at, value);
    }
}

/// Sets the value of a field at step `index`, keeping the changes in index
/// order: a new change, or the one of the same step replaced (two system
/// calls at index 0, a withdrawal after the block reward). Steps mostly
/// come in order, so the place is searched from the end.
fn set<T>(changes: &mut Vec<(u32, T)>, index: u32, value: T) {
    let at = changes.iter().rposition(|(i, _)| *i <= index);
    match at {
        Some(at) if changes[at].0 == index => changes[at].1 = value,
        Some(at) => changes.insert(at + 1, (index, value)),
        None => changes.insert(0, (index, value)),
    }
}

/// What one step did to one account it loaded, as a block access list
/// records it: each field it changed, with its value at the end of the step
/// (a field left as the step found it is `None`, however often it moved in
/// between), and every slot it loaded.
pub(crate) struct Step<'a> {
    /// The new balance.
    pub(crate) balance: Option<U256>,
    /// The new nonce.
    pub(crate) nonce: Option<u64>,
    account: &'a revm::state::Account,
    /// Destroyed in the step: it ends empty, its loaded slots zero.
    destroyed: bool,
    code_changed: bool,
}

impl Step<'_> {
    /// The new runtime code, if the step changed it.
    pub(crate) fn code(&self) -> Option<Bytes> {
        let code = if self.destroyed { None } else { self.account.info.code.as_ref() };
        self.code_changed.then(|| code.map(|code| code.original_bytes()).unwrap_or_default())
    }

    /// Every slot the step loaded, with its new value if it changed it.
    pub(crate) fn slots(&self) -> impl Iterator<Item = (U256, Option<U256>)> + '_ {
        self.account.storage.iter().map(|(slot, value)| {
            let present = if self.destroyed { U256::ZERO } else { value.present_value };
            (*slot, (present != value.original_value).then_some(present))
        })
    }
}

/// Every account a step whose state diff is `state` loaded, with what it did
/// to it ([`Step`]); for a system call (`system`), the system address that
/// made it is left out. The one rule of what a step changed, for the
/// recorders and for checking a list.
pub(crate) fn steps(state: &EvmState, system: bool) -> impl Iterator<Item = (&Address, Step<'_>)> {
    state.iter().filter(move |(address, _)| !(system && **address == SYSTEM_ADDRESS)).map(|(address, account)| {
        let destroyed = account.is_selfdestructed_locally();
        let mut step = Step { balance: None, nonce: None, account, destroyed, code_changed: false };
        // An account whose fields did not move is left at that, without a
        // copy of what it was: a copy clones its code, a counter every
        // thread would bump (a hot contract's, in every transaction).
        if destroyed || account.is_changed() {
            let before = account.original_info();
            let info = &account.info;
            let (balance, nonce, code_hash) =
                if destroyed { (U256::ZERO, 0, KECCAK_EMPTY) } else { (info.balance, info.nonce, info.code_hash) };
            step.balance = (before.balance != balance).then_some(balance);
            step.nonce = (before.nonce != nonce).then_some(nonce);
            step.code_changed = before.code_hash != code_hash;
        }
        (address, step)
    })
}

/// What is shown each transaction's state diff as it runs.
pub(crate) trait StepObserver {
    /// Transaction step `index` (its block access index) left `state`;
    /// returns the balance it left the beneficiary with, if it changed it
    /// (its fee not included).
    fn observe(&mut self, index: u32, state: &EvmState) -> Option<U256>;
}

impl StepObserver for Recorder {
    fn observe(&mut self, index: u32, state: &EvmState) -> Option<U256> {
        self.record(index, state, false)
    }
}

/// One thread's record of the steps it ran: what each step loaded and
/// changed, appended as the step ends, into `parts` parts by address. No
/// lookup is made while steps run; [`BlockAccess::build`] puts part `p` of
/// every thread's record together, one part per thread at once. A record
/// is cleared, not freed, between blocks ([`reset`](Self::reset)). The
/// beneficiary's balance is left out: the fees set it
/// ([`BeneficiaryBalance`]).
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    parts: Vec<Logged>,
    beneficiary: Address,
    /// Whether steps may be forgotten ([`forget`](Self::forget)): then each
    /// step's loaded accounts are logged, even where the step before
    /// loaded the same.
    forgettable: bool,
}

/// Part of a [`Recorder`]'s record, in the order its steps ended. Within
/// one record a step's changes follow every earlier step's of the same
/// record, so that of two changes to a field at one index (two system
/// calls at index 0) the later one is kept.
#[derive(Debug, Clone, Default)]
struct Logged {
    /// Accounts loaded and left unchanged by a step, with the step's index
    /// (one entry for a run of steps that load the same account, unless
    /// steps may be forgotten).
    loaded: Vec<(Address, u32)>,
    /// Each field change: the account, the step's index, the new value.
    fields: Vec<(Address, u32, FieldChange)>,
    /// Each slot loaded: the account, the slot, the step's index and the
    /// new value if the step changed it.
    slots: Vec<(Address, U256, u32, Option<U256>)>,
}

/// A change to one of an account's fields.
#[derive(Debug, Clone)]
enum FieldChange {
    Balance(U256),
    Nonce(u64),
    Code(Bytes),
}

impl Logged {
    fn clear(&mut self) {
        self.loaded.clear();
        self.fields.clear();
        self.slots.clear();
    }
}

impl Recorder {
    /// An empty record in `parts` parts (at least one) of a block whose
    /// beneficiary is `beneficiary`.
    pub(crate) fn new(parts: usize, beneficiary: Address) -> Self {
        Self { parts: vec![Logged::default(); parts.max(1)], beneficiary, forgettable: false }
    }

    /// The same record, whose steps can be forgotten when `forgettable`
    /// ([`forget`](Self::forget)).
    pub(crate) fn set_forgettable(&mut self, forgettable: bool) {
        self.forgettable = forgettable;
    }

    /// Drops every entry of the steps `indices` (sorted): steps that ran
    /// again, whose record is made anew. The record must be forgettable.
    pub(crate) fn forget(&mut self, indices: &[u32]) {
        debug_assert!(self.forgettable, "a run of steps' loaded accounts is logged once");
        let kept = |index: &u32| indices.binary_search(index).is_err();
        for log in &mut self.parts {
            log.loaded.retain(|(_, index)| kept(index));
            log.fields.retain(|(_, index, _)| kept(index));
            log.slots.retain(|(_, _, index, _)| kept(index));
        }
    }

    /// The same record emptied for another block, in `parts` parts, its
    /// room kept.
    pub(crate) fn reset(&mut self, parts: usize, beneficiary: Address) {
        self.parts.iter_mut().for_each(Logged::clear);
        self.parts.resize_with(parts.max(1), Logged::default);
        self.beneficiary = beneficiary;
    }

    /// Records step `index`, whose state diff is `state`, and returns the
    /// balance it left the beneficiary with, if it changed it (a fee not
    /// included). For a system call (`system`), the system address that
    /// made it is left out.
    pub(crate) fn record(&mut self, index: u32, state: &EvmState, system: bool) -> Option<U256> {
        let parts = self.parts.len();
        let mut beneficiary = None;
        for (address, step) in steps(state, system) {
            let log = &mut self.parts[part(address, parts)];
            let mut changed = false;
            if let Some(balance) = step.balance {
                if *address == self.beneficiary {
                    beneficiary = Some(balance);
                } else {
                    log.fields.push((*address, index, FieldChange::Balance(balance)));
                    changed = true;
                }
            }
            if let Some(nonce) = step.nonce {
                log.fields.push((*address, index, FieldChange::Nonce(nonce)));
                changed = true;
            }
            if let Some(code) = step.code() {
                log.fields.push((*address, index, FieldChange::Code(code)));
                changed = true;
            }
            let logged = !self.forgettable && log.loaded.last().is_some_and(|(a, _)| a == address);
            if !changed && !logged {
                log.loaded.push((*address, index));
            }
            log.slots.extend(step.slots().map(|(slot, value)| (*address, slot, index, value)));
        }
        beneficiary
    }

    /// The whole record, as a block's.
    pub(crate) fn into_access(mut self) -> BlockAccess {
        let mut access = BlockAccess::in_parts(self.parts.len());
        self.flush_into(&mut access);
        access
    }

    /// Adds what the record logged to `access`, a record in as many parts
    /// whose steps all came before the logged ones, and empties the log,
    /// its room kept.
    pub(crate) fn flush_into(&mut self, access: &mut BlockAccess) {
        debug_assert_eq!(access.parts.len(), self.parts.len(), "records split alike");
        for (p, part) in access.parts.iter_mut().enumerate() {
            BlockAccess::add_to_part(part, &[&*self], p);
        }
        self.clear();
    }

    /// The same record emptied, its room kept.
    pub(crate) fn clear(&mut self) {
        self.parts.iter_mut().for_each(Logged::clear);
    }

    /// How many parts the record is in.
    pub(crate) fn parts(&self) -> usize {
        self.parts.len()
    }
}

impl BlockAccess {
    /// Part `p` of the block's record out of part `p` of each of
    /// `recorders` (all in as many parts), each field's changes in index
    /// order.
    fn build(recorders: &[&Recorder], p: usize) -> HashMap<Address, AccountAccess> {
        let logs = || recorders.iter().filter_map(|r| r.parts.get(p));
        let mut accounts: HashMap<Address, AccountAccess> = HashMap::new();
        for log in logs() {
            for (address, _) in &log.loaded {
                accounts.entry(*address).or_default();
            }
            for (address, index, change) in &log.fields {
                let account = accounts.entry(*address).or_default();
                match change {
                    FieldChange::Balance(balance) => account.balance.push((*index, *balance)),
                    FieldChange::Nonce(nonce) => account.nonce.push((*index, *nonce)),
                    FieldChange::Code(code) => account.code.push((*index, code.clone())),
                }
            }
            // A step's slots of one account come together: one lookup of
            // the account for them all.
            for run in log.slots.chunk_by(|a, b| a.0 == b.0) {
                let storage = &mut accounts.entry(run[0].0).or_default().storage;
                for (_, slot, index, value) in run {
                    let changes = storage.entry(*slot).or_default();
                    if let Some(value) = value {
                        changes.push((*index, *value));
                    }
                }
            }
        }
        // Records come in the order their steps ran on each thread: put
        // each field's changes in index order, the last logged of an index
        // kept (a stable sort keeps their logged order). Most lists hold a
        // change or two in room for four, which is given back.
        accounts.values_mut().for_each(AccountAccess::put_in_order);
        accounts
    }

    /// A block's record made of its parts, each added to by
    /// [`add_to_part`](Self::add_to_part).
    pub(crate) fn from_parts(parts: Vec<HashMap<Address, AccountAccess>>) -> Self {
        Self { parts }
    }
}

/// Puts a field's changes in index order, one per index: of two changes at
/// one index, the later in `changes` stays. Their spare room is given back.
fn in_order<T>(changes: &mut Vec<(u32, T)>) {
    if changes.is_sorted_by(|a, b| a.0 < b.0) {
        changes.shrink_to_fit();
        return;
    }
    changes.sort_by_key(|(index, _)| *index);
    // Of a run of one index, keep the last: reversed, dedup keeps the first.
    changes.reverse();
    changes.dedup_by_key(|(index, _)| *index);
    changes.reverse();
    changes.shrink_to_fit();
}

/// The beneficiary's balance through a block, transaction by transaction
/// in block order: what each left it with, plus its fee. Its changes go to
/// the block's record piece by piece ([`drain_into`](Self::drain_into)).
#[derive(Debug, Clone)]
pub(crate) struct BeneficiaryBalance {
    /// Its balance after the last transaction added.
    balance: U256,
    /// The changes since the last piece.
    changes: Vec<(u32, U256)>,
    /// Whether any transaction since the last piece ran (and so accessed
    /// it).
    accessed: bool,
}

impl BeneficiaryBalance {
    /// A beneficiary holding `balance` before the first transaction.
    pub(crate) fn new(balance: U256) -> Self {
        Self { balance, changes: Vec::new(), accessed: false }
    }

    /// Transaction `index - 1`: the balance it left the beneficiary with,
    /// if it changed it (`left`), and its fee. One that did not run (an
    /// access violation) changes nothing.
    pub(crate) fn add(&mut self, index: u32, left: Option<U256>, fee: U256, ran: bool) {
        if !ran {
            return;
        }
        self.accessed = true;
        let after = left.unwrap_or(self.balance) + fee;
        if after != self.balance {
            self.changes.push((index, after));
        }
        self.balance = after;
    }

    /// Adds the beneficiary's balance changes since the last call, at
    /// `beneficiary`, to `access`, which holds none of it at those indexes
    /// (the recorders leave the beneficiary's balance out).
    pub(crate) fn drain_into(&mut self, beneficiary: Address, access: &mut BlockAccess) {
        if std::mem::take(&mut self.accessed) {
            append(&mut access.entry(beneficiary).balance, std::mem::take(&mut self.changes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use revm::state::{Account, AccountInfo, EvmStorageSlot, TransactionId};

    /// Step `index`'s state diff: of four accounts, those `index` picks,
    /// some with a balance or nonce moved, each loading slots of which some
    /// change (to values that depend on the step).
    fn step(index: u32) -> EvmState {
        let mut state = EvmState::default();
        for n in 0u8..4 {
            if (index + u32::from(n)).is_multiple_of(3) {
                continue;
            }
            let address = Address::repeat_byte(0x10 + n);
            let before = AccountInfo::from_balance(U256::from(1_000 + index));
            let mut account = Account::from(before.clone());
            match (index + u32::from(n)) % 4 {
                0 => account.info.balance = U256::from(2_000 + index),
                1 => account.info.nonce = u64::from(index) + 1,
                _ => {}
            }
            for slot in 0..u32::from(n) + 2 {
                let found = U256::from(slot + index);
                let left = if (slot + index).is_multiple_of(2) { U256::from(slot * 100 + index) } else { found };
                account.storage.insert(U256::from(slot), EvmStorageSlot::new_changed(found, left, TransactionId::ZERO));
            }
            state.insert(address, account);
        }
        state
    }

    #[test]
    fn a_log_added_to_the_record_in_pieces_makes_the_record_the_whole_log_makes() {
        let (parts, beneficiary) = (3, Address::repeat_byte(0xbe));
        let mut whole = Recorder::new(parts, beneficiary);
        for every in [1, 2, 7, 100] {
            let mut pieces = Recorder::new(parts, beneficiary);
            let mut record = BlockAccess::in_parts(parts);
            // Two records at index 0 (system calls), the later kept.
            for (at, index) in (0u32..42).map(|i| (i, i.saturating_sub(1))) {
                if at > 1 && at % every == 0 {
                    pieces.flush_into(&mut record);
                }
                pieces.record(index, &step(at), false);
                if every == 1 {
                    whole.record(index, &step(at), false);
                }
            }
            pieces.flush_into(&mut record);
            let whole = whole.clone().into_access();
            assert!(whole.len() == 4 && whole.accounts().any(|(_, a)| a.storage.values().any(|c| c.len() > 5)));
            assert_eq!(record, whole, "added every {every} steps");
        }
    }
}
