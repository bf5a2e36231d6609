//! The `bal` predictor: the block's EIP-7928 access list, when it comes with one.
//!
//! The list gives every transaction's writes exactly (its entries at the transaction's block
//! access index). Reads are listed for the block as a whole, not per transaction, so a
//! transaction's predicted reads are its writes and the accounts every transaction touches;
//! the prediction is marked partial for that reason.

use super::{Loc, Prediction, Predictor, envelope};
use crate::{block::Block, error::ExecError, state::StateView, strategy::Workers};

/// Predictions from the block's access list.
#[derive(Debug, Clone, Copy)]
pub struct FromList;

impl Predictor for FromList {
    fn name(&self) -> &'static str {
        "bal"
    }

    fn description(&self) -> &'static str {
        "the block's EIP-7928 access list: exact writes, reads listed per block only"
    }

    fn predict(
        &self,
        block: &Block,
        _state: &dyn StateView,
        _workers: &Workers,
    ) -> Result<Option<Vec<Prediction>>, ExecError> {
        let Some(given) = &block.access_list else {
            return Ok(None);
        };
        let n = block.transactions.len();
        let mut all: Vec<Prediction> = block
            .transactions
            .iter()
            .map(|tx| {
                let mut p = envelope(block, tx);
                p.writes.clear();
                p.partial = true;
                p
            })
            .collect();
        let mut write = |index: u64, loc: Loc| {
            if let Some(p) = (index as usize).checked_sub(1).and_then(|i| all.get_mut(i)) {
                p.write(loc);
            }
        };
        for a in given.list() {
            let account = Loc::Account(a.address);
            let indices = (a.balance_changes.iter().map(|c| c.block_access_index))
                .chain(a.nonce_changes.iter().map(|c| c.block_access_index))
                .chain(a.code_changes.iter().map(|c| c.block_access_index));
            for i in indices {
                write(i.0, account);
            }
            for s in &a.storage_changes {
                for c in &s.changes {
                    write(c.block_access_index.0, Loc::Slot(a.address, s.slot));
                }
            }
        }
        debug_assert_eq!(all.len(), n);
        Ok(Some(all))
    }
}
