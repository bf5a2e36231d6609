//! An overlay that one thread applies changes to while other threads read it: the state of a
//! growing prefix of a block, which workers can execute against while a merger extends it.
//!
//! Accounts and storage slots live in shards, each behind its own reader-writer lock: slots
//! are sharded by account *and* slot, so the many slots of one hot contract (a token's
//! balances) spread over every shard instead of serialising its readers on one lock. Each
//! read sees one location whole, but successive reads may see different prefixes (a change
//! applied between them): a reader that needs one consistent state must validate what it
//! read, as the Monad strategy does by checking every value against the prefix it merges
//! onto. New code is published before the account that points to it.
//!
//! A wipe of an account's storage (creation, self-destruct) bumps the account's wipe count;
//! a slot written before the wipe carries the older count and reads as absent (zero), so a
//! wipe costs nothing on the slots it drops.
//!
//! Most reads are of locations no applied change touched. A bit per location (hashed:
//! accounts whose fields changed, slots, accounts whose storage was wiped), set by the writer
//! before it applies a change, lets those reads go straight to the base without touching a
//! lock the writer also writes. A reader that misses a bit set a moment ago reads the base's
//! value, an older prefix's; the writer sees its own bits, so its reads are always exact.

use super::{AccountChange, StateChanges, StateError, StateView, overlay::new_code};
use alloy_primitives::{
    Address, B256, U256,
    map::{AddressHashMap, HashMap},
};
use parking_lot::RwLock;
use revm::{
    primitives::KECCAK_EMPTY,
    state::{AccountInfo, Bytecode},
};
use std::{
    hash::BuildHasher,
    sync::atomic::{
        AtomicBool, AtomicU64,
        Ordering::{Acquire, Relaxed, Release},
    },
};

/// Shards of the account and slot maps (a power of two).
const SHARDS: usize = 64;

/// An account as the applied changes left it.
#[derive(Debug, Clone, Copy)]
struct Account {
    /// Balance, nonce and code hash; `None` when deleted.
    info: Option<(U256, u64, B256)>,
    /// How many times its storage was wiped (0: the base's storage still applies).
    wipes: u32,
}

/// A slot's value and the wipe count of its account when it was written.
type Slot = (U256, u32);

/// One shard of the slots: (account, slot) to value.
type SlotShard = RwLock<HashMap<(Address, U256), Slot>>;

/// A base state plus changes applied through `&self`, readable by other threads meanwhile.
pub struct SharedOverlay<'a> {
    base: &'a dyn StateView,
    hasher: foldhash::fast::FixedState,
    accounts: Box<[RwLock<AddressHashMap<Account>>]>,
    slots: Box<[SlotShard]>,
    codes: RwLock<HashMap<B256, Bytecode>>,
    /// Whether `codes` holds any (most blocks create no contract: their code reads then skip
    /// its lock, which every reader would otherwise write).
    any_code: AtomicBool,
    /// The bits of the locations changes were applied to (see the module docs).
    touched: Box<[AtomicU64]>,
}

/// What a bit of `touched` stands for.
#[derive(Hash)]
enum Location {
    Account(Address),
    Slot(Address, U256),
    Wiped(Address),
}

impl std::fmt::Debug for SharedOverlay<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedOverlay").finish_non_exhaustive()
    }
}

