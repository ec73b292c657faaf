//! The DEX (`solidity/Pair.sol`, `solidity/Router.sol`): a constant-product
//! pair with a 0.3% fee and a stateless router. Bindings, genesis, and the
//! declared access of swaps along a path and of liquidity changes.

use crate::artifact;
use crate::call::Call;
use crate::erc20::Erc20;
use crate::error::ContractError;
use crate::slots::{address_slot, nested_address_slot};
use alloy_primitives::{Address, U256};
use alloy_sol_types::{SolCall, sol};
use defivm_vm::{AccessSet, Account, Bytecode, State, StateKey};

sol!(
    /// The pair's interface, from the compiled ABI.
    #[derive(Debug, PartialEq, Eq)]
    IPair,
    "artifacts/Pair.json"
);

sol!(
    /// The router's interface, from the compiled ABI.
    #[derive(Debug, PartialEq, Eq)]
    IRouter,
    "artifacts/Router.json"
);

/// What a pair pays out for `amount_in` against the given reserves (0.3%
/// fee), exactly as `Router.getAmountOut` computes it.
pub fn amount_out(amount_in: U256, reserve_in: U256, reserve_out: U256) -> U256 {
    let with_fee = amount_in * U256::from(997);
    with_fee * reserve_out / (reserve_in * U256::from(1000) + with_fee)
}

/// A deployed pair: its address, its two tokens (sorted by address, as the
/// contract requires) and its storage slots from the compiled layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    /// Where the pair lives.
    pub address: Address,
    /// The token with the lower address.
    pub token0: Erc20,
    /// The token with the higher address.
    pub token1: Erc20,
    total_supply: U256,
    balances: U256,
    allowances: U256,
    token0_slot: U256,
    token1_slot: U256,
    reserves: U256,
    reserve1_offset: u32,
    timestamp_offset: u32,
    unlocked: U256,
}

impl Pair {
    /// The pair of `a` and `b` at `address`.
    pub fn at(address: Address, a: Erc20, b: Erc20) -> Result<Self, ContractError> {
        let artifact = artifact::pair()?;
        let (token0, token1) = if a.address < b.address { (a, b) } else { (b, a) };
        Ok(Self {
            address,
            token0,
            token1,
            total_supply: artifact.slot("totalSupply")?,
            balances: artifact.slot("balanceOf")?,
            allowances: artifact.slot("allowance")?,
            token0_slot: artifact.slot("token0")?,
            token1_slot: artifact.slot("token1")?,
            reserves: artifact.slot("reserve0")?,
            reserve1_offset: artifact.placement("reserve1")?.1,
            timestamp_offset: artifact.placement("blockTimestampLast")?.1,
            unlocked: artifact.slot("unlocked")?,
        })
    }

    /// Deploys a pair of `a` and `b` holding `reserve_a` and `reserve_b`
    /// (credited to the pair in the token contracts), with the shares of
    /// that first deposit held by `provider` (less the minimum liquidity,
    /// which the zero address holds, as after a first `mint`).
    pub fn deploy(
        state: &mut State,
        address: Address,
        (a, reserve_a): (Erc20, U256),
        (b, reserve_b): (Erc20, U256),
        provider: Address,
    ) -> Result<Self, ContractError> {
        let pair = Self::at(address, a, b)?;
        let (reserve0, reserve1) = if a.address < b.address { (reserve_a, reserve_b) } else { (reserve_b, reserve_a) };
        pair.token0.credit(state, address, reserve0);
        pair.token1.credit(state, address, reserve1);
        let code = Bytecode::new_raw(artifact::pair()?.deployed_bytecode.clone());
        let mut account = Account { nonce: 1, code: Some(code), ..Account::default() };
        let shares = (reserve0 * reserve1).root(2);
        let minimum = U256::from(1000);
        let storage = &mut account.storage;
        storage.insert(pair.token0_slot, U256::from_be_slice(pair.token0.address.as_slice()));
        storage.insert(pair.token1_slot, U256::from_be_slice(pair.token1.address.as_slice()));
        storage.insert(pair.reserves, pair.pack_reserves(reserve0, reserve1, 0));
        storage.insert(pair.unlocked, U256::from(1));
        storage.insert(pair.total_supply, shares);
        storage.insert(pair.share_slot(Address::ZERO), minimum.min(shares));
        storage.insert(pair.share_slot(provider), shares.saturating_sub(minimum));
        state.insert_account(address, account);
        Ok(pair)
    }

