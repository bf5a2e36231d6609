//! [`RemoteState`]: the state after one block of a node, read lazily and kept.
//!
//! Every read goes to the node once; its answer is kept in a cache that all worker threads
//! share, so a strategy that re-executes reads the network once per location. The cache is
//! also the record of what a block read: [`RemoteState::prestate`] turns it into the
//! pre-state a block folder stores.
//!
//! An account reads as absent when its balance, nonce and code are all zero: JSON-RPC cannot
//! tell an empty account from a missing one. From Spurious Dragon (EIP-161) on the two behave
//! alike; before it, a block that touches an empty account may not reproduce its header from
//! such a state, and `fetch` then says so.

use super::{RpcError, client::Node};
use crate::sources::prestate::PreState;
use crate::{
    predict::Loc,
    state::{AccountInfo, Bytecode, StateError, StateView, account_info},
};
use alloy_primitives::{
    Address, B256, U256, keccak256,
    map::{HashMap, HashSet},
};
use futures_util::future::try_join_all;
use parking_lot::Mutex;
use std::collections::BTreeMap;

/// Block hashes read from a node, one request per number, recorded.
#[derive(Debug)]
pub struct RemoteHashes<'n> {
    node: &'n Node,
    read: Mutex<BTreeMap<u64, B256>>,
}

impl<'n> RemoteHashes<'n> {
    /// Hashes from `node`.
    pub fn new(node: &'n Node) -> Self {
        RemoteHashes {
            node,
            read: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds a hash known without asking (a block's parent hash).
    pub fn insert(&self, number: u64, hash: B256) {
        self.read.lock().insert(number, hash);
    }

    /// The hash of block `number`.
    pub fn get(&self, number: u64) -> Result<B256, RpcError> {
        if let Some(h) = self.read.lock().get(&number) {
            return Ok(*h);
        }
        let hash = self.node.block_on(self.node.block_hash(number))?;
        self.read.lock().insert(number, hash);
        Ok(hash)
    }

    /// Every hash read or inserted so far.
    pub fn read(&self) -> BTreeMap<u64, B256> {
        self.read.lock().clone()
    }
}

/// One account as read: `None` when it reads as absent.
type Fields = Option<(U256, u64, B256)>;

/// The state of a node after one block (named by its hash), read on demand.
#[derive(Debug)]
pub struct RemoteState<'n> {
    node: &'n Node,
    at: B256,
    accounts: Mutex<HashMap<Address, Fields>>,
    storage: Mutex<HashMap<(Address, U256), U256>>,
    codes: Mutex<HashMap<B256, Bytecode>>,
    hashes: RemoteHashes<'n>,
}

impl<'n> RemoteState<'n> {
    /// The state of `node` after the block whose hash is `at`.
    pub fn new(node: &'n Node, at: B256) -> Self {
        RemoteState {
            node,
            at,
            accounts: Mutex::default(),
            storage: Mutex::default(),
            codes: Mutex::default(),
            hashes: RemoteHashes::new(node),
        }
    }

    /// The node it reads.
    pub fn node(&self) -> &'n Node {
        self.node
    }

    /// The block hashes this state reads.
    pub fn hashes(&self) -> &RemoteHashes<'n> {
        &self.hashes
    }

    /// Reads every location of `locs` not yet read, `Options::concurrency` at a time.
    pub fn prefetch(&self, locs: impl IntoIterator<Item = Loc>) -> Result<(), RpcError> {
        let (mut accounts, mut slots) = (Vec::new(), Vec::new());
        {
            let (known, stored) = (self.accounts.lock(), self.storage.lock());
            for loc in locs {
                match loc {
                    Loc::Account(a) if !known.contains_key(&a) => accounts.push(a),
                    Loc::Slot(a, k) if !stored.contains_key(&(a, k)) => slots.push((a, k)),
                    _ => {}
                }
            }
        }
        accounts.sort_unstable();
        accounts.dedup();
        slots.sort_unstable();
        slots.dedup();
        let node = self.node;
        let read = self.node.block_on(async {
            let accounts = try_join_all(accounts.iter().map(|a| node.account(*a, self.at)));
            let slots = try_join_all(slots.iter().map(|(a, k)| node.storage(*a, *k, self.at)));
            futures_util::try_join!(accounts, slots)
        })?;
        for (address, (balance, nonce, code)) in accounts.into_iter().zip(read.0) {
            self.keep_account(address, balance, nonce, code);
        }
        let mut stored = self.storage.lock();
        for (key, value) in slots.into_iter().zip(read.1) {
            stored.insert(key, value);
        }
        Ok(())
    }

