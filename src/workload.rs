//! Workloads: generated DeFi blocks, written once and used by the tests, the
//! benches and the CLI.
//!
//! Every workload builds a [`World`] (users, tokens, pools, a lending pool,
//! staking pools), approves every contract for every user at genesis, and
//! draws transactions from a seeded ChaCha8 generator, so the same
//! [`WorkloadSpec`] always gives the same block, byte for byte. Each
//! transaction carries the declaration of the contracts' builders.
//!
//! The contention knob is `hot`: the fraction of transactions aimed at the
//! single hottest target (token 0 and one receiving account for ERC-20
//! transfers, pool 0 for the DEX, market 0 for lending, staking pool 0);
//! the others spread evenly. `hot = 0` spreads everything; `hot = 1` puts
//! everything on one target. [`WorkloadSpec::new`] spreads everything; the
//! CLI and the benches default to [`REALISTIC_HOT`].

use defivm_contracts::{Call, ContractError, Pair, World, WorldConfig};
use defivm_vm::{Address, BlockEnv, Fee, State, Transaction, U256};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

/// The hotness the CLI and the benches call realistic: one transaction in
/// ten aimed at the hottest target. With 4 pools the hottest then takes
/// 0.1 + 0.9 / 4 = 32.5% of the swaps.
pub const REALISTIC_HOT: f64 = 0.1;

/// The users `defivm bench` and the criterion benches give a block of `txs`
/// transactions: a quarter as many, at least 100, so that each user sends
/// about four of them.
pub fn bench_users(txs: usize) -> usize {
    (txs / 4).max(100)
}

/// The kinds of workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    /// ERC-20 transfers.
    Erc20,
    /// DEX swaps (1 and 2 hops) and some liquidity adds and removes.
    Dex,
    /// Lending: supply, borrow, repay, withdraw, and liquidations after
    /// oracle markdowns.
    Lending,
    /// Staking: stake, withdraw, claim, exit.
    Staking,
    /// All of them, in proportions like a DeFi-heavy mainnet block:
    /// 40% transfers, 35% swaps, 15% lending, 10% staking.
    Mixed,
}

impl Workload {
    /// Every workload, for sweeps.
    pub const ALL: [Workload; 5] =
        [Workload::Erc20, Workload::Dex, Workload::Lending, Workload::Staking, Workload::Mixed];

    /// The workload's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Erc20 => "erc20",
            Workload::Dex => "dex",
            Workload::Lending => "lending",
            Workload::Staking => "staking",
            Workload::Mixed => "mixed",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = WorkloadError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Workload::ALL.into_iter().find(|w| w.name() == s).ok_or_else(|| WorkloadError::UnknownWorkload(s.to_string()))
    }
}

/// What went wrong generating a workload.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkloadError {
    /// Not one of [`Workload::ALL`].
    #[error("unknown workload {0:?}: expected one of erc20, dex, lending, staking, mixed")]
    UnknownWorkload(String),
    /// `hot` outside `0..=1`.
    #[error("hot must be between 0 and 1, got {0}")]
    Hot(f64),
    /// Fewer than two users.
    #[error("a workload needs at least 2 users, got {0}")]
    Users(usize),
    /// Too few tokens, pools or markets for the workloads to be meaningful.
    #[error("a workload needs at least {min} {what}, got {got}")]
    TooFew {
        /// Tokens, pools or markets.
        what: &'static str,
        /// The least allowed.
        min: usize,
        /// What was asked for.
        got: usize,
    },
    /// More lending markets than tokens.
    #[error("{markets} lending markets need as many tokens, but there are {tokens}")]
    Markets {
        /// Markets asked for.
        markets: usize,
        /// Tokens asked for.
        tokens: usize,
    },
    /// The world could not be built.
    #[error(transparent)]
    Contracts(#[from] ContractError),
}

/// A workload to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSpec {
    /// Which workload.
    pub workload: Workload,
    /// Transactions in the block.
    pub txs: usize,
    /// Users sending them.
    pub users: usize,
    /// Fraction of transactions aimed at the hottest target, `0..=1`.
    pub hot: f64,
    /// Seed of the generator.
    pub seed: u64,
    /// ERC-20 tokens (at least 3).
    pub tokens: usize,
    /// DEX pools (at least 2); pool `i` pairs tokens `i` and `i + 1`.
    pub pools: usize,
    /// Lending markets (at least 2, at most `tokens`).
    pub markets: usize,
}

