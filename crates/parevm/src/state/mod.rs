//! State: the read-only view every strategy executes against, the changes a transaction
//! makes, an in-memory state, a write overlay, and the Merkle state root.
//!
//! [`StateView`] is modelled on revm's `DatabaseRef`: four reads, `&self` receivers, so that
//! any number of worker threads can share one view. Unlike `DatabaseRef` it has one concrete
//! error type, [`StateError`], so that strategies can be registered as trait objects
//! (`&dyn StateView`) and a persistent store plugs in unchanged by mapping its errors into it.
//!
//! [`StateChanges`] is the canonical, comparable form of what a transaction wrote. Two
//! strategies agree on a block exactly when they produce equal changes for every transaction.

pub mod changes;
mod hashes;
mod latency;
mod memory;
mod overlay;
pub mod root;
mod shared;

pub use changes::{AccountChange, StateChanges};
pub use hashes::WithBlockHashes;
pub use latency::LatencyState;
pub use memory::{BlockHashes, InMemoryState, PlainAccount};
pub use overlay::Overlay;
pub use revm::state::{AccountInfo, Bytecode};
pub use shared::SharedOverlay;

use alloy_primitives::{Address, B256, U256};

/// A failure to read state. Names what was being read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The block hash of `number` is not known to this state.
    #[error("block hash of block {0} is not available in the state")]
    MissingBlockHash(u64),
    /// Code with this hash is referenced by an account but not stored.
    #[error("code with hash {0} is not available in the state")]
    MissingCode(B256),
    /// A parallel strategy interrupted the read (the transaction must wait for another one).
    /// Never escapes the strategy that raised it.
    #[error("read interrupted: the transaction depends on one not yet executed")]
    Interrupted,
    /// The backing store failed.
    #[error("state backend error: {0}")]
    Backend(String),
}

impl revm::database_interface::DBErrorMarker for StateError {}

thread_local! {
    /// This thread's copy of revm's empty code (see [`empty_code`]).
    static EMPTY_CODE: Bytecode = {
        // SAFETY: the arguments are exactly those of revm's own empty code
        // (`Bytecode::new()`): one STOP byte of padding, original length 0, the default jump
        // table; `new_analyzed` asks for correctly padded, analysed bytecode, which this is.
        let code = unsafe {
            Bytecode::new_analyzed(
                alloy_primitives::Bytes::from_static(&[0x00]),
                0,
                revm::bytecode::JumpTable::default(),
            )
        };
        debug_assert_eq!(code, Bytecode::new());
        code
    };
}

/// The empty code of an account without code, equal to revm's `Bytecode::default()`.
///
/// Why not `Bytecode::default()`: that clones one process-wide `Arc`, so every account read on
/// every thread increments and decrements the same reference count. On two cores that cache
/// line ping-pongs between them (several times per transaction: each read, revm's copy of the
/// original account, each drop) and was the largest single cost of parallel execution of
/// cheap transactions. A per-thread copy keeps the count on the thread's own cache line.
pub fn empty_code() -> Bytecode {
    EMPTY_CODE.with(Clone::clone)
}

/// A copy of `code` with its own reference count, for one thread to clone from.
///
/// Why: every account load clones its `Bytecode` (an `Arc`) and drops it afterwards; when
/// several threads execute the same contract (a token, a pool), those increments all hit one
/// cache line shared between cores. A thread that keeps its own copy counts on its own line.
/// Analysed legacy code is copied field by field, without analysing it again.
pub fn private_copy(code: &Bytecode) -> Bytecode {
    match code.legacy_jump_table() {
        Some(jump_table) if code.kind() == revm::bytecode::BytecodeKind::LegacyAnalyzed => {
            // SAFETY: the padded bytes, original length and jump table of an analysed
            // bytecode, unchanged: exactly what `new_analyzed` asks for.
            unsafe {
                Bytecode::new_analyzed(code.bytecode().clone(), code.len(), jump_table.clone())
            }
        }
        _ => code.clone(),
    }
}

/// An [`AccountInfo`] without going through `AccountInfo::default()` (which clones and drops
/// revm's shared empty code); codeless accounts get [`empty_code`].
pub fn account_info(
    balance: U256,
    nonce: u64,
    code_hash: B256,
    code: Option<Bytecode>,
) -> AccountInfo {
    let code = if code_hash == revm::primitives::KECCAK_EMPTY {
        Some(empty_code())
    } else {
        code
    };
    AccountInfo {
        balance,
        nonce,
        code_hash,
        account_id: None,
        code,
    }
}

