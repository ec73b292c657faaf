//! Whether a block can gain from threads, decided before anything is
//! prepared.
//!
//! The parallel path has costs the sequential one does not: waking the
//! pool's threads (tens of microseconds each on a virtual machine),
//! interning every declared key, building the lock graph. A block that
//! cannot win them back runs on the sequential path instead, whose output is
//! the same by definition. Two cheap signs say a block cannot gain:
//!
//! - **Too little work.** It has fewer than [`MIN_PARALLEL_TXS`]
//!   transactions (its critical path is then at least its heaviest one, and
//!   two threads get little to share), or they declare, with the implied
//!   keys, fewer than [`MIN_PARALLEL_KEYS`] keys (a block of a few dozen
//!   plain transfers runs in well under the time it takes to wake a thread).
//! - **One chain.** One sender's transactions hold so much of the block's
//!   gas limit that the block's speedup bound, `T1 / Tcp` with the sender's
//!   nonce chain as `Tcp`, is below [`MIN_PARALLEL_GAIN`]: an exchange's hot
//!   wallet paying out hundreds of transfers in a row.
//!
//! Both read only what the block declares, so the choice is the same on every
//! run; `defivm schedule` shows it.

use crate::tx::Transaction;
use alloy_primitives::Address;
use hashbrown::HashMap;

/// Fewer transactions than this, and a block runs sequentially.
pub const MIN_PARALLEL_TXS: usize = 16;

/// Fewer declared and implied keys than this, and a block runs sequentially.
pub const MIN_PARALLEL_KEYS: usize = 256;

/// A block whose speedup bound by its longest sender chain is below this
/// runs sequentially.
pub const MIN_PARALLEL_GAIN: f64 = 1.25;

/// How the parallel executor runs a block.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Plan {
    /// Prepared, scheduled and run on the pool.
    #[default]
    Parallel,
    /// Run by the sequential executor, for the reason given.
    Sequential(Why),
}

/// Why a block takes the sequential path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Why {
    /// The executor has one thread.
    OneThread,
    /// The block has fewer than [`MIN_PARALLEL_TXS`] transactions.
    FewTransactions {
        /// How many it has.
        txs: usize,
    },
    /// The block declares fewer than [`MIN_PARALLEL_KEYS`] keys in all.
    LittleWork {
        /// The keys its transactions declare and imply.
        keys: usize,
    },
    /// One sender's transactions bound the speedup below
    /// [`MIN_PARALLEL_GAIN`].
    OneSender {
        /// The sender.
        sender: Address,
        /// The bound: the block's gas limit over the sender's.
        bound: f64,
    },
    /// Executing from an access list, the block comes before EIP-161
    /// (Spurious Dragon): whether a touched empty account exists, which a
    /// list does not say, changes what later transactions pay
    /// ([`crate::BalExecutor`]).
    BeforeEip161,
}

impl Plan {
    /// The plan for `txs` on `threads` threads.
    pub fn for_block(txs: &[Transaction], threads: usize) -> Self {
        if let Plan::Sequential(why) = Self::for_stream(txs.len(), threads) {
            return Plan::Sequential(why);
        }
        // Each transaction implies two keys (its sender and its callee or
        // creation).
        let keys: usize = txs.iter().map(|tx| tx.access.len() + 2).sum();
        if keys < MIN_PARALLEL_KEYS {
            return Plan::Sequential(Why::LittleWork { keys });
        }
        let mut by_sender: HashMap<Address, u64> = HashMap::new();
        let mut total = 0u64;
        for tx in txs {
            *by_sender.entry(tx.from).or_default() += tx.gas_limit;
            total = total.saturating_add(tx.gas_limit);
        }
        if let Some((&sender, &gas)) = by_sender.iter().max_by_key(|(_, gas)| **gas) {
            let bound = total as f64 / gas.max(1) as f64;
            if bound < MIN_PARALLEL_GAIN {
                return Plan::Sequential(Why::OneSender { sender, bound });
            }
        }
        Plan::Parallel
    }
}

impl Plan {
    /// The plan for a block of `txs` transactions on `threads` threads
    /// whose transactions are not at hand yet (a [`TxStream`](crate::TxStream)):
    /// only the threads and the number of transactions can be read.
    pub fn for_stream(txs: usize, threads: usize) -> Self {
        if threads < 2 {
            return Plan::Sequential(Why::OneThread);
        }
        if txs < MIN_PARALLEL_TXS {
            return Plan::Sequential(Why::FewTransactions { txs });
        }
        Plan::Parallel
    }
}

impl core::fmt::Display for Plan {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Plan::Parallel => f.write_str("parallel"),
            Plan::Sequential(Why::OneThread) => f.write_str("sequential (one thread)"),
            Plan::Sequential(Why::FewTransactions { txs }) => {
                write!(f, "sequential (too few transactions: {txs}, fewer than {MIN_PARALLEL_TXS})")
            }
            Plan::Sequential(Why::LittleWork { keys }) => {
                write!(f, "sequential (too little work: {keys} keys, fewer than {MIN_PARALLEL_KEYS})")
            }
            Plan::Sequential(Why::OneSender { sender, bound }) => {
                write!(f, "sequential (one sender's chain, {sender}, bounds the speedup at {bound:.2}x)")
            }
            Plan::Sequential(Why::BeforeEip161) => {
                f.write_str("sequential (an access list cannot run a block before EIP-161)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::Fee;
    use alloy_primitives::{Bytes, U256};
    use defivm_scheduler::AccessSet;

    fn tx(from: u8, keys: usize) -> Transaction {
        let access =
            AccessSet::new((0..keys).map(|k| crate::StateKey::Storage(Address::ZERO, U256::from(k))).collect(), vec![]);
        Transaction {
            from: Address::repeat_byte(from),
            to: Some(Address::repeat_byte(0xee)),
            value: U256::ZERO,
            input: Bytes::new(),
            gas_limit: 100_000,
            fee: Fee::Legacy { gas_price: 1 },
            nonce: 0,
            access,
            envelope: None,
        }
    }

    #[test]
    fn blocks_that_cannot_gain_take_the_sequential_path() {
        let spread: Vec<_> = (0..40).map(|i| tx(i, 10)).collect();
        assert_eq!(Plan::for_block(&spread, 2), Plan::Parallel);
        assert_eq!(Plan::for_block(&spread, 1), Plan::Sequential(Why::OneThread));
        assert_eq!(Plan::for_block(&spread[..15], 2), Plan::Sequential(Why::FewTransactions { txs: 15 }));
        let small: Vec<_> = (0..40).map(|i| tx(i, 2)).collect();
        assert_eq!(Plan::for_block(&small, 4), Plan::Sequential(Why::LittleWork { keys: 160 }));
        // 36 of 40 equal transactions from one sender: a bound of 40/36.
        let chain: Vec<_> = (0..40).map(|i| tx(if i < 36 { 1 } else { i }, 10)).collect();
        let Plan::Sequential(Why::OneSender { sender, bound }) = Plan::for_block(&chain, 2) else { panic!() };
        assert_eq!(sender, Address::repeat_byte(1));
        assert!((bound - 40.0 / 36.0).abs() < 1e-9);
        // A third of the block from one sender still gains.
        let third: Vec<_> = (0..45).map(|i| tx(if i < 15 { 1 } else { i }, 10)).collect();
        assert_eq!(Plan::for_block(&third, 2), Plan::Parallel);
    }
}