impl WorkloadSpec {
    /// `txs` transactions of `workload` from 1,000 users over 4 tokens, 4
    /// pools and 3 markets, no hot spot, seed 1.
    pub fn new(workload: Workload, txs: usize) -> Self {
        Self { workload, txs, users: 1_000, hot: 0.0, seed: 1, tokens: 4, pools: 4, markets: 3 }
    }
}

/// A generated block and the world it runs in.
#[derive(Debug, Clone)]
pub struct GeneratedBlock {
    /// The world (its `state` is the genesis, approvals included).
    pub world: World,
    /// The block environment.
    pub env: BlockEnv,
    /// The transactions, with their declarations.
    pub txs: Vec<Transaction>,
}

impl GeneratedBlock {
    /// The genesis state.
    pub fn state(&self) -> &State {
        &self.world.state
    }
}

/// Where the ERC-20 workload's hot transfers go: an exchange's deposit account.
const HOT_RECEIVER: Address = Address::new([0xec; 20]);

fn whole(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

/// Generates the block `spec` describes.
pub fn generate(spec: &WorkloadSpec) -> Result<GeneratedBlock, WorkloadError> {
    if !(0.0..=1.0).contains(&spec.hot) {
        return Err(WorkloadError::Hot(spec.hot));
    }
    if spec.users < 2 {
        return Err(WorkloadError::Users(spec.users));
    }
    for (what, min, got) in [("tokens", 3, spec.tokens), ("pools", 2, spec.pools), ("markets", 2, spec.markets)] {
        if got < min {
            return Err(WorkloadError::TooFew { what, min, got });
        }
    }
    if spec.markets > spec.tokens {
        return Err(WorkloadError::Markets { markets: spec.markets, tokens: spec.tokens });
    }
    let config = WorldConfig {
        users: spec.users,
        tokens: spec.tokens,
        pools: spec.pools,
        markets: spec.markets,
        ..WorldConfig::default()
    };
    let mut world = World::build(&config)?;
    approve_everything(&mut world);
    let env = BlockEnv { basefee: 7, timestamp: WorldConfig::default().timestamp + 12, ..BlockEnv::default() };
    let mut generator = Generator::new(&world, spec, env.timestamp + 3_600);
    let txs = (0..spec.txs).map(|_| generator.draw()).collect();
    Ok(GeneratedBlock { world, env, txs })
}

/// Every user approves the router, the lending pool and the staking pools
/// without limit, and the router on every pool's shares, at genesis.
pub fn approve_everything(world: &mut World) {
    let state = &mut world.state;
    for &user in &world.users {
        for token in &world.tokens {
            token.approve_at_genesis(state, user, world.router.address, U256::MAX);
            token.approve_at_genesis(state, user, world.lending.address, U256::MAX);
        }
        for pool in &world.staking {
            pool.staking_token.approve_at_genesis(state, user, pool.address, U256::MAX);
        }
        for pair in &world.pools {
            pair.approve_shares_at_genesis(state, user, world.router.address, U256::MAX);
        }
    }
}

/// Whole tokens a risky borrower supplies as collateral.
const RISKY_COLLATERAL: u64 = 100;

/// 1.0 in the lending pool's fixed-point scale.
const WAD: U256 = U256::from_limbs([1_000_000_000_000_000_000, 0, 0, 0]);

/// Where a risky lending position stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Risk {
    /// Collateral supplied; the borrow comes next.
    Collateral { market: usize },
    /// Borrowed 90% of the limit when the collateral had had `marked_down`
    /// markdowns and `recovered` recoveries; liquidatable after one more
    /// markdown and no recovery.
    Borrowed { collateral: usize, debt_market: usize, debt: U256, marked_down: u32, recovered: u32 },
    /// Liquidated once; left alone since.
    Liquidated,
}

/// Draws transactions one at a time, remembering what each user did so far
/// (nonces, supplies, borrows, stakes, deposits) so that later calls make
/// sense.
struct Generator<'w> {
    world: &'w World,
    rng: ChaCha8Rng,
    hot: f64,
    workload: Workload,
    deadline: u64,
    nonces: HashMap<Address, u64>,
    supplied: HashSet<(Address, usize)>,
    borrowed: HashSet<(Address, usize)>,
    staked: HashSet<(Address, usize)>,
    deposited: HashSet<(Address, usize)>,
    /// In address order, so the generator stays deterministic.
    risky: BTreeMap<Address, Risk>,
    /// Oracle price of each market's token, as the generator has set it.
    prices: Vec<U256>,
    /// Markdowns of each market's token so far.
    markdowns: Vec<u32>,
    /// Times each market's token went back to its genesis price, which the
    /// operator does instead of a markdown below a thousandth of it.
    recoveries: Vec<u32>,
}