    fn pack_reserves(&self, reserve0: U256, reserve1: U256, timestamp: u32) -> U256 {
        reserve0 | (reserve1 << (self.reserve1_offset * 8)) | (U256::from(timestamp) << (self.timestamp_offset * 8))
    }

    /// The reserves recorded in `state`.
    pub fn reserves(&self, state: &State) -> (U256, U256) {
        let word = state.storage(&self.address, &self.reserves);
        let mask = (U256::from(1) << 112) - U256::from(1);
        (word & mask, (word >> (self.reserve1_offset * 8)) & mask)
    }

    /// Lets `spender` move `owner`'s shares in `state`, as if approved
    /// before the block.
    pub fn approve_shares_at_genesis(&self, state: &mut State, owner: Address, spender: Address, amount: U256) {
        if let Some(account) = state.account_mut(&self.address) {
            account.storage.insert(self.share_allowance_slot(owner, spender), amount);
        }
    }

    /// The storage key of `holder`'s liquidity shares.
    pub fn share_slot(&self, holder: Address) -> U256 {
        address_slot(holder, self.balances)
    }

    /// The storage key of what `spender` may move of `owner`'s shares.
    pub fn share_allowance_slot(&self, owner: Address, spender: Address) -> U256 {
        nested_address_slot(owner, spender, self.allowances)
    }

    /// `holder`'s shares in `state`.
    pub fn shares_of(&self, state: &State, holder: Address) -> U256 {
        state.storage(&self.address, &self.share_slot(holder))
    }

    /// The other token of the pair, if `token` is one of its two.
    pub fn other(&self, token: Address) -> Option<Erc20> {
        if token == self.token0.address {
            Some(self.token1)
        } else if token == self.token1.address {
            Some(self.token0)
        } else {
            None
        }
    }

    fn key(&self, slot: U256) -> StateKey {
        StateKey::Storage(self.address, slot)
    }

    /// What any call into the pair's `swap`, `mint` or `burn` touches of the
    /// pair itself: its account, the token addresses, the reserves and the
    /// lock.
    fn core_access(&self, access: &mut AccessSet<StateKey>) {
        access.read(StateKey::Account(self.address));
        access.read(self.key(self.token0_slot));
        access.read(self.key(self.token1_slot));
        access.write(self.key(self.reserves));
        access.write(self.key(self.unlocked));
        access.read(StateKey::Account(self.token0.address));
        access.read(StateKey::Account(self.token1.address));
        access.write(self.token0.key(self.token0.balance_slot(self.address)));
        access.write(self.token1.key(self.token1.balance_slot(self.address)));
    }
}

/// The router, stateless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Router {
    /// Where the router lives.
    pub address: Address,
}

impl Router {
    /// Deploys the router's code at `address`.
    pub fn deploy(state: &mut State, address: Address) -> Result<Self, ContractError> {
        let code = Bytecode::new_raw(artifact::router()?.deployed_bytecode.clone());
        state.insert_account(address, Account { nonce: 1, code: Some(code), ..Account::default() });
        Ok(Self { address })
    }

