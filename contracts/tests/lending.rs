//! Lending in revm: interest accrual, health checks, liquidation with the
//! close factor and bonus, and declarations that cover every executed call
//! over random histories with price moves.

use alloy_primitives::{Address, U256};
use alloy_sol_types::SolError;
use defivm_contracts::{Erc20, ILendingPool, LendingPool, MarketConfig, Oracle, WAD};
use defivm_vm::{Receipt, State, Status};
use proptest::prelude::*;

mod common;
use common::block;

const T0: u64 = 1_700_000_000;
const YEAR: u64 = 365 * 24 * 3600;
const ORACLE_OWNER: Address = Address::new([0x0c; 20]);
const PROVIDER: Address = Address::new([0x0d; 20]);

fn user(i: u8) -> Address {
    Address::with_last_byte(0x40 + i)
}

fn units(n: u64) -> U256 {
    U256::from(n) * U256::from(WAD)
}

fn wad_fraction(numerator: u64, denominator: u64) -> U256 {
    U256::from(WAD) * U256::from(numerator) / U256::from(denominator)
}

/// Markets: USD (price 1, factor 0.8) with 100k of liquidity, ETH (price
/// 2000, factor 0.75) with 100 of liquidity. Users hold both and approved
/// the pool.
fn world() -> (State, LendingPool, Erc20, Erc20) {
    let mut state = State::new();
    let holders: Vec<_> = (0..4).map(|i| (user(i), units(1_000_000))).collect();
    for who in (0..4).map(user).chain([ORACLE_OWNER]) {
        state.insert_account(who, defivm_vm::Account::with_balance(units(100)));
    }
    let usd = Erc20::deploy(&mut state, Address::new([0x71; 20]), "USD", "USD", &holders).unwrap();
    let eth = Erc20::deploy(&mut state, Address::new([0x72; 20]), "ETH", "ETH", &holders).unwrap();
    let oracle = Oracle::deploy(
        &mut state,
        Address::new([0x0f; 20]),
        ORACLE_OWNER,
        &[(usd.address, units(1)), (eth.address, units(2000))],
    )
    .unwrap();
    let markets = [
        MarketConfig { token: usd, collateral_factor: wad_fraction(8, 10), liquidity: units(100_000) },
        MarketConfig { token: eth, collateral_factor: wad_fraction(75, 100), liquidity: units(100) },
    ];
    let pool = LendingPool::deploy(&mut state, Address::new([0x1e; 20]), oracle, &markets, PROVIDER, T0).unwrap();
    let approvals: Vec<_> =
        (0..4).flat_map(|i| [usd, eth].map(|t| (user(i), t.approve(user(i), pool.address, U256::MAX)))).collect();
    let (receipts, state) = block(&state, approvals, T0);
    assert!(receipts.iter().all(|r| r.status == Status::Success));
    (state, pool, usd, eth)
}

fn ok(receipts: &[Receipt]) {
    for r in receipts {
        assert_eq!(r.status, Status::Success, "{r:?}");
    }
}

#[test]
fn debt_grows_with_the_utilization_rate_and_is_repaid_in_full() {
    let (state, pool, usd, eth) = world();
    // 10 ETH of collateral (20,000 USD at 0.75: 15,000 of credit); borrow a
    // tenth of the USD market.
    let (r, state) = block(
        &state,
        vec![(user(0), pool.supply(user(0), eth, units(10))), (user(0), pool.borrow(user(0), usd, units(10_000)))],
        T0 + 1,
    );
    ok(&r);
    assert_eq!(usd.balance_of(&state, user(0)), units(1_010_000));
    // The contract's arithmetic, step by step. At the borrow the market
    // accrued one second at zero utilization; a year later it accrues at 10%
    // utilization (base rate plus a tenth of the slope, simple interest).
    let (wad, base, slope) = (U256::from(WAD), U256::from(317097919u64), U256::from(6341958396u64));
    let index_at_borrow = wad + wad * base / wad;
    let borrowed = units(10_000);
    let utilization = borrowed * wad / (units(90_000) + borrowed);
    let factor = (base + utilization * slope / wad) * U256::from(YEAR);
    let index_at_repay = index_at_borrow + index_at_borrow * factor / wad;
    let owed = borrowed * index_at_repay / index_at_borrow;
    let (r, state) = block(&state, vec![(user(0), pool.repay(user(0), usd, user(0), units(20_000)))], T0 + 1 + YEAR);
    ok(&r);
    assert_eq!(units(1_010_000) - usd.balance_of(&state, user(0)), owed);
    assert!(owed > units(10_000) && owed < units(10_400), "about 3% a year at 10% utilization: {owed}");
    assert!(pool.principal_of(&state, usd.address, user(0)).is_zero());
}

