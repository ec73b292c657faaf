//! Contract code together with its hash.
//!
//! revm needs an account's code hash every time it loads the account.
//! Hashing a few kilobytes of bytecode costs microseconds, more than a token
//! transfer's whole execution, so the hash is computed once, when the code is
//! made, and travels with it. Cloning is two `Arc` bumps: every worker shares
//! the same analysed bytecode.

use alloy_primitives::{B256, Bytes};
use revm::primitives::KECCAK_EMPTY;
use revm::state::Bytecode;

/// Analysed contract code and its keccak hash.
#[derive(Debug, Clone)]
pub struct Code {
    bytecode: Bytecode,
    hash: B256,
}

impl Code {
    /// Code from analysed bytecode; hashes it once.
    pub fn new(bytecode: Bytecode) -> Self {
        let hash = if bytecode.is_empty() { KECCAK_EMPTY } else { bytecode.hash_slow() };
        Self { bytecode, hash }
    }

    /// Legacy code from raw bytes (analysed for jump destinations).
    pub fn from_raw(bytes: Bytes) -> Self {
        Self::new(Bytecode::new_raw(bytes))
    }

    /// Code whose hash the caller already knows (revm reports it for code it
    /// deployed).
    pub(crate) fn with_hash(bytecode: Bytecode, hash: B256) -> Self {
        Self { bytecode, hash }
    }

    /// The analysed bytecode.
    pub fn bytecode(&self) -> &Bytecode {
        &self.bytecode
    }

    /// The keccak hash of the original bytes.
    pub fn hash(&self) -> B256 {
        self.hash
    }

    /// The code as deployed.
    pub fn original_bytes(&self) -> Bytes {
        self.bytecode.original_bytes()
    }

    /// Whether there is no code at all.
    pub fn is_empty(&self) -> bool {
        self.bytecode.is_empty()
    }
}

impl From<Bytecode> for Code {
    fn from(bytecode: Bytecode) -> Self {
        Self::new(bytecode)
    }
}

/// Equal hashes mean equal code.
impl PartialEq for Code {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
    }
}

impl Eq for Code {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_revm_and_empty_code_hashes_to_keccak_empty() {
        let bytecode = Bytecode::new_raw(Bytes::from_static(&[0x60, 0x01, 0x00]));
        let code = Code::new(bytecode.clone());
        assert_eq!(code.hash(), bytecode.hash_slow());
        assert_eq!(code.original_bytes(), bytecode.original_bytes());
        assert_eq!(Code::new(Bytecode::default()).hash(), KECCAK_EMPTY);
        assert_ne!(code, Code::new(Bytecode::default()));
    }
}
