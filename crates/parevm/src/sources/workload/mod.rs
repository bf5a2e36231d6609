//! Deterministic (seeded) synthetic workloads: ordinary parevm blocks plus pre-state, built to
//! compare strategies on the shapes peers publish (gigagas blocks of raw transfers, ERC-20
//! transfers and AMM swaps), with a hot-account knob and a fully dependent worst case.
//!
//! Independence is by construction: each transaction has its own sender (as long as there are
//! enough accounts), its own recipient and, for swaps, its own pool. The hot ratio sends that
//! fraction of transactions to a few hot recipients (transfers), one hot recipient's token
//! balance (ERC-20) or one hot pool (swaps). The chain workload sends every transaction from
//! one account, so each depends on the previous one through the sender's nonce and balance.

pub mod contracts;

use crate::{
    block::{Block, Transaction},
    chain::{Fork, MAINNET_CANCUN_TIME},
    sources::example::address,
    state::{Bytecode, InMemoryState},
};
use alloy_consensus::Header;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use revm::{context::TxEnv, primitives::TxKind};
use serde::{Deserialize, Serialize};

/// The shape of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// Plain ETH transfers between externally owned accounts.
    Transfers,
    /// ERC-20 `transfer` calls on one token.
    Erc20,
    /// Swaps through a router on constant-product pairs.
    Swaps,
    /// ETH transfers all from one sender: a nonce chain.
    TransferChain,
    /// Calls that each replace one slot with the hash of its old value and the calldata:
    /// every transaction depends on the previous one.
    StorageChain,
    /// Distinct senders all incrementing one counter of one contract.
    HotContract,
    /// 60% transfers, 20% ERC-20 transfers, 20% swaps, interleaved.
    Mixed,
}

impl WorkloadKind {
    /// Every kind.
    pub const ALL: [WorkloadKind; 7] = [
        WorkloadKind::Transfers,
        WorkloadKind::Erc20,
        WorkloadKind::Swaps,
        WorkloadKind::TransferChain,
        WorkloadKind::StorageChain,
        WorkloadKind::HotContract,
        WorkloadKind::Mixed,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Transfers => "transfers",
            WorkloadKind::Erc20 => "erc20",
            WorkloadKind::Swaps => "swaps",
            WorkloadKind::TransferChain => "transfer-chain",
            WorkloadKind::StorageChain => "storage-chain",
            WorkloadKind::HotContract => "hot-contract",
            WorkloadKind::Mixed => "mixed",
        }
    }

    /// Parses a command-line name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Approximate gas used per transaction (for sizing blocks by gas target).
    fn gas_estimate(self) -> u64 {
        match self {
            WorkloadKind::Transfers | WorkloadKind::TransferChain => 21_000,
            WorkloadKind::StorageChain => 29_000,
            WorkloadKind::HotContract => 26_000,
            WorkloadKind::Erc20 => 35_000,
            WorkloadKind::Swaps => 110_000,
            WorkloadKind::Mixed => 21_000 * 6 / 10 + 35_000 * 2 / 10 + 110_000 * 2 / 10,
        }
    }
}

/// Parameters of a generated block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSpec {
    /// The shape.
    pub kind: WorkloadKind,
    /// Gas the block should use (approximately): 30M for a mainnet-sized block, 1G for gigagas.
    pub gas_target: u64,
    /// Externally owned accounts in the pre-state.
    pub accounts: usize,
    /// Fraction (0..=1) of transactions that touch the hot accounts / pool.
    pub hot_ratio: f64,
    /// RNG seed.
    pub seed: u64,
}

impl WorkloadSpec {
    /// A spec with the defaults: 100k accounts, no hot accounts, seed 1.
    pub fn new(kind: WorkloadKind, gas_target: u64) -> Self {
        WorkloadSpec {
            kind,
            gas_target,
            accounts: 100_000,
            hot_ratio: 0.0,
            seed: 1,
        }
    }

    /// Number of transactions the block will hold.
    pub fn tx_count(&self) -> usize {
        (self.gas_target / self.kind.gas_estimate()).max(1) as usize
    }

