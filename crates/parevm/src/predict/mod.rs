//! Predicting what each transaction of a block will read and write before running it, and
//! measuring the predictions against what sequential execution actually touched.
//!
//! Every non-optimistic paradigm schedules from such predictions (Solana's declared accounts,
//! MegaETH's and Grevm's dependency graphs, Monad's static analysis). A [`Predictor`] gives one
//! [`Prediction`] per transaction: read and write sets of [`Loc`]ations, marked partial when
//! the predictor knows it may have missed some. [`truth`] is the reference, from a sequential
//! run; [`score`] compares.
//!
//! A location is an account (its balance, nonce and code together: revm loads them together)
//! or one storage slot. A transaction reads what it loaded and writes what it changed (a value
//! written back unchanged is a read); everything it writes it also read.

pub mod access_list;
pub mod bal;
pub mod bytecode;
pub mod measure;
pub mod simulate;

use crate::{
    block::Block,
    engine::Engine,
    error::ExecError,
    state::{Overlay, StateView},
    strategy::{Workers, sequential::Sequential},
};
use alloy_primitives::{Address, U256};
use std::collections::BTreeSet;
use std::time::Instant;

/// A location a transaction may read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Loc {
    /// An account's balance, nonce and code.
    Account(Address),
    /// One storage slot of an account.
    Slot(Address, U256),
}

impl Loc {
    /// The account the location belongs to.
    pub fn address(&self) -> Address {
        match self {
            Loc::Account(a) | Loc::Slot(a, _) => *a,
        }
    }
}

/// What one transaction is predicted (or known) to read and write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prediction {
    /// Locations read (a superset of the writes when complete).
    pub reads: BTreeSet<Loc>,
    /// Locations written.
    pub writes: BTreeSet<Loc>,
    /// Set when the predictor knows there may be more than these.
    pub partial: bool,
}

impl Prediction {
    /// Adds a read of `loc`.
    pub fn read(&mut self, loc: Loc) {
        self.reads.insert(loc);
    }

    /// Adds a write of `loc` (and its read).
    pub fn write(&mut self, loc: Loc) {
        self.reads.insert(loc);
        self.writes.insert(loc);
    }
}

/// A way of predicting what a block's transactions touch.
pub trait Predictor: Send + Sync {
    /// The name used on the command line (`--hints NAME`).
    fn name(&self) -> &'static str;

    /// One line on how it predicts.
    fn description(&self) -> &'static str;

    /// One prediction per transaction of `block`, whose pre-state is `state`, on `workers`.
    /// `None` when this predictor has nothing for this block (`bal` without a list).
    fn predict(
        &self,
        block: &Block,
        state: &dyn StateView,
        workers: &Workers,
    ) -> Result<Option<Vec<Prediction>>, ExecError>;
}

/// Every predictor, the cheapest first.
pub fn predictors() -> Vec<&'static dyn Predictor> {
    vec![
        &access_list::AccessList,
        &bytecode::Static::DEFAULT,
        &simulate::Simulate,
        &bal::FromList,
    ]
}

/// Looks a predictor up by name.
pub fn by_name(name: &str) -> Option<&'static dyn Predictor> {
    predictors().into_iter().find(|p| p.name() == name)
}

/// What sequential execution of `block` on `state` touched, per transaction, and how long it
/// took (µs).
pub fn truth(block: &Block, state: &dyn StateView) -> Result<(Vec<Prediction>, f64), ExecError> {
    let mut recorded = block.clone();
    recorded.record_access = true;
    let started = Instant::now();
    let out = Engine::new(1)?.execute(&recorded, state, &Sequential)?;
    let exec_us = started.elapsed().as_secs_f64() * 1e6;
    let mut walk = Overlay::new(state);
    walk.apply(&out.pre_block);
    let mut all = Vec::with_capacity(out.txs.len());
    for tx in &out.txs {
        all.push(observed(tx, &walk)?);
        walk.apply(&tx.changes);
    }
    Ok((all, exec_us))
}

/// What an executed transaction `tx` touched: what it loaded (it must have run recording
/// its accesses) and what it changed relative to `before`, the state it ran on.
pub(crate) fn observed(
    tx: &crate::output::TxOutput,
    before: &dyn StateView,
) -> Result<Prediction, ExecError> {
    let mut p = Prediction::default();
    for (address, slots) in tx.access.iter().flat_map(|a| a.0.iter()) {
        p.read(Loc::Account(*address));
        p.reads
            .extend(slots.iter().map(|k| Loc::Slot(*address, *k)));
    }
    for (address, change) in &tx.changes {
        if before.account_fields(*address)? != change.info {
            p.write(Loc::Account(*address));
        }
        for (slot, value) in &change.storage {
            if before.storage(*address, *slot)? != *value {
                p.write(Loc::Slot(*address, *slot));
            }
        }
    }
    Ok(p)
}

/// How a predictor did on some transactions.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Score {
    /// Transactions scored.
    pub txs: usize,
    /// Predicted reads that were read.
    pub reads_right: usize,
    /// All predicted reads.
    pub reads_predicted: usize,
    /// Actual reads.
    pub reads_actual: usize,
    /// Predicted writes that were written.
    pub writes_right: usize,
    /// All predicted writes.
    pub writes_predicted: usize,
    /// Actual writes.
    pub writes_actual: usize,
    /// Transactions whose read and write sets were predicted exactly.
    pub exact: usize,
    /// Transactions marked partial.
    pub partial: usize,
    /// Time predicting (µs).
    pub predict_us: f64,
    /// Time executing sequentially (µs).
    pub execute_us: f64,
}

