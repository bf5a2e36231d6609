//! The static analysis on hand-assembled contracts, each exercising one way of reaching
//! storage; expected slots are computed here, independently of the analysis.

use super::Static;
use crate::{
    Fork,
    block::{Block, Transaction},
    predict::{Loc, Prediction},
    state::{Bytecode, InMemoryState},
};
use alloy_consensus::Header;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use revm::{context::TxEnv, primitives::TxKind};
use std::collections::BTreeSet;

const CONTRACT: Address = Address::repeat_byte(0xc0);
const CALLEE: Address = Address::repeat_byte(0xca);
const SENDER: Address = Address::repeat_byte(0x5e);

/// The prediction for one call of `code` (at [`CONTRACT`], with [`CALLEE`] holding
/// `callee`) with `data`.
fn predict(code: &[u8], callee: &[u8], data: Vec<u8>) -> Prediction {
    let mut state = InMemoryState::new();
    state.insert_account(
        SENDER,
        U256::from(10u128.pow(20)),
        0,
        Bytecode::default(),
        [],
    );
    for (a, c) in [(CONTRACT, code), (CALLEE, callee)] {
        let bytes = Bytes::copy_from_slice(c);
        state.insert_account(a, U256::ZERO, 1, Bytecode::new_raw(bytes), []);
    }
    let env = TxEnv {
        caller: SENDER,
        gas_limit: 1_000_000,
        gas_price: 1,
        kind: TxKind::Call(CONTRACT),
        data: data.into(),
        chain_id: Some(1),
        ..Default::default()
    };
    let tx = Transaction {
        hash: B256::ZERO,
        tx_type: 0,
        env,
    };
    let header = Header {
        number: 1,
        gas_limit: 30_000_000,
        ..Default::default()
    };
    let block = Block::synthetic(header, Fork::Berlin, vec![tx]);
    Static::DEFAULT
        .analyze(&block, &state, 0)
        .expect("analyses")
}

/// The slots of `account` in `locs`.
fn slots(locs: &BTreeSet<Loc>, account: Address) -> BTreeSet<U256> {
    locs.iter()
        .filter_map(|l| match l {
            Loc::Slot(a, k) if *a == account => Some(*k),
            _ => None,
        })
        .collect()
}

fn set(slots: &[U256]) -> BTreeSet<U256> {
    slots.iter().copied().collect()
}

fn n(x: u64) -> U256 {
    U256::from(x)
}

fn word(a: Address) -> [u8; 32] {
    B256::left_padding_from(a.as_slice()).0
}

/// keccak256(key ++ base): a mapping's slot.
fn mapping(key: [u8; 32], base: U256) -> U256 {
    let mut b = key.to_vec();
    b.extend_from_slice(&base.to_be_bytes::<32>());
    U256::from_be_bytes(keccak256(b).0)
}

// Opcodes used below.
const STOP: u8 = 0x00;
const ADD: u8 = 0x01;
const LT: u8 = 0x10;
const ISZERO: u8 = 0x15;
const SHA3: u8 = 0x20;
const CALLER: u8 = 0x33;
const CALLDATALOAD: u8 = 0x35;
const POP: u8 = 0x50;
const MSTORE: u8 = 0x52;
const SLOAD: u8 = 0x54;
const SSTORE: u8 = 0x55;
const JUMP: u8 = 0x56;
const JUMPI: u8 = 0x57;
const GAS: u8 = 0x5a;
const JUMPDEST: u8 = 0x5b;
const PUSH1: u8 = 0x60;
const PUSH20: u8 = 0x73;
const DUP1: u8 = 0x80;
const SWAP1: u8 = 0x90;
const CALL: u8 = 0xf1;

/// `sstore(slot, 1)` for a constant slot.
fn store_one(slot: u8) -> Vec<u8> {
    vec![PUSH1, 1, PUSH1, slot, SSTORE]
}

/// `mstore(0, <top of stack>); mstore(0x20, base); keccak(0, 0x40)`: a mapping's slot.
fn hash_with(base: u8) -> Vec<u8> {
    vec![
        PUSH1, 0, MSTORE, PUSH1, base, PUSH1, 0x20, MSTORE, PUSH1, 0x40, PUSH1, 0, SHA3,
    ]
}

/// `call(gas, <top of stack>, 0, 0, 0, 0, 0)`.
fn call_top() -> Vec<u8> {
    let mut c = vec![PUSH1, 0, PUSH1, 0, PUSH1, 0, PUSH1, 0, PUSH1, 0];
    // (The target is below the five zeros: bring it up.)
    c.extend([0x85, GAS, CALL, POP, POP]);
    c
}

#[test]
fn constant_slot() {
    // sstore(5, sload(5) + 1)
    let code = [PUSH1, 5, SLOAD, PUSH1, 1, ADD, PUSH1, 5, SSTORE, STOP];
    let p = predict(&code, &[STOP], vec![]);
    assert_eq!(slots(&p.reads, CONTRACT), set(&[n(5)]));
    assert_eq!(slots(&p.writes, CONTRACT), set(&[n(5)]));
    assert!(!p.partial);
}

#[test]
fn mapping_keyed_by_caller() {
    // sload(keccak(caller ++ 0))
    let mut code = vec![CALLER];
    code.extend(hash_with(0));
    code.extend([SLOAD, POP, STOP]);
    let p = predict(&code, &[STOP], vec![]);
    assert_eq!(
        slots(&p.reads, CONTRACT),
        set(&[mapping(word(SENDER), n(0))])
    );
    assert!(slots(&p.writes, CONTRACT).is_empty());
    assert!(!p.partial);
}

