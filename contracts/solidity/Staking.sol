// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @notice The part of ERC-20 staking needs.
interface IStakingToken {
    function balanceOf(address holder) external view returns (uint256);
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @title Staking
/// @notice Stake one token, earn another at a fixed rate over a reward
/// period, in the style of Synthetix's StakingRewards: rewards accrue per
/// staked token per second, and each staker's share is settled whenever their
/// stake changes or they claim.
contract Staking {
    /// @notice The token staked.
    address public stakingToken;
    /// @notice The token paid out.
    address public rewardsToken;
    /// @notice Who may fund a new reward period.
    address public rewardsDistribution;
    /// @notice When the current reward period ends.
    uint256 public periodFinish;
    /// @notice Reward tokens paid out per second, across all stakers.
    uint256 public rewardRate;
    /// @notice Length of a reward period, in seconds.
    uint256 public rewardsDuration;
    /// @notice When the accrual was last brought up to date.
    uint256 public lastUpdateTime;
    /// @notice Accrued reward per staked token (scaled by 1e18) as of `lastUpdateTime`.
    uint256 public rewardPerTokenStored;
    /// @notice Each staker's `rewardPerTokenStored` when last settled.
    mapping(address => uint256) public userRewardPerTokenPaid;
    /// @notice Rewards settled but not yet claimed.
    mapping(address => uint256) public rewards;
    /// @notice Tokens staked in total.
    uint256 public totalSupply;
    /// @notice Tokens each staker has staked.
    mapping(address => uint256) public balanceOf;

    /// @notice Emitted when a new reward period is funded.
    event RewardAdded(uint256 reward);
    /// @notice Emitted when `user` stakes.
    event Staked(address indexed user, uint256 amount);
    /// @notice Emitted when `user` withdraws.
    event Withdrawn(address indexed user, uint256 amount);
    /// @notice Emitted when `user` claims rewards.
    event RewardPaid(address indexed user, uint256 reward);

    /// @notice Staking or withdrawing nothing.
    error ZeroAmount();
    /// @notice Withdrawing more than staked.
    error InsufficientStake(uint256 staked, uint256 requested);
    /// @notice Only the rewards distribution may fund rewards.
    error NotRewardsDistribution();
    /// @notice The contract holds too few reward tokens for the new rate.
    error RewardTooHigh();
    /// @notice An ERC-20 transfer failed.
    error TransferFailed();

    modifier updateReward(address account) {
        rewardPerTokenStored = rewardPerToken();
        lastUpdateTime = lastTimeRewardApplicable();
        if (account != address(0)) {
            rewards[account] = earned(account);
            userRewardPerTokenPaid[account] = rewardPerTokenStored;
        }
        _;
    }

    /// @notice The accrual clock: now, or the end of the period if it is over.
    function lastTimeRewardApplicable() public view returns (uint256) {
        return block.timestamp < periodFinish ? block.timestamp : periodFinish;
    }

    /// @notice Accrued reward per staked token (scaled by 1e18) as of now.
    function rewardPerToken() public view returns (uint256) {
        if (totalSupply == 0) return rewardPerTokenStored;
        return rewardPerTokenStored + ((lastTimeRewardApplicable() - lastUpdateTime) * rewardRate * 1e18) / totalSupply;
    }

    /// @notice Rewards `account` could claim now.
    function earned(address account) public view returns (uint256) {
        return (balanceOf[account] * (rewardPerToken() - userRewardPerTokenPaid[account])) / 1e18 + rewards[account];
    }

    /// @notice Stakes `amount` of the caller's staking tokens.
    function stake(uint256 amount) external updateReward(msg.sender) {
        if (amount == 0) revert ZeroAmount();
        totalSupply += amount;
        balanceOf[msg.sender] += amount;
        _call(stakingToken, abi.encodeCall(IStakingToken.transferFrom, (msg.sender, address(this), amount)));
        emit Staked(msg.sender, amount);
    }

    /// @notice Withdraws `amount` of the caller's stake.
    function withdraw(uint256 amount) public updateReward(msg.sender) {
        if (amount == 0) revert ZeroAmount();
        uint256 staked = balanceOf[msg.sender];
        if (staked < amount) revert InsufficientStake(staked, amount);
        totalSupply -= amount;
        balanceOf[msg.sender] = staked - amount;
        _call(stakingToken, abi.encodeCall(IStakingToken.transfer, (msg.sender, amount)));
        emit Withdrawn(msg.sender, amount);
    }

    /// @notice Pays the caller's rewards.
    function getReward() public updateReward(msg.sender) {
        uint256 reward = rewards[msg.sender];
        if (reward > 0) {
            rewards[msg.sender] = 0;
            _call(rewardsToken, abi.encodeCall(IStakingToken.transfer, (msg.sender, reward)));
            emit RewardPaid(msg.sender, reward);
        }
    }

    /// @notice Withdraws the caller's whole stake and pays their rewards.
    function exit() external {
        withdraw(balanceOf[msg.sender]);
        getReward();
    }

    /// @notice Starts a new reward period paying `reward` (plus what is left
    /// of the current one) over `rewardsDuration`.
    function notifyRewardAmount(uint256 reward) external updateReward(address(0)) {
        if (msg.sender != rewardsDistribution) revert NotRewardsDistribution();
        if (block.timestamp >= periodFinish) {
            rewardRate = reward / rewardsDuration;
        } else {
            uint256 leftover = (periodFinish - block.timestamp) * rewardRate;
            rewardRate = (reward + leftover) / rewardsDuration;
        }
        uint256 balance = IStakingToken(rewardsToken).balanceOf(address(this));
        if (rewardRate > balance / rewardsDuration) revert RewardTooHigh();
        lastUpdateTime = block.timestamp;
        periodFinish = block.timestamp + rewardsDuration;
        emit RewardAdded(reward);
    }

    function _call(address token, bytes memory data) private {
        (bool ok, bytes memory result) = token.call(data);
        if (!ok || (result.length != 0 && !abi.decode(result, (bool)))) revert TransferFailed();
    }
}
