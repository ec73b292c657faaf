// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "./ERC20.sol";

/// @title Token
/// @notice A plain ERC-20 token. There is no mint: defivm writes balances and
/// the total supply straight into storage when it builds a genesis state.
contract Token is ERC20 {
    /// @notice The token's name.
    string public name;
    /// @notice The token's symbol.
    string public symbol;
}
