//! Access predictors against what sequential execution touched: the static analysis is exact
//! on the synthetic token and swap workloads, the block's access list gives every write, and
//! every predictor gives one prediction per transaction of the mainnet fixtures.

use parevm::{
    ChainSpec, Engine, Fork, Workers, bal,
    predict::{self, Score, truth},
    sources::{
        fixtures::fixtures_or_skip,
        rpc::BlockFolder,
        workload::{self, WorkloadKind, WorkloadSpec},
    },
    strategy::sequential::Sequential,
};

fn spec(kind: WorkloadKind) -> WorkloadSpec {
    WorkloadSpec {
        kind,
        gas_target: 5_000_000,
        accounts: 1_000,
        hot_ratio: 0.0,
        seed: 7,
    }
}

#[test]
fn static_analysis_predicts_tokens_and_swaps_exactly() {
    let workers = Workers::new(2).unwrap();
    for kind in [
        WorkloadKind::Erc20,
        WorkloadKind::Swaps,
        WorkloadKind::Transfers,
    ] {
        let (block, state) = workload::generate(&spec(kind));
        let (actual, _) = truth(&block, &state).unwrap();
        let predicted = predict::bytecode::Static::DEFAULT
            .analyze_all(&block, &state, &workers)
            .unwrap();
        let s = Score::of(&predicted, &actual);
        let what = kind.name();
        assert_eq!(s.read_recall(), 1.0, "{what}: {s:?}");
        assert_eq!(s.write_recall(), 1.0, "{what}: {s:?}");
        assert!(s.read_precision() >= 0.95, "{what}: {s:?}");
        assert!(s.write_precision() >= 0.95, "{what}: {s:?}");
        assert_eq!(s.partial, 0, "{what}: {s:?}");
    }
}

#[test]
fn every_predictor_covers_the_mainnet_blocks_and_lists_give_every_write() {
    let Some(fixtures) = fixtures_or_skip("predict") else {
        return;
    };
    let workers = Workers::new(2).unwrap();
    let folders = BlockFolder::discover(&fixtures.join("mainnet")).expect("mainnet fixtures");
    for folder in &folders {
        let (mut block, state) = folder.load(&ChainSpec::mainnet()).unwrap();
        let what = folder.name();
        block.record_access = true;
        let out = Engine::new(1)
            .unwrap()
            .execute(&block, &state, &Sequential)
            .unwrap();
        block.set_access_list(bal::build(&block, &state, &out).unwrap());
        let (actual, _) = truth(&block, &state).unwrap();
        for p in predict::predictors() {
            let predicted = p
                .predict(&block, &state, &workers)
                .unwrap()
                .expect("has hints");
            assert_eq!(predicted.len(), actual.len(), "{what}: {}", p.name());
            let s = Score::of(&predicted, &actual);
            // (Before Cancun a self-destruct wipes slots the list states as zeroed and a
            // transaction's changes do not name; before EIP-161 a list cannot state an
            // account created empty: see `parevm::bal`.)
            if p.name() == "bal" && block.fork.at_least(Fork::Cancun) {
                assert_eq!(s.write_recall(), 1.0, "{what}: {s:?}");
                assert_eq!(s.write_precision(), 1.0, "{what}: {s:?}");
            }
        }
    }
}
