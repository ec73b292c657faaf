//! A map keyed by storage slot, held densely: an account's [`Storage`]
//! (slot → value), and the slots of a block access list in lookup form.
//!
//! A state of millions of slots (a token with a balance for every user) is
//! most of a large block's base state, so the slots are held in one vector
//! of `(slot, value)` pairs (64 bytes each for storage) and found through a
//! hash table of their positions, 5 bytes a bucket. A map holding the pairs
//! in its own buckets takes a pair's size a bucket at between 44 and 88 %
//! load (about twice the pairs' size once a table has just doubled); this
//! takes the pairs and 5 to 11 bytes a slot for the index.
//!
//! Invariant (kept by every method here): `index` holds each position of
//! `entries` exactly once, hashed by the slot at that position. A removal
//! moves the last pair into the hole (`swap_remove`) and points its index
//! entry there, so positions stay dense.

use alloy_primitives::U256;
use core::fmt;
use core::hash::BuildHasher;
use hashbrown::hash_table::{Entry, VacantEntry};
use hashbrown::{DefaultHashBuilder, HashTable};

/// An account's storage. A slot that is absent reads as zero.
pub type Storage = SlotMap<U256>;

/// Slots and a value for each, in no particular order.
#[derive(Clone)]
pub struct SlotMap<V> {
    /// The slots and their values, in no particular order.
    entries: Vec<(U256, V)>,
    /// Each position in `entries`, hashed by its slot.
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl<V> Default for SlotMap<V> {
    fn default() -> Self {
        Self { entries: Vec::new(), index: HashTable::new(), hasher: DefaultHashBuilder::default() }
    }
}

impl<V> SlotMap<V> {
    /// No slots.
    pub fn new() -> Self {
        Self::default()
    }

    /// No slots, with room for `capacity`.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { entries: Vec::with_capacity(capacity), index: HashTable::with_capacity(capacity), ..Self::default() }
    }

    /// How many slots are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no slot is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value held at `slot`, if any.
    pub fn get(&self, slot: &U256) -> Option<&V> {
        let hash = self.hasher.hash_one(slot);
        let entries = &self.entries;
        self.index.find(hash, |&at| entries[at as usize].0 == *slot).map(|&at| &entries[at as usize].1)
    }

    /// Whether `slot` is held.
    pub fn contains(&self, slot: &U256) -> bool {
        self.get(slot).is_some()
    }

    /// Sets `slot` to `value`; returns the value it held, if any.
    pub fn insert(&mut self, slot: U256, value: V) -> Option<V> {
        match Self::position(&mut self.index, &self.entries, &self.hasher, slot) {
            Ok(at) => Some(core::mem::replace(&mut self.entries[at].1, value)),
            Err(hole) => {
                Self::add(hole, &mut self.entries, slot, value);
                None
            }
        }
    }

    /// The value at `slot`, to change in place; a slot that was not held is
    /// added with the default value (zero, for storage).
    pub fn value_mut(&mut self, slot: U256) -> &mut V
    where
        V: Default,
    {
        let at = match Self::position(&mut self.index, &self.entries, &self.hasher, slot) {
            Ok(at) => at,
            Err(hole) => Self::add(hole, &mut self.entries, slot, V::default()),
        };
        &mut self.entries[at].1
    }

    /// Removes `slot`; returns the value it held, if any.
    pub fn remove(&mut self, slot: &U256) -> Option<V> {
        let hash = self.hasher.hash_one(slot);
        let entries = &self.entries;
        let found = self.index.find_entry(hash, |&at| entries[at as usize].0 == *slot).ok()?;
        let at = found.remove().0 as usize;
        let last = self.entries.len() - 1;
        if at != last {
            // The last pair moves into the hole: its index entry follows it.
            let moved = self.hasher.hash_one(self.entries[last].0);
            let entry = self.index.find_mut(moved, |&p| p as usize == last).expect("every position is indexed");
            *entry = position(at);
        }
        Some(self.entries.swap_remove(at).1)
    }

    /// Removes every slot, keeping the room they took.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
    }

    /// Every slot and its value, in no particular order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&U256, &V)> + Clone {
        self.entries.iter().map(|(slot, value)| (slot, value))
    }

    /// Every value, in no particular order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &V> + Clone {
        self.entries.iter().map(|(_, value)| value)
    }

    /// Gives back the room no slot uses.
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.shrink_to_fit(|&at| hasher.hash_one(entries[at as usize].0));
    }

    /// The position of `slot` in `entries`, or the index's hole for it.
    fn position<'i>(
        index: &'i mut HashTable<u32>,
        entries: &[(U256, V)],
        hasher: &DefaultHashBuilder,
        slot: U256,
    ) -> Result<usize, VacantEntry<'i, u32>> {
        match index.entry(
            hasher.hash_one(slot),
            |&at| entries[at as usize].0 == slot,
            |&at| hasher.hash_one(entries[at as usize].0),
        ) {
            Entry::Occupied(found) => Ok(*found.get() as usize),
            Entry::Vacant(hole) => Err(hole),
        }
    }

    /// Adds `slot`, holding `value`, at the end of `entries` and at the
    /// index's `hole` for it; returns its position.
    fn add(hole: VacantEntry<'_, u32>, entries: &mut Vec<(U256, V)>, slot: U256, value: V) -> usize {
        let at = entries.len();
        hole.insert(position(at));
        entries.push((slot, value));
        at
    }
}

