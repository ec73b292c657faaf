//! The subcommands, one per file.

pub(crate) mod generate;
pub(crate) mod replay;