impl<'a> SharedOverlay<'a> {
    /// An overlay with no changes yet, sized for about `writes` changed locations.
    pub fn new(base: &'a dyn StateView, writes: usize) -> Self {
        // (About a bit in eight set when full: most untouched locations find theirs clear.)
        let words = (writes.saturating_mul(8) / 64)
            .clamp(64, 1 << 16)
            .next_power_of_two();
        SharedOverlay {
            base,
            hasher: foldhash::fast::FixedState::with_seed(0x5eed),
            accounts: (0..SHARDS).map(|_| RwLock::default()).collect(),
            slots: (0..SHARDS).map(|_| RwLock::default()).collect(),
            codes: RwLock::default(),
            any_code: AtomicBool::new(false),
            touched: (0..words).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn bit(&self, location: Location) -> (usize, u64) {
        let h = self.hasher.hash_one(location);
        ((h >> 6) as usize & (self.touched.len() - 1), 1 << (h & 63))
    }

    fn touch(&self, location: Location) {
        let (word, bit) = self.bit(location);
        if self.touched[word].load(Relaxed) & bit == 0 {
            self.touched[word].fetch_or(bit, Relaxed);
        }
    }

    fn touched(&self, location: Location) -> bool {
        let (word, bit) = self.bit(location);
        self.touched[word].load(Relaxed) & bit != 0
    }

    fn account_shard(&self, address: &Address) -> &RwLock<AddressHashMap<Account>> {
        &self.accounts[self.hasher.hash_one(address) as usize & (SHARDS - 1)]
    }

    fn slot_shard(&self, key: &(Address, U256)) -> &SlotShard {
        &self.slots[self.hasher.hash_one(key) as usize & (SHARDS - 1)]
    }

    /// The applied changes' view of `address` (`None`: none applied).
    fn changed(&self, address: &Address) -> Option<Account> {
        self.account_shard(address).read().get(address).copied()
    }

    /// Makes the new code of `changes` readable by hash, without their other changes (code is
    /// addressed by its hash, so it can be published ahead of the accounts that point to it).
    pub fn publish_code(&self, changes: &StateChanges) {
        changes.values().for_each(|change| self.add_code(change));
    }

    fn add_code(&self, change: &AccountChange) {
        if let Some((hash, code)) = new_code(change) {
            self.codes
                .write()
                .entry(hash)
                .or_insert_with(|| code.clone());
            self.any_code.store(true, Release);
        }
    }

    /// Applies changes, in order, on top of the current overlay. Changes must be applied by
    /// one thread at a time (readers may run meanwhile).
    pub fn apply(&self, changes: &StateChanges) -> Result<(), StateError> {
        let cheap = self.base.reads_are_cheap();
        for (address, change) in changes {
            let wiped = change.storage_cleared || change.info.is_none();
            // (A contract whose storage alone changed keeps its account's bit clear, so that
            // its callers read it without the lock; when base reads are not cheap, the writer
            // does not spend one to find out.)
            if !cheap || self.account_fields(*address)? != change.info {
                self.touch(Location::Account(*address));
            }
            if wiped {
                self.touch(Location::Wiped(*address));
            }
            for slot in change.storage.keys() {
                self.touch(Location::Slot(*address, *slot));
            }
            self.add_code(change);
            let wipes = {
                let mut shard = self.account_shard(address).write();
                let entry = shard.entry(*address).or_insert(Account {
                    info: None,
                    wipes: 0,
                });
                entry.info = change.info;
                entry.wipes += u32::from(wiped);
                entry.wipes
            };
            for (slot, value) in &change.storage {
                let key = (*address, *slot);
                self.slot_shard(&key).write().insert(key, (*value, wipes));
            }
        }
        Ok(())
    }
}

impl StateView for SharedOverlay<'_> {
    fn account(&self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        if !self.touched(Location::Account(address)) {
            return self.base.account(address);
        }
        let Some(changed) = self.changed(&address) else {
            return self.base.account(address);
        };
        let Some((balance, nonce, code_hash)) = changed.info else {
            return Ok(None);
        };
        let code = if code_hash == KECCAK_EMPTY {
            None
        } else {
            Some(self.code_by_hash(code_hash)?)
        };
        Ok(Some(super::account_info(balance, nonce, code_hash, code)))
    }

    fn account_fields(&self, address: Address) -> Result<Option<(U256, u64, B256)>, StateError> {
        if !self.touched(Location::Account(address)) {
            return self.base.account_fields(address);
        }
        match self.changed(&address) {
            Some(changed) => Ok(changed.info),
            None => self.base.account_fields(address),
        }
    }

    fn code_by_hash(&self, code_hash: B256) -> Result<Bytecode, StateError> {
        if self.any_code.load(Acquire)
            && let Some(code) = self.codes.read().get(&code_hash)
        {
            return Ok(code.clone());
        }
        self.base.code_by_hash(code_hash)
    }

    fn storage(&self, address: Address, index: U256) -> Result<U256, StateError> {
        let wipes = if self.touched(Location::Wiped(address)) {
            self.changed(&address).map_or(0, |a| a.wipes)
        } else {
            0
        };
        if self.touched(Location::Slot(address, index)) {
            let key = (address, index);
            if let Some((value, at)) = self.slot_shard(&key).read().get(&key).copied()
                && at == wipes
            {
                return Ok(value);
            }
        }
        if wipes > 0 {
            Ok(U256::ZERO)
        } else {
            self.base.storage(address, index)
        }
    }

    fn block_hash(&self, number: u64) -> Result<B256, StateError> {
        self.base.block_hash(number)
    }

    fn reads_are_cheap(&self) -> bool {
        self.base.reads_are_cheap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{AccountChange, InMemoryState, Overlay};
    use proptest::prelude::*;

    const ACCOUNTS: u8 = 4;
    const SLOTS: u64 = 4;

    fn base() -> InMemoryState {
        let mut s = InMemoryState::new();
        for a in 0..ACCOUNTS - 1 {
            let slots = (0..SLOTS).map(|k| (U256::from(k), U256::from(100 + k)));
            s.insert_account(
                Address::repeat_byte(a),
                U256::from(a),
                1,
                Bytecode::default(),
                slots,
            );
        }
        s
    }

    /// One account's change: deleted, or new fields with a wipe or not and some slots.
    fn change() -> impl Strategy<Value = (u8, AccountChange)> {
        let slots = proptest::collection::btree_map(
            (0..SLOTS).prop_map(U256::from),
            (0u64..3).prop_map(U256::from),
            0..3,
        );
        (0..ACCOUNTS, any::<bool>(), any::<bool>(), 0u64..3, slots).prop_map(
            |(a, deleted, wiped, balance, storage)| {
                let change = if deleted {
                    AccountChange::deleted()
                } else {
                    AccountChange {
                        info: Some((U256::from(balance), 1, KECCAK_EMPTY)),
                        storage_cleared: wiped,
                        storage,
                        code: None,
                    }
                };
                (a, change)
            },
        )
    }

    proptest! {
        /// After any sequence of changes, every account and slot reads as through the plain
        /// overlay (the reference), with the writer's own reads exact.
        #[test]
        fn reads_equal_the_plain_overlay(changes in proptest::collection::vec(change(), 0..12)) {
            let base = base();
            let mut plain = Overlay::new(&base);
            let shared = SharedOverlay::new(&base, 4);
            for (a, change) in changes {
                let set = StateChanges::from([(Address::repeat_byte(a), change)]);
                plain.apply(&set);
                shared.apply(&set).unwrap();
                for a in (0..ACCOUNTS).map(Address::repeat_byte) {
                    prop_assert_eq!(shared.account_fields(a).unwrap(), plain.account_fields(a).unwrap());
                    prop_assert_eq!(shared.account(a).unwrap(), plain.account(a).unwrap());
                    for k in (0..SLOTS).map(U256::from) {
                        prop_assert_eq!(shared.storage(a, k).unwrap(), plain.storage(a, k).unwrap());
                    }
                }
            }
        }
    }
}
