//! Staking (`solidity/Staking.sol`): stake one token, earn another over a
//! reward period. Bindings, genesis, and the declared access of each call.
//!
//! Every call settles the global accrual (`rewardPerTokenStored`,
//! `lastUpdateTime`), so all calls into one staking pool conflict: a pool is
//! a hot spot by design, as on mainnet.

use crate::artifact;
use crate::call::Call;
use crate::erc20::Erc20;
use crate::error::ContractError;
use crate::slots::address_slot;
use alloy_primitives::{Address, U256};
use alloy_sol_types::{SolCall, sol};
use defivm_vm::{AccessSet, Account, Bytecode, State, StateKey};

sol!(
    /// The staking pool's interface, from the compiled ABI.
    #[derive(Debug, PartialEq, Eq)]
    IStaking,
    "artifacts/Staking.json"
);

/// Storage slots of the pool, from the compiled layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slots {
    staking_token: U256,
    rewards_token: U256,
    distribution: U256,
    period_finish: U256,
    reward_rate: U256,
    duration: U256,
    last_update: U256,
    reward_per_token: U256,
    paid: U256,
    rewards: U256,
    total_supply: U256,
    balances: U256,
}

/// A deployed staking pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Staking {
    /// Where the pool lives.
    pub address: Address,
    /// The token staked.
    pub staking_token: Erc20,
    /// The token paid out.
    pub rewards_token: Erc20,
    slots: Slots,
}

/// The reward period a pool starts with at genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewardPeriod {
    /// Reward tokens paid over the period (credited to the pool).
    pub reward: U256,
    /// When the period starts (unix seconds).
    pub start: u64,
    /// Its length in seconds.
    pub duration: u64,
}

impl Staking {
    /// Deploys a pool paying `rewards_token` for staking `staking_token`,
    /// with `period` already funded and running, and `distribution` allowed
    /// to fund the next.
    pub fn deploy(
        state: &mut State,
        address: Address,
        (staking_token, rewards_token): (Erc20, Erc20),
        distribution: Address,
        period: RewardPeriod,
    ) -> Result<Self, ContractError> {
        let artifact = artifact::staking()?;
        let slots = Slots {
            staking_token: artifact.slot("stakingToken")?,
            rewards_token: artifact.slot("rewardsToken")?,
            distribution: artifact.slot("rewardsDistribution")?,
            period_finish: artifact.slot("periodFinish")?,
            reward_rate: artifact.slot("rewardRate")?,
            duration: artifact.slot("rewardsDuration")?,
            last_update: artifact.slot("lastUpdateTime")?,
            reward_per_token: artifact.slot("rewardPerTokenStored")?,
            paid: artifact.slot("userRewardPerTokenPaid")?,
            rewards: artifact.slot("rewards")?,
            total_supply: artifact.slot("totalSupply")?,
            balances: artifact.slot("balanceOf")?,
        };
        let pool = Self { address, staking_token, rewards_token, slots };
        rewards_token.credit(state, address, period.reward);
        let code = Bytecode::new_raw(artifact.deployed_bytecode.clone());
        let mut account = Account { nonce: 1, code: Some(code), ..Account::default() };
        let word = |a: Address| U256::from_be_slice(a.as_slice());
        let duration = period.duration.max(1);
        for (slot, value) in [
            (slots.staking_token, word(staking_token.address)),
            (slots.rewards_token, word(rewards_token.address)),
            (slots.distribution, word(distribution)),
            (slots.duration, U256::from(duration)),
            (slots.reward_rate, period.reward / U256::from(duration)),
            (slots.last_update, U256::from(period.start)),
            (slots.period_finish, U256::from(period.start + duration)),
        ] {
            account.storage.insert(slot, value);
        }
        state.insert_account(address, account);
        Ok(pool)
    }

