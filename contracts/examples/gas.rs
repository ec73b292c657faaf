//! Gas and plain-revm execution time of each DeFi operation built so far.
//!
//! Each operation runs as a block of N transactions from N different users
//! (so they do not conflict, except on the pool each one uses) through plain
//! revm, after an untimed setup block of approvals and first stakes.
//!
//! `cargo run --release -p defivm-contracts --example gas [N]`

use defivm_contracts::{Call, Erc20, LendingPool, MarketConfig, Oracle, Pair, RewardPeriod, Router, Staking, WAD};
use defivm_vm::{Account, Address, BlockEnv, Fee, PlainRevm, State, Status, U256};
use std::time::Instant;

fn user(i: usize) -> Address {
    let mut bytes = [0x33; 20];
    bytes[12..].copy_from_slice(&(i as u64).to_be_bytes());
    Address::new(bytes)
}

fn units(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

fn block_of(state: &State, calls: Vec<(Address, Call)>) -> Vec<defivm_vm::Transaction> {
    calls
        .into_iter()
        .map(|(from, call)| {
            let nonce = state.account(&from).map_or(0, |a| a.nonce);
            call.into_tx(from, nonce, 500_000, Fee::Dynamic { max_fee_per_gas: 10, max_priority_fee_per_gas: 1 })
        })
        .collect()
}

fn main() {
    let n: usize = std::env::args().nth(1).map_or(2_000, |s| s.parse().expect("N is a number"));
    let block = BlockEnv { basefee: 1, ..BlockEnv::default() };
    let mut state = State::new();
    let holders: Vec<_> = (0..n).map(|i| (user(i), units(1_000_000))).collect();
    for i in 0..n {
        state.insert_account(user(i), Account::with_balance(units(100)));
    }
    let tokens = [0x71u8, 0x72, 0x73]
        .map(|b| Erc20::deploy(&mut state, Address::new([b; 20]), "Token", "TK", &holders).expect("token"));
    let router = Router::deploy(&mut state, Address::new([0x99; 20])).expect("router");
    let lp = Address::new([0x55; 20]);
    let reserve = units(1_000_000_000);
    let ab =
        Pair::deploy(&mut state, Address::new([0xa1; 20]), (tokens[0], reserve), (tokens[1], reserve), lp).unwrap();
    let bc =
        Pair::deploy(&mut state, Address::new([0xa2; 20]), (tokens[1], reserve), (tokens[2], reserve), lp).unwrap();

    let period = RewardPeriod { reward: units(1_000_000), start: block.timestamp - 100, duration: 100_000 };
    let staking =
        Staking::deploy(&mut state, Address::new([0x5a; 20]), (tokens[2], tokens[0]), lp, period).expect("staking");

    // Lending: token 0 as a dollar, token 1 as ether at 2,000.
    let owner = Address::new([0x0c; 20]);
    state.insert_account(owner, Account::with_balance(units(100)));
    let (usd, eth) = (tokens[0], tokens[1]);
    let prices = [(usd.address, units(1)), (eth.address, units(2_000))];
    let oracle = Oracle::deploy(&mut state, Address::new([0x0f; 20]), owner, &prices).expect("oracle");
    let factor = U256::from(WAD) * U256::from(3) / U256::from(4);
    let markets = [
        MarketConfig { token: usd, collateral_factor: factor, liquidity: units(100_000_000) },
        MarketConfig { token: eth, collateral_factor: factor, liquidity: units(100_000) },
    ];
    let pool = LendingPool::deploy(&mut state, Address::new([0x1e; 20]), oracle, &markets, lp, block.timestamp)
        .expect("lending pool");
    let half = n / 2;

    // Setup: every user approves the router on every token, the staking pool
    // on its token, and stakes a little (so there are rewards to claim). In
    // lending, the first half supply 1 ETH and borrow 1,400 USD; the second
    // half supply 10 ETH; then ether falls to 1,500, so the first half can
    // be liquidated.
    let mut approvals: Vec<_> =
        (0..n).flat_map(|i| tokens.map(|t| (user(i), t.approve(user(i), router.address, U256::MAX)))).collect();
    approvals.extend((0..n).map(|i| (user(i), tokens[2].approve(user(i), staking.address, U256::MAX))));
    approvals.extend((0..n).map(|i| (user(i), staking.stake(user(i), units(10)))));
    approvals.extend((0..n).flat_map(|i| [usd, eth].map(|t| (user(i), t.approve(user(i), pool.address, U256::MAX)))));
    approvals.extend((0..half).flat_map(|i| {
        [(user(i), pool.supply(user(i), eth, units(1))), (user(i), pool.borrow(user(i), usd, units(1_400)))]
    }));
    approvals.extend((half..n).map(|i| (user(i), pool.supply(user(i), eth, units(10)))));
    approvals.push((owner, oracle.set_price(eth.address, units(1_500))));
    let mut revm = PlainRevm::new(&state);
    let mut nonce_state = state.clone();
    let mut txs = Vec::new();
    let mut nonces = std::collections::HashMap::new();
    for (from, call) in approvals {
        let nonce = nonces.entry(from).or_insert(0u64);
        *nonce += 1;
        txs.push(call.into_tx(
            from,
            *nonce - 1,
            300_000,
            Fee::Dynamic { max_fee_per_gas: 10, max_priority_fee_per_gas: 1 },
        ));
    }
    let setup = revm.execute(&block, &txs).expect("approvals");
    assert!(setup.iter().all(|r| r.status == Status::Success), "setup failed");
    let ready = revm.post_state();
    nonce_state.clone_from(&ready);

    let deadline = 1_800_000_000;
    // Later block, so stakes have earned something.
    let block = BlockEnv { timestamp: block.timestamp + 60, ..block };
    type Op<'a> = (&'a str, Box<dyn Fn() -> Vec<(Address, Call)> + 'a>);
    let each = |f: &dyn Fn(Address) -> Call| (0..n).map(|i| (user(i), f(user(i)))).collect::<Vec<_>>();
    let ops: Vec<Op<'_>> = vec![
        ("erc20 transfer", Box::new(|| each(&|u| tokens[0].transfer(u, user(0), units(1))))),
        ("erc20 approve", Box::new(|| each(&|u| tokens[0].approve(u, user(1), units(5))))),
        (
            "swap, 1 hop",
            Box::new(|| {
                each(&|u| router.swap_exact_in(u, units(1), U256::ZERO, &[ab], tokens[0], u, deadline).unwrap())
            }),
        ),
        (
            "swap, 2 hops",
            Box::new(|| {
                each(&|u| router.swap_exact_in(u, units(1), U256::ZERO, &[ab, bc], tokens[0], u, deadline).unwrap())
            }),
        ),
        (
            "add liquidity",
            Box::new(|| {
                each(&|u| router.add_liquidity(u, &ab, (units(1), units(1)), (U256::ZERO, U256::ZERO), u, deadline))
            }),
        ),
        ("stake", Box::new(|| each(&|u| staking.stake(u, units(1))))),
        ("getReward", Box::new(|| each(&|u| staking.get_reward(u)))),
        ("lending supply", Box::new(|| each(&|u| pool.supply(u, usd, units(1))))),
        ("lending borrow", Box::new(|| (half..n).map(|i| (user(i), pool.borrow(user(i), usd, units(100)))).collect())),
        (
            "liquidate",
            Box::new(|| {
                (0..half)
                    .map(|i| (user(half + i), pool.liquidate(user(half + i), user(i), (usd, units(700)), eth)))
                    .collect()
            }),
        ),
    ];
    println!("{n} users (borrow and liquidate: {half} each), plain revm, release build, best of 3");
    println!("{:<16} {:>10} {:>12}", "operation", "gas", "µs per tx");
    for (name, op) in &ops {
        let txs = block_of(&nonce_state, op());
        let count = txs.len();
        let mut best = f64::MAX;
        let mut receipts = Vec::new();
        for _ in 0..3 {
            let mut revm = PlainRevm::new(&ready);
            let start = Instant::now();
            receipts = revm.execute(&block, &txs).expect("valid transactions");
            best = best.min(start.elapsed().as_secs_f64());
        }
        assert!(receipts.iter().all(|r| r.status == Status::Success), "{name}: {:?}", receipts[0]);
        let gas = receipts.iter().map(|r| r.gas_used).sum::<u64>() / count as u64;
        println!("{:<16} {:>10} {:>12.2}", name, gas, best * 1e6 / count as f64);
    }
}
