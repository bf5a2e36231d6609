//! Multi-version memory: for every location, the value each transaction's latest incarnation
//! wrote there, so that transaction `i` reads what the highest transaction below `i` wrote.
//!
//! Locations are exact ([`Location`]): an account's info, one storage slot, or the fact that an
//! account's storage was wiped (creation or destruction). No hashing is used as identity, so
//! two locations never collide.
//!
//! A write is a full value, a balance *delta* (the deferred beneficiary fee: commutative, so
//! it does not order transactions unless one of them reads the balance), or an ESTIMATE: the
//! mark left by an aborted incarnation, meaning "a value will probably be written here";
//! reading it suspends the reader until the writer re-executes.
//!
//! Reads resolve by walking down from `i - 1`: deltas accumulate until a full value (or the
//! pre-block state) is reached. A storage slot resolves against both its own writes and the
//! latest wipe of its account: whichever is higher wins (the same transaction may wipe and
//! then write, so a slot write at the same index as a wipe wins).

use super::scheduler::TxIdx;
use crate::state::{StateError, StateView};
use alloy_primitives::{Address, B256, U256, map::HashMap};
use parking_lot::Mutex;
use revm::primitives::KECCAK_EMPTY;
use std::{
    collections::BTreeMap,
    hash::{BuildHasher, Hash},
};

/// An exact state location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Location {
    /// Balance, nonce and code hash of an account (and whether it exists).
    Account(Address),
    /// One storage slot.
    Storage(Address, U256),
    /// The account's storage was wiped (created or destroyed) by the writer.
    StorageWipe(Address),
}

/// Balance, nonce, code hash; `None` for a missing account.
pub(crate) type AccountValue = Option<(U256, u64, B256)>;

/// What a transaction wrote at a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Write {
    /// An account's new info.
    Account(AccountValue),
    /// A storage slot's new value.
    Storage(U256),
    /// The account's storage was wiped.
    Wipe,
    /// A balance increment (a touch, when zero) applied after the writer's other effects.
    Delta(U256),
}

#[derive(Debug, Clone)]
enum Entry {
    Estimate,
    Written(Write),
}

/// A value read, as recorded for validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// An account's info.
    Account(AccountValue),
    /// A storage slot's value.
    Storage(U256),
}

/// The outcome of a read.
pub(crate) enum ReadResult {
    /// The value as of just before the reader.
    Value(Value),
    /// An ESTIMATE of this transaction is in the way.
    Blocked(TxIdx),
}

const SHARDS: usize = 64;

type Versions = BTreeMap<TxIdx, Entry>;

/// The multi-version memory of one block.
pub(crate) struct MvMemory {
    shards: Vec<Mutex<HashMap<Location, Versions>>>,
    hasher: alloy_primitives::map::DefaultHashBuilder,
    /// Locations each transaction's latest incarnation wrote.
    last_written: Vec<Mutex<Vec<Location>>>,
    /// Whether EIP-161 state clearing applies (a touch deletes an empty account).
    state_clear: bool,
}

/// Applies a balance delta (a touch when zero) to an account value, with EIP-161 semantics.
pub(crate) fn apply_delta(value: AccountValue, delta: U256, state_clear: bool) -> AccountValue {
    let after = match value {
        Some((balance, nonce, code)) => Some((balance.saturating_add(delta), nonce, code)),
        None if !delta.is_zero() || !state_clear => Some((delta, 0, KECCAK_EMPTY)),
        None => None,
    };
    match after {
        Some((b, 0, code)) if state_clear && b.is_zero() && code == KECCAK_EMPTY => None,
        other => other,
    }
}

impl MvMemory {
    pub(crate) fn new(n: usize, state_clear: bool) -> Self {
        MvMemory {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            hasher: Default::default(),
            last_written: (0..n).map(|_| Mutex::new(Vec::new())).collect(),
            state_clear,
        }
    }

    fn shard(&self, loc: &Location) -> &Mutex<HashMap<Location, Versions>> {
        let mut h = self.hasher.build_hasher();
        loc.hash(&mut h);
        &self.shards[(std::hash::Hasher::finish(&h) as usize) % SHARDS]
    }

    /// Records the writes of incarnation `k` of `i`, replacing its previous incarnation's.
    /// Returns true if it wrote a location the previous incarnation did not.
    pub(crate) fn record(&self, i: TxIdx, writes: Vec<(Location, Write)>) -> bool {
        let mut last = self.last_written[i].lock();
        let new_locations: Vec<Location> = writes.iter().map(|(l, _)| *l).collect();
        for old in last.iter() {
            if !new_locations.contains(old) {
                if let Some(v) = self.shard(old).lock().get_mut(old) {
                    v.remove(&i);
                }
            }
        }
        let wrote_new = new_locations.iter().any(|l| !last.contains(l));
        for (loc, w) in writes {
            self.shard(&loc)
                .lock()
                .entry(loc)
                .or_default()
                .insert(i, Entry::Written(w));
        }
        *last = new_locations;
        wrote_new
    }

    /// Marks every location `i` wrote as ESTIMATE (its incarnation was aborted).
    pub(crate) fn convert_writes_to_estimates(&self, i: TxIdx) {
        for loc in self.last_written[i].lock().iter() {
            if let Some(v) = self.shard(loc).lock().get_mut(loc) {
                v.insert(i, Entry::Estimate);
            }
        }
    }

    /// The latest entry below `i` at `loc`, walking past deltas when `walk_deltas`.
    fn latest_below(&self, loc: &Location, i: TxIdx) -> Option<(TxIdx, Entry)> {
        let shard = self.shard(loc).lock();
        let versions = shard.get(loc)?;
        versions
            .range(..i)
            .next_back()
            .map(|(j, e)| (*j, e.clone()))
    }

