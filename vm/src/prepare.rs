//! Preparing a block's segment for parallel execution: every key any transaction may
//! touch becomes one [`Cell`], and every declaration a short list of cells.
//!
//! Preparation is a job of the executor's workers (`workers.rs`): the
//! transactions are cut in chunks, which the workers claim one at a time.
//! Each key is hashed once and interned in one of [`SHARDS`] shards (picked
//! by the top bits of the hash, each behind its own lock, taken once per
//! chunk), so threads rarely meet. A cell is filled with the key's value at
//! its first use (from the changes of the block's earlier segments, else
//! from the base state), by whichever transaction comes first: looking the
//! key up is then part of execution, which two threads share far better
//! than they share a step that must end before execution starts. (Measured
//! on the 68 mainnet blocks: loading at interning gave a DAG total 5 %
//! lower.) That is for the in-memory state; a base that is a database is
//! read whole right after interning, every cell loaded by the workers in
//! turn, so that each of its reads happens once and before any
//! transaction runs (`base.rs`).
//!
//! After preparation nothing is hashed again: the database boundary finds a
//! key in the transaction's own declaration (a scan of a few tags for a
//! short one, a binary search by tag for a long one, then one look at the
//! cell), and the scheduler's keys are the cell numbers. As a transaction
//! starts, its cells are asked of memory all at once ([`Prepared::prefetch`]):
//! a segment's cells are far larger than the caches, and fetched one by one
//! as revm reaches each key, their misses would follow one another.
//!
//! A cell has no lock: the schedule is its lock. Two transactions that
//! declare the same cell, one of them as written, never run at the same
//! time, and a transaction starts only after every such predecessor's
//! writes are visible to it (the ready-set's and the wave gates' acquire
//! and release). So a cell is either read by any number of transactions at
//! once, or read and written by exactly one (see [`Cell::read`]).
//!
//! Cell numbers depend on how threads interleaved, so they differ from run
//! to run; nothing observable depends on them (the lock graph depends only
//! on which transactions share a key).

use crate::base::Base;
use crate::key::StateKey;
use crate::state::{AccountValue, StateChanges, Value};
use crate::tx::Transaction;
use crate::workers::Workers;
use alloy_primitives::{Address, U256};
use core::cell::UnsafeCell;
use core::hash::BuildHasher;
use defivm_scheduler::Declaration;
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use revm::state::AccountInfo;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, Once, OnceLock};

/// How many shards the cells are interned in; a power of two.
const SHARDS: usize = 64;
const SHARD_BITS: u32 = SHARDS.trailing_zeros();
/// The most transactions prepared by one task; a smaller block is cut in
/// smaller chunks, a few per thread, so that every thread takes part.
const CHUNK: usize = 2048;
/// The fewest, below which one more task costs more than it shares.
const MIN_CHUNK: usize = 32;
/// Declarations up to this long are scanned for a key; longer ones are
/// sorted by tag once and searched.
const SCAN: usize = 16;

/// A cell's number: its shard in the low bits, its place in the shard above.
/// Cell numbers stay below 2^31 (the top bit of a [`DeclKey`] is its write
/// flag) as long as no shard holds 2^25 cells: two billion keys in all,
/// hundreds of gigabytes of cells.
pub(crate) type CellId = u32;

/// One key of a declaration: a cell, whether it may be written, and a tag
/// of the key, so that finding a key rarely has to look at a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeclKey {
    cell: u32,
    tag: u32,
}

impl DeclKey {
    const WRITE: u32 = 1 << 31;

    fn new(cell: CellId, written: bool, key: &StateKey) -> Self {
        Self { cell: cell | if written { Self::WRITE } else { 0 }, tag: key.tag() }
    }

    pub(crate) fn cell(self) -> CellId {
        self.cell & !Self::WRITE
    }

    /// The same key in cell `cell`.
    fn with_cell(self, cell: CellId) -> Self {
        Self { cell: cell | (self.cell & Self::WRITE), tag: self.tag }
    }

    pub(crate) fn written(self) -> bool {
        self.cell & Self::WRITE != 0
    }
}

