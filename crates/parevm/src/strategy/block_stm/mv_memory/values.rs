//! The values of the multi-version memory: exact locations, what a transaction writes there,
//! and what a read returns and records.

use crate::strategy::block_stm::scheduler::TxIdx;
use alloy_primitives::{Address, U256};
use revm::primitives::KECCAK_EMPTY;
use smallvec::SmallVec;

pub(crate) use crate::state::changes::AccountValue;
use crate::state::changes::apply_credit;

/// An exact state location. Equality is exact; the hash (below) only spreads locations over
/// buckets and shards, so a collision costs a comparison, never a wrong answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Location {
    /// Balance, nonce and code hash of an account (and whether it exists).
    Account(Address),
    /// One storage slot.
    Storage(Address, U256),
    /// The account's storage was wiped (created or destroyed) by the writer.
    StorageWipe(Address),
}

/// The keyed hash of one block's locations and addresses: foldhash over every byte of the
/// location, with keys drawn at random for each block.
///
/// Why keyed, and over the full location: storage keys are chosen by whoever writes the
/// contract or the transaction, so any fixed fold of them into a word can be inverted: keys
/// built to share one word (under the fold this replaced, `k0 = k1.rotate_left(13)` for any
/// `k1` did) would land in one shard, one bucket chain and one lowest-writer bucket, and make
/// every lookup a linear scan. Without the keys, which live for one block in one process, no
/// input can be built to collide more often than chance.
#[derive(Clone, Default)]
pub(crate) struct Keyed(foldhash::fast::RandomState);

impl Keyed {
    /// The hash of `loc`.
    pub(crate) fn location(&self, loc: &Location) -> u64 {
        use std::hash::BuildHasher;
        self.0.hash_one(loc)
    }

    /// The hash of an address (the hints' address table's key).
    pub(crate) fn address(&self, a: &Address) -> u64 {
        use std::hash::BuildHasher;
        self.0.hash_one(a)
    }
}

impl std::hash::Hash for Location {
    /// Every byte of the location, as whole words (which foldhash gathers two at a time into
    /// one multiply), the address's last four bytes beside a tag telling the kinds apart.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let (a, tag) = match self {
            Location::Account(a) => (a, 0u64),
            Location::Storage(a, _) => (a, 1),
            Location::StorageWipe(a) => (a, 2),
        };
        let b = a.as_slice();
        state.write_u64(u64::from_le_bytes(b[0..8].try_into().expect("8 bytes")));
        state.write_u64(u64::from_le_bytes(b[8..16].try_into().expect("8 bytes")));
        let tail = u32::from_le_bytes(b[16..20].try_into().expect("4 bytes"));
        state.write_u64(u64::from(tail) | tag << 32);
        if let Location::Storage(_, k) = self {
            for limb in k.as_limbs() {
                state.write_u64(*limb);
            }
        }
    }
}

/// What a transaction wrote at a location: a full value, kept in the location's slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Write {
    /// An account's new info.
    Account(AccountValue),
    /// A storage slot's new value.
    Storage(U256),
    /// The account's storage was wiped.
    Wipe,
}

/// A commutative write to an account (a lazy transfer's credit, a sender's debit), which a
/// read folds onto the highest full value below it instead of starting from (kept in the
/// writer's record, not in a slot; 48 bytes against a [`Write`]'s 80, as every transaction's
/// record holds room for two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delta {
    /// A balance increment (a touch, when zero) applied after the writer's other effects.
    Credit(U256),
    /// A sender's transaction: the balance goes down by `amount` (value plus gas, for a lazy
    /// sender's plain transfer; for any other, what it took from the balance it read) and the
    /// nonce becomes `nonce`. Code is unchanged.
    Debit {
        /// What the transaction took from the sender's balance.
        amount: U256,
        /// The sender's nonce afterwards.
        nonce: u64,
    },
}

impl Delta {
    /// The debit that takes a sender's account from `before`, as its transaction read it, to
    /// `after`, as the transaction left it, if one does: both exist, the code is the same,
    /// the balance went down (or stayed) and the nonce is not zero. (Applied to `before`, it
    /// gives `after` exactly.)
    pub(crate) fn debit_between(before: &AccountValue, after: &AccountValue) -> Option<Delta> {
        let (Some((was, _, code_was)), Some((balance, nonce, code))) = (before, after) else {
            return None;
        };
        (code_was == code && balance <= was && *nonce != 0).then(|| Delta::Debit {
            amount: was - balance,
            nonce: *nonce,
        })
    }

    /// `value` after this delta.
    pub(super) fn apply(&self, value: AccountValue, state_clear: bool) -> AccountValue {
        match self {
            Delta::Credit(d) => apply_credit(value, *d, state_clear),
            Delta::Debit { amount, nonce } => {
                let (balance, _, code) = value.unwrap_or((U256::ZERO, 0, KECCAK_EMPTY));
                // Saturating: a speculative read may combine entries that no final order
                // produces; the commit checks the real balance covers the cost.
                Some((balance.saturating_sub(*amount), *nonce, code))
            }
        }
    }
}

/// The writes of one execution (most transactions write a handful of locations).
pub(crate) type Writes = SmallVec<[(Location, Write); 6]>;

