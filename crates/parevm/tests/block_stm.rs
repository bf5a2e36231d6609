//! Block-STM against sequential execution: a differential property test on random blocks,
//! invalid-transaction verdicts, panic containment, and a (ignored) repeated-run stress test.

use alloy_consensus::Header;
use alloy_primitives::{Address, B256, Bytes, U256, address, hex};
use parevm::{
    Block, ExecError, StateView, Transaction,
    chain::Fork,
    execute_block,
    state::{AccountInfo, Bytecode, InMemoryState, StateError},
    strategy::{
        self,
        block_stm::{BlockStm, Start},
        sequential::Sequential,
    },
};
use proptest::prelude::*;
use revm::{context::TxEnv, primitives::TxKind};

const EOAS: usize = 5;

/// An externally owned account. Not a low address: Block-STM credits plain transfers lazily
/// only outside the precompile range, and the test must exercise that path.
fn eoa(i: usize) -> Address {
    let mut a = [0u8; 20];
    a[0] = 0xee;
    a[19] = 0x10 + i as u8;
    Address::new(a)
}

/// An account that does not exist before the block, outside the precompile range.
fn fresh(i: usize) -> Address {
    let mut a = [0u8; 20];
    a[0] = 0xf5;
    a[19] = i as u8;
    Address::new(a)
}

/// Small contracts, each exercising one behaviour (hand-assembled EVM).
mod contracts {
    use super::*;
    /// `sstore(x, sload(x) + 1)` for `x = calldata[0..32]`: read-modify-write of shared slots.
    pub(super) const INC: Address = address!("0x00000000000000000000000000000000000000c1");
    /// `sstore(x, 1); revert()`.
    pub(super) const REVERT: Address = address!("0x00000000000000000000000000000000000000c2");
    /// An infinite loop: runs out of gas.
    pub(super) const LOOP: Address = address!("0x00000000000000000000000000000000000000c3");
    /// `sstore(0, balance(coinbase))`: an explicit read of the beneficiary.
    pub(super) const COINBASE: Address = address!("0x00000000000000000000000000000000000000c4");
    /// `selfdestruct(calldata[0..32])`.
    pub(super) const DESTRUCT: Address = address!("0x00000000000000000000000000000000000000c5");
    /// `sstore(0, create(child))`, the child's constructor doing `sstore(0, 1)`.
    pub(super) const CREATE: Address = address!("0x00000000000000000000000000000000000000c6");
    /// `sstore(1, sload(1) + 1); call(INC)`: a nested call chain writing two contracts.
    pub(super) const NESTED: Address = address!("0x00000000000000000000000000000000000000c7");

    pub(super) fn all() -> Vec<(Address, Bytes)> {
        let code = |h: &str| Bytes::from(hex::decode(h).unwrap());
        vec![
            (INC, code("6000358054600101905500")),
            (REVERT, code("600160003555600080fd")),
            (LOOP, code("5b600056")),
            (COINBASE, code("413160005500")),
            (DESTRUCT, code("600035ff")),
            (
                CREATE,
                code("6e6001600055600060005360016000f3600052600f60116000f060005500"),
            ),
            // sstore(1, sload(1)+1); call(gas, INC, 0, 0, 0, 0, 0) with calldata slot 0
            (
                NESTED,
                code(
                    "600180546001019055600060006000600060007300000000000000000000000000000000000000c15af100",
                ),
            ),
        ]
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Transfer(usize),
    /// A transfer to an account that does not exist before the block (EIP-2780, Amsterdam:
    /// its gas depends on whether the recipient exists yet).
    Fresh(usize),
    ToCoinbase,
    Inc(u8),
    Revert(u8),
    Loop,
    ReadCoinbase,
    Destruct(usize),
    Create,
    Nested,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => (0..EOAS).prop_map(Kind::Transfer),
        2 => (0..2usize).prop_map(Kind::Fresh),
        1 => Just(Kind::ToCoinbase),
        4 => (0u8..3).prop_map(Kind::Inc),
        1 => (0u8..3).prop_map(Kind::Revert),
        1 => Just(Kind::Loop),
        2 => Just(Kind::ReadCoinbase),
        1 => (0..EOAS).prop_map(Kind::Destruct),
        1 => Just(Kind::Create),
        1 => Just(Kind::Nested),
    ]
}

