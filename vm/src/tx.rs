//! Transactions and what they declare.
//!
//! Two lists of keys travel with an Ethereum transaction, and they must not
//! be confused. Its **declared access** ([`Transaction::access`]) is what
//! defivm schedules and enforces: the keys it may read and write. Its
//! **EIP-2930 access list** ([`Envelope::access_list`]) is part of the
//! signed transaction: it pre-warms keys, which changes the gas it pays,
//! and revm gets it exactly as signed. Neither is derived from the other.

use crate::error::VmError;
use crate::key::StateKey;
use alloy_primitives::{Address, B256, Bytes, U256};
use defivm_scheduler::{AccessSet, Limits, ScheduleError};
use revm::context_interface::transaction::{AccessList, SignedAuthorization};

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

/// Ethereum's transaction types (EIP-2718).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TxType {
    /// Type 0: a gas price, signed with or without a chain id (EIP-155).
    #[default]
    Legacy,
    /// Type 1: a gas price and an access list (EIP-2930).
    Eip2930,
    /// Type 2: fee caps (EIP-1559) and an access list.
    Eip1559,
    /// Type 3: as type 2, with blobs (EIP-4844).
    Eip4844,
    /// Type 4: as type 2, with code delegations (EIP-7702).
    Eip7702,
}

impl TxType {
    /// The type's number, the first byte of a typed envelope.
    pub fn number(self) -> u8 {
        match self {
            TxType::Legacy => 0,
            TxType::Eip2930 => 1,
            TxType::Eip1559 => 2,
            TxType::Eip4844 => 3,
            TxType::Eip7702 => 4,
        }
    }

    /// The type numbered `number`, if there is one.
    pub fn from_number(number: u8) -> Option<Self> {
        Some(match number {
            0 => TxType::Legacy,
            1 => TxType::Eip2930,
            2 => TxType::Eip1559,
            3 => TxType::Eip4844,
            4 => TxType::Eip7702,
            _ => return None,
        })
    }
}

/// What an Ethereum transaction carries beyond the fields every
/// transaction has: its type and the fields that only some types have.
/// None of it is declared access.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The transaction type; it must agree with the [`Fee`] (a gas price for
    /// types 0 and 1, fee caps for the others).
    pub tx_type: TxType,
    /// The chain id it was signed for; `None` only for a legacy transaction
    /// signed before EIP-155.
    pub chain_id: Option<u64>,
    /// The EIP-2930 access list (types 1 to 4): keys warmed before
    /// execution. It changes gas, never what may be touched.
    pub access_list: AccessList,
    /// The blobs' versioned hashes (type 3).
    pub blob_hashes: Vec<B256>,
    /// The most wei per blob gas (type 3).
    pub max_fee_per_blob_gas: u128,
    /// Signed code delegations (type 4), whose authorities revm recovers.
    pub authorization_list: Vec<SignedAuthorization>,
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
    /// Ethereum's type-specific fields, for a transaction from a real
    /// chain. `None` for a transaction of defivm's own making: type 0 or 2
    /// by its fee, signed for the block's chain, with no access list. Boxed,
    /// as a large block holds millions of transactions that need none.
    pub envelope: Option<Box<Envelope>>,
}

impl Transaction {
    /// The transaction's Ethereum type.
    pub fn tx_type(&self) -> TxType {
        match (&self.envelope, self.fee) {
            (Some(envelope), _) => envelope.tx_type,
            (None, Fee::Legacy { .. }) => TxType::Legacy,
            (None, Fee::Dynamic { .. }) => TxType::Eip1559,
        }
    }

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

    /// Calls `access(key, written)` for every declared and implied key,
    /// writes before reads, so that the first time a key comes it comes as
    /// strongly as it is declared anywhere. Keys declared twice come twice;
    /// nothing is sorted or allocated: what the executors walk to find a
    /// transaction's keys on its hot path.
    pub fn for_each_key(&self, mut access: impl FnMut(StateKey, bool)) {
        access(StateKey::Account(self.from), true);
        match self.to {
            Some(to) if !self.value.is_zero() => access(StateKey::Account(to), true),
            Some(_) => {}
            None => access(StateKey::Account(self.from.create(self.nonce)), true),
        }
        self.access.writes().iter().for_each(|&k| access(k, true));
        self.access.reads().iter().for_each(|&k| access(k, false));
        if let Some(to) = self.to.filter(|_| self.value.is_zero()) {
            access(StateKey::Account(to), false);
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

/// Puts `order` (positions in `txs`) heaviest first by gas limit, keeping
/// block order among equals: a worker that takes a heavy transaction last
/// leaves the others idle.
pub(crate) fn heaviest_first(order: &mut [u32], txs: &[Transaction]) {
    order.sort_by_key(|&tx| core::cmp::Reverse(txs[tx as usize].gas_limit));
}

/// Rejects the first of `txs` (the first at position `offset` in its block)
/// whose declaration (as given, duplicates counted) is larger than `limits`
/// allow. Every executor checks this first (a stream's segment as it
/// arrives: `txs.rs`), so an oversized declaration fails the same way in
/// every mode.
pub(crate) fn check_declarations(txs: &[Transaction], offset: usize, limits: &Limits) -> Result<(), VmError> {
    let max = limits.max_keys_per_tx;
    match txs.iter().position(|tx| tx.access.len() > max) {
        Some(at) => {
            let (keys, index) = (txs[at].access.len(), offset + at);
            Err(ScheduleError::DeclarationTooLarge { tx: index, index, keys, max }.into())
        }
        None => Ok(()),
    }
}
