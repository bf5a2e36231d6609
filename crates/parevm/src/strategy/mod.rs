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
        &dag::Dag::ACCESS_LIST,
        &dag::Dag::BAL,
        &sealevel::Sealevel::DEFAULT,
        &sealevel::Sealevel::BAL,
    ]
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
