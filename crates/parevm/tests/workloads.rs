//! Every generated block is valid (every transaction succeeds when executed sequentially) and
//! the hot / chain knobs create exactly the dependencies they claim.

use alloy_primitives::{Address, map::HashMap};
use parevm::{
    BlockOutput, execute_block,
    sources::workload::{self, WorkloadKind, WorkloadSpec, contracts::balance_slot},
    strategy::sequential::Sequential,
};

fn run(kind: WorkloadKind, hot: f64) -> (parevm::Block, BlockOutput) {
    let spec = WorkloadSpec {
        kind,
        gas_target: 3_000_000,
        accounts: 5_000,
        hot_ratio: hot,
        seed: 7,
    };
    let (block, state) = workload::generate(&spec);
    assert_eq!(block.transactions.len(), spec.tx_count());
    let out = execute_block(&block, &state, &Sequential, 1).expect("executes");
    for (i, t) in out.txs.iter().enumerate() {
        assert!(
            t.receipt.success,
            "{}: transaction {i} failed",
            spec.label()
        );
    }
    assert!(out.gas_used <= block.header.gas_limit);
    (block, out)
}

/// How many transactions wrote each address (the beneficiary, paid by all, excluded).
fn writers(block: &parevm::Block, out: &BlockOutput) -> HashMap<Address, usize> {
    let mut m: HashMap<Address, usize> = HashMap::default();
    for t in &out.txs {
        for a in t.changes.keys().filter(|a| **a != block.header.beneficiary) {
            *m.entry(*a).or_default() += 1;
        }
    }
    m
}

#[test]
fn independent_workloads_share_no_written_account_but_contracts() {
    for kind in [
        WorkloadKind::Transfers,
        WorkloadKind::Erc20,
        WorkloadKind::Swaps,
        WorkloadKind::Mixed,
    ] {
        let (block, out) = run(kind, 0.0);
        let w = writers(&block, &out);
        let shared: Vec<_> = w
            .iter()
            .filter(|(a, n)| **n > 1 && **a != workload::erc20_token())
            .collect();
        assert!(
            shared.is_empty(),
            "{kind:?}: accounts written by several transactions: {shared:?}"
        );
        if kind == WorkloadKind::Erc20 {
            // One token contract, but every transfer writes its own two balance slots.
            let mut slots: HashMap<_, usize> = HashMap::default();
            for t in &out.txs {
                for s in t.changes[&workload::erc20_token()].storage.keys() {
                    *slots.entry(*s).or_default() += 1;
                }
            }
            assert!(
                slots.values().all(|n| *n == 1),
                "ERC-20 slots written twice"
            );
        }
    }
}

#[test]
fn hot_ratio_routes_transactions_to_hot_accounts() {
    let (_, out) = run(WorkloadKind::Transfers, 1.0);
    let hot: Vec<Address> = (0..workload::HOT_ACCOUNTS)
        .map(workload::hot_account)
        .collect();
    assert!(
        out.txs
            .iter()
            .all(|t| t.changes.keys().any(|a| hot.contains(a)))
    );
    let (_, out) = run(WorkloadKind::Transfers, 0.5);
    let n = out
        .txs
        .iter()
        .filter(|t| t.changes.keys().any(|a| hot.contains(a)))
        .count();
    assert!(
        n > out.txs.len() / 4 && n < out.txs.len() * 3 / 4,
        "{n} of {} hot",
        out.txs.len()
    );
    let (_, out) = run(WorkloadKind::Erc20, 1.0);
    let slot = balance_slot(workload::hot_account(0));
    assert!(out.txs.iter().all(|t| {
        t.changes[&workload::erc20_token()]
            .storage
            .contains_key(&slot)
    }));
    let (_, out) = run(WorkloadKind::Swaps, 1.0);
    assert!(
        out.txs
            .iter()
            .all(|t| t.changes.contains_key(&workload::pair(0)))
    );
}

#[test]
fn chain_makes_every_transaction_depend_on_the_previous() {
    let (block, out) = run(WorkloadKind::TransferChain, 0.0);
    let sender = block.transactions[0].env.caller;
    for (i, (tx, o)) in block.transactions.iter().zip(&out.txs).enumerate() {
        // Same sender, next nonce: transaction i reads what transaction i-1 wrote.
        assert_eq!(tx.env.caller, sender);
        assert_eq!(tx.env.nonce, i as u64);
        assert_eq!(o.changes[&sender].info.unwrap().1, i as u64 + 1);
    }
}

/// `storage-chain`: every transaction writes the one slot the next one reads, each a new
/// value; `hot-contract`: distinct senders, each writing the one counter, one up each time.
#[test]
fn storage_chain_and_hot_contract_are_chains_through_one_slot() {
    use alloy_primitives::U256;
    for (kind, contract) in [
        (WorkloadKind::StorageChain, workload::storage_chain()),
        (WorkloadKind::HotContract, workload::hot_counter()),
    ] {
        let (block, out) = run(kind, 0.0);
        let mut values = Vec::new();
        for (i, o) in out.txs.iter().enumerate() {
            let storage = &o.changes[&contract].storage;
            assert_eq!(storage.len(), 1, "{kind:?} tx {i}");
            values.push(storage[&U256::ZERO]);
        }
        let distinct: std::collections::HashSet<_> = values.iter().collect();
        assert_eq!(distinct.len(), values.len(), "{kind:?}: every write is new");
        if kind == WorkloadKind::HotContract {
            let senders: std::collections::HashSet<_> =
                block.transactions.iter().map(|t| t.env.caller).collect();
            assert_eq!(senders.len(), block.transactions.len());
            assert_eq!(values.last(), Some(&U256::from(1 + values.len())));
        }
    }
}

/// Block-STM on the serial shapes: the same output as sequential execution whether or not its
/// serial bail-out hands the rest of the block to the sequential strategy mid-run.
#[test]
fn serial_blocks_equal_sequential_through_the_bail_out() {
    use parevm::strategy::block_stm::BlockStm;
    for kind in [WorkloadKind::StorageChain, WorkloadKind::HotContract] {
        let (block, state) = workload::generate(&WorkloadSpec::new(kind, 30_000_000));
        let reference = execute_block(&block, &state, &Sequential, 1).unwrap();
        let mut bailed = 0;
        for threads in [2, 4, 2, 4] {
            let out = execute_block(&block, &state, &BlockStm::DEFAULT, threads).unwrap();
            assert_eq!(
                reference.first_difference(&out),
                None,
                "{kind:?} x{threads}"
            );
            bailed += out.stats.fallbacks;
        }
        // (Whether a run bails depends on its timing: most do.)
        eprintln!("{kind:?}: {bailed} of 4 runs finished sequentially");
    }
}

#[test]
fn generation_is_deterministic() {
    let spec = WorkloadSpec::new(WorkloadKind::Mixed, 2_000_000);
    let (a, sa) = workload::generate(&spec);
    let (b, sb) = workload::generate(&spec);
    assert_eq!(a.header, b.header);
    assert_eq!(sa.state_root(), sb.state_root());
    assert!(
        a.transactions
            .iter()
            .zip(&b.transactions)
            .all(|(x, y)| x.hash == y.hash && x.env == y.env)
    );
}
