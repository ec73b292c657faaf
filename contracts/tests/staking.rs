//! Staking in revm: accrual over time, claims, exits, reverts, and
//! declarations that cover every executed call over random histories.

use alloy_primitives::{Address, U256};
use alloy_sol_types::SolError;
use defivm_contracts::{Erc20, IStaking, RewardPeriod, Staking};
use defivm_vm::{State, Status};
use proptest::prelude::*;

mod common;
use common::block;

const T0: u64 = 1_700_000_000;
const DISTRIBUTION: Address = Address::new([0xd1; 20]);

fn user(i: u8) -> Address {
    Address::with_last_byte(0x40 + i)
}

fn units(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

/// A pool paying 1,000 reward tokens over 1,000 seconds from `T0`; users
/// hold staking tokens and approved the pool without limit.
fn world() -> (State, Staking) {
    let mut state = State::new();
    let holders: Vec<_> = (0..4).map(|i| (user(i), units(10_000))).collect();
    for who in (0..4).map(user).chain([DISTRIBUTION]) {
        state.insert_account(who, defivm_vm::Account::with_balance(units(100)));
    }
    let stake_token = Erc20::deploy(&mut state, Address::new([0x71; 20]), "Stake", "STK", &holders).unwrap();
    let reward_token = Erc20::deploy(&mut state, Address::new([0x72; 20]), "Reward", "RWD", &[]).unwrap();
    let period = RewardPeriod { reward: units(1_000), start: T0, duration: 1_000 };
    let pool = Staking::deploy(&mut state, Address::new([0x5a; 20]), (stake_token, reward_token), DISTRIBUTION, period)
        .unwrap();
    let approvals: Vec<_> = (0..4).map(|i| (user(i), stake_token.approve(user(i), pool.address, U256::MAX))).collect();
    let (receipts, state) = block(&state, approvals, T0 - 10);
    assert!(receipts.iter().all(|r| r.status == Status::Success));
    (state, pool)
}

#[test]
fn rewards_accrue_per_second_in_proportion_to_stake() {
    let (state, pool) = world();
    let rewards = pool.rewards_token;
    let (r, state) =
        block(&state, vec![(user(0), pool.stake(user(0), units(100))), (user(1), pool.stake(user(1), units(300)))], T0);
    assert!(r.iter().all(|r| r.status == Status::Success), "{r:?}");
    // 100 s at 1 token/s; user 0 holds a quarter of the stake.
    let (r, state) = block(&state, vec![(user(0), pool.get_reward(user(0)))], T0 + 100);
    assert_eq!(r[0].status, Status::Success, "{:?}", r[0]);
    assert_eq!(rewards.balance_of(&state, user(0)), units(25));
    // After the period: user 1 exits with its stake and three quarters of it all.
    let (r, state) = block(&state, vec![(user(1), pool.exit(user(1)))], T0 + 5_000);
    assert_eq!(r[0].status, Status::Success, "{:?}", r[0]);
    assert_eq!(rewards.balance_of(&state, user(1)), units(750));
    assert_eq!(pool.staking_token.balance_of(&state, user(1)), units(10_000));
    assert!(pool.staked(&state, user(1)).is_zero());
}

#[test]
fn bad_calls_revert_with_the_pools_errors() {
    let (state, pool) = world();
    let (_, state) = block(&state, vec![(user(0), pool.stake(user(0), units(5)))], T0);
    let calls = vec![
        (user(0), pool.withdraw(user(0), units(6))),
        (user(1), pool.notify_reward(units(1))),
        (user(2), pool.stake(user(2), U256::ZERO)),
        (DISTRIBUTION, pool.notify_reward(units(10))),
    ];
    let (r, _) = block(&state, calls, T0 + 10);
    let err = IStaking::InsufficientStake::abi_decode(&r[0].output).unwrap();
    assert_eq!((err.staked, err.requested), (units(5), units(6)));
    IStaking::NotRewardsDistribution::abi_decode(&r[1].output).unwrap();
    IStaking::ZeroAmount::abi_decode(&r[2].output).unwrap();
    assert_eq!(r[3].status, Status::Success, "the distribution may fund a new period: {:?}", r[3]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random histories over several blocks: no call touches a key its
    /// builder did not declare, and the pool never pays out more than it was
    /// funded with.
    #[test]
    fn declarations_cover_every_executed_call(
        blocks in prop::collection::vec(
            (0u64..700, prop::collection::vec((0u8..5, 0u8..4, 1u64..3_000), 1..12)),
            1..4,
        ),
    ) {
        let (mut state, pool) = world();
        let mut time = T0;
        for (gap, ops) in &blocks {
            time += gap;
            let calls: Vec<_> = ops
                .iter()
                .map(|&(kind, who, raw)| {
                    let (u, amount) = (user(who), units(raw));
                    match kind {
                        0 => (u, pool.stake(u, amount)),
                        1 => (u, pool.withdraw(u, amount / U256::from(2))),
                        2 => (u, pool.get_reward(u)),
                        3 => (u, pool.exit(u)),
                        _ => (DISTRIBUTION, pool.notify_reward(units(raw % 100))),
                    }
                })
                .collect();
            let (receipts, post) = block(&state, calls, time);
            for receipt in &receipts {
                prop_assert!(!matches!(receipt.status, Status::AccessViolation { .. }), "{:?}", receipt.status);
            }
            state = post;
        }
        let paid: U256 = (0..4).map(|i| pool.rewards_token.balance_of(&state, user(i))).fold(U256::ZERO, |a, b| a + b);
        prop_assert!(paid <= units(1_000));
    }
}
