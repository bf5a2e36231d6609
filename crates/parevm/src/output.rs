//! What executing a block produces, and the checks against the block header.
//!
//! [`BlockOutput`] implements `Eq` over everything a block's execution determines (receipts,
//! gas, logs, state changes, roots) and deliberately not over [`ExecStats`], which describe
//! how a strategy got there. Equality with the sequential output *is* the correctness test
//! of every parallel strategy.

use crate::{block::Block, chain::Fork, state::StateChanges};
use alloy_consensus::{Eip658Value, ReceiptEnvelope, ReceiptWithBloom, TxType};
use alloy_primitives::{Address, B256, Bloom, Bytes, Log, U256, logs_bloom};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The receipt of one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    /// EIP-2718 type of the transaction.
    pub tx_type: u8,
    /// True when execution succeeded (status 1).
    pub success: bool,
    /// Gas used by the block up to and including this transaction.
    pub cumulative_gas_used: u64,
    /// Logs emitted.
    pub logs: Vec<Log>,
}

impl Receipt {
    /// The consensus encoding used by the receipts trie (post-Byzantium status receipts).
    pub fn to_envelope(&self) -> ReceiptEnvelope {
        let receipt = alloy_consensus::Receipt {
            status: Eip658Value::Eip658(self.success),
            cumulative_gas_used: self.cumulative_gas_used,
            logs: self.logs.clone(),
        };
        let with_bloom = ReceiptWithBloom::new(receipt, logs_bloom(self.logs.iter()));
        let ty = TxType::try_from(self.tx_type).unwrap_or(TxType::Legacy);
        ReceiptEnvelope::from_typed(ty, with_bloom)
    }
}

/// The result of one transaction.
#[derive(Debug, Clone, Default)]
pub struct TxOutput {
    /// The receipt.
    pub receipt: Receipt,
    /// Gas used by this transaction alone.
    pub gas_used: u64,
    /// Blob gas used by this transaction.
    pub blob_gas_used: u64,
    /// State written by this transaction (including the fee paid to the beneficiary).
    pub changes: StateChanges,
    /// What it accessed, when the block asks for it ([`Block::record_access`]).
    pub access: Option<Access>,
}

/// How a strategy executed a block. Not part of the output's equality.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ExecStats {
    /// Strategy name.
    pub strategy: String,
    /// Worker threads used.
    pub threads: usize,
    /// Transaction executions, first runs and re-runs together.
    pub executions: u64,
    /// Executions beyond the first of each transaction.
    pub re_executions: u64,
    /// Blocks (or their rests) run on the sequential strategy by a parallel one's size rules.
    pub fallbacks: u64,
    /// Transactions run sequentially at the start of a block before its parallel part began
    /// (the measured start; a block run sequentially in full counts as a fallback).
    pub sequential_start: u64,
    /// Wall time of the transaction phase, microseconds.
    pub tx_phase_us: u64,
    /// The strategy's own counters, by name (Block-STM: `validations`, `aborts`,
    /// `suspensions`; monad: `relaxed_merges`), beside the common ones in the JSON.
    #[serde(flatten)]
    pub counters: std::collections::BTreeMap<String, u64>,
}

impl ExecStats {
    /// The strategy's counter `name` (0 when it has none).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    /// Adds `by` to the strategy's counter `name`.
    pub fn count(&mut self, name: &str, by: u64) {
        *self.counters.entry(name.to_string()).or_default() += by;
    }
}

/// What one step of a block (a transaction, or the block-level operations before or after
/// them) accessed: every account it loaded, with the storage slots it loaded, read or written.
/// Recorded only when [`Block::record_access`] is set: block-level access lists are built from
/// it (writes come from the state changes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access(pub BTreeMap<Address, BTreeSet<U256>>);

impl Access {
    /// Everything revm loaded into `state`, but the accounts `skip` rejects.
    pub fn of(state: &revm::state::EvmState, skip: impl Fn(&Address) -> bool) -> Access {
        let mut access = Access::default();
        access.add(state, skip);
        access
    }

