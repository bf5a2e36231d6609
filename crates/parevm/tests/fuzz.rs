//! The differential property test on adversarial blocks: every registered strategy and
//! variant, at 1, 2, 4 and 8 threads, against sequential execution, on 1,000 blocks (see
//! `parevm::sources::adversarial` for what the blocks contain). `PAREVM_FUZZ_BLOCKS=N` runs
//! more blocks; `parevm fuzz` runs many more.

use parevm::{Engine, fuzz::check_seed, sources::adversarial::Limits, strategy};

#[test]
fn every_strategy_equals_sequential_on_adversarial_blocks() {
    let blocks: u64 = std::env::var("PAREVM_FUZZ_BLOCKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000);
    let first: u64 = std::env::var("PAREVM_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let strategies = strategy::parallel();
    let engines: Vec<Engine> = [1, 2, 4, 8]
        .into_iter()
        .map(|t| Engine::new(t).unwrap())
        .collect();
    let mut failures = Vec::new();
    for seed in first..first + blocks {
        failures.extend(check_seed(seed, Limits::default(), &strategies, &engines));
    }
    let shown: Vec<String> = failures.iter().take(20).map(|m| m.to_string()).collect();
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        shown.join("\n")
    );
}

/// Monad's merge re-executes a transaction at most once: no transaction of any generated block
/// runs more than twice (its statistics count executions and re-executions).
#[test]
fn monad_executes_no_transaction_more_than_twice() {
    use parevm::{sources::adversarial, strategy::monad::Monad};
    let monad = Monad::SPECULATIVE;
    let engines: Vec<Engine> = [1, 2, 4].map(|t| Engine::new(t).unwrap()).into();
    for seed in 0..300 {
        let g = adversarial::generate(seed, Limits::default());
        let n = g.block.transactions.len() as u64;
        for engine in &engines {
            let threads = engine.threads();
            let Ok(out) = engine.execute(&g.block, &g.state, &monad) else {
                continue;
            };
            let s = &out.stats;
            assert!(
                s.executions <= 2 * n
                    && s.re_executions <= n
                    && s.executions == n + s.re_executions,
                "seed {seed} x{threads}: {n} transactions, {s:?}"
            );
        }
    }
}
