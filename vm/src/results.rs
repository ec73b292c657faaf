//! What the parallel executor's workers leave for each transaction: its
//! fee in a slot of its own, or the failure that ends the block; and, when
//! the caller collects them, its receipt in another.
//!
//! Invariant: a slot is set at most once, by the one worker that ran the
//! transaction (a transaction is claimed from one wave cursor, or by worker
//! 0 alone, or from the ready-set), and only when it ran without error.

use crate::access::BeneficiaryBalance;
use crate::error::{Result, VmError};
use crate::parallel::{Phases, Sink};
use crate::prepare::lock;
use crate::receipt::{BlockEffects, BlockOutcome, Receipt};
use alloy_primitives::U256;
use core::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

/// The fee of every transaction of a segment of the block, or the segment's
/// first failure, written in place by the workers. Transactions are named
/// by their block positions.
#[derive(Debug)]
pub(crate) struct Results {
    /// The block position of the segment's first transaction.
    offset: usize,
    /// Each transaction's credit to the beneficiary, once it ran without
    /// error.
    fees: Vec<OnceLock<U256>>,
    /// Whether any transaction ran (was not rejected for an access
    /// violation).
    any_ran: AtomicBool,
    /// The lowest-numbered transaction that failed, with its error.
    failed: Mutex<Option<(usize, VmError)>>,
}

/// How a transaction that ran without error ended, as [`Results`] keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Done {
    /// Its credit to the beneficiary.
    pub(crate) fee: U256,
    /// Whether it ran ([`Receipt::ran`]).
    pub(crate) ran: bool,
}

impl Results {
    /// Empty slots for the transactions at block positions `range`.
    pub(crate) fn new(range: Range<usize>) -> Self {
        Self {
            offset: range.start,
            fees: std::iter::repeat_with(OnceLock::new).take(range.len()).collect(),
            any_ran: AtomicBool::new(false),
            failed: Mutex::default(),
        }
    }

    /// Records transaction `index`'s result.
    pub(crate) fn set(&self, index: usize, result: Result<Done>) {
        match result {
            Ok(done) => {
                if done.ran {
                    self.any_ran.store(true, Ordering::Relaxed);
                }
                let _ = self.fees[index - self.offset].set(done.fee);
            }
            Err(error) => {
                let mut failed = lock(&self.failed);
                if failed.as_ref().is_none_or(|(first, _)| index < *first) {
                    *failed = Some((index, error));
                }
            }
        }
    }

    /// The fees of the transactions in `range` (block positions, within the
    /// segment) that ran without error.
    pub(crate) fn fees(&self, range: Range<usize>) -> U256 {
        self.fees[range.start - self.offset..range.end - self.offset]
            .iter()
            .filter_map(OnceLock::get)
            .fold(U256::ZERO, |sum, fee| sum + fee)
    }

    /// The fee of the transaction at `index`, if it ran (an access
    /// violation's is zero) and did not fail.
    pub(crate) fn fee(&self, index: usize) -> Option<U256> {
        self.fees[index - self.offset].get().copied()
    }

    /// The segment's fees and whether any of its transactions ran; or, as
    /// the sequential executor would stop there, the error of its first
    /// transaction in block order that did not run without error.
    pub(crate) fn finish(self) -> Result<(U256, bool)> {
        let Self { offset, fees, any_ran, failed } = self;
        let mut failed = failed.into_inner().unwrap_or_else(PoisonError::into_inner);
        let mut total = U256::ZERO;
        for (index, slot) in (offset..).zip(fees) {
            total += slot.into_inner().ok_or_else(|| match failed.take() {
                Some((first, error)) if first == index => error,
                _ => VmError::Internal { index, message: "the transaction was never run".into() },
            })?;
        }
        Ok((total, any_ran.into_inner()))
    }
}

/// Every transaction's receipt, when the caller collects them: a slot each,
/// written in place by the workers.
#[derive(Debug)]
pub(crate) struct Receipts(Vec<OnceLock<Receipt>>);

impl Receipts {
    /// Empty slots for `txs` transactions.
    pub(crate) fn new(txs: usize) -> Self {
        Self(std::iter::repeat_with(OnceLock::new).take(txs).collect())
    }

    /// Keeps transaction `index`'s receipt.
    pub(crate) fn put(&self, index: usize, receipt: Receipt) {
        let _ = self.0[index].set(receipt);
    }

