//! The database one worker's EVM reads through while executing transaction `i`: every read
//! resolves in the multi-version memory (falling back to the pre-block state) and is recorded,
//! with the value seen, for validation. A read blocked by an ESTIMATE interrupts execution.

use super::{
    mv_memory::{Location, MvMemory, ReadResult, Value, codeless},
    scheduler::TxIdx,
};
use crate::state::{AccountInfo, Bytecode, StateError, StateView};
use alloy_primitives::{Address, B256, U256, map::HashMap};
use parking_lot::RwLock;
use revm::primitives::KECCAK_EMPTY;

/// Code deployed by transactions of this block, by hash (append-only: a hash names one code).
pub(crate) type NewCode = RwLock<HashMap<B256, Bytecode>>;

pub(crate) struct TxView<'a> {
    pub(crate) mv: &'a MvMemory<'a>,
    pub(crate) base: &'a dyn StateView,
    pub(crate) new_code: &'a NewCode,
    pub(crate) txn: TxIdx,
    pub(crate) reads: Vec<(Location, Value)>,
    pub(crate) blocked: Option<TxIdx>,
    /// The recipient of a plain transfer executed lazily: its balance is credited as a delta
    /// and only its lack of code is read. Cleared if it turns out to have code.
    pub(crate) lazy: Option<Address>,
    /// The value of the lazy recipient the EVM was given (the pre-block value when no lower
    /// transaction ever wrote it: the commit then needs no second read).
    pub(crate) lazy_seen: super::mv_memory::AccountValue,
    /// The lazy recipient's value as just read by the caller (which looked whether it has code
    /// before choosing to run the transfer lazily): the EVM's read of it uses this instead of
    /// reading the multi-version memory a second time. Cleared by [`TxView::reset`].
    pub(crate) lazy_prefetched: Option<super::mv_memory::AccountValue>,
    /// The sender of a plain transfer executed lazily, with the transaction's nonce: the EVM
    /// gets [`LAZY_SENDER_BALANCE`] and that nonce instead of the sender's speculative value,
    /// and only the sender's lack of code is recorded (the commit checks nonce and balance).
    pub(crate) lazy_sender: Option<(Address, u64)>,
    /// Set when the EVM was given the lazy sender's stand-in value.
    pub(crate) lazy_sender_served: bool,
    /// The lazy sender's value as read to establish it has no code (deltas not summed): the
    /// pre-block value when no lower transaction ever wrote the sender.
    pub(crate) lazy_sender_seen: super::mv_memory::AccountValue,
    /// Set when code ran after the stand-in was served (the recipient turned out to have
    /// code): the result is thrown away and the transaction runs again reading the sender.
    pub(crate) lazy_sender_spoiled: bool,
    /// This worker's copies of the code it ran (see [`crate::state::private_copy`]). A hash
    /// names one code, so entries never go stale.
    pub(crate) code_cache: HashMap<B256, Bytecode>,
}

pub(crate) use crate::strategy::common::commutative::STAND_IN_BALANCE as LAZY_SENDER_BALANCE;

