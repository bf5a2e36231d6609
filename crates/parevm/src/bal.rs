//! EIP-7928 block-level access lists (BALs): every account and slot a block touches, with the
//! post-value of each write at each block access index (0: the pre-execution system calls,
//! `1..=n`: the transactions, `n + 1`: the post-execution operations).
//!
//! The types, the RLP encoding, the hash and the ordering rules are alloy's
//! ([`alloy_eip7928`]); this module adds the JSON shape of the execution-spec-tests fixtures'
//! `blockAccessList` (alloy's own serde names differ), in and out, and a summary.

pub use alloy_eip7928::{AccountChanges, BlockAccessList};

use alloy_primitives::{B256, U256, hex};
use serde_json::{Value, json};

/// Parses a BAL from the fixtures' JSON shape (a list of accounts with `nonceChanges`,
/// `balanceChanges`, `codeChanges`, `storageChanges` and `storageReads`), and checks alloy's
/// ordering and uniqueness rules for a block of `transactions` transactions. The error names
/// what is wrong and where.
pub fn from_json(value: &Value, transactions: usize) -> Result<BlockAccessList, String> {
    let list = value
        .as_array()
        .ok_or("a block access list must be a JSON list of accounts")?;
    let bal = list
        .iter()
        .enumerate()
        .map(|(i, account)| {
            serde_json::from_value::<AccountChanges>(account.clone())
                .map_err(|e| format!("account {i} of the block access list: {e}"))
        })
        .collect::<Result<BlockAccessList, String>>()?;
    alloy_eip7928::validate_block_access_list(&bal, transactions)
        .map_err(|e| format!("block access list: {e}"))?;
    Ok(bal)
}

/// The BAL in the fixtures' JSON shape (hex quantities; slots and values unpadded).
pub fn to_json(bal: &[AccountChanges]) -> Value {
    let q = |n: u64| quantity(&U256::from(n));
    let u = quantity;
    Value::Array(
        bal.iter()
            .map(|a| {
                json!({
                    "address": a.address,
                    "nonceChanges": a.nonce_changes.iter().map(|c| json!({
                        "blockAccessIndex": q(c.block_access_index.0),
                        "postNonce": q(c.new_nonce),
                    })).collect::<Vec<_>>(),
                    "balanceChanges": a.balance_changes.iter().map(|c| json!({
                        "blockAccessIndex": q(c.block_access_index.0),
                        "postBalance": u(&c.post_balance),
                    })).collect::<Vec<_>>(),
                    "codeChanges": a.code_changes.iter().map(|c| json!({
                        "blockAccessIndex": q(c.block_access_index.0),
                        "newCode": hex::encode_prefixed(&c.new_code),
                    })).collect::<Vec<_>>(),
                    "storageChanges": a.storage_changes.iter().map(|s| json!({
                        "slot": u(&s.slot),
                        "slotChanges": s.changes.iter().map(|c| json!({
                            "blockAccessIndex": q(c.block_access_index.0),
                            "postValue": u(&c.new_value),
                        })).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                    "storageReads": a.storage_reads.iter().map(u).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// A number as the fixtures write it: big-endian bytes without leading zero bytes, at least
/// one (`0x00`, `0x03e8`).
fn quantity(n: &U256) -> String {
    let bytes = n.to_be_bytes_trimmed_vec();
    if bytes.is_empty() {
        "0x00".into()
    } else {
        hex::encode_prefixed(bytes)
    }
}

/// The BAL's RLP encoding.
pub fn encode(bal: &[AccountChanges]) -> Vec<u8> {
    let mut out = Vec::new();
    alloy_rlp::encode_list(bal, &mut out);
    out
}

/// The BAL's hash, as a header's `blockAccessListHash` carries it (keccak of the RLP).
pub fn hash(bal: &[AccountChanges]) -> B256 {
    alloy_eip7928::compute_block_access_list_hash(bal)
}

/// What a BAL holds, in numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Accounts listed.
    pub accounts: usize,
    /// Storage slots listed (written or read).
    pub slots: usize,
    /// Post-values listed: nonce, balance, code and slot changes.
    pub writes: usize,
    /// Bytes of its RLP encoding.
    pub rlp_bytes: usize,
    /// Its hash.
    pub hash: B256,
}

impl Summary {
    /// Counts `bal`.
    pub fn of(bal: &[AccountChanges]) -> Summary {
        let writes = bal
            .iter()
            .map(|a| {
                a.nonce_changes.len()
                    + a.balance_changes.len()
                    + a.code_changes.len()
                    + a.storage_changes
                        .iter()
                        .map(|s| s.changes.len())
                        .sum::<usize>()
            })
            .sum();
        Summary {
            accounts: bal.len(),
            slots: bal
                .iter()
                .map(|a| a.storage_changes.len() + a.storage_reads.len())
                .sum(),
            writes,
            rlp_bytes: encode(bal).len(),
            hash: hash(bal),
        }
    }
}