/// A key's value during the segment. See the module docs for why it needs
/// no lock, and [`Cell::read`] and [`Cell::write`] for the rule.
#[derive(Debug)]
pub(crate) struct Cell {
    pub(crate) key: StateKey,
    /// Set once the slot holds the key's value: it is loaded on first use,
    /// by whichever transaction (or fee fold, or clearing) comes first, or
    /// while preparing from a database ([`Prepared::new`]).
    loaded: Once,
    slot: UnsafeCell<Slot>,
}

// SAFETY: the slot is reached only through `read`, `write` and `clear`,
// whose contracts (kept by the schedule, module docs) rule out a write at
// the same time as any other access.
unsafe impl Sync for Cell {}

#[derive(Debug)]
struct Slot {
    value: Held,
    written: bool,
    /// Whether the key's value came from an earlier segment's changes (so
    /// the changes hold the key already).
    changed_before: bool,
}

/// A [`Value`] as a cell holds it: an account's fields boxed, so that the
/// storage slots, most cells by far, take 40 bytes rather than 56. A
/// segment of [`crate::SEGMENT_TXS`] transactions has hundreds of thousands
/// of cells.
#[derive(Debug)]
enum Held {
    Account(Option<Box<AccountValue>>),
    Created(Box<AccountValue>),
    Storage(U256),
}

impl From<Value> for Held {
    fn from(value: Value) -> Self {
        match value {
            Value::Account(account) => Held::Account(account.map(Box::new)),
            Value::Created(account) => Held::Created(Box::new(account)),
            Value::Storage(value) => Held::Storage(value),
        }
    }
}

impl From<Held> for Value {
    fn from(held: Held) -> Self {
        match held {
            Held::Account(account) => Value::Account(account.map(|a| *a)),
            Held::Created(account) => Value::Created(*account),
            Held::Storage(value) => Value::Storage(value),
        }
    }
}

impl Cell {
    fn new(key: StateKey) -> Self {
        let slot = Slot { value: Held::Storage(U256::ZERO), written: false, changed_before: false };
        Self { key, loaded: Once::new(), slot: UnsafeCell::new(slot) }
    }

    /// Loads the key's value from `source` if no one has yet. Concurrent
    /// callers wait for the first; every access to the slot comes after.
    fn load(&self, source: &Source<'_>) {
        self.loaded.call_once(|| {
            let (value, changed_before) = Value::after(source.changes, source.base, &self.key);
            // SAFETY: `call_once` runs this once, before any other access
            // to the slot returns from `load`: no one else touches it now.
            let slot = unsafe { &mut *self.slot.get() };
            slot.value = value.into();
            slot.changed_before = changed_before;
        });
    }

    /// The slot, to read, loaded from `source` first if need be.
    ///
    /// # Safety
    /// No other thread writes the cell during the borrow: the caller runs a
    /// transaction that declares it (or folds fees into it), ordered by the
    /// schedule with every transaction that declares it as written.
    unsafe fn slot(&self, source: &Source<'_>) -> &Slot {
        self.load(source);
        // SAFETY: as the caller promises; loaded above.
        unsafe { &*self.slot.get() }
    }

