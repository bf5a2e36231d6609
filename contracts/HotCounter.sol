// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// The `hot-contract` workload's contract: distinct senders all increment one counter, as
/// swaps through one popular pool all update its reserves.
contract HotCounter {
    uint256 public count;

    function increment() external {
        count += 1;
    }
}
