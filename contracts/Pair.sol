// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

interface IERC20Balance {
    function balanceOf(address owner) external view returns (uint256);
    function transfer(address to, uint256 value) external returns (bool);
}

/// @title A constant-product pair in the style of Uniswap V2 (0.3% fee, optimistic transfer).
/// @notice The tokens are immutables, as in Uniswap V3's pools (the workload generator writes
/// them into the runtime code at the offsets `build/Pair.immutables.json` gives); storage
/// layout (also written by the generator): slot 0 `reserve0`, slot 1 `reserve1`.
contract Pair {
    address public immutable token0;
    address public immutable token1;
    uint256 public reserve0;
    uint256 public reserve1;

    event Swap(
        address indexed sender,
        uint256 amount0In,
        uint256 amount1In,
        uint256 amount0Out,
        uint256 amount1Out,
        address indexed to
    );
    event Sync(uint256 reserve0, uint256 reserve1);

    constructor(address _token0, address _token1) {
        token0 = _token0;
        token1 = _token1;
    }

    function getReserves() external view returns (uint256, uint256) {
        return (reserve0, reserve1);
    }

    /// Sends the outputs, then requires that the inputs already transferred in keep the
    /// fee-adjusted product of the balances at least the product of the reserves.
    function swap(uint256 amount0Out, uint256 amount1Out, address to) external {
        require(amount0Out > 0 || amount1Out > 0, "output");
        uint256 r0 = reserve0;
        uint256 r1 = reserve1;
        require(amount0Out < r0 && amount1Out < r1, "liquidity");
        if (amount0Out > 0) require(IERC20Balance(token0).transfer(to, amount0Out), "transfer0");
        if (amount1Out > 0) require(IERC20Balance(token1).transfer(to, amount1Out), "transfer1");
        uint256 b0 = IERC20Balance(token0).balanceOf(address(this));
        uint256 b1 = IERC20Balance(token1).balanceOf(address(this));
        uint256 in0 = b0 > r0 - amount0Out ? b0 - (r0 - amount0Out) : 0;
        uint256 in1 = b1 > r1 - amount1Out ? b1 - (r1 - amount1Out) : 0;
        require(in0 > 0 || in1 > 0, "input");
        uint256 adjusted0 = b0 * 1000 - in0 * 3;
        uint256 adjusted1 = b1 * 1000 - in1 * 3;
        require(adjusted0 * adjusted1 >= r0 * r1 * 1_000_000, "k");
        reserve0 = b0;
        reserve1 = b1;
        emit Sync(b0, b1);
        emit Swap(msg.sender, in0, in1, amount0Out, amount1Out, to);
    }
}
