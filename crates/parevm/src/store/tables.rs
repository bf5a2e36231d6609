//! The store's tables, their encodings, and the writes of one block.

use super::{
    Head, StoreError, key,
    trie::{self, EMPTY_ROOT, Nodes, Secure},
};
use crate::state::{InMemoryState, PlainAccount, StateChanges, changes::AccountValue};
use alloy_primitives::{Address, B256, U256, map::HashMap};
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use revm::state::Bytecode;
use std::{collections::BTreeMap, sync::Arc};

/// `magic` and `format`.
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Address → balance, nonce, code hash, storage root (104 bytes).
pub(super) const ACCOUNTS: TableDefinition<&[u8; 20], &[u8]> = TableDefinition::new("accounts");
/// Address and slot (52 bytes) → non-zero value.
pub(super) const STORAGE: TableDefinition<&[u8; 52], &[u8; 32]> = TableDefinition::new("storage");
/// Code hash → code.
pub(super) const CODE: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("code");
/// Block number → hash.
pub(super) const BLOCK_HASHES: TableDefinition<u64, &[u8; 32]> =
    TableDefinition::new("block_hashes");
/// Block number → what it overwrote.
pub(super) const CHANGE_SETS: TableDefinition<u64, &[u8]> = TableDefinition::new("change_sets");
/// Block number → [`Head`], for every retained block.
pub(super) const HEADS: TableDefinition<u64, &[u8]> = TableDefinition::new("heads");

/// A value with a fixed byte encoding.
pub(super) trait Encoded: Sized {
    fn encode(&self) -> Vec<u8>;
    fn decode(bytes: &[u8]) -> Result<Self, StoreError>;
}

/// An account as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stored {
    pub(super) balance: U256,
    pub(super) nonce: u64,
    pub(super) code_hash: B256,
    pub(super) storage_root: B256,
}

impl Encoded for Stored {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(104);
        out.extend_from_slice(&self.balance.to_be_bytes::<32>());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(self.code_hash.as_slice());
        out.extend_from_slice(self.storage_root.as_slice());
        out
    }

    fn decode(b: &[u8]) -> Result<Stored, StoreError> {
        if b.len() != 104 {
            return Err(StoreError::Corrupt(format!(
                "an account of {} bytes",
                b.len()
            )));
        }
        Ok(Stored {
            balance: U256::from_be_slice(&b[..32]),
            nonce: u64::from_be_bytes(b[32..40].try_into().expect("8 bytes")),
            code_hash: B256::from_slice(&b[40..72]),
            storage_root: B256::from_slice(&b[72..]),
        })
    }
}

/// A slot's key: its account, then the slot big-endian (so an account's slots are one range).
pub(super) fn slot_key(address: &Address, slot: U256) -> [u8; 52] {
    let mut k = [0u8; 52];
    k[..20].copy_from_slice(address.as_slice());
    k[20..].copy_from_slice(&slot.to_be_bytes::<32>());
    k
}

/// The first and last keys of `address`'s slots.
pub(super) fn slot_bounds(address: &Address) -> ([u8; 52], [u8; 52]) {
    (slot_key(address, U256::ZERO), slot_key(address, U256::MAX))
}

/// What a block overwrote: each account's and slot's value before it, and the root after.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ChangeSet {
    pub(super) accounts: Vec<(Address, AccountValue)>,
    pub(super) slots: Vec<(Address, U256, U256)>,
    pub(super) root: B256,
}

impl Encoded for ChangeSet {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.accounts.len() as u32).to_be_bytes());
        for (a, v) in &self.accounts {
            out.extend_from_slice(a.as_slice());
            match v {
                None => out.push(0),
                Some((balance, nonce, code_hash)) => {
                    out.push(1);
                    out.extend_from_slice(&balance.to_be_bytes::<32>());
                    out.extend_from_slice(&nonce.to_be_bytes());
                    out.extend_from_slice(code_hash.as_slice());
                }
            }
        }
        out.extend_from_slice(&(self.slots.len() as u32).to_be_bytes());
        for (a, slot, value) in &self.slots {
            out.extend_from_slice(a.as_slice());
            out.extend_from_slice(&slot.to_be_bytes::<32>());
            out.extend_from_slice(&value.to_be_bytes::<32>());
        }
        out.extend_from_slice(self.root.as_slice());
        out
    }

    fn decode(bytes: &[u8]) -> Result<ChangeSet, StoreError> {
        let mut r = Reader(bytes);
        let mut set = ChangeSet::default();
        for _ in 0..r.u32()? {
            let a = Address::from_slice(r.take(20)?);
            let v = match r.take(1)?[0] {
                0 => None,
                _ => Some((
                    U256::from_be_slice(r.take(32)?),
                    r.u64()?,
                    B256::from_slice(r.take(32)?),
                )),
            };
            set.accounts.push((a, v));
        }
        for _ in 0..r.u32()? {
            let a = Address::from_slice(r.take(20)?);
            set.slots.push((
                a,
                U256::from_be_slice(r.take(32)?),
                U256::from_be_slice(r.take(32)?),
            ));
        }
        set.root = B256::from_slice(r.take(32)?);
        match r.0.is_empty() {
            true => Ok(set),
            false => Err(StoreError::Corrupt(
                "trailing bytes after a change set".into(),
            )),
        }
    }
}