    /// The locations of `read` (all read through this state), as a pre-state: absent
    /// accounts, their slots and zero slots left out, since a pre-state lists only what
    /// exists.
    pub fn prestate(&self, read: &HashSet<Loc>) -> PreState {
        let mut pre = PreState::default();
        let (codes, accounts, storage) =
            (self.codes.lock(), self.accounts.lock(), self.storage.lock());
        for loc in read {
            if let Loc::Account(address) = loc
                && let Some(Some((balance, nonce, code_hash))) = accounts.get(address)
            {
                let code = codes.get(code_hash).map(|c| c.original_bytes());
                pre.insert_account(*address, *balance, *nonce, code.unwrap_or_default());
            }
        }
        for loc in read {
            if let Loc::Slot(address, index) = loc
                && let Some(value) = storage.get(&(*address, *index))
                && !value.is_zero()
                && pre.accounts.contains_key(address)
            {
                pre.insert_slot(*address, *index, *value);
            }
        }
        pre
    }

    fn keep_account(
        &self,
        address: Address,
        balance: U256,
        nonce: u64,
        code: alloy_primitives::Bytes,
    ) -> Fields {
        let fields = if balance.is_zero() && nonce == 0 && code.is_empty() {
            None
        } else {
            let hash = keccak256(&code);
            self.codes
                .lock()
                .entry(hash)
                .or_insert_with(|| Bytecode::new_raw(code));
            Some((balance, nonce, hash))
        };
        self.accounts.lock().insert(address, fields);
        fields
    }

    fn fields(&self, address: Address) -> Result<Fields, StateError> {
        if let Some(f) = self.accounts.lock().get(&address) {
            return Ok(*f);
        }
        let (balance, nonce, code) = self
            .node
            .block_on(self.node.account(address, self.at))
            .map_err(backend)?;
        Ok(self.keep_account(address, balance, nonce, code))
    }
}

fn backend(e: RpcError) -> StateError {
    StateError::Backend(e.to_string())
}

impl StateView for RemoteState<'_> {
    fn account(&self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        let Some((balance, nonce, hash)) = self.fields(address)? else {
            return Ok(None);
        };
        let code = self.codes.lock().get(&hash).cloned();
        Ok(Some(account_info(balance, nonce, hash, code)))
    }

    fn account_fields(&self, address: Address) -> Result<Option<(U256, u64, B256)>, StateError> {
        self.fields(address)
    }

    fn code_by_hash(&self, code_hash: B256) -> Result<Bytecode, StateError> {
        self.codes
            .lock()
            .get(&code_hash)
            .cloned()
            .ok_or(StateError::MissingCode(code_hash))
    }

    fn storage(&self, address: Address, index: U256) -> Result<U256, StateError> {
        if let Some(v) = self.storage.lock().get(&(address, index)) {
            return Ok(*v);
        }
        let value = self
            .node
            .block_on(self.node.storage(address, index, self.at))
            .map_err(backend)?;
        self.storage.lock().insert((address, index), value);
        Ok(value)
    }

    fn block_hash(&self, number: u64) -> Result<B256, StateError> {
        self.hashes.get(number).map_err(backend)
    }
}

/// A view that notes every account and slot read through it.
#[derive(Debug)]
pub struct Touched<'a> {
    inner: &'a dyn StateView,
    read: Mutex<HashSet<Loc>>,
}

impl<'a> Touched<'a> {
    /// Reads through `inner`.
    pub fn new(inner: &'a dyn StateView) -> Self {
        Touched {
            inner,
            read: Mutex::default(),
        }
    }

    /// The locations read so far.
    pub fn into_read(self) -> HashSet<Loc> {
        self.read.into_inner()
    }
}

impl StateView for Touched<'_> {
    fn account(&self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        self.read.lock().insert(Loc::Account(address));
        self.inner.account(address)
    }
    fn account_fields(&self, address: Address) -> Result<Option<(U256, u64, B256)>, StateError> {
        self.read.lock().insert(Loc::Account(address));
        self.inner.account_fields(address)
    }
    fn code_by_hash(&self, code_hash: B256) -> Result<Bytecode, StateError> {
        self.inner.code_by_hash(code_hash)
    }
    fn storage(&self, address: Address, index: U256) -> Result<U256, StateError> {
        self.read.lock().insert(Loc::Slot(address, index));
        self.inner.storage(address, index)
    }
    fn block_hash(&self, number: u64) -> Result<B256, StateError> {
        self.inner.block_hash(number)
    }
}
