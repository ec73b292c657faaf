//! Where an executor takes a block's transactions from: held whole, or
//! streamed a segment at a time.
//!
//! Every executor runs a block in pieces: the parallel executor a segment
//! at a time ([`SEGMENT_TXS`](crate::SEGMENT_TXS)), the sequential one a
//! transaction at a time. A block the caller holds whole is a slice, and
//! its pieces are sub-slices. A block too large to hold whole (a million
//! transactions and their declarations take about 900 MB) comes as a
//! [`TxStream`]: its producer hands over the transactions a segment at a
//! time, in block order, say as it reads them from a file, and each segment
//! is dropped once it has run. Only one segment's transactions are then
//! held.
//!
//! What an executor checks of a block before it runs must then wait for the
//! transactions:
//! - **Declarations.** A whole block's are checked against the executor's
//!   [`Limits`] before anything runs; a stream's as each of its segments
//!   arrives, before any of that segment runs. The stream's segments are
//!   the producer's, the same for every executor, so a too-large
//!   declaration fails a streamed block the same way in every mode (though
//!   a failure in an earlier segment comes first, where a whole block would
//!   report the declaration).
//! - **The plan.** A whole block's [`Plan`](crate::Plan) reads all of it; a
//!   stream's reads only its length ([`Plan::for_stream`](crate::Plan::for_stream)).
//!
//! A producer that fails, ends early or gives too many fails the block
//! with [`VmError::Source`], at the first transaction it did not give.

use crate::error::{Result, VmError};
use crate::tx::{Transaction, check_declarations};
use defivm_scheduler::Limits;

/// A block's transactions, as every executor's `execute_streamed` and
/// `execute_checked` take them: a slice (or `&Vec`), or a [`TxStream`].
pub struct Txs<'t>(Inner<'t>);

enum Inner<'t> {
    /// The whole block, and how much of it was handed out.
    Whole(&'t [Transaction], usize),
    Stream(&'t mut TxStream),
}

impl<'t> From<&'t [Transaction]> for Txs<'t> {
    fn from(txs: &'t [Transaction]) -> Self {
        Txs(Inner::Whole(txs, 0))
    }
}

impl<'t> From<&'t Vec<Transaction>> for Txs<'t> {
    fn from(txs: &'t Vec<Transaction>) -> Self {
        Txs(Inner::Whole(txs, 0))
    }
}

impl<'t, const N: usize> From<&'t [Transaction; N]> for Txs<'t> {
    fn from(txs: &'t [Transaction; N]) -> Self {
        Txs(Inner::Whole(txs, 0))
    }
}

impl<'t> From<&'t mut TxStream> for Txs<'t> {
    fn from(stream: &'t mut TxStream) -> Self {
        Txs(Inner::Stream(stream))
    }
}

impl core::fmt::Debug for Txs<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.0 {
            Inner::Whole(txs, at) => write!(f, "Txs::Whole({} transactions, {at} handed out)", txs.len()),
            Inner::Stream(stream) => stream.fmt(f),
        }
    }
}

impl Txs<'_> {
    /// The block's number of transactions.
    pub fn len(&self) -> usize {
        match &self.0 {
            Inner::Whole(txs, _) => txs.len(),
            Inner::Stream(stream) => stream.len,
        }
    }

    /// Whether the block has no transaction.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole block, if the caller holds it.
    pub(crate) fn whole(&self) -> Option<&[Transaction]> {
        match &self.0 {
            Inner::Whole(txs, _) => Some(txs),
            Inner::Stream(_) => None,
        }
    }

    /// Checks the declarations that can be checked before the block runs:
    /// a whole block's, all of them; a stream's, none yet (each segment's
    /// as it arrives, in [`next`](Self::next)).
    pub(crate) fn check_declarations(&self, limits: &Limits) -> Result<()> {
        match &self.0 {
            Inner::Whole(txs, _) => check_declarations(txs, 0, limits),
            Inner::Stream(_) => Ok(()),
        }
    }

    /// The next at most `max` transactions in block order and the position
    /// of the first, or `None` once every one was handed out. A stream's
    /// segment is kept until every transaction of it was handed out, and
    /// dropped as the next is taken.
    pub(crate) fn next(&mut self, max: usize, limits: &Limits) -> Result<Option<(usize, &[Transaction])>> {
        let max = max.max(1);
        match &mut self.0 {
            Inner::Whole(txs, at) => {
                let start = *at;
                if start == txs.len() {
                    return Ok(None);
                }
                *at = txs.len().min(start.saturating_add(max));
                Ok(Some((start, &txs[start..*at])))
            }
            Inner::Stream(stream) => stream.next(max, limits),
        }
    }
}

/// A block's transactions handed over a segment at a time by a producer,
/// so that only one segment is held ([`Txs`]).
pub struct TxStream {
    len: usize,
    produce: Box<dyn FnMut() -> Result<Vec<Transaction>, String> + Send>,
    /// The segment being handed out, the position of its first transaction,
    /// and how much of it was.
    segment: Vec<Transaction>,
    offset: usize,
    taken: usize,
}

impl core::fmt::Debug for TxStream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TxStream")
            .field("len", &self.len)
            .field("offset", &self.offset)
            .field("segment", &self.segment.len())
            .field("taken", &self.taken)
            .finish()
    }
}

impl TxStream {
    /// A block of `len` transactions, which each call of `produce` hands
    /// over, the next ones in block order, at least one while any is left;
    /// or an error that says why it cannot, which fails the block. It is
    /// called on the thread that runs the block, between segments; a panic
    /// in it unwinds to that caller. A stream serves one run: to run the
    /// block again, make a new one.
    pub fn new(len: usize, produce: impl FnMut() -> Result<Vec<Transaction>, String> + Send + 'static) -> Self {
        Self { len, produce: Box::new(produce), segment: Vec::new(), offset: 0, taken: 0 }
    }

    /// The block's number of transactions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the block has no transaction.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// [`Txs::next`] for a stream: from the segment at hand, or the next
    /// one, checked against `limits`.
    fn next(&mut self, max: usize, limits: &Limits) -> Result<Option<(usize, &[Transaction])>> {
        if self.taken == self.segment.len() {
            let at = self.offset + self.segment.len();
            // The spent segment goes before the next one comes.
            self.segment = Vec::new();
            self.offset = at;
            self.taken = 0;
            if at == self.len {
                return Ok(None);
            }
            let segment = (self.produce)().map_err(|message| VmError::Source { index: at, message })?;
            if segment.is_empty() {
                let message = format!("the stream ended after {at} of its {} transactions", self.len);
                return Err(VmError::Source { index: at, message });
            }
            if segment.len() > self.len - at {
                let message = format!("the stream gave more than its {} transactions", self.len);
                return Err(VmError::Source { index: self.len, message });
            }
            check_declarations(&segment, at, limits)?;
            self.segment = segment;
        }
        let start = self.taken;
        self.taken = self.segment.len().min(start.saturating_add(max));
        Ok(Some((self.offset + start, &self.segment[start..self.taken])))
    }
}
