//! The block model every source produces and every strategy consumes.
//!
//! A [`Block`] is independent of where it came from (RPC JSON, a state test, a blockchain
//! test, a workload generator): a consensus header, the fork it executes under, and the
//! transactions already converted to revm's [`TxEnv`] with their senders.

use crate::chain::{BlobParams, ChainSpec, Fork};
use alloy_consensus::Header;
use alloy_eips::eip4895::Withdrawal;
use alloy_primitives::{Address, B256, U256};
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use serde::{Deserialize, Serialize};

/// An uncle (ommer) block whose miner is rewarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ommer {
    /// The uncle's block number.
    pub number: u64,
    /// The uncle's miner.
    pub beneficiary: Address,
}

/// A transaction ready for execution.
#[derive(Debug, Clone)]
pub struct Transaction {
    /// The transaction hash.
    pub hash: B256,
    /// EIP-2718 type (0 legacy, 1 access list, 2 dynamic fee, 3 blob, 4 set code).
    pub tx_type: u8,
    /// The revm transaction environment (sender included).
    pub env: TxEnv,
}

/// A block ready for execution.
#[derive(Debug, Clone)]
pub struct Block {
    /// The header. Execution reads number, timestamp, beneficiary, gas limit, base fee,
    /// difficulty / prevrandao (`mix_hash`), excess blob gas and parent hash / beacon root;
    /// checks compare gas used, logs bloom, receipts root and state root against it.
    pub header: Header,
    /// The block hash (of the header, or as the source gave it).
    pub hash: B256,
    /// The fork whose rules apply.
    pub fork: Fork,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Blob gas parameters in force (Cancun on).
    pub blob_params: Option<BlobParams>,
    /// Transactions in block order.
    pub transactions: Vec<Transaction>,
    /// Withdrawals (Shanghai on), amounts in Gwei.
    pub withdrawals: Vec<Withdrawal>,
    /// Uncles with known headers.
    pub ommers: Vec<Ommer>,
    /// Uncles whose headers the source did not carry (RPC JSON has only their hashes): the
    /// miner's nephew reward counts them, their own miners' rewards cannot be applied.
    pub unknown_ommers: usize,
    /// Whether the block-level operations outside transactions run: system calls, rewards and
    /// withdrawals. False for state tests, which exercise one transaction alone.
    pub system_operations: bool,
    /// Whether execution records what each step accessed ([`crate::output::Access`]), as
    /// building a block-level access list needs. Off by default: it costs time.
    pub record_access: bool,
    /// The block's EIP-7928 access list, when it comes with one: execution is then checked
    /// against it (and the `bal` strategy executes from it). Set with
    /// [`Block::set_access_list`].
    pub access_list: Option<std::sync::Arc<crate::bal::Given>>,
}

impl Block {
    /// Attaches the block's access list: execution records what it accesses and is checked
    /// against the list.
    /// The list is indexed now, once, as a validator decodes it on receipt.
    pub fn set_access_list(&mut self, list: crate::bal::BlockAccessList) {
        let given = crate::bal::Given::new(list, self.transactions.len());
        self.access_list = Some(std::sync::Arc::new(given));
        self.record_access = true;
    }

    /// A block built by parevm itself (examples, workloads, tests) on mainnet's chain id: its
    /// hash is the header's, blob parameters are the fork's defaults, and the block-level
    /// operations run (there are no withdrawals or ommers).
    pub fn synthetic(header: Header, fork: Fork, transactions: Vec<Transaction>) -> Block {
        Block {
            hash: header.hash_slow(),
            header,
            fork,
            chain_id: 1,
            blob_params: fork.blob_params(),
            transactions,
            withdrawals: Vec::new(),
            ommers: Vec::new(),
            unknown_ommers: 0,
            system_operations: true,
            record_access: false,
            access_list: None,
        }
    }

    /// Fork and blob parameters of `header` on `chain`.
    pub fn fork_of(chain: &ChainSpec, header: &Header) -> (Fork, Option<BlobParams>) {
        let fork = chain.fork_at(header.number, header.timestamp);
        (fork, chain.blob_params_at(fork, header.timestamp))
    }

    /// The block number.
    pub fn number(&self) -> u64 {
        self.header.number
    }

    /// The revm block environment.
    pub fn block_env(&self) -> BlockEnv {
        let h = &self.header;
        let mut env = BlockEnv {
            number: U256::from(h.number),
            beneficiary: h.beneficiary,
            timestamp: U256::from(h.timestamp),
            gas_limit: h.gas_limit,
            basefee: h.base_fee_per_gas.unwrap_or_default(),
            difficulty: h.difficulty,
            prevrandao: self.fork.at_least(Fork::Paris).then_some(h.mix_hash),
            blob_excess_gas_and_price: None,
            slot_num: 0,
        };
        if let Some(params) = self.blob_params {
            env.set_blob_excess_gas_and_price(
                h.excess_blob_gas.unwrap_or_default(),
                params.update_fraction,
            );
        }
        env
    }

    /// The revm configuration for this block's fork and chain.
    pub fn cfg_env(&self) -> CfgEnv {
        let mut cfg = CfgEnv::new_with_spec(self.fork.spec_id()).with_chain_id(self.chain_id);
        if let Some(params) = self.blob_params {
            cfg.blob_base_fee_update_fraction = Some(params.update_fraction);
            // EIP-7594 (Osaka) caps blobs per transaction at 6 whatever the block allows.
            let per_tx = if self.fork.at_least(Fork::Osaka) {
                params.max_blobs_per_block.min(6)
            } else {
                params.max_blobs_per_block
            };
            cfg.set_max_blobs_per_tx(per_tx);
        }
        cfg
    }

    /// Total gas of the block's transactions' limits (an upper bound of gas used).
    pub fn total_gas_limit(&self) -> u64 {
        self.transactions.iter().map(|t| t.env.gas_limit).sum()
    }
}
