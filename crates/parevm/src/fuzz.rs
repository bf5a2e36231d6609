//! Differential fuzzing: adversarial blocks ([`crate::sources::adversarial`]) executed by
//! every strategy asked for, at every thread count asked for, and compared with sequential
//! execution. `parevm fuzz` and the test suite both run through [`check_seed`].

use crate::{
    checks::verdict_difference,
    engine::{Engine, execute_block},
    sources::adversarial::{self, Generated, Limits},
    state::{LatencyState, StateView},
    strategy::{Strategy, sequential::Sequential},
};

/// One strategy at one thread count that did not produce what sequential execution produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The block's seed (`parevm fuzz --seed SEED --blocks 1` replays it).
    pub seed: u64,
    /// The strategy.
    pub strategy: String,
    /// Its thread count.
    pub threads: usize,
    /// The first difference.
    pub difference: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed {}: {} x{}: {}",
            self.seed, self.strategy, self.threads, self.difference
        )
    }
}

/// Generates the block of `seed` and runs it with each of `strategies` on each of `engines`
/// (one per thread count), returning every mismatch with sequential execution (empty when all
/// agree).
pub fn check_seed(
    seed: u64,
    limits: Limits,
    strategies: &[&dyn Strategy],
    engines: &[Engine],
) -> Vec<Mismatch> {
    check_generated(&adversarial::generate(seed, limits), strategies, engines)
}

/// [`check_seed`] on a block already generated.
pub fn check_generated(
    g: &Generated,
    strategies: &[&dyn Strategy],
    engines: &[Engine],
) -> Vec<Mismatch> {
    check_counted(g, strategies, engines).mismatches
}

/// What one block's check found.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// Transactions sequential execution got through: all of them for a valid block, those
    /// below the first invalid one otherwise.
    pub executed: usize,
    /// Whether the block is valid (sequential execution succeeded).
    pub valid: bool,
    /// Every strategy and thread count that disagreed with sequential execution.
    pub mismatches: Vec<Mismatch>,
}

/// [`check_generated`], also telling how much of the block sequential execution ran.
pub fn check_counted(g: &Generated, strategies: &[&dyn Strategy], engines: &[Engine]) -> Checked {
    let cached = LatencyState::new(&g.state, std::time::Duration::ZERO);
    let view: &dyn StateView = if g.cached_reads { &cached } else { &g.state };
    let reference = execute_block(&g.block, view, &Sequential, 1);
    let (valid, executed) = match &reference {
        Ok(out) => (true, out.txs.len()),
        Err(crate::ExecError::InvalidTransaction { index, .. }) => (false, *index),
        Err(_) => (false, 0),
    };
    let mut mismatches = Vec::new();
    for s in strategies {
        for engine in engines {
            let out = engine.execute(&g.block, view, *s);
            if let Some(difference) = verdict_difference(&reference, &out) {
                mismatches.push(Mismatch {
                    seed: g.seed,
                    strategy: s.name().to_string(),
                    threads: engine.threads(),
                    difference,
                });
            }
        }
    }
    Checked {
        executed,
        valid,
        mismatches,
    }
}

/// The smallest block found by removing transactions from `g` (one at a time, from the end
/// first) while `strategy` on `engine` still disagrees with sequential execution on it.
/// Returns `g` itself when it does not disagree.
pub fn shrink(g: &Generated, strategy: &dyn Strategy, engine: &Engine) -> Generated {
    let fails =
        |g: &Generated| !check_generated(g, &[strategy], std::slice::from_ref(engine)).is_empty();
    let mut best = g.clone();
    if !fails(&best) {
        return best;
    }
    let mut i = best.block.transactions.len();
    while i > 0 {
        i -= 1;
        let mut candidate = best.clone();
        candidate.block.transactions.remove(i);
        if !candidate.block.transactions.is_empty() && fails(&candidate) {
            best = candidate;
        }
    }
    best
}