impl<'w> Generator<'w> {
    fn new(world: &'w World, spec: &WorkloadSpec, deadline: u64) -> Self {
        Self {
            world,
            rng: ChaCha8Rng::seed_from_u64(spec.seed),
            hot: spec.hot,
            workload: spec.workload,
            deadline,
            nonces: HashMap::new(),
            supplied: HashSet::new(),
            borrowed: HashSet::new(),
            staked: HashSet::new(),
            deposited: HashSet::new(),
            risky: BTreeMap::new(),
            // The world prices token i at i + 1 dollars.
            prices: (0..world.lending.markets.len()).map(|i| whole(i as u64 + 1)).collect(),
            markdowns: vec![0; world.lending.markets.len()],
            recoveries: vec![0; world.lending.markets.len()],
        }
    }

    /// The hottest target (0) with probability `hot`, else any of `n`.
    fn target(&mut self, n: usize) -> usize {
        if self.rng.random_bool(self.hot) { 0 } else { self.rng.random_range(0..n) }
    }

    fn draw(&mut self) -> Transaction {
        let user = self.world.users[self.rng.random_range(0..self.world.users.len())];
        let kind = match self.workload {
            Workload::Mixed => match self.rng.random_range(0..100) {
                0..40 => Workload::Erc20,
                40..75 => Workload::Dex,
                75..90 => Workload::Lending,
                _ => Workload::Staking,
            },
            kind => kind,
        };
        let (sender, call) = match kind {
            Workload::Erc20 | Workload::Mixed => (user, self.transfer(user)),
            Workload::Dex => (user, self.dex(user)),
            Workload::Lending => self.lending(user),
            Workload::Staking => (user, self.staking(user)),
        };
        let nonce = self.nonces.entry(sender).or_insert(0);
        *nonce += 1;
        call.into_tx(sender, *nonce - 1, 1_000_000, Fee::Dynamic { max_fee_per_gas: 100, max_priority_fee_per_gas: 2 })
    }

    fn transfer(&mut self, user: Address) -> Call {
        let tokens = &self.world.tokens;
        if self.rng.random_bool(self.hot) {
            return tokens[0].transfer(user, HOT_RECEIVER, whole(1));
        }
        let token = tokens[self.rng.random_range(0..tokens.len())];
        let to = self.world.users[self.rng.random_range(0..self.world.users.len())];
        token.transfer(user, to, whole(self.rng.random_range(1..100)))
    }

    fn dex(&mut self, user: Address) -> Call {
        let (router, pools) = (self.world.router, &self.world.pools);
        let p = self.target(pools.len());
        let pair = pools[p];
        let roll = self.rng.random_range(0..100);
        let amount = whole(self.rng.random_range(1..50));
        match roll {
            0..80 => {
                let token_in = if self.rng.random_bool(0.5) { pair.token0 } else { pair.token1 };
                router.swap_exact_in(user, amount, U256::ZERO, &[pair], token_in, user, self.deadline)
            }
            80..90 => {
                // Two hops, through a neighbouring pool: pool i pairs tokens
                // i and i + 1, so pools p and p + 1 (or p - 1, for the last)
                // share a token.
                let next = pools[if p + 1 < pools.len() { p + 1 } else { p - 1 }];
                let token_in = if next.other(pair.token0.address).is_some() { pair.token1 } else { pair.token0 };
                router.swap_exact_in(user, amount, U256::ZERO, &[pair, next], token_in, user, self.deadline)
            }
            90..97 => self.add(user, p, pair, amount),
            _ if self.deposited.contains(&(user, p)) => {
                let shares = U256::from(1_000_000u64);
                Ok(router.remove_liquidity(user, &pair, shares, (U256::ZERO, U256::ZERO), user, self.deadline))
            }
            _ => self.add(user, p, pair, amount),
        }
        .unwrap_or_else(|_| unreachable!("the world's consecutive pools share a token"))
    }

    fn add(&mut self, user: Address, p: usize, pair: Pair, amount: U256) -> Result<Call, ContractError> {
        self.deposited.insert((user, p));
        let zero = (U256::ZERO, U256::ZERO);
        Ok(self.world.router.add_liquidity(user, &pair, (amount, amount), zero, user, self.deadline))
    }

