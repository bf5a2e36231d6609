//! Reading a store's state: after its head block, or after an earlier retained one.

use super::{
    StoreError, key,
    tables::{
        ACCOUNTS, BLOCK_HASHES, CHANGE_SETS, CODE, ChangeSet, Encoded, STORAGE, Stored, slot_key,
    },
};
use crate::state::{StateError, StateView, changes::AccountValue};
use alloy_primitives::{Address, B256, U256, map::HashMap};
use redb::{ReadOnlyTable, ReadTransaction};
use revm::state::{AccountInfo, Bytecode};

/// An account's info from its fields (code is read by hash when needed).
fn info(fields: AccountValue) -> Option<AccountInfo> {
    fields.map(|(balance, nonce, code_hash)| {
        crate::state::account_info(balance, nonce, code_hash, None)
    })
}

fn read_error(e: impl std::fmt::Display) -> StateError {
    StateError::Backend(format!("store: {e}"))
}

/// The state after the head block as of when the view was made (a snapshot: later commits
/// do not show).
pub struct HeadView {
    accounts: ReadOnlyTable<&'static [u8; 20], &'static [u8]>,
    storage: ReadOnlyTable<&'static [u8; 52], &'static [u8; 32]>,
    code: ReadOnlyTable<&'static [u8; 32], &'static [u8]>,
    hashes: ReadOnlyTable<u64, &'static [u8; 32]>,
}

impl std::fmt::Debug for HeadView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeadView")
    }
}

impl HeadView {
    pub(super) fn new(read: ReadTransaction) -> Result<HeadView, StoreError> {
        let db = StoreError::db;
        Ok(HeadView {
            accounts: read.open_table(ACCOUNTS).map_err(db)?,
            storage: read.open_table(STORAGE).map_err(db)?,
            code: read.open_table(CODE).map_err(db)?,
            hashes: read.open_table(BLOCK_HASHES).map_err(db)?,
        })
    }
}

impl StateView for HeadView {
    fn account(&self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        self.account_fields(address).map(info)
    }

    fn account_fields(&self, address: Address) -> Result<AccountValue, StateError> {
        let Some(v) = self.accounts.get(&key(&address)).map_err(read_error)? else {
            return Ok(None);
        };
        let s = Stored::decode(v.value()).map_err(read_error)?;
        Ok(Some((s.balance, s.nonce, s.code_hash)))
    }

    fn code_by_hash(&self, code_hash: B256) -> Result<Bytecode, StateError> {
        if code_hash == revm::primitives::KECCAK_EMPTY {
            return Ok(Bytecode::default());
        }
        let found = self.code.get(&code_hash.0).map_err(read_error)?;
        let v = found.ok_or(StateError::MissingCode(code_hash))?;
        Ok(Bytecode::new_raw(v.value().to_vec().into()))
    }

    fn storage(&self, address: Address, index: U256) -> Result<U256, StateError> {
        let found = self
            .storage
            .get(&slot_key(&address, index))
            .map_err(read_error)?;
        Ok(found.map_or(U256::ZERO, |v| U256::from_be_bytes(*v.value())))
    }

    fn block_hash(&self, number: u64) -> Result<B256, StateError> {
        let found = self.hashes.get(number).map_err(read_error)?;
        let v = found.ok_or(StateError::MissingBlockHash(number))?;
        Ok(B256::from(*v.value()))
    }
}

/// The state after an earlier block: the head's, under the oldest value each later block
/// overwrote.
pub struct PastView {
    head: HeadView,
    accounts: HashMap<Address, AccountValue>,
    slots: HashMap<(Address, U256), U256>,
    /// The block the view is at (block hashes above it are not known there).
    number: u64,
}

impl std::fmt::Debug for PastView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PastView({})", self.number)
    }
}

impl PastView {
    pub(super) fn new(
        read: ReadTransaction,
        number: u64,
        head: u64,
    ) -> Result<PastView, StoreError> {
        let sets = read.open_table(CHANGE_SETS).map_err(StoreError::db)?;
        let (mut accounts, mut slots) = (HashMap::default(), HashMap::default());
        for n in number + 1..=head {
            let found = sets.get(n).map_err(StoreError::db)?;
            let bytes =
                found.ok_or_else(|| StoreError::Corrupt(format!("no change set of block {n}")))?;
            let set = ChangeSet::decode(bytes.value())?;
            for (a, v) in set.accounts {
                accounts.entry(a).or_insert(v);
            }
            for (a, slot, v) in set.slots {
                slots.entry((a, slot)).or_insert(v);
            }
        }
        drop(sets);
        Ok(PastView {
            head: HeadView::new(read)?,
            accounts,
            slots,
            number,
        })
    }
}

impl StateView for PastView {
    fn account(&self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        self.account_fields(address).map(info)
    }

    fn account_fields(&self, address: Address) -> Result<AccountValue, StateError> {
        match self.accounts.get(&address) {
            Some(v) => Ok(*v),
            None => self.head.account_fields(address),
        }
    }

    fn code_by_hash(&self, code_hash: B256) -> Result<Bytecode, StateError> {
        self.head.code_by_hash(code_hash)
    }

    fn storage(&self, address: Address, index: U256) -> Result<U256, StateError> {
        match self.slots.get(&(address, index)) {
            Some(v) => Ok(*v),
            None => self.head.storage(address, index),
        }
    }

    fn block_hash(&self, number: u64) -> Result<B256, StateError> {
        if number > self.number {
            return Err(StateError::MissingBlockHash(number));
        }
        self.head.block_hash(number)
    }
}
