//! Monad-style execution: every transaction executes optimistically and in parallel, then one
//! merger applies the results strictly in block order, re-executing a transaction at most once.
//!
//! 1. **Execute all.** Workers run every transaction against the state before the block's
//!    transactions, through a view that records each account and storage value read
//!    (`common::recording`), claiming chunks of transactions in block order. The beneficiary's fee is deferred when a transaction never loads
//!    the beneficiary, so that fees alone do not make every transaction conflict.
//! 2. **Merge in order**, on the calling thread, as soon as each result is there (the merger
//!    executes chunks itself while the next result is not), on an overlay of its own above
//!    the state the workers read. For transaction `i`, the merged state holds exactly the effects of
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
        pool::pool,
        recording::{Read, Recorder},
        size::{Begin, SizeRules},
    },
    sequential::Progress,
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
use parking_lot::Mutex;
use std::sync::atomic::{
    AtomicBool, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};

/// Execute all optimistically, merge in order, re-execute at most once.
#[derive(Debug, Clone, Copy)]
pub struct Monad {
    /// When a block runs sequentially instead (the same rules as Block-STM's).
    rules: SizeRules,
}

impl Monad {
    /// The registered configuration (`monad`), with the size rules.
    pub const DEFAULT: Monad = Monad {
        rules: SizeRules::DEFAULT,
    };
    /// Without size rules (`monad-speculative`: the tests run it so that one-transaction
    /// blocks exercise the merge).
    pub const SPECULATIVE: Monad = Monad {
        rules: SizeRules::NONE,
    };
}

/// A transaction's optimistic result and the values it was computed from.
struct Speculative {
    result: Result<(TxOutput, Option<U256>), ExecError>,
    reads: Vec<Read>,
}

/// Transactions per chunk a worker claims at once.
const CHUNK: usize = 8;

impl Strategy for Monad {
    fn name(&self) -> &'static str {
        if self.rules == SizeRules::NONE {
            "monad-speculative"
        } else {
            "monad"
        }
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
        let n = block.transactions.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let before = match self.rules.begin(block, state, threads, stats)? {
            Begin::Finished(outputs) => return Ok(outputs),
            Begin::Parallel { before, .. } => before,
        };
        let first = before.outputs.len();
        let run = Run {
            block,
            first,
            base: &*state,
            slots: (first..n).map(|_| Mutex::new(None)).collect(),
            next_chunk: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            panic: Mutex::new(None),
        };
        let outputs = run.execute_and_merge(before, threads, stats)?;
        stats.executions += (n - first) as u64;
        // (Merged on an overlay of its own while the workers read `state`: applied here.)
        if crate::core::needs_post_transaction_state(block) {
            for out in &outputs[first..] {
                state.apply(&out.changes);
            }
        }
        Ok(outputs)
    }
}

/// One block's run: the speculative results, filled by the workers chunk by chunk (claimed in
/// block order from `next_chunk`), and taken by the merger in block order.
struct Run<'a> {
    block: &'a Block,
    /// The first transaction of the run (those below ran sequentially first: the size rules).
    first: usize,
    /// The state before the transactions, which every speculative execution reads.
    base: &'a dyn StateView,
    slots: Vec<Mutex<Option<Speculative>>>,
    next_chunk: AtomicUsize,
    /// Set when the merger is done (or failed): workers stop claiming chunks.
    stop: AtomicBool,
    /// A worker's panic, which the merger reports instead of waiting for its chunk.
    panic: Mutex<Option<String>>,
}

impl Run<'_> {
    /// Executes the block on `threads` threads and merges it on the calling thread, which
    /// also executes chunks while the next result to merge is not ready.
    fn execute_and_merge(
        &self,
        before: Progress,
        threads: usize,
        stats: &mut ExecStats,
    ) -> Result<Vec<TxOutput>, ExecError> {
        let before = Mutex::new(Some(before));
        let merge = || {
            let mut worker = TxExecutor::new(self.block, Recorder::new(self.base));
            let mut exec = TxExecutor::new(self.block, RevmDb(Overlay::new(self.base)));
            let mut counted = ExecStats::default();
            let before = before.lock().take().expect("merged once");
            let result = self.merge(before, &mut exec, &mut worker, &mut counted);
            self.stop.store(true, Release);
            (result, counted)
        };
        let (result, counted) = if threads <= 1 {
            merge()
        } else {
            let helpers = threads - 1;
            let mut out = None;
            pool(helpers).in_place_scope(|s| {
                for _ in 0..helpers {
                    s.spawn(|_| {
                        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            let mut worker = TxExecutor::new(self.block, Recorder::new(self.base));
                            while !self.stop.load(Acquire) {
                                if !self.execute_chunk(&mut worker) {
                                    break;
                                }
                            }
                        }));
                        if let Err(payload) = run {
                            let message = crate::error::panic_message(payload.as_ref());
                            self.panic.lock().get_or_insert(message);
                        }
                    });
                }
                out = Some(merge());
            });
            out.expect("the merge ran")
        };
        stats.executions += counted.executions;
        stats.re_executions += counted.re_executions;
        result
    }

    /// Claims the next chunk and executes it; false when none is left.
    fn execute_chunk(&self, worker: &mut TxExecutor<Recorder<'_>>) -> bool {
        let first = self.next_chunk.fetch_add(1, Relaxed) * CHUNK;
        if first >= self.slots.len() {
            return false;
        }
        for j in first..(first + CHUNK).min(self.slots.len()) {
            let i = self.first + j;
            worker.db_mut().reads.clear();
            let result = worker.execute_deferring_fee(i, &self.block.transactions[i], 0);
            let reads = std::mem::take(&mut worker.db_mut().reads);
            *self.slots[j].lock() = Some(Speculative { result, reads });
        }
        true
    }

    /// Transaction `i`'s speculative result: executing chunks meanwhile, or waiting for the
    /// worker that has it (an error if that worker panicked: its chunk never comes).
    fn take(
        &self,
        j: usize,
        worker: &mut TxExecutor<Recorder<'_>>,
    ) -> Result<Speculative, ExecError> {
        loop {
            if let Some(s) = self.slots[j].lock().take() {
                return Ok(s);
            }
            if !self.execute_chunk(worker) {
                if let Some(message) = self.panic.lock().clone() {
                    return Err(ExecError::Panic {
                        strategy: "monad".into(),
                        message,
                    });
                }
                std::hint::spin_loop();
            }
        }
    }

    /// Merges the results in block order into the state `exec` reads (see the module docs),
    /// re-executing those whose reads no longer hold, after the transactions `before` ran.
    fn merge(
        &self,
        before: Progress,
        exec: &mut TxExecutor<RevmDb<Overlay<'_>>>,
        worker: &mut TxExecutor<Recorder<'_>>,
        stats: &mut ExecStats,
    ) -> Result<Vec<TxOutput>, ExecError> {
        let block = self.block;
        let beneficiary = block.header.beneficiary;
        let state_clear = block.fork.at_least(Fork::SpuriousDragon);
        let (mut gas, mut blob_gas) = (before.gas, before.blob_gas);
        let mut outputs = before.outputs;
        outputs.reserve_exact(self.slots.len());
        for j in 0..self.slots.len() {
            let i = self.first + j;
            check_block_limits(block, i, gas, blob_gas)?;
            let s = self.take(j, worker)?;
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
}
