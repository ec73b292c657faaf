//! Lending (`solidity/LendingPool.sol`, `solidity/Oracle.sol`): a
//! Compound-style pool of markets priced by an oracle. Bindings, genesis,
//! and the declared access of supply, withdraw, borrow, repay and
//! liquidate.
//!
//! Withdrawals, borrows and liquidations check the whole position of one
//! account against every listed market and its oracle price, so they
//! declare reads of every market; supplies and repayments touch only their
//! own market.

use crate::artifact;
use crate::call::Call;
use crate::erc20::Erc20;
use crate::error::ContractError;
use crate::slots::{address_slot, nested_address_slot};
use alloy_primitives::{Address, U256, keccak256};
use alloy_sol_types::{SolCall, sol};
use defivm_vm::{AccessSet, Account, Bytecode, State, StateKey};

sol!(
    /// The pool's interface, from the compiled ABI.
    #[derive(Debug, PartialEq, Eq)]
    ILendingPool,
    "artifacts/LendingPool.json"
);

sol!(
    /// The oracle's interface, from the compiled ABI.
    #[derive(Debug, PartialEq, Eq)]
    IOracle,
    "artifacts/Oracle.json"
);

/// 1.0 in the pool's fixed-point scale.
pub const WAD: u64 = 1_000_000_000_000_000_000;

/// A deployed price oracle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Oracle {
    /// Where the oracle lives.
    pub address: Address,
    /// Who may set prices.
    pub owner: Address,
    prices: U256,
}

impl Oracle {
    /// Deploys an oracle owned by `owner` with initial `prices` (USD per
    /// whole token, scaled by 1e18).
    pub fn deploy(
        state: &mut State,
        address: Address,
        owner: Address,
        prices: &[(Address, U256)],
    ) -> Result<Self, ContractError> {
        let artifact = artifact::oracle()?;
        let oracle = Self { address, owner, prices: artifact.slot("price")? };
        let mut account = Account {
            nonce: 1,
            code: Some(Bytecode::new_raw(artifact.deployed_bytecode.clone())),
            ..Account::default()
        };
        account.storage.insert(artifact.slot("owner")?, U256::from_be_slice(owner.as_slice()));
        for &(token, price) in prices {
            account.storage.insert(oracle.price_slot(token), price);
        }
        state.insert_account(address, account);
        Ok(oracle)
    }

    fn price_slot(&self, token: Address) -> U256 {
        address_slot(token, self.prices)
    }

    fn price_key(&self, token: Address) -> StateKey {
        StateKey::Storage(self.address, self.price_slot(token))
    }

    /// The owner sets `token`'s price.
    pub fn set_price(&self, token: Address, price: U256) -> Call {
        let mut access = AccessSet::default();
        access.read(StateKey::Storage(self.address, U256::ZERO)); // owner
        access.write(self.price_key(token));
        let input = IOracle::setPriceCall { token, newPrice: price }.abi_encode();
        Call { to: self.address, input: input.into(), value: U256::ZERO, access }
    }
}

/// A market to list at genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketConfig {
    /// The token lent and borrowed.
    pub token: Erc20,
    /// Share of the collateral's value that counts toward borrowing (1e18 = 100%).
    pub collateral_factor: U256,
    /// Liquidity supplied at genesis by the pool's provider.
    pub liquidity: U256,
}

/// Field slots of the `Market` and `Borrow` structs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fields {
    collateral_factor: U256,
    cash: U256,
    total_shares: U256,
    total_borrows: U256,
    borrow_index: U256,
    last_accrual: U256,
    principal: U256,
    index: U256,
}

/// A deployed lending pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LendingPool {
    /// Where the pool lives.
    pub address: Address,
    /// Its price feed.
    pub oracle: Oracle,
    /// Listed markets, in listing order.
    pub markets: Vec<Erc20>,
    oracle_slot: U256,
    assets: U256,
    market_base: U256,
    share_base: U256,
    borrow_base: U256,
    fields: Fields,
}

