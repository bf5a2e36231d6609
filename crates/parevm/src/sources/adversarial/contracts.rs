//! The adversarial generator's contracts: hand-assembled EVM code, each one behaviour that a
//! parallel strategy must get exactly right. Calldata word 0 (`w0`) and word 1 (`w1`) are the
//! arguments; every contract is deployed at a fixed low-numbered address.
//!
//! Opcodes used: 0x30 ADDRESS, 0x31 BALANCE, 0x33 CALLER, 0x34 CALLVALUE, 0x35 CALLDATALOAD,
//! 0x41 COINBASE, 0x47 SELFBALANCE (Istanbul on: earlier forks halt on it, which is a case too),
//! 0x51 MLOAD, 0x52 MSTORE, 0x54 SLOAD, 0x55 SSTORE, 0x5a GAS, 0xf0 CREATE, 0xf1 CALL,
//! 0xf5 CREATE2 (Petersburg on), 0xfd REVERT, 0xff SELFDESTRUCT.

use alloy_primitives::{Address, Bytes, hex};

/// One of the generator's contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// `sstore(w0, sload(w0) + 1)`: a shared counter.
    Counter,
    /// `sstore(0, balance(coinbase))`: reads the beneficiary, which sums every fee below.
    CoinbaseBalance,
    /// `sstore(0, balance(caller))`: reads the sender (the beneficiary, when it sends).
    CallerBalance,
    /// `sstore(1, selfbalance())`: payable, reads its own balance.
    SelfBalance,
    /// `selfdestruct(w0)`.
    Destruct,
    /// `sstore(0, call(gas, w0, balance(address), 0, 0, 0, 0))`: forwards everything it holds.
    Forward,
    /// `sstore(0, call(gas, w0, w1, 0, 0, 0, 0))`: pays `w1` wei out of its balance to `w0`.
    Send,
    /// `sstore(0, create(child))`; the child's constructor stores 1 and deploys one byte.
    Create,
    /// `sstore(0, create2(child, salt 0))`: the second call in a block collides.
    Create2,
    /// `sstore(0, sha256 precompile called with callvalue)`.
    Precompile,
    /// `sstore(w0, 1); revert`.
    Revert,
    /// An endless loop: runs out of gas.
    Loop,
    /// `sstore(1, balance(w0))`: reads any account.
    Touch,
}

impl Contract {
    /// Every contract.
    pub const ALL: [Contract; 13] = [
        Contract::Counter,
        Contract::CoinbaseBalance,
        Contract::CallerBalance,
        Contract::SelfBalance,
        Contract::Destruct,
        Contract::Forward,
        Contract::Send,
        Contract::Create,
        Contract::Create2,
        Contract::Precompile,
        Contract::Revert,
        Contract::Loop,
        Contract::Touch,
    ];

    /// Where the contract is deployed.
    pub fn address(self) -> Address {
        let i = Contract::ALL
            .iter()
            .position(|c| *c == self)
            .expect("listed");
        let mut a = [0u8; 20];
        a[0] = 0xc0;
        a[19] = i as u8;
        Address::new(a)
    }

    /// The runtime code.
    pub fn code(self) -> Bytes {
        // The child's init code (15 bytes, pushed with PUSH15 and stored at memory 17..32):
        // sstore(0, 1); mstore8(0, 0); return(0, 1).
        const CHILD: &str = "6e6001600055600060005360016000f3600052";
        let hex = match self {
            Contract::Counter => "6000358054600101905500".to_string(),
            Contract::CoinbaseBalance => "413160005500".into(),
            Contract::CallerBalance => "333160005500".into(),
            Contract::SelfBalance => "4760015500".into(),
            Contract::Destruct => "600035ff".into(),
            Contract::Forward => "600060006000600030316000355af160005500".into(),
            Contract::Send => "60006000600060006020356000355af160005500".into(),
            Contract::Create => format!("{CHILD}600f60116000f060005500"),
            Contract::Create2 => format!("{CHILD}6000600f60116000f560005500"),
            Contract::Precompile => "60206000602060003460025af15060005160005500".into(),
            Contract::Revert => "600160003555600080fd".into(),
            Contract::Loop => "5b600056".into(),
            Contract::Touch => "6000353160015500".into(),
        };
        hex::decode(hex).expect("valid hex").into()
    }

    /// A gas limit for a call to it (the loop spends all of it).
    pub fn gas(self) -> u64 {
        match self {
            Contract::Loop => 60_000,
            Contract::Create | Contract::Create2 => 200_000,
            Contract::Forward | Contract::Send | Contract::Destruct => 120_000,
            _ => 80_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct_and_outside_the_precompiles() {
        let mut seen = std::collections::HashSet::new();
        for c in Contract::ALL {
            assert!(seen.insert(c.address()));
            assert_eq!(c.address().0[0], 0xc0);
            assert!(!c.code().is_empty());
        }
    }
}
