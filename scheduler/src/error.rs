//! The scheduler's errors.

use core::fmt::Debug;

/// Why a block could not be scheduled. Each variant names the transaction
/// (by the caller's id and its block position) so a person can find it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError<Id: Debug> {
    /// A declaration is larger than [`crate::Limits::max_keys_per_tx`].
    #[error("transaction {tx:?} (position {index}) declares {keys} keys; the limit is {max}")]
    DeclarationTooLarge {
        /// The caller's id of the transaction.
        tx: Id,
        /// Its position in the block.
        index: usize,
        /// How many keys it declares (reads plus writes, duplicates included).
        keys: usize,
        /// The configured limit.
        max: usize,
    },
    /// The block has more transactions or declared keys than the graph's
    /// 32-bit indices can address.
    #[error("transaction {tx:?} (position {index}) does not fit: a block holds at most {max} {what}")]
    BlockTooLarge {
        /// The caller's id of the first transaction that did not fit.
        tx: Id,
        /// Its position in the block.
        index: usize,
        /// What ran out: "transactions" or "declared keys".
        what: &'static str,
        /// The capacity that was exceeded.
        max: usize,
    },
}
