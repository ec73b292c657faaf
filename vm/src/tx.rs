//! Transactions and what they declare.

use crate::error::VmError;
use crate::key::StateKey;
use alloy_primitives::{Address, Bytes, U256};
use defivm_scheduler::{AccessSet, Limits, ScheduleError};

/// What a transaction pays per unit of gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fee {
    /// A legacy (type 0) gas price.
    Legacy {
        /// Wei per gas.
        gas_price: u128,
    },
    /// EIP-1559 (type 2) fee caps.
    Dynamic {
        /// The most wei per gas, base fee included.
        max_fee_per_gas: u128,
        /// The most wei per gas above the base fee, paid to the beneficiary.
        max_priority_fee_per_gas: u128,
    },
}

/// A transaction and its declared access.
///
/// Implied keys need not be declared: the sender's account (written: nonce
/// and gas), the callee's account (read for its code, written when value
/// moves) and a created contract's account (written). See
/// [`Transaction::implied_access`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The sender.
    pub from: Address,
    /// The callee, or `None` to create a contract from `input`.
    pub to: Option<Address>,
    /// Wei sent along.
    pub value: U256,
    /// Calldata, or init code for a creation.
    pub input: Bytes,
    /// The gas limit.
    pub gas_limit: u64,
    /// The fee the sender offers.
    pub fee: Fee,
    /// The sender's nonce.
    pub nonce: u64,
    /// The keys the transaction reads and writes, beyond the implied ones.
    pub access: AccessSet<StateKey>,
}

impl Transaction {
    /// The address a creation deploys to.
    pub fn created_address(&self) -> Option<Address> {
        self.to.is_none().then(|| self.from.create(self.nonce))
    }

    /// The keys every transaction of this shape touches, which the user
    /// never has to list.
    pub fn implied_access(&self) -> AccessSet<StateKey> {
        let mut implied = AccessSet::default();
        self.implied_access_each(|key, written| {
            if written {
                implied.write(key);
            } else {
                implied.read(key);
            }
        });
        implied
    }

    /// Calls `access(key, written)` for each implied key, without
    /// allocating.
    pub fn implied_access_each(&self, mut access: impl FnMut(StateKey, bool)) {
        access(StateKey::Account(self.from), true);
        match self.to {
            Some(to) => access(StateKey::Account(to), !self.value.is_zero()),
            None => access(StateKey::Account(self.from.create(self.nonce)), true),
        }
    }

    /// Declared plus implied access as one list in `keys` (cleared first):
    /// each key once, sorted, with whether it may be written (a key
    /// declared both ways may). What every executor enforces; it allocates
    /// only to grow `keys`.
    pub fn declared_keys(&self, keys: &mut Vec<(StateKey, bool)>) {
        keys.clear();
        keys.extend(self.access.writes().iter().map(|&k| (k, true)));
        keys.extend(self.access.reads().iter().map(|&k| (k, false)));
        self.implied_access_each(|k, written| keys.push((k, written)));
        // By key, writes first, so a key declared both ways keeps its write.
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        keys.dedup_by_key(|entry| entry.0);
    }

    /// Declared plus implied access: everything the transaction may touch.
    pub fn full_access(&self) -> AccessSet<StateKey> {
        let implied = self.implied_access();
        let reads = self.access.reads().iter().chain(implied.reads()).copied().collect();
        let writes = self.access.writes().iter().chain(implied.writes()).copied().collect();
        AccessSet::new(reads, writes)
    }
}

/// Rejects the first transaction whose declaration (as given, duplicates
/// counted) is larger than `limits` allow. Every executor checks this first,
/// so an oversized declaration fails the same way in every mode.
pub(crate) fn check_declarations(txs: &[Transaction], limits: &Limits) -> Result<(), VmError> {
    let max = limits.max_keys_per_tx;
    match txs.iter().position(|tx| tx.access.len() > max) {
        Some(index) => {
            let keys = txs[index].access.len();
            Err(ScheduleError::DeclarationTooLarge { tx: index, index, keys, max }.into())
        }
        None => Ok(()),
    }
}
