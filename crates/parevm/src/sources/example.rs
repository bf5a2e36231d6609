//! A small built-in block, so that parevm runs without any input files (README, doc tests).
//!
//! The header's expected values are derived from the block's construction, not from running
//! it: every transaction is a 21,000-gas value transfer between externally owned accounts,
//! so gas used is `21_000 * n`, there are no logs, and the receipts are known in advance.

use crate::{
    block::{Block, Transaction},
    chain::Fork,
    output::Receipt,
    state::{Bytecode, InMemoryState},
};
use alloy_consensus::{Header, ReceiptEnvelope};
use alloy_primitives::{Address, B256, Bloom, U256, keccak256};
use revm::{context::TxEnv, primitives::TxKind};

/// Deterministic address number `i` in a namespace `tag`.
pub fn address(tag: u8, i: u64) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = tag;
    bytes[12..].copy_from_slice(&i.to_be_bytes());
    Address::from(bytes)
}

/// A Cancun block of `n` independent ETH transfers, each from its own funded sender to its
/// own fresh recipient, and the pre-state it runs on.
pub fn transfer_block(n: usize) -> (Block, InMemoryState) {
    let mut state = InMemoryState::new();
    let base_fee = 7u64;
    let mut transactions = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let sender = address(0xaa, i);
        state.insert_account(
            sender,
            U256::from(10u128.pow(18)),
            0,
            Bytecode::default(),
            [],
        );
        let env = TxEnv {
            tx_type: 2,
            caller: sender,
            gas_limit: 21_000,
            gas_price: 1_000_000_000,
            gas_priority_fee: Some(1_000_000),
            kind: TxKind::Call(address(0xbb, i)),
            value: U256::from(1_000 + i),
            nonce: 0,
            chain_id: Some(1),
            ..Default::default()
        };
        let hash = keccak256([sender.as_slice(), &0u64.to_be_bytes()].concat());
        transactions.push(Transaction {
            hash,
            tx_type: 2,
            env,
        });
    }
    let receipts: Vec<ReceiptEnvelope> = (0..n as u64)
        .map(|i| {
            Receipt {
                tx_type: 2,
                success: true,
                cumulative_gas_used: 21_000 * (i + 1),
                logs: vec![],
            }
            .to_envelope()
        })
        .collect();
    let header = Header {
        number: 20_000_000,
        timestamp: crate::chain::MAINNET_CANCUN_TIME + 12,
        beneficiary: address(0xcc, 0),
        gas_limit: 30_000_000,
        gas_used: 21_000 * n as u64,
        base_fee_per_gas: Some(base_fee),
        logs_bloom: Bloom::ZERO,
        receipts_root: alloy_consensus::proofs::calculate_receipt_root(&receipts),
        excess_blob_gas: Some(0),
        blob_gas_used: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        ..Default::default()
    };
    let block = Block::synthetic(header, Fork::Cancun, transactions);
    (block, state)
}
