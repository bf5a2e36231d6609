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

    fn execute_transactions(
        &self,
        block: &Block,
        state: &mut Overlay<'_>,
        _threads: usize,
        stats: &mut ExecStats,
    ) -> Result<Vec<TxOutput>, ExecError> {
        // The EVM owns its database; move the overlay in and put it back afterwards.
        let base = state.base();
        let overlay = std::mem::replace(state, Overlay::new(base));
        let mut exec = TxExecutor::new(block, RevmDb(overlay));
        let result = run(block, &mut exec, stats);
        *state = std::mem::replace(&mut exec.db_mut().0, Overlay::new(base));
        result
    }
}

fn run<'a>(
    block: &Block,
    exec: &mut TxExecutor<RevmDb<Overlay<'a>>>,
    stats: &mut ExecStats,
) -> Result<Vec<TxOutput>, ExecError> {
    let mut outputs = Vec::with_capacity(block.transactions.len());
    let (mut gas, mut blob_gas) = (0u64, 0u64);
    for (index, tx) in block.transactions.iter().enumerate() {
        check_block_limits(block, index, gas, blob_gas)?;
        let (out, _) = exec.execute(index, tx, gas)?;
        stats.executions += 1;
        exec.db_mut().0.apply(&out.changes);
        gas += out.gas_used;
        blob_gas += out.blob_gas_used;
        outputs.push(out);
    }
    Ok(outputs)
}
