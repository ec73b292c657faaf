//! The contracts crate's errors.

/// What can go wrong reading artifacts or building a world.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// A committed artifact does not parse.
    #[error("artifact of {contract} is malformed: {message}")]
    Artifact {
        /// The contract.
        contract: String,
        /// What is wrong.
        message: String,
    },
    /// The storage layout has no such variable.
    #[error("{contract} has no state variable {variable} in its storage layout")]
    UnknownVariable {
        /// The contract.
        contract: String,
        /// The variable asked for.
        variable: String,
    },
    /// A swap path whose next pair does not hold the token reached so far.
    #[error("pair {pair} does not trade token {token}")]
    InvalidPath {
        /// The pair.
        pair: alloy_primitives::Address,
        /// The token that should be one of its two.
        token: alloy_primitives::Address,
    },
    /// A string too long for the one-slot encoding genesis writes.
    #[error("{what} {value:?} is {len} bytes; at most 31 fit in one slot")]
    StringTooLong {
        /// What the string is.
        what: &'static str,
        /// The string.
        value: String,
        /// Its length in bytes.
        len: usize,
    },
}
