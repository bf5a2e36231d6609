//! Conversion of signed consensus transactions (alloy) into revm transaction environments.

use crate::block::Transaction;
use alloy_consensus::{Transaction as _, TxEnvelope, transaction::SignerRecoverable};
use alloy_eips::Typed2718;
use alloy_primitives::Address;
use revm::context::TxEnv;

/// Builds the revm environment of `tx` sent by `sender`.
pub fn tx_env(tx: &TxEnvelope, sender: Address) -> TxEnv {
    TxEnv {
        tx_type: tx.ty(),
        caller: sender,
        gas_limit: tx.gas_limit(),
        gas_price: tx.max_fee_per_gas(),
        kind: tx.kind(),
        value: tx.value(),
        data: tx.input().clone(),
        nonce: tx.nonce(),
        chain_id: tx.chain_id(),
        access_list: tx.access_list().cloned().unwrap_or_default(),
        gas_priority_fee: tx.max_priority_fee_per_gas(),
        blob_hashes: tx
            .blob_versioned_hashes()
            .map(<[_]>::to_vec)
            .unwrap_or_default(),
        max_fee_per_blob_gas: tx.max_fee_per_blob_gas().unwrap_or_default(),
        authorization_list: tx
            .authorization_list()
            .map(|l| {
                l.iter()
                    .cloned()
                    .map(revm::context_interface::either::Either::Left)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Builds a [`Transaction`], recovering the sender from the signature when not given.
pub fn from_envelope(tx: &TxEnvelope, sender: Option<Address>) -> Result<Transaction, String> {
    let sender = match sender {
        Some(s) => s,
        None => tx
            .recover_signer()
            .map_err(|e| format!("cannot recover the sender: {e}"))?,
    };
    Ok(Transaction {
        hash: *tx.tx_hash(),
        tx_type: tx.ty(),
        env: tx_env(tx, sender),
    })
}