#[derive(Debug, Clone)]
struct Spec {
    fork: Fork,
    /// Beneficiary: one of the EOAs (so it also sends and receives) or a fresh address.
    beneficiary: Option<usize>,
    txs: Vec<(usize, Kind, bool)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop_oneof![
            Just(Fork::Berlin),
            Just(Fork::London),
            Just(Fork::Shanghai),
            Just(Fork::Cancun),
            Just(Fork::Prague),
            Just(Fork::Amsterdam)
        ],
        prop::option::of(0..EOAS),
        prop::collection::vec((0..EOAS, kind(), prop::bool::weighted(0.03)), 1..40),
    )
        .prop_map(|(fork, beneficiary, txs)| Spec {
            fork,
            beneficiary,
            txs,
        })
}

fn build(spec: &Spec) -> (Block, InMemoryState) {
    let mut state = InMemoryState::new();
    for i in 0..EOAS {
        state.insert_account(
            eoa(i),
            U256::from(10u128.pow(20)),
            0,
            Bytecode::default(),
            [],
        );
    }
    for (a, code) in contracts::all() {
        state.insert_account(
            a,
            U256::from(1_000),
            1,
            Bytecode::new_raw(code),
            [(U256::ZERO, U256::from(7))],
        );
    }
    if spec.fork.at_least(Fork::Prague) {
        // The request contracts must exist: without them every Prague block is invalid, and
        // the test would compare only errors.
        use alloy_eips::{eip7002, eip7251};
        for (a, code) in [
            (
                parevm::core::WITHDRAWAL_REQUEST_ADDRESS,
                &eip7002::WITHDRAWAL_REQUEST_PREDEPLOY_CODE,
            ),
            (
                parevm::core::CONSOLIDATION_REQUEST_ADDRESS,
                &eip7251::CONSOLIDATION_REQUEST_PREDEPLOY_CODE,
            ),
        ] {
            state.insert_account(a, U256::ZERO, 1, Bytecode::new_raw(code.clone()), []);
        }
    }
    let beneficiary = spec.beneficiary.map_or(Address::with_last_byte(0xbe), eoa);
    let mut nonces = [0u64; EOAS];
    let mut transactions = Vec::new();
    for (n, (sender, kind, bad_nonce)) in spec.txs.iter().enumerate() {
        let word = |x: u64| Bytes::from(U256::from(x).to_be_bytes::<32>().to_vec());
        let addr_word = |a: Address| Bytes::from(B256::left_padding_from(a.as_slice()).to_vec());
        let (to, value, data, gas) = match kind {
            Kind::Transfer(r) => (eoa(*r), 1_000 + n as u64, Bytes::new(), 21_000),
            Kind::Fresh(r) => (fresh(*r), 1_000 + n as u64, Bytes::new(), 500_000),
            Kind::ToCoinbase => (beneficiary, 5, Bytes::new(), 30_000),
            Kind::Inc(slot) => (contracts::INC, 0, word(*slot as u64), 100_000),
            Kind::Revert(slot) => (contracts::REVERT, 0, word(*slot as u64), 100_000),
            Kind::Loop => (contracts::LOOP, 0, Bytes::new(), 60_000),
            Kind::ReadCoinbase => (contracts::COINBASE, 0, Bytes::new(), 100_000),
            Kind::Destruct(r) => (contracts::DESTRUCT, 3, addr_word(eoa(*r)), 100_000),
            Kind::Create => (contracts::CREATE, 0, Bytes::new(), 200_000),
            Kind::Nested => (contracts::NESTED, 0, Bytes::new(), 200_000),
        };
        let nonce = nonces[*sender] + u64::from(*bad_nonce);
        nonces[*sender] += 1;
        let env = TxEnv {
            tx_type: 0,
            caller: eoa(*sender),
            gas_limit: gas,
            gas_price: 20_000_000_000,
            kind: TxKind::Call(to),
            value: U256::from(value),
            data,
            nonce,
            chain_id: Some(1),
            ..Default::default()
        };
        transactions.push(Transaction {
            hash: B256::with_last_byte(n as u8),
            tx_type: 0,
            env,
        });
    }
    let header = Header {
        number: 1,
        timestamp: 1_800_000_000,
        beneficiary,
        gas_limit: 30_000_000,
        base_fee_per_gas: spec.fork.at_least(Fork::London).then_some(1_000_000_000),
        excess_blob_gas: spec.fork.at_least(Fork::Cancun).then_some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        ..Default::default()
    };
    let block = Block::synthetic(header, spec.fork, transactions);
    (block, state)
}

