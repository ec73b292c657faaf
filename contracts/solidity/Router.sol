// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @notice The part of ERC-20 the router needs.
interface IRouterToken {
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @notice The part of a pair the router needs.
interface IRouterPair {
    function token0() external view returns (address);
    function token1() external view returns (address);
    function getReserves() external view returns (uint112, uint112, uint32);
    function swap(uint256 amount0Out, uint256 amount1Out, address to) external;
    function mint(address to) external returns (uint256);
    function burn(address to) external returns (uint256, uint256);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @title Router
/// @notice Stateless entry point to the pairs: exact-input swaps along a path
/// of pairs, and adding or removing liquidity, each with slippage bounds and
/// a deadline. Callers approve the router on the tokens they pay with.
contract Router {
    /// @notice The deadline has passed.
    error Expired();
    /// @notice The output would be below the caller's minimum.
    error InsufficientOutputAmount(uint256 out, uint256 minimum);
    /// @notice A deposit or withdrawal below the caller's minimum.
    error InsufficientAmount(uint256 amount, uint256 minimum);
    /// @notice A path's token does not belong to the next pair.
    error InvalidPath();
    /// @notice A pair with an empty reserve.
    error InsufficientLiquidity();
    /// @notice An ERC-20 transfer failed.
    error TransferFailed();

    modifier ensure(uint256 deadline) {
        if (block.timestamp > deadline) revert Expired();
        _;
    }

    /// @notice What a pair pays out for `amountIn` given its reserves, fee included.
    function getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) public pure returns (uint256) {
        if (reserveIn == 0 || reserveOut == 0) revert InsufficientLiquidity();
        uint256 amountInWithFee = amountIn * 997;
        return (amountInWithFee * reserveOut) / (reserveIn * 1000 + amountInWithFee);
    }

    /// @notice Swaps exactly `amountIn` of `tokenIn` through `pairs` in order,
    /// sending the last output to `to`.
    /// @return amountOut What `to` received.
    function swapExactTokensForTokens(
        uint256 amountIn,
        uint256 amountOutMin,
        address[] calldata pairs,
        address tokenIn,
        address to,
        uint256 deadline
    ) external ensure(deadline) returns (uint256 amountOut) {
        _pull(tokenIn, msg.sender, pairs[0], amountIn);
        amountOut = amountIn;
        address token = tokenIn;
        for (uint256 i = 0; i < pairs.length; i++) {
            address recipient = i + 1 < pairs.length ? pairs[i + 1] : to;
            (amountOut, token) = _hop(pairs[i], token, amountOut, recipient);
        }
        if (amountOut < amountOutMin) revert InsufficientOutputAmount(amountOut, amountOutMin);
    }

    /// @notice Deposits up to the desired amounts into `pair` at its current
    /// price and mints the shares to `to`.
    /// @return amount0 Token0 deposited.
    /// @return amount1 Token1 deposited.
    /// @return liquidity Shares minted.
    function addLiquidity(
        address pair,
        uint256 amount0Desired,
        uint256 amount1Desired,
        uint256 amount0Min,
        uint256 amount1Min,
        address to,
        uint256 deadline
    ) external ensure(deadline) returns (uint256 amount0, uint256 amount1, uint256 liquidity) {
        (uint112 r0, uint112 r1,) = IRouterPair(pair).getReserves();
        (amount0, amount1) = (amount0Desired, amount1Desired);
        if (r0 != 0 || r1 != 0) {
            uint256 optimal1 = (amount0Desired * r1) / r0;
            if (optimal1 <= amount1Desired) {
                amount1 = optimal1;
            } else {
                amount0 = (amount1Desired * r0) / r1;
            }
        }
        if (amount0 < amount0Min) revert InsufficientAmount(amount0, amount0Min);
        if (amount1 < amount1Min) revert InsufficientAmount(amount1, amount1Min);
        _pull(IRouterPair(pair).token0(), msg.sender, pair, amount0);
        _pull(IRouterPair(pair).token1(), msg.sender, pair, amount1);
        liquidity = IRouterPair(pair).mint(to);
    }

    /// @notice Burns `liquidity` of the caller's shares in `pair` and sends
    /// both tokens to `to`.
    /// @return amount0 Token0 paid out.
    /// @return amount1 Token1 paid out.
    function removeLiquidity(
        address pair,
        uint256 liquidity,
        uint256 amount0Min,
        uint256 amount1Min,
        address to,
        uint256 deadline
    ) external ensure(deadline) returns (uint256 amount0, uint256 amount1) {
        if (!IRouterPair(pair).transferFrom(msg.sender, pair, liquidity)) revert TransferFailed();
        (amount0, amount1) = IRouterPair(pair).burn(to);
        if (amount0 < amount0Min) revert InsufficientAmount(amount0, amount0Min);
        if (amount1 < amount1Min) revert InsufficientAmount(amount1, amount1Min);
    }

    /// @dev Swaps `amountIn` of `tokenIn`, already in `pair`, for the other
    /// token, paid to `recipient`.
    function _hop(address pair, address tokenIn, uint256 amountIn, address recipient)
        private
        returns (uint256 amountOut, address tokenOut)
    {
        address token0 = IRouterPair(pair).token0();
        address token1 = IRouterPair(pair).token1();
        bool zeroForOne = tokenIn == token0;
        if (!zeroForOne && tokenIn != token1) revert InvalidPath();
        (uint112 r0, uint112 r1,) = IRouterPair(pair).getReserves();
        if (zeroForOne) {
            amountOut = getAmountOut(amountIn, r0, r1);
            IRouterPair(pair).swap(0, amountOut, recipient);
            tokenOut = token1;
        } else {
            amountOut = getAmountOut(amountIn, r1, r0);
            IRouterPair(pair).swap(amountOut, 0, recipient);
            tokenOut = token0;
        }
    }

    function _pull(address token, address from, address to, uint256 value) private {
        (bool ok, bytes memory data) = token.call(abi.encodeCall(IRouterToken.transferFrom, (from, to, value)));
        if (!ok || (data.length != 0 && !abi.decode(data, (bool)))) revert TransferFailed();
    }
}
