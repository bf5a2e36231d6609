//! Adversarial blocks: seeded random blocks built to break parallel strategies, for the
//! differential tests and `parevm fuzz`.
//!
//! Every block is a pure function of its seed (ChaCha8, portable across machines), so a
//! mismatch is reported as a seed and replayed exactly. The generator does not try to be
//! realistic; it concentrates on what a parallel engine keeps apart from block order and must
//! put back exactly:
//!
//! - the beneficiary as sender (with and without a tip, from a zero or low pre-block balance,
//!   in nonce chains), as recipient, read through `BALANCE(COINBASE)`, `BALANCE(CALLER)` and
//!   `SELFBALANCE`, paid by self-destructs and by contracts forwarding their balance;
//! - balances exactly sufficient or one wei short, found by executing the block's prefix
//!   sequentially (an oracle: the generator knows no more about the block than that);
//! - shared counters, hot senders and recipients, precompile calls and transfers, creates and
//!   CREATE2 collisions, reverts, out-of-gas, EIP-7702 delegations gained (and cleared) inside
//!   the block, blob transactions, calls to the system contracts (requests that the post-block
//!   system calls drain), withdrawals and ommer rewards that read the final state;
//! - invalid transactions anywhere (nonce gaps and reuse, insufficient funds, gas above the
//!   block's, intrinsic gas too low, fee below the base fee, a sender with code);
//! - every fork from Frontier to Osaka (state clearing, refunds and SELFDESTRUCT differ);
//! - sizes from one transaction to past 2,000, below and above the size rules, so that a
//!   strategy's parallel path runs and not only its sequential rules.

pub mod contracts;

use crate::{
    block::{Block, Ommer, Transaction},
    chain::Fork,
    core::{self, TxExecutor},
    state::{Bytecode, InMemoryState, Overlay, RevmDb, StateView},
};
use alloy_consensus::Header;
use alloy_eips::{eip2930::AccessList, eip4895::Withdrawal};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use contracts::Contract;
use rand::{Rng, SeedableRng, seq::IndexedRandom};
use rand_chacha::ChaCha8Rng;
use revm::{
    context::TxEnv,
    context_interface::{
        either::Either,
        transaction::{Authorization, RecoveredAuthority, RecoveredAuthorization},
    },
    primitives::{KECCAK_EMPTY, TxKind},
};

/// A generated block with its pre-state.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The seed it came from.
    pub seed: u64,
    /// The block.
    pub block: Block,
    /// The pre-state.
    pub state: InMemoryState,
    /// Whether to run it behind a view that does not claim cheap reads (strategies then take
    /// their caching paths).
    pub cached_reads: bool,
}

/// Bounds on what [`generate`] builds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most transactions a block gets (the size distribution is cut there).
    pub max_txs: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_txs: 2_250 }
    }
}

/// The block of `seed`.
pub fn generate(seed: u64, limits: Limits) -> Generated {
    let mut g = Gen::new(seed, limits);
    g.build()
}

/// An externally owned account of the generator's (outside the precompile range).
pub fn eoa(i: usize) -> Address {
    let mut a = [0u8; 20];
    a[0] = 0xee;
    a[18] = (i >> 8) as u8;
    a[19] = i as u8;
    Address::new(a)
}

/// What the beneficiary is.
#[derive(Debug, Clone, Copy)]
enum Beneficiary {
    /// One of the EOAs: it sends and receives like the others.
    Eoa(usize),
    /// An address of its own, absent from the pre-state or with a small balance.
    Fresh,
    /// A contract (a payable one: transfers to it run code).
    Contract,
}

struct Gen {
    rng: ChaCha8Rng,
    seed: u64,
    limits: Limits,
    fork: Fork,
    base_fee: u64,
    eoas: usize,
    beneficiary: Beneficiary,
    coinbase: Address,
    /// Fresh addresses handed out so far.
    fresh: u64,
}

/// Sequential execution of the block so far: what the generator asks of the state before it
/// picks a transaction's sender, nonce and value.
struct Oracle<'s> {
    exec: TxExecutor<RevmDb<Overlay<'s>>>,
    /// The block without its transactions (limits and environment).
    template: Block,
    gas: u64,
    blob_gas: u64,
}