    /// A short label: `erc20 30M hot=0.5`.
    pub fn label(&self) -> String {
        let gas = if self.gas_target >= 1_000_000_000 {
            format!("{}G", self.gas_target / 1_000_000_000)
        } else {
            format!("{}M", self.gas_target / 1_000_000)
        };
        let hot = if self.hot_ratio > 0.0 {
            format!(" hot={}", self.hot_ratio)
        } else {
            String::new()
        };
        format!("{} {gas}{hot}", self.kind.name())
    }
}

/// SplitMix64: a tiny deterministic generator, so workloads are identical across versions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }
}

/// Number of hot recipient accounts of the transfer workloads.
pub const HOT_ACCOUNTS: usize = 4;

const ETH: u128 = 1_000_000_000_000_000_000;
const TOKEN_UNIT: u128 = 1_000_000_000_000_000_000;
const GAS_PRICE: u128 = 2_000_000_000;
const BASE_FEE: u64 = 1_000_000_000;

/// Address of externally owned account `i`.
pub fn eoa(i: usize) -> Address {
    address(0xaa, i as u64)
}
/// Address of the hot recipient `i`.
pub fn hot_account(i: usize) -> Address {
    address(0xab, i as u64)
}
/// The ERC-20 token of the `erc20` workload.
pub fn erc20_token() -> Address {
    address(0xc0, u32::MAX as u64)
}
/// Token `i` of the swap pools (pool `p` trades tokens `2p` and `2p + 1`).
pub fn pool_token(i: usize) -> Address {
    address(0xc0, i as u64)
}
/// Pair contract of pool `p`.
pub fn pair(p: usize) -> Address {
    address(0xc1, p as u64)
}
/// The router.
pub fn router() -> Address {
    address(0xc2, 0)
}
/// The `storage-chain` contract.
pub fn storage_chain() -> Address {
    address(0xc3, 0)
}
/// The `hot-contract` counter.
pub fn hot_counter() -> Address {
    address(0xc4, 0)
}

struct Builder {
    state: InMemoryState,
    txs: Vec<Transaction>,
    nonces: Vec<u64>,
    token_balances: alloy_primitives::map::AddressHashMap<Vec<(U256, U256)>>,
}

impl Builder {
    fn push(&mut self, sender: usize, to: Address, value: U256, data: Bytes, gas_limit: u64) {
        let nonce = self.nonces[sender];
        self.nonces[sender] += 1;
        let caller = eoa(sender);
        let env = TxEnv {
            tx_type: 2,
            caller,
            gas_limit,
            gas_price: GAS_PRICE,
            gas_priority_fee: Some(GAS_PRICE - BASE_FEE as u128),
            kind: TxKind::Call(to),
            value,
            data,
            nonce,
            chain_id: Some(1),
            ..Default::default()
        };
        let hash = keccak256([caller.as_slice(), &nonce.to_be_bytes()].concat());
        self.txs.push(Transaction {
            hash,
            tx_type: 2,
            env,
        });
    }

    fn storage(&mut self, contract: Address) -> &mut Vec<(U256, U256)> {
        self.token_balances.entry(contract).or_default()
    }
}

