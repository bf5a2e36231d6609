//! The differential property test on adversarial blocks: every registered strategy and
//! variant, at 1, 2, 4 and 8 threads, against sequential execution, on 1,000 blocks (see
//! `parevm::sources::adversarial` for what the blocks contain). `PAREVM_FUZZ_BLOCKS=N` runs
//! more blocks; `parevm fuzz` runs many more.

use parevm::{fuzz::check_seed, sources::adversarial::Limits, strategy};

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
    let mut failures = Vec::new();
    for seed in first..first + blocks {
        failures.extend(check_seed(
            seed,
            Limits::default(),
            &strategies,
            &[1, 2, 4, 8],
        ));
    }
    let shown: Vec<String> = failures.iter().take(20).map(|m| m.to_string()).collect();
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        shown.join("\n")
    );
}
