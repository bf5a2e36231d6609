//! [`PreState`]: the `prestate.json` of a block folder, in the shape of geth's prestateTracer
//! output, read, merged and written.
//!
//! `{"0x<address>": {"balance": "0x…", "nonce": n, "code": "0x…", "storage": {"0x<slot>":
//! "0x<value>"}}}`; `code` and `storage` are left out when empty. Written in address and slot
//! order, so the same state always gives the same file.
//!
//! A block's trace gives one such object per transaction, each the state *before that
//! transaction*. [`PreState::merge_first`] combines them into the state before the block:
//! the first transaction to mention an account (or a slot) saw it as the block found it,
//! since every earlier transaction left it alone (the tracer lists everything a transaction
//! reads or writes), so the first value wins and later ones are ignored.

use super::json;
use crate::state::{Bytecode, InMemoryState};
use alloy_primitives::{Address, B256, Bytes, U256};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, btree_map::Entry};

/// One account of a pre-state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreAccount {
    /// Balance in wei.
    pub balance: U256,
    /// Nonce.
    pub nonce: u64,
    /// Code (empty for none).
    pub code: Bytes,
    /// Storage slots listed.
    pub storage: BTreeMap<U256, U256>,
}

/// Accounts and slots as a block found them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreState {
    /// The accounts, by address.
    pub accounts: BTreeMap<Address, PreAccount>,
}

impl PreState {
    /// Parses one prestateTracer object; `what` names it in errors.
    pub fn parse(value: &Value, what: &str) -> Result<PreState, String> {
        let mut pre = PreState::default();
        pre.merge_first(value, what)?;
        Ok(pre)
    }

    /// Adds the accounts and slots of `value` that this pre-state does not have yet.
    pub fn merge_first(&mut self, value: &Value, what: &str) -> Result<(), String> {
        let obj = value
            .as_object()
            .ok_or_else(|| format!("{what}: expected an object of accounts, found {value}"))?;
        for (addr, acc) in obj {
            let (address, account) =
                parse_account(addr, acc).map_err(|m| format!("{what}: account {addr}: {m}"))?;
            match self.accounts.entry(address) {
                Entry::Vacant(v) => {
                    v.insert(account);
                }
                Entry::Occupied(mut o) => {
                    for (k, v) in account.storage {
                        o.get_mut().storage.entry(k).or_insert(v);
                    }
                }
            }
        }
        Ok(())
    }

    /// Sets an account's balance, nonce and code (its listed slots stay).
    pub fn insert_account(&mut self, address: Address, balance: U256, nonce: u64, code: Bytes) {
        let account = self.accounts.entry(address).or_default();
        (account.balance, account.nonce, account.code) = (balance, nonce, code);
    }

    /// Lists a slot (adding an empty account if the address has none yet).
    pub fn insert_slot(&mut self, address: Address, index: U256, value: U256) {
        let account = self.accounts.entry(address).or_default();
        account.storage.insert(index, value);
    }

    /// Number of accounts and of slots.
    pub fn size(&self) -> (usize, usize) {
        let slots = self.accounts.values().map(|a| a.storage.len()).sum();
        (self.accounts.len(), slots)
    }

    /// Puts every account into `state`.
    pub fn apply_to(&self, state: &mut InMemoryState) {
        for (address, a) in &self.accounts {
            let storage = a.storage.iter().map(|(k, v)| (*k, *v));
            let code = Bytecode::new_raw(a.code.clone());
            state.insert_account(*address, a.balance, a.nonce, code, storage);
        }
    }

    /// The JSON of `prestate.json`.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        for (address, a) in &self.accounts {
            let mut acc = Map::new();
            acc.insert("balance".into(), format!("{:#x}", a.balance).into());
            acc.insert("nonce".into(), a.nonce.into());
            if !a.code.is_empty() {
                acc.insert("code".into(), a.code.to_string().into());
            }
            if !a.storage.is_empty() {
                let slots: Map<String, Value> = (a.storage.iter())
                    .map(|(k, v)| {
                        (
                            B256::from(*k).to_string(),
                            B256::from(*v).to_string().into(),
                        )
                    })
                    .collect();
                acc.insert("storage".into(), slots.into());
            }
            out.insert(format!("{address:#x}"), acc.into());
        }
        out.into()
    }
}

