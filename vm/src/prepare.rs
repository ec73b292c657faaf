//! Preparing a block's segment for parallel execution: every key any transaction may
//! touch becomes one [`Cell`], and every declaration a short list of cells.
//!
//! Preparation runs on the executor's whole pool. Transactions are taken in
//! chunks; each key is hashed once and interned in one of [`SHARDS`] shards
//! (picked by the top bits of the hash, each behind its own lock, so threads
//! rarely meet). A new cell is filled with the key's value on the spot (from
//! the changes of the block's earlier segments, else from the base state),
//! so the cache misses of looking it up are paid here, in parallel, rather
//! than one by one on the execution path.
//!
//! After preparation nothing is hashed again: the database boundary finds a
//! key in the transaction's own declaration (a handful of cells, each with a
//! cheap tag of its key), and the scheduler's keys are the cell numbers.
//!
//! Cell numbers depend on how threads interleaved, so they differ from run
//! to run; nothing observable depends on them (the lock graph depends only
//! on which transactions share a key).

use crate::key::StateKey;
use crate::state::{AccountValue, State, StateChanges, Value};
use crate::tx::Transaction;
use alloy_primitives::{Address, U256};
use core::hash::BuildHasher;
use defivm_scheduler::Declaration;
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use rayon::prelude::*;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// How many shards the cells are interned in; a power of two.
const SHARDS: usize = 64;
const SHARD_BITS: u32 = SHARDS.trailing_zeros();
/// The most transactions prepared by one task; a smaller block is cut in
/// smaller chunks, a few per thread, so that every thread takes part.
const CHUNK: usize = 2048;
/// The fewest, below which one more task costs more than it shares.
const MIN_CHUNK: usize = 32;
/// The scheduler key that orders the transactions declaring the
/// beneficiary (each folds fees into its cell), and below it one key per
/// stretch of fees each of them folds (see [`Schedulable`]). Cell numbers
/// stay below 2^31 (the top bit of a [`DeclKey`] is its write flag) as long
/// as no shard holds 2^25 cells (two billion keys in all, hundreds of
/// gigabytes of cells), and a segment holds fewer than 2^31 transactions,
/// so none of them meet.
const FOLDS: u32 = u32::MAX;

/// A cell's number: its shard in the low bits, its place in the shard above.
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

/// A key's value during the segment.
#[derive(Debug)]
pub(crate) struct Cell {
    pub(crate) key: StateKey,
    slot: Mutex<Slot>,
}

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
    fn new(key: StateKey, source: &Source<'_>) -> Self {
        let (value, changed_before) = Value::after(source.changes, source.base, &key);
        Self { key, slot: Mutex::new(Slot { value: value.into(), written: false, changed_before }) }
    }

    /// The current value.
    pub(crate) fn read(&self) -> Value {
        match &lock(&self.slot).value {
            Held::Account(account) => Value::Account(account.as_deref().cloned()),
            Held::Created(account) => Value::Created((**account).clone()),
            Held::Storage(value) => Value::Storage(*value),
        }
    }

    /// Sets the value, as [`Value::overwrite`] has it: an account whose
    /// storage the block cleared stays cleared.
    pub(crate) fn write(&self, value: Value) {
        let mut slot = lock(&self.slot);
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
    fn clear(&self) {
        let mut slot = lock(&self.slot);
        slot.value = Held::Storage(U256::ZERO);
        slot.written |= slot.changed_before;
    }

    fn slot_mut(&mut self) -> &mut Slot {
        self.slot.get_mut().unwrap_or_else(|p| p.into_inner())
    }

    /// The final value, if the segment wrote the key.
    pub(crate) fn into_change(self) -> Option<(StateKey, Value)> {
        let slot = self.slot.into_inner().unwrap_or_else(|p| p.into_inner());
        slot.written.then(|| (self.key, slot.value.into()))
    }
}

/// One transaction's declaration over cells.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decl<'p> {
    /// Each key once, as a write if declared both ways.
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
}

