//! The database one worker's EVM reads through while executing transaction `i`: every read
//! resolves in the multi-version memory (falling back to the pre-block state) and is recorded,
//! with the value seen, for validation. A read blocked by an ESTIMATE interrupts execution.

use super::{
    mv_memory::{Location, MvMemory, ReadResult, Value},
    scheduler::TxIdx,
};
use crate::state::{AccountInfo, Bytecode, StateError, StateView};
use alloy_primitives::{Address, B256, U256, map::HashMap};
use parking_lot::RwLock;
use revm::primitives::KECCAK_EMPTY;

/// Code deployed by transactions of this block, by hash (append-only: a hash names one code).
pub(crate) type NewCode = RwLock<HashMap<B256, Bytecode>>;

pub(crate) struct TxView<'a> {
    pub(crate) mv: &'a MvMemory,
    pub(crate) base: &'a dyn StateView,
    pub(crate) new_code: &'a NewCode,
    pub(crate) txn: TxIdx,
    pub(crate) reads: Vec<(Location, Value)>,
    pub(crate) blocked: Option<TxIdx>,
    /// The recipient of a plain transfer executed lazily: its balance is credited as a delta
    /// and only its lack of code is read. Cleared if it turns out to have code.
    pub(crate) lazy: Option<Address>,
    /// The value of the lazy recipient the EVM was given (the pre-block value when no lower
    /// transaction ever wrote it: finalize then needs no second read).
    pub(crate) lazy_seen: super::mv_memory::AccountValue,
}

impl TxView<'_> {
    /// Prepares the view for executing transaction `txn`.
    pub(crate) fn reset(&mut self, txn: TxIdx, lazy: Option<Address>) {
        self.txn = txn;
        self.reads.clear();
        self.blocked = None;
        self.lazy = lazy;
        self.lazy_seen = None;
    }

    fn resolve(&mut self, loc: Location, r: ReadResult) -> Result<Value, StateError> {
        match r {
            ReadResult::Value(v) => {
                self.reads.push((loc, v.clone()));
                Ok(v)
            }
            ReadResult::Blocked(j) => {
                self.blocked = Some(j);
                Err(StateError::Interrupted)
            }
        }
    }
}

impl revm::Database for TxView<'_> {
    type Error = StateError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        let r = if self.lazy == Some(address) {
            // Balance deltas are not summed: the transfer's outcome does not depend on them.
            self.mv.read_codeless(address, self.txn, self.base)?
        } else {
            self.mv.read_account(address, self.txn, self.base)?
        };
        let loc = Location::Account(address);
        let v = match r {
            ReadResult::Value(Value::Account(v)) if self.lazy == Some(address) => {
                if v.is_none_or(|(_, _, h)| h == KECCAK_EMPTY) {
                    // The EVM gets the current speculative value, but only codelessness is
                    // recorded: a plain transfer's outcome does not depend on the balance.
                    self.reads.push((loc, Value::Codeless));
                    self.lazy_seen = v;
                    v
                } else {
                    // It has code: read it for real after all.
                    self.lazy = None;
                    return self.basic(address);
                }
            }
            r => {
                let Value::Account(v) = self.resolve(loc, r)? else {
                    unreachable!("account reads return accounts")
                };
                v
            }
        };
        // Code is fetched by hash when the EVM needs it.
        Ok(v.map(|(balance, nonce, code_hash)| {
            crate::state::account_info(balance, nonce, code_hash, None)
        }))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, StateError> {
        if let Some(code) = self.new_code.read().get(&code_hash) {
            return Ok(code.clone());
        }
        self.base.code_by_hash(code_hash)
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, StateError> {
        let r = self.mv.read_storage(address, index, self.txn, self.base)?;
        let Value::Storage(v) = self.resolve(Location::Storage(address, index), r)? else {
            unreachable!("storage reads return slots")
        };
        Ok(v)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, StateError> {
        self.base.block_hash(number)
    }
}