impl LendingPool {
    /// Deploys a pool over `markets`, priced by `oracle`, accruing from
    /// `timestamp`; each market's genesis liquidity is supplied by
    /// `provider` (who holds the matching shares).
    pub fn deploy(
        state: &mut State,
        address: Address,
        oracle: Oracle,
        markets: &[MarketConfig],
        provider: Address,
        timestamp: u64,
    ) -> Result<Self, ContractError> {
        let artifact = artifact::lending_pool()?;
        let (market, borrow) = ("struct LendingPool.Market", "struct LendingPool.Borrow");
        let fields = Fields {
            collateral_factor: artifact.member(market, "collateralFactor")?,
            cash: artifact.member(market, "cash")?,
            total_shares: artifact.member(market, "totalShares")?,
            total_borrows: artifact.member(market, "totalBorrows")?,
            borrow_index: artifact.member(market, "borrowIndex")?,
            last_accrual: artifact.member(market, "lastAccrual")?,
            principal: artifact.member(borrow, "principal")?,
            index: artifact.member(borrow, "index")?,
        };
        let pool = Self {
            address,
            oracle,
            markets: markets.iter().map(|m| m.token).collect(),
            oracle_slot: artifact.slot("oracle")?,
            assets: artifact.slot("assets")?,
            market_base: artifact.slot("markets")?,
            share_base: artifact.slot("shares")?,
            borrow_base: artifact.slot("borrows")?,
            fields,
        };
        let mut account = Account {
            nonce: 1,
            code: Some(Bytecode::new_raw(artifact.deployed_bytecode.clone())),
            ..Account::default()
        };
        let storage = &mut account.storage;
        storage.insert(pool.oracle_slot, U256::from_be_slice(oracle.address.as_slice()));
        storage.insert(pool.assets, U256::from(markets.len()));
        for (i, m) in markets.iter().enumerate() {
            storage.insert(pool.asset_slot(i), U256::from_be_slice(m.token.address.as_slice()));
            let slot = |field| pool.market_slot(m.token.address, field);
            storage.insert(slot(fields.collateral_factor), m.collateral_factor);
            storage.insert(slot(fields.borrow_index), U256::from(WAD));
            storage.insert(slot(fields.last_accrual), U256::from(timestamp));
            storage.insert(slot(fields.cash), m.liquidity);
            storage.insert(slot(fields.total_shares), m.liquidity);
            storage.insert(pool.share_slot(m.token.address, provider), m.liquidity);
            m.token.credit(state, address, m.liquidity);
        }
        state.insert_account(address, account);
        Ok(pool)
    }

    fn asset_slot(&self, i: usize) -> U256 {
        U256::from_be_bytes(keccak256(self.assets.to_be_bytes::<32>()).0) + U256::from(i)
    }

    fn market_slot(&self, asset: Address, field: U256) -> U256 {
        address_slot(asset, self.market_base) + field
    }

    fn share_slot(&self, asset: Address, user: Address) -> U256 {
        nested_address_slot(asset, user, self.share_base)
    }

    fn borrow_slot(&self, asset: Address, user: Address, field: U256) -> U256 {
        nested_address_slot(asset, user, self.borrow_base) + field
    }

    /// `user`'s supply shares of `asset` in `state`.
    pub fn shares_of(&self, state: &State, asset: Address, user: Address) -> U256 {
        state.storage(&self.address, &self.share_slot(asset, user))
    }

    /// `user`'s borrow principal of `asset` in `state` (as of its last update).
    pub fn principal_of(&self, state: &State, asset: Address, user: Address) -> U256 {
        state.storage(&self.address, &self.borrow_slot(asset, user, self.fields.principal))
    }

    fn key(&self, slot: U256) -> StateKey {
        StateKey::Storage(self.address, slot)
    }

    /// Accrual of `asset`'s market: every field but the collateral factor
    /// may change.
    fn accrue(&self, access: &mut AccessSet<StateKey>, asset: Address) {
        let f = self.fields;
        access.read(self.key(self.market_slot(asset, f.collateral_factor)));
        for field in [f.cash, f.total_shares, f.total_borrows, f.borrow_index, f.last_accrual] {
            access.write(self.key(self.market_slot(asset, field)));
        }
    }