fn same_verdict(block: &Block, state: &InMemoryState, threads: usize) -> Result<(), String> {
    same_verdict_from(block, state, threads, Start::Parallel)
}

/// [`same_verdict`] for Block-STM starting as `start` says (a sequential start, then the rest
/// in parallel).
fn same_verdict_from(
    block: &Block,
    state: &InMemoryState,
    threads: usize,
    start: Start,
) -> Result<(), String> {
    let seq = execute_block(block, state, &Sequential, 1);
    // In memory, Block-STM re-reads the base; behind a view that does not claim cheap reads
    // (a zero-latency `LatencyState`), it caches what it read: both paths are checked.
    let slow = parevm::state::LatencyState::new(state, std::time::Duration::ZERO);
    let views: [(&dyn StateView, &str); 2] = [(state, "in-memory"), (&slow, "cached")];
    let stm = BlockStm::ALWAYS_SPECULATIVE.with_start(start);
    for (view, name) in views {
        let par = execute_block(block, view, &stm, threads);
        match (&seq, par) {
            (Ok(a), Ok(b)) => {
                if let Some(d) = a.first_difference(&b) {
                    return Err(format!("x{threads} {name}: {d}"));
                }
            }
            (Err(a), Err(b)) if *a == b => {}
            (a, b) => {
                return Err(format!(
                    "x{threads} {name}: sequential {:?} vs block-stm {:?}",
                    a.as_ref().err(),
                    b.err()
                ));
            }
        }
    }
    Ok(())
}

proptest! {
    // 48 cases in CI; `PROPTEST_CASES=N` runs more (proptest's own variable, which an explicit
    // `cases` would otherwise override).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn block_stm_equals_sequential(spec in spec()) {
        let (block, state) = build(&spec);
        for threads in [1, 2, 4, 8] {
            prop_assert!(same_verdict(&block, &state, threads).is_ok(), "{}", same_verdict(&block, &state, threads).unwrap_err());
        }
    }

    /// The seam of a sequential start: the first `k` transactions sequentially, the rest with
    /// Block-STM on the state they left (cumulative gas, block limits and error indices carry
    /// over).
    #[test]
    fn a_sequential_start_then_block_stm_equals_sequential(spec in spec(), k in 0usize..40) {
        let (block, state) = build(&spec);
        for threads in [2, 4] {
            let verdict = same_verdict_from(&block, &state, threads, Start::After(k));
            prop_assert!(verdict.is_ok(), "start after {k}: {}", verdict.unwrap_err());
        }
    }
}

/// Block-STM equals sequential on the block of `txs` at 1, 2, 4 and 8 threads, under each of
/// `forks`, with a fresh beneficiary and with `beneficiary` (an EOA that also sends).
fn same_verdict_on(txs: &[(usize, Kind, bool)], forks: [Fork; 2], beneficiary: Option<usize>) {
    for fork in forks {
        for beneficiary in [None, beneficiary] {
            let spec = Spec {
                fork,
                beneficiary,
                txs: txs.to_vec(),
            };
            let (block, state) = build(&spec);
            for threads in [1, 2, 4, 8] {
                if let Err(e) = same_verdict(&block, &state, threads) {
                    panic!("{fork:?} beneficiary {beneficiary:?}: {e}");
                }
            }
        }
    }
}

