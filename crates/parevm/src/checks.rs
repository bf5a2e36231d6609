//! Checks of an executed block: against its header, and every strategy against sequential.

use crate::{
    block::Block,
    engine::{Engine, execute_block},
    output::{BlockOutput, ExecStats},
    state::StateView,
    strategy::{self, Strategy},
};
use serde::Serialize;

/// The verdict of one strategy on one block.
#[derive(Debug, Clone, Serialize)]
pub struct StrategyVerdict {
    /// Strategy name.
    pub strategy: String,
    /// Threads used.
    pub threads: usize,
    /// True when the block passed every check.
    pub passed: bool,
    /// What failed (header mismatches, execution error, difference from sequential).
    pub problems: Vec<String>,
    /// What could not be checked, and why.
    pub unchecked: Vec<String>,
    /// Execution statistics (absent when execution failed).
    pub stats: Option<ExecStats>,
}

/// Executes `block` with each strategy, checks the header, and (when more than one strategy
/// runs) compares every strategy's output with sequential execution's. The parallel ones run
/// on `engine`.
pub fn check_block(
    block: &Block,
    state: &dyn StateView,
    strategies: &[&dyn Strategy],
    engine: &Engine,
) -> Vec<StrategyVerdict> {
    let threads = engine.threads();
    let reference: Option<BlockOutput> = (strategies.len() > 1)
        .then(|| execute_block(block, state, &strategy::sequential::Sequential, 1).ok())
        .flatten();
    strategies
        .iter()
        .map(|s| {
            let mut verdict = StrategyVerdict {
                strategy: s.name().to_string(),
                threads: if s.parallel() { threads } else { 1 },
                passed: false,
                problems: vec![],
                unchecked: vec![],
                stats: None,
            };
            match engine.execute(block, state, *s) {
                Err(e) => verdict.problems.push(format!("execution failed: {e}")),
                Ok(out) => {
                    let check = out.check_header(block);
                    verdict.problems.extend(check.mismatches);
                    verdict.unchecked = check.unchecked;
                    if let Some(diff) = reference.as_ref().and_then(|r| r.first_difference(&out)) {
                        verdict
                            .problems
                            .push(format!("differs from sequential: {diff}"));
                    }
                    verdict.stats = Some(out.stats);
                }
            }
            verdict.passed = verdict.problems.is_empty();
            verdict
        })
        .collect()
}

/// How `candidate` differs from the `reference` (sequential) verdict on one block, if it
/// does: the first difference of two outputs, or of two errors, or an output against an error.
/// Both failing with the same error is agreement: the block is invalid for both.
pub fn verdict_difference(
    reference: &Result<BlockOutput, crate::ExecError>,
    candidate: &Result<BlockOutput, crate::ExecError>,
) -> Option<String> {
    match (reference, candidate) {
        (Ok(a), Ok(b)) => a.first_difference(b),
        (Err(a), Err(b)) if a == b => None,
        (Err(a), Err(b)) => Some(format!("errors differ: sequential {a}; this one {b}")),
        (Ok(_), Err(b)) => Some(format!("failed where sequential succeeded: {b}")),
        (Err(a), Ok(_)) => Some(format!("succeeded where sequential failed: {a}")),
    }
}
