//! # defivm
//!
//! A parallel EVM for DeFi. Transactions declare up front the state they read
//! and write; a lock-graph scheduler turns those declarations into
//! conflict-free work. This crate is the facade: `use defivm::…`.
//!
//! The README's example runs as a doctest:
#![doc = include_str!("../README.md")]

pub use defivm_contracts as contracts;
pub use defivm_ethereum as ethereum;
pub use defivm_scheduler as scheduler;
pub use defivm_vm as vm;

pub mod fixture;
pub mod schedule;
pub mod workload;