/// A recipient credited lazily by several transfers, between which it sends (a full write of
/// its account) and is paid by a self-destruct: Block-STM's rolling commit must restart its
/// running balance at each full write.
#[test]
fn lazy_credits_around_full_writes_of_the_recipient() {
    let t = Kind::Transfer;
    let txs = vec![
        (0, t(4), false),
        (1, t(4), false),
        (4, t(1), false),
        (2, t(4), false),
        (3, Kind::Destruct(4), false),
        (0, t(4), false),
        (4, t(3), false),
        (3, t(4), false),
        (1, t(4), false),
    ];
    same_verdict_on(&txs, [Fork::Berlin, Fork::Cancun], Some(2));
}

/// Transfers to accounts that do not exist yet, from several senders and lazily: from
/// Amsterdam on (EIP-2780) the first pays for creating the account and the others do not, so
/// each transfer's gas depends on the transfers to the same account before it.
#[test]
fn transfers_to_new_accounts_pay_for_them_once() {
    let f = Kind::Fresh;
    let txs = vec![
        (0, f(0), false),
        (1, f(0), false),
        (2, f(1), false),
        (3, f(0), false),
        (0, f(1), false),
        (4, f(0), false),
        (1, f(1), false),
    ];
    same_verdict_on(&txs, [Fork::Prague, Fork::Amsterdam], Some(2));
    // (Every strategy that credits plain transfers as commutative updates: monad too.)
    let spec = Spec {
        fork: Fork::Amsterdam,
        beneficiary: None,
        txs,
    };
    let (block, state) = build(&spec);
    let seq = execute_block(&block, &state, &Sequential, 1).unwrap();
    for s in parevm::strategy::parallel() {
        for threads in [1, 2, 4] {
            let out = execute_block(&block, &state, s, threads).unwrap();
            assert_eq!(seq.first_difference(&out), None, "{} x{threads}", s.name());
        }
    }
}

/// Senders whose first transaction is a contract call (recorded as a debit of the sender, not
/// a full value), then pay onwards lazily, receive, and call again: readers above them and
/// the commit must sum those debits with the lazy credits and debits around them.
#[test]
fn first_calls_debit_their_senders() {
    let t = Kind::Transfer;
    let txs = vec![
        (0, Kind::Inc(0), false),
        (1, Kind::Nested, false),
        (0, t(2), false),
        (1, t(0), false),
        (2, Kind::Inc(0), false),
        (0, Kind::Inc(1), false),
        (2, t(1), false),
        (3, Kind::Revert(1), false),
        (3, t(0), false),
        (0, t(3), false),
    ];
    same_verdict_on(&txs, [Fork::Berlin, Fork::Prague], Some(3));
}

#[test]
fn generated_blocks_exercise_every_behaviour() {
    // The contracts do what the generator assumes (otherwise the property test proves less).
    let kinds = [
        Kind::Inc(1),
        Kind::Revert(0),
        Kind::Loop,
        Kind::ReadCoinbase,
        Kind::Destruct(2),
        Kind::Create,
        Kind::Nested,
    ];
    let spec = Spec {
        fork: Fork::Shanghai,
        beneficiary: None,
        txs: kinds.iter().map(|k| (0, k.clone(), false)).collect(),
    };
    // Every fork's blocks are valid, Prague's (whose request contracts must exist) too.
    for fork in [Fork::Berlin, Fork::Cancun, Fork::Prague] {
        let (block, state) = build(&Spec {
            fork,
            ..spec.clone()
        });
        assert!(
            execute_block(&block, &state, &Sequential, 1).is_ok(),
            "{fork:?}"
        );
    }
    let (block, state) = build(&spec);
    let out = execute_block(&block, &state, &Sequential, 1).unwrap();
    let status: Vec<bool> = out.txs.iter().map(|t| t.receipt.success).collect();
    assert_eq!(status, vec![true, false, false, true, true, true, true]);
    let slot =
        |i: usize, a: Address, k: u64| out.txs[i].changes[&a].storage.get(&U256::from(k)).copied();
    assert_eq!(slot(0, contracts::INC, 1), Some(U256::from(1)));
    assert!(
        slot(3, contracts::COINBASE, 0).is_some(),
        "coinbase balance stored"
    );
    assert_eq!(
        out.txs[4].changes[&contracts::DESTRUCT].info,
        None,
        "self-destructed (Shanghai)"
    );
    assert!(
        slot(5, contracts::CREATE, 0).is_some_and(|v| !v.is_zero()),
        "created address stored"
    );
    assert_eq!(
        slot(6, contracts::INC, 0),
        Some(U256::from(8)),
        "nested call incremented INC"
    );
}