    /// The health check of `user`: every market, its price and the user's
    /// shares and debt in it.
    fn health(&self, access: &mut AccessSet<StateKey>, user: Address) {
        let f = self.fields;
        access.read(self.key(self.oracle_slot));
        access.read(self.key(self.assets));
        access.read(StateKey::Account(self.oracle.address));
        for (i, token) in self.markets.iter().enumerate() {
            let asset = token.address;
            access.read(self.key(self.asset_slot(i)));
            access.read(self.oracle.price_key(asset));
            for field in [f.collateral_factor, f.cash, f.total_shares, f.total_borrows, f.borrow_index] {
                access.read(self.key(self.market_slot(asset, field)));
            }
            access.read(self.key(self.share_slot(asset, user)));
            access.read(self.key(self.borrow_slot(asset, user, f.principal)));
            access.read(self.key(self.borrow_slot(asset, user, f.index)));
        }
    }

    fn debt(&self, access: &mut AccessSet<StateKey>, asset: Address, user: Address) {
        access.write(self.key(self.borrow_slot(asset, user, self.fields.principal)));
        access.write(self.key(self.borrow_slot(asset, user, self.fields.index)));
    }

    /// `token` moves between the pool and `user` (`pull`: with the pool's
    /// allowance, from the user).
    fn settle(&self, access: &mut AccessSet<StateKey>, token: Erc20, user: Address, pull: bool) {
        access.read(StateKey::Account(token.address));
        access.write(token.key(token.balance_slot(user)));
        access.write(token.key(token.balance_slot(self.address)));
        if pull {
            access.write(token.key(token.allowance_slot(user, self.address)));
        }
    }

    /// `user` supplies `amount` of `token`.
    pub fn supply(&self, user: Address, token: Erc20, amount: U256) -> Call {
        let mut access = AccessSet::default();
        self.accrue(&mut access, token.address);
        access.write(self.key(self.share_slot(token.address, user)));
        self.settle(&mut access, token, user, true);
        self.call(ILendingPool::supplyCall { asset: token.address, amount }.abi_encode(), access)
    }

    /// `user` redeems `shares` of `token`'s market.
    pub fn withdraw(&self, user: Address, token: Erc20, shares: U256) -> Call {
        let mut access = AccessSet::default();
        self.accrue(&mut access, token.address);
        access.write(self.key(self.share_slot(token.address, user)));
        self.health(&mut access, user);
        self.settle(&mut access, token, user, false);
        self.call(ILendingPool::withdrawCall { asset: token.address, shareAmount: shares }.abi_encode(), access)
    }

    /// `user` borrows `amount` of `token`.
    pub fn borrow(&self, user: Address, token: Erc20, amount: U256) -> Call {
        let mut access = AccessSet::default();
        self.accrue(&mut access, token.address);
        self.debt(&mut access, token.address, user);
        self.health(&mut access, user);
        self.settle(&mut access, token, user, false);
        self.call(ILendingPool::borrowCall { asset: token.address, amount }.abi_encode(), access)
    }

    /// `payer` repays up to `amount` of `borrower`'s `token` debt.
    pub fn repay(&self, payer: Address, token: Erc20, borrower: Address, amount: U256) -> Call {
        let mut access = AccessSet::default();
        self.accrue(&mut access, token.address);
        self.debt(&mut access, token.address, borrower);
        self.settle(&mut access, token, payer, true);
        self.call(ILendingPool::repayCall { asset: token.address, borrower, amount }.abi_encode(), access)
    }

    /// `liquidator` repays `amount` of `borrower`'s `debt` and seizes their
    /// `collateral` shares.
    pub fn liquidate(
        &self,
        liquidator: Address,
        borrower: Address,
        (debt, amount): (Erc20, U256),
        collateral: Erc20,
    ) -> Call {
        let mut access = AccessSet::default();
        self.accrue(&mut access, debt.address);
        self.accrue(&mut access, collateral.address);
        self.health(&mut access, borrower);
        self.debt(&mut access, debt.address, borrower);
        self.settle(&mut access, debt, liquidator, true);
        access.write(self.key(self.share_slot(collateral.address, borrower)));
        access.write(self.key(self.share_slot(collateral.address, liquidator)));
        let input = ILendingPool::liquidateCall {
            borrower,
            repayAsset: debt.address,
            amount,
            collateralAsset: collateral.address,
        };
        self.call(input.abi_encode(), access)
    }

    fn call(&self, input: Vec<u8>, access: AccessSet<StateKey>) -> Call {
        Call { to: self.address, input: input.into(), value: U256::ZERO, access }
    }
}
