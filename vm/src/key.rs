//! The unit of state a transaction declares: an account or one storage slot.

use alloy_primitives::{Address, U256};
use core::fmt;
use core::hash::{Hash, Hasher};

/// One piece of state. An account key covers balance, nonce and code; a
/// storage key one slot of one contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StateKey {
    /// An account: balance, nonce and code.
    Account(Address),
    /// One storage slot of a contract.
    Storage(Address, U256),
}

impl StateKey {
    /// A cheap 32-bit mix of the key (a few multiplies, no full hash):
    /// equal keys have equal tags; unequal ones rarely do. Looking a key up
    /// in a transaction's short declaration compares tags first.
    pub(crate) fn tag(&self) -> u32 {
        let (address, slot) = match self {
            StateKey::Account(a) => (a, None),
            StateKey::Storage(a, slot) => (a, Some(slot)),
        };
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&address[12..]);
        let mut x = u64::from_le_bytes(bytes);
        if let Some(slot) = slot {
            let [a, b, c, d] = *slot.as_limbs();
            x ^= (a ^ b.rotate_left(16) ^ c.rotate_left(32) ^ d.rotate_left(48) ^ 0x5bd1_e995)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
        (x.wrapping_mul(0xff51_afd7_ed55_8ccd) >> 32) as u32
    }

    /// The account this key belongs to.
    pub fn address(&self) -> Address {
        match *self {
            StateKey::Account(a) | StateKey::Storage(a, _) => a,
        }
    }
}

impl fmt::Display for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateKey::Account(a) => write!(f, "account {a}"),
            StateKey::Storage(a, slot) => write!(f, "storage {a} slot {slot:#x}"),
        }
    }
}

/// Word by word: the address as two words and a half, the slot as its four
/// limbs, each through the hasher (so a keyed hasher stays keyed), with no
/// length prefixes. The derived hash writes byte slices, which costs several
/// times as much, and the executors hash keys on every state access.
impl Hash for StateKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (address, slot) = match self {
            StateKey::Account(a) => (a, None),
            StateKey::Storage(a, slot) => (a, Some(slot)),
        };
        let bytes = address.as_slice();
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        state.write_u64(word(0));
        state.write_u64(word(8));
        state.write_u32(u32::from_le_bytes(bytes[16..20].try_into().unwrap_or_default()));
        if let Some(slot) = slot {
            slot.as_limbs().iter().for_each(|&limb| state.write_u64(limb));
        }
    }
}

/// How a key was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessKind {
    /// Read, without being declared at all.
    Read,
    /// Written, without being declared as a write.
    Write,
}

impl fmt::Display for AccessKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccessKind::Read => "read",
            AccessKind::Write => "write",
        })
    }
}
