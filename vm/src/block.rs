//! The block a transaction runs in.

use alloy_primitives::{Address, B256};
pub use revm::primitives::hardfork::SpecId;

/// The block environment: everything a transaction sees of its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockEnv {
    /// Block number.
    pub number: u64,
    /// Unix timestamp in seconds.
    pub timestamp: u64,
    /// Who receives the priority fees.
    pub beneficiary: Address,
    /// Base fee per gas, in wei (EIP-1559).
    pub basefee: u64,
    /// The block's gas limit; no transaction may ask for more.
    pub gas_limit: u64,
    /// The chain id transactions are signed for.
    pub chain_id: u64,
    /// The hardfork whose rules apply.
    pub spec: SpecId,
    /// `PREVRANDAO` (the mix hash after the Merge).
    pub prevrandao: B256,
}

impl Default for BlockEnv {
    fn default() -> Self {
        Self {
            number: 1,
            timestamp: 1_700_000_000,
            beneficiary: Address::with_last_byte(0xc0),
            basefee: 0,
            gas_limit: 30_000_000,
            chain_id: 1,
            spec: SpecId::CANCUN,
            prevrandao: B256::ZERO,
        }
    }
}