    /// The slot, to write, loaded from `source` first if need be.
    ///
    /// # Safety
    /// No other thread reads or writes the cell during the borrow: the
    /// caller runs the one transaction that may write it now.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slot_mut(&self, source: &Source<'_>) -> &mut Slot {
        self.load(source);
        // SAFETY: as the caller promises; loaded above.
        unsafe { &mut *self.slot.get() }
    }

    /// The current value.
    ///
    /// # Safety
    /// As [`Cell::slot`]: no other thread writes the cell meanwhile.
    pub(crate) unsafe fn read(&self, source: &Source<'_>) -> Value {
        // SAFETY: passed on from the caller.
        match unsafe { &self.slot(source).value } {
            Held::Account(account) => Value::Account(account.as_deref().cloned()),
            Held::Created(account) => Value::Created((**account).clone()),
            Held::Storage(value) => Value::Storage(*value),
        }
    }

    /// The account as revm takes it (`None` if it does not exist, or if the
    /// cell is a slot, which no declaration pairs with an account read),
    /// with one clone of its code.
    ///
    /// # Safety
    /// As [`Cell::read`].
    pub(crate) unsafe fn account_info(&self, source: &Source<'_>) -> Option<AccountInfo> {
        // SAFETY: passed on from the caller.
        match unsafe { &self.slot(source).value } {
            Held::Account(Some(account)) | Held::Created(account) => Some(account.info()),
            Held::Account(None) | Held::Storage(_) => None,
        }
    }

    /// A slot's value (zero for an account cell, which no declaration pairs
    /// with a slot read).
    ///
    /// # Safety
    /// As [`Cell::read`].
    pub(crate) unsafe fn storage(&self, source: &Source<'_>) -> U256 {
        // SAFETY: passed on from the caller.
        match unsafe { &self.slot(source).value } {
            Held::Storage(value) => *value,
            _ => U256::ZERO,
        }
    }

    /// Sets the value, as [`Value::overwrite`] has it: an account whose
    /// storage the block cleared stays cleared.
    ///
    /// # Safety
    /// As [`Cell::slot_mut`]: no other thread touches the cell meanwhile.
    pub(crate) unsafe fn write(&self, value: Value, source: &Source<'_>) {
        // SAFETY: passed on from the caller.
        let slot = unsafe { self.slot_mut(source) };
        let cleared =
            (slot.written || slot.changed_before) && matches!(slot.value, Held::Account(None) | Held::Created(_));
        match (&mut slot.value, value) {
            // An account written again reuses its box.
            (Held::Account(Some(held)), Value::Account(Some(account))) => **held = account,
            (Held::Created(held), Value::Account(Some(account)) | Value::Created(account)) => **held = account,
            (held, Value::Account(Some(account))) if cleared => *held = Held::Created(Box::new(account)),
            (held, value) => *held = value.into(),
        }
        slot.written = true;
    }

    /// Sets a slot to zero, its account's storage being cleared. A slot the
    /// changes held from an earlier segment counts as written, so that the
    /// zero replaces it there.
    ///
    /// # Safety
    /// As [`Cell::write`].
    unsafe fn clear(&self, source: &Source<'_>) {
        // SAFETY: passed on from the caller.
        let slot = unsafe { self.slot_mut(source) };
        slot.value = Held::Storage(U256::ZERO);
        slot.written |= slot.changed_before;
    }

    /// The final value, if the segment wrote the key.
    pub(crate) fn into_change(self) -> Option<(StateKey, Value)> {
        let slot = self.slot.into_inner();
        slot.written.then(|| (self.key, slot.value.into()))
    }
}

/// One transaction's declaration over cells.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decl<'p> {
    /// Every key, the first mention of each as strong as it is declared
    /// anywhere ([`Transaction::for_each_key`]); past [`SCAN`] keys, sorted
    /// by tag instead, a key's write before its reads.
    pub(crate) keys: &'p [DeclKey],
    /// Whether the beneficiary's account is among them.
    pub(crate) beneficiary: bool,
}

impl Decl<'_> {
    /// An empty declaration (nothing may be touched).
    pub(crate) const NOTHING: Decl<'static> = Decl { keys: &[], beneficiary: false };
}

/// A chunk of declarations, concatenated.
#[derive(Debug, Default)]
struct Chunk {
    keys: Vec<DeclKey>,
    /// Where each declaration ends in `keys`.
    ends: Vec<u32>,
    beneficiary: Vec<bool>,
    /// Each key with its hash and its place in `keys`, while interning.
    pending: Vec<(u64, StateKey, u32)>,
    /// `pending`'s positions grouped by shard, while interning.
    order: Vec<u32>,
}

impl Chunk {
    fn clear(&mut self) {
        self.keys.clear();
        self.ends.clear();
        self.beneficiary.clear();
        self.pending.clear();
    }
}