/// `right / of`, 1 when `of` is 0 (nothing predicted is nothing wrong).
fn ratio(right: usize, of: usize) -> f64 {
    if of == 0 {
        1.0
    } else {
        right as f64 / of as f64
    }
}

impl Score {
    /// Scores `predicted` against `actual` (one per transaction).
    pub fn of(predicted: &[Prediction], actual: &[Prediction]) -> Score {
        let mut s = Score {
            txs: actual.len(),
            ..Score::default()
        };
        for (p, a) in predicted.iter().zip(actual) {
            s.reads_right += p.reads.intersection(&a.reads).count();
            s.reads_predicted += p.reads.len();
            s.reads_actual += a.reads.len();
            s.writes_right += p.writes.intersection(&a.writes).count();
            s.writes_predicted += p.writes.len();
            s.writes_actual += a.writes.len();
            s.exact += usize::from(p.reads == a.reads && p.writes == a.writes);
            s.partial += usize::from(p.partial);
        }
        s
    }

    /// Adds another block's score.
    pub fn add(&mut self, o: &Score) {
        self.txs += o.txs;
        self.reads_right += o.reads_right;
        self.reads_predicted += o.reads_predicted;
        self.reads_actual += o.reads_actual;
        self.writes_right += o.writes_right;
        self.writes_predicted += o.writes_predicted;
        self.writes_actual += o.writes_actual;
        self.exact += o.exact;
        self.partial += o.partial;
        self.predict_us += o.predict_us;
        self.execute_us += o.execute_us;
    }

    /// Share of predicted reads that were read.
    pub fn read_precision(&self) -> f64 {
        ratio(self.reads_right, self.reads_predicted)
    }
    /// Share of actual reads that were predicted.
    pub fn read_recall(&self) -> f64 {
        ratio(self.reads_right, self.reads_actual)
    }
    /// Share of predicted writes that were written.
    pub fn write_precision(&self) -> f64 {
        ratio(self.writes_right, self.writes_predicted)
    }
    /// Share of actual writes that were predicted.
    pub fn write_recall(&self) -> f64 {
        ratio(self.writes_right, self.writes_actual)
    }
    /// Share of transactions predicted exactly.
    pub fn exact_share(&self) -> f64 {
        ratio(self.exact, self.txs)
    }
    /// Share of transactions marked partial.
    pub fn partial_share(&self) -> f64 {
        ratio(self.partial, self.txs)
    }
    /// Prediction time per transaction (µs).
    pub fn us_per_tx(&self) -> f64 {
        self.predict_us / self.txs.max(1) as f64
    }
    /// Sequential execution time per transaction (µs).
    pub fn exec_us_per_tx(&self) -> f64 {
        self.execute_us / self.txs.max(1) as f64
    }
}

/// Scores `predictor` on `block` (pre-state `state`) against `actual`, sequential execution's
/// accesses, which took `execute_us`; `None` when it has nothing for this block.
pub fn score(
    predictor: &dyn Predictor,
    block: &Block,
    state: &dyn StateView,
    actual: &[Prediction],
    execute_us: f64,
    workers: &Workers,
) -> Result<Option<Score>, ExecError> {
    let started = Instant::now();
    let Some(predicted) = predictor.predict(block, state, workers)? else {
        return Ok(None);
    };
    let predict_us = started.elapsed().as_secs_f64() * 1e6;
    if predicted.len() != actual.len() {
        return Err(ExecError::Evm(format!(
            "predictor {} gave {} predictions for {} transactions",
            predictor.name(),
            predicted.len(),
            actual.len()
        )));
    }
    let mut s = Score::of(&predicted, actual);
    s.predict_us = predict_us;
    s.execute_us = execute_us;
    Ok(Some(s))
}

/// The accounts every transaction touches whatever it does: its sender, its recipient (for a
/// call) and the block's beneficiary (its fee). The sender and the beneficiary are written
/// (nonce and gas; the fee), the recipient of value too.
pub(crate) fn envelope(block: &Block, tx: &crate::block::Transaction) -> Prediction {
    let mut p = Prediction::default();
    p.write(Loc::Account(tx.env.caller));
    p.write(Loc::Account(block.header.beneficiary));
    if let revm::primitives::TxKind::Call(to) = tx.env.kind {
        if tx.env.value.is_zero() {
            p.read(Loc::Account(to));
        } else {
            p.write(Loc::Account(to));
        }
    }
    p
}

/// `predict(worker, i)` for every transaction index `i < n`, on `workers`, each with its own
/// state made by `worker`; the first error if any.
pub(crate) fn each_transaction<W>(
    n: usize,
    workers: &Workers,
    worker: impl Fn() -> W + Sync,
    predict: impl Fn(&mut W, usize) -> Result<Prediction, ExecError> + Sync,
) -> Result<Vec<Prediction>, ExecError> {
    /// Transactions per chunk a worker claims.
    const CHUNK: usize = 8;
    let out: Vec<parking_lot::Mutex<Option<Result<Prediction, ExecError>>>> =
        (0..n).map(|_| parking_lot::Mutex::new(None)).collect();
    let chunks: Vec<usize> = (0..n).step_by(CHUNK).collect();
    workers.for_each_chunk(chunks, worker, |w, first| {
        for (i, slot) in out.iter().enumerate().skip(first).take(CHUNK) {
            *slot.lock() = Some(predict(w, i));
        }
    });
    out.into_iter()
        .map(|p| p.into_inner().expect("every transaction predicted"))
        .collect()
}
