//! Execution strategies and their registry.
//!
//! A strategy runs the *transaction phase* of a block: given the state after the pre-block
//! operations, it produces one [`TxOutput`] per transaction and leaves the state reflecting
//! all of them. Everything around it (pre-block system calls, rewards, withdrawals, request
//! system calls, block totals, panic containment) is done once, by [`crate::execute_block`],
//! so every strategy is held to the same block semantics.
//!
//! To add a strategy: implement [`Strategy`] in a module named after its paradigm and add it
//! to [`registry`]. The CLI (`--strategy`, `--strategy all`), the conformance runners and the
//! differential tests then pick it up without other edits.

pub mod bal;
pub mod block_stm;
pub(crate) mod common;
pub mod dag;
pub mod monad;
pub mod sealevel;
pub mod sequential;

pub use common::pool::Workers;

use crate::{
    bal::{Check, Checked},
    block::Block,
    error::ExecError,
    output::{ExecStats, TxOutput},
    state::Overlay,
};

/// A way of executing a block's transactions.
pub trait Strategy: Send + Sync {
    /// The name used on the command line (`sequential`, `block-stm`, ...).
    fn name(&self) -> &'static str;

    /// One line on the paradigm.
    fn description(&self) -> &'static str;

    /// Whether it uses more than one thread when given them (the reference does not: its runs
    /// are reported at one thread whatever was asked).
    fn parallel(&self) -> bool {
        true
    }

    /// Whether it executes from the block's access list (`bal`): a harness that times it
    /// attaches the list first, as a validator receives it with the block.
    fn executes_from_access_list(&self) -> bool {
        false
    }

    /// Executes `block.transactions` (at least one) on top of `state` on `workers` (the
    /// calling thread and its helpers; a strategy may use fewer).
    ///
    /// On success, returns the outputs in block order and leaves `state` with every
    /// transaction's changes applied in order; a strategy may skip applying them when
    /// [`crate::core::needs_post_transaction_state`] is false. On failure, returns the error sequential
    /// execution would return first (lowest transaction index). Fills `stats`.
    fn execute_transactions(
        &self,
        block: &Block,
        state: &mut Overlay<'_>,
        workers: &Workers,
        stats: &mut ExecStats,
    ) -> Result<Vec<TxOutput>, ExecError>;

    /// Executes a block that came with an access list: as [`Strategy::execute_transactions`],
    /// and may check each transaction against the list as it runs it, with `check` (while
    /// what it touched is still in the cache), saying so in what it returns; the engine
    /// checks the rest. By default it checks nothing here.
    fn execute_listed(
        &self,
        block: &Block,
        state: &mut Overlay<'_>,
        workers: &Workers,
        stats: &mut ExecStats,
        check: &Check<'_>,
    ) -> Result<(Vec<TxOutput>, Checked), ExecError> {
        let _ = check;
        let outputs = self.execute_transactions(block, state, workers, stats)?;
        Ok((outputs, Checked::Nothing))
    }
}

/// Every registered strategy, the reference (`sequential`) first.
pub fn registry() -> Vec<&'static dyn Strategy> {
    vec![
        &sequential::Sequential,
        &block_stm::BlockStm::DEFAULT,
        &monad::Monad::DEFAULT,
        &bal::BalStrategy,
    ]
}

/// Configurations that `--strategy all` leaves out but tests and `--strategy NAME` can ask
/// for: `block-stm-speculative` and `monad-speculative`, without their size rules; and the
/// strategies scheduling from predictions (predicting costs more than it saves yet): `dag`
/// with its hint kinds (`dag-speculative`, `dag-access-list`, `dag-bal`, without size rules),
/// and `sealevel`, `sealevel-bal`.
pub fn variants() -> Vec<&'static dyn Strategy> {
    vec![
        &block_stm::BlockStm::ALWAYS_SPECULATIVE,
        &monad::Monad::SPECULATIVE,
        &dag::Dag::DEFAULT,
        &dag::Dag::SPECULATIVE,
        &dag::Dag::STATIC,
        &dag::Dag::SIMULATE,
        &dag::Dag::ACCESS_LIST,
        &dag::Dag::BAL,
        &sealevel::Sealevel::DEFAULT,
        &sealevel::Sealevel::STATIC,
        &sealevel::Sealevel::SIMULATE,
        &sealevel::Sealevel::ACCESS_LIST,
        &sealevel::Sealevel::BAL,
    ]
}

/// The hint kinds `--hints` takes: where the strategies that schedule from predicted accesses
/// (`dag`, `sealevel`) get them. `default` is static analysis with simulation for what it
/// marks partial.
pub const HINTS: [&str; 5] = ["default", "static", "simulate", "access-list", "bal"];

/// `strategy` configured with `hints` (one of [`HINTS`]) when it schedules from predicted
/// accesses (`dag` or `sealevel`, or one of their variants); any other strategy as it is.
/// `None` for unknown hints.
pub fn with_hints(strategy: &'static dyn Strategy, hints: &str) -> Option<&'static dyn Strategy> {
    if !HINTS.contains(&hints) {
        return None;
    }
    let name = strategy.name();
    let family = ["dag", "sealevel"]
        .into_iter()
        .find(|f| name == *f || name.starts_with(&format!("{f}-")));
    let Some(family) = family else {
        return Some(strategy);
    };
    let wanted = match hints {
        "default" => family.to_string(),
        h => format!("{family}-{h}"),
    };
    by_name(&wanted)
}

/// Every registered strategy and variant that runs in parallel (all but the reference): what
/// the differential tests and `parevm fuzz` compare with sequential execution.
pub fn parallel() -> Vec<&'static dyn Strategy> {
    registry()
        .into_iter()
        .chain(variants())
        .filter(|s| s.parallel())
        .collect()
}

/// Looks a strategy (or a variant) up by name.
pub fn by_name(name: &str) -> Option<&'static dyn Strategy> {
    registry()
        .into_iter()
        .chain(variants())
        .find(|s| s.name() == name)
}

/// Names of every registered strategy and variant.
pub fn names() -> Vec<&'static str> {
    registry()
        .iter()
        .chain(variants().iter())
        .map(|s| s.name())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_pick_the_variant_of_strategies_that_schedule_from_predictions() {
        let name = |s: &str, h: &str| with_hints(by_name(s).unwrap(), h).map(|s| s.name());
        assert_eq!(name("dag", "bal"), Some("dag-bal"));
        assert_eq!(name("dag-bal", "default"), Some("dag"));
        assert_eq!(
            name("sealevel", "access-list"),
            Some("sealevel-access-list")
        );
        assert_eq!(name("monad", "static"), Some("monad"), "no hints to take");
        assert_eq!(name("dag", "oracle"), None);
        for h in HINTS {
            for family in ["dag", "sealevel"] {
                assert!(name(family, h).is_some(), "{family} {h}");
            }
        }
    }
}
