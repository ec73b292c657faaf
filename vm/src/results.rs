//! What the parallel executor's workers leave for each transaction: its
//! receipt and fee in a slot of its own, or the failure that ends the block.
//!
//! Invariant: a slot is set at most once, by the one worker that ran the
//! transaction (a transaction is claimed from one wave cursor, or by worker
//! 0 alone, or from the ready-set), and only when it ran without error.

use crate::error::{Result, VmError};
use crate::exec::Executed;
use crate::prepare::lock;
use crate::receipt::Receipt;
use alloy_primitives::U256;
use std::sync::{Mutex, OnceLock, PoisonError};

/// Every transaction's result, written in place by the workers.
#[derive(Debug)]
pub(crate) struct Results {
    /// Each transaction's receipt and credit to the beneficiary, once it ran
    /// without error.
    done: Vec<OnceLock<(Receipt, U256)>>,
    /// The lowest-numbered transaction that failed, with its error.
    failed: Mutex<Option<(usize, VmError)>>,
}

impl Results {
    /// Empty slots for `txs` transactions.
    pub(crate) fn new(txs: usize) -> Self {
        Self { done: std::iter::repeat_with(OnceLock::new).take(txs).collect(), failed: Mutex::default() }
    }

    /// Records transaction `index`'s result.
    pub(crate) fn set(&self, index: usize, result: Result<Executed>) {
        match result {
            Ok(executed) => {
                let _ = self.done[index].set((executed.receipt, executed.fee));
            }
            Err(error) => {
                let mut failed = lock(&self.failed);
                if failed.as_ref().is_none_or(|(first, _)| index < *first) {
                    *failed = Some((index, error));
                }
            }
        }
    }

    /// The fees of the transactions in `range` that ran without error.
    pub(crate) fn fees(&self, range: core::ops::Range<usize>) -> U256 {
        self.done[range].iter().filter_map(OnceLock::get).fold(U256::ZERO, |sum, (_, fee)| sum + fee)
    }

    /// The receipts in block order, their fees, and whether any transaction
    /// ran; or, as the sequential executor would stop there, the error of
    /// the first transaction in block order without a receipt.
    ///
    /// The receipts are collected from the slots in place (std reuses a
    /// vector's allocation when the new items are no larger and aligned
    /// alike, though it does not promise to), so a block's receipts are not
    /// held twice.
    pub(crate) fn into_receipts(self) -> Result<(Vec<Receipt>, U256, bool)> {
        let Self { done, failed } = self;
        let mut failed = failed.into_inner().unwrap_or_else(PoisonError::into_inner);
        let (mut fees, mut any_ran) = (U256::ZERO, false);
        let receipts = done
            .into_iter()
            .enumerate()
            .map(|(index, slot)| {
                let (receipt, fee) = slot.into_inner().ok_or_else(|| match failed.take() {
                    Some((first, error)) if first == index => error,
                    _ => VmError::Internal { index, message: "the transaction was never run".into() },
                })?;
                fees += fee;
                any_ran |= receipt.ran();
                Ok(receipt)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((receipts, fees, any_ran))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipt::Status;

    fn ran(fee: u64) -> Result<Executed> {
        let receipt = Receipt { status: Status::Success, gas_used: fee, logs: Vec::new(), output: Default::default() };
        Ok(Executed { receipt, writes: Vec::new(), fee: U256::from(fee) })
    }

    fn failure(index: usize) -> Result<Executed> {
        Err(VmError::InvalidTransaction { index, reason: format!("bad {index}") })
    }

    #[test]
    fn receipts_come_back_in_block_order_with_their_fees() {
        let results = Results::new(3);
        for index in [2, 0, 1] {
            results.set(index, ran(10 + index as u64));
        }
        assert_eq!(results.fees(1..3), U256::from(23));
        let (receipts, fees, any_ran) = results.into_receipts().unwrap();
        assert_eq!(receipts.iter().map(|r| r.gas_used).collect::<Vec<_>>(), [10, 11, 12]);
        assert_eq!((fees, any_ran), (U256::from(33), true));
    }

    #[test]
    fn the_first_failure_in_block_order_wins_whatever_order_they_come_in() {
        let results = Results::new(6);
        for index in [0, 1, 3, 4] {
            results.set(index, ran(1));
        }
        results.set(5, failure(5));
        results.set(2, failure(2));
        assert_eq!(results.fees(0..6), U256::from(4), "failures credit nothing");
        assert_eq!(results.into_receipts().unwrap_err(), failure(2).unwrap_err());
    }

    #[test]
    fn a_transaction_never_run_before_the_failure_is_reported_as_such() {
        let results = Results::new(4);
        results.set(0, ran(1));
        results.set(3, failure(3));
        let error = results.into_receipts().unwrap_err();
        assert!(matches!(error, VmError::Internal { index: 1, .. }), "{error}");
    }
}
