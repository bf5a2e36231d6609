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

/// [`check_generated`], also telling how much of the block sequential execution ran. A
/// strategy that executes from the block's access list runs a valid block twice: with the
/// list sequential execution builds attached (as a validator receives it), and without.
pub fn check_counted(g: &Generated, strategies: &[&dyn Strategy], engines: &[Engine]) -> Checked {
    let cached = LatencyState::new(&g.state, std::time::Duration::ZERO);
    let view: &dyn StateView = if g.cached_reads { &cached } else { &g.state };
    let mut recorded = g.block.clone();
    recorded.record_access = true;
    let reference = execute_block(&recorded, view, &Sequential, 1);
    let (valid, executed) = match &reference {
        Ok(out) => (true, out.txs.len()),
        Err(crate::ExecError::InvalidTransaction { index, .. }) => (false, *index),
        Err(_) => (false, 0),
    };
    let listed = reference.as_ref().ok().and_then(|out| {
        let list = crate::bal::build(&recorded, view, out).ok()?;
        recorded.set_access_list(list);
        Some(recorded)
    });
    let mut mismatches = Vec::new();
    for s in strategies {
        let blocks = match &listed {
            Some(listed) if s.executes_from_access_list() => vec![&g.block, listed],
            _ => vec![&g.block],
        };
        for (block, engine) in blocks
            .into_iter()
            .flat_map(|b| engines.iter().map(move |e| (b, e)))
        {
            let out = engine.execute(block, view, *s);
            // (A block the list cannot describe is refused, and says so: not a mismatch.)
            if block.access_list.is_some() && matches!(out, Err(crate::ExecError::Unsupported(_))) {
                continue;
            }
            if let Some(difference) = verdict_difference(&reference, &out) {
                let listed = if block.access_list.is_some() {
                    " (list given)"
                } else {
                    ""
                };
                mismatches.push(Mismatch {
                    seed: g.seed,
                    strategy: format!("{}{listed}", s.name()),
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
