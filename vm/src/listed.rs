//! A block's access list in lookup form, for executing the block from it
//! ([`crate::BalExecutor`]) or checking a block run from its declarations
//! against it (`execute_checked`): what the list says each key holds before
//! a step, and the checks that what the steps really did is exactly what
//! it lists.
//!
//! What a key holds before step `k` (block access index `k`): its last
//! change at an index below `k`, else its value in the base state. An
//! account destroyed at an index below `k` (its nonce changed to zero, or
//! its code to none while its nonce is zero: nothing else lowers them; code
//! cleared with a nonce left is a revoked EIP-7702 delegation) has no
//! storage from before it, so a slot with no change since reads as zero.
//!
//! A list is right for a block when every step, run on what the list says,
//! computes exactly the changes the list records at its index, and between
//! them the steps load every account and slot it holds. Then, by induction
//! over the indexes, every step read what the steps before it left, so it
//! ran as it does sequentially. The checks kept here:
//! - a step loads no account or slot the list does not hold;
//! - each field a step changes has a change at the step's index, with the
//!   same value;
//! - a step makes as many changes as the list has at its index (so none of
//!   those is left unproduced), counted per index when the list is made;
//! - the accounts and slots the steps loaded, each counted once per run (a
//!   mark holding the run's number), are as many as the list holds.
//!
//! Marks let one list be executed again and again (a benchmark) with no
//! pass to clear them; runs of one list take turns ([`ListedAccess::begin`]).
//!
//! A block run from its declarations is checked the same way, on its record
//! instead of each step's state ([`RecordCheck`]), a piece of the block at
//! a time: per-index counts for the piece's indexes, marks across pieces.

use crate::access::{AccountAccess, BlockAccess, Step, StepObserver, steps};
use crate::base::{Base, Fields};
use crate::key::StateKey;
use crate::slot_map::SlotMap;
use crate::state::Value;
use alloy_primitives::{Address, Bytes, U256};
use core::cell::RefCell;
use core::ops::RangeInclusive;
use hashbrown::HashMap;
use hashbrown::hash_map::Entry;
use revm::state::{Bytecode, EvmState};
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A block access list ready to execute a block from: built once from its
/// content ([`BlockAccess`]; `defivm-ethereum` makes one from an EIP-7928
/// list), then used by any number of runs, one at a time.
#[derive(Debug, Default)]
pub struct ListedAccess {
    accounts: HashMap<Address, ListedAccount>,
    /// How many changes the list holds at each block access index.
    changes_at: Counts,
    /// Accounts and slots, in all.
    entries: u64,
    /// Accounts and slots with at least one change.
    changed: u64,
    /// The last run's number.
    runs: AtomicU64,
    /// Held by the run in progress.
    turn: Mutex<()>,
}

#[derive(Debug)]
struct ListedAccount {
    mark: AtomicU64,
    balance: Vec<(u32, U256)>,
    nonce: Vec<(u32, u64)>,
    code: Vec<(u32, Bytecode)>,
    /// The indexes where the account may have been destroyed (its nonce
    /// changed to zero, or its code to none), in order.
    destroyed: Vec<u32>,
    storage: SlotMap<ListedSlot>,
}

impl ListedAccount {
    /// The account, if any of its fields changes, and its slots that do.
    fn changed_keys(&self) -> u64 {
        let fields = !(self.balance.is_empty() && self.nonce.is_empty() && self.code.is_empty());
        u64::from(fields) + self.storage.values().filter(|slot| !slot.changes.is_empty()).count() as u64
    }
}

#[derive(Debug)]
struct ListedSlot {
    mark: AtomicU64,
    changes: Vec<(u32, U256)>,
}

/// Which of an account's fields an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Its balance.
    Balance,
    /// Its nonce.
    Nonce,
    /// Its code.
    Code,
    /// One storage slot.
    Storage(U256),
}

/// A field's value in a list entry, or as a step computed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// A balance, in wei.
    Balance(U256),
    /// A nonce.
    Nonce(u64),
    /// Runtime code.
    Code(Bytes),
    /// A slot's value.
    Storage(U256),
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Balance(v) | FieldValue::Storage(v) => write!(f, "{v:#x}"),
            FieldValue::Nonce(v) => write!(f, "{v}"),
            FieldValue::Code(code) => write!(f, "{} bytes of code ({})", code.len(), alloy_primitives::keccak256(code)),
        }
    }
}

/// How a block access list disagrees with the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MismatchKind {
    /// A step read an account or slot the list does not hold.
    UnlistedRead,
    /// A step changed a field the list records no change of at its index.
    UnlistedChange,
    /// The list's value differs from the one the step computed.
    ValueDiffers,
    /// The list holds an entry no step produced: a change at an index whose
    /// step did not make it (or an index past the block's last), or an
    /// account or slot no step loaded.
    Unproduced,
}

/// Where and how a block access list disagrees with its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListMismatch {
    /// What is wrong.
    pub kind: MismatchKind,
    /// The block access index of the step concerned (0: the system calls
    /// before the transactions, `i + 1`: transaction `i`, `n + 1`: what
    /// follows the last of `n`); `None` for an account or slot no step
    /// loaded, and, in a block checked against its record
    /// (`execute_checked`), for one the list does not hold that a step only
    /// read (a record says where a key changed, not where it was read).
    pub index: Option<u32>,
    /// The account.
    pub address: Address,
    /// The field, where the mismatch is about one.
    pub field: Option<Field>,
    /// The list's value (`None`: it has none).
    pub expected: Option<FieldValue>,
    /// The step's value (`None`: it computed none).
    pub computed: Option<FieldValue>,
}