/// Generates the block and pre-state of `spec`.
pub fn generate(spec: &WorkloadSpec) -> (Block, InMemoryState) {
    use contracts::*;
    let n = spec.tx_count();
    let accounts = spec.accounts.max(2);
    let mut rng = Rng(spec.seed);
    let mut b = Builder {
        state: InMemoryState::new(),
        txs: Vec::with_capacity(n),
        nonces: vec![0; accounts],
        token_balances: Default::default(),
    };
    for i in 0..accounts {
        b.state
            .insert_account(eoa(i), U256::from(1_000 * ETH), 0, Bytecode::default(), []);
    }
    for i in 0..HOT_ACCOUNTS {
        b.state
            .insert_account(hot_account(i), U256::from(ETH), 0, Bytecode::default(), []);
    }
    // Senders are the first `n` accounts (wrapping when there are fewer): distinct senders
    // make transactions independent. Recipients come from the accounts after them.
    let sender_of = |i: usize| i % accounts;
    let recipient_of = |i: usize| eoa((n + i) % accounts);
    let pools = n.max(1);
    let kinds: Vec<WorkloadKind> = (0..n)
        .map(|i| match spec.kind {
            WorkloadKind::Mixed => match i % 10 {
                0..=5 => WorkloadKind::Transfers,
                6 | 7 => WorkloadKind::Erc20,
                _ => WorkloadKind::Swaps,
            },
            k => k,
        })
        .collect();
    let uses = |k: WorkloadKind| kinds.contains(&k);
    if uses(WorkloadKind::Erc20) {
        b.state.insert_account(
            erc20_token(),
            U256::ZERO,
            1,
            Bytecode::new_raw(code(TOKEN_HEX)),
            [],
        );
    }
    for (kind, contract, hex) in [
        (
            WorkloadKind::StorageChain,
            storage_chain(),
            STORAGE_CHAIN_HEX,
        ),
        (WorkloadKind::HotContract, hot_counter(), HOT_COUNTER_HEX),
    ] {
        if uses(kind) {
            // (A non-zero slot 0: every call updates a slot, as on mainnet.)
            let slot = [(U256::ZERO, U256::from(1))];
            b.state
                .insert_account(contract, U256::ZERO, 1, Bytecode::new_raw(code(hex)), slot);
        }
    }
    if uses(WorkloadKind::Swaps) {
        b.state.insert_account(
            router(),
            U256::ZERO,
            1,
            Bytecode::new_raw(code(ROUTER_HEX)),
            [],
        );
    }
    let reserve = U256::from(1_000_000 * TOKEN_UNIT);
    let mut pools_made = vec![false; pools];
    for (i, kind) in kinds.iter().enumerate() {
        let sender = sender_of(i);
        let hot = rng.chance(spec.hot_ratio);
        match kind {
            WorkloadKind::Transfers => {
                let to = if hot {
                    hot_account(rng.below(HOT_ACCOUNTS))
                } else {
                    recipient_of(i)
                };
                b.push(
                    sender,
                    to,
                    U256::from(1_000_000 + i as u64),
                    Bytes::new(),
                    21_000,
                );
            }
            WorkloadKind::StorageChain => {
                let input = keccak256((i as u64).to_be_bytes());
                b.push(
                    sender,
                    storage_chain(),
                    U256::ZERO,
                    step_call(input),
                    60_000,
                );
            }
            WorkloadKind::HotContract => {
                b.push(sender, hot_counter(), U256::ZERO, increment_call(), 60_000);
            }
            WorkloadKind::TransferChain => {
                b.push(
                    0,
                    recipient_of(i),
                    U256::from(1_000_000 + i as u64),
                    Bytes::new(),
                    21_000,
                );
            }
            WorkloadKind::Erc20 => {
                let to = if hot { hot_account(0) } else { recipient_of(i) };
                let token = erc20_token();
                let (from_slot, to_slot) = (balance_slot(eoa(sender)), balance_slot(to));
                let storage = b.storage(token);
                storage.push((from_slot, U256::from(1_000 * TOKEN_UNIT)));
                // Recipients already hold tokens (as on mainnet), so a transfer updates a slot.
                storage.push((to_slot, U256::from(TOKEN_UNIT)));
                b.push(
                    sender,
                    token,
                    U256::ZERO,
                    transfer_call(to, U256::from(TOKEN_UNIT + i as u128)),
                    100_000,
                );
            }
            WorkloadKind::Swaps => {
                let p = if hot { 0 } else { i % pools };
                let (t0, t1) = (pool_token(2 * p), pool_token(2 * p + 1));
                if !pools_made[p] {
                    pools_made[p] = true;
                    for t in [t0, t1] {
                        b.state.insert_account(
                            t,
                            U256::ZERO,
                            1,
                            Bytecode::new_raw(code(TOKEN_HEX)),
                            [],
                        );
                        b.storage(t).push((balance_slot(pair(p)), reserve));
                    }
                    b.state.insert_account(
                        pair(p),
                        U256::ZERO,
                        1,
                        Bytecode::new_raw(pair_code(t0, t1)),
                        [(U256::from(0), reserve), (U256::from(1), reserve)],
                    );
                }
                let token_in = if rng.below(2) == 0 { t0 } else { t1 };
                let trader = eoa(sender);
                let storage = b.storage(token_in);
                storage.push((balance_slot(trader), U256::from(1_000 * TOKEN_UNIT)));
                // (A finite approval, as the approve-then-swap flow gives: `transferFrom` lowers it.)
                storage.push((
                    allowance_slot(trader, router()),
                    U256::from(10).pow(U256::from(30)),
                ));
                let amount = U256::from(TOKEN_UNIT + (i as u128) * 1_000);
                b.push(
                    sender,
                    router(),
                    U256::ZERO,
                    swap_call(pair(p), token_in, amount, trader),
                    250_000,
                );
            }
            WorkloadKind::Mixed => unreachable!("mixed is expanded above"),
        }
    }
    // Write the token storage gathered above into the contracts' accounts.
    let mut contracts: Vec<_> = std::mem::take(&mut b.token_balances).into_iter().collect();
    contracts.sort_by_key(|(a, _)| *a);
    for (contract, slots) in contracts {
        let acc = b
            .state
            .get(&contract)
            .cloned()
            .expect("token account inserted above");
        let mut storage: Vec<(U256, U256)> = acc.storage.into_iter().collect();
        storage.extend(slots);
        let code = b.state.code(&acc.code_hash).cloned().unwrap_or_default();
        b.state
            .insert_account(contract, acc.balance, acc.nonce, code, storage);
    }
    let gas_limit = b
        .txs
        .iter()
        .map(|t| t.env.gas_limit)
        .sum::<u64>()
        .max(spec.gas_target);
    let header = Header {
        number: 20_000_000,
        timestamp: MAINNET_CANCUN_TIME + 12,
        beneficiary: address(0xcc, 0),
        gas_limit,
        base_fee_per_gas: Some(BASE_FEE),
        excess_blob_gas: Some(0),
        blob_gas_used: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        ..Default::default()
    };
    let block = Block::synthetic(header, Fork::Cancun, b.txs);
    (block, b.state)
}

