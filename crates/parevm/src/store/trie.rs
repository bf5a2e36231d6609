//! The Merkle Patricia tries of a store: nodes kept by hash in the store's `trie` table, so
//! that a block's root costs the paths of what it changed, not the whole state.
//!
//! eth_trie does the trie work (insert, remove, hashing of the changed paths). Its node
//! database here reads the last committed nodes from a read snapshot and keeps new nodes in
//! memory until the block's write transaction takes them; it never deletes: a node is named
//! by its hash, so two tries (two accounts with equal storage, or the tries of two retained
//! blocks) share it, and deleting the nodes one trie left behind could take them from another.

use super::StoreError;
use alloy_primitives::{B256, U256, keccak256};
use alloy_rlp::Encodable;
use eth_trie::{EthTrie, Trie};
use parking_lot::RwLock;
use redb::TableDefinition;
use std::{collections::HashMap, sync::Arc};

/// Trie nodes by hash.
pub(super) const NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("trie_nodes");

/// The root of an empty trie.
pub(super) const EMPTY_ROOT: B256 = alloy_trie::EMPTY_ROOT_HASH;

/// Nodes as of the last committed block, and those made since.
pub(super) struct Nodes {
    committed: Option<redb::ReadOnlyTable<&'static [u8], &'static [u8]>>,
    made: RwLock<HashMap<Vec<u8>, Vec<u8>>>,
}

/// Why the node database failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct NodeError(String);

impl Nodes {
    /// Over the committed nodes of `read` (none in a store being created).
    pub(super) fn new(read: Option<&redb::ReadTransaction>) -> Result<Arc<Nodes>, StoreError> {
        let committed = match read {
            Some(r) => Some(r.open_table(NODES).map_err(StoreError::db)?),
            None => None,
        };
        Ok(Arc::new(Nodes {
            committed,
            made: RwLock::new(HashMap::new()),
        }))
    }

    /// The nodes made since, for the block's write transaction.
    pub(super) fn take(&self) -> HashMap<Vec<u8>, Vec<u8>> {
        std::mem::take(&mut self.made.write())
    }
}

impl eth_trie::DB for Nodes {
    type Error = NodeError;

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, NodeError> {
        if let Some(v) = self.made.read().get(key) {
            return Ok(Some(v.clone()));
        }
        let Some(table) = &self.committed else {
            return Ok(None);
        };
        let found = table.get(key).map_err(|e| NodeError(e.to_string()))?;
        Ok(found.map(|v| v.value().to_vec()))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> Result<(), NodeError> {
        self.made.write().insert(key.to_vec(), value);
        Ok(())
    }

    fn remove(&self, _key: &[u8]) -> Result<(), NodeError> {
        Ok(())
    }

    fn flush(&self) -> Result<(), NodeError> {
        Ok(())
    }
}

/// A trie keyed by the keccak of its keys, at `root`.
pub(super) struct Secure(EthTrie<Nodes>);

impl Secure {
    /// The trie whose root is `root` (empty for [`EMPTY_ROOT`]).
    pub(super) fn at(nodes: &Arc<Nodes>, root: B256) -> Result<Secure, StoreError> {
        if root == EMPTY_ROOT {
            return Ok(Secure(EthTrie::new(nodes.clone())));
        }
        EthTrie::from(nodes.clone(), root)
            .map(Secure)
            .map_err(|e| StoreError::Corrupt(format!("trie root {root}: {e}")))
    }

    /// Sets `key` to the RLP `value`, or removes it when `value` is `None`.
    pub(super) fn set(&mut self, key: &[u8], value: Option<Vec<u8>>) -> Result<(), StoreError> {
        let hashed = keccak256(key);
        let done = match value {
            Some(v) => self.0.insert(hashed.as_slice(), &v),
            None => self.0.remove(hashed.as_slice()).map(|_| ()),
        };
        done.map_err(|e| StoreError::Corrupt(format!("trie node: {e}")))
    }

    /// The root after the changes (their nodes go to the node database).
    pub(super) fn root(&mut self) -> Result<B256, StoreError> {
        self.0
            .root_hash()
            .map_err(|e| StoreError::Corrupt(format!("trie node: {e}")))
    }
}

/// The RLP of a storage value as the storage trie keeps it (`None` for zero: not a leaf).
pub(super) fn slot_leaf(value: U256) -> Option<Vec<u8>> {
    (!value.is_zero()).then(|| alloy_rlp::encode(value))
}

/// The RLP of an account as the state trie keeps it.
pub(super) fn account_leaf(
    balance: U256,
    nonce: u64,
    code_hash: B256,
    storage_root: B256,
) -> Vec<u8> {
    let account = alloy_trie::TrieAccount::new(nonce, balance, storage_root, code_hash);
    let mut out = Vec::with_capacity(account.length());
    account.encode(&mut out);
    out
}
