//! The workload contracts (sources in `contracts/`, compiled by `contracts/build.sh`), their
//! call encodings and the storage slots the generator writes directly into the pre-state.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_sol_types::{SolCall, sol};

/// Runtime bytecode of `contracts/Token.sol`.
pub const TOKEN_HEX: &str = include_str!("../../../../../contracts/build/Token.hex");
/// Runtime bytecode of `contracts/Pair.sol`.
pub const PAIR_HEX: &str = include_str!("../../../../../contracts/build/Pair.hex");
/// Where `contracts/Pair.sol`'s immutables (`token0`, `token1`) sit in its runtime code.
const PAIR_IMMUTABLES: &str = include_str!("../../../../../contracts/build/Pair.immutables.json");
/// Runtime bytecode of `contracts/Router.sol`.
pub const ROUTER_HEX: &str = include_str!("../../../../../contracts/build/Router.hex");
/// Runtime bytecode of `contracts/StorageChain.sol`.
pub const STORAGE_CHAIN_HEX: &str = include_str!("../../../../../contracts/build/StorageChain.hex");
/// Runtime bytecode of `contracts/HotCounter.sol`.
pub const HOT_COUNTER_HEX: &str = include_str!("../../../../../contracts/build/HotCounter.hex");

sol! {
    /// The ERC-20 calls the workloads make.
    interface IToken {
        function transfer(address to, uint256 value) external returns (bool);
    }
    /// The storage-chain step.
    interface IStorageChain {
        function step(bytes32 input) external;
    }
    /// The hot counter's increment.
    interface IHotCounter {
        function increment() external;
    }
    /// The router call of a swap.
    interface IRouter {
        function swapExactIn(address pair, address tokenIn, uint256 amountIn, uint256 amountOutMin, address to) external returns (uint256);
    }
}

/// Decodes committed hex bytecode.
pub fn code(hex: &str) -> Bytes {
    alloy_primitives::hex::decode(hex.trim())
        .expect("committed bytecode is valid hex")
        .into()
}

fn word(a: Address) -> [u8; 32] {
    B256::left_padding_from(a.as_slice()).0
}

/// Storage slot of `balanceOf[holder]` (mapping at slot 0).
pub fn balance_slot(holder: Address) -> U256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(&word(holder));
    U256::from_be_bytes(keccak256(buf).0)
}

/// Storage slot of `allowance[owner][spender]` (mapping at slot 1).
pub fn allowance_slot(owner: Address, spender: Address) -> U256 {
    let mut inner = [0u8; 64];
    inner[..32].copy_from_slice(&word(owner));
    inner[63] = 1;
    let mut outer = [0u8; 64];
    outer[..32].copy_from_slice(&word(spender));
    outer[32..].copy_from_slice(&keccak256(inner).0);
    U256::from_be_bytes(keccak256(outer).0)
}

/// The runtime code of the pair of `token0` and `token1`: the committed code with its
/// immutables written in, as its constructor would have.
pub fn pair_code(token0: Address, token1: Address) -> Bytes {
    let mut bytes = code(PAIR_HEX).to_vec();
    let offsets: serde_json::Value =
        serde_json::from_str(PAIR_IMMUTABLES).expect("committed immutables are JSON");
    for (name, token) in [("token0", token0), ("token1", token1)] {
        for offset in offsets[name].as_array().expect("offsets of each immutable") {
            let o = offset.as_u64().expect("an offset") as usize;
            bytes[o..o + 32].copy_from_slice(&word(token));
        }
    }
    bytes.into()
}

/// Calldata of `transfer(to, value)`.
pub fn transfer_call(to: Address, value: U256) -> Bytes {
    IToken::transferCall { to, value }.abi_encode().into()
}

/// Calldata of `swapExactIn(pair, tokenIn, amountIn, 0, to)`.
pub fn swap_call(pair: Address, token_in: Address, amount_in: U256, to: Address) -> Bytes {
    IRouter::swapExactInCall {
        pair,
        tokenIn: token_in,
        amountIn: amount_in,
        amountOutMin: U256::ZERO,
        to,
    }
    .abi_encode()
    .into()
}

/// Calldata of `step(input)`.
pub fn step_call(input: B256) -> Bytes {
    IStorageChain::stepCall { input }.abi_encode().into()
}

/// Calldata of `increment()`.
pub fn increment_call() -> Bytes {
    IHotCounter::incrementCall {}.abi_encode().into()
}
