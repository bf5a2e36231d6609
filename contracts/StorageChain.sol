// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// The `storage-chain` workload's contract: each call replaces one slot with the hash of its
/// old value and the caller's input, so every call depends on the one before it and no
/// reordering or commutative merge can reproduce the result: a truly serial block.
contract StorageChain {
    bytes32 public head;

    function step(bytes32 input) external {
        head = keccak256(abi.encodePacked(head, input));
    }
}
