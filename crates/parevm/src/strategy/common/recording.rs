//! A read-recording view: the EVM reads a fixed state through it, and every account and
//! storage value it read is kept, so that a strategy can later ask whether the transaction
//! would read the same values from another state (then its result would be the same: a
//! transaction's outcome is a function of what it reads).
//!
//! Code (by hash) and block hashes are not recorded: neither changes within a block for a
//! given key.

use crate::state::{AccountInfo, Bytecode, Overlay, StateChanges, StateError, StateView};
use alloy_primitives::{Address, B256, U256};

/// One value a transaction read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// An account's balance, nonce and code hash (`None`: it does not exist).
    Account(Address, Option<(U256, u64, B256)>),
    /// A storage slot's value.
    Storage(Address, U256, U256),
}

impl Read {
    /// Whether `state` still holds the value read.
    pub(crate) fn holds_in(&self, state: &dyn StateView) -> Result<bool, StateError> {
        Ok(match *self {
            Read::Account(a, v) => state.account_fields(a)? == v,
            Read::Storage(a, k, v) => state.storage(a, k)? == v,
        })
    }
}

/// The EVM's database over `base` plus changes the caller chose to keep (a worker's own
/// earlier transactions), recording every account and storage read.
pub(crate) struct Recorder<'a> {
    base: Overlay<'a>,
    /// What a stand-in's transaction reads instead (see [`Recorder::with_stand_in_reads`]).
    stand_in_reads: &'a dyn StateView,
    /// What the current transaction read, in order (a location read twice is recorded twice:
    /// cheaper than looking it up, and checking it twice is harmless).
    pub(crate) reads: Vec<Read>,
    /// A plain transfer's sender and nonce, to be given the stand-in balance and that nonce
    /// when it has no code (its real value is recorded).
    pub(crate) stand_in: Option<(Address, u64)>,
    /// Set when the stand-in was served.
    pub(crate) stood_in: bool,
}

impl<'a> Recorder<'a> {
    /// A recorder over `base`, with nothing read yet.
    pub(crate) fn new(base: &'a dyn StateView) -> Self {
        Recorder {
            base: Overlay::new(base),
            stand_in_reads: base,
            reads: Vec::new(),
            stand_in: None,
            stood_in: false,
        }
    }

    /// A transaction given a stand-in sender reads `state` instead of the base: its reads
    /// are patched at merge time whatever they returned, so they may come from wherever is
    /// cheapest (a state no other thread writes).
    pub(crate) fn with_stand_in_reads(mut self, state: &'a dyn StateView) -> Self {
        self.stand_in_reads = state;
        self
    }

    /// The state this transaction reads.
    fn source(&self) -> &dyn StateView {
        if self.stand_in.is_some() {
            self.stand_in_reads
        } else {
            &self.base
        }
    }

    /// Reads see `changes` from now on (over earlier kept changes).
    pub(crate) fn keep(&mut self, changes: &StateChanges) {
        self.base.apply(changes);
    }

    /// Reads see `base` alone again.
    pub(crate) fn forget(&mut self) {
        self.base.clear();
    }
}

fn h_empty() -> B256 {
    revm::primitives::KECCAK_EMPTY
}

impl revm::Database for Recorder<'_> {
    type Error = StateError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        let info = self.source().account(address)?;
        let fields = info.as_ref().map(|a| (a.balance, a.nonce, a.code_hash));
        self.reads.push(Read::Account(address, fields));
        if let Some((sender, nonce)) = self.stand_in
            && sender == address
            && fields.is_none_or(|(_, _, h)| h == revm::primitives::KECCAK_EMPTY)
        {
            self.stood_in = true;
            let balance = super::commutative::STAND_IN_BALANCE;
            return Ok(Some(crate::state::account_info(
                balance,
                nonce,
                h_empty(),
                None,
            )));
        }
        Ok(info)
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, StateError> {
        self.source().code_by_hash(code_hash)
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, StateError> {
        let v = self.source().storage(address, index)?;
        self.reads.push(Read::Storage(address, index, v));
        Ok(v)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, StateError> {
        self.base.block_hash(number)
    }
}
