//! The block a transaction runs in.

pub use alloy_eips::eip4895::Withdrawal;
use alloy_primitives::{Address, B256, U256};
pub use revm::primitives::hardfork::SpecId;

/// The block environment: every header field a transaction can observe,
/// and what the block does outside its transactions (system calls before
/// them; rewards and withdrawals after them, see `system.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEnv {
    /// Block number.
    pub number: u64,
    /// Unix timestamp in seconds.
    pub timestamp: u64,
    /// Who receives the priority fees (the whole gas price before London)
    /// and, before the Merge, the block reward.
    pub beneficiary: Address,
    /// Base fee per gas, in wei (EIP-1559).
    pub basefee: u64,
    /// The block's gas limit; no transaction may ask for more.
    pub gas_limit: u64,
    /// The chain id transactions are signed for.
    pub chain_id: u64,
    /// The hardfork whose rules apply.
    pub spec: SpecId,
    /// `PREVRANDAO` (the mix hash), from the Merge on.
    pub prevrandao: B256,
    /// `DIFFICULTY`, before the Merge.
    pub difficulty: U256,
    /// The excess blob gas (EIP-4844, Cancun on), from which the blob base
    /// fee follows.
    pub excess_blob_gas: u64,
    /// The blob base fee's update fraction; `None` takes the hardfork's
    /// (Cancun's, or Prague's from Prague on). Forks that only change blob
    /// parameters (EIP-7892) name theirs here.
    pub blob_base_fee_update_fraction: Option<u64>,
    /// The parent block's hash: what EIP-2935's system call stores (Prague on).
    pub parent_hash: Option<B256>,
    /// The parent beacon block root (EIP-4788, Cancun on): what the system
    /// call before the first transaction stores.
    pub parent_beacon_block_root: Option<B256>,
    /// Validator withdrawals (EIP-4895, Shanghai on), credited after the
    /// last transaction.
    pub withdrawals: Vec<Withdrawal>,
    /// The block's ommers (uncles), rewarded before the Merge.
    pub ommers: Vec<Ommer>,
}

/// An ommer (uncle) of the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ommer {
    /// Its hash, as the block lists it.
    pub hash: B256,
    /// Its header, as far as its reward needs it, when the block's source
    /// gave it: an RPC block lists its ommers by hash only. Without it the
    /// ommer's miner is not rewarded (the block's miner still is, for
    /// including it).
    pub header: Option<OmmerHeader>,
}

/// Who mined an ommer, and at which height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OmmerHeader {
    /// Who mined it.
    pub beneficiary: Address,
    /// Its block number.
    pub number: u64,
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
            difficulty: U256::ZERO,
            excess_blob_gas: 0,
            blob_base_fee_update_fraction: None,
            parent_hash: None,
            parent_beacon_block_root: None,
            withdrawals: Vec::new(),
            ommers: Vec::new(),
        }
    }
}