#[test]
fn borrowing_or_withdrawing_past_the_collateral_factor_or_the_shares_held_reverts() {
    let (state, pool, usd, eth) = world();
    let (r, state) = block(&state, vec![(user(1), pool.supply(user(1), eth, units(1)))], T0 + 1);
    ok(&r);
    // 1 ETH = 2,000 USD at 0.75: 1,500 of credit.
    let calls = vec![
        (user(1), pool.borrow(user(1), usd, units(1_501))),
        (user(1), pool.borrow(user(1), usd, units(1_400))),
        (user(1), pool.withdraw(user(1), eth, wad_fraction(1, 2))),
        (user(1), pool.withdraw(user(1), eth, units(2))),
    ];
    let (r, _) = block(&state, calls, T0 + 2);
    let err = ILendingPool::InsufficientShares::abi_decode(&r[3].output).unwrap();
    assert_eq!((err.held, err.needed), (units(1), units(2)));
    let err = ILendingPool::Unhealthy::abi_decode(&r[0].output).unwrap();
    assert_eq!((err.collateralValue, err.debtValue), (units(1_500), units(1_501)));
    assert_eq!(r[1].status, Status::Success, "{:?}", r[1]);
    ILendingPool::Unhealthy::abi_decode(&r[2].output).unwrap();
}

#[test]
fn an_unhealthy_position_is_liquidated_up_to_the_close_factor_with_the_bonus() {
    let (state, pool, usd, eth) = world();
    let (r, state) = block(
        &state,
        vec![(user(1), pool.supply(user(1), eth, units(1))), (user(1), pool.borrow(user(1), usd, units(1_400)))],
        T0 + 1,
    );
    ok(&r);
    let healthy = pool.liquidate(user(2), user(1), (usd, units(100)), eth);
    let drop = pool.oracle.set_price(eth.address, units(1_500)); // 1 ETH now backs 1,125
    let too_much = pool.liquidate(user(2), user(1), (usd, units(701)), eth);
    let liquidation = pool.liquidate(user(2), user(1), (usd, units(700)), eth);
    let (r, state) = block(
        &state,
        vec![(user(2), healthy), (ORACLE_OWNER, drop), (user(2), too_much), (user(2), liquidation)],
        T0 + 1,
    );
    ILendingPool::Healthy::abi_decode(&r[0].output).unwrap();
    assert_eq!(r[1].status, Status::Success);
    let err = ILendingPool::TooMuchRepay::abi_decode(&r[2].output).unwrap();
    assert_eq!(err.maximum, units(700));
    assert_eq!(r[3].status, Status::Success, "{:?}", r[3]);
    // Seized: 700 USD * 1.08 / 1,500 per ETH = 0.504 ETH, in shares at 1:1.
    assert_eq!(pool.shares_of(&state, eth.address, user(2)), wad_fraction(504, 1000));
    assert_eq!(pool.shares_of(&state, eth.address, user(1)), wad_fraction(496, 1000));
    assert_eq!(pool.principal_of(&state, usd.address, user(1)), units(700));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Random histories with price moves: no call touches a key its builder
    /// did not declare.
    #[test]
    fn declarations_cover_every_executed_call(
        blocks in prop::collection::vec(
            (0u64..100_000, prop::collection::vec((0u8..7, 0u8..4, 0u8..4, 1u64..2_000), 1..12)),
            1..4,
        ),
    ) {
        let (mut state, pool, usd, eth) = world();
        let mut time = T0;
        for (gap, ops) in &blocks {
            time += gap + 1;
            let calls: Vec<_> = ops
                .iter()
                .map(|&(kind, who, other, raw)| {
                    let (u, v) = (user(who), user(other));
                    let token = if raw % 2 == 0 { usd } else { eth };
                    let amount = if token == usd { units(raw) } else { units(raw) / U256::from(1_000) };
                    match kind {
                        0 => (u, pool.supply(u, token, amount)),
                        1 => (u, pool.withdraw(u, token, amount / U256::from(2))),
                        2 => (u, pool.borrow(u, token, amount / U256::from(3))),
                        3 => (u, pool.repay(u, token, v, amount)),
                        4 => (u, pool.liquidate(u, v, (usd, amount / U256::from(10)), eth)),
                        5 => (u, pool.liquidate(u, v, (eth, amount / U256::from(10)), usd)),
                        _ => (ORACLE_OWNER, pool.oracle.set_price(eth.address, units(500 + raw))),
                    }
                })
                .collect();
            let (receipts, post) = block(&state, calls, time);
            for receipt in &receipts {
                prop_assert!(!matches!(receipt.status, Status::AccessViolation { .. }), "{:?}", receipt.status);
            }
            state = post;
        }
    }
}
