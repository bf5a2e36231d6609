//! Monad-style execution: every transaction executes optimistically and in parallel, then one
//! merger applies the results strictly in block order, re-executing a transaction at most once.
//!
//! 1. **Execute all.** Workers run every transaction against the state before the block's
//!    transactions, through a view that records each account and storage value read
//!    (`common::recording`). The beneficiary's fee is deferred when a transaction never loads
//!    the beneficiary, so that fees alone do not make every transaction conflict.
//! 2. **Merge in order.** For transaction `i`, the merged state holds exactly the effects of
//!    transactions `0..i`, as sequential execution leaves them. If every value `i` read still
//!    holds there, `i` would read the same values now, so it computes the same result (a
//!    transaction's outcome is a function of what it reads: code and block hashes do not change
//!    within a block), and its changes are applied as they are. Otherwise `i` is executed again
//!    on the merged state, which is sequential execution itself, so that result is final: no
//!    transaction runs more than twice. Deferred fees are credited to the beneficiary's merged
//!    value in the same order, and block limits and cumulative gas are checked and counted as
//!    sequential execution does. An invalid transaction whose reads still hold is invalid in
//!    sequential execution too, with the same error.
//!
//! What it costs against Block-STM: a chain of dependent transactions runs every transaction
//! twice (once speculatively, once in the merge), and the merge is one thread. What it saves:
//! no multi-version memory, no validation rounds, no aborts during execution.

use super::{
    Strategy,
    common::{
        pool::for_each_chunk,
        recording::{Read, Recorder},
    },
};
use crate::{
    block::Block,
    chain::Fork,
    core::{TxExecutor, check_block_limits},
    error::ExecError,
    output::{ExecStats, TxOutput},
    state::{Overlay, RevmDb, StateView, changes::credit_change},
};
use alloy_primitives::U256;

/// Execute all optimistically, merge in order, re-execute at most once.
#[derive(Debug, Clone, Copy, Default)]
pub struct Monad;

/// A transaction's optimistic result and the values it was computed from.
struct Speculative {
    result: Result<(TxOutput, Option<U256>), ExecError>,
    reads: Vec<Read>,
}

/// Transactions per chunk a worker claims at once.
const CHUNK: usize = 8;

impl Strategy for Monad {
    fn name(&self) -> &'static str {
        "monad"
    }

    fn description(&self) -> &'static str {
        "optimistic execute-all, in-order merge, at most one re-execution (Monad)"
    }

    fn execute_transactions(
        &self,
        block: &Block,
        state: &mut Overlay<'_>,
        threads: usize,
        stats: &mut ExecStats,
    ) -> Result<Vec<TxOutput>, ExecError> {
        if block.transactions.is_empty() {
            return Ok(Vec::new());
        }
        let speculative = speculate(block, &*state, threads);
        stats.executions += speculative.len() as u64;
        // The merge owns the state (moved into its EVM's database) and hands it back after.
        let base = state.base();
        let overlay = std::mem::replace(state, Overlay::new(base));
        let mut exec = TxExecutor::new(block, RevmDb(overlay));
        let merged = merge(block, &mut exec, speculative, stats);
        *state = std::mem::replace(&mut exec.db_mut().0, Overlay::new(base));
        merged
    }
}

/// Executes every transaction of `block` against `base` on `threads` threads, recording what
/// each read.
fn speculate(block: &Block, base: &dyn StateView, threads: usize) -> Vec<Speculative> {
    let mut slots: Vec<Option<Speculative>> = (0..block.transactions.len()).map(|_| None).collect();
    let chunks: Vec<(usize, &mut [Option<Speculative>])> = slots
        .chunks_mut(CHUNK)
        .enumerate()
        .map(|(c, s)| (c * CHUNK, s))
        .collect();
    for_each_chunk(
        chunks,
        threads,
        || TxExecutor::new(block, Recorder::new(base)),
        |exec, (first, out)| {
            for (k, slot) in out.iter_mut().enumerate() {
                let i = first + k;
                exec.db_mut().reads.clear();
                let result = exec.execute_deferring_fee(i, &block.transactions[i], 0);
                let reads = std::mem::take(&mut exec.db_mut().reads);
                *slot = Some(Speculative { result, reads });
            }
        },
    );
    slots
        .into_iter()
        .map(|s| s.expect("every chunk was run"))
        .collect()
}

/// Merges the `speculative` results in block order into the state `exec` reads (see the module
/// docs), re-executing those whose reads no longer hold.
fn merge(
    block: &Block,
    exec: &mut TxExecutor<RevmDb<Overlay<'_>>>,
    speculative: Vec<Speculative>,
    stats: &mut ExecStats,
) -> Result<Vec<TxOutput>, ExecError> {
    let beneficiary = block.header.beneficiary;
    let state_clear = block.fork.at_least(Fork::SpuriousDragon);
    let (mut gas, mut blob_gas) = (0u64, 0u64);
    let mut outputs = Vec::with_capacity(speculative.len());
    for (i, s) in speculative.into_iter().enumerate() {
        check_block_limits(block, i, gas, blob_gas)?;
        let merged: &dyn StateView = &exec.db_mut().0;
        let mut holds = true;
        for r in &s.reads {
            if !r.holds_in(merged)? {
                holds = false;
                break;
            }
        }
        let (mut out, fee) = if holds {
            s.result?
        } else {
            stats.executions += 1;
            stats.re_executions += 1;
            exec.execute_deferring_fee(i, &block.transactions[i], 0)?
        };
        if let Some(fee) = fee {
            let before = exec.db_mut().0.account_fields(beneficiary)?;
            if let Some(change) = credit_change(before, fee, state_clear) {
                out.changes.insert(beneficiary, change);
            }
        }
        gas += out.gas_used;
        blob_gas += out.blob_gas_used;
        out.receipt.cumulative_gas_used = gas;
        exec.db_mut().0.apply(&out.changes);
        outputs.push(out);
    }
    Ok(outputs)
}
