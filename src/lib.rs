//! # defivm
//!
//! A parallel EVM for DeFi. Transactions declare up front the state they read
//! and write; a lock-graph scheduler turns those declarations into
//! conflict-free work. This crate is the facade: `use defivm::…`.

pub use defivm_scheduler as scheduler;
