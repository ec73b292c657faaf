// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @notice The part of ERC-20 the pool needs.
interface ILendingToken {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @notice The oracle's price feed.
interface IPriceOracle {
    function price(address token) external view returns (uint256);
}

/// @title LendingPool
/// @notice A Compound-style money market. Each listed token is a market:
/// suppliers hold shares of its cash plus borrows; borrowers owe principal
/// that grows with a borrow index accrued per second at a rate that rises
/// linearly with utilization. A position is healthy while the value of its
/// collateral (shares at each market's collateral factor) covers its debt,
/// at oracle prices; an unhealthy one can be liquidated up to the close
/// factor, the liquidator seizing collateral worth the repayment plus a bonus.
contract LendingPool {
    /// @notice One market's books.
    struct Market {
        uint256 collateralFactor;
        uint256 cash;
        uint256 totalShares;
        uint256 totalBorrows;
        uint256 borrowIndex;
        uint256 lastAccrual;
    }

    /// @notice One borrower's debt in one market.
    struct Borrow {
        uint256 principal;
        uint256 index;
    }

    /// @notice Borrow rate per second at zero utilization (1e18 = 100%).
    uint256 public constant BASE_RATE = 317097919; // about 1% a year
    /// @notice Added rate per second at full utilization.
    uint256 public constant SLOPE_RATE = 6341958396; // about 20% a year
    /// @notice Share of a debt one liquidation may repay (1e18 = 100%).
    uint256 public constant CLOSE_FACTOR = 0.5e18;
    /// @notice Collateral a liquidator receives per unit repaid, in value.
    uint256 public constant LIQUIDATION_BONUS = 1.08e18;

    /// @notice The price feed.
    address public oracle;
    /// @notice Listed markets, in listing order.
    address[] public assets;
    /// @notice Each market's books.
    mapping(address => Market) public markets;
    /// @notice Supply shares: market => holder => shares.
    mapping(address => mapping(address => uint256)) public shares;
    /// @notice Debts: market => borrower => debt.
    mapping(address => mapping(address => Borrow)) public borrows;

    /// @notice Emitted on supply.
    event Supply(address indexed asset, address indexed user, uint256 amount, uint256 shares);
    /// @notice Emitted on withdrawal.
    event Withdraw(address indexed asset, address indexed user, uint256 amount, uint256 shares);
    /// @notice Emitted on borrowing.
    event Borrowed(address indexed asset, address indexed user, uint256 amount);
    /// @notice Emitted on repayment.
    event Repay(address indexed asset, address indexed payer, address indexed borrower, uint256 amount);
    /// @notice Emitted on liquidation.
    event Liquidate(
        address indexed liquidator,
        address indexed borrower,
        address repayAsset,
        uint256 repaid,
        address collateralAsset,
        uint256 sharesSeized
    );

    /// @notice The token is not a listed market.
    error NotListed(address asset);
    /// @notice The market holds too little cash.
    error InsufficientCash(uint256 cash, uint256 needed);
    /// @notice Withdrawing more shares than held.
    error InsufficientShares(uint256 held, uint256 needed);
    /// @notice The action would leave the position's debt above its collateral.
    error Unhealthy(uint256 collateralValue, uint256 debtValue);
    /// @notice Liquidating a healthy position.
    error Healthy();
    /// @notice Repaying more than the close factor allows.
    error TooMuchRepay(uint256 amount, uint256 maximum);
    /// @notice Nothing to do.
    error ZeroAmount();
    /// @notice An ERC-20 transfer failed.
    error TransferFailed();

    /// @notice Supplies `amount` of `asset` for shares of the market.
    function supply(address asset, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Market storage m = _accrued(asset);
        uint256 minted = m.totalShares == 0 ? amount : (amount * m.totalShares) / (m.cash + m.totalBorrows);
        m.cash += amount;
        m.totalShares += minted;
        shares[asset][msg.sender] += minted;
        _pull(asset, msg.sender, amount);
        emit Supply(asset, msg.sender, amount, minted);
    }

    /// @notice Redeems `shareAmount` shares of `asset` for their underlying.
    function withdraw(address asset, uint256 shareAmount) external {
        if (shareAmount == 0) revert ZeroAmount();
        Market storage m = _accrued(asset);
        uint256 held = shares[asset][msg.sender];
        if (held < shareAmount) revert InsufficientShares(held, shareAmount);
        uint256 amount = (shareAmount * (m.cash + m.totalBorrows)) / m.totalShares;
        if (m.cash < amount) revert InsufficientCash(m.cash, amount);
        m.cash -= amount;
        m.totalShares -= shareAmount;
        shares[asset][msg.sender] = held - shareAmount;
        _requireHealthy(msg.sender);
        _push(asset, msg.sender, amount);
        emit Withdraw(asset, msg.sender, amount, shareAmount);
    }

    /// @notice Borrows `amount` of `asset` against the caller's collateral.
    function borrow(address asset, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Market storage m = _accrued(asset);
        if (m.cash < amount) revert InsufficientCash(m.cash, amount);
        Borrow storage b = borrows[asset][msg.sender];
        b.principal = _owed(b, m.borrowIndex) + amount;
        b.index = m.borrowIndex;
        m.totalBorrows += amount;
        m.cash -= amount;
        _requireHealthy(msg.sender);
        _push(asset, msg.sender, amount);
        emit Borrowed(asset, msg.sender, amount);
    }

    /// @notice Repays up to `amount` of `borrower`'s debt in `asset`.
    /// @return paid What was actually repaid (at most the debt).
    function repay(address asset, address borrower, uint256 amount) external returns (uint256 paid) {
        Market storage m = _accrued(asset);
        paid = _repay(m, asset, borrower, amount);
    }

    /// @notice Repays `amount` of an unhealthy `borrower`'s debt in
    /// `repayAsset` and seizes their `collateralAsset` shares worth the
    /// repayment plus the liquidation bonus.
    function liquidate(address borrower, address repayAsset, uint256 amount, address collateralAsset) external {
        Market storage debtMarket = _accrued(repayAsset);
        Market storage collateral = _accrued(collateralAsset);
        (uint256 collateralValue, uint256 debtValue) = position(borrower);
        if (collateralValue >= debtValue) revert Healthy();
        uint256 maximum = (_owed(borrows[repayAsset][borrower], debtMarket.borrowIndex) * CLOSE_FACTOR) / 1e18;
        if (amount > maximum) revert TooMuchRepay(amount, maximum);
        uint256 repaid = _repay(debtMarket, repayAsset, borrower, amount);
        uint256 seized = _seize(collateral, borrower, collateralAsset, _seizeAmount(repaid, repayAsset, collateralAsset));
        emit Liquidate(msg.sender, borrower, repayAsset, repaid, collateralAsset, seized);
    }

    /// @dev Collateral owed for `repaid` of `repayAsset`: its value plus the
    /// bonus, in `collateralAsset`.
    function _seizeAmount(uint256 repaid, address repayAsset, address collateralAsset) private view returns (uint256) {
        IPriceOracle feed = IPriceOracle(oracle);
        return (repaid * feed.price(repayAsset) * LIQUIDATION_BONUS) / 1e18 / feed.price(collateralAsset);
    }

    /// @dev Moves shares worth `amount` of collateral from `borrower` to the caller.
    function _seize(Market storage m, address borrower, address asset, uint256 amount) private returns (uint256 seized) {
        seized = (amount * m.totalShares) / (m.cash + m.totalBorrows);
        uint256 held = shares[asset][borrower];
        if (held < seized) revert InsufficientShares(held, seized);
        shares[asset][borrower] = held - seized;
        shares[asset][msg.sender] += seized;
    }

    /// @notice The value (1e18 USD) of `user`'s collateral, weighted by each
    /// market's collateral factor, and of their debt, at stored indices.
    function position(address user) public view returns (uint256 collateralValue, uint256 debtValue) {
        IPriceOracle feed = IPriceOracle(oracle);
        uint256 count = assets.length;
        for (uint256 i = 0; i < count; i++) {
            address asset = assets[i];
            Market storage m = markets[asset];
            uint256 price = feed.price(asset);
            uint256 held = shares[asset][user];
            if (held != 0) {
                uint256 underlying = (held * (m.cash + m.totalBorrows)) / m.totalShares;
                collateralValue += (underlying * price / 1e18) * m.collateralFactor / 1e18;
            }
            debtValue += (_owed(borrows[asset][user], m.borrowIndex) * price) / 1e18;
        }
    }

    function _repay(Market storage m, address asset, address borrower, uint256 amount) private returns (uint256 paid) {
        if (amount == 0) revert ZeroAmount();
        Borrow storage b = borrows[asset][borrower];
        uint256 owed = _owed(b, m.borrowIndex);
        paid = amount < owed ? amount : owed;
        b.principal = owed - paid;
        b.index = m.borrowIndex;
        m.totalBorrows = m.totalBorrows > paid ? m.totalBorrows - paid : 0;
        m.cash += paid;
        _pull(asset, msg.sender, paid);
        emit Repay(asset, msg.sender, borrower, paid);
    }

    /// @dev Brings `asset`'s market up to date: interest since the last
    /// accrual, at the current utilization, grows the borrows and the index.
    function _accrued(address asset) private returns (Market storage m) {
        m = markets[asset];
        if (m.borrowIndex == 0) revert NotListed(asset);
        uint256 elapsed = block.timestamp - m.lastAccrual;
        if (elapsed == 0) return m;
        uint256 borrowed = m.totalBorrows;
        uint256 utilization = borrowed == 0 ? 0 : (borrowed * 1e18) / (m.cash + borrowed);
        uint256 factor = (BASE_RATE + (utilization * SLOPE_RATE) / 1e18) * elapsed;
        m.totalBorrows = borrowed + (borrowed * factor) / 1e18;
        m.borrowIndex += (m.borrowIndex * factor) / 1e18;
        m.lastAccrual = block.timestamp;
    }

    function _owed(Borrow storage b, uint256 index) private view returns (uint256) {
        return b.principal == 0 ? 0 : (b.principal * index) / b.index;
    }

    function _requireHealthy(address user) private view {
        (uint256 collateralValue, uint256 debtValue) = position(user);
        if (collateralValue < debtValue) revert Unhealthy(collateralValue, debtValue);
    }

    function _pull(address asset, address from, uint256 amount) private {
        _call(asset, abi.encodeCall(ILendingToken.transferFrom, (from, address(this), amount)));
    }

    function _push(address asset, address to, uint256 amount) private {
        _call(asset, abi.encodeCall(ILendingToken.transfer, (to, amount)));
    }

    function _call(address token, bytes memory data) private {
        (bool ok, bytes memory result) = token.call(data);
        if (!ok || (result.length != 0 && !abi.decode(result, (bool)))) revert TransferFailed();
    }
}
