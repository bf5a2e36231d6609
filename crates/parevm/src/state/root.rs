//! The Merkle Patricia state root of a complete state.
//!
//! Why this is correct: the state trie maps `keccak256(address)` to the RLP of
//! `[nonce, balance, storage_root, code_hash]`, and each storage trie maps
//! `keccak256(slot)` to the RLP of the non-zero value. alloy-trie's [`HashBuilder`] computes
//! the root of a trie from its leaves provided in ascending key order, so it suffices to hash
//! the keys, sort them, and feed the leaves in that order. Zero-valued slots are not leaves
//! (a zero write deletes the slot), so they are skipped. The tests compare the result against
//! alloy-trie's own reference root helpers and the well-known empty-trie root.

use super::PlainAccount;
use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_rlp::Encodable;
use alloy_trie::{HashBuilder, Nibbles, TrieAccount};

/// Root of one account's storage trie.
pub fn storage_root<'a>(storage: impl IntoIterator<Item = (&'a U256, &'a U256)>) -> B256 {
    let mut leaves: Vec<(B256, U256)> = storage
        .into_iter()
        .filter(|(_, v)| !v.is_zero())
        .map(|(k, v)| (keccak256(k.to_be_bytes::<32>()), *v))
        .collect();
    leaves.sort_unstable_by_key(|l| l.0);
    let mut hb = HashBuilder::default();
    let mut buf = Vec::with_capacity(33);
    for (key, value) in leaves {
        buf.clear();
        value.encode(&mut buf);
        hb.add_leaf(Nibbles::unpack(key), &buf);
    }
    hb.root()
}

/// Root of the state trie of `accounts`.
pub fn state_root<'a>(accounts: impl IntoIterator<Item = (Address, &'a PlainAccount)>) -> B256 {
    let mut leaves: Vec<(B256, TrieAccount)> = accounts
        .into_iter()
        .map(|(address, acc)| {
            let account = TrieAccount::new(
                acc.nonce,
                acc.balance,
                storage_root(&acc.storage),
                acc.code_hash,
            );
            (keccak256(address), account)
        })
        .collect();
    leaves.sort_unstable_by_key(|l| l.0);
    let mut hb = HashBuilder::default();
    let mut buf = Vec::with_capacity(128);
    for (key, account) in leaves {
        buf.clear();
        account.encode(&mut buf);
        hb.add_leaf(Nibbles::unpack(key), &buf);
    }
    hb.root()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{b256, map::HashMap};
    use proptest::prelude::*;
    use revm::primitives::KECCAK_EMPTY;

    #[test]
    fn empty_trie_root() {
        // keccak256(rlp("")) = keccak256(0x80), the root of every empty trie.
        let expected = b256!("0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");
        assert_eq!(keccak256([0x80u8]), expected);
        assert_eq!(state_root(std::iter::empty()), expected);
        assert_eq!(storage_root(std::iter::empty()), expected);
        assert_eq!(storage_root([(&U256::from(1), &U256::ZERO)]), expected);
    }

    fn arb_account() -> impl Strategy<Value = PlainAccount> {
        (
            any::<u64>(),
            any::<[u8; 32]>(),
            any::<bool>(),
            prop::collection::vec((any::<[u8; 32]>(), 0u64..4), 0..6),
        )
            .prop_map(|(nonce, bal, has_code, slots)| PlainAccount {
                nonce,
                balance: U256::from_be_bytes(bal),
                code_hash: if has_code {
                    keccak256(bal)
                } else {
                    KECCAK_EMPTY
                },
                storage: slots
                    .into_iter()
                    .map(|(k, v)| (U256::from_be_bytes(k), U256::from(v)))
                    .collect::<HashMap<_, _>>(),
            })
    }

    proptest! {
        #[test]
        fn matches_alloy_reference(accounts in prop::collection::vec((any::<[u8; 20]>(), arb_account()), 0..24)) {
            let accounts: HashMap<Address, PlainAccount> =
                accounts.into_iter().map(|(a, acc)| (Address::from(a), acc)).collect();
            let reference = alloy_trie::root::state_root_unhashed(accounts.iter().map(|(a, acc)| {
                let storage = alloy_trie::root::storage_root_unhashed(
                    acc.storage.iter().filter(|(_, v)| !v.is_zero()).map(|(k, v)| (B256::from(k.to_be_bytes::<32>()), *v)),
                );
                (*a, TrieAccount::new(acc.nonce, acc.balance, storage, acc.code_hash))
            }));
            prop_assert_eq!(state_root(accounts.iter().map(|(a, acc)| (*a, acc))), reference);
        }
    }
}