/// True when the account does not exist or has no code.
pub(crate) fn codeless(v: &AccountValue) -> bool {
    v.is_none_or(|(_, _, h)| h == KECCAK_EMPTY)
}

/// The value of an account known to have no code (a lazy transfer's sender or recipient as
/// execution saw it): an [`AccountValue`] without its code hash, which is the empty code's
/// (48 bytes, not 80: every transaction's result has room for two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CodelessValue(Option<(U256, u64)>);

impl CodelessValue {
    /// `v`, if it has no code.
    pub(crate) fn of(v: AccountValue) -> Option<Self> {
        codeless(&v).then(|| CodelessValue(v.map(|(balance, nonce, _)| (balance, nonce))))
    }

    /// The account's full value.
    pub(crate) fn value(self) -> AccountValue {
        self.0
            .map(|(balance, nonce)| (balance, nonce, KECCAK_EMPTY))
    }
}

/// A value read, as recorded for validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// An account's info.
    Account(AccountValue),
    /// A storage slot's value.
    Storage(U256),
    /// Only that the account has no code (the recipient of a lazy plain transfer, whose
    /// balance the transaction never observes).
    Codeless,
}

impl Value {
    /// Whether re-reading gave a value the recorded read accepts.
    pub(crate) fn accepts(&self, now: &Value) -> bool {
        match (self, now) {
            (Value::Codeless, Value::Account(v)) => codeless(v),
            (seen, now) => seen == now,
        }
    }
}

/// The outcome of a read.
pub(crate) enum ReadResult {
    /// The value as of just before the reader.
    Value(Value),
    /// An ESTIMATE of this transaction is in the way.
    Blocked(TxIdx),
}

/// A transaction's deltas: a lazy transfer's credit to its recipient, and its sender's debit.
pub(crate) type LazyWrites = SmallVec<[(Address, Delta); 2]>;

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Address, b256};

    #[test]
    fn numbered_accounts_and_their_slots_hash_to_distinct_words() {
        // The workloads' addresses (a prefix byte, a counter in the last eight bytes), their
        // accounts, wipes and first slots: no two distinct locations share a hash.
        let a = crate::sources::example::address;
        let keyed = Keyed::default();
        let mut words = std::collections::HashMap::new();
        for tag in [0x00, 0x01, 0xaa, 0xbb, 0xc1, 0xc2] {
            for i in 0..4_000u64 {
                let address = a(tag, i);
                let mut locations =
                    vec![Location::Account(address), Location::StorageWipe(address)];
                locations.extend((0..6u64).map(|k| Location::Storage(address, U256::from(k))));
                for loc in locations {
                    if let Some(other) = words.insert(keyed.location(&loc), loc) {
                        panic!("{loc:?} and {other:?} hash to one word");
                    }
                }
            }
        }
    }

    /// Storage keys built to collide under a fixed fold of their limbs (each key's first limb
    /// the second one rotated, so that the fold this replaced mapped all of them to one word):
    /// keyed hashing spreads them like any other keys.
    #[test]
    fn crafted_storage_keys_do_not_collide() {
        let contract = Address::with_last_byte(0x42);
        let keyed = Keyed::default();
        let crafted = (1..=20_000u64).map(|i| {
            let k = U256::from_limbs([i.rotate_left(13), i, 0, 0]);
            // (The old fold: every crafted key's word is zero.)
            let l = k.as_limbs();
            assert_eq!(
                l[0] ^ l[1].rotate_left(13) ^ l[2].rotate_left(29) ^ l[3].rotate_left(47),
                0
            );
            Location::Storage(contract, k)
        });
        let hashes: std::collections::HashSet<u64> =
            crafted.map(|loc| keyed.location(&loc)).collect();
        assert_eq!(hashes.len(), 20_000);
        // Spread over buckets: 256 shards (the low bits), none far above its share of 78.
        let mut shards = [0u32; 256];
        for h in &hashes {
            shards[(*h as usize) & 255] += 1;
        }
        assert!(shards.iter().all(|&c| c < 160), "{:?}", shards.iter().max());
    }

    #[test]
    fn a_debit_between_two_values_takes_the_first_to_the_second() {
        let code = b256!("0x1111111111111111111111111111111111111111111111111111111111111111");
        let before = Some((U256::from(1_000), 4, KECCAK_EMPTY));
        let after = Some((U256::from(600), 5, KECCAK_EMPTY));
        let d = Delta::debit_between(&before, &after).expect("a debit");
        assert_eq!(
            d,
            Delta::Debit {
                amount: U256::from(400),
                nonce: 5
            }
        );
        for state_clear in [false, true] {
            assert_eq!(d.apply(before, state_clear), after);
        }
        // Not a debit: the balance went up, the code changed, the account appeared or went,
        // the nonce is zero.
        let more = Some((U256::from(1_001), 5, KECCAK_EMPTY));
        let coded = Some((U256::from(600), 5, code));
        let zero_nonce = Some((U256::from(600), 0, KECCAK_EMPTY));
        for (b, a) in [
            (before, more),
            (before, coded),
            (None, after),
            (before, None),
            (before, zero_nonce),
        ] {
            assert_eq!(Delta::debit_between(&b, &a), None, "{b:?} -> {a:?}");
        }
    }
}