impl ListMismatch {
    /// The transaction concerned, if the step is one of a block of `txs`.
    pub fn transaction(&self, txs: usize) -> Option<usize> {
        let index = self.index? as usize;
        (1..=txs).contains(&index).then(|| index - 1)
    }
}

impl fmt::Display for ListMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            MismatchKind::UnlistedRead => "reads what the list does not hold",
            MismatchKind::UnlistedChange => "makes a change the list does not record",
            MismatchKind::ValueDiffers => "computes a value other than the list's",
            MismatchKind::Unproduced => "does not produce the list's entry",
        };
        match self.index {
            Some(index) => write!(f, "block access index {index} {what}: {}", self.address)?,
            None if self.kind == MismatchKind::UnlistedRead => write!(f, "a step {what}: {}", self.address)?,
            None => write!(f, "no step loads the list's entry: {}", self.address)?,
        }
        match self.field {
            Some(Field::Storage(slot)) => write!(f, " slot {slot:#x}")?,
            Some(Field::Balance) => write!(f, " balance")?,
            Some(Field::Nonce) => write!(f, " nonce")?,
            Some(Field::Code) => write!(f, " code")?,
            None => {}
        }
        let value = |v: &Option<FieldValue>| v.as_ref().map_or_else(|| "none".to_string(), ToString::to_string);
        if self.expected.is_some() || self.computed.is_some() {
            write!(f, " (list: {}, computed: {})", value(&self.expected), value(&self.computed))?;
        }
        Ok(())
    }
}

/// The value of the last change below `index`, with its index.
fn before<T>(changes: &[(u32, T)], index: u32) -> Option<&(u32, T)> {
    let below = changes.partition_point(|(at, _)| *at < index);
    below.checked_sub(1).map(|last| &changes[last])
}

/// The change at exactly `index`.
fn at<T>(changes: &[(u32, T)], index: u32) -> Option<&T> {
    changes.binary_search_by_key(&index, |(at, _)| *at).ok().map(|found| &changes[found].1)
}

impl ListedAccess {
    /// The list whose content is `access`.
    pub fn new(access: BlockAccess) -> Self {
        Self::from_accounts(access.into_accounts())
    }

    /// The list whose content is each account's accesses, taken in one at
    /// a time, so that a large list is not held in two forms at once. An
    /// account given twice keeps both's changes, as in
    /// [`BlockAccess::from_accounts`].
    pub fn from_accounts(accounts: impl IntoIterator<Item = (Address, AccountAccess)>) -> Self {
        let mut list = Self::default();
        for (address, mut account) in accounts {
            // Each field's changes in index order, one per index (the last
            // given of an index kept), as the record's are.
            let account = match list.accounts.remove(&address) {
                Some(earlier) => {
                    let mut merged = list.taken_out(earlier);
                    merged.absorb(account);
                    merged
                }
                None => {
                    account.put_in_order();
                    account
                }
            };
            list.insert(address, account);
        }
        list
    }

    /// Adds the account at `address`, which the list does not hold, its
    /// changes in index order.
    fn insert(&mut self, address: Address, account: AccountAccess) {
        let AccountAccess { balance, nonce, code, storage } = account;
        let indexes = (balance.iter().map(|c| c.0))
            .chain(nonce.iter().map(|c| c.0))
            .chain(code.iter().map(|c| c.0))
            .chain(storage.values().flatten().map(|c| c.0));
        indexes.for_each(|index| self.changes_at.add(index));
        let mut destroyed: Vec<u32> = nonce.iter().filter(|(_, n)| *n == 0).map(|(at, _)| *at).collect();
        destroyed.extend(code.iter().filter(|(_, c)| c.is_empty()).map(|(at, _)| *at));
        destroyed.sort_unstable();
        destroyed.dedup();
        let code = code.into_iter().map(|(at, bytes)| (at, bytecode(bytes))).collect();
        let storage: SlotMap<ListedSlot> = storage
            .into_iter()
            .map(|(slot, changes)| (slot, ListedSlot { mark: AtomicU64::new(0), changes }))
            .collect();
        self.entries += 1 + storage.len() as u64;
        let account = ListedAccount { mark: AtomicU64::new(0), balance, nonce, code, destroyed, storage };
        self.changed += account.changed_keys();
        self.accounts.insert(address, account);
    }

    /// An account taken out of the list (its changes no longer counted),
    /// as its accesses.
    fn taken_out(&mut self, listed: ListedAccount) -> AccountAccess {
        self.changed -= listed.changed_keys();
        let ListedAccount { balance, nonce, code, storage, .. } = listed;
        let indexes = (balance.iter().map(|c| c.0))
            .chain(nonce.iter().map(|c| c.0))
            .chain(code.iter().map(|c| c.0))
            .chain(storage.values().flat_map(|slot| &slot.changes).map(|c| c.0));
        indexes.for_each(|index| self.changes_at.remove(index));
        self.entries -= 1 + storage.len() as u64;
        let code = code.into_iter().map(|(at, code)| (at, code.original_bytes())).collect();
        let storage = storage.into_iter().map(|(slot, listed)| (slot, listed.changes)).collect();
        AccountAccess { balance, nonce, code, storage }
    }