/// Buffers kept from one segment or block to the next: fresh memory costs a
/// page fault and a clear per 4 KiB, more than interning the keys on it.
#[derive(Debug, Default)]
pub(crate) struct Spare {
    shards: Vec<Shard>,
    tables: Vec<HashTable<(u64, u32)>>,
    chunks: Vec<Chunk>,
    /// The written values of a segment, and their order, as they become
    /// changes ([`extend_in_table_order`]).
    values: Vec<(StateKey, Value)>,
    order: Vec<u64>,
}

impl Spare {
    /// Takes back a segment's emptied cell buffers, each with the table it
    /// was interned with, and its chunks.
    fn keep(&mut self, shards: Vec<Vec<Cell>>, chunks: Vec<Chunk>) {
        let tables = self.tables.drain(..);
        self.shards.extend(shards.into_iter().zip(tables).map(|(cells, table)| Shard { cells, table }));
        self.chunks = chunks;
    }
}

/// Where the cells take their values from: the state a block runs on, and
/// what the block's earlier segments changed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) base: &'a Base<'a>,
    pub(crate) changes: &'a StateChanges,
}

/// A segment's cells and every declaration over them.
#[derive(Debug)]
pub(crate) struct Prepared {
    shards: Vec<Vec<Cell>>,
    chunks: Vec<Chunk>,
    /// Each chunk holds `1 << chunk_bits` transactions (the last fewer).
    chunk_bits: u32,
    /// The beneficiary's cell, if any transaction declares it.
    pub(crate) beneficiary: Option<CellId>,
    /// The slot cells of each address, made when a transaction first
    /// clears an account's storage: most segments never need it.
    slots: OnceLock<HashMap<Address, Vec<CellId>>>,
    /// The accounts whose storage the segment cleared: their slots that
    /// only the changes of earlier segments hold are zeroed there at the
    /// end ([`Prepared::into_changes`]).
    cleared: Mutex<Vec<Address>>,
}

/// A shard while interning: its cells and a table from key hash to cell.
#[derive(Debug, Default)]
struct Shard {
    cells: Vec<Cell>,
    table: HashTable<(u64, u32)>,
}

impl Prepared {
    /// Interns every declared and implied key of `txs` in buffers taken
    /// from `spare`, as a job of `workers`. A cell's value is loaded at its
    /// first use from an in-memory base; from a database, every cell is
    /// loaded here, as a second job, so that the database is read once per
    /// key, on every worker at once, before any transaction runs. Errors
    /// with what a worker's share panicked with.
    pub(crate) fn new(
        txs: &[Transaction],
        beneficiary: Address,
        source: &Source<'_>,
        spare: &mut Spare,
        workers: &Workers,
    ) -> Result<Self, String> {
        let hasher = DefaultHashBuilder::default();
        spare.shards.resize_with(SHARDS, Shard::default);
        let shards: Vec<Mutex<Shard>> = spare.shards.drain(..).map(Mutex::new).collect();
        let chunk_bits = chunk_bits(txs.len(), workers.threads());
        let chunk_len = 1usize << chunk_bits;
        let count = txs.len().div_ceil(chunk_len);
        spare.chunks.resize_with(count, Chunk::default);
        let chunks: Vec<Mutex<Chunk>> = spare.chunks.drain(..).take(count).map(Mutex::new).collect();
        let beneficiary_key = StateKey::Account(beneficiary);
        let (next, stop) = (AtomicUsize::new(0), AtomicBool::new(false));
        let work = |_worker: usize| {
            while !stop.load(Ordering::Relaxed) {
                let at = next.fetch_add(1, Ordering::Relaxed);
                let Some(chunk) = chunks.get(at) else { break };
                let txs = &txs[at * chunk_len..txs.len().min((at + 1) * chunk_len)];
                intern(&mut lock(chunk), txs, &shards, &hasher, &beneficiary_key);
            }
        };
        let ran = workers.run(&work, &|| stop.store(true, Ordering::Relaxed));
        let chunks: Vec<Chunk> =
            chunks.into_iter().map(|c| c.into_inner().unwrap_or_else(|p| p.into_inner())).collect();
        let mut shards: Vec<Shard> =
            shards.into_iter().map(|s| s.into_inner().unwrap_or_else(|p| p.into_inner())).collect();
        let beneficiary = {
            let hash = hasher.hash_one(beneficiary_key);
            let shard_index = shard_of(hash);
            let Shard { cells, table } = &shards[shard_index];
            table
                .find(hash, |&(h, at)| h == hash && cells[at as usize].key == beneficiary_key)
                .map(|&(_, at)| (at << SHARD_BITS) | shard_index as u32)
        };
        let cells = shards.iter_mut().map(|s| core::mem::take(&mut s.cells)).collect();
        spare.tables.extend(shards.into_iter().map(|mut s| {
            s.table.clear();
            s.table
        }));
        let prepared =
            Self { shards: cells, chunks, chunk_bits, beneficiary, slots: OnceLock::new(), cleared: Mutex::default() };
        ran?;
        if !source.base.in_memory() {
            prepared.load_all(source, workers)?;
        }
        Ok(prepared)
    }