impl TxView<'_> {
    /// Prepares the view for executing transaction `txn`.
    pub(crate) fn reset(&mut self, txn: TxIdx, lazy: Option<Address>) {
        self.txn = txn;
        self.reads.clear();
        self.blocked = None;
        self.lazy = lazy;
        self.lazy_seen = None;
        self.lazy_prefetched = None;
    }

    /// Executes the sender of `txn` lazily (call after [`TxView::reset`]).
    pub(crate) fn set_lazy_sender(&mut self, sender: Option<(Address, u64)>) {
        self.lazy_sender = sender;
        self.lazy_sender_served = false;
        self.lazy_sender_spoiled = false;
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
        if let Some((sender, nonce)) = self.lazy_sender
            && sender == address
        {
            let loc = Location::Account(address);
            match self.mv.read_codeless(address, self.txn, self.base)? {
                ReadResult::Value(Value::Account(v)) if codeless(&v) => {
                    self.reads.push((loc, Value::Codeless));
                    self.lazy_sender_served = true;
                    self.lazy_sender_seen = v;
                    return Ok(Some(crate::state::account_info(
                        LAZY_SENDER_BALANCE,
                        nonce,
                        KECCAK_EMPTY,
                        None,
                    )));
                }
                ReadResult::Value(_) => self.lazy_sender = None, // has code: read it for real
                ReadResult::Blocked(j) => {
                    self.blocked = Some(j);
                    return Err(StateError::Interrupted);
                }
            }
        }
        let r = if self.lazy == Some(address) {
            // Balance deltas are not summed: the transfer's outcome does not depend on them.
            match self.lazy_prefetched.take() {
                Some(v) => ReadResult::Value(Value::Account(v)),
                None => self.mv.read_codeless(address, self.txn, self.base)?,
            }
        } else {
            self.mv.read_account(address, self.txn, self.base)?
        };
        let loc = Location::Account(address);
        let v = match r {
            ReadResult::Value(Value::Account(v)) if self.lazy == Some(address) => {
                if codeless(&v) {
                    // The EVM gets the current speculative value, but only codelessness is
                    // recorded: a plain transfer's outcome does not depend on the balance.
                    self.reads.push((loc, Value::Codeless));
                    self.lazy_seen = v;
                    v
                } else {
                    // It has code: read it for real after all. Its code will run, and must
                    // not see a lazy sender's stand-in value.
                    self.lazy = None;
                    self.lazy_sender_spoiled |= self.lazy_sender_served;
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
        if let Some(code) = self.code_cache.get(&code_hash) {
            return Ok(code.clone());
        }
        let code = match self.new_code.read().get(&code_hash) {
            Some(code) => code.clone(),
            None => self.base.code_by_hash(code_hash)?,
        };
        let code = crate::state::private_copy(&code);
        self.code_cache.insert(code_hash, code.clone());
        Ok(code)
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

/// The account values a transaction read, to tell which accounts it left with the info it
/// read (a token contract whose storage changed): those are not written.
///
/// Such a write is left out of the multi-version memory. Recording it would change nothing a
/// higher transaction reads (the value below the transaction plus whatever comes above is the
/// same with or without it, deltas included) but would make the account one more location the
/// transaction writes: when it aborts, its writes become ESTIMATEs, and every higher
/// transaction that merely loaded the account (all callers of a popular token contract, whose
/// account changes only in storage) would wait for it and fail validation. Leaving it out is
/// exact because the value was read: if a lower transaction changes it, this transaction's
/// read is invalidated and it runs again, writing the account if its info then differs. (The
/// beneficiary, whose fees live outside the memory, and accounts created by the transaction
/// are always written.)
///
/// The reads are scanned when the transaction changed few accounts, indexed when it changed many (a
/// 2016 state-bloat transaction touches thousands, and scanning its reads once per change was
/// quadratic).
pub(super) enum AccountReads<'r> {
    Scan(&'r [(Location, Value)]),
    Indexed(alloy_primitives::map::AddressHashMap<&'r super::mv_memory::AccountValue>),
}

impl<'r> AccountReads<'r> {
    pub(super) fn new(reads: &'r [(Location, Value)], changes: usize) -> Self {
        if changes <= 16 {
            return AccountReads::Scan(reads);
        }
        let mut index = alloy_primitives::map::AddressHashMap::default();
        for (loc, v) in reads {
            if let (Location::Account(a), Value::Account(seen)) = (loc, v) {
                index.entry(*a).or_insert(seen);
            }
        }
        AccountReads::Indexed(index)
    }

    /// Whether the transaction read `address`'s account as `info`, the value it leaves there.
    pub(super) fn unchanged(
        &self,
        address: alloy_primitives::Address,
        info: &super::mv_memory::AccountValue,
    ) -> bool {
        self.read(address).is_some_and(|seen| seen == info)
    }

    /// The value the transaction read of `address`'s account in full, if it did.
    pub(super) fn read(
        &self,
        address: alloy_primitives::Address,
    ) -> Option<&'r super::mv_memory::AccountValue> {
        match self {
            AccountReads::Scan(reads) => reads.iter().find_map(|(loc, v)| match (loc, v) {
                (Location::Account(a), Value::Account(seen)) if *a == address => Some(seen),
                _ => None,
            }),
            AccountReads::Indexed(index) => index.get(&address).copied(),
        }
    }
}