impl<'s> Oracle<'s> {
    fn new(template: Block, state: &'s InMemoryState) -> Option<Self> {
        let mut overlay = Overlay::new(state);
        core::pre_block(&template, &mut overlay, &mut None).ok()?;
        Some(Oracle {
            exec: TxExecutor::new(&template, RevmDb(overlay)),
            template,
            gas: 0,
            blob_gas: 0,
        })
    }

    /// Balance, nonce and whether it has code (an EIP-7702 delegation counts).
    fn account(&mut self, a: Address) -> (U256, u64, bool) {
        match self.exec.db_mut().0.account_fields(a) {
            Ok(Some((balance, nonce, code))) => (balance, nonce, code != KECCAK_EMPTY),
            _ => (U256::ZERO, 0, false),
        }
    }

    /// Runs `tx` as transaction `index` and keeps its changes if it is valid.
    fn run(&mut self, index: usize, tx: &Transaction) -> bool {
        let mut block = self.template.clone();
        block.transactions = vec![Transaction::clone(tx)];
        if core::check_block_limits(&block, 0, self.gas, self.blob_gas).is_err() {
            return false;
        }
        match self.exec.execute(index, tx, self.gas) {
            Ok((out, _)) => {
                self.exec.db_mut().0.apply(&out.changes);
                self.gas += out.gas_used;
                self.blob_gas += out.blob_gas_used;
                true
            }
            Err(_) => false,
        }
    }
}

/// A transaction's shape before its sender's state is known.
struct Draft {
    kind: TxKind,
    data: Vec<u8>,
    gas: u64,
    /// A value the shape asks for (`None`: chosen from the sender's balance).
    value: Option<U256>,
    authorizations: usize,
    blobs: bool,
}