    /// Loads every cell from `source`, the workers taking shards in turn.
    /// A panic in the database, on whichever thread, is the error.
    fn load_all(&self, source: &Source<'_>, workers: &Workers) -> Result<(), String> {
        let next = AtomicUsize::new(0);
        let panicked: Mutex<Option<String>> = Mutex::default();
        let work = |_worker: usize| {
            while let Some(cells) = self.shards.get(next.fetch_add(1, Ordering::Relaxed)) {
                let load = catch_unwind(AssertUnwindSafe(|| cells.iter().for_each(|cell| cell.load(source))));
                if let Err(panic) = load {
                    lock(&panicked).get_or_insert_with(|| crate::parallel::panic_message(panic.as_ref()));
                    next.store(self.shards.len(), Ordering::Relaxed);
                }
            }
        };
        workers.run(&work, &|| next.store(self.shards.len(), Ordering::Relaxed))?;
        panicked.into_inner().unwrap_or_else(|p| p.into_inner()).map_or(Ok(()), Err)
    }

    /// Number of transactions.
    pub(crate) fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.ends.len()).sum()
    }

    /// Transaction `index`'s declaration.
    pub(crate) fn decl(&self, index: usize) -> Decl<'_> {
        let (chunk, at) = (&self.chunks[index >> self.chunk_bits], index & ((1 << self.chunk_bits) - 1));
        let start = if at == 0 { 0 } else { chunk.ends[at - 1] as usize };
        Decl { keys: &chunk.keys[start..chunk.ends[at] as usize], beneficiary: chunk.beneficiary[at] }
    }

    /// Asks the processor to bring `decl`'s cells into its cache, so that
    /// their misses overlap rather than follow one another.
    pub(crate) fn prefetch(&self, decl: Decl<'_>) {
        decl.keys.iter().for_each(|key| prefetch(self.cell(key.cell())));
    }

    /// The cell numbered `id`.
    pub(crate) fn cell(&self, id: CellId) -> &Cell {
        &self.shards[(id & (SHARDS as u32 - 1)) as usize][(id >> SHARD_BITS) as usize]
    }

    /// One more than the largest cell number.
    fn cell_space(&self) -> u32 {
        (self.shards.iter().map(Vec::len).max().unwrap_or(0) as u32) << SHARD_BITS
    }

    /// Sets every slot cell of `address` to zero: a committed transaction
    /// cleared its account's storage.
    ///
    /// # Safety
    /// The caller runs that transaction, which writes the account's cell.
    /// The slots are beyond its declaration, yet no other transaction
    /// touches them meanwhile: touching a slot of an account means running
    /// its code, so reading the account first, which orders the two. (A
    /// hint may name a slot without its account, the account being read
    /// outside it: under hints such a slot's cell is not used at all, see
    /// `parallel::slot_ordered`.)
    pub(crate) unsafe fn clear_storage(&self, address: &Address, source: &Source<'_>) {
        lock(&self.cleared).push(*address);
        let slots = self.slots.get_or_init(|| {
            let mut slots: HashMap<Address, Vec<CellId>> = HashMap::new();
            for (shard, cells) in self.shards.iter().enumerate() {
                for (at, cell) in cells.iter().enumerate() {
                    if let StateKey::Storage(a, _) = cell.key {
                        slots.entry(a).or_default().push(((at as u32) << SHARD_BITS) | shard as u32);
                    }
                }
            }
            slots
        });
        for &id in slots.get(address).into_iter().flatten() {
            // SAFETY: passed on from the caller.
            unsafe { self.cell(id).clear(source) };
        }
    }

    /// How `decl` declares `key`, if it does: a scan of a few tags (or a
    /// search among many), and one look at the cell that matches.
    pub(crate) fn find(&self, decl: Decl<'_>, key: &StateKey) -> Option<DeclKey> {
        let tag = key.tag();
        let keys = decl.keys;
        let from = if keys.len() <= SCAN { 0 } else { keys.partition_point(|k| k.tag < tag) };
        keys[from..]
            .iter()
            .copied()
            .take_while(|k| keys.len() <= SCAN || k.tag == tag)
            .find(|k| k.tag == tag && self.cell(k.cell()).key == *key)
    }

    /// Every declaration as the scheduler takes it, and a bound on the keys
    /// they name. If any transaction declares the beneficiary, the fees
    /// are ordered too (see [`Schedulable`]).
    pub(crate) fn schedulable(&self) -> (Vec<Schedulable<'_>>, usize) {
        let fees = self.beneficiary.is_some();
        let cells = self.cell_space();
        let mut folders = 0;
        let sets = (0..self.len())
            .map(|i| {
                let decl = self.decl(i);
                let fee = fees.then(|| {
                    if decl.beneficiary {
                        folders += 1;
                        Fee::Folds(folders - 1)
                    } else {
                        Fee::Owes(folders)
                    }
                });
                Schedulable { keys: decl.keys, fee, cells }
            })
            .collect();
        (sets, cells as usize + folders as usize + 2)
    }

    /// Drops the cells, giving the buffers back to `spare` for the next
    /// block or segment if one is given: the walk of a repaired segment
    /// has the changes, not the cells.
    pub(crate) fn recycle(self, spare: Option<&mut Spare>) {
        let Some(spare) = spare else { return };
        let Self { mut shards, chunks, .. } = self;
        for cells in &mut shards {
            cells.clear();
        }
        spare.keep(shards, chunks);
    }

    /// Moves the written cells' final values into `changes` (which hold
    /// the block's earlier segments'), in the order of the map's buckets.
    /// The buffers go back to `spare` for the next block or segment if one
    /// is given. Otherwise every buffer is freed
    /// before the changes grow, as a growing table is held twice (the old
    /// and the new): the written values are first copied out, each shard
    /// freed as soon as it is.
    pub(crate) fn into_changes(self, changes: &mut StateChanges, spare: Option<&mut Spare>) {
        let Self { mut shards, chunks, cleared, .. } = self;
        // Slots of a cleared account that earlier segments wrote, and that
        // no cell of this one holds, end as zero too. (Those cells hold
        // are zero or rewritten since, and come next.)
        let cleared: hashbrown::HashSet<Address> =
            cleared.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().collect();
        if !cleared.is_empty() {
            for (key, value) in changes.iter_mut() {
                if matches!(key, StateKey::Storage(a, _) if cleared.contains(a)) {
                    *value = Value::Storage(U256::ZERO);
                }
            }
        }
        // Reserved once per segment (with room for the beneficiary, which
        // settling the fees may add), for the keys not there yet.
        let (mut written, mut new) = (0, 0);
        for slot in shards.iter_mut().flatten().map(|cell| cell.slot.get_mut()).filter(|slot| slot.written) {
            written += 1;
            new += usize::from(!slot.changed_before);
        }
        let Some(spare) = spare else {
            drop(chunks);
            let mut values = Vec::with_capacity(written);
            for cells in shards {
                values.extend(cells.into_iter().filter_map(Cell::into_change));
            }
            changes.reserve(new + 1);
            extend_in_table_order(changes, &mut values, &mut Vec::new());
            return;
        };
        changes.reserve(new + 1);
        let (mut values, mut order) = (core::mem::take(&mut spare.values), core::mem::take(&mut spare.order));
        for cells in &mut shards {
            values.extend(cells.drain(..).filter_map(Cell::into_change));
        }
        extend_in_table_order(changes, &mut values, &mut order);
        (spare.values, spare.order) = (values, order);
        spare.keep(shards, chunks);
    }
}