    /// How many accounts and slots the list changes: as many keys as a
    /// block it is right for writes.
    pub(crate) fn changed_keys(&self) -> u64 {
        self.changed
    }

    /// How many accounts the list holds.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether the list holds no account.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Starts a run: waits for the run in progress, if any, and returns the
    /// guard that makes the others wait with the new run's number.
    pub(crate) fn begin(&self) -> (MutexGuard<'_, ()>, u64) {
        let turn = self.turn.lock().unwrap_or_else(PoisonError::into_inner);
        (turn, self.runs.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// How many changes the list holds at `index`.
    fn changes_at(&self, index: u32) -> u32 {
        self.changes_at.get(index)
    }

    /// The first index past `last` with a change, if any.
    pub(crate) fn first_past(&self, last: u32) -> Option<u32> {
        self.changes_at.iter().map(|(index, _)| index).filter(|&index| index > last).min()
    }

    /// The account at `address` as the list has it before step `index`
    /// over `base` (its balance, nonce and code, if it exists), or `Err` if
    /// the list does not hold it; `seen` keeps where the list holds it, for
    /// the step's check.
    pub(crate) fn account<'a>(
        &'a self,
        base: &'a Base<'a>,
        address: Address,
        index: u32,
        seen: &RefCell<Seen<'a>>,
    ) -> Result<Option<Fields<'a>>, ()> {
        let listed = self.accounts.get(&address).ok_or(())?;
        let mut seen = seen.borrow_mut();
        if seen.accounts.len() <= SCAN {
            seen.accounts.push((address, listed));
        }
        drop(seen);
        let base = base.fields(address);
        let balance = before(&listed.balance, index);
        let nonce = before(&listed.nonce, index);
        let code = before(&listed.code, index);
        if balance.is_none() && nonce.is_none() && code.is_none() {
            return Ok(base);
        }
        let existed = base.is_some();
        let (base_balance, base_nonce, base_code) = base.unwrap_or((U256::ZERO, 0, None));
        let balance = balance.map_or(base_balance, |c| c.1);
        let nonce = nonce.map_or(base_nonce, |c| c.1);
        let code = code.map_or(base_code, |c| Some(Cow::Borrowed(&c.1)));
        let code = code.filter(|code| !code.is_empty());
        let destroyed = last_below(&listed.destroyed, index).is_some();
        if balance.is_zero() && nonce == 0 && code.is_none() && (!existed || destroyed) {
            return Ok(None);
        }
        Ok(Some((balance, nonce, code)))
    }

    /// The slot's value as the list has it before step `index` over
    /// `base`, or `Err` if the list does not hold it; `seen` keeps where
    /// the list holds it, for the step's check.
    pub(crate) fn slot<'a>(
        &'a self,
        base: &Base<'_>,
        address: Address,
        slot: U256,
        index: u32,
        seen: &RefCell<Seen<'a>>,
    ) -> Result<U256, ()> {
        let mut seen = seen.borrow_mut();
        let listed = match seen.account(&address) {
            Some(listed) => listed,
            None => self.accounts.get(&address).ok_or(())?,
        };
        let listed_slot = listed.storage.get(&slot).ok_or(())?;
        if seen.slots.len() <= SCAN {
            seen.slots.push((address, slot, listed_slot));
        }
        let destroyed = if listed.destroyed.is_empty() {
            None
        } else {
            listed.destroyed_below(index, base.fields(address).map_or(0, |(_, nonce, _)| nonce))
        };
        match (before(&listed_slot.changes, index), destroyed) {
            (Some(&(at, value)), Some(destroyed)) if at >= destroyed => Ok(value),
            (Some(&(_, value)), None) => Ok(value),
            (_, Some(_)) => Ok(U256::ZERO),
            (None, None) => Ok(base.storage(address, slot)),
        }
    }
}

/// Up to this many accounts or slots a step loaded are scanned.
const SCAN: usize = 16;

/// Where the list holds what the running step loaded, kept as it loads
/// them: its check then finds each without a search of the whole list.
#[derive(Debug, Default)]
pub(crate) struct Seen<'a> {
    accounts: Vec<(Address, &'a ListedAccount)>,
    slots: Vec<(Address, U256, &'a ListedSlot)>,
}

impl<'a> Seen<'a> {
    /// Forgets the last step's.
    pub(crate) fn clear(&mut self) {
        self.accounts.clear();
        self.slots.clear();
    }

    /// Found by a scan, in a step that loaded a few (else the list's
    /// search is the quicker).
    fn account(&self, address: &Address) -> Option<&'a ListedAccount> {
        let few = self.accounts.len() <= SCAN;
        few.then(|| self.accounts.iter().find(|(a, _)| a == address).map(|(_, listed)| *listed)).flatten()
    }

    /// As [`Seen::account`].
    fn slot(&self, address: &Address, slot: &U256) -> Option<&'a ListedSlot> {
        let few = self.slots.len() <= SCAN;
        few.then(|| self.slots.iter().find(|(a, s, _)| s == slot && a == address).map(|(_, _, listed)| *listed))
            .flatten()
    }
}

