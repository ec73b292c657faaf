//! # defivm-contracts
//!
//! Not built yet: the contracts land with the contracts issue.