/// Moves `values` into `changes`, which has room for them all (so that its
/// table does not grow meanwhile), in the order of the table's buckets
/// rather than the cells': a segment's change map is far larger than the
/// caches, and inserted in cell order each insert waits for its bucket to
/// come from memory. The values are sorted by bucket through 8-byte keys
/// (`order`, a buffer), then moved in that order, each asked of memory a
/// few inserts ahead. (Measured on a 100,000-transfer block: 4.1 ms of
/// inserts in bucket order against 11–12 ms in cell order.)
fn extend_in_table_order(changes: &mut StateChanges, values: &mut Vec<(StateKey, Value)>, order: &mut Vec<u64>) {
    /// How many inserts ahead a value is prefetched.
    const AHEAD: usize = 8;
    // hashbrown starts probing at the hash modulo its buckets, a power of
    // two of which it fills 7/8; the order need only be close. A segment
    // has fewer than 2^31 cells, and the table fewer than 2^32 buckets.
    let buckets = ((changes.capacity() / 7 * 8).next_power_of_two() as u64).min(1 << 32);
    let hasher = changes.hasher();
    order.clear();
    order.extend(values.iter().zip(0u64..).map(|((key, _), at)| ((hasher.hash_one(key) & (buckets - 1)) << 32) | at));
    order.sort_unstable();
    let place = |entry: u64| (entry & u64::from(u32::MAX)) as usize;
    for (i, &entry) in order.iter().enumerate() {
        if let Some(&ahead) = order.get(i + AHEAD) {
            prefetch(&values[place(ahead)]);
        }
        let (key, value) = core::mem::replace(&mut values[place(entry)], EMPTY);
        changes.insert(key, value);
    }
    values.clear();
}

