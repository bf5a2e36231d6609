//! The `access-list` predictor: what a transaction declares (its EIP-2930 list), plus its
//! sender, its recipient and the beneficiary.
//!
//! A list is only a hint (it prices warm accesses; nothing stops a transaction from touching
//! more), and it does not say what is written: listed slots are predicted read. A prediction
//! is complete only for a plain transfer to an account without code; the predictor reads the
//! recipient's code hash from the pre-state for that, and nothing else.

use super::{Loc, Prediction, Predictor, envelope};
use crate::{block::Block, error::ExecError, state::StateView, strategy::Workers};
use revm::primitives::{KECCAK_EMPTY, TxKind};

/// The EIP-2930 predictor.
#[derive(Debug, Clone, Copy)]
pub struct AccessList;

impl Predictor for AccessList {
    fn name(&self) -> &'static str {
        "access-list"
    }

    fn description(&self) -> &'static str {
        "the transaction's EIP-2930 list plus sender, recipient and beneficiary"
    }

    fn predict(
        &self,
        block: &Block,
        state: &dyn StateView,
        _workers: &Workers,
    ) -> Result<Option<Vec<Prediction>>, ExecError> {
        let mut all = Vec::with_capacity(block.transactions.len());
        for tx in &block.transactions {
            let mut p = envelope(block, tx);
            for item in tx.env.access_list.iter() {
                p.read(Loc::Account(item.address));
                for key in &item.storage_keys {
                    p.read(Loc::Slot(item.address, (*key).into()));
                }
            }
            let plain = match tx.env.kind {
                TxKind::Call(to) => {
                    let code = state.account_fields(to)?.map(|(_, _, h)| h);
                    tx.env.data.is_empty()
                        && tx.env.authorization_list.is_empty()
                        && code.is_none_or(|h| h == KECCAK_EMPTY)
                }
                TxKind::Create => false,
            };
            p.partial = !plain;
            all.push(p);
        }
        Ok(Some(all))
    }
}