/// The block number the generated block has; a chain's first block has it too.
pub const FIRST_NUMBER: u64 = 20_000_000;

/// A chain of `count` blocks of `spec`'s kind and gas, in order, each block's parent the one
/// before (the first's a genesis of hash [`genesis_hash`] and number `FIRST_NUMBER - 1`), and
/// its pre-state: one generated workload of `count` times the gas, cut into consecutive
/// blocks, so the chain is valid and the same for the same spec.
pub fn chain(spec: &WorkloadSpec, count: usize) -> (Vec<Block>, InMemoryState) {
    let count = count.max(1);
    let whole = WorkloadSpec {
        gas_target: spec.gas_target.saturating_mul(count as u64),
        ..spec.clone()
    };
    let (block, state) = generate(&whole);
    let per_block = block.transactions.len().div_ceil(count).max(1);
    let mut parent = genesis_hash();
    let mut blocks = Vec::with_capacity(count);
    let mut txs = block.transactions.into_iter().peekable();
    for k in 0..count as u64 {
        let mine: Vec<Transaction> = txs.by_ref().take(per_block).collect();
        let header = Header {
            number: FIRST_NUMBER + k,
            timestamp: block.header.timestamp + 12 * k,
            parent_hash: parent,
            gas_limit: mine
                .iter()
                .map(|t| t.env.gas_limit)
                .sum::<u64>()
                .max(spec.gas_target),
            ..block.header.clone()
        };
        let b = Block::synthetic(header, block.fork, mine);
        parent = b.hash;
        blocks.push(b);
    }
    (blocks, state)
}

/// The hash a synthetic chain's genesis has.
pub fn genesis_hash() -> B256 {
    keccak256("parevm synthetic genesis")
}