    /// A block run whose receipts go to a sink (`run`), with its receipts
    /// collected in slots for `txs` transactions and given back in block
    /// order; making and emptying the slots counts in the finish phase.
    pub(crate) fn collect(
        txs: usize,
        run: impl FnOnce(&Sink<'_>) -> Result<(BlockEffects, Phases)>,
    ) -> Result<(BlockOutcome, Phases)> {
        let start = Instant::now();
        let receipts = Self::new(txs);
        let slots = start.elapsed();
        let (BlockEffects { changes, fees, access, repairs }, mut phases) =
            run(&|index, receipt| receipts.put(index, receipt))?;
        let start = Instant::now();
        let receipts = receipts.into_vec()?;
        phases.finish += slots + start.elapsed();
        Ok((BlockOutcome { receipts, changes, fees, access, repairs }, phases))
    }

    /// Each transaction's receipt, if it has one.
    pub(crate) fn into_slots(self) -> Vec<Option<Receipt>> {
        self.0.into_iter().map(OnceLock::into_inner).collect()
    }

    /// The receipts in block order, once every slot is set (the block ran
    /// without error), else the first transaction without one.
    ///
    /// They are collected from the slots in place (std reuses a vector's
    /// allocation when the new items are no larger and aligned alike, though
    /// it does not promise to), so a block's receipts are not held twice.
    pub(crate) fn into_vec(self) -> Result<Vec<Receipt>> {
        self.0
            .into_iter()
            .enumerate()
            .map(|(index, slot)| {
                slot.into_inner()
                    .ok_or_else(|| VmError::Internal { index, message: "the transaction has no receipt".into() })
            })
            .collect()
    }
}

/// What each transaction of a segment left the beneficiary, for the
/// block's access record ([`BeneficiaryBalance`]): a slot each, written in
/// place by the workers, read in block order once the segment is done.
/// Each slot holds the balance a transaction left the beneficiary with, if
/// it changed it, and how it ended.
#[derive(Debug)]
pub(crate) struct LeftBeneficiary(Vec<OnceLock<(Option<U256>, Done)>>);

impl LeftBeneficiary {
    /// Empty slots for `txs` transactions.
    pub(crate) fn new(txs: usize) -> Self {
        Self(std::iter::repeat_with(OnceLock::new).take(txs).collect())
    }

    /// Keeps what the segment's transaction `index` left.
    pub(crate) fn put(&self, index: usize, left: Option<U256>, done: Done) {
        let _ = self.0[index].set((left, done));
    }

    /// The same as [`put`](Self::put), replacing what was put before: the
    /// transaction ran again.
    pub(crate) fn replace(&mut self, index: usize, left: Option<U256>, done: Done) {
        self.0[index] = OnceLock::from((left, done));
    }

    /// Adds the segment's transactions, in block order, to `balance`; the
    /// segment's first transaction is at block position `offset`.
    pub(crate) fn add_to(self, balance: &mut BeneficiaryBalance, offset: usize) {
        for (index, slot) in (offset..).zip(self.0) {
            if let Some((left, Done { fee, ran })) = slot.into_inner() {
                balance.add(index as u32 + 1, left, fee, ran);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipt::Status;

    fn ran(fee: u64) -> Result<Done> {
        Ok(Done { fee: U256::from(fee), ran: true })
    }

    fn failure(index: usize) -> Result<Done> {
        Err(VmError::InvalidTransaction { index, reason: format!("bad {index}") })
    }

    #[test]
    fn fees_add_up_whatever_order_they_come_in() {
        let results = Results::new(0..3);
        for index in [2, 0, 1] {
            results.set(index, ran(10 + index as u64));
        }
        assert_eq!(results.fees(1..3), U256::from(23));
        assert_eq!(results.finish().unwrap(), (U256::from(33), true));
    }

    #[test]
    fn a_block_where_nothing_ran_says_so() {
        let results = Results::new(0..2);
        for index in [1, 0] {
            results.set(index, Ok(Done { fee: U256::ZERO, ran: false }));
        }
        assert_eq!(results.finish().unwrap(), (U256::ZERO, false));
    }

    #[test]
    fn the_first_failure_in_block_order_wins_whatever_order_they_come_in() {
        let results = Results::new(10..16);
        for index in [10, 11, 13, 14] {
            results.set(index, ran(1));
        }
        results.set(15, failure(15));
        results.set(12, failure(12));
        assert_eq!(results.fees(10..16), U256::from(4), "failures credit nothing");
        assert_eq!(results.fees(11..13), U256::from(1));
        assert_eq!(results.finish().unwrap_err(), failure(12).unwrap_err());
    }

    #[test]
    fn a_transaction_never_run_before_the_failure_is_reported_as_such() {
        let results = Results::new(7..11);
        results.set(7, ran(1));
        results.set(10, failure(10));
        let error = results.finish().unwrap_err();
        assert!(matches!(error, VmError::Internal { index: 8, .. }), "{error}");
    }

    #[test]
    fn receipts_come_back_in_block_order() {
        let receipts = Receipts::new(3);
        for index in [2, 0, 1] {
            let status = Status::Success;
            receipts
                .put(index, Receipt { status, gas_used: index as u64, logs: Vec::new(), output: Default::default() });
        }
        let gas: Vec<u64> = receipts.into_vec().unwrap().iter().map(|r| r.gas_used).collect();
        assert_eq!(gas, [0, 1, 2]);
        let missing = Receipts::new(2);
        missing.put(0, Receipt { status: Status::Revert, gas_used: 1, logs: Vec::new(), output: Default::default() });
        assert!(matches!(missing.into_vec(), Err(VmError::Internal { index: 1, .. })));
    }
}