/// What a moved value leaves in its place.
const EMPTY: (StateKey, Value) = (StateKey::Account(Address::ZERO), Value::Storage(U256::ZERO));

/// A hint to the processor to load `value`'s first two cache lines.
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let at = (value as *const T).cast::<i8>();
        // SAFETY: a prefetch has no effect on memory or on the program's
        // behaviour, whatever the address.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(at);
            _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(64));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// The shard a key of hash `hash` is interned in.
fn shard_of(hash: u64) -> usize {
    (hash >> (64 - SHARD_BITS)) as usize
}

/// Lists the keys of `txs` in `chunk` and interns them in `shards`, taking
/// each shard's lock once.
fn intern(
    chunk: &mut Chunk,
    txs: &[Transaction],
    shards: &[Mutex<Shard>],
    hasher: &DefaultHashBuilder,
    beneficiary: &StateKey,
) {
    chunk.clear();
    // At most every declared key and two implied ones per transaction:
    // grown by doubling, the lists would hold up to twice that.
    let keys = txs.iter().map(|tx| tx.access.len() + 2).sum();
    chunk.keys.reserve(keys);
    chunk.pending.reserve(keys);
    let Chunk { keys, ends, beneficiary: declares_beneficiary, pending, order } = chunk;
    for tx in txs {
        let start = keys.len();
        let mut declares = false;
        tx.for_each_key(|key, written| {
            declares |= key == *beneficiary;
            pending.push((hasher.hash_one(key), key, keys.len() as u32));
            keys.push(DeclKey::new(0, written, &key));
        });
        declares_beneficiary.push(declares);
        if keys.len() - start > SCAN {
            // By tag, a key's write before its reads, so that a search finds
            // the strongest first. Positions in `pending` follow the keys.
            let mut order: Vec<(DeclKey, u32)> =
                keys[start..].iter().zip(start as u32..).map(|(k, at)| (*k, at)).collect();
            order.sort_by_key(|(k, _)| (k.tag, !k.written()));
            let mut moved = vec![0u32; order.len()];
            for (to, &(key, from)) in order.iter().enumerate() {
                keys[start + to] = key;
                moved[(from as usize) - start] = (start + to) as u32;
            }
            for entry in &mut pending[start..] {
                entry.2 = moved[entry.2 as usize - start];
            }
        }
        ends.push(keys.len() as u32);
    }
    // Shard by shard, each locked once per chunk rather than once per key:
    // the entries' positions grouped by shard (a counting sort, so the
    // entries themselves never move).
    let mut starts = [0u32; SHARDS + 1];
    for &(hash, ..) in pending.iter() {
        starts[shard_of(hash) + 1] += 1;
    }
    for i in 0..SHARDS {
        starts[i + 1] += starts[i];
    }
    let mut next = starts;
    order.clear();
    order.resize(pending.len(), 0);
    for (at, &(hash, ..)) in pending.iter().enumerate() {
        let slot = &mut next[shard_of(hash)];
        order[*slot as usize] = at as u32;
        *slot += 1;
    }
    for shard_index in 0..SHARDS {
        let run = &order[starts[shard_index] as usize..starts[shard_index + 1] as usize];
        if run.is_empty() {
            continue;
        }
        let mut shard = lock(&shards[shard_index]);
        let Shard { cells, table } = &mut *shard;
        for &(hash, key, at) in run.iter().map(|&i| &pending[i as usize]) {
            let entry = table.entry(hash, |&(h, i)| h == hash && cells[i as usize].key == key, |&(h, _)| h);
            let (_, i) = *entry
                .or_insert_with(|| {
                    cells.push(Cell::new(key));
                    (hash, (cells.len() - 1) as u32)
                })
                .get();
            let slot = &mut keys[at as usize];
            *slot = slot.with_cell((i << SHARD_BITS) | shard_index as u32);
        }
    }
}