impl ListedAccount {
    /// The last index below `index` where the account was destroyed: its
    /// nonce changed to zero, or its code to none with its nonce zero then
    /// (`base_nonce` is its nonce before the block). Code cleared with a
    /// nonce left is an EIP-7702 delegation revoked: the storage stays.
    fn destroyed_below(&self, index: u32, base_nonce: u64) -> Option<u32> {
        let below = self.destroyed.partition_point(|&at| at < index);
        self.destroyed[..below].iter().rev().copied().find(|&at| {
            let nonce = before(&self.nonce, at + 1).map_or(base_nonce, |c| c.1);
            nonce == 0
        })
    }
}

/// How many changes a list holds at each block access index: counted in
/// place up to [`DENSE`], and in a map past it (an index no block reaches,
/// which a wrong list may hold).
#[derive(Debug, Default)]
struct Counts {
    dense: Vec<u32>,
    far: HashMap<u32, u32>,
}

/// Indexes below this are counted in place.
const DENSE: u32 = 1 << 20;

impl Counts {
    fn add(&mut self, index: u32) {
        if index >= DENSE {
            *self.far.entry(index).or_default() += 1;
            return;
        }
        let at = index as usize;
        if self.dense.len() <= at {
            self.dense.resize(at + 1, 0);
        }
        self.dense[at] += 1;
    }

    fn remove(&mut self, index: u32) {
        match self.dense.get_mut(index as usize) {
            Some(n) => *n -= 1,
            None => {
                if let Entry::Occupied(mut far) = self.far.entry(index) {
                    *far.get_mut() -= 1;
                    if *far.get() == 0 {
                        far.remove();
                    }
                }
            }
        }
    }

    fn get(&self, index: u32) -> u32 {
        match self.dense.get(index as usize) {
            Some(&n) => n,
            None => self.far.get(&index).copied().unwrap_or(0),
        }
    }

    /// Every index of `range` with changes, with their number.
    fn in_range(&self, range: RangeInclusive<u32>) -> impl Iterator<Item = (u32, u32)> + '_ {
        let (start, end) = (*range.start() as usize, *range.end() as usize);
        let dense = self.dense.iter().enumerate().skip(start).take((end - start).saturating_add(1));
        let dense = dense.filter(|(_, n)| **n > 0).map(|(at, n)| (at as u32, *n));
        dense.chain(self.far.iter().filter(move |(at, _)| range.contains(at)).map(|(&at, &n)| (at, n)))
    }

    /// Every index with changes, with their number.
    fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        let dense = self.dense.iter().enumerate().filter(|(_, n)| **n > 0).map(|(at, n)| (at as u32, *n));
        dense.chain(self.far.iter().map(|(&at, &n)| (at, n)))
    }
}

/// The last of `indexes` (in order) below `index`.
fn last_below(indexes: &[u32], index: u32) -> Option<u32> {
    indexes.partition_point(|&at| at < index).checked_sub(1).map(|last| indexes[last])
}

/// Where a transaction's write goes once the list checks
/// ([`ListedAccess::fate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// No later transaction writes the key: this is its value after the
    /// transactions.
    Final,
    /// A later transaction writes the key again: this value is spent.
    Superseded,
    /// Its effect depends on what came before (a created or deleted
    /// account, one the block destroys, the beneficiary's fees): it joins
    /// the block's changes in block order.
    Ordered,
}

impl ListedAccess {
    /// Where transaction step `index`'s write of `value` to `key` goes, in
    /// a block whose transactions end before step `after` (with the
    /// beneficiary `beneficiary`), if the list is right. A key's last
    /// change among the transactions' is the last write of it (a
    /// transaction writes a key exactly where it changes it, as the list
    /// records), and where no step destroys the account, nothing after it
    /// changes it but the block's own rules, which build on the
    /// transactions' changes. An account whose code the block changes is
    /// created in it, and a write over that is [`Fate::Ordered`]; its slots
    /// are written after the creation, and so are not.
    pub(crate) fn fate(
        &self,
        key: &StateKey,
        value: &Value,
        index: u32,
        after: u32,
        beneficiary: Address,
        seen: &Seen<'_>,
    ) -> Fate {
        let last = |changes: Option<u32>| match changes {
            Some(last) if last == index => Fate::Final,
            Some(last) if last > index => Fate::Superseded,
            _ => Fate::Ordered,
        };
        match (key, value) {
            (StateKey::Storage(address, slot), Value::Storage(_)) => {
                let listed = seen.account(address).or_else(|| self.accounts.get(address));
                if listed.is_none_or(|a| !a.destroyed.is_empty()) {
                    return Fate::Ordered;
                }
                let listed = seen.slot(address, slot).or_else(|| listed?.storage.get(slot));
                last(listed.and_then(|s| before(&s.changes, after)).map(|c| c.0))
            }
            (StateKey::Account(address), Value::Account(Some(_))) if *address != beneficiary => {
                let simple = |a: &&ListedAccount| a.destroyed.is_empty() && a.code.is_empty();
                let Some(listed) = seen.account(address).or_else(|| self.accounts.get(address)).filter(simple) else {
                    return Fate::Ordered;
                };
                let balance = before(&listed.balance, after).map(|c| c.0);
                let nonce = before(&listed.nonce, after).map(|c| c.0);
                last(balance.max(nonce))
            }
            _ => Fate::Ordered,
        }
    }
}