/// Reads a byte string front to back.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.0.len() < n {
            return Err(StoreError::Corrupt("a truncated change set".into()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, StoreError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

/// One account's changes over a block, merged in order.
#[derive(Debug, Default)]
pub(super) struct Merged {
    info: AccountValue,
    cleared: bool,
    storage: BTreeMap<U256, U256>,
    code: Option<Bytecode>,
}

/// The block's changes per account, in order: the last info, a wipe if any operation wiped,
/// and the slots written after the last wipe.
pub(super) fn merge<'a>(
    changes: impl IntoIterator<Item = &'a StateChanges>,
) -> BTreeMap<Address, Merged> {
    let mut out: BTreeMap<Address, Merged> = BTreeMap::new();
    for step in changes {
        for (address, change) in step {
            let m = out.entry(*address).or_default();
            if change.storage_cleared {
                m.cleared = true;
                m.storage.clear();
            }
            m.info = change.info;
            m.storage
                .extend(change.storage.iter().map(|(k, v)| (*k, *v)));
            if change.code.is_some() {
                m.code.clone_from(&change.code);
            }
        }
    }
    out
}

/// Applies `merged` to the tables of `write` and the tries under `root`: what it overwrote,
/// with the new root.
pub(super) fn apply(
    write: &WriteTransaction,
    nodes: &Arc<Nodes>,
    root: B256,
    merged: &BTreeMap<Address, Merged>,
) -> Result<ChangeSet, StoreError> {
    let mut accounts = write.open_table(ACCOUNTS).map_err(StoreError::db)?;
    let mut storage = write.open_table(STORAGE).map_err(StoreError::db)?;
    let mut code = write.open_table(CODE).map_err(StoreError::db)?;
    let mut state = Secure::at(nodes, root)?;
    let mut set = ChangeSet::default();
    for (address, m) in merged {
        let old = match accounts.get(&key(address)).map_err(StoreError::db)? {
            Some(v) => Some(Stored::decode(v.value())?),
            None => None,
        };
        set.accounts
            .push((*address, old.map(|o| (o.balance, o.nonce, o.code_hash))));
        let mut before: HashMap<U256, U256> = HashMap::default();
        let mut storage_root = old.map_or(EMPTY_ROOT, |o| o.storage_root);
        if m.cleared {
            let bounds = slot_bounds(address);
            for entry in storage
                .extract_from_if::<&[u8; 52], _>(&bounds.0..=&bounds.1, |_, _| true)
                .map_err(StoreError::db)?
            {
                let (k, v) = entry.map_err(StoreError::db)?;
                before.insert(
                    U256::from_be_slice(&k.value()[20..]),
                    U256::from_be_bytes(*v.value()),
                );
            }
            storage_root = EMPTY_ROOT;
        }
        if m.cleared || !m.storage.is_empty() {
            let mut slots = Secure::at(nodes, storage_root)?;
            for (slot, value) in &m.storage {
                let k = slot_key(address, *slot);
                let was = match before.get(slot) {
                    Some(v) => *v,
                    None if m.cleared => U256::ZERO,
                    None => storage
                        .get(&k)
                        .map_err(StoreError::db)?
                        .map_or(U256::ZERO, |v| U256::from_be_bytes(*v.value())),
                };
                before.insert(*slot, was);
                match value.is_zero() {
                    true => storage.remove(&k).map(|_| ()).map_err(StoreError::db)?,
                    false => storage
                        .insert(&k, &value.to_be_bytes::<32>())
                        .map(|_| ())
                        .map_err(StoreError::db)?,
                }
                slots.set(&slot.to_be_bytes::<32>(), trie::slot_leaf(*value))?;
            }
            storage_root = slots.root()?;
        }
        set.slots
            .extend(before.into_iter().map(|(slot, v)| (*address, slot, v)));
        match m.info {
            Some((balance, nonce, code_hash)) => {
                let new = Stored {
                    balance,
                    nonce,
                    code_hash,
                    storage_root,
                };
                accounts
                    .insert(&key(address), new.encode().as_slice())
                    .map_err(StoreError::db)?;
                let leaf = trie::account_leaf(balance, nonce, code_hash, storage_root);
                state.set(address.as_slice(), Some(leaf))?;
            }
            None => {
                accounts.remove(&key(address)).map_err(StoreError::db)?;
                state.set(address.as_slice(), None)?;
            }
        }
        if let Some(c) = &m.code {
            code.insert(&c.hash_slow().0, c.original_bytes().as_ref())
                .map_err(StoreError::db)?;
        }
    }
    set.slots.sort_unstable();
    set.root = state.root()?;
    Ok(set)
}

/// Writes `genesis` into the empty tables of `write`: its root.
pub(super) fn write_state(
    write: &WriteTransaction,
    nodes: &Arc<Nodes>,
    genesis: &InMemoryState,
) -> Result<B256, StoreError> {
    let mut changes = StateChanges::new();
    for (address, account) in genesis.accounts() {
        let change = crate::state::AccountChange {
            info: Some((account.balance, account.nonce, account.code_hash)),
            storage_cleared: false,
            storage: account.storage.iter().map(|(k, v)| (*k, *v)).collect(),
            code: genesis.code(&account.code_hash).cloned(),
        };
        changes.insert(*address, change);
    }
    let set = apply(write, nodes, EMPTY_ROOT, &merge([&changes]))?;
    let mut hashes = write.open_table(BLOCK_HASHES).map_err(StoreError::db)?;
    for (number, hash) in genesis.block_hashes() {
        hashes.insert(number, &hash.0).map_err(StoreError::db)?;
    }
    Ok(set.root)
}

/// Stores trie nodes.
pub(super) fn put_nodes(
    write: &WriteTransaction,
    made: std::collections::HashMap<Vec<u8>, Vec<u8>>,
) -> Result<(), StoreError> {
    let mut table = write.open_table(trie::NODES).map_err(StoreError::db)?;
    for (k, v) in made {
        table
            .insert(k.as_slice(), v.as_slice())
            .map_err(StoreError::db)?;
    }
    Ok(())
}

/// Records `head` as the last committed block.
pub(super) fn put_head(write: &WriteTransaction, head: Head) -> Result<(), StoreError> {
    let mut heads = write.open_table(HEADS).map_err(StoreError::db)?;
    heads
        .insert(head.number, head.encode().as_slice())
        .map_err(StoreError::db)?;
    Ok(())
}

/// The last committed block, if any.
pub(super) fn last_head(read: &redb::ReadTransaction) -> Result<Option<Head>, StoreError> {
    let heads = read.open_table(HEADS).map_err(StoreError::db)?;
    match heads.last().map_err(StoreError::db)? {
        Some((_, v)) => Head::decode(v.value()).map(Some),
        None => Ok(None),
    }
}

/// Records block `number`'s change set.
pub(super) fn put_change_set(
    write: &WriteTransaction,
    number: u64,
    set: &ChangeSet,
) -> Result<(), StoreError> {
    let mut sets = write.open_table(CHANGE_SETS).map_err(StoreError::db)?;
    sets.insert(number, set.encode().as_slice())
        .map_err(StoreError::db)?;
    Ok(())
}

/// Records block `number`'s hash.
pub(super) fn put_block_hash(
    write: &WriteTransaction,
    number: u64,
    hash: B256,
) -> Result<(), StoreError> {
    let mut hashes = write.open_table(BLOCK_HASHES).map_err(StoreError::db)?;
    hashes.insert(number, &hash.0).map_err(StoreError::db)?;
    Ok(())
}

/// Drops the change sets (and retained heads) of blocks up to `below` (exclusive): their
/// states are no longer readable.
pub(super) fn prune(write: &WriteTransaction, below: u64) -> Result<(), StoreError> {
    let mut sets = write.open_table(CHANGE_SETS).map_err(StoreError::db)?;
    sets.retain_in(..=below, |_, _| false)
        .map_err(StoreError::db)?;
    let mut heads = write.open_table(HEADS).map_err(StoreError::db)?;
    heads
        .retain_in(..below, |_, _| false)
        .map_err(StoreError::db)?;
    Ok(())
}

/// The state root from the accounts and storage tables alone.
pub(super) fn scratch_root(read: &redb::ReadTransaction) -> Result<B256, StoreError> {
    let accounts = read.open_table(ACCOUNTS).map_err(StoreError::db)?;
    let storage = read.open_table(STORAGE).map_err(StoreError::db)?;
    let mut all: Vec<(Address, PlainAccount)> = Vec::new();
    for entry in accounts.iter().map_err(StoreError::db)? {
        let (k, v) = entry.map_err(StoreError::db)?;
        let s = Stored::decode(v.value())?;
        let address = Address::from(*k.value());
        let mut account = PlainAccount {
            balance: s.balance,
            nonce: s.nonce,
            code_hash: s.code_hash,
            storage: HashMap::default(),
        };
        let bounds = slot_bounds(&address);
        for slot in storage
            .range::<&[u8; 52]>(&bounds.0..=&bounds.1)
            .map_err(StoreError::db)?
        {
            let (k, v) = slot.map_err(StoreError::db)?;
            account.storage.insert(
                U256::from_be_slice(&k.value()[20..]),
                U256::from_be_bytes(*v.value()),
            );
        }
        all.push((address, account));
    }
    Ok(crate::state::root::state_root(
        all.iter().map(|(a, acc)| (*a, acc)),
    ))
}

/// Accounts, slots and codes held.
pub(super) fn counts(read: &redb::ReadTransaction) -> Result<(u64, u64, u64), StoreError> {
    let a = read
        .open_table(ACCOUNTS)
        .map_err(StoreError::db)?
        .len()
        .map_err(StoreError::db)?;
    let s = read
        .open_table(STORAGE)
        .map_err(StoreError::db)?
        .len()
        .map_err(StoreError::db)?;
    let c = read
        .open_table(CODE)
        .map_err(StoreError::db)?
        .len()
        .map_err(StoreError::db)?;
    Ok((a, s, c))
}