    /// `user` swaps exactly `amount_in` of `token_in` along `path`, sending
    /// the output to `to`. Fails if `token_in` does not start the path or a
    /// pair does not continue it.
    #[allow(clippy::too_many_arguments)]
    pub fn swap_exact_in(
        &self,
        user: Address,
        amount_in: U256,
        min_out: U256,
        path: &[Pair],
        token_in: Erc20,
        to: Address,
        deadline: u64,
    ) -> Result<Call, ContractError> {
        let mut access = AccessSet::default();
        access.write(token_in.key(token_in.allowance_slot(user, self.address)));
        access.write(token_in.key(token_in.balance_slot(user)));
        let mut token = token_in;
        for (i, pair) in path.iter().enumerate() {
            pair.core_access(&mut access);
            let out = pair
                .other(token.address)
                .ok_or(ContractError::InvalidPath { pair: pair.address, token: token.address })?;
            let recipient = path.get(i + 1).map_or(to, |next| next.address);
            access.write(out.key(out.balance_slot(recipient)));
            token = out;
        }
        let input = IRouter::swapExactTokensForTokensCall {
            amountIn: amount_in,
            amountOutMin: min_out,
            pairs: path.iter().map(|p| p.address).collect(),
            tokenIn: token_in.address,
            to,
            deadline: U256::from(deadline),
        };
        Ok(self.call(input.abi_encode(), access))
    }

    /// `user` deposits up to the desired amounts of the pair's two tokens
    /// and the shares go to `to`.
    #[allow(clippy::too_many_arguments)]
    pub fn add_liquidity(
        &self,
        user: Address,
        pair: &Pair,
        (amount0, amount1): (U256, U256),
        (min0, min1): (U256, U256),
        to: Address,
        deadline: u64,
    ) -> Call {
        let mut access = AccessSet::default();
        pair.core_access(&mut access);
        for token in [pair.token0, pair.token1] {
            access.write(token.key(token.allowance_slot(user, self.address)));
            access.write(token.key(token.balance_slot(user)));
        }
        access.write(pair.key(pair.total_supply));
        access.write(pair.key(pair.share_slot(to)));
        // The first deposit locks the minimum liquidity at the zero address.
        access.write(pair.key(pair.share_slot(Address::ZERO)));
        let input = IRouter::addLiquidityCall {
            pair: pair.address,
            amount0Desired: amount0,
            amount1Desired: amount1,
            amount0Min: min0,
            amount1Min: min1,
            to,
            deadline: U256::from(deadline),
        };
        self.call(input.abi_encode(), access)
    }

    /// `user` burns `shares` of the pair; both tokens go to `to`.
    pub fn remove_liquidity(
        &self,
        user: Address,
        pair: &Pair,
        shares: U256,
        (min0, min1): (U256, U256),
        to: Address,
        deadline: u64,
    ) -> Call {
        let mut access = AccessSet::default();
        pair.core_access(&mut access);
        access.write(pair.key(pair.share_allowance_slot(user, self.address)));
        access.write(pair.key(pair.share_slot(user)));
        access.write(pair.key(pair.share_slot(pair.address)));
        access.write(pair.key(pair.total_supply));
        for token in [pair.token0, pair.token1] {
            access.write(token.key(token.balance_slot(to)));
        }
        let input = IRouter::removeLiquidityCall {
            pair: pair.address,
            liquidity: shares,
            amount0Min: min0,
            amount1Min: min1,
            to,
            deadline: U256::from(deadline),
        };
        self.call(input.abi_encode(), access)
    }

    /// `user` lets the router move its shares of `pair` (before removing
    /// liquidity).
    pub fn approve_shares(&self, user: Address, pair: &Pair, shares: U256) -> Call {
        let access = AccessSet::new(vec![], vec![pair.key(pair.share_allowance_slot(user, self.address))]);
        let input = IPair::approveCall { spender: self.address, value: shares };
        Call { to: pair.address, input: input.abi_encode().into(), value: U256::ZERO, access }
    }

    fn call(&self, input: Vec<u8>, access: AccessSet<StateKey>) -> Call {
        Call { to: self.address, input: input.into(), value: U256::ZERO, access }
    }
}