    /// Reads an account as transaction `i` sees it.
    pub(crate) fn read_account(
        &self,
        address: Address,
        i: TxIdx,
        base: &dyn StateView,
    ) -> Result<ReadResult, StateError> {
        let loc = Location::Account(address);
        let mut deltas: Vec<U256> = Vec::new();
        let found = {
            let shard = self.shard(&loc).lock();
            let mut found = None;
            if let Some(versions) = shard.get(&loc) {
                for (j, e) in versions.range(..i).rev() {
                    match e {
                        Entry::Estimate => return Ok(ReadResult::Blocked(*j)),
                        Entry::Written(Write::Delta(d)) => deltas.push(*d),
                        Entry::Written(Write::Account(v)) => {
                            found = Some(*v);
                            break;
                        }
                        Entry::Written(_) => unreachable!("account locations hold account writes"),
                    }
                }
            }
            found
        };
        let mut value = match found {
            Some(v) => v,
            None => base
                .account(address)?
                .map(|a| (a.balance, a.nonce, a.code_hash)),
        };
        for d in deltas.into_iter().rev() {
            value = apply_delta(value, d, self.state_clear);
        }
        Ok(ReadResult::Value(Value::Account(value)))
    }

    /// Reads a storage slot as transaction `i` sees it.
    pub(crate) fn read_storage(
        &self,
        address: Address,
        index: U256,
        i: TxIdx,
        base: &dyn StateView,
    ) -> Result<ReadResult, StateError> {
        let slot = self.latest_below(&Location::Storage(address, index), i);
        let wipe = self.latest_below(&Location::StorageWipe(address), i);
        for (j, e) in [&slot, &wipe].into_iter().flatten() {
            if matches!(e, Entry::Estimate) {
                return Ok(ReadResult::Blocked(*j));
            }
        }
        let value = match (slot, wipe) {
            (Some((js, Entry::Written(Write::Storage(v)))), Some((jw, _))) if js >= jw => v,
            (Some((_, Entry::Written(Write::Storage(v)))), None) => v,
            (_, Some(_)) => U256::ZERO,
            (_, None) => base.storage(address, index)?,
        };
        Ok(ReadResult::Value(Value::Storage(value)))
    }

    /// Re-reads `loc` for transaction `i` (validation).
    pub(crate) fn reread(
        &self,
        loc: &Location,
        i: TxIdx,
        base: &dyn StateView,
    ) -> Result<ReadResult, StateError> {
        match loc {
            Location::Account(a) => self.read_account(*a, i, base),
            Location::Storage(a, k) => self.read_storage(*a, *k, i, base),
            Location::StorageWipe(_) => unreachable!("wipes are never read directly"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::InMemoryState;
    use alloy_primitives::address;

    fn value(r: ReadResult) -> Value {
        match r {
            ReadResult::Value(v) => v,
            ReadResult::Blocked(j) => panic!("blocked on {j}"),
        }
    }

    #[test]
    fn reads_see_the_highest_lower_writer_deltas_and_wipes() {
        let a = address!("0x00000000000000000000000000000000000000aa");
        let mut base = InMemoryState::new();
        base.insert_account(
            a,
            U256::from(10),
            0,
            Default::default(),
            [(U256::from(1), U256::from(5))],
        );
        let mv = MvMemory::new(5, true);
        mv.record(1, vec![(Location::Account(a), Write::Delta(U256::from(3)))]);
        mv.record(2, vec![(Location::Account(a), Write::Delta(U256::from(4)))]);
        assert_eq!(
            value(mv.read_account(a, 0, &base).unwrap()),
            Value::Account(Some((U256::from(10), 0, KECCAK_EMPTY)))
        );
        assert_eq!(
            value(mv.read_account(a, 3, &base).unwrap()),
            Value::Account(Some((U256::from(17), 0, KECCAK_EMPTY)))
        );
        // A wipe at 2 hides the base slot from 3 on; a later write at 3 is seen from 4 on.
        mv.record(
            2,
            vec![
                (Location::Account(a), Write::Account(None)),
                (Location::StorageWipe(a), Write::Wipe),
            ],
        );
        assert_eq!(
            value(mv.read_storage(a, U256::from(1), 2, &base).unwrap()),
            Value::Storage(U256::from(5))
        );
        assert_eq!(
            value(mv.read_storage(a, U256::from(1), 3, &base).unwrap()),
            Value::Storage(U256::ZERO)
        );
        mv.record(
            3,
            vec![(
                Location::Storage(a, U256::from(1)),
                Write::Storage(U256::from(8)),
            )],
        );
        assert_eq!(
            value(mv.read_storage(a, U256::from(1), 4, &base).unwrap()),
            Value::Storage(U256::from(8))
        );
        // Aborting 3 leaves an ESTIMATE that blocks 4.
        mv.convert_writes_to_estimates(3);
        assert!(matches!(
            mv.read_storage(a, U256::from(1), 4, &base).unwrap(),
            ReadResult::Blocked(3)
        ));
    }

    #[test]
    fn delta_touch_semantics() {
        let empty = None;
        assert_eq!(apply_delta(empty, U256::ZERO, true), None);
        assert_eq!(
            apply_delta(empty, U256::ZERO, false),
            Some((U256::ZERO, 0, KECCAK_EMPTY))
        );
        assert_eq!(
            apply_delta(Some((U256::ZERO, 0, KECCAK_EMPTY)), U256::ZERO, true),
            None
        );
        assert_eq!(
            apply_delta(Some((U256::ZERO, 1, KECCAK_EMPTY)), U256::from(2), true),
            Some((U256::from(2), 1, KECCAK_EMPTY))
        );
    }
}
