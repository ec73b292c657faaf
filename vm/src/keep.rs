//! Where a run's record of what its steps accessed goes: nowhere, into the
//! block's outcome whole ([`BlockOutcome::access`]), or checked against the
//! block's access list a piece at a time and dropped.
//!
//! The executors add their logs to the record a piece of the block at a
//! time (a segment, or the sequential executor's [`LOGGED_STEPS`]), each
//! piece holding every step from the end of the one before through its
//! own last, the beneficiary's balance included. A checked run hands each
//! piece to its [`RecordCheck`] and empties the record, so that it never
//! holds more than one piece, whatever the block's length.
//!
//! [`BlockOutcome::access`]: crate::BlockOutcome::access
//! [`LOGGED_STEPS`]: crate::access::LOGGED_STEPS

use crate::access::BlockAccess;
use crate::error::{Result, VmError};
use crate::listed::RecordCheck;

/// What a run does with its record of accesses.
#[derive(Debug)]
pub(crate) enum Keep<'a> {
    /// Nothing is recorded.
    Nothing,
    /// The whole block's record is kept, for its outcome.
    Whole,
    /// Each piece is checked against a list, then dropped.
    Checked(RecordCheck<'a>),
}

impl Keep<'_> {
    /// The whole record kept if `record`, else nothing recorded (an
    /// executor's `with_access_record`).
    pub(crate) fn whole_if(record: bool) -> Self {
        if record { Keep::Whole } else { Keep::Nothing }
    }

    /// Whether the run records its accesses.
    pub(crate) fn records(&self) -> bool {
        !matches!(self, Keep::Nothing)
    }

    /// How many keys the block is expected to write, where its list says:
    /// room for its changes made once, before its steps run, rather than
    /// a table growing (old and new held at once) while a segment's
    /// working memory is held too. Zero where unknown.
    pub(crate) fn expected_writes(&self) -> usize {
        match self {
            Keep::Checked(check) => usize::try_from(check.changed_keys()).unwrap_or(usize::MAX),
            Keep::Nothing | Keep::Whole => 0,
        }
    }

    /// `record` holds every step from the end of the last piece through
    /// step `through` (and none later): a checked run checks it, failing
    /// the block at a mismatch, and empties it.
    pub(crate) fn piece(&mut self, record: &mut BlockAccess, through: u32) -> Result<()> {
        if let Keep::Checked(check) = self {
            check.piece(record, through).map_err(VmError::AccessList)?;
            record.clear();
        }
        Ok(())
    }

    /// The block's end: `record` holds its last piece, through step `after`
    /// (the block's rules after its last transaction). Returns the record
    /// the block's outcome carries: empty unless the whole is kept.
    pub(crate) fn finish(self, record: BlockAccess, after: u32) -> Result<BlockAccess> {
        match self {
            Keep::Checked(mut check) => {
                check.piece(&record, after).map_err(VmError::AccessList)?;
                check.finish().map_err(VmError::AccessList)?;
                Ok(BlockAccess::default())
            }
            Keep::Nothing | Keep::Whole => Ok(record),
        }
    }
}
