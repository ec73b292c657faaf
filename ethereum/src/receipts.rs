//! Receipts as Ethereum has them, and what a block header commits to about
//! them: the gas the block used, the bloom filter of its logs and, from
//! Byzantium on, the root of the trie of its typed receipts (EIP-2718
//! encodings, each with its cumulative gas). Before Byzantium a receipt
//! holds the state root after its transaction, which a pre-state of only
//! the touched accounts cannot give, so there is no root to compare.

use crate::envelope::alloy_type;
use alloy_consensus::{Eip658Value, ReceiptEnvelope, ReceiptWithBloom};
use alloy_primitives::{B256, Bloom};
use defivm_vm::{Receipt, SpecId, Status, TxType};
use std::fmt;

/// What a block header commits to about the block's receipts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptCommitments {
    /// Gas used by all the block's transactions (`gasUsed`).
    pub gas_used: u64,
    /// The union of every log's bloom filter (`logsBloom`).
    pub logs_bloom: Bloom,
    /// The receipts trie root (`receiptsRoot`), from Byzantium on.
    pub receipts_root: Option<B256>,
}

/// A header field that does not match what the block's receipts give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: the header has {expected}, the block computes {computed}")]
pub struct HeaderMismatch {
    /// `gasUsed`, `logsBloom` or `receiptsRoot`.
    pub field: &'static str,
    /// The header's value.
    pub expected: String,
    /// The value computed from the executed block.
    pub computed: String,
}

impl ReceiptCommitments {
    /// The commitments of `receipts`, in block order, of transactions of
    /// types `tx_types`, in a block under `spec`.
    pub fn compute<'r>(
        spec: SpecId,
        tx_types: impl IntoIterator<Item = TxType>,
        receipts: impl IntoIterator<Item = &'r Receipt>,
    ) -> Self {
        let envelopes = receipt_envelopes(tx_types, receipts);
        let gas_used = envelopes.last().map_or(0, |r| r.cumulative_gas_used());
        let logs_bloom = envelopes.iter().fold(Bloom::ZERO, |bloom, r| bloom | r.logs_bloom());
        let receipts_root =
            spec.is_enabled_in(SpecId::BYZANTIUM).then(|| alloy_consensus::proofs::calculate_receipt_root(&envelopes));
        Self { gas_used, logs_bloom, receipts_root }
    }

    /// The first field where `computed` differs from these, the header's
    /// (a root is compared only where the header has one).
    pub fn verify(&self, computed: &Self) -> Result<(), HeaderMismatch> {
        let mismatch = |field, expected: &dyn fmt::Display, computed: &dyn fmt::Display| {
            Err(HeaderMismatch { field, expected: expected.to_string(), computed: computed.to_string() })
        };
        if self.gas_used != computed.gas_used {
            return mismatch(
                "gasUsed",
                &format_args!("{:#x}", self.gas_used),
                &format_args!("{:#x}", computed.gas_used),
            );
        }
        if self.logs_bloom != computed.logs_bloom {
            return mismatch("logsBloom", &self.logs_bloom, &computed.logs_bloom);
        }
        if let Some(expected) = self.receipts_root
            && computed.receipts_root != Some(expected)
        {
            let found = computed.receipts_root.map_or("none".to_string(), |r| r.to_string());
            return mismatch("receiptsRoot", &expected, &found);
        }
        Ok(())
    }
}

/// `receipts` as Ethereum encodes them: typed as their transactions
/// (`tx_types`), with the gas used up to and including each. A transaction
/// rejected for an access violation, which no Ethereum block holds, counts
/// as failed and used nothing.
pub fn receipt_envelopes<'r>(
    tx_types: impl IntoIterator<Item = TxType>,
    receipts: impl IntoIterator<Item = &'r Receipt>,
) -> Vec<ReceiptEnvelope> {
    let mut cumulative = 0;
    tx_types
        .into_iter()
        .zip(receipts)
        .map(|(tx_type, receipt)| {
            cumulative += receipt.gas_used;
            let receipt = alloy_consensus::Receipt {
                status: Eip658Value::Eip658(receipt.status == Status::Success),
                cumulative_gas_used: cumulative,
                logs: receipt.logs.clone(),
            };
            ReceiptEnvelope::from_typed(alloy_type(tx_type), ReceiptWithBloom::from(receipt))
        })
        .collect()
}