/// A position in `entries` as the index holds it. Four billion slots would
/// take 256 GiB of pairs before this could fail.
fn position(at: usize) -> u32 {
    u32::try_from(at).expect("an account's slots fit the index")
}

impl<V: PartialEq> PartialEq for SlotMap<V> {
    /// The same slots with the same values, in whatever order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(slot, value)| other.get(slot) == Some(value))
    }
}

impl<V: Eq> Eq for SlotMap<V> {}

impl<V: fmt::Debug> fmt::Debug for SlotMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V> Extend<(U256, V)> for SlotMap<V> {
    fn extend<I: IntoIterator<Item = (U256, V)>>(&mut self, slots: I) {
        let slots = slots.into_iter();
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.reserve(slots.size_hint().0, |&at| hasher.hash_one(entries[at as usize].0));
        self.entries.reserve(slots.size_hint().0);
        for (slot, value) in slots {
            self.insert(slot, value);
        }
    }
}

impl<V> FromIterator<(U256, V)> for SlotMap<V> {
    fn from_iter<I: IntoIterator<Item = (U256, V)>>(slots: I) -> Self {
        let mut storage = Self::new();
        storage.extend(slots);
        storage
    }
}

impl<'a, V> IntoIterator for &'a SlotMap<V> {
    type Item = (&'a U256, &'a V);
    type IntoIter = core::iter::Map<core::slice::Iter<'a, (U256, V)>, fn(&'a (U256, V)) -> (&'a U256, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(slot, value)| (slot, value))
    }
}

impl<V> IntoIterator for SlotMap<V> {
    type Item = (U256, V);
    type IntoIter = std::vec::IntoIter<(U256, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// One change to a map: a slot (from a few, so that they repeat) set to
    /// a value, removed, added to in place, or everything cleared.
    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u64),
        Remove(u8),
        Add(u8, u64),
        Clear,
        Shrink,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<u8>(), any::<u64>()).prop_map(|(s, v)| Op::Insert(s, v)),
            4 => any::<u8>().prop_map(Op::Remove),
            2 => (any::<u8>(), any::<u64>()).prop_map(|(s, v)| Op::Add(s, v)),
            1 => Just(Op::Clear),
            1 => Just(Op::Shrink),
        ]
    }

    /// A slot far from the small ones, as a mapping's are.
    fn slot(s: u8) -> U256 {
        if s.is_multiple_of(2) { U256::from(s) } else { U256::from(s) << 200 }
    }

    proptest! {
        /// Any sequence of changes leaves the map holding what an ordered
        /// map given the same changes holds, and each call answers as the
        /// ordered map's does.
        #[test]
        fn a_slot_map_holds_what_a_map_given_the_same_changes_holds(ops in prop::collection::vec(op(), 0..400)) {
            let (mut map, mut model) = (Storage::new(), BTreeMap::new());
            for op in ops {
                match op {
                    Op::Insert(s, v) => prop_assert_eq!(map.insert(slot(s), U256::from(v)), model.insert(slot(s), U256::from(v))),
                    Op::Remove(s) => prop_assert_eq!(map.remove(&slot(s)), model.remove(&slot(s))),
                    Op::Add(s, v) => {
                        *map.value_mut(slot(s)) += U256::from(v);
                        *model.entry(slot(s)).or_default() += U256::from(v);
                    }
                    Op::Clear => {
                        map.clear();
                        model.clear();
                    }
                    Op::Shrink => map.shrink_to_fit(),
                }
                prop_assert_eq!(map.len(), model.len());
            }
            for s in 0..=u8::MAX {
                prop_assert_eq!(map.get(&slot(s)), model.get(&slot(s)));
                prop_assert_eq!(map.contains(&slot(s)), model.contains_key(&slot(s)));
            }
            let held: BTreeMap<U256, U256> = map.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(&held, &model);
            let rebuilt: Storage = model.iter().rev().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(&rebuilt, &map);
            prop_assert_eq!(map.clone().into_iter().collect::<BTreeMap<_, _>>(), model);
        }
    }

    #[test]
    fn maps_with_the_same_slots_and_values_are_equal_whatever_their_order() {
        let a: Storage = [(U256::from(1), U256::from(2)), (U256::from(3), U256::from(4))].into_iter().collect();
        let b: Storage = [(U256::from(3), U256::from(4)), (U256::from(1), U256::from(2))].into_iter().collect();
        let c: Storage = [(U256::from(3), U256::from(4)), (U256::from(1), U256::from(5))].into_iter().collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, Storage::new());
        assert_eq!(format!("{:?}", Storage::from_iter([(U256::from(1), U256::from(2))])), "{1: 2}");
    }
}