    /// What `user` has staked in `state`.
    pub fn staked(&self, state: &State, user: Address) -> U256 {
        state.storage(&self.address, &address_slot(user, self.slots.balances))
    }

    fn key(&self, slot: U256) -> StateKey {
        StateKey::Storage(self.address, slot)
    }

    /// The accrual every call settles, and `user`'s share of it.
    fn settle(&self, access: &mut AccessSet<StateKey>, user: Option<Address>) {
        let s = self.slots;
        access.read(self.key(s.period_finish));
        access.read(self.key(s.reward_rate));
        access.read(self.key(s.total_supply));
        access.write(self.key(s.last_update));
        access.write(self.key(s.reward_per_token));
        if let Some(user) = user {
            access.read(self.key(address_slot(user, s.balances)));
            access.write(self.key(address_slot(user, s.rewards)));
            access.write(self.key(address_slot(user, s.paid)));
        }
    }

    /// Moves of `token` between the pool and `user`.
    fn pay(&self, access: &mut AccessSet<StateKey>, token: Erc20, user: Address) {
        access.read(StateKey::Account(token.address));
        access.write(token.key(token.balance_slot(self.address)));
        access.write(token.key(token.balance_slot(user)));
    }

    /// `user` stakes `amount` (having approved the pool on the staking token).
    pub fn stake(&self, user: Address, amount: U256) -> Call {
        let mut access = AccessSet::default();
        self.settle(&mut access, Some(user));
        self.change_stake(&mut access, user);
        let t = self.staking_token;
        access.write(t.key(t.allowance_slot(user, self.address)));
        self.call(IStaking::stakeCall { amount }.abi_encode(), access)
    }

    /// `user` withdraws `amount` of their stake.
    pub fn withdraw(&self, user: Address, amount: U256) -> Call {
        let mut access = AccessSet::default();
        self.settle(&mut access, Some(user));
        self.change_stake(&mut access, user);
        self.call(IStaking::withdrawCall { amount }.abi_encode(), access)
    }

    /// `user` claims their rewards.
    pub fn get_reward(&self, user: Address) -> Call {
        let mut access = AccessSet::default();
        self.settle(&mut access, Some(user));
        self.claim(&mut access, user);
        self.call(IStaking::getRewardCall {}.abi_encode(), access)
    }

    /// `user` withdraws everything and claims.
    pub fn exit(&self, user: Address) -> Call {
        let mut access = AccessSet::default();
        self.settle(&mut access, Some(user));
        self.change_stake(&mut access, user);
        self.claim(&mut access, user);
        self.call(IStaking::exitCall {}.abi_encode(), access)
    }

    /// The distribution starts a new period paying `reward`.
    pub fn notify_reward(&self, reward: U256) -> Call {
        let mut access = AccessSet::default();
        self.settle(&mut access, None);
        let s = self.slots;
        access.read(self.key(s.distribution));
        access.read(self.key(s.duration));
        access.read(self.key(s.rewards_token));
        access.write(self.key(s.reward_rate));
        access.write(self.key(s.period_finish));
        access.read(StateKey::Account(self.rewards_token.address));
        access.read(self.rewards_token.key(self.rewards_token.balance_slot(self.address)));
        self.call(IStaking::notifyRewardAmountCall { reward }.abi_encode(), access)
    }

    fn change_stake(&self, access: &mut AccessSet<StateKey>, user: Address) {
        access.write(self.key(self.slots.total_supply));
        access.write(self.key(address_slot(user, self.slots.balances)));
        access.read(self.key(self.slots.staking_token));
        self.pay(access, self.staking_token, user);
    }

    fn claim(&self, access: &mut AccessSet<StateKey>, user: Address) {
        access.read(self.key(self.slots.rewards_token));
        self.pay(access, self.rewards_token, user);
    }

    fn call(&self, input: Vec<u8>, access: AccessSet<StateKey>) -> Call {
        Call { to: self.address, input: input.into(), value: U256::ZERO, access }
    }
}
