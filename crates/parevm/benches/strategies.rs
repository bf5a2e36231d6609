//! Every registered strategy against sequential on each shared mainnet block and on the
//! synthetic workloads (30M gas). `parevm bench` gives the interleaved medians and ratios the
//! README reports; this is the criterion view of the same comparison.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{Criterion, criterion_group, criterion_main};
use parevm::{
    ChainSpec, Engine,
    sources::{
        fixtures::fixtures_dir,
        rpc::BlockFolder,
        workload::{self, WorkloadKind, WorkloadSpec},
    },
    strategy,
};
use std::time::Duration;

#[path = "support/allocator.rs"]
mod allocator;

fn configs() -> Vec<(&'static dyn parevm::Strategy, usize)> {
    strategy::registry()
        .into_iter()
        .flat_map(|s| {
            if s.name() == "sequential" {
                vec![(s, 1)]
            } else {
                vec![(s, 1), (s, 2)]
            }
        })
        .collect()
}

fn mainnet(c: &mut Criterion) {
    allocator::configure();
    let Some(fixtures) = fixtures_dir() else {
        eprintln!("mainnet bench: SKIPPED: fixtures folder not found");
        return;
    };
    let mut group = c.benchmark_group("mainnet");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for folder in BlockFolder::discover(&fixtures.join("mainnet")).expect("fixtures") {
        let (block, state) = folder.load(&ChainSpec::mainnet()).expect("fixture");
        for (s, threads) in configs() {
            let engine = Engine::new(threads).expect("threads");
            group.bench_function(format!("{}/{}-x{threads}", folder.name(), s.name()), |b| {
                b.iter(|| engine.execute(&block, &state, s).expect("executes"))
            });
        }
    }
    group.finish();
}

fn workloads(c: &mut Criterion) {
    allocator::configure();
    let mut group = c.benchmark_group("workloads");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for kind in WorkloadKind::ALL {
        let spec = WorkloadSpec::new(kind, 30_000_000);
        let (block, state) = workload::generate(&spec);
        for (s, threads) in configs() {
            let engine = Engine::new(threads).expect("threads");
            group.bench_function(format!("{}/{}-x{threads}", kind.name(), s.name()), |b| {
                b.iter(|| engine.execute(&block, &state, s).expect("executes"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, workloads, mainnet);
criterion_main!(benches);
