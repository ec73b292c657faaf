//! The unit of state a transaction declares: an account or one storage slot.

use alloy_primitives::{Address, U256};
use core::fmt;

/// One piece of state. An account key covers balance, nonce and code; a
/// storage key one slot of one contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StateKey {
    /// An account: balance, nonce and code.
    Account(Address),
    /// One storage slot of a contract.
    Storage(Address, U256),
}

impl StateKey {
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