impl Chunk {
    fn clear(&mut self) {
        self.keys.clear();
        self.ends.clear();
        self.beneficiary.clear();
    }
}

/// Buffers kept from one segment or block to the next: fresh memory costs a
/// page fault and a clear per 4 KiB, more than interning the keys on it.
#[derive(Debug, Default)]
pub(crate) struct Spare {
    shards: Vec<Shard>,
    tables: Vec<HashTable<(u64, u32)>>,
    chunks: Vec<Chunk>,
}

/// Where the cells take their values from: the state a block runs on, and
/// what the block's earlier segments changed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) base: &'a State,
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
    /// Interns every declared and implied key of `txs`, loading each from
    /// `source`, in buffers taken from `spare`. Runs on the current rayon pool.
    pub(crate) fn new(txs: &[Transaction], source: &Source<'_>, beneficiary: Address, spare: &mut Spare) -> Self {
        let hasher = DefaultHashBuilder::default();
        spare.shards.resize_with(SHARDS, Shard::default);
        let shards: Vec<Mutex<Shard>> = spare.shards.drain(..).map(Mutex::new).collect();
        let shard_of = |hash: u64| (hash >> (64 - SHARD_BITS)) as usize;
        let beneficiary_key = StateKey::Account(beneficiary);
        let chunk_bits = chunk_bits(txs.len(), rayon::current_num_threads());
        let chunk_len = 1 << chunk_bits;
        spare.chunks.resize_with(txs.len().div_ceil(chunk_len), Chunk::default);
        let mut chunks = core::mem::take(&mut spare.chunks);
        chunks.truncate(txs.len().div_ceil(chunk_len));
        chunks.par_iter_mut().zip(txs.par_chunks(chunk_len)).for_each(|(chunk, txs)| {
            chunk.clear();
            // At most every declared key and two implied ones per
            // transaction: grown by doubling, the list would hold up to
            // twice that.
            let keys = txs.iter().map(|tx| tx.access.len() + 2).sum();
            chunk.keys.reserve(keys);
            let mut scratch: Vec<(StateKey, bool)> = Vec::new();
            // Each key with its hash and its place in `chunk.keys`, whose
            // cell is filled in once the keys are interned.
            let mut pending: Vec<(u64, StateKey, u32)> = Vec::with_capacity(keys);
            for tx in txs {
                tx.declared_keys(&mut scratch);
                chunk.beneficiary.push(scratch.iter().any(|(k, _)| *k == beneficiary_key));
                for &(key, written) in &scratch {
                    pending.push((hasher.hash_one(key), key, chunk.keys.len() as u32));
                    chunk.keys.push(DeclKey::new(0, written, &key));
                }
                chunk.ends.push(chunk.keys.len() as u32);
            }
            // Shard by shard, each locked once per chunk rather than once
            // per key.
            pending.sort_unstable_by_key(|&(hash, ..)| shard_of(hash));
            for run in pending.chunk_by(|a, b| shard_of(a.0) == shard_of(b.0)) {
                let shard_index = shard_of(run[0].0);
                let mut shard = lock(&shards[shard_index]);
                let Shard { cells, table } = &mut *shard;
                for &(hash, key, at) in run {
                    let entry = table.entry(hash, |&(h, i)| h == hash && cells[i as usize].key == key, |&(h, _)| h);
                    let (_, i) = *entry
                        .or_insert_with(|| {
                            cells.push(Cell::new(key, source));
                            (hash, (cells.len() - 1) as u32)
                        })
                        .get();
                    let slot = &mut chunk.keys[at as usize];
                    *slot = slot.with_cell((i << SHARD_BITS) | shard_index as u32);
                }
            }
        });
        let mut shards: Vec<Shard> =
            shards.into_iter().map(|s| s.into_inner().unwrap_or_else(|p| p.into_inner())).collect();
        let beneficiary = {
            let hash = hasher.hash_one(beneficiary_key);
            let shard_index = (hash >> (64 - SHARD_BITS)) as usize;
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
        Self { shards: cells, chunks, chunk_bits, beneficiary, slots: OnceLock::new(), cleared: Mutex::default() }
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

    /// The cell numbered `id`.
    pub(crate) fn cell(&self, id: CellId) -> &Cell {
        &self.shards[(id & (SHARDS as u32 - 1)) as usize][(id >> SHARD_BITS) as usize]
    }

    /// Sets every slot cell of `address` to zero: a committed transaction
    /// cleared its account's storage. Safe while other transactions run:
    /// a transaction that touches a slot of an account runs code in it, so
    /// it reads the account too, and it is ordered with the one that wrote
    /// it.
    pub(crate) fn clear_storage(&self, address: &Address) {
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
            self.cell(id).clear();
        }
    }

    /// How `decl` declares `key`, if it does: a scan of a few tags, and one
    /// look at the cell that matches.
    pub(crate) fn find(&self, decl: Decl<'_>, key: &StateKey) -> Option<DeclKey> {
        let tag = key.tag();
        decl.keys.iter().copied().find(|k| k.tag == tag && self.cell(k.cell()).key == *key)
    }

    /// Every declaration as the scheduler takes it. If any transaction
    /// declares the beneficiary, the fees are ordered too (see
    /// [`Schedulable`]).
    pub(crate) fn schedulable(&self) -> Vec<Schedulable<'_>> {
        let fees = self.beneficiary.is_some();
        let mut folders = 0;
        (0..self.len())
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
                Schedulable { keys: decl.keys, fee }
            })
            .collect()
    }

    /// Moves the written cells' final values into `changes` (which hold
    /// the block's earlier segments'). The buffers go back to `spare` for
    /// the next block or segment if one is given, and the values move shard
    /// by shard with no copy in between. Otherwise every buffer is freed
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
        for slot in shards.iter_mut().flatten().map(Cell::slot_mut).filter(|slot| slot.written) {
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
            changes.extend(values);
            return;
        };
        changes.reserve(new + 1);
        for cells in &mut shards {
            changes.extend(cells.drain(..).filter_map(Cell::into_change));
        }
        let tables = spare.tables.drain(..);
        spare.shards.extend(shards.into_iter().zip(tables).map(|(cells, table)| Shard { cells, table }));
        spare.chunks = chunks;
    }
}

