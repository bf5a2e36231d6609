//! The engine's overhead over bare revm: `execute_block` with the sequential strategy versus
//! a plain `transact_commit` loop over revm's `CacheDB` on the same mainnet blocks and the
//! same pre-state. The bare loop builds no receipts, state-change sets or roots, so the gap
//! is everything parevm adds around the EVM.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{Criterion, criterion_group, criterion_main};
use parevm::{
    ChainSpec, execute_block,
    sources::{fixtures::fixtures_dir, rpc::BlockFolder},
    state::RevmDb,
    strategy::sequential::Sequential,
};
use revm::{Context, ExecuteCommitEvm, MainBuilder, MainContext, database::CacheDB};

#[path = "support/allocator.rs"]
mod allocator;

const BLOCKS: [&str; 3] = ["14396881", "15274915", "17666333"];

fn overhead(c: &mut Criterion) {
    allocator::configure();
    let Some(fixtures) = fixtures_dir() else {
        eprintln!("overhead bench: SKIPPED: fixtures folder not found");
        return;
    };
    let chain = ChainSpec::mainnet();
    let mut group = c.benchmark_group("overhead");
    group.sample_size(20);
    for name in BLOCKS {
        let folder = BlockFolder {
            dir: fixtures.join("mainnet").join(name),
        };
        let (block, state) = folder.load(&chain).expect("fixture");
        group.bench_function(format!("{name}/parevm-sequential"), |b| {
            b.iter(|| execute_block(&block, &state, &Sequential, 1).expect("executes"))
        });
        group.bench_function(format!("{name}/bare-revm"), |b| {
            b.iter(|| {
                let mut evm = Context::mainnet()
                    .with_db(CacheDB::new(RevmDb(&state)))
                    .with_block(block.block_env())
                    .with_cfg(block.cfg_env())
                    .build_mainnet();
                for tx in &block.transactions {
                    evm.transact_commit(tx.env.clone()).expect("executes");
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
