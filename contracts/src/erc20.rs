//! The ERC-20 token (`solidity/Token.sol`): bindings, genesis, and the
//! declared access of each operation.

use crate::artifact::{self, Artifact};
use crate::call::Call;
use crate::error::ContractError;
use crate::slots::{address_slot, nested_address_slot, short_string};
use alloy_primitives::{Address, U256};
use alloy_sol_types::{SolCall, sol};
use defivm_vm::{AccessSet, Account, Bytecode, State, StateKey};

sol!(
    /// The token's interface, from the compiled ABI.
    #[derive(Debug, PartialEq, Eq)]
    IToken,
    "artifacts/Token.json"
);

/// A deployed token: its address and the slots its layout puts things in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erc20 {
    /// Where the token lives.
    pub address: Address,
    total_supply: U256,
    balances: U256,
    allowances: U256,
}

impl Erc20 {
    /// The token at `address`, with slots from the compiled layout.
    pub fn at(address: Address) -> Result<Self, ContractError> {
        let artifact = artifact::token()?;
        Ok(Self {
            address,
            total_supply: artifact.slot("totalSupply")?,
            balances: artifact.slot("balanceOf")?,
            allowances: artifact.slot("allowance")?,
        })
    }

    /// The compiled contract.
    pub fn artifact() -> Result<&'static Artifact, ContractError> {
        artifact::token()
    }

    /// Deploys the token into `state` at `address` with the given balances
    /// (the total supply is their sum), as if minted before the block.
    pub fn deploy(
        state: &mut State,
        address: Address,
        name: &str,
        symbol: &str,
        balances: &[(Address, U256)],
    ) -> Result<Self, ContractError> {
        let artifact = artifact::token()?;
        let token = Self::at(address)?;
        let mut account = Account {
            nonce: 1,
            code: Some(Bytecode::new_raw(artifact.deployed_bytecode.clone())),
            ..Account::default()
        };
        account.storage.insert(artifact.slot("name")?, short_string("token name", name)?);
        account.storage.insert(artifact.slot("symbol")?, short_string("token symbol", symbol)?);
        let mut supply = U256::ZERO;
        for &(holder, amount) in balances {
            *account.storage.value_mut(token.balance_slot(holder)) += amount;
            supply += amount;
        }
        account.storage.insert(token.total_supply, supply);
        state.insert_account(address, account);
        Ok(token)
    }

    /// Adds `amount` to `holder`'s balance (and the supply) in `state`, as
    /// if minted before the block. Does nothing if the token is not there.
    pub fn credit(&self, state: &mut State, holder: Address, amount: U256) {
        if let Some(account) = state.account_mut(&self.address) {
            *account.storage.value_mut(self.balance_slot(holder)) += amount;
            *account.storage.value_mut(self.total_supply) += amount;
        }
    }

    /// Sets what `spender` may move for `owner` in `state`, as if approved
    /// before the block.
    pub fn approve_at_genesis(&self, state: &mut State, owner: Address, spender: Address, amount: U256) {
        if let Some(account) = state.account_mut(&self.address) {
            account.storage.insert(self.allowance_slot(owner, spender), amount);
        }
    }

    /// The storage key of `holder`'s balance.
    pub fn balance_slot(&self, holder: Address) -> U256 {
        address_slot(holder, self.balances)
    }

    /// The storage key of what `spender` may move for `owner`.
    pub fn allowance_slot(&self, owner: Address, spender: Address) -> U256 {
        nested_address_slot(owner, spender, self.allowances)
    }

    /// `holder`'s balance in `state`.
    pub fn balance_of(&self, state: &State, holder: Address) -> U256 {
        state.storage(&self.address, &self.balance_slot(holder))
    }

    /// What `spender` may move for `owner` in `state`.
    pub fn allowance_of(&self, state: &State, owner: Address, spender: Address) -> U256 {
        state.storage(&self.address, &self.allowance_slot(owner, spender))
    }

    pub(crate) fn key(&self, slot: U256) -> StateKey {
        StateKey::Storage(self.address, slot)
    }

    /// `from` sends `value` to `to`: writes both balances.
    pub fn transfer(&self, from: Address, to: Address, value: U256) -> Call {
        let access = AccessSet::new(vec![], vec![self.key(self.balance_slot(from)), self.key(self.balance_slot(to))]);
        self.call(IToken::transferCall { to, value }.abi_encode(), access)
    }

    /// `owner` lets `spender` move `value`: writes the allowance.
    pub fn approve(&self, owner: Address, spender: Address, value: U256) -> Call {
        let access = AccessSet::new(vec![], vec![self.key(self.allowance_slot(owner, spender))]);
        self.call(IToken::approveCall { spender, value }.abi_encode(), access)
    }

    /// `spender` moves `value` of `from`'s tokens to `to`: writes the
    /// allowance (read only, in effect, when it is unlimited) and both
    /// balances.
    pub fn transfer_from(&self, spender: Address, from: Address, to: Address, value: U256) -> Call {
        let access = AccessSet::new(
            vec![],
            vec![
                self.key(self.allowance_slot(from, spender)),
                self.key(self.balance_slot(from)),
                self.key(self.balance_slot(to)),
            ],
        );
        self.call(IToken::transferFromCall { from, to, value }.abi_encode(), access)
    }

    fn call(&self, input: Vec<u8>, access: AccessSet<StateKey>) -> Call {
        Call { to: self.address, input: input.into(), value: U256::ZERO, access }
    }
}