#[test]
fn invalid_transactions_get_the_sequential_verdict() {
    let spec = Spec {
        fork: Fork::Cancun,
        beneficiary: None,
        txs: (0..12).map(|i| (i % 3, Kind::Inc(0), false)).collect(),
    };
    let (block, state) = build(&spec);
    let mut cases: Vec<(&str, Block)> = Vec::new();
    let mut b = block.clone();
    b.transactions[7].env.nonce += 5;
    cases.push(("nonce too high", b));
    let mut b = block.clone();
    b.transactions[4].env.nonce = 0;
    cases.push(("nonce too low", b));
    let mut b = block.clone();
    b.transactions[9].env.value = U256::from(10u128.pow(24));
    cases.push(("insufficient funds", b));
    let mut b = block.clone();
    b.transactions[3].env.gas_limit = 40_000_000;
    cases.push(("gas above the block limit", b));
    for (what, b) in cases {
        let seq = execute_block(&b, &state, &Sequential, 1).expect_err(what);
        for threads in [1, 2, 4, 8] {
            let par =
                execute_block(&b, &state, &BlockStm::ALWAYS_SPECULATIVE, threads).expect_err(what);
            assert_eq!(seq, par, "{what} x{threads}");
        }
    }
}

/// Plain transfers run with lazy senders (a stand-in balance and the transaction's own nonce,
/// checked by the commit): one sender's chain whose funds run out only because of its earlier
/// transfers, the same chain saved by a credit in between, a contract call and a
/// self-destruct paying the sender in the middle of the chain, and nonce gaps.
#[test]
fn lazy_senders_get_the_sequential_verdict() {
    let t = Kind::Transfer;
    // Sender 0 pays 1..=4 five times; sender 1 sends to 0 at index 5.
    let txs: Vec<(usize, Kind, bool)> = vec![
        (0, t(1), false),
        (0, t(2), false),
        (2, t(3), false),
        (0, t(3), false),
        (0, t(4), false),
        (1, t(0), false),
        (0, t(1), false),
        (3, t(0), false),
        (0, t(2), false),
    ];
    let eth = |x: u128| U256::from(x * 10u128.pow(18));
    let base = |fork, beneficiary| {
        build(&Spec {
            fork,
            beneficiary,
            txs: txs.clone(),
        })
    };
    // A fresh beneficiary, and the chain's sender as beneficiary (a mining pool's payouts).
    for (fork, beneficiary) in [
        (Fork::Berlin, None),
        (Fork::Cancun, None),
        (Fork::Berlin, Some(0)),
        (Fork::Cancun, Some(0)),
    ] {
        let (block, state) = base(fork, beneficiary);
        let mut cases: Vec<(&str, Block)> = vec![("plain chain", block.clone())];
        // Senders start with 100 ETH; 30 ETH each: sender 0's fifth transfer (index 6) cannot
        // be paid ...
        let mut b = block.clone();
        for i in [0, 1, 3, 6] {
            b.transactions[i].env.value = eth(30);
        }
        b.transactions[5].env.value = eth(1);
        cases.push(("funds run out mid-chain", b.clone()));
        // ... unless sender 1 pays it enough first.
        b.transactions[5].env.value = eth(90);
        cases.push(("saved by a credit", b));
        // A contract call and a self-destruct paying sender 0 inside its chain.
        let mut mixed = txs.clone();
        mixed[4] = (0, Kind::Inc(1), false);
        mixed[7] = (3, Kind::Destruct(0), false);
        let (b, _) = build(&Spec {
            fork,
            beneficiary: Some(4),
            txs: mixed,
        });
        cases.push(("call and self-destruct inside the chain", b));
        let mut b = block.clone();
        b.transactions[4].env.nonce += 1;
        cases.push(("nonce gap", b));
        let mut b = block.clone();
        b.transactions[6].env.nonce = 1;
        cases.push(("nonce reused", b));
        for (what, b) in cases {
            for threads in [1, 2, 4, 8] {
                if let Err(e) = same_verdict(&b, &state, threads) {
                    panic!("{fork:?} beneficiary {beneficiary:?} {what}: {e}");
                }
            }
        }
        // The mid-chain failure really is one (the test would otherwise prove little).
        let mut b = block.clone();
        for i in [0, 1, 3, 6] {
            b.transactions[i].env.value = eth(30);
        }
        b.transactions[5].env.value = eth(1);
        let err = execute_block(&b, &state, &Sequential, 1).expect_err("funds run out");
        assert!(format!("{err}").contains("transaction 6"), "{err}");
    }
}

