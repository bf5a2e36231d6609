//! A complete state held in memory: the pre-state of fixtures, state tests and generated
//! workloads, and the evolving state of blockchain tests.

use super::{AccountChange, StateChanges, StateError, StateView};
use alloy_primitives::{
    Address, B256, U256, keccak256,
    map::{AddressHashMap, HashMap},
};
use revm::{
    primitives::KECCAK_EMPTY,
    state::{AccountInfo, Bytecode},
};

/// One account with its storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlainAccount {
    /// Balance.
    pub balance: U256,
    /// Nonce.
    pub nonce: u64,
    /// keccak256 of `code`, or `KECCAK_EMPTY`.
    pub code_hash: B256,
    /// Non-zero storage slots.
    pub storage: HashMap<U256, U256>,
}

impl PlainAccount {
    /// True when the account has no nonce, balance or code (EIP-161 "empty").
    pub fn is_empty(&self) -> bool {
        self.balance.is_zero() && self.nonce == 0 && self.code_hash == KECCAK_EMPTY
    }
}

/// Where BLOCKHASH values come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BlockHashes {
    /// A table of known hashes; any other number is an error.
    #[default]
    Table,
    /// The state-test convention: the hash of block `n` is `keccak256(n as decimal string)`,
    /// used by ethereum/tests and execution-spec-tests state fixtures.
    StateTestConvention,
}

/// A full in-memory state.
#[derive(Debug, Clone, Default)]
pub struct InMemoryState {
    accounts: AddressHashMap<PlainAccount>,
    codes: HashMap<B256, Bytecode>,
    block_hashes: HashMap<u64, B256>,
    block_hash_mode: BlockHashes,
}

impl InMemoryState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts (or replaces) an account with its code and storage; zero slots are dropped.
    pub fn insert_account(
        &mut self,
        address: Address,
        balance: U256,
        nonce: u64,
        code: Bytecode,
        storage: impl IntoIterator<Item = (U256, U256)>,
    ) {
        let code_hash = if code.is_empty() {
            KECCAK_EMPTY
        } else {
            code.hash_slow()
        };
        if code_hash != KECCAK_EMPTY {
            self.codes.insert(code_hash, code);
        }
        let storage = storage.into_iter().filter(|(_, v)| !v.is_zero()).collect();
        self.accounts.insert(
            address,
            PlainAccount {
                balance,
                nonce,
                code_hash,
                storage,
            },
        );
    }

    /// Records the hash of block `number`.
    pub fn insert_block_hash(&mut self, number: u64, hash: B256) {
        self.block_hashes.insert(number, hash);
    }

    /// Chooses how unknown block hashes are answered.
    pub fn set_block_hash_mode(&mut self, mode: BlockHashes) {
        self.block_hash_mode = mode;
    }

    /// Every known block hash, by number.
    pub fn block_hashes(&self) -> impl Iterator<Item = (u64, B256)> + '_ {
        self.block_hashes.iter().map(|(n, h)| (*n, *h))
    }

    /// All accounts.
    pub fn accounts(&self) -> impl Iterator<Item = (&Address, &PlainAccount)> {
        self.accounts.iter()
    }

    /// One account.
    pub fn get(&self, address: &Address) -> Option<&PlainAccount> {
        self.accounts.get(address)
    }

    /// The code stored under `hash`.
    pub fn code(&self, hash: &B256) -> Option<&Bytecode> {
        self.codes.get(hash)
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// True when there are no accounts.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Applies changes in place (the commit of a transaction or a whole block).
    pub fn apply(&mut self, changes: &StateChanges) {
        for (address, change) in changes {
            self.apply_one(*address, change);
        }
    }

    fn apply_one(&mut self, address: Address, change: &AccountChange) {
        let Some((balance, nonce, code_hash)) = change.info else {
            self.accounts.remove(&address);
            return;
        };
        if let Some(code) = &change.code {
            self.codes.entry(code_hash).or_insert_with(|| code.clone());
        }
        let account = self.accounts.entry(address).or_default();
        account.balance = balance;
        account.nonce = nonce;
        account.code_hash = code_hash;
        if change.storage_cleared {
            account.storage.clear();
        }
        for (k, v) in &change.storage {
            if v.is_zero() {
                account.storage.remove(k);
            } else {
                account.storage.insert(*k, *v);
            }
        }
    }

    /// The Merkle Patricia root of this state (see [`super::root`]).
    pub fn state_root(&self) -> B256 {
        super::root::state_root(self.accounts.iter().map(|(a, acc)| (*a, acc)))
    }
}

impl StateView for InMemoryState {
    #[inline]
    fn account(&self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        Ok(self.accounts.get(&address).map(|a| {
            let code = (a.code_hash != KECCAK_EMPTY)
                .then(|| self.codes.get(&a.code_hash).cloned())
                .flatten();
            super::account_info(a.balance, a.nonce, a.code_hash, code)
        }))
    }

    #[inline]
    fn account_fields(&self, address: Address) -> Result<Option<(U256, u64, B256)>, StateError> {
        Ok(self
            .accounts
            .get(&address)
            .map(|a| (a.balance, a.nonce, a.code_hash)))
    }

    fn code_by_hash(&self, code_hash: B256) -> Result<Bytecode, StateError> {
        if code_hash == KECCAK_EMPTY {
            return Ok(super::empty_code());
        }
        self.codes
            .get(&code_hash)
            .cloned()
            .ok_or(StateError::MissingCode(code_hash))
    }

    #[inline]
    fn storage(&self, address: Address, index: U256) -> Result<U256, StateError> {
        Ok(self
            .accounts
            .get(&address)
            .and_then(|a| a.storage.get(&index).copied())
            .unwrap_or_default())
    }

    fn reads_are_cheap(&self) -> bool {
        true
    }

    fn block_hash(&self, number: u64) -> Result<B256, StateError> {
        if let Some(h) = self.block_hashes.get(&number) {
            return Ok(*h);
        }
        match self.block_hash_mode {
            BlockHashes::Table => Err(StateError::MissingBlockHash(number)),
            BlockHashes::StateTestConvention => Ok(keccak256(number.to_string().as_bytes())),
        }
    }
}
