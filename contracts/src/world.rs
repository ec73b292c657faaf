//! A whole DeFi world in one genesis: users with ether and tokens, pools
//! between tokens, a lending pool with an oracle, staking pools.

use crate::dex::{Pair, Router};
use crate::erc20::Erc20;
use crate::error::ContractError;
use crate::lending::{LendingPool, MarketConfig, Oracle, WAD};
use crate::staking::{RewardPeriod, Staking};
use alloy_primitives::{Address, U256};
use defivm_vm::{Account, State};

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldConfig {
    /// Funded users.
    pub users: usize,
    /// ERC-20 tokens (at least 2 for pools and lending).
    pub tokens: usize,
    /// DEX pools: pool `i` pairs token `i % tokens` with token `(i + 1) % tokens`.
    pub pools: usize,
    /// Lending markets: the first `markets` tokens.
    pub markets: usize,
    /// Staking pools: pool `i` stakes token `i % tokens` for rewards in the next.
    pub staking_pools: usize,
    /// Whole tokens each user holds of every token.
    pub user_tokens: u64,
    /// Whole tokens on each side of every DEX pool, and in every lending market.
    pub liquidity: u64,
    /// When the genesis is taken (reward periods and interest start here).
    pub timestamp: u64,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            users: 100,
            tokens: 4,
            pools: 4,
            markets: 3,
            staking_pools: 2,
            user_tokens: 1_000_000,
            liquidity: 10_000_000,
            timestamp: defivm_vm::BlockEnv::default().timestamp,
        }
    }
}

/// A built world: the genesis state and handles to everything in it.
#[derive(Debug, Clone)]
pub struct World {
    /// The genesis.
    pub state: State,
    /// Funded users.
    pub users: Vec<Address>,
    /// The tokens.
    pub tokens: Vec<Erc20>,
    /// The DEX router.
    pub router: Router,
    /// The DEX pools.
    pub pools: Vec<Pair>,
    /// The lending pool (with no markets if `markets` is 0).
    pub lending: LendingPool,
    /// The staking pools.
    pub staking: Vec<Staking>,
    /// Who provided the genesis liquidity, owns the oracle and funds rewards.
    pub operator: Address,
}

/// `tag` followed by `i`: distinct, readable addresses per kind of thing.
fn address(tag: u8, i: usize) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = tag;
    bytes[12..].copy_from_slice(&(i as u64).to_be_bytes());
    Address::new(bytes)
}

fn whole(n: u64) -> U256 {
    U256::from(n) * U256::from(WAD)
}

impl World {
    /// Builds the world described by `config`.
    pub fn build(config: &WorldConfig) -> Result<Self, ContractError> {
        let mut state = State::new();
        let operator = address(0x0a, 0);
        let users: Vec<Address> = (0..config.users).map(|i| address(0xee, i)).collect();
        let ether = whole(1_000);
        for &user in users.iter().chain([&operator]) {
            state.insert_account(user, Account::with_balance(ether));
        }
        let holdings: Vec<_> = users.iter().map(|&u| (u, whole(config.user_tokens))).collect();
        let tokens = (0..config.tokens)
            .map(|i| {
                let symbol = format!("TK{i}");
                Erc20::deploy(&mut state, address(0x70, i), &format!("Token {i}"), &symbol, &holdings)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let router = Router::deploy(&mut state, address(0x90, 0))?;
        let liquidity = whole(config.liquidity);
        let pools = if tokens.len() < 2 {
            Vec::new()
        } else {
            (0..config.pools)
                .map(|i| {
                    let (a, b) = (tokens[i % tokens.len()], tokens[(i + 1) % tokens.len()]);
                    Pair::deploy(&mut state, address(0xa0, i), (a, liquidity), (b, liquidity), operator)
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        let markets = config.markets.min(tokens.len());
        // Token i is worth i + 1 dollars; every market lends 75% of collateral value.
        let prices: Vec<_> = tokens.iter().enumerate().map(|(i, t)| (t.address, whole(i as u64 + 1))).collect();
        let oracle = Oracle::deploy(&mut state, address(0x0f, 0), operator, &prices)?;
        let configs: Vec<_> = tokens[..markets]
            .iter()
            .map(|&token| MarketConfig {
                token,
                collateral_factor: U256::from(WAD) * U256::from(3) / U256::from(4),
                liquidity,
            })
            .collect();
        let lending = LendingPool::deploy(&mut state, address(0x1e, 0), oracle, &configs, operator, config.timestamp)?;
        let staking = if tokens.len() < 2 {
            Vec::new()
        } else {
            (0..config.staking_pools)
                .map(|i| {
                    let pair = (tokens[i % tokens.len()], tokens[(i + 1) % tokens.len()]);
                    let period = RewardPeriod { reward: liquidity, start: config.timestamp, duration: 30 * 24 * 3600 };
                    Staking::deploy(&mut state, address(0x5a, i), pair, operator, period)
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        Ok(Self { state, users, tokens, router, pools, lending, staking, operator })
    }
}
