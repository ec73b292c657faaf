//! The committed solc artifacts, read at first use.

use crate::error::ContractError;
use alloy_primitives::{Bytes, U256};
use serde::Deserialize;
use std::sync::OnceLock;

/// One compiled contract, as `npm run compile` writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// The contract's name.
    pub contract_name: String,
    /// The solc version that compiled it.
    pub compiler: String,
    /// Init code.
    pub bytecode: Bytes,
    /// Runtime code.
    pub deployed_bytecode: Bytes,
    /// Where each state variable lives.
    pub storage_layout: Vec<StorageVariable>,
    /// The members of each struct type (`struct Contract.Name`), with their
    /// slots relative to the struct's first slot.
    #[serde(default)]
    pub structs: std::collections::BTreeMap<String, Vec<StorageVariable>>,
}

/// A state variable's place in storage.
#[derive(Debug, Clone, Deserialize)]
pub struct StorageVariable {
    /// Its name in the source.
    pub label: String,
    /// Its slot (decimal, as solc writes it).
    pub slot: String,
    /// Its byte offset inside the slot (packed variables).
    pub offset: u32,
    /// Its Solidity type.
    #[serde(rename = "type")]
    pub ty: String,
}

impl Artifact {
    fn parse(name: &str, json: &str) -> Result<Self, ContractError> {
        serde_json::from_str(json)
            .map_err(|e| ContractError::Artifact { contract: name.to_string(), message: e.to_string() })
    }

    /// The slot of state variable `label`, from the compiled layout.
    pub fn slot(&self, label: &str) -> Result<U256, ContractError> {
        Ok(self.placement(label)?.0)
    }

    /// The slot of member `member` of struct `name` (as `struct Contract.Name`),
    /// relative to the struct's first slot.
    pub fn member(&self, name: &str, member: &str) -> Result<U256, ContractError> {
        let unknown = || ContractError::UnknownVariable {
            contract: self.contract_name.clone(),
            variable: format!("{name}.{member}"),
        };
        let m = self.structs.get(name).and_then(|ms| ms.iter().find(|m| m.label == member)).ok_or_else(unknown)?;
        m.slot.parse().map_err(|_| unknown())
    }

    /// The slot and byte offset of state variable `label` (packed variables
    /// share a slot at different offsets).
    pub fn placement(&self, label: &str) -> Result<(U256, u32), ContractError> {
        let variable = self.storage_layout.iter().find(|v| v.label == label).ok_or_else(|| {
            ContractError::UnknownVariable { contract: self.contract_name.clone(), variable: label.to_string() }
        })?;
        let slot = variable.slot.parse().map_err(|_| ContractError::Artifact {
            contract: self.contract_name.clone(),
            message: format!("slot {:?} of {label} is not a number", variable.slot),
        })?;
        Ok((slot, variable.offset))
    }
}

macro_rules! artifacts {
    ($($fn_name:ident => $file:literal),* $(,)?) => {
        $(
            #[doc = concat!("The compiled `", $file, "`.")]
            pub(crate) fn $fn_name() -> Result<&'static Artifact, ContractError> {
                static CELL: OnceLock<Result<Artifact, ContractError>> = OnceLock::new();
                CELL.get_or_init(|| Artifact::parse($file, include_str!(concat!("../artifacts/", $file, ".json"))))
                    .as_ref()
                    .map_err(Clone::clone)
            }
        )*
    };
}

/// Every compiled contract, to recognise deployed code by.
pub fn all() -> Result<Vec<&'static Artifact>, ContractError> {
    [token(), pair(), router(), staking(), oracle(), lending_pool()].into_iter().collect()
}

artifacts! {
    token => "Token",
    pair => "Pair",
    router => "Router",
    staking => "Staking",
    oracle => "Oracle",
    lending_pool => "LendingPool",
}
