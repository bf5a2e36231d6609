//! The size rules a parallel strategy applies before running a block in parallel, all about the
//! block's *size*, never its content, and all counted in `fallbacks`:
//!
//! - **One worker.** One thread, or a block of one transaction: there is nothing to run beside
//!   anything (as Aptos's executor does at concurrency level 1).
//! - **Tiny blocks.** Transactions whose gas limits sum below a bar (1M gas: at most 47 plain
//!   transfers): a parallel run's fixed costs (waking threads, allocating per-transaction
//!   tables) are what sequential execution takes for such a block.
//! - **Measured small.** The block's first transactions run sequentially while the rest,
//!   extrapolated from their pace, looks too small to gain (see [`super::start`]).
//!
//! Exact by construction: what runs sequentially is the sequential strategy, and a parallel
//! run goes on from the state it left.

use super::start::{self, Start};
use crate::{
    block::Block,
    error::ExecError,
    output::{ExecStats, TxOutput},
    state::Overlay,
    strategy::sequential,
};

/// When a block runs on the sequential strategy instead of in parallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeRules {
    /// Run on the sequential strategy when given one thread or one transaction.
    pub single_thread_sequential: bool,
    /// Run on the sequential strategy when the transactions' gas limits sum to less (0: never).
    pub min_parallel_gas: u64,
    /// How a block starts: speculating at once, or sequentially until measured.
    pub start: Start,
}

/// How a block's run begins under the rules.
pub(crate) enum Begin {
    /// It ran sequentially to its end (a fallback, counted): these are its outputs.
    Finished(Vec<TxOutput>),
    /// These transactions ran sequentially first (applied to the state, in `took`); the rest
    /// is for the parallel run.
    Parallel {
        before: sequential::Progress,
        took: std::time::Duration,
    },
}

impl SizeRules {
    /// The registered strategies' rules: all three, with the measured start.
    pub const DEFAULT: SizeRules = SizeRules {
        single_thread_sequential: true,
        min_parallel_gas: 1_000_000,
        start: Start::MEASURED,
    };
    /// No rule: speculate whatever the thread count and block size (the variants the tests
    /// use to exercise the parallel machinery on small blocks).
    pub const NONE: SizeRules = SizeRules {
        single_thread_sequential: false,
        min_parallel_gas: 0,
        start: Start::Parallel,
    };

    /// Whether `block` is run on the sequential strategy with `threads` threads before
    /// anything executes.
    fn runs_sequentially(&self, block: &Block, threads: usize) -> bool {
        let one_worker = threads.min(block.transactions.len()) <= 1;
        (one_worker && self.single_thread_sequential)
            || (self.min_parallel_gas > 0
                && block
                    .transactions
                    .iter()
                    .try_fold(0u64, |sum, tx| {
                        sum.checked_add(tx.env.gas_limit)
                            .filter(|s| *s < self.min_parallel_gas)
                    })
                    .is_some())
    }

    /// Applies the rules to `block` on `state`: runs it, or its start, sequentially.
    pub(crate) fn begin(
        &self,
        block: &Block,
        state: &mut Overlay<'_>,
        threads: usize,
        stats: &mut ExecStats,
    ) -> Result<Begin, ExecError> {
        if self.runs_sequentially(block, threads) {
            stats.fallbacks += 1;
            let mut done = sequential::Progress::default();
            sequential::run_while(block, state, &mut done, stats, |_| true)?;
            let outputs = done.outputs;
            return Ok(Begin::Finished(outputs));
        }
        let began = std::time::Instant::now();
        let before = start::sequential_start(self.start, block, state, threads, stats)?;
        if before.outputs.len() == block.transactions.len() {
            stats.fallbacks += 1;
            return Ok(Begin::Finished(before.outputs));
        }
        stats.sequential_start = before.outputs.len() as u64;
        Ok(Begin::Parallel {
            before,
            took: began.elapsed(),
        })
    }
}
