// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title Oracle
/// @notice Prices set by an owner, in USD per whole token scaled by 1e18:
/// what the lending pool values collateral and debt with.
contract Oracle {
    /// @notice Who may set prices.
    address public owner;
    /// @notice Price of each token.
    mapping(address => uint256) public price;

    /// @notice Emitted when a price changes.
    event PriceSet(address indexed token, uint256 price);

    /// @notice Only the owner may set prices.
    error NotOwner();

    /// @notice Sets the price of `token`.
    function setPrice(address token, uint256 newPrice) external {
        if (msg.sender != owner) revert NotOwner();
        price[token] = newPrice;
        emit PriceSet(token, newPrice);
    }
}
