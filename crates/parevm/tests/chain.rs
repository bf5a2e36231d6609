//! Chains of blocks through the persistent store and the pipeline: every ValidBlocks chain
//! under every strategy, each block's root checked against its header by the store before it
//! commits, pipelined and not; and a synthetic chain of 200 blocks whose roots equal the
//! in-memory computation.

use parevm::{
    Engine,
    conformance::{blocktest, json_files},
    pipeline::{self, Pipeline},
    sources::{
        fixtures::fixtures_or_skip,
        workload::{self, WorkloadKind, WorkloadSpec},
    },
    store::{Head, Store},
    strategy,
};
use std::path::PathBuf;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("parevm-chain-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn every_valid_blocks_chain_runs_through_the_store_under_every_strategy() {
    let Some(fixtures) = fixtures_or_skip("chain") else {
        return;
    };
    let files = json_files(&fixtures.join("ethereum-tests/BlockchainTests/ValidBlocks")).unwrap();
    let engine = Engine::new(2).unwrap();
    let d = dir("valid-blocks");
    let (mut chains, mut blocks) = (0, 0);
    for file in &files {
        for chain in blocktest::chains(file).unwrap() {
            if chain.blocks.is_empty() {
                continue;
            }
            for (k, s) in strategy::registry().into_iter().enumerate() {
                let _ = std::fs::remove_dir_all(&d);
                let head = Head {
                    number: chain.blocks[0].number() - 1,
                    hash: chain.genesis_hash,
                    state_root: chain.genesis_root,
                };
                let store = Store::create(&d, &chain.genesis, head, 4)
                    .unwrap_or_else(|e| panic!("{}: {e}", chain.name));
                let mode = if k % 2 == 0 {
                    Pipeline::On
                } else {
                    Pipeline::Off
                };
                let report = pipeline::run(
                    &store,
                    chain.blocks.iter().cloned(),
                    s,
                    &engine,
                    mode,
                    true,
                    &|_, _| (),
                )
                .unwrap_or_else(|e| panic!("{} with {}: {e}", chain.name, s.name()));
                assert_eq!(report.blocks as usize, chain.blocks.len());
                let last = chain.blocks.last().unwrap();
                assert_eq!(store.head().unwrap().state_root, last.header.state_root);
                blocks += chain.blocks.len();
            }
            chains += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&d);
    assert!(chains > 300, "{chains} chains, {blocks} blocks");
}

#[test]
fn a_synthetic_chain_of_200_blocks_keeps_the_in_memory_roots_under_every_strategy() {
    let spec = WorkloadSpec::new(WorkloadKind::Mixed, 150_000);
    let (blocks, genesis) = workload::chain(&spec, 200);
    let engine = Engine::new(2).unwrap();
    let mut roots = Vec::new();
    for (k, s) in strategy::registry().into_iter().enumerate() {
        let mode = if k % 2 == 0 {
            Pipeline::On
        } else {
            Pipeline::Off
        };
        let d = dir(&format!("synthetic-{}", s.name()));
        let head = Head {
            number: workload::FIRST_NUMBER - 1,
            hash: workload::genesis_hash(),
            state_root: Default::default(),
        };
        let store = Store::create(&d, &genesis, head, 16).unwrap();
        let report = pipeline::run(
            &store,
            blocks.iter().cloned(),
            s,
            &engine,
            mode,
            false,
            &|_, _| (),
        )
        .unwrap();
        assert_eq!(report.blocks, 200);
        roots.push(store.head().unwrap().state_root);
        let (computed, stored) = store.verify().unwrap();
        assert_eq!(computed, stored);
        let _ = std::fs::remove_dir_all(&d);
    }
    let mut memory = genesis.clone();
    for b in &blocks {
        let out = engine
            .execute(b, &memory, &strategy::sequential::Sequential)
            .unwrap();
        out.all_changes().for_each(|c| memory.apply(c));
    }
    assert_eq!(roots, vec![memory.state_root(); strategy::registry().len()]);
}
