//! # defivm-contracts
//!
//! The DeFi world defivm runs: Solidity contracts compiled with a pinned
//! solc (`npm run compile` in this folder writes `artifacts/`, which are
//! committed, so `cargo build` needs no Node), typed `sol!` bindings generated
//! from the committed ABIs (so they cannot drift from the code), genesis
//! builders that deploy them into a [`defivm_vm::State`], and for every
//! operation a builder that returns the call together with its declared
//! reads and writes.
//!
//! Declarations are computed from the compiled storage layout
//! ([`Artifact::slot`] and the mapping rules in `slots.rs`), never by
//! executing the transaction: this is the DeFi-specific knowledge that lets
//! a wallet declare access the way a Solana client lists accounts.
//!
//! Built so far: the ERC-20 token ([`Erc20`]), the DEX ([`Pair`],
//! [`Router`]), lending ([`LendingPool`], [`Oracle`]) and staking
//! ([`Staking`]).
//!
//! Files: `artifact.rs` (the committed artifacts), `slots.rs` (Solidity
//! storage addressing), `call.rs` ([`Call`]), `erc20.rs`, `dex.rs`, `lending.rs`,
//! `staking.rs`, `world.rs` ([`World`]: everything in one genesis), `error.rs`.

mod artifact;
mod call;
mod dex;
mod erc20;
mod error;
mod lending;
mod slots;
mod staking;
mod world;

pub use artifact::{Artifact, StorageVariable, all as artifacts};
pub use call::Call;
pub use dex::{IPair, IRouter, Pair, Router, amount_out};
pub use erc20::{Erc20, IToken};
pub use error::ContractError;
pub use lending::{ILendingPool, IOracle, LendingPool, MarketConfig, Oracle, WAD};
pub use slots::{address_slot, mapping_slot, nested_address_slot, short_string};
pub use staking::{IStaking, RewardPeriod, Staking};
pub use world::{World, WorldConfig};