    /// Adds everything revm loaded into `state`, but the accounts `skip` rejects.
    pub fn add(&mut self, state: &revm::state::EvmState, skip: impl Fn(&Address) -> bool) {
        for (address, account) in state.iter().filter(|(a, _)| !skip(a)) {
            self.0
                .entry(*address)
                .or_default()
                .extend(account.storage.keys().copied());
        }
    }

    /// Adds an account (loaded, none of its slots).
    pub fn add_account(&mut self, address: Address) {
        self.0.entry(address).or_default();
    }
}

/// Equality over what the transaction determines; not over [`TxOutput::access`], which says
/// what one execution loaded (a strategy that defers the beneficiary's fee never loads it).
impl PartialEq for TxOutput {
    fn eq(&self, other: &Self) -> bool {
        self.receipt == other.receipt
            && self.gas_used == other.gas_used
            && self.blob_gas_used == other.blob_gas_used
            && self.changes == other.changes
    }
}
impl Eq for TxOutput {}

impl TxOutput {
    /// Records what the transaction accessed in `state` when `record` is set.
    pub fn with_access(mut self, record: bool, state: &revm::state::EvmState) -> Self {
        if record {
            self.access = Some(Access::of(state, |_| false));
        }
        self
    }
}

/// The complete result of executing a block.
#[derive(Debug, Clone)]
pub struct BlockOutput {
    /// The fork the block executed under.
    pub fork: Fork,
    /// State written by pre-block system calls (EIP-4788, EIP-2935).
    pub pre_block: StateChanges,
    /// Per-transaction results, in block order.
    pub txs: Vec<TxOutput>,
    /// State written after the transactions: rewards, withdrawals, request system calls.
    pub post_block: StateChanges,
    /// Total gas used.
    pub gas_used: u64,
    /// Total blob gas used.
    pub blob_gas_used: u64,
    /// Outputs of the EIP-7002 / EIP-7251 request system calls (Prague on).
    pub requests: Vec<Bytes>,
    /// Execution statistics.
    pub stats: ExecStats,
    /// What the pre-block and post-block operations accessed, when the block asks for it
    /// ([`Block::record_access`]).
    pub block_access: Option<(Access, Access)>,
}

impl PartialEq for BlockOutput {
    fn eq(&self, other: &Self) -> bool {
        self.pre_block == other.pre_block
            && self.txs == other.txs
            && self.post_block == other.post_block
            && self.gas_used == other.gas_used
            && self.blob_gas_used == other.blob_gas_used
            && self.requests == other.requests
    }
}
impl Eq for BlockOutput {}

impl BlockOutput {
    /// Assembles the block totals from per-transaction outputs.
    pub fn assemble(
        block: &Block,
        pre_block: StateChanges,
        txs: Vec<TxOutput>,
        post_block: StateChanges,
        requests: Vec<Bytes>,
        stats: ExecStats,
        block_access: Option<(Access, Access)>,
    ) -> Self {
        let gas_used = txs.last().map_or(0, |t| t.receipt.cumulative_gas_used);
        let blob_gas_used = txs.iter().map(|t| t.blob_gas_used).sum();
        BlockOutput {
            fork: block.fork,
            pre_block,
            txs,
            post_block,
            gas_used,
            blob_gas_used,
            requests,
            stats,
            block_access,
        }
    }

    /// Bloom of all logs of the block.
    pub fn logs_bloom(&self) -> Bloom {
        logs_bloom(self.txs.iter().flat_map(|t| t.receipt.logs.iter()))
    }

    /// The receipts root, or `None` before Byzantium, where receipts embed intermediate state
    /// roots. Computed on demand: it is a pure function of the receipts (which equality
    /// compares), and hashing the receipts trie costs as much as a quarter of executing a
    /// block, which a caller that does not need it should not pay.
    pub fn receipts_root(&self) -> Option<B256> {
        self.fork.at_least(Fork::Byzantium).then(|| {
            let envelopes: Vec<ReceiptEnvelope> =
                self.txs.iter().map(|t| t.receipt.to_envelope()).collect();
            alloy_consensus::proofs::calculate_receipt_root(&envelopes)
        })
    }

