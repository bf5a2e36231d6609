// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

interface IPair {
    function token0() external view returns (address);
    function getReserves() external view returns (uint256, uint256);
    function swap(uint256 amount0Out, uint256 amount1Out, address to) external;
}

interface ITokenFrom {
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @title A stateless router in the style of Uniswap V2's: quotes, moves the input into the
/// pair, and asks the pair for the output.
contract Router {
    function getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) public pure returns (uint256) {
        uint256 inWithFee = amountIn * 997;
        return (inWithFee * reserveOut) / (reserveIn * 1000 + inWithFee);
    }

    function swapExactIn(address pair, address tokenIn, uint256 amountIn, uint256 amountOutMin, address to)
        external
        returns (uint256 out)
    {
        (uint256 r0, uint256 r1) = IPair(pair).getReserves();
        bool zeroIn = tokenIn == IPair(pair).token0();
        out = zeroIn ? getAmountOut(amountIn, r0, r1) : getAmountOut(amountIn, r1, r0);
        require(out >= amountOutMin, "slippage");
        require(ITokenFrom(tokenIn).transferFrom(msg.sender, pair, amountIn), "transferFrom");
        if (zeroIn) {
            IPair(pair).swap(0, out, to);
        } else {
            IPair(pair).swap(out, 0, to);
        }
    }
}
