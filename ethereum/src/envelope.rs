//! Ethereum's signed transactions (EIP-2718 envelopes, types 0 to 4) as
//! defivm runs them: the common fields, and the type-specific ones in an
//! [`Envelope`] that goes to revm as signed. The EIP-2930 access list stays
//! the transaction's own; the declared access starts empty, for a recorded
//! run to fill in (see `import.rs`).

use alloy_consensus::{Transaction as _, TxEnvelope, Typed2718};
use alloy_primitives::Address;
use defivm_vm::{AccessSet, Envelope, Fee, Transaction, TxType};

/// `envelope`, signed by `from`, as a defivm transaction with nothing
/// declared.
pub fn transaction(envelope: &TxEnvelope, from: Address) -> Transaction {
    let tx_type = TxType::from_number(envelope.ty()).unwrap_or_default();
    let fee = match envelope.gas_price() {
        Some(gas_price) => Fee::Legacy { gas_price },
        None => Fee::Dynamic {
            max_fee_per_gas: envelope.max_fee_per_gas(),
            max_priority_fee_per_gas: envelope.max_priority_fee_per_gas().unwrap_or_default(),
        },
    };
    let typed = Envelope {
        tx_type,
        chain_id: envelope.chain_id(),
        access_list: envelope.access_list().cloned().unwrap_or_default(),
        blob_hashes: envelope.blob_versioned_hashes().map(<[_]>::to_vec).unwrap_or_default(),
        max_fee_per_blob_gas: envelope.max_fee_per_blob_gas().unwrap_or_default(),
        authorization_list: envelope.authorization_list().map(<[_]>::to_vec).unwrap_or_default(),
    };
    Transaction {
        from,
        to: envelope.to(),
        value: envelope.value(),
        input: envelope.input().clone(),
        gas_limit: envelope.gas_limit(),
        fee,
        nonce: envelope.nonce(),
        access: AccessSet::default(),
        envelope: Some(Box::new(typed)),
    }
}

/// alloy's name for a transaction type.
pub(crate) fn alloy_type(tx_type: TxType) -> alloy_consensus::TxType {
    match tx_type {
        TxType::Legacy => alloy_consensus::TxType::Legacy,
        TxType::Eip2930 => alloy_consensus::TxType::Eip2930,
        TxType::Eip1559 => alloy_consensus::TxType::Eip1559,
        TxType::Eip4844 => alloy_consensus::TxType::Eip4844,
        TxType::Eip7702 => alloy_consensus::TxType::Eip7702,
    }
}