/// `bytes` as revm runs them (a malformed delegation, which no list of a
/// real block holds, as plain code: no step will match it).
fn bytecode(bytes: Bytes) -> Bytecode {
    Bytecode::new_raw_checked(bytes.clone()).unwrap_or_else(|_| Bytecode::new_legacy(bytes))
}

/// One worker's checks of the steps it runs against a list, in one run.
#[derive(Debug)]
pub(crate) struct StepCheck<'a, 's> {
    list: &'a ListedAccess,
    /// Where the list holds what the running step loaded.
    seen: &'s RefCell<Seen<'a>>,
    run: u64,
    beneficiary: Address,
    /// Where the list holds the beneficiary, which every transaction that
    /// runs accesses (looked up once).
    beneficiary_listed: Option<&'a ListedAccount>,
    /// The list's entries this worker's steps were the first to load.
    pub(crate) marked: u64,
    /// The running step's changes that matched the list.
    matched: u32,
    /// The running step's matched changes, to find an unproduced entry.
    produced: Vec<(Address, Field)>,
    /// The running step's first mismatch.
    mismatch: Option<ListMismatch>,
}

impl<'a, 's> StepCheck<'a, 's> {
    /// Checks for run `run` of `list`, in a block whose beneficiary is
    /// `beneficiary` (whose balance a step leaves to [`Self::fee`]).
    /// `seen` is where the list holds what the running step loaded (kept
    /// by its reads), to look in first.
    pub(crate) fn new(list: &'a ListedAccess, seen: &'s RefCell<Seen<'a>>, run: u64, beneficiary: Address) -> Self {
        let beneficiary_listed = list.accounts.get(&beneficiary);
        Self {
            list,
            seen,
            run,
            beneficiary,
            beneficiary_listed,
            marked: 0,
            matched: 0,
            produced: Vec::new(),
            mismatch: None,
        }
    }

    /// Starts checking another step.
    pub(crate) fn start(&mut self) {
        self.matched = 0;
        self.produced.clear();
        self.mismatch = None;
    }

    fn mark(&mut self, mark: &AtomicU64) {
        if mark.load(Ordering::Relaxed) != self.run && mark.swap(self.run, Ordering::Relaxed) != self.run {
            self.marked += 1;
        }
    }

    fn fail(&mut self, mismatch: ListMismatch) {
        self.mismatch.get_or_insert(mismatch);
    }

    /// A step read `address` (and `slot`) that the list does not hold.
    pub(crate) fn unlisted(&mut self, index: u32, address: Address, slot: Option<U256>) {
        self.fail(unlisted(Some(index), address, slot));
    }

    /// Checks that step `index` changed `field` of `address` to `computed`,
    /// as `changes` (the list's) say.
    fn change<T: Clone + PartialEq>(
        &mut self,
        changes: &[(u32, T)],
        index: u32,
        address: Address,
        field: Field,
        computed: T,
        value: impl Fn(T) -> FieldValue,
    ) {
        match at(changes, index) {
            Some(listed) if *listed == computed => {
                self.matched += 1;
                self.produced.push((address, field));
            }
            listed => {
                let kind = if listed.is_some() { MismatchKind::ValueDiffers } else { MismatchKind::UnlistedChange };
                let expected = listed.cloned().map(&value);
                let computed = Some(value(computed));
                self.fail(ListMismatch { kind, index: Some(index), address, field: Some(field), expected, computed });
            }
        }
    }

    /// [`Self::change`] for code, which the list holds as revm runs it.
    fn code_change(&mut self, changes: &[(u32, Bytecode)], index: u32, address: Address, code: Bytes) {
        match at(changes, index) {
            Some(listed) if listed.original_byte_slice() == code.as_ref() => {
                self.matched += 1;
                self.produced.push((address, Field::Code));
            }
            listed => self.fail(ListMismatch {
                kind: if listed.is_some() { MismatchKind::ValueDiffers } else { MismatchKind::UnlistedChange },
                index: Some(index),
                address,
                field: Some(Field::Code),
                expected: listed.map(|c| FieldValue::Code(c.original_bytes())),
                computed: Some(FieldValue::Code(code)),
            }),
        }
    }

    /// Checks a step's changes of one account, and marks what it loaded.
    /// Returns the balance it left the beneficiary with, if it changed it.
    fn account(&mut self, index: u32, address: Address, step: Step<'_>) -> Option<U256> {
        let list = self.list;
        let seen = self.seen.borrow();
        let Some(listed) = seen.account(&address).or_else(|| list.accounts.get(&address)) else {
            self.unlisted(index, address, None);
            return None;
        };
        self.mark(&listed.mark);
        let mut left = None;
        if let Some(balance) = step.balance {
            if address == self.beneficiary {
                left = Some(balance);
            } else {
                self.change(&listed.balance, index, address, Field::Balance, balance, FieldValue::Balance);
            }
        }
        if let Some(nonce) = step.nonce {
            self.change(&listed.nonce, index, address, Field::Nonce, nonce, FieldValue::Nonce);
        }
        if let Some(code) = step.code() {
            self.code_change(&listed.code, index, address, code);
        }
        for (slot, value) in step.slots() {
            let Some(listed) = seen.slot(&address, &slot).or_else(|| listed.storage.get(&slot)) else {
                self.unlisted(index, address, Some(slot));
                continue;
            };
            self.mark(&listed.mark);
            if let Some(value) = value {
                self.change(&listed.changes, index, address, Field::Storage(slot), value, FieldValue::Storage);
            }
        }
        left
    }

