//! The parallelism profiler on executed blocks: a storage chain has no parallelism, ERC-20
//! transfers between distinct holders are independent, plain transfers are linked only by
//! commutative updates, and every mainnet fixture profiles with a consistent graph.

use parevm::{
    ChainSpec,
    profile::{self, BlockProfile, Options, graph::Kind},
    sources::{
        fixtures::fixtures_or_skip,
        rpc::BlockFolder,
        workload::{self, WorkloadKind, WorkloadSpec},
    },
};

fn options(count_commutative: bool) -> Options {
    Options {
        count_commutative,
        passes: 3,
        threads_max: 8,
        iterations: 0,
        efficiency: 1.0,
    }
}

fn workload(kind: WorkloadKind, gas: u64, count_commutative: bool) -> BlockProfile {
    let (block, state) = workload::generate(&WorkloadSpec::new(kind, gas));
    profile::profile("w", &block, &state, options(count_commutative)).unwrap()
}

fn edges(p: &BlockProfile, kind: Kind) -> usize {
    p.edges.get(&kind).copied().unwrap_or(0)
}

#[test]
fn a_storage_chain_has_no_parallelism() {
    let p = workload(WorkloadKind::StorageChain, 3_000_000, false);
    assert!(p.txs > 50);
    assert_eq!(edges(&p, Kind::Conflict), p.txs - 1);
    assert_eq!((p.longest_chain, p.critical_path_gas), (p.txs, p.work_gas));
    assert!(p.parallelism_bound < 1.1, "{}", p.parallelism_bound);
    assert_eq!(p.independent_share, 1.0 / p.txs as f64);
    for (name, curve) in &p.projections {
        match name.as_str() {
            // (Its list gives every transaction the values it reads: it never waits.)
            "bal" => assert!(curve[7] > 7.0, "{curve:?}"),
            _ => assert!(curve[7] < 1.1, "{name} beats a chain: {curve:?}"),
        }
    }
}

#[test]
fn erc20_transfers_between_distinct_holders_are_independent() {
    let p = workload(WorkloadKind::Erc20, 30_000_000, false);
    assert_eq!(edges(&p, Kind::Conflict), 0);
    assert_eq!(edges(&p, Kind::Fee), p.txs - 1, "every fee after the first");
    assert_eq!(p.independent_share, 1.0);
    let gas_bound = p.work_gas as f64 / p.critical_path_gas as f64;
    assert!(gas_bound > 100.0, "{gas_bound}");
    // (By measured time the largest transaction sets the bound; a timer hiccup on a busy
    // machine can inflate one, so the measured bound is held to a looser floor here.)
    assert!(p.parallelism_bound > 20.0, "{}", p.parallelism_bound);
    assert!(p.projections["bal"][7] > 7.0, "eight workers, no waits");
}

#[test]
fn plain_transfers_are_linked_only_by_commutative_updates_unless_counted() {
    let apart = workload(WorkloadKind::Transfers, 3_000_000, false);
    assert_eq!(edges(&apart, Kind::Conflict), 0);
    assert!(edges(&apart, Kind::Fee) > 0);
    assert_eq!(apart.independent_share, 1.0);
    let counted = workload(WorkloadKind::Transfers, 3_000_000, true);
    assert_eq!(
        edges(&counted, Kind::Conflict),
        counted.txs - 1,
        "the fee chain"
    );
    assert_eq!(counted.longest_chain, counted.txs);
}

#[test]
fn every_mainnet_fixture_profiles_with_a_consistent_graph() {
    let Some(fixtures) = fixtures_or_skip("profile") else {
        return;
    };
    let root = fixtures.join("mainnet");
    let chain = ChainSpec::mainnet();
    for folder in BlockFolder::discover(&root).unwrap() {
        let (block, state) = folder.load(&chain).unwrap();
        let p = profile::profile(&folder.name(), &block, &state, options(false))
            .unwrap_or_else(|e| panic!("{}: {e}", folder.name()));
        assert_eq!(p.txs, block.transactions.len());
        assert!(p.critical_path_gas <= p.work_gas);
        assert!(p.parallelism_bound >= 1.0 - 1e-9, "{}", folder.name());
        assert!(p.longest_chain <= p.txs.max(1));
        let counted = p.graph.dependencies();
        assert!(
            counted
                .iter()
                .enumerate()
                .all(|(j, d)| d.iter().all(|i| *i < j))
        );
        assert_eq!(p.projections.len(), 11, "every strategy projected");
    }
}