    /// All state changes of the block, in the order they apply.
    pub fn all_changes(&self) -> impl Iterator<Item = &StateChanges> {
        std::iter::once(&self.pre_block)
            .chain(self.txs.iter().map(|t| &t.changes))
            .chain(std::iter::once(&self.post_block))
    }

    /// Compares against the header: gas used, logs bloom and (from Byzantium) receipts root.
    /// Returns one message per mismatch; receipts that cannot be checked are listed in
    /// [`HeaderCheck::unchecked`].
    pub fn check_header(&self, block: &Block) -> HeaderCheck {
        let h = &block.header;
        let mut check = HeaderCheck::default();
        if self.gas_used != h.gas_used {
            check.mismatches.push(format!(
                "gasUsed: computed {}, header {}",
                self.gas_used, h.gas_used
            ));
        }
        if self.logs_bloom() != h.logs_bloom {
            check
                .mismatches
                .push("logsBloom differs from header".to_string());
        }
        match self.receipts_root() {
            Some(root) if root != h.receipts_root => check
                .mismatches
                .push(format!("receiptsRoot: computed {root}, header {}", h.receipts_root)),
            Some(_) => {}
            None => check.unchecked.push(
                "receiptsRoot (pre-Byzantium receipts embed intermediate state roots: not checkable with a partial pre-state)"
                    .to_string(),
            ),
        }
        if let (Some(expected), true) = (h.blob_gas_used, block.blob_params.is_some())
            && expected != self.blob_gas_used
        {
            check.mismatches.push(format!(
                "blobGasUsed: computed {}, header {expected}",
                self.blob_gas_used
            ));
        }
        check
    }

    /// The first difference from `other`, described for a human, or `None` if equal.
    pub fn first_difference(&self, other: &BlockOutput) -> Option<String> {
        if self.txs.len() != other.txs.len() {
            return Some(format!(
                "{} vs {} transaction outputs",
                self.txs.len(),
                other.txs.len()
            ));
        }
        if self.pre_block != other.pre_block {
            return Some(describe_changes_diff(
                "pre-block",
                &self.pre_block,
                &other.pre_block,
            ));
        }
        for (i, (a, b)) in self.txs.iter().zip(&other.txs).enumerate() {
            if a.receipt != b.receipt || a.gas_used != b.gas_used {
                return Some(format!(
                    "tx {i}: receipt differs (status {} vs {}, cumulative gas {} vs {}, {} vs {} logs)",
                    a.receipt.success,
                    b.receipt.success,
                    a.receipt.cumulative_gas_used,
                    b.receipt.cumulative_gas_used,
                    a.receipt.logs.len(),
                    b.receipt.logs.len()
                ));
            }
            if a.changes != b.changes {
                return Some(describe_changes_diff(
                    &format!("tx {i}"),
                    &a.changes,
                    &b.changes,
                ));
            }
        }
        if self.post_block != other.post_block {
            return Some(describe_changes_diff(
                "post-block",
                &self.post_block,
                &other.post_block,
            ));
        }
        (self != other).then(|| "block totals differ".to_string())
    }
}

fn describe_changes_diff(what: &str, a: &StateChanges, b: &StateChanges) -> String {
    for (addr, ca) in a {
        match b.get(addr) {
            None => return format!("{what}: {addr} changed only in the first output"),
            Some(cb) if cb != ca => {
                return format!("{what}: {addr} differs: {:?} vs {:?}", ca, cb);
            }
            _ => {}
        }
    }
    for addr in b.keys() {
        if !a.contains_key(addr) {
            return format!("{what}: {addr} changed only in the second output");
        }
    }
    format!("{what}: changes differ")
}

/// Result of comparing a block's output with its header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderCheck {
    /// Fields that differ.
    pub mismatches: Vec<String>,
    /// Fields that could not be checked, and why.
    pub unchecked: Vec<String>,
}

impl HeaderCheck {
    /// True when nothing differs.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}