impl Gen {
    fn new(seed: u64, limits: Limits) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let fork = if rng.random_bool(0.5) {
            *[Fork::Cancun, Fork::Prague, Fork::Osaka]
                .choose(&mut rng)
                .expect("non-empty")
        } else {
            *Fork::ALL.choose(&mut rng).expect("non-empty")
        };
        let eoas = rng.random_range(3..=10);
        let beneficiary = match rng.random_range(0..10) {
            0..=4 => Beneficiary::Eoa(rng.random_range(0..eoas)),
            5..=8 => Beneficiary::Fresh,
            _ => Beneficiary::Contract,
        };
        let coinbase = match beneficiary {
            Beneficiary::Eoa(i) => eoa(i),
            Beneficiary::Fresh => Address::with_last_byte(0xcb).create(seed),
            Beneficiary::Contract => Contract::SelfBalance.address(),
        };
        let base_fee = *[7u64, 1_000_000_000].choose(&mut rng).expect("non-empty");
        Gen {
            rng,
            seed,
            limits,
            fork,
            base_fee,
            eoas,
            beneficiary,
            coinbase,
            fresh: 0,
        }
    }

    fn build(&mut self) -> Generated {
        let state = self.pre_state();
        let n = self.size();
        let mut block = self.block(n);
        // (Where the block breaks, if it does: a transaction made invalid on purpose.)
        let invalid_at = self
            .rng
            .random_bool(0.12)
            .then(|| self.rng.random_range(0..n));
        let mut oracle = Oracle::new(block.clone(), &state);
        let mut valid = oracle.is_some();
        for i in 0..n {
            let mut tx = self.transaction(i, oracle.as_mut().filter(|_| valid));
            if Some(i) == invalid_at {
                self.invalidate(&mut tx, &block, oracle.as_mut().filter(|_| valid));
            }
            if valid && let Some(o) = oracle.as_mut() {
                // (A transaction the oracle rejects ends the block's valid part: what follows
                // is still generated, for the speculative runs.)
                valid = o.run(i, &tx);
            }
            block.transactions.push(tx);
        }
        Generated {
            seed: self.seed,
            block,
            state,
            cached_reads: self.rng.random_bool(0.25),
        }
    }

    /// How many transactions: mostly small blocks, some medium, a few past 2,000.
    fn size(&mut self) -> usize {
        let n = match self.rng.random_range(0..100) {
            0..=59 => self.rng.random_range(1..=40),
            60..=84 => self.rng.random_range(40..=400),
            85..=94 => self.rng.random_range(400..=1_500),
            _ => self.rng.random_range(2_000..=2_250),
        };
        n.min(self.limits.max_txs).max(1)
    }

    fn pre_state(&mut self) -> InMemoryState {
        let mut state = InMemoryState::new();
        const ETH: u128 = 1_000_000_000_000_000_000;
        for i in 0..self.eoas {
            let balance = *[0, ETH / 1000, 10_000 * ETH, 10_000 * ETH, 10_000 * ETH]
                .choose(&mut self.rng)
                .expect("non-empty");
            state.insert_account(eoa(i), U256::from(balance), 0, Bytecode::default(), []);
        }
        if let Beneficiary::Eoa(i) = self.beneficiary {
            // Mostly zero or low: its transactions then depend on the fees it earns.
            let balance = *[0, 0, 5, ETH / 1000, 100 * ETH]
                .choose(&mut self.rng)
                .expect("non-empty");
            state.insert_account(eoa(i), U256::from(balance), 0, Bytecode::default(), []);
        }
        if matches!(self.beneficiary, Beneficiary::Fresh) && self.rng.random_bool(0.3) {
            state.insert_account(self.coinbase, U256::from(1), 0, Bytecode::default(), []);
        }
        for c in Contract::ALL {
            let balance = *[0, 0, 1_000, ETH].choose(&mut self.rng).expect("non-empty");
            let code = Bytecode::new_raw(c.code());
            state.insert_account(
                c.address(),
                U256::from(balance),
                1,
                code,
                [(U256::ZERO, U256::from(7)), (U256::from(1), U256::from(1))],
            );
        }
        self.system_contracts(&mut state);
        state
    }

    /// The fork's system contracts (Prague's request contracts must exist: the block is invalid
    /// without them; the beacon-roots call is skipped without its contract, so it is left out
    /// now and then).
    fn system_contracts(&mut self, state: &mut InMemoryState) {
        use alloy_eips::{eip2935, eip4788, eip7002, eip7251};
        let mut install = |a: Address, code: &Bytes| {
            state.insert_account(a, U256::ZERO, 1, Bytecode::new_raw(code.clone()), []);
        };
        if self.fork.at_least(Fork::Cancun) && self.rng.random_bool(0.8) {
            install(core::BEACON_ROOTS_ADDRESS, &eip4788::BEACON_ROOTS_CODE);
        }
        if self.fork.at_least(Fork::Prague) {
            install(
                core::HISTORY_STORAGE_ADDRESS,
                &eip2935::HISTORY_STORAGE_CODE,
            );
            install(
                core::WITHDRAWAL_REQUEST_ADDRESS,
                &eip7002::WITHDRAWAL_REQUEST_PREDEPLOY_CODE,
            );
            install(
                core::CONSOLIDATION_REQUEST_ADDRESS,
                &eip7251::CONSOLIDATION_REQUEST_PREDEPLOY_CODE,
            );
        }
    }

    /// An address that did not exist before the block: a new one, or often one an earlier
    /// transaction already paid (from Amsterdam on, EIP-2780 charges a transfer for creating
    /// its recipient, so a transfer's gas depends on the transfers before it).
    fn fresh_address(&mut self) -> Address {
        if self.fresh > 0 && self.rng.random_bool(0.4) {
            let earlier = self.rng.random_range(1..=self.fresh);
            return Address::with_last_byte(0xf0).create(earlier);
        }
        self.fresh += 1;
        Address::with_last_byte(0xf0).create(self.fresh)
    }

    /// The sender of the next transaction: one who can pay for `gas` at its price; the
    /// beneficiary often when it is an EOA and can pay, one hot sender often (nonce chains),
    /// any EOA otherwise.
    fn sender(&mut self, oracle: &mut Option<&mut Oracle<'_>>, cost: U256) -> usize {
        let can_pay = |o: &mut Option<&mut Oracle<'_>>, i: usize| {
            o.as_mut().is_none_or(|o| o.account(eoa(i)).0 >= cost)
        };
        if let Beneficiary::Eoa(b) = self.beneficiary
            && self.rng.random_bool(0.12)
            && can_pay(oracle, b)
        {
            return b;
        }
        let first = if self.rng.random_bool(0.3) {
            0
        } else {
            self.rng.random_range(0..self.eoas)
        };
        // (The first one able to pay from there on; when none is, the block is invalid there.)
        (0..self.eoas)
            .map(|k| (first + k) % self.eoas)
            .find(|&i| can_pay(oracle, i))
            .unwrap_or(first)
    }

    /// A target for value: the beneficiary, the hot EOA, any EOA, a fresh address.
    fn target(&mut self) -> Address {
        match self.rng.random_range(0..10) {
            0..=3 => self.coinbase,
            4..=5 => eoa(0),
            6..=7 => eoa(self.rng.random_range(0..self.eoas)),
            _ => self.fresh_address(),
        }
    }

    /// The value of a transfer from an account that has `room` to spare after gas: nothing,
    /// a little, a share, all of it (exactly sufficient).
    fn value(&mut self, room: U256, from_beneficiary: bool) -> U256 {
        let all = if from_beneficiary { 30 } else { 2 };
        match self.rng.random_range(0..100) {
            x if x < all => room,
            x if x < all + 8 => room / U256::from(self.rng.random_range(20..1_000u64)),
            x if x < all + 40 => U256::ZERO,
            _ => room.min(U256::from(self.rng.random_range(1..1_000_000u64))),
        }
    }

    /// The shape of the next transaction.
    fn draft(&mut self) -> Draft {
        let word = |x: u64| U256::from(x).to_be_bytes::<32>().to_vec();
        let addr_word = |a: Address| B256::left_padding_from(a.as_slice()).to_vec();
        let call = |c: Contract, data: Vec<u8>| Draft {
            kind: TxKind::Call(c.address()),
            data,
            gas: c.gas(),
            value: None,
            authorizations: 0,
            blobs: false,
        };
        let to = |a: Address, gas: u64| Draft {
            kind: TxKind::Call(a),
            data: vec![],
            gas,
            value: None,
            authorizations: 0,
            blobs: false,
        };
        match self.rng.random_range(0..100) {
            0..=29 => {
                let r = if self.rng.random_bool(0.3) {
                    0
                } else {
                    self.rng.random_range(0..self.eoas)
                };
                // (An EOA that gained a delegation runs code: room for it.)
                to(
                    eoa(r),
                    if self.fork.at_least(Fork::Prague) {
                        60_000
                    } else {
                        21_000
                    },
                )
            }
            30..=35 => to(self.coinbase, 60_000),
            // (From Amsterdam on, creating the recipient costs state gas: room for it.)
            36..=39 => {
                let gas = if self.fork.at_least(Fork::Amsterdam) {
                    400_000
                } else {
                    30_000
                };
                to(self.fresh_address(), gas)
            }
            40..=42 => Draft {
                data: vec![1, 2, 3],
                ..to(
                    Address::with_last_byte(self.rng.random_range(1..=10)),
                    60_000,
                )
            },
            43..=44 => {
                let c = *[Contract::SelfBalance, Contract::Forward, Contract::Counter]
                    .choose(&mut self.rng)
                    .expect("non-empty");
                to(c.address(), c.gas())
            }
            45..=54 => Draft {
                value: Some(U256::ZERO),
                ..call(Contract::Counter, word(self.rng.random_range(0..4)))
            },
            55..=59 => call(Contract::CoinbaseBalance, vec![]),
            60..=64 => call(Contract::CallerBalance, vec![]),
            65..=67 => call(Contract::SelfBalance, vec![]),
            68..=70 => {
                let t = self.target();
                call(Contract::Destruct, addr_word(t))
            }
            71..=74 => {
                let t = self.target();
                call(Contract::Forward, addr_word(t))
            }
            75..=77 => {
                let t = self.target();
                let mut data = addr_word(t);
                data.extend(word(self.rng.random_range(0..2_000)));
                call(Contract::Send, data)
            }
            78..=79 => call(Contract::Create, vec![]),
            80..=81 => call(Contract::Create2, vec![]),
            82..=83 => call(Contract::Precompile, vec![]),
            84..=85 => call(Contract::Revert, word(3)),
            86 => call(Contract::Loop, vec![]),
            87..=89 => {
                let t = self.target();
                call(Contract::Touch, addr_word(t))
            }
            90..=91 => Draft {
                // A creation whose constructor stores and deploys one byte.
                kind: TxKind::Create,
                data: alloy_primitives::hex::decode("6001600055600060005360016000f3")
                    .expect("valid hex"),
                gas: 120_000,
                value: None,
                authorizations: 0,
                blobs: false,
            },
            92..=96 if self.fork.at_least(Fork::Prague) => {
                let t = self.target();
                Draft {
                    authorizations: self.rng.random_range(1..=2),
                    ..to(t, 150_000)
                }
            }
            97 if self.fork.at_least(Fork::Cancun) => Draft {
                blobs: true,
                ..call(Contract::Counter, word(9))
            },
            98 if self.fork.at_least(Fork::Cancun) => self.system_call(),
            _ => to(eoa(self.rng.random_range(0..self.eoas)), 60_000),
        }
    }

    /// A transaction to a system contract, which the block's own system calls also run: the
    /// beacon roots read back (Cancun), the parent hash read back from the history contract,
    /// a withdrawal or consolidation request whose queue the post-block call drains (Prague).
    fn system_call(&mut self) -> Draft {
        let word = |x: u64| U256::from(x).to_be_bytes::<32>().to_vec();
        let (address, data, value) = match self.rng.random_range(0..4) {
            1 if self.fork.at_least(Fork::Prague) => {
                (core::HISTORY_STORAGE_ADDRESS, word(1_000), 0)
            }
            // (A 48-byte public key and an 8-byte amount; the fee starts at one wei.)
            2 if self.fork.at_least(Fork::Prague) => {
                (core::WITHDRAWAL_REQUEST_ADDRESS, vec![7; 56], 2)
            }
            // (Source and target public keys.)
            3 if self.fork.at_least(Fork::Prague) => {
                (core::CONSOLIDATION_REQUEST_ADDRESS, vec![9; 96], 2)
            }
            _ => (core::BEACON_ROOTS_ADDRESS, word(1_800_000_000), 0),
        };
        Draft {
            kind: TxKind::Call(address),
            data,
            gas: 200_000,
            value: Some(U256::from(value)),
            authorizations: 0,
            blobs: false,
        }
    }

    /// Transaction `i`, fitted to the state the `oracle` (when the block is valid so far)
    /// says its sender has.
    fn transaction(&mut self, i: usize, mut oracle: Option<&mut Oracle<'_>>) -> Transaction {
        let draft = self.draft();
        let mut env = TxEnv {
            gas_limit: draft.gas + [0, 0, 1, 5_000].choose(&mut self.rng).expect("non-empty"),
            kind: draft.kind,
            data: Bytes::from(draft.data),
            ..Default::default()
        };
        // (No more blobs than the block takes, unless the block is invalid anyway.)
        let blobs = draft.blobs
            && oracle.as_ref().is_none_or(|o| {
                o.template.blob_params.is_some_and(|p| {
                    o.blob_gas + crate::chain::BlobParams::GAS_PER_BLOB <= p.max_blob_gas()
                })
            });
        env.tx_type = self.tx_type(blobs, draft.authorizations > 0);
        if env.tx_type == 1 && self.rng.random_bool(0.5) {
            // The beneficiary warmed by the list (2,400 gas an address, 1,900 a key).
            env.access_list = AccessList(vec![alloy_eips::eip2930::AccessListItem {
                address: self.coinbase,
                storage_keys: vec![B256::ZERO],
            }]);
            env.gas_limit += 4_300;
        }
        self.fees(&mut env);
        if env.tx_type == 3 {
            let mut h = [0u8; 32];
            h[0] = 1;
            h[31] = i as u8;
            env.blob_hashes = vec![B256::new(h)];
            env.max_fee_per_blob_gas = *[1u128, 1_000_000_000]
                .choose(&mut self.rng)
                .expect("non-empty");
        }
        let cost = {
            use revm::context_interface::Transaction as _;
            env.max_balance_spending().unwrap_or(U256::MAX)
        };
        let from = self.sender(&mut oracle, cost);
        let from_beneficiary = eoa(from) == self.coinbase;
        if from_beneficiary && self.rng.random_bool(0.5) {
            // No tip: the beneficiary pays itself nothing, only the base fee.
            env.gas_price -= env.gas_priority_fee.take().unwrap_or(0);
            env.gas_priority_fee = Some(0).filter(|_| env.tx_type >= 2);
            if env.tx_type < 2 && self.fork.at_least(Fork::London) {
                env.gas_price = u128::from(self.base_fee);
            }
        }
        env.caller = eoa(from);
        let (balance, nonce) = match oracle.as_mut() {
            Some(o) => {
                let (balance, nonce, _) = o.account(env.caller);
                (balance, nonce)
            }
            None => (U256::from(10u128.pow(20)), self.rng.random_range(0..3)),
        };
        env.nonce = nonce;
        let cost = {
            use revm::context_interface::Transaction as _;
            env.max_balance_spending().unwrap_or(U256::MAX)
        };
        let room = balance.saturating_sub(cost);
        env.value = match draft.value {
            Some(v) => v,
            None => self.value(room, from_beneficiary),
        };
        env.chain_id = (env.tx_type > 0 || self.fork.at_least(Fork::SpuriousDragon)).then_some(1);
        env.authorization_list = (0..draft.authorizations)
            .map(|_| self.authorization(from, &mut oracle))
            .collect();
        Transaction {
            hash: keccak256([&self.seed.to_be_bytes()[..], &(i as u64).to_be_bytes()].concat()),
            tx_type: env.tx_type,
            env,
        }
    }

    /// Gas price and tip (pre-London, a gas price that may be zero).
    fn fees(&mut self, env: &mut TxEnv) {
        let tip: u128 = if self.rng.random_bool(0.2) {
            0
        } else {
            self.rng.random_range(1..=20_000_000_000)
        };
        if self.fork.at_least(Fork::London) {
            let extra = *[0, 0, 1_000].choose(&mut self.rng).expect("non-empty");
            env.gas_price = u128::from(self.base_fee) + tip + extra;
            env.gas_priority_fee = (env.tx_type >= 2).then_some(tip);
        } else {
            env.gas_price = tip;
        }
    }

    fn tx_type(&mut self, blobs: bool, set_code: bool) -> u8 {
        if set_code {
            4
        } else if blobs {
            3
        } else if self.fork.at_least(Fork::London) {
            *[0, 1, 2, 2].choose(&mut self.rng).expect("non-empty")
        } else if self.fork.at_least(Fork::Berlin) {
            *[0, 1].choose(&mut self.rng).expect("non-empty")
        } else {
            0
        }
    }

    /// An EIP-7702 authorization: an EOA (the beneficiary among them, or the sender itself)
    /// delegating to a contract that reads balances or forwards value, or clearing its
    /// delegation; now and then with a stale nonce or another chain's id (skipped by the EVM).
    fn authorization(
        &mut self,
        from: usize,
        oracle: &mut Option<&mut Oracle<'_>>,
    ) -> Either<revm::context::transaction::SignedAuthorization, RecoveredAuthorization> {
        let who = if self.rng.random_bool(0.3) {
            from
        } else if let (Beneficiary::Eoa(b), true) = (self.beneficiary, self.rng.random_bool(0.4)) {
            b
        } else {
            self.rng.random_range(0..self.eoas)
        };
        let target = *[
            Contract::CoinbaseBalance.address(),
            Contract::CallerBalance.address(),
            Contract::Counter.address(),
            Contract::Forward.address(),
            Contract::SelfBalance.address(),
            Address::ZERO,
        ]
        .choose(&mut self.rng)
        .expect("non-empty");
        // The sender's nonce is raised before its own authorizations are applied.
        let current = oracle.as_mut().map_or(0, |o| o.account(eoa(who)).1);
        let nonce = current + u64::from(who == from) + u64::from(self.rng.random_bool(0.15));
        let auth = Authorization {
            chain_id: U256::from(*[1u64, 1, 1, 0, 5].choose(&mut self.rng).expect("non-empty")),
            address: target,
            nonce,
        };
        Either::Right(RecoveredAuthorization::new_unchecked(
            auth,
            RecoveredAuthority::Valid(eoa(who)),
        ))
    }

    /// The block of `n` transactions, without them yet.
    fn block(&mut self, n: usize) -> Block {
        let fork = self.fork;
        let header = Header {
            number: 1_000 + self.rng.random_range(0..1_000u64),
            timestamp: 1_800_000_000,
            beneficiary: self.coinbase,
            gas_limit: (n as u64 * 220_000).max(30_000_000),
            difficulty: if fork.at_least(Fork::Paris) {
                U256::ZERO
            } else {
                U256::from(1u64 << 20)
            },
            mix_hash: B256::from(U256::from(self.seed)),
            parent_hash: B256::with_last_byte(1),
            base_fee_per_gas: fork.at_least(Fork::London).then_some(self.base_fee),
            excess_blob_gas: fork.at_least(Fork::Cancun).then_some(0),
            parent_beacon_block_root: fork.at_least(Fork::Cancun).then_some(B256::ZERO),
            ..Default::default()
        };
        let mut block = Block::synthetic(header, fork, Vec::new());
        if fork.at_least(Fork::Shanghai) && self.rng.random_bool(0.3) {
            for index in 0..self.rng.random_range(1..=3u64) {
                let address = self.target();
                block.withdrawals.push(Withdrawal {
                    index,
                    validator_index: index,
                    address,
                    amount: self.rng.random_range(0..1_000_000_000),
                });
            }
        }
        if !fork.at_least(Fork::Paris) && self.rng.random_bool(0.3) {
            let beneficiary = self.target();
            block.ommers.push(Ommer {
                number: block.number() - 1,
                beneficiary,
            });
        }
        block
    }

    /// Breaks `tx` so that `block` is invalid there.
    fn invalidate(&mut self, tx: &mut Transaction, block: &Block, oracle: Option<&mut Oracle<'_>>) {
        let fork = self.fork;
        let env = &mut tx.env;
        match self.rng.random_range(0..8) {
            0 => env.nonce += 1,
            1 => env.nonce = env.nonce.wrapping_sub(1),
            2 => env.gas_limit = block.header.gas_limit + 1,
            3 => env.gas_limit = 20_000,
            4 if fork.at_least(Fork::London) => env.gas_price = 1,
            5 => env.caller = Contract::Counter.address(),
            // One wei more than the sender can spare after gas.
            6 if let Some(o) = oracle => {
                use revm::context_interface::Transaction as _;
                let balance = o.account(env.caller).0;
                env.value = U256::ZERO;
                let cost = env.max_balance_spending().unwrap_or(U256::MAX);
                env.value = balance.saturating_sub(cost) + U256::from(1);
            }
            _ => env.value = U256::from(10u128.pow(30)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_block() {
        for seed in 0..20 {
            let (a, b) = (
                generate(seed, Limits::default()),
                generate(seed, Limits::default()),
            );
            assert_eq!(a.block.hash, b.block.hash);
            assert_eq!(a.block.transactions.len(), b.block.transactions.len());
            for (x, y) in a.block.transactions.iter().zip(&b.block.transactions) {
                assert_eq!(x.env, y.env);
            }
            assert_eq!(a.state.state_root(), b.state.state_root());
        }
    }
}