    /// Checks step `index`, whose state diff is `state` (`system`: a system
    /// call's); returns the balance it left the beneficiary with, if it
    /// changed it (a fee not counted).
    pub(crate) fn step(&mut self, index: u32, state: &EvmState, system: bool) -> Option<U256> {
        let mut left = None;
        for (address, step) in steps(state, system) {
            left = self.account(index, *address, step).or(left);
        }
        left
    }

    /// Checks a step recorded as a block's accesses (`record`, all at
    /// `index`): the system calls and the block's rules.
    pub(crate) fn record(&mut self, index: u32, record: &BlockAccess) {
        let list = self.list;
        for (&address, account) in record.accounts() {
            let Some(listed) = list.accounts.get(&address) else {
                self.unlisted(index, address, None);
                continue;
            };
            self.mark(&listed.mark);
            for &(_, balance) in &account.balance {
                self.change(&listed.balance, index, address, Field::Balance, balance, FieldValue::Balance);
            }
            for &(_, nonce) in &account.nonce {
                self.change(&listed.nonce, index, address, Field::Nonce, nonce, FieldValue::Nonce);
            }
            for (_, code) in &account.code {
                self.code_change(&listed.code, index, address, code.clone());
            }
            for (slot, changes) in &account.storage {
                let Some(listed) = listed.storage.get(slot) else {
                    self.unlisted(index, address, Some(*slot));
                    continue;
                };
                self.mark(&listed.mark);
                for &(_, value) in changes {
                    self.change(&listed.changes, index, address, Field::Storage(*slot), value, FieldValue::Storage);
                }
            }
        }
    }

    /// Checks the record of a piece of the block (`record`, each change at
    /// its own index), which holds every step of `indexes` and no other:
    /// the first mismatch in block order ([`block_order`]), if any. An
    /// account or slot the list does not hold is reported at its first
    /// change in the piece, or with no index if it has none there.
    fn piece(&mut self, record: &BlockAccess, indexes: RangeInclusive<u32>) -> Option<ListMismatch> {
        let list = self.list;
        // The changes that matched, counted per index; which ones is worked
        // out again only for an index whose count falls short.
        let mut matched: HashMap<u32, u32> = HashMap::new();
        let (mut mismatches, mut missing) = (Vec::new(), Vec::new());
        let mut one = |check: &mut Self, at: u32, run: &mut dyn FnMut(&mut Self)| {
            check.start();
            run(check);
            match check.mismatch.take() {
                Some(mismatch) => mismatches.push(mismatch),
                None => *matched.entry(at).or_default() += 1,
            }
        };
        for (&address, account) in record.accounts() {
            let Some(listed) = list.accounts.get(&address) else {
                let first = (account.balance.iter().map(|c| c.0))
                    .chain(account.nonce.iter().map(|c| c.0))
                    .chain(account.code.iter().map(|c| c.0))
                    .chain(account.storage.values().flatten().map(|c| c.0))
                    .min();
                missing.push(unlisted(first, address, None));
                continue;
            };
            self.mark(&listed.mark);
            for &(at, balance) in &account.balance {
                one(self, at, &mut |c| {
                    c.change(&listed.balance, at, address, Field::Balance, balance, FieldValue::Balance)
                });
            }
            for &(at, nonce) in &account.nonce {
                one(self, at, &mut |c| c.change(&listed.nonce, at, address, Field::Nonce, nonce, FieldValue::Nonce));
            }
            for (at, code) in &account.code {
                one(self, *at, &mut |c| c.code_change(&listed.code, *at, address, code.clone()));
            }
            for (slot, changes) in &account.storage {
                let Some(listed) = listed.storage.get(slot) else {
                    missing.push(unlisted(changes.first().map(|c| c.0), address, Some(*slot)));
                    continue;
                };
                self.mark(&listed.mark);
                let field = Field::Storage(*slot);
                for &(at, value) in changes {
                    one(self, at, &mut |c| c.change(&listed.changes, at, address, field, value, FieldValue::Storage));
                }
            }
        }
        mismatches.append(&mut missing);
        // The first index whose changes the piece did not all produce (a
        // wrong list may fall short at every index: only the first is
        // looked into).
        let short = list.changes_at.in_range(indexes).filter(|(index, n)| matched.get(index) != Some(n)).min();
        if let Some((index, _)) = short {
            mismatches.push(list.unproduced_at(index, &list.produced_at(record, index)));
        }
        mismatches.into_iter().min_by_key(block_order)
    }

    /// The beneficiary's balance after transaction step `index` that ran,
    /// left at `left` if it changed it, and its fee: `base` holds its
    /// balance before the block.
    pub(crate) fn fee(&mut self, base: &Base<'_>, index: u32, left: Option<U256>, fee: U256) {
        let address = self.beneficiary;
        let Some(listed) = self.beneficiary_listed else {
            self.unlisted(index, address, None);
            return;
        };
        self.mark(&listed.mark);
        let found = before(&listed.balance, index)
            .map_or_else(|| base.fields(address).map_or(U256::ZERO, |(balance, ..)| balance), |c| c.1);
        let after = left.unwrap_or(found) + fee;
        if after != found {
            self.change(&listed.balance, index, address, Field::Balance, after, FieldValue::Balance);
        }
    }

