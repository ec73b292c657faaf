//! A contract call with its declared access: what every builder returns.

use alloy_primitives::{Address, Bytes, U256};
use defivm_vm::{AccessSet, Fee, StateKey, Transaction};

/// A call ready to be signed and sent: target, calldata, value, and the keys
/// it will read and write (beyond those every transaction implies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The contract called.
    pub to: Address,
    /// ABI-encoded calldata.
    pub input: Bytes,
    /// Wei sent along.
    pub value: U256,
    /// Declared reads and writes.
    pub access: AccessSet<StateKey>,
}

impl Call {
    /// The transaction sending this call from `from`.
    pub fn into_tx(self, from: Address, nonce: u64, gas_limit: u64, fee: Fee) -> Transaction {
        Transaction {
            from,
            to: Some(self.to),
            value: self.value,
            input: self.input,
            gas_limit,
            fee,
            nonce,
            access: self.access,
            envelope: None,
        }
    }
}
