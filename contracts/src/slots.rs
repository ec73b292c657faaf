//! Solidity's storage addressing: where a mapping entry or a short string
//! lives, computed from the layout rather than by running anything.

use crate::error::ContractError;
use alloy_primitives::{Address, B256, U256, keccak256};

/// The slot of `mapping[key]` for a mapping at `base`:
/// `keccak256(pad32(key) ++ base)`.
pub fn mapping_slot(key: B256, base: U256) -> U256 {
    let mut preimage = [0u8; 64];
    preimage[..32].copy_from_slice(key.as_slice());
    preimage[32..].copy_from_slice(&base.to_be_bytes::<32>());
    U256::from_be_bytes(keccak256(preimage).0)
}

/// An address as a mapping key (left-padded to 32 bytes).
pub(crate) fn address_key(address: Address) -> B256 {
    address.into_word()
}

/// `mapping[a]` for an address-keyed mapping at `base`.
pub fn address_slot(address: Address, base: U256) -> U256 {
    mapping_slot(address_key(address), base)
}

/// `mapping[a][b]` for a nested address-keyed mapping at `base`.
pub fn nested_address_slot(a: Address, b: Address, base: U256) -> U256 {
    mapping_slot(address_key(b), address_slot(a, base))
}

/// The one-slot encoding of a string under 32 bytes: the bytes left-aligned,
/// twice the length in the lowest byte.
pub fn short_string(what: &'static str, value: &str) -> Result<U256, ContractError> {
    let bytes = value.as_bytes();
    if bytes.len() > 31 {
        return Err(ContractError::StringTooLong { what, value: value.to_string(), len: bytes.len() });
    }
    let mut word = [0u8; 32];
    word[..bytes.len()].copy_from_slice(bytes);
    word[31] = (bytes.len() * 2) as u8;
    Ok(U256::from_be_bytes(word))
}