    /// Ends step `index`: its first mismatch, if any, else whether it made
    /// every change the list has at its index.
    pub(crate) fn finish(&mut self, index: u32) -> Result<(), Box<ListMismatch>> {
        if let Some(mismatch) = self.mismatch.take() {
            return Err(Box::new(mismatch));
        }
        if self.matched == self.list.changes_at(index) {
            return Ok(());
        }
        Err(Box::new(self.list.unproduced_at(index, &self.produced)))
    }
}

/// A run's check of a block's record against a list, a piece of the
/// block at a time: how a block run from its declarations, not from its
/// list, is checked against the list with one piece's record held, never
/// the block's. The pieces come in block order, each holding every step of
/// the indexes from the end of the one before through its own last
/// ([`piece`](Self::piece)); [`finish`](Self::finish) then makes the checks
/// of the whole block.
#[derive(Debug)]
pub(crate) struct RecordCheck<'a> {
    list: &'a ListedAccess,
    /// Held for the run: another run of the list waits.
    _turn: MutexGuard<'a, ()>,
    run: u64,
    beneficiary: Address,
    /// The list's entries the pieces so far loaded.
    marked: u64,
    /// The first index no piece has held yet.
    next: u32,
    /// The first read of a key the list does not hold whose step no piece
    /// said (a record says where a key changed, not where it was read): it
    /// comes after every mismatch at a step, so the block goes on.
    unlisted: Option<Box<ListMismatch>>,
}

impl<'a> RecordCheck<'a> {
    /// A check of `list` for a block whose beneficiary is `beneficiary`;
    /// waits for the list's run in progress, if any.
    pub(crate) fn new(list: &'a ListedAccess, beneficiary: Address) -> Self {
        let (turn, run) = list.begin();
        Self { list, _turn: turn, run, beneficiary, marked: 0, next: 0, unlisted: None }
    }

    /// How many keys the list says the block writes.
    pub(crate) fn changed_keys(&self) -> u64 {
        self.list.changed_keys()
    }