/// Read-only access to the state a block executes on.
///
/// Implementations must be deterministic: the same read returns the same value for the
/// lifetime of the view. An account or slot that does not exist reads as `None` / zero.
pub trait StateView: Send + Sync {
    /// Balance, nonce and code hash of `address` (and its code, when cheap to include), or
    /// `None` if the account does not exist.
    fn account(&self, address: Address) -> Result<Option<AccountInfo>, StateError>;

    /// Balance, nonce and code hash of `address` without its code, or `None` if the account
    /// does not exist. Multi-version reads want only these: a store that keeps code beside
    /// the account should answer without touching it (in memory, handing out the code clones
    /// a shared pointer, whose counter every core's reads of a popular contract then pass
    /// between them).
    fn account_fields(&self, address: Address) -> Result<Option<(U256, u64, B256)>, StateError> {
        Ok(self
            .account(address)?
            .map(|a| (a.balance, a.nonce, a.code_hash)))
    }

    /// The code whose keccak256 hash is `code_hash`.
    fn code_by_hash(&self, code_hash: B256) -> Result<Bytecode, StateError>;

    /// The value of storage slot `index` of `address` (zero if unset).
    fn storage(&self, address: Address, index: U256) -> Result<U256, StateError>;

    /// The hash of block `number`, as read by the BLOCKHASH opcode.
    fn block_hash(&self, number: u64) -> Result<B256, StateError>;

    /// True when reads are in-memory lookups. Strategies may then re-read instead of caching
    /// what they read (a cache costs more than such a read); a store on disk or across a
    /// network keeps the default, `false`.
    fn reads_are_cheap(&self) -> bool {
        false
    }
}

impl<T: StateView + ?Sized> StateView for &T {
    fn account(&self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        (**self).account(address)
    }
    fn account_fields(&self, address: Address) -> Result<Option<(U256, u64, B256)>, StateError> {
        (**self).account_fields(address)
    }
    fn code_by_hash(&self, code_hash: B256) -> Result<Bytecode, StateError> {
        (**self).code_by_hash(code_hash)
    }
    fn storage(&self, address: Address, index: U256) -> Result<U256, StateError> {
        (**self).storage(address, index)
    }
    fn block_hash(&self, number: u64) -> Result<B256, StateError> {
        (**self).block_hash(number)
    }
    fn reads_are_cheap(&self) -> bool {
        (**self).reads_are_cheap()
    }
}

/// Adapts any [`StateView`] to revm's `Database` (the EVM's read interface).
#[derive(Debug, Clone, Copy)]
pub struct RevmDb<S>(pub S);

impl<S: StateView> revm::Database for RevmDb<S> {
    type Error = StateError;

    #[inline]
    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        self.0.account(address)
    }
    #[inline]
    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, StateError> {
        self.0.code_by_hash(code_hash)
    }
    #[inline]
    fn storage(&mut self, address: Address, index: U256) -> Result<U256, StateError> {
        self.0.storage(address, index)
    }
    #[inline]
    fn block_hash(&mut self, number: u64) -> Result<B256, StateError> {
        self.0.block_hash(number)
    }
}

impl<S: StateView> revm::DatabaseRef for RevmDb<S> {
    type Error = StateError;

    #[inline]
    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        self.0.account(address)
    }
    #[inline]
    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, StateError> {
        self.0.code_by_hash(code_hash)
    }
    #[inline]
    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, StateError> {
        self.0.storage(address, index)
    }
    #[inline]
    fn block_hash_ref(&self, number: u64) -> Result<B256, StateError> {
        self.0.block_hash(number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-thread copies are indistinguishable from the originals to revm: same bytes,
    /// length, hash, jump table and kind.
    #[test]
    fn private_copies_equal_their_originals() {
        let empty = empty_code();
        assert_eq!(empty, Bytecode::new());
        assert_eq!(empty.hash_slow(), revm::primitives::KECCAK_EMPTY);
        assert_eq!(empty.bytecode(), Bytecode::new().bytecode());
        // PUSH1 4, JUMP, INVALID, JUMPDEST, STOP: one valid jump destination.
        let code = Bytecode::new_raw(alloy_primitives::Bytes::from_static(&[
            0x60, 0x04, 0x56, 0xfe, 0x5b, 0x00,
        ]));
        let copy = private_copy(&code);
        assert_eq!(copy, code);
        assert_eq!(copy.hash_slow(), code.hash_slow());
        assert_eq!(copy.bytecode(), code.bytecode());
        assert_eq!(copy.len(), code.len());
        assert_eq!(copy.kind(), code.kind());
        assert_eq!(copy.legacy_jump_table(), code.legacy_jump_table());
        assert!(copy.legacy_jump_table().unwrap().is_valid(4));
        let delegation = Bytecode::new_eip7702(alloy_primitives::Address::repeat_byte(7));
        assert_eq!(private_copy(&delegation), delegation);
    }
}
