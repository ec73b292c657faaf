//! The subcommands, one per file.

pub(crate) mod bal;
pub(crate) mod bench;
pub(crate) mod declare;
pub(crate) mod generate;
pub(crate) mod import;
pub(crate) mod memory;
pub(crate) mod plot;
pub(crate) mod replay;
pub(crate) mod schedule;
pub(crate) mod shape;
