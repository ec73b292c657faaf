// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title ERC20
/// @notice The ERC-20 ledger shared by the tokens and by the pairs' liquidity
/// shares: balances, allowances, and the three standard moves.
abstract contract ERC20 {
    /// @notice Tokens in existence.
    uint256 public totalSupply;
    /// @notice Balance of each holder.
    mapping(address => uint256) public balanceOf;
    /// @notice What each spender may still move for each owner.
    mapping(address => mapping(address => uint256)) public allowance;

    /// @notice Emitted when `value` tokens move from `from` to `to`.
    event Transfer(address indexed from, address indexed to, uint256 value);
    /// @notice Emitted when `owner` lets `spender` move `value` tokens.
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// @notice The holder has fewer tokens than asked for.
    error InsufficientBalance(address holder, uint256 balance, uint256 needed);
    /// @notice The spender may move fewer tokens than asked for.
    error InsufficientAllowance(address owner, address spender, uint256 allowed, uint256 needed);

    /// @notice Every balance has 18 decimals.
    function decimals() external pure returns (uint8) {
        return 18;
    }

    /// @notice Moves `value` of the caller's tokens to `to`.
    /// @return Always true; failures revert.
    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    /// @notice Lets `spender` move up to `value` of the caller's tokens.
    /// @return Always true.
    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    /// @notice Moves `value` of `from`'s tokens to `to`, spending the caller's
    /// allowance (an allowance of 2**256 - 1 is never spent).
    /// @return Always true; failures revert.
    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < value) revert InsufficientAllowance(from, msg.sender, allowed, value);
            unchecked {
                allowance[from][msg.sender] = allowed - value;
            }
        }
        _move(from, to, value);
        return true;
    }

    function _move(address from, address to, uint256 value) internal {
        uint256 balance = balanceOf[from];
        if (balance < value) revert InsufficientBalance(from, balance, value);
        unchecked {
            balanceOf[from] = balance - value;
        }
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }

    function _mint(address to, uint256 value) internal {
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    function _burn(address from, uint256 value) internal {
        uint256 balance = balanceOf[from];
        if (balance < value) revert InsufficientBalance(from, balance, value);
        unchecked {
            balanceOf[from] = balance - value;
            totalSupply -= value;
        }
        emit Transfer(from, address(0), value);
    }
}
