//! The engine: runs blocks with a strategy on worker threads it owns.
//!
//! An [`Engine`] is made once (its helper threads are started then) and runs any number of
//! blocks, with any strategy, one at a time on each call; two engines run two blocks at once
//! without sharing threads, which is what a pipeline with blocks in flight needs.

use crate::{
    bal::{self, Check, Checked, Given},
    block::Block,
    core,
    error::{self, ExecError},
    output::{Access, BlockOutput, ExecStats},
    state::{Overlay, StateView},
    strategy::{Strategy, Workers},
};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs blocks on its own worker threads.
#[derive(Debug)]
pub struct Engine {
    workers: Workers,
}

impl Engine {
    /// An engine running blocks on `threads` threads: the calling thread and `threads - 1`
    /// helpers started now. An error if `threads` is 0 or the threads cannot be started.
    pub fn new(threads: usize) -> Result<Engine, ExecError> {
        Ok(Engine {
            workers: Workers::new(threads)?,
        })
    }

    /// How many threads it runs a block on.
    pub fn threads(&self) -> usize {
        self.workers.threads()
    }

    /// Executes `block` on `state` with `strategy`.
    ///
    /// Runs the pre-block system calls, the strategy's transaction phase, and the post-block
    /// operations, and assembles receipts, state changes and totals. A panic anywhere inside
    /// (including a strategy's helper threads, which strategies must propagate) is returned
    /// as [`ExecError::Panic`].
    pub fn execute(
        &self,
        block: &Block,
        state: &dyn StateView,
        strategy: &dyn Strategy,
    ) -> Result<BlockOutput, ExecError> {
        catch_unwind(AssertUnwindSafe(|| self.run(block, state, strategy))).unwrap_or_else(
            |payload| {
                Err(ExecError::Panic {
                    strategy: strategy.name().to_string(),
                    message: error::panic_message(payload.as_ref()),
                })
            },
        )
    }

    fn run(
        &self,
        block: &Block,
        state: &dyn StateView,
        strategy: &dyn Strategy,
    ) -> Result<BlockOutput, ExecError> {
        // (The reference runs on the calling thread alone, and is reported so.)
        let one = Workers::one();
        let workers = if strategy.parallel() {
            &self.workers
        } else {
            &one
        };
        let mut overlay = Overlay::new(state);
        let mut pre_access = block.record_access.then(Access::default);
        let pre = core::pre_block(block, &mut overlay, &mut pre_access)?;
        let mut stats = ExecStats {
            strategy: strategy.name().to_string(),
            threads: workers.threads(),
            ..Default::default()
        };
        let started = std::time::Instant::now();
        // (A block without transactions has no transaction phase: no strategy sees one.)
        let index = (block.access_list.as_ref())
            .map(|given| given.index().map_err(ExecError::AccessList))
            .transpose()?;
        let check = index.map(|index| Check::new(index, block.fork));
        let (txs, checked) = match &check {
            _ if block.transactions.is_empty() => (Vec::new(), Checked::Transactions),
            Some(check) => {
                strategy.execute_listed(block, &mut overlay, workers, &mut stats, check)?
            }
            None => {
                let txs =
                    strategy.execute_transactions(block, &mut overlay, workers, &mut stats)?;
                (txs, Checked::Nothing)
            }
        };
        stats.tx_phase_us = started.elapsed().as_micros() as u64;
        if txs.len() != block.transactions.len() {
            return Err(ExecError::Evm(format!(
                "strategy {} returned {} outputs for {} transactions",
                strategy.name(),
                txs.len(),
                block.transactions.len()
            )));
        }
        let mut post_access = block.record_access.then(Access::default);
        let (post, requests) = core::post_block(block, &mut overlay, &mut post_access)?;
        let mut out = BlockOutput::assemble(
            block,
            pre,
            txs,
            post,
            requests,
            stats,
            pre_access.zip(post_access),
        );
        if let (Some(given), Some(check)) = (&block.access_list, check) {
            self.check_list(block, state, given, &mut out, &check, checked)?;
        }
        Ok(out)
    }

    /// Checks the executed block `out` against the access list it came with: step by step in
    /// parallel ([`crate::bal::check`]), or, where that cannot tell, by building the list from
    /// the output and comparing, which names the first difference (counted in
    /// `list_compared_whole` when the lists are equal).
    fn check_list(
        &self,
        block: &Block,
        state: &dyn StateView,
        given: &Given,
        out: &mut BlockOutput,
        check: &Check<'_>,
        checked: Checked,
    ) -> Result<(), ExecError> {
        if bal::check::agrees_with(check, checked, block, state, out, &self.workers) {
            return Ok(());
        }
        let executed =
            bal::build_on(block, state, out, &self.workers).map_err(ExecError::AccessList)?;
        // (Equal lists compare fast; the diagnosis of a difference is the slow part.)
        if *given.list() != executed {
            let n = block.transactions.len();
            let mismatch = bal::first_mismatch(given, &executed, n);
            let why = mismatch.unwrap_or_else(|| "the lists differ in order".into());
            return Err(ExecError::AccessList(why));
        }
        out.stats.count("list_compared_whole", 1);
        Ok(())
    }
}

/// Executes `block` on `state` with `strategy` on `threads` threads, with an engine made for
/// this block alone (starting `threads - 1` threads costs tens of microseconds: to run many
/// blocks, make an [`Engine`] once).
pub fn execute_block(
    block: &Block,
    state: &dyn StateView,
    strategy: &dyn Strategy,
    threads: usize,
) -> Result<BlockOutput, ExecError> {
    Engine::new(threads)?.execute(block, state, strategy)
}
