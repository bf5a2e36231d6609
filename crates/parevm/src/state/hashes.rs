//! [`WithBlockHashes`]: a view whose block hashes come from somewhere else than its state —
//! the blocks executed but not yet committed to a store, or a node's chain for a pre-state
//! that lists no hashes.

use super::{AccountInfo, Bytecode, StateError, StateView};
use alloy_primitives::{Address, B256, U256};

/// `inner`'s accounts, code and storage; block hashes from `hashes` first, which answers
/// `None` to leave a number to `inner`.
pub struct WithBlockHashes<'a, F> {
    /// The accounts, code and storage.
    pub inner: &'a dyn StateView,
    /// The block hashes it knows better than `inner`.
    pub hashes: F,
}

impl<F> std::fmt::Debug for WithBlockHashes<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithBlockHashes").finish_non_exhaustive()
    }
}

impl<F> StateView for WithBlockHashes<'_, F>
where
    F: Fn(u64) -> Option<Result<B256, StateError>> + Send + Sync,
{
    fn account(&self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        self.inner.account(address)
    }
    fn account_fields(&self, address: Address) -> Result<Option<(U256, u64, B256)>, StateError> {
        self.inner.account_fields(address)
    }
    fn code_by_hash(&self, code_hash: B256) -> Result<Bytecode, StateError> {
        self.inner.code_by_hash(code_hash)
    }
    fn storage(&self, address: Address, index: U256) -> Result<U256, StateError> {
        self.inner.storage(address, index)
    }
    fn block_hash(&self, number: u64) -> Result<B256, StateError> {
        (self.hashes)(number).unwrap_or_else(|| self.inner.block_hash(number))
    }
    fn reads_are_cheap(&self) -> bool {
        self.inner.reads_are_cheap()
    }
}