/// A state whose reads of one address panic, as a broken backend might.
struct Panicking<'a>(&'a InMemoryState, Address);

impl StateView for Panicking<'_> {
    fn account(&self, a: Address) -> Result<Option<AccountInfo>, StateError> {
        assert!(a != self.1, "backend failure reading {a}");
        self.0.account(a)
    }
    fn code_by_hash(&self, h: B256) -> Result<Bytecode, StateError> {
        self.0.code_by_hash(h)
    }
    fn storage(&self, a: Address, k: U256) -> Result<U256, StateError> {
        self.0.storage(a, k)
    }
    fn block_hash(&self, n: u64) -> Result<B256, StateError> {
        self.0.block_hash(n)
    }
}

#[test]
fn a_panicking_worker_is_an_error_not_a_deadlock() {
    let spec = Spec {
        fork: Fork::Cancun,
        beneficiary: None,
        txs: (0..30)
            .map(|i| (i % EOAS, Kind::Transfer((i + 1) % EOAS), false))
            .collect(),
    };
    let (mut block, state) = build(&spec);
    let poisoned = Address::with_last_byte(0xee);
    block.transactions[17].env.kind = TxKind::Call(poisoned);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let view = Panicking(&state, poisoned);
        let engine = parevm::Engine::new(4).unwrap();
        // (`block-stm` runs a block this small sequentially: the variant speculates.)
        let results: Vec<_> = strategy::registry()
            .into_iter()
            .chain(strategy::variants())
            .map(|s| (s.name(), engine.execute(&block, &view, s)))
            .collect();
        // The engine's threads survive the panics and run the block on a healthy state.
        let reference = execute_block(&block, &state, &Sequential, 1).unwrap();
        for s in strategy::parallel() {
            let out = engine.execute(&block, &state, s).unwrap();
            assert_eq!(reference.first_difference(&out), None, "{}", s.name());
        }
        tx.send(
            results
                .into_iter()
                .map(|(n, r)| (n, r.err()))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    });
    let results = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("no deadlock");
    for (name, err) in results {
        match err {
            Some(ExecError::Panic { message, .. }) => {
                assert!(message.contains("backend failure"), "{name}: {message}")
            }
            other => panic!("{name}: expected a panic error, got {other:?}"),
        }
    }
}

#[test]
fn only_one_worker_or_a_tiny_block_runs_sequentially() {
    use parevm::sources::workload::{self, WorkloadKind, WorkloadSpec};
    // (The size rules alone: the default's measured start is checked below.)
    let stm = &BlockStm::DEFAULT.with_start(Start::Parallel);
    let run = |block: &Block, state: &InMemoryState, threads| {
        let reference = execute_block(block, state, &Sequential, 1).unwrap();
        let out = execute_block(block, state, stm, threads).unwrap();
        assert_eq!(reference.first_difference(&out), None);
        out.stats
    };
    // 95 plain transfers, 2M gas: parallel at two threads, sequential at one.
    let (big, state) = workload::generate(&WorkloadSpec::new(WorkloadKind::Transfers, 2_000_000));
    let limits: u64 = big.transactions.iter().map(|t| t.env.gas_limit).sum();
    assert!(limits >= 1_000_000, "{limits}");
    let stats = run(&big, &state, 2);
    assert_eq!(stats.fallbacks, 0);
    assert!(stats.counter("validations") > 0, "{stats:?}");
    assert_eq!(run(&big, &state, 1).fallbacks, 1);
    // One transaction: nothing to run beside it.
    let mut one = big.clone();
    one.transactions.truncate(1);
    assert_eq!(run(&one, &state, 4).fallbacks, 1);
    // Under 1M gas of limits: tiny.
    let mut tiny = big.clone();
    tiny.transactions.truncate(47);
    assert_eq!(run(&tiny, &state, 4).fallbacks, 1);
    // The variant speculates on all of them.
    let spec = execute_block(&tiny, &state, &BlockStm::ALWAYS_SPECULATIVE, 1).unwrap();
    assert_eq!(spec.stats.fallbacks, 0);
    assert_eq!(spec.stats.strategy, "block-stm-speculative");
}

