// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "./ERC20.sol";

/// @notice The part of ERC-20 a pair needs.
interface IERC20Minimal {
    function balanceOf(address holder) external view returns (uint256);
    function transfer(address to, uint256 value) external returns (bool);
}

/// @title Pair
/// @notice A constant-product AMM pool of two tokens with a 0.3% fee, in the
/// style of Uniswap V2, whose liquidity shares are themselves an ERC-20
/// (inherited from `ERC20`).
/// Callers send tokens in first, then call `swap`, `mint` or `burn`, which
/// settle against the recorded reserves. defivm deploys pairs straight into
/// a genesis state (tokens, reserves and shares written to storage).
contract Pair is ERC20 {
    /// @notice Shares locked forever by the first deposit, so the pool never empties.
    uint256 public constant MINIMUM_LIQUIDITY = 1000;

    /// @notice The token with the lower address.
    address public token0;
    /// @notice The token with the higher address.
    address public token1;

    uint112 private reserve0;
    uint112 private reserve1;
    uint32 private blockTimestampLast;

    uint256 private unlocked = 1;

    /// @notice Emitted when liquidity is added.
    event Mint(address indexed sender, uint256 amount0, uint256 amount1);
    /// @notice Emitted when liquidity is removed.
    event Burn(address indexed sender, uint256 amount0, uint256 amount1, address indexed to);
    /// @notice Emitted on every swap.
    event Swap(
        address indexed sender,
        uint256 amount0In,
        uint256 amount1In,
        uint256 amount0Out,
        uint256 amount1Out,
        address indexed to
    );
    /// @notice Emitted whenever the reserves change.
    event Sync(uint112 reserve0, uint112 reserve1);

    /// @notice A call re-entered the pair.
    error Locked();
    /// @notice A swap asked for no output.
    error InsufficientOutputAmount();
    /// @notice A swap asked for more than the reserves hold.
    error InsufficientLiquidity();
    /// @notice Nothing was sent in for a swap.
    error InsufficientInputAmount();
    /// @notice A deposit or withdrawal too small to mint or burn any share.
    error InsufficientLiquidityMinted();
    /// @notice A withdrawal that returns nothing.
    error InsufficientLiquidityBurned();
    /// @notice The swap would lower the fee-adjusted product of the reserves.
    error K();
    /// @notice A balance does not fit the 112-bit reserves.
    error Overflow();
    /// @notice Swap output may not go to one of the pair's own tokens.
    error InvalidTo();
    /// @notice An ERC-20 transfer failed.
    error TransferFailed();

    modifier lock() {
        if (unlocked != 1) revert Locked();
        unlocked = 0;
        _;
        unlocked = 1;
    }

    /// @notice The recorded reserves and when they last changed.
    function getReserves() public view returns (uint112, uint112, uint32) {
        return (reserve0, reserve1, blockTimestampLast);
    }

    /// @notice Mints shares to `to` for the tokens sent in since the last update.
    /// @return liquidity The shares minted.
    function mint(address to) external lock returns (uint256 liquidity) {
        (uint112 r0, uint112 r1,) = getReserves();
        uint256 balance0 = IERC20Minimal(token0).balanceOf(address(this));
        uint256 balance1 = IERC20Minimal(token1).balanceOf(address(this));
        uint256 amount0 = balance0 - r0;
        uint256 amount1 = balance1 - r1;
        uint256 supply = totalSupply;
        if (supply == 0) {
            liquidity = _sqrt(amount0 * amount1) - MINIMUM_LIQUIDITY;
            _mint(address(0), MINIMUM_LIQUIDITY);
        } else {
            liquidity = _min((amount0 * supply) / r0, (amount1 * supply) / r1);
        }
        if (liquidity == 0) revert InsufficientLiquidityMinted();
        _mint(to, liquidity);
        _update(balance0, balance1);
        emit Mint(msg.sender, amount0, amount1);
    }

    /// @notice Burns the shares sent to the pair and pays out both tokens to `to`.
    /// @return amount0 Token0 paid out.
    /// @return amount1 Token1 paid out.
    function burn(address to) external lock returns (uint256 amount0, uint256 amount1) {
        address t0 = token0;
        address t1 = token1;
        uint256 balance0 = IERC20Minimal(t0).balanceOf(address(this));
        uint256 balance1 = IERC20Minimal(t1).balanceOf(address(this));
        uint256 liquidity = balanceOf[address(this)];
        uint256 supply = totalSupply;
        amount0 = (liquidity * balance0) / supply;
        amount1 = (liquidity * balance1) / supply;
        if (amount0 == 0 || amount1 == 0) revert InsufficientLiquidityBurned();
        _burn(address(this), liquidity);
        _safeTransfer(t0, to, amount0);
        _safeTransfer(t1, to, amount1);
        balance0 = IERC20Minimal(t0).balanceOf(address(this));
        balance1 = IERC20Minimal(t1).balanceOf(address(this));
        _update(balance0, balance1);
        emit Burn(msg.sender, amount0, amount1, to);
    }

    /// @notice Sends out the requested amounts, then requires enough to have
    /// been sent in that the product of the reserves, less a 0.3% fee on the
    /// input, does not fall.
    function swap(uint256 amount0Out, uint256 amount1Out, address to) external lock {
        if (amount0Out == 0 && amount1Out == 0) revert InsufficientOutputAmount();
        (uint112 r0, uint112 r1,) = getReserves();
        if (amount0Out >= r0 || amount1Out >= r1) revert InsufficientLiquidity();
        (uint256 balance0, uint256 balance1) = _pay(amount0Out, amount1Out, to);
        uint256 amount0In = balance0 > r0 - amount0Out ? balance0 - (r0 - amount0Out) : 0;
        uint256 amount1In = balance1 > r1 - amount1Out ? balance1 - (r1 - amount1Out) : 0;
        if (amount0In == 0 && amount1In == 0) revert InsufficientInputAmount();
        if ((balance0 * 1000 - amount0In * 3) * (balance1 * 1000 - amount1In * 3) < uint256(r0) * r1 * 1000 ** 2) {
            revert K();
        }
        _update(balance0, balance1);
        emit Swap(msg.sender, amount0In, amount1In, amount0Out, amount1Out, to);
    }

    /// @dev Pays out a swap and returns the pair's balances after it.
    function _pay(uint256 amount0Out, uint256 amount1Out, address to) private returns (uint256, uint256) {
        address t0 = token0;
        address t1 = token1;
        if (to == t0 || to == t1) revert InvalidTo();
        if (amount0Out > 0) _safeTransfer(t0, to, amount0Out);
        if (amount1Out > 0) _safeTransfer(t1, to, amount1Out);
        return (IERC20Minimal(t0).balanceOf(address(this)), IERC20Minimal(t1).balanceOf(address(this)));
    }

    /// @notice Sets the reserves to the pair's actual token balances.
    function sync() external lock {
        _update(IERC20Minimal(token0).balanceOf(address(this)), IERC20Minimal(token1).balanceOf(address(this)));
    }

    function _update(uint256 balance0, uint256 balance1) private {
        if (balance0 > type(uint112).max || balance1 > type(uint112).max) revert Overflow();
        reserve0 = uint112(balance0);
        reserve1 = uint112(balance1);
        blockTimestampLast = uint32(block.timestamp);
        emit Sync(reserve0, reserve1);
    }

    function _safeTransfer(address token, address to, uint256 value) private {
        (bool ok, bytes memory data) = token.call(abi.encodeCall(IERC20Minimal.transfer, (to, value)));
        if (!ok || (data.length != 0 && !abi.decode(data, (bool)))) revert TransferFailed();
    }

    function _min(uint256 x, uint256 y) private pure returns (uint256) {
        return x < y ? x : y;
    }

    function _sqrt(uint256 y) private pure returns (uint256 z) {
        if (y > 3) {
            z = y;
            uint256 x = y / 2 + 1;
            while (x < z) {
                z = x;
                x = (y / x + x) / 2;
            }
        } else if (y != 0) {
            z = 1;
        }
    }
}