#[test]
fn mapping_keyed_by_calldata() {
    // s = keccak(calldata[0..32] ++ 1); sstore(s, sload(s) + 1)
    let mut code = vec![PUSH1, 0, CALLDATALOAD];
    code.extend(hash_with(1));
    code.extend([DUP1, SLOAD, PUSH1, 1, ADD, SWAP1, SSTORE, STOP]);
    let key = word(Address::repeat_byte(0x42));
    let p = predict(&code, &[STOP], key.to_vec());
    let s = mapping(key, n(1));
    assert_eq!(slots(&p.reads, CONTRACT), set(&[s]));
    assert_eq!(slots(&p.writes, CONTRACT), set(&[s]));
    assert!(!p.partial);
}

#[test]
fn nested_mapping() {
    // allowance[caller][calldata[0..32]] at base 2: keccak(spender ++ keccak(caller ++ 2))
    let mut code = vec![CALLER];
    code.extend(hash_with(2));
    // mstore(0x20, inner); mstore(0, spender); keccak(0, 0x40)
    code.extend([
        PUSH1,
        0x20,
        MSTORE,
        PUSH1,
        0,
        CALLDATALOAD,
        PUSH1,
        0,
        MSTORE,
    ]);
    code.extend([PUSH1, 0x40, PUSH1, 0, SHA3, SLOAD, POP, STOP]);
    let spender = word(Address::repeat_byte(0x77));
    let p = predict(&code, &[STOP], spender.to_vec());
    let inner = mapping(word(SENDER), n(2));
    assert_eq!(slots(&p.reads, CONTRACT), set(&[mapping(spender, inner)]));
    assert!(!p.partial);
}

#[test]
fn call_to_a_constant_address() {
    let mut code = vec![PUSH20];
    code.extend(CALLEE.as_slice());
    code.extend(call_top());
    code.push(STOP);
    let mut callee = store_one(7);
    callee.push(STOP);
    let p = predict(&code, &callee, vec![]);
    assert!(p.reads.contains(&Loc::Account(CALLEE)));
    assert_eq!(slots(&p.writes, CALLEE), set(&[n(7)]));
    assert!(!p.partial);
}

#[test]
fn call_to_an_address_from_calldata() {
    let mut code = vec![PUSH1, 0, CALLDATALOAD];
    code.extend(call_top());
    code.push(STOP);
    let mut callee = store_one(9);
    callee.push(STOP);
    let p = predict(&code, &callee, word(CALLEE).to_vec());
    assert_eq!(slots(&p.writes, CALLEE), set(&[n(9)]));
    assert!(!p.partial);
}

#[test]
fn a_loop_with_a_known_bound() {
    // for (i = 0; i < 3; i++) sstore(i, 1)
    let code = [
        PUSH1, 0,        // i
        JUMPDEST, // 2: loop
        DUP1, PUSH1, 3, SWAP1, LT, ISZERO, PUSH1, 22, JUMPI, // i < 3 else exit
        PUSH1, 1, 0x81, SSTORE, // sstore(i, 1)
        PUSH1, 1, ADD, PUSH1, 2, JUMP, // i++, loop
        JUMPDEST, STOP, // 22: exit
    ];
    assert_eq!(code[22], JUMPDEST);
    let p = predict(&code, &[STOP], vec![]);
    assert_eq!(slots(&p.writes, CONTRACT), set(&[n(0), n(1), n(2)]));
    assert!(!p.partial);
}

#[test]
fn a_branch_on_storage_predicts_both_sides() {
    // if (sload(0)) sstore(2, 1) else sstore(1, 1)
    let mut code = vec![PUSH1, 0, SLOAD, PUSH1, 12, JUMPI];
    code.extend(store_one(1));
    code.push(STOP);
    assert_eq!(code.len(), 12);
    code.push(JUMPDEST);
    code.extend(store_one(2));
    code.push(STOP);
    let p = predict(&code, &[STOP], vec![]);
    assert_eq!(slots(&p.reads, CONTRACT), set(&[n(0), n(1), n(2)]));
    assert_eq!(slots(&p.writes, CONTRACT), set(&[n(1), n(2)]));
    assert!(!p.partial);
}

#[test]
fn an_unknown_jump_target_is_partial() {
    // jump(sload(0)), then what would follow is never seen
    let mut code = vec![PUSH1, 0, SLOAD, JUMP, JUMPDEST];
    code.extend(store_one(3));
    code.push(STOP);
    let p = predict(&code, &[STOP], vec![]);
    assert_eq!(slots(&p.reads, CONTRACT), set(&[n(0)]));
    assert!(p.partial);
}

#[test]
fn a_loop_on_an_unknown_bound_is_partial() {
    // for (i = 0; i < sload(0); i++) sstore(i + 1, 1): followed for some rounds only
    let mut code = vec![
        PUSH1, 0,        // i
        JUMPDEST, // 2: loop
        PUSH1, 0, SLOAD, 0x81, LT, ISZERO, PUSH1, 25, JUMPI, // i < sload(0) else exit
        PUSH1, 1, 0x81, PUSH1, 1, ADD, SSTORE, // sstore(i + 1, 1)
        PUSH1, 1, ADD, PUSH1, 2, JUMP, // i++, loop
    ];
    code.extend([JUMPDEST, STOP]);
    assert_eq!(code[25], JUMPDEST);
    let p = predict(&code, &[STOP], vec![]);
    assert!(p.partial);
    assert!(slots(&p.writes, CONTRACT).contains(&n(1)));
}
