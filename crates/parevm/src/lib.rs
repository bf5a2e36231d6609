//! # parevm
//!
//! A parallel EVM block-execution engine: several parallel execution paradigms implemented
//! as pluggable [strategies](strategy) over one real EVM ([revm]) and one block model, so that
//! they can be embedded by clients and compared on the same blocks. Every strategy must
//! produce exactly what [sequential](strategy::sequential) execution produces.
//!
//! The data flow is: a source ([`sources`]) builds a [`Block`] and a pre-state ([`StateView`]);
//! [`execute_block`] runs it with a [`Strategy`]; the [`BlockOutput`] is checked against the
//! header, against other strategies, or applied to a state.
//!
//! ```
//! use parevm::{execute_block, strategy, sources::example};
//!
//! // A small built-in block: value transfers between a few accounts.
//! let (block, state) = example::transfer_block(8);
//! let seq = strategy::by_name("sequential").unwrap();
//! let out = execute_block(&block, &state, seq, 1).unwrap();
//! assert_eq!(out.txs.len(), 8);
//! assert!(out.txs.iter().all(|t| t.receipt.success));
//! assert!(out.check_header(&block).passed());
//! ```

pub mod bench;
pub mod block;
pub mod chain;
pub mod checks;
pub mod conformance;
pub mod core;
pub mod error;
pub mod fuzz;
pub mod output;
pub mod report;
pub mod sources;
pub mod state;
pub mod strategy;

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExamples;

pub use block::{Block, Transaction};
pub use chain::{ChainSpec, Fork};
pub use error::{ExecError, LoadError};
pub use output::{BlockOutput, ExecStats, Receipt, TxOutput};
pub use state::{InMemoryState, StateView};
pub use strategy::Strategy;

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Executes `block` on `state` with `strategy` and up to `threads` threads.
///
/// Runs the pre-block system calls, the strategy's transaction phase, and the post-block
/// operations, and assembles receipts, state changes and totals. A panic anywhere inside
/// (including a strategy's worker threads, which strategies must propagate) is returned as
/// [`ExecError::Panic`].
pub fn execute_block(
    block: &Block,
    state: &dyn StateView,
    strategy: &dyn Strategy,
    threads: usize,
) -> Result<BlockOutput, ExecError> {
    catch_unwind(AssertUnwindSafe(|| {
        execute_block_inner(block, state, strategy, threads)
    }))
    .unwrap_or_else(|payload| {
        Err(ExecError::Panic {
            strategy: strategy.name().to_string(),
            message: error::panic_message(payload.as_ref()),
        })
    })
}

fn execute_block_inner(
    block: &Block,
    state: &dyn StateView,
    strategy: &dyn Strategy,
    threads: usize,
) -> Result<BlockOutput, ExecError> {
    let threads = if strategy.parallel() {
        threads.max(1)
    } else {
        1
    };
    let mut overlay = state::Overlay::new(state);
    let pre = core::pre_block(block, &mut overlay)?;
    let mut stats = ExecStats {
        strategy: strategy.name().to_string(),
        threads,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let txs = strategy.execute_transactions(block, &mut overlay, threads, &mut stats)?;
    stats.tx_phase_us = started.elapsed().as_micros() as u64;
    if txs.len() != block.transactions.len() {
        return Err(ExecError::Evm(format!(
            "strategy {} returned {} outputs for {} transactions",
            strategy.name(),
            txs.len(),
            block.transactions.len()
        )));
    }
    let (post, requests) = core::post_block(block, &mut overlay)?;
    Ok(BlockOutput::assemble(
        block, pre, txs, post, requests, stats,
    ))
}
