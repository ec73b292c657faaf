// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title Token
/// @notice A plain ERC-20 token. There is no mint: defivm writes balances and
/// the total supply straight into storage when it builds a genesis state.
contract Token {
    /// @notice The token's name.
    string public name;
    /// @notice The token's symbol.
    string public symbol;
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

    function _move(address from, address to, uint256 value) private {
        uint256 balance = balanceOf[from];
        if (balance < value) revert InsufficientBalance(from, balance, value);
        unchecked {
            balanceOf[from] = balance - value;
        }
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