#[test]
fn the_measured_start_finishes_small_blocks_and_runs_big_ones_in_parallel() {
    use parevm::sources::workload::{self, WorkloadKind, WorkloadSpec};
    use std::time::Duration;
    let check = |stm: &BlockStm, block: &Block, state: &InMemoryState| {
        let reference = execute_block(block, state, &Sequential, 1).unwrap();
        let out = execute_block(block, state, stm, 2).unwrap();
        assert_eq!(reference.first_difference(&out), None);
        out.stats
    };
    let (block, state) = workload::generate(&WorkloadSpec::new(WorkloadKind::Erc20, 60_000_000));
    let n = block.transactions.len() as u64;
    // The default: 60M gas of token transfers is milliseconds of work, far above the bar.
    let stats = check(&BlockStm::DEFAULT, &block, &state);
    assert_eq!(stats.fallbacks, 0, "{stats:?}");
    assert!(
        stats.sequential_start < n && stats.counter("validations") > 0,
        "{stats:?}"
    );
    // Clock-independent: a bar nothing reaches finishes it sequentially; a bar of zero, which
    // any block reaches, skips the probe and runs it all in parallel.
    let never = BlockStm::DEFAULT.with_start(Start::Measured {
        probe: Duration::ZERO,
        min_parallel: Duration::from_secs(3600),
    });
    let stats = check(&never, &block, &state);
    assert_eq!(
        (
            stats.fallbacks,
            stats.executions,
            stats.counter("validations")
        ),
        (1, n, 0)
    );
    let always = BlockStm::DEFAULT.with_start(Start::Measured {
        probe: Duration::ZERO,
        min_parallel: Duration::ZERO,
    });
    let stats = check(&always, &block, &state);
    assert_eq!(
        (stats.fallbacks, stats.sequential_start),
        (0, 0),
        "{stats:?}"
    );
    // A fixed seam: the stats count both parts.
    let stats = check(
        &BlockStm::DEFAULT.with_start(Start::After(100)),
        &block,
        &state,
    );
    assert_eq!(stats.sequential_start, 100);
    assert_eq!(stats.executions, n + stats.re_executions, "{stats:?}");
}

/// Repeats every mainnet fixture block many times at several thread counts, to shake out
/// rare interleavings. Run with `cargo test --release -p parevm --test block_stm -- --ignored`.
#[test]
#[ignore = "stress test: minutes of runtime; run on demand (see README)"]
fn stress_mainnet_fixtures() {
    use parevm::{
        ChainSpec,
        sources::{fixtures::fixtures_or_skip, rpc::BlockFolder},
    };
    let Some(f) = fixtures_or_skip("stress") else {
        return;
    };
    let iterations: usize = std::env::var("PAREVM_STRESS_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let blocks: Vec<_> = BlockFolder::discover(&f.join("mainnet"))
        .unwrap()
        .iter()
        .map(|b| b.load(&ChainSpec::mainnet()).unwrap())
        .collect();
    let references: Vec<_> = blocks
        .iter()
        .map(|(b, s)| execute_block(b, s, &Sequential, 1).unwrap())
        .collect();
    for it in 0..iterations {
        for ((block, state), reference) in blocks.iter().zip(&references) {
            let threads = [1, 2, 3, 4, 8][it % 5];
            let out = execute_block(block, state, &BlockStm::ALWAYS_SPECULATIVE, threads).unwrap();
            assert!(
                reference.first_difference(&out).is_none(),
                "iteration {it}, block {}, x{threads}",
                block.number()
            );
        }
    }
}
