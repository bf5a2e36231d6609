//! One block's transactions as sequential execution runs them: what each touched, classified
//! into reads, writes and the commutative deltas the engine keeps apart, and what each cost.
//!
//! A transaction that does not load the beneficiary pays its fee as a delta (the engine defers
//! it); a plain transfer credits its recipient and debits its sender as deltas (the engine
//! credits the one and runs the other with a stand-in balance), under the same rules the
//! strategies apply ([`crate::strategy::common::commutative`]). Costs are each transaction's
//! execution and commit on the state sequential execution gives it, the median of several
//! passes (the first pass warms the caches, as a block engine's are).

use super::graph::{Kind, TxAccess};
use crate::{
    block::Block,
    core::TxExecutor,
    engine::Engine,
    error::ExecError,
    output::BlockOutput,
    predict::{Loc, observed},
    state::{Overlay, RevmDb, StateView},
    strategy::{
        common::commutative::{plain_transfer_recipient, stand_in_eligible},
        sequential::Sequential,
    },
};
use std::time::Instant;

/// A block's transactions, recorded.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// What each did.
    pub access: Vec<TxAccess>,
    /// Gas each used.
    pub gas: Vec<u64>,
    /// Microseconds each took (execution and commit), the median over the passes.
    pub us: Vec<f64>,
    /// The sequential output.
    pub output: BlockOutput,
}

/// Records `block` on `state` with `passes` timed passes (at least one).
pub fn record(block: &Block, state: &dyn StateView, passes: usize) -> Result<Recorded, ExecError> {
    let mut recorded = block.clone();
    recorded.record_access = true;
    let output = Engine::new(1)?.execute(&recorded, state, &Sequential)?;
    let access = classify(&recorded, state, &output)?;
    let mut timed = block.clone();
    timed.record_access = false;
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); block.transactions.len()];
    for _ in 0..passes.max(1) + 1 {
        let us = time(&timed, state, &output)?;
        samples.iter_mut().zip(us).for_each(|(s, t)| s.push(t));
    }
    let us = samples
        .iter_mut()
        .map(|s| {
            s.remove(0);
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect();
    Ok(Recorded {
        access,
        gas: output.txs.iter().map(|t| t.gas_used).collect(),
        us,
        output,
    })
}

/// Each transaction's accesses, re-executed one by one on the state `output` gives it.
fn classify(
    block: &Block,
    state: &dyn StateView,
    output: &BlockOutput,
) -> Result<Vec<TxAccess>, ExecError> {
    let beneficiary = block.header.beneficiary;
    let mut walk = Overlay::new(state);
    walk.apply(&output.pre_block);
    let mut exec = TxExecutor::new(block, RevmDb(walk));
    let mut all = Vec::with_capacity(block.transactions.len());
    for (i, tx) in block.transactions.iter().enumerate() {
        let (out, fee) = exec.execute_deferring_fee(i, tx, 0)?;
        let before = &exec.db_mut().0;
        let seen = observed(&out, before)?;
        let mut access = TxAccess {
            reads: seen.reads.into_iter().collect(),
            writes: seen.writes.into_iter().collect(),
            deltas: Vec::new(),
        };
        if fee.is_some() {
            access.deltas.push((Loc::Account(beneficiary), Kind::Fee));
        }
        if let Some(to) = plain_transfer_recipient(tx, beneficiary, block.fork) {
            let codeless = before
                .account_fields(to)?
                .is_none_or(|a| a.2 == revm::primitives::KECCAK_EMPTY);
            if codeless && !tx.env.value.is_zero() {
                access.make_delta(Loc::Account(to), Kind::Credit);
            }
            if stand_in_eligible(tx) {
                access.make_delta(Loc::Account(tx.env.caller), Kind::Debit);
            }
        }
        exec.db_mut().0.apply(&output.txs[i].changes);
        all.push(access);
    }
    Ok(all)
}

impl TxAccess {
    /// Turns what it did to `loc` into a delta of `kind`.
    fn make_delta(&mut self, loc: Loc, kind: Kind) {
        self.reads.retain(|l| *l != loc);
        self.writes.retain(|l| *l != loc);
        self.deltas.push((loc, kind));
    }
}

/// One timed pass: each transaction's execution and commit, microseconds.
fn time(block: &Block, state: &dyn StateView, output: &BlockOutput) -> Result<Vec<f64>, ExecError> {
    let mut walk = Overlay::new(state);
    walk.apply(&output.pre_block);
    let mut exec = TxExecutor::new(block, RevmDb(walk));
    let mut gas = 0;
    let mut us = Vec::with_capacity(block.transactions.len());
    for (i, tx) in block.transactions.iter().enumerate() {
        let started = Instant::now();
        let (out, _) = exec.execute(i, tx, gas)?;
        exec.db_mut().0.apply(&out.changes);
        us.push(started.elapsed().as_secs_f64() * 1e6);
        gas += out.gas_used;
    }
    Ok(us)
}
