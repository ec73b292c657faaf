//! The DEX in revm: swap math with the fee, slippage and deadline reverts,
//! liquidity in and out, and declarations that cover every executed call
//! over random pools and random operations.

use alloy_primitives::{Address, U256};
use alloy_sol_types::{SolError, SolEvent};
use defivm_contracts::{Call, Erc20, IPair, IRouter, Pair, Router, amount_out};
use defivm_vm::{Receipt, State, Status};
use proptest::prelude::*;

mod common;

const ROUTER: Address = Address::new([0x99; 20]);
const DEADLINE: u64 = 1_800_000_000;

fn user(i: u8) -> Address {
    Address::with_last_byte(0x40 + i)
}

fn units(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

/// Three tokens, pools A/B and B/C, users holding every token and having
/// approved the router without limit.
struct World {
    state: State,
    tokens: [Erc20; 3],
    ab: Pair,
    bc: Pair,
    router: Router,
}

fn world(reserves: [(u64, u64); 2]) -> World {
    let mut state = State::new();
    let holders: Vec<_> = (0..4).map(|i| (user(i), units(1_000_000))).collect();
    for i in 0..4 {
        state.insert_account(user(i), defivm_vm::Account::with_balance(U256::from(10u64).pow(U256::from(20))));
    }
    let tokens = [0x71u8, 0x72, 0x73]
        .map(|b| Erc20::deploy(&mut state, Address::new([b; 20]), "Token", "TK", &holders).expect("token deploys"));
    let router = Router::deploy(&mut state, ROUTER).unwrap();
    let provider = user(9);
    let ab = Pair::deploy(
        &mut state,
        Address::new([0xa1; 20]),
        (tokens[0], units(reserves[0].0)),
        (tokens[1], units(reserves[0].1)),
        provider,
    )
    .unwrap();
    let bc = Pair::deploy(
        &mut state,
        Address::new([0xa2; 20]),
        (tokens[1], units(reserves[1].0)),
        (tokens[2], units(reserves[1].1)),
        provider,
    )
    .unwrap();
    World { state, tokens, ab, bc, router }
}

/// Runs the calls in order after every user approved the router on every
/// token; returns the receipts of `calls` and the post-state.
fn run(w: &World, calls: Vec<(Address, Call)>) -> (Vec<Receipt>, State) {
    let mut all = Vec::new();
    for i in 0..4 {
        for token in w.tokens {
            all.push((user(i), token.approve(user(i), ROUTER, U256::MAX)));
        }
    }
    let setup = all.len();
    all.extend(calls);
    let (receipts, post) = common::block(&w.state, all, defivm_vm::BlockEnv::default().timestamp);
    (receipts[setup..].to_vec(), post)
}

#[test]
fn a_one_hop_swap_pays_the_constant_product_amount_less_the_fee() {
    let w = world([(1_000, 4_000), (1_000, 1_000)]);
    let (a, b) = (w.tokens[0], w.tokens[1]);
    let call = w.router.swap_exact_in(user(0), units(10), U256::ZERO, &[w.ab], a, user(0), DEADLINE).unwrap();
    let (receipts, post) = run(&w, vec![(user(0), call)]);
    assert_eq!(receipts[0].status, Status::Success, "{:?}", receipts[0]);
    let expected = amount_out(units(10), units(1_000), units(4_000));
    assert_eq!(b.balance_of(&post, user(0)), units(1_000_000) + expected);
    assert_eq!(a.balance_of(&post, user(0)), units(1_000_000) - units(10));
    let (r_a, r_b) =
        if a.address < b.address { w.ab.reserves(&post) } else { (w.ab.reserves(&post).1, w.ab.reserves(&post).0) };
    assert_eq!((r_a, r_b), (units(1_010), units(4_000) - expected));
    // The fee makes the product grow.
    assert!(r_a * r_b > units(1_000) * units(4_000));
    let swap = receipts[0].logs.iter().find_map(|l| IPair::Swap::decode_log(l).ok()).expect("a Swap event");
    assert_eq!(swap.to, user(0));
}

#[test]
fn a_two_hop_swap_chains_the_pools() {
    let w = world([(1_000, 2_000), (3_000, 1_000)]);
    let call =
        w.router.swap_exact_in(user(1), units(7), U256::ZERO, &[w.ab, w.bc], w.tokens[0], user(2), DEADLINE).unwrap();
    let (receipts, post) = run(&w, vec![(user(1), call)]);
    assert_eq!(receipts[0].status, Status::Success, "{:?}", receipts[0]);
    let mid = amount_out(units(7), units(1_000), units(2_000));
    let out = amount_out(mid, units(3_000), units(1_000));
    assert_eq!(w.tokens[2].balance_of(&post, user(2)), units(1_000_000) + out);
    assert_eq!(w.tokens[1].balance_of(&post, user(1)), units(1_000_000), "the middle token only passes through");
}

#[test]
fn slippage_and_deadline_revert_with_the_routers_errors() {
    let w = world([(1_000, 1_000), (1_000, 1_000)]);
    let a = w.tokens[0];
    let greedy = w.router.swap_exact_in(user(0), units(1), units(1), &[w.ab], a, user(0), DEADLINE).unwrap();
    let late = w.router.swap_exact_in(user(0), units(1), U256::ZERO, &[w.ab], a, user(0), 1).unwrap();
    let (receipts, post) = run(&w, vec![(user(0), greedy), (user(0), late)]);
    assert_eq!(receipts[0].status, Status::Revert);
    let err = IRouter::InsufficientOutputAmount::abi_decode(&receipts[0].output).unwrap();
    assert_eq!((err.out, err.minimum), (amount_out(units(1), units(1_000), units(1_000)), units(1)));
    assert_eq!(receipts[1].status, Status::Revert);
    IRouter::Expired::abi_decode(&receipts[1].output).unwrap();
    assert_eq!(a.balance_of(&post, user(0)), units(1_000_000));
}

#[test]
fn liquidity_goes_in_at_the_pool_price_and_comes_back_out() {
    let w = world([(1_000, 4_000), (1_000, 1_000)]);
    let (t0, t1) = (w.ab.token0, w.ab.token1);
    let (r0, r1) = w.ab.reserves(&w.state);
    let add =
        w.router.add_liquidity(user(3), &w.ab, (units(10), units(1_000)), (U256::ZERO, U256::ZERO), user(3), DEADLINE);
    let (receipts, post) = run(&w, vec![(user(3), add)]);
    assert_eq!(receipts[0].status, Status::Success, "{:?}", receipts[0]);
    // The pool holds 1 : 4, so of (10, 1000) desired it takes (10, 40).
    assert_eq!((r0, r1), (units(1_000), units(4_000)));
    assert_eq!(units(1_000_000) - t0.balance_of(&post, user(3)), units(10));
    assert_eq!(units(1_000_000) - t1.balance_of(&post, user(3)), units(40));
    let shares = w.ab.shares_of(&post, user(3));
    assert!(!shares.is_zero());

    let w2 = World { state: post, ..w };
    let approve = w2.router.approve_shares(user(3), &w2.ab, shares);
    let remove = w2.router.remove_liquidity(user(3), &w2.ab, shares, (U256::ZERO, U256::ZERO), user(3), DEADLINE);
    let (receipts, post) = run(&w2, vec![(user(3), approve), (user(3), remove)]);
    assert!(receipts.iter().all(|r| r.status == Status::Success), "{receipts:?}");
    assert!(w2.ab.shares_of(&post, user(3)).is_zero());
    // Back out, less rounding.
    let back0 = t0.balance_of(&post, user(3));
    assert!(back0 <= units(1_000_000) && units(1_000_000) - back0 <= U256::from(1));
    let burn = receipts[1].logs.iter().find_map(|l| IPair::Burn::decode_log(l).ok()).expect("a Burn event");
    assert_eq!(burn.to, user(3));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random pools and random swaps (one or two hops, either direction),
    /// deposits and withdrawals: no call touches a key its builder did not
    /// declare, and no swap lowers a pool's reserve product.
    #[test]
    fn declarations_cover_every_executed_call(
        reserves in [(1u64..100_000, 1u64..100_000), (1u64..100_000, 1u64..100_000)],
        ops in prop::collection::vec((0u8..6, 0u8..4, 1u64..5_000), 1..25),
    ) {
        let w = world(reserves);
        let calls: Vec<(Address, Call)> = ops
            .iter()
            .flat_map(|&(kind, who, amount)| {
                let (u, amount) = (user(who), units(amount) / U256::from(100));
                let tk = w.tokens;
                let swap = |path: &[Pair], token: Erc20| w.router.swap_exact_in(u, amount, U256::ZERO, path, token, u, DEADLINE).unwrap();
                match kind {
                    0 => vec![(u, swap(&[w.ab], tk[0]))],
                    1 => vec![(u, swap(&[w.ab], tk[1]))],
                    2 => vec![(u, swap(&[w.ab, w.bc], tk[0]))],
                    3 => vec![(u, swap(&[w.bc, w.ab], tk[2]))],
                    4 => vec![(u, w.router.add_liquidity(u, &w.bc, (amount, amount), (U256::ZERO, U256::ZERO), u, DEADLINE))],
                    _ => {
                        // Deposit first, so there are shares to take out.
                        vec![
                            (u, w.router.add_liquidity(u, &w.bc, (amount, amount), (U256::ZERO, U256::ZERO), u, DEADLINE)),
                            (u, w.router.approve_shares(u, &w.bc, U256::MAX)),
                            (u, w.router.remove_liquidity(u, &w.bc, U256::from(1000), (U256::ZERO, U256::ZERO), u, DEADLINE)),
                        ]
                    }
                }
            })
            .collect();
        let (receipts, post) = run(&w, calls);
        for receipt in &receipts {
            prop_assert!(!matches!(receipt.status, Status::AccessViolation { .. }), "{:?}", receipt.status);
        }
        // Every operation here is one that succeeds on these pools.
        prop_assert!(receipts.iter().all(|r| r.status == Status::Success), "{:?}", receipts);
        for pair in [w.ab, w.bc] {
            let (before0, before1) = pair.reserves(&w.state);
            let (after0, after1) = pair.reserves(&post);
            if ops.iter().all(|&(kind, _, _)| kind < 4) {
                prop_assert!(after0 * after1 >= before0 * before1);
            }
        }
    }
}