/// The chunk length, as a power of two, for `txs` transactions on
/// `threads`: four chunks a thread, within [`MIN_CHUNK`] and [`CHUNK`].
fn chunk_bits(txs: usize, threads: usize) -> u32 {
    let wanted = txs.div_ceil(4 * threads.max(1)).clamp(MIN_CHUNK, CHUNK);
    wanted.next_power_of_two().trailing_zeros()
}

/// A declaration as the lock-graph builder reads it.
///
/// A transaction that declares the beneficiary folds every earlier fee into
/// its cell before it runs (`crate::beneficiary`), so it must wait for every
/// earlier transaction; no transaction needs to wait for it on account of
/// fees, as a later fee is folded later. With folders numbered in block
/// order, folder `k` writes the key `FOLDS - 1 - k`, which every transaction
/// between folder `k - 1` and folder `k` reads: it waits for exactly those,
/// and through the key `FOLDS`, which every folder writes, for the folder
/// before it and so for everything earlier.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedulable<'p> {
    keys: &'p [DeclKey],
    /// How it takes part in fee folding, when fees are ordered.
    fee: Option<Fee>,
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
        // Each key is listed once, so the order between reads and writes
        // is free except for the pseudo-keys, which are not among them.
        self.keys.iter().for_each(|k| access(k.cell(), k.written()));
        match self.fee {
            None => {}
            Some(Fee::Owes(k)) => access(FOLDS - 1 - k, false),
            Some(Fee::Folds(k)) => {
                access(FOLDS - 1 - k, true);
                access(FOLDS, true);
            }
        }
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Cells hold plain values, consistent even if a holder panicked.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