fn parse_account(addr: &str, acc: &Value) -> Result<(Address, PreAccount), String> {
    let address = json::address(&Value::String(addr.to_string()), "address")?;
    let field = |name: &str| acc.get(name).filter(|v| !v.is_null());
    let mut account = PreAccount {
        balance: field("balance").map_or(Ok(U256::ZERO), |v| json::u256(v, "balance"))?,
        nonce: field("nonce").map_or(Ok(0), |v| json::u64(v, "nonce"))?,
        code: field("code").map_or(Ok(Bytes::new()), |v| json::bytes(v, "code"))?,
        storage: BTreeMap::new(),
    };
    if let Some(s) = field("storage") {
        let s = s.as_object().ok_or("storage is not an object")?;
        for (k, v) in s {
            let key = json::u256(&Value::String(k.clone()), &format!("storage key {k}"))?;
            let value = json::u256(v, &format!("storage slot {k}"))?;
            account.storage.insert(key, value);
        }
    }
    Ok((address, account))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_mention_wins_per_account_and_per_slot() {
        let a = "0x00000000000000000000000000000000000000aa";
        let mut pre = PreState::parse(
            &json!({ a: {"balance": "0x1", "nonce": 2, "storage": {"0x01": "0x05"}} }),
            "tx 0",
        )
        .unwrap();
        pre.merge_first(
            &json!({ a: {"balance": "0x9", "nonce": 3, "storage": {"0x01": "0x06", "0x02": "0x07"}} }),
            "tx 1",
        )
        .unwrap();
        let acc = &pre.accounts[&a.parse::<Address>().unwrap()];
        assert_eq!((acc.balance, acc.nonce), (U256::from(1), 2));
        assert_eq!(acc.storage[&U256::from(1)], U256::from(5));
        assert_eq!(acc.storage[&U256::from(2)], U256::from(7));
    }

    #[test]
    fn writes_what_it_reads() {
        let v = json!({
            "0x00000000000000000000000000000000000000aa": {"balance": "0x10", "nonce": 1, "code": "0x6001",
                "storage": {"0x0000000000000000000000000000000000000000000000000000000000000001":
                            "0x0000000000000000000000000000000000000000000000000000000000000002"}},
            "0x00000000000000000000000000000000000000bb": {"balance": "0x0", "nonce": 0}
        });
        let pre = PreState::parse(&v, "test").unwrap();
        assert_eq!(pre.to_json(), v);
        assert_eq!(pre.size(), (2, 1));
    }

    use proptest::prelude::*;

    /// One transaction's tracer object: address byte to balance, nonce and slots.
    type Traced = BTreeMap<u8, (u64, u64, Vec<(u8, u64)>)>;

    /// A few of four addresses, each with a few of four slots, values small so that the
    /// same key comes back often.
    fn traced() -> impl Strategy<Value = Traced> {
        let account = (
            0..3u64,
            0..3u64,
            proptest::collection::vec((0..4u8, 0..3u64), 0..4),
        );
        proptest::collection::btree_map(0..4u8, account, 0..4)
    }

    fn to_value(tx: &Traced) -> Value {
        let accounts: Map<String, Value> = tx
            .iter()
            .map(|(a, (balance, nonce, slots))| {
                let storage: Map<String, Value> = (slots.iter())
                    .map(|(k, v)| (format!("{k:#x}"), format!("{v:#x}").into()))
                    .collect();
                let address = Address::with_last_byte(*a).to_string();
                let account =
                    json!({"balance": format!("{balance:#x}"), "nonce": nonce, "storage": storage});
                (address, account)
            })
            .collect();
        accounts.into()
    }

    proptest! {
        /// Merging in block order equals overwriting in reverse order (the last write of the
        /// reversed sequence is the first mention), and the result survives its own JSON.
        #[test]
        fn merging_keeps_first_mentions(txs in proptest::collection::vec(traced(), 0..6)) {
            let mut merged = PreState::default();
            for (i, tx) in txs.iter().enumerate() {
                merged.merge_first(&to_value(tx), &format!("tx {i}")).unwrap();
            }
            let mut reference = PreState::default();
            for tx in txs.iter().rev() {
                for (a, (balance, nonce, slots)) in tx {
                    let address = Address::with_last_byte(*a);
                    reference.insert_account(address, U256::from(*balance), *nonce, Bytes::new());
                    // Within one object a later duplicate key wins, as JSON parsing keeps it.
                    let own: BTreeMap<u8, u64> = slots.iter().copied().collect();
                    for (k, v) in own {
                        reference.insert_slot(address, U256::from(k), U256::from(v));
                    }
                }
            }
            prop_assert_eq!(&merged, &reference);
            prop_assert_eq!(&PreState::parse(&merged.to_json(), "round trip").unwrap(), &merged);
        }
    }

    #[test]
    fn names_the_bad_field() {
        let err = PreState::parse(&json!({"0xaa": {}}), "tx 3").unwrap_err();
        assert!(err.contains("tx 3") && err.contains("0xaa"), "{err}");
        let err = PreState::parse(
            &json!({"0x00000000000000000000000000000000000000aa": {"nonce": "zz"}}),
            "tx 4",
        )
        .unwrap_err();
        assert!(err.contains("nonce"), "{err}");
    }
}