    /// Checks the next piece, `record`: every step from the end of the
    /// last piece through step `through`.
    pub(crate) fn piece(&mut self, record: &BlockAccess, through: u32) -> Result<(), Box<ListMismatch>> {
        let seen = RefCell::default();
        let mut check = StepCheck::new(self.list, &seen, self.run, self.beneficiary);
        let found = check.piece(record, self.next..=through);
        self.marked += check.marked;
        self.next = through.saturating_add(1);
        match found {
            Some(mismatch) if mismatch.index.is_some() => Err(Box::new(mismatch)),
            Some(unlisted) => {
                if self.unlisted.as_ref().is_none_or(|first| block_order(&unlisted) < block_order(first)) {
                    self.unlisted = Some(Box::new(unlisted));
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// After the block's last piece: a change the list holds past the
    /// block's last step, then a read of a key the list does not hold, then
    /// an account or slot no step loaded.
    pub(crate) fn finish(self) -> Result<(), Box<ListMismatch>> {
        if let Some(past) = self.next.checked_sub(1).and_then(|last| self.list.first_past(last)) {
            return Err(Box::new(self.list.unproduced_at(past, &[])));
        }
        if let Some(unlisted) = self.unlisted {
            return Err(unlisted);
        }
        match self.list.unloaded(self.run, self.marked) {
            Some(mismatch) => Err(Box::new(mismatch)),
            None => Ok(()),
        }
    }
}

impl StepObserver for StepCheck<'_, '_> {
    fn observe(&mut self, index: u32, state: &EvmState) -> Option<U256> {
        self.step(index, state, false)
    }
}

impl ListedAccess {
    /// The changes at `index` in `record` that are the list's.
    fn produced_at(&self, record: &BlockAccess, index: u32) -> Vec<(Address, Field)> {
        let mut produced = Vec::new();
        for (&address, account) in record.accounts() {
            let Some(listed) = self.accounts.get(&address) else { continue };
            let mut found = |field: Field, same: Option<bool>| {
                if same == Some(true) {
                    produced.push((address, field));
                }
            };
            found(Field::Balance, at(&account.balance, index).map(|v| at(&listed.balance, index) == Some(v)));
            found(Field::Nonce, at(&account.nonce, index).map(|v| at(&listed.nonce, index) == Some(v)));
            let code = at(&account.code, index);
            found(Field::Code, code.map(|c| at(&listed.code, index).is_some_and(|l| l.original_byte_slice() == c)));
            for (slot, changes) in &account.storage {
                let listed = listed.storage.get(slot).and_then(|listed| at(&listed.changes, index));
                found(Field::Storage(*slot), at(changes, index).map(|v| listed == Some(v)));
            }
        }
        produced
    }

    /// The first entry at `index` not among `produced`, as a mismatch.
    fn unproduced_at(&self, index: u32, produced: &[(Address, Field)]) -> ListMismatch {
        let mut found = Vec::new();
        for (&address, listed) in &self.accounts {
            let mut entry = |field: Field, value: Option<FieldValue>| {
                if let Some(value) = value
                    && !produced.contains(&(address, field))
                {
                    found.push((address, field, value));
                }
            };
            entry(Field::Balance, at(&listed.balance, index).map(|v| FieldValue::Balance(*v)));
            entry(Field::Nonce, at(&listed.nonce, index).map(|v| FieldValue::Nonce(*v)));
            entry(Field::Code, at(&listed.code, index).map(|c| FieldValue::Code(c.original_bytes())));
            for (&slot, listed) in &listed.storage {
                entry(Field::Storage(slot), at(&listed.changes, index).map(|v| FieldValue::Storage(*v)));
            }
        }
        // The step's matched changes are distinct entries at `index`, so
        // when they are fewer than the list's one is found, unless the list
        // holds two changes of one field at one index (which no list made
        // from alloy's, or by a recorder, does): then no field is named.
        let first = found.into_iter().min_by_key(|(address, field, _)| (*address, field_order(field)));
        let (address, field, expected) = match first {
            Some((address, field, value)) => (address, Some(field), Some(value)),
            None => (Address::ZERO, None, None),
        };
        ListMismatch { kind: MismatchKind::Unproduced, index: Some(index), address, field, expected, computed: None }
    }

    /// After a run that marked `marked` entries: the first account or slot
    /// no step loaded, if any (by address, then slot).
    pub(crate) fn unloaded(&self, run: u64, marked: u64) -> Option<ListMismatch> {
        if marked == self.entries {
            return None;
        }
        let mut found: Vec<(Address, Option<U256>)> = Vec::new();
        for (&address, listed) in &self.accounts {
            if listed.mark.load(Ordering::Relaxed) != run {
                found.push((address, None));
            }
            for (&slot, listed) in &listed.storage {
                if listed.mark.load(Ordering::Relaxed) != run {
                    found.push((address, Some(slot)));
                }
            }
        }
        let (address, slot) = found.into_iter().min()?;
        Some(ListMismatch {
            kind: MismatchKind::Unproduced,
            index: None,
            address,
            field: slot.map(Field::Storage),
            expected: None,
            computed: None,
        })
    }
}

/// A read of `address` (and `slot`) the list does not hold, by step `index`.
fn unlisted(index: Option<u32>, address: Address, slot: Option<U256>) -> ListMismatch {
    let field = slot.map(Field::Storage);
    ListMismatch { kind: MismatchKind::UnlistedRead, index, address, field, expected: None, computed: None }
}

/// The order in which a record's mismatches are reported: by step (one
/// with none last), account and field.
fn block_order(mismatch: &ListMismatch) -> (u32, Address, Option<(u8, U256)>) {
    (mismatch.index.unwrap_or(u32::MAX), mismatch.address, mismatch.field.as_ref().map(field_order))
}

/// Fields in the order a mismatch is reported.
fn field_order(field: &Field) -> (u8, U256) {
    match field {
        Field::Balance => (0, U256::ZERO),
        Field::Nonce => (1, U256::ZERO),
        Field::Code => (2, U256::ZERO),
        Field::Storage(slot) => (3, *slot),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::AccountAccess;
    use crate::state::{Account, State};

    /// A base state with an account at `address` holding slot 7 = 5,
    /// nonce 1 and code, and a list that changes its code to none at index
    /// 1 (and its nonce to `nonce`, if given) and lists slot 7 as read.
    fn cleared(nonce: Option<u64>) -> (State, ListedAccess, Address) {
        let address = Address::repeat_byte(0xa1);
        let mut state = State::new();
        let mut account =
            Account { nonce: 1, code: Some(Bytecode::new_legacy(Bytes::from_static(&[0x00]))), ..Account::default() };
        account.storage.insert(U256::from(7), U256::from(5));
        state.insert_account(address, account);
        let mut access = AccountAccess { code: vec![(1, Bytes::new())], ..AccountAccess::default() };
        access.nonce.extend(nonce.map(|n| (1, n)));
        access.storage.insert(U256::from(7), Vec::new());
        (state, ListedAccess::new(BlockAccess::from_accounts([(address, access)])), address)
    }

    #[test]
    fn code_cleared_with_a_nonce_left_keeps_the_storage_and_a_destruction_ends_it() {
        let seen = RefCell::default();
        // An EIP-7702 delegation revoked: code gone, nonce kept.
        let (state, list, address) = cleared(None);
        let base = Base::new(&state);
        assert_eq!(list.slot(&base, address, U256::from(7), 2, &seen), Ok(U256::from(5)));
        // Destroyed: nonce to zero as well.
        let (state, list, address) = cleared(Some(0));
        let base = Base::new(&state);
        assert_eq!(list.slot(&base, address, U256::from(7), 2, &seen), Ok(U256::ZERO));
        // Before the step that cleared it, the base's value.
        assert_eq!(list.slot(&base, address, U256::from(7), 1, &seen), Ok(U256::from(5)));
        // A slot the list does not hold.
        assert_eq!(list.slot(&base, address, U256::from(8), 2, &seen), Err(()));
    }

    #[test]
    fn an_index_past_every_block_is_counted_without_room_for_every_index_below() {
        let address = Address::repeat_byte(0xb2);
        let access =
            AccountAccess { balance: vec![(2, U256::from(1)), (u32::MAX, U256::from(2))], ..Default::default() };
        let list = ListedAccess::new(BlockAccess::from_accounts([(address, access)]));
        assert!(list.changes_at.dense.len() <= 3);
        assert_eq!((list.changes_at(2), list.changes_at(u32::MAX)), (1, 1));
        assert_eq!(list.first_past(5), Some(u32::MAX));
        assert_eq!(list.first_past(1), Some(2));
    }
}