    /// A lending call and who sends it. Besides everyday supplies, borrows,
    /// repayments and withdrawals, some users open risky positions (borrow
    /// 90% of their limit), the operator sometimes marks a collateral token
    /// down 20%, and other users then liquidate the positions it sank.
    fn lending(&mut self, user: Address) -> (Address, Call) {
        let pool = &self.world.lending;
        let m = self.target(pool.markets.len());
        let token = pool.markets[m];
        let roll = self.rng.random_range(0..100);
        if let Some(risk) = self.risky.get(&user).copied() {
            return match risk {
                Risk::Collateral { market } => self.open_risky(user, market),
                Risk::Borrowed { .. } | Risk::Liquidated => self.liquidate_or_mark_down(user, m),
            };
        }
        let fresh = !self.supplied.iter().any(|(u, _)| *u == user) && !self.borrowed.iter().any(|(u, _)| *u == user);
        let has_supply = self.supplied.iter().any(|(u, _)| *u == user);
        let call = match roll {
            0..4 if fresh => {
                self.risky.insert(user, Risk::Collateral { market: m });
                pool.supply(user, token, whole(RISKY_COLLATERAL))
            }
            4..12 => return self.liquidate_or_mark_down(user, m),
            // Borrow a little against what was supplied: always healthy.
            40..65 if has_supply => {
                self.borrowed.insert((user, m));
                pool.borrow(user, token, whole(1))
            }
            65..85 if self.borrowed.contains(&(user, m)) => pool.repay(user, token, user, whole(2)),
            85..100 if self.supplied.contains(&(user, m)) => pool.withdraw(user, token, whole(1)),
            _ => {
                self.supplied.insert((user, m));
                pool.supply(user, token, whole(self.rng.random_range(50..200)))
            }
        };
        (user, call)
    }

    /// Borrows 90% of what the risky user's collateral allows, in the next market.
    fn open_risky(&mut self, user: Address, collateral: usize) -> (Address, Call) {
        let pool = &self.world.lending;
        let debt_market = (collateral + 1) % pool.markets.len();
        // Value of the collateral at 75%, 90% of it, in debt tokens.
        let credit = whole(RISKY_COLLATERAL) * self.prices[collateral] / WAD * U256::from(3) / U256::from(4);
        let debt = credit * U256::from(9) / U256::from(10) * WAD / self.prices[debt_market];
        let (marked_down, recovered) = (self.markdowns[collateral], self.recoveries[collateral]);
        self.risky.insert(user, Risk::Borrowed { collateral, debt_market, debt, marked_down, recovered });
        (user, pool.borrow(user, pool.markets[debt_market], debt))
    }

    /// Liquidates a position sunk by a markdown since it borrowed (repaying
    /// 40% of its debt), or, with none, has the operator mark market `m`'s
    /// token down 20% (or, once it is below a thousandth of its genesis
    /// price, back up to it).
    fn liquidate_or_mark_down(&mut self, user: Address, m: usize) -> (Address, Call) {
        let pool = &self.world.lending;
        let victim = self.risky.iter().find_map(|(&v, risk)| match *risk {
            Risk::Borrowed { collateral, debt_market, debt, marked_down, recovered }
                if v != user
                    && self.markdowns[collateral] > marked_down
                    && self.recoveries[collateral] == recovered =>
            {
                Some((v, collateral, debt_market, debt))
            }
            _ => None,
        });
        if let Some((victim, collateral, debt_market, debt)) = victim {
            self.risky.insert(victim, Risk::Liquidated);
            let repay = debt * U256::from(2) / U256::from(5);
            let call = pool.liquidate(user, victim, (pool.markets[debt_market], repay), pool.markets[collateral]);
            return (user, call);
        }
        let genesis = whole(m as u64 + 1);
        let marked = self.prices[m] * U256::from(4) / U256::from(5);
        if marked < genesis / U256::from(1_000) {
            self.prices[m] = genesis;
            self.recoveries[m] += 1;
        } else {
            self.prices[m] = marked;
            self.markdowns[m] += 1;
        }
        let operator = self.world.operator;
        (operator, pool.oracle.set_price(pool.markets[m].address, self.prices[m]))
    }

    fn staking(&mut self, user: Address) -> Call {
        let s = self.target(self.world.staking.len());
        let pool = self.world.staking[s];
        let roll = self.rng.random_range(0..100);
        match roll {
            50..70 => pool.get_reward(user),
            70..90 if self.staked.contains(&(user, s)) => pool.withdraw(user, whole(1)),
            90..100 if self.staked.contains(&(user, s)) => {
                self.staked.remove(&(user, s));
                pool.exit(user)
            }
            _ => {
                self.staked.insert((user, s));
                pool.stake(user, whole(self.rng.random_range(2..20)))
            }
        }
    }
}