/// The chunk length, as a power of two, for `txs` transactions on
/// `threads`: four chunks a thread, within [`MIN_CHUNK`] and [`CHUNK`].
fn chunk_bits(txs: usize, threads: usize) -> u32 {
    let wanted = txs.div_ceil(4 * threads.max(1)).clamp(MIN_CHUNK, CHUNK);
    wanted.next_power_of_two().trailing_zeros()
}

/// A declaration as the lock-graph builder reads it: its cells, and the
/// fee pseudo-keys numbered after them.
///
/// A transaction that declares the beneficiary folds every earlier fee into
/// its cell before it runs (`crate::beneficiary`), so it must wait for every
/// earlier transaction; no transaction needs to wait for it on account of
/// fees, as a later fee is folded later. With folders numbered in block
/// order, folder `k` writes the key `cells + 1 + k`, which every
/// transaction between folder `k - 1` and folder `k` reads: it waits for
/// exactly those, and through the key `cells`, which every folder writes,
/// for the folder before it and so for everything earlier.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedulable<'p> {
    keys: &'p [DeclKey],
    /// How it takes part in fee folding, when fees are ordered.
    fee: Option<Fee>,
    /// The cell space: pseudo-keys come after it.
    cells: u32,
}

/// A transaction's part in fee folding, by the number of folders before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fee {
    /// It owes its fee to folder `k`, the next one.
    Owes(u32),
    /// It is folder `k`.
    Folds(u32),
}

impl Declaration<u32> for Schedulable<'_> {
    fn access_count(&self) -> usize {
        self.keys.len()
            + match self.fee {
                None => 0,
                Some(Fee::Owes(_)) => 1,
                Some(Fee::Folds(_)) => 2,
            }
    }

    fn for_each_access(&self, mut access: impl FnMut(u32, bool)) {
        match self.fee {
            None => {}
            Some(Fee::Owes(k)) => access(self.cells + 1 + k, false),
            Some(Fee::Folds(k)) => {
                access(self.cells + 1 + k, true);
                access(self.cells, true);
            }
        }
        // A key's first mention is its strongest (see `Decl::keys`): for a
        // sorted declaration, its write comes before its reads too.
        self.keys.iter().for_each(|k| access(k.cell(), k.written()));
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Cells hold plain values, consistent even if a holder panicked.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
