//! The `simulate` predictor: each transaction executed alone against the pre-block state, all
//! at once on the worker pool, recording what it touched.
//!
//! What a transaction touches depends on the state it runs on; the pre-block state is right
//! for a transaction no earlier one affects, and wrong, silently, for the rest (the prediction
//! is complete for the run it describes, so it is never marked partial). A sender's later
//! transactions run with the nonce the pre-state has, so that they run at all; one that still
//! fails predicts its envelope (sender, recipient, beneficiary), marked partial.

use super::{Prediction, Predictor, envelope};
use crate::{
    block::Block,
    core::TxExecutor,
    error::ExecError,
    state::{RevmDb, StateView},
    strategy::Workers,
};

/// The simulation predictor.
#[derive(Debug, Clone, Copy)]
pub struct Simulate;

impl Predictor for Simulate {
    fn name(&self) -> &'static str {
        "simulate"
    }

    fn description(&self) -> &'static str {
        "each transaction executed alone on the pre-block state, in parallel"
    }

    fn predict(
        &self,
        block: &Block,
        state: &dyn StateView,
        workers: &Workers,
    ) -> Result<Option<Vec<Prediction>>, ExecError> {
        let mut recorded = block.clone();
        recorded.record_access = true;
        let recorded = &recorded;
        let n = block.transactions.len();
        let worker = || TxExecutor::new(recorded, RevmDb(state));
        let run = |exec: &mut TxExecutor<_>, i| simulate_one(recorded, state, exec, i);
        super::each_transaction(n, workers, worker, run).map(Some)
    }
}

/// Transaction `i` of `block` run alone on `state`.
fn simulate_one(
    block: &Block,
    state: &dyn StateView,
    exec: &mut TxExecutor<RevmDb<&dyn StateView>>,
    i: usize,
) -> Result<Prediction, ExecError> {
    let mut tx = block.transactions[i].clone();
    if let Some((_, nonce, _)) = state.account_fields(tx.env.caller)? {
        tx.env.nonce = nonce;
    }
    let out = match exec.execute(i, &tx, 0) {
        Ok((out, _)) => out,
        Err(ExecError::InvalidTransaction { .. }) => {
            let mut p = envelope(block, &tx);
            p.partial = true;
            return Ok(p);
        }
        Err(e) => return Err(e),
    };
    super::observed(&out, state)
}
