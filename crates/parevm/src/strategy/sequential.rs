//! The reference strategy: one transaction after another on one EVM, each committed before
//! the next starts. Every other strategy must produce exactly its output.

use super::Strategy;
use crate::{
    block::Block,
    core::{TxExecutor, check_block_limits},
    error::ExecError,
    output::{ExecStats, TxOutput},
    state::{Overlay, RevmDb},
};

/// Sequential execution in block order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sequential;

impl Strategy for Sequential {
    fn name(&self) -> &'static str {
        "sequential"
    }

    fn description(&self) -> &'static str {
        "one transaction after another in block order (the reference)"
    }

    fn parallel(&self) -> bool {
        false
    }

    fn execute_transactions(
        &self,
        block: &Block,
        state: &mut Overlay<'_>,
        _workers: &super::Workers,
        stats: &mut ExecStats,
    ) -> Result<Vec<TxOutput>, ExecError> {
        let mut done = Progress::default();
        run_while(block, state, &mut done, stats, |_| true).map(|()| done.outputs)
    }
}

/// How far a sequential run got: the outputs of the block's first transactions, and the gas
/// and blob gas they used.
#[derive(Default)]
pub(crate) struct Progress {
    /// One output per executed transaction, in block order.
    pub(crate) outputs: Vec<TxOutput>,
    /// Gas used so far.
    pub(crate) gas: u64,
    /// Blob gas used so far.
    pub(crate) blob_gas: u64,
}

/// Executes `block`'s transactions on `state` in order from the first not in `done`, each
/// applied to `state` before the next, for as long as `go_on(index)` says so (asked before each
/// one) or until the block's end.
pub(crate) fn run_while(
    block: &Block,
    state: &mut Overlay<'_>,
    done: &mut Progress,
    stats: &mut ExecStats,
    go_on: impl FnMut(usize) -> bool,
) -> Result<(), ExecError> {
    // The EVM owns its database; move the overlay in and put it back afterwards.
    let base = state.base();
    let overlay = std::mem::replace(state, Overlay::new(base));
    let mut exec = TxExecutor::new(block, RevmDb(overlay));
    let result = run_on(block, &mut exec, done, stats, go_on);
    *state = std::mem::replace(&mut exec.db_mut().0, Overlay::new(base));
    result
}

fn run_on(
    block: &Block,
    exec: &mut TxExecutor<RevmDb<Overlay<'_>>>,
    done: &mut Progress,
    stats: &mut ExecStats,
    mut go_on: impl FnMut(usize) -> bool,
) -> Result<(), ExecError> {
    done.outputs
        .reserve(block.transactions.len() - done.outputs.len());
    for (index, tx) in block
        .transactions
        .iter()
        .enumerate()
        .skip(done.outputs.len())
    {
        if !go_on(index) {
            break;
        }
        check_block_limits(block, index, done.gas, done.blob_gas)?;
        let (out, _) = exec.execute(index, tx, done.gas)?;
        stats.executions += 1;
        exec.db_mut().0.apply(&out.changes);
        done.gas += out.gas_used;
        done.blob_gas += out.blob_gas_used;
        done.outputs.push(out);
    }
    Ok(())
}
