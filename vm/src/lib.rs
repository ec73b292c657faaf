//! # defivm-vm
//!
//! Not built yet: the executors land with the VM issue.
