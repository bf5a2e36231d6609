//! Engines own their worker threads: several run blocks at once (each on its own threads, or
//! one engine shared by several callers) and every block still equals sequential execution.

use parevm::{
    Engine, ExecError, execute_block,
    sources::workload::{self, WorkloadKind, WorkloadSpec},
    strategy::{self, sequential::Sequential},
};

fn blocks() -> Vec<(parevm::Block, parevm::InMemoryState)> {
    [
        WorkloadKind::Erc20,
        WorkloadKind::StorageChain,
        WorkloadKind::Mixed,
    ]
    .into_iter()
    .map(|kind| {
        workload::generate(&WorkloadSpec {
            kind,
            gas_target: 2_000_000,
            accounts: 500,
            hot_ratio: 0.1,
            seed: 3,
        })
    })
    .collect()
}

/// Runs every block with every parallel strategy on `engine`, checking each against `expected`.
fn run_all(
    engine: &Engine,
    blocks: &[(parevm::Block, parevm::InMemoryState)],
    expected: &[parevm::BlockOutput],
) {
    for _ in 0..3 {
        for ((block, state), reference) in blocks.iter().zip(expected) {
            for s in strategy::parallel() {
                let out = engine.execute(block, state, s).expect("executes");
                assert_eq!(out.stats.threads, engine.threads());
                if let Some(diff) = reference.first_difference(&out) {
                    panic!("{} x{}: {diff}", s.name(), engine.threads());
                }
            }
        }
    }
}

fn references(blocks: &[(parevm::Block, parevm::InMemoryState)]) -> Vec<parevm::BlockOutput> {
    blocks
        .iter()
        .map(|(b, s)| execute_block(b, s, &Sequential, 1).expect("sequential"))
        .collect()
}

#[test]
fn engines_run_blocks_at_the_same_time_on_their_own_threads() {
    let blocks = blocks();
    let expected = references(&blocks);
    std::thread::scope(|scope| {
        for threads in [2, 3, 4] {
            let (blocks, expected) = (&blocks, &expected);
            scope.spawn(move || run_all(&Engine::new(threads).unwrap(), blocks, expected));
        }
    });
}

#[test]
fn one_engine_serves_several_callers_at_once() {
    let blocks = blocks();
    let expected = references(&blocks);
    let engine = Engine::new(2).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| run_all(&engine, &blocks, &expected));
        }
    });
}

#[test]
fn zero_threads_is_an_error_that_says_so() {
    let err = Engine::new(0).unwrap_err();
    assert!(matches!(err, ExecError::Workers(_)), "{err:?}");
    assert!(err.to_string().contains("at least 1"), "{err}");
    let (block, state) = parevm::sources::example::transfer_block(4);
    let err = execute_block(&block, &state, &Sequential, 0).unwrap_err();
    assert!(matches!(err, ExecError::Workers(_)), "{err:?}");
}

#[test]
fn the_reference_runs_on_one_thread_whatever_the_engine_has() {
    let (block, state) = parevm::sources::example::transfer_block(4);
    let out = Engine::new(4)
        .unwrap()
        .execute(&block, &state, &Sequential)
        .unwrap();
    assert_eq!(out.stats.threads, 1);
}
