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

/// Odd constants (the first digits of pi) keying the folds below.
const PI: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7345,
    0xa409_3822_299f_31d1,
    0x082e_fa98_ec4e_6c89,
];

/// The folded multiply: the two halves of the 128-bit product xored (foldhash's mixing step).
/// Every bit of either factor moves most bits of the result, and no xor of inputs cancels out.
pub(super) fn fold_mul(x: u64, y: u64) -> u64 {
    let p = u128::from(x) * u128::from(y);
    (p as u64) ^ (p >> 64) as u64
}

/// An address's 20 bytes folded into one word (for hashing; equal words do not mean equal
/// addresses): its first 16 bytes through a folded multiply, its last 4 xored on.
///
/// Why a multiply, not only xors and rotations (as before): a fold that is linear in the bytes
/// maps structured addresses onto each other. Numbered addresses (a prefix byte and a
/// counter: the synthetic workloads', vanity and system addresses alike) differ in a few
/// bytes, and an xor of shifted prefix and counter bits can cancel exactly: a swap pair's
/// storage slot 2 folded to the very word of the router's account, so that every swap's read
/// of the router looked like a read of a location written below it.
pub(in crate::strategy::block_stm) fn fold_address(a: &Address) -> u64 {
    let b = a.as_slice();
    let head = u64::from_le_bytes(b[0..8].try_into().expect("8 bytes"));
    let mid = u64::from_le_bytes(b[8..16].try_into().expect("8 bytes"));
    let tail = u32::from_le_bytes(b[16..20].try_into().expect("4 bytes")) as u64;
    fold_mul(head ^ PI[0], mid ^ PI[1]) ^ tail
}

impl Location {
    /// The location folded into one word (for hashing; equal words do not mean equal
    /// locations). A slot's word is its account's word and its key's folded together by a
    /// multiply, so that it never lines up with another account's word by construction (see
    /// [`fold_address`]); a wipe's is the complement of its account's (equal to another
    /// account's only by a coincidence of the multiply: the words of two accounts whose first
    /// 16 bytes agree differ in the low 32 bits alone).
    pub(super) fn word(&self) -> u64 {
        match self {
            Location::Account(a) => fold_address(a),
            Location::Storage(a, k) => {
                let l = k.as_limbs();
                let key = l[0] ^ l[1].rotate_left(13) ^ l[2].rotate_left(29) ^ l[3].rotate_left(47);
                fold_mul(fold_address(a) ^ PI[2], key ^ PI[3])
            }
            Location::StorageWipe(a) => !fold_address(a),
        }
    }
}

impl std::hash::Hash for Location {
    /// One word per location: hashing 53 bytes per read was a measurable share of the
    /// strategy's overhead.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.word());
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
    use alloy_primitives::b256;

    #[test]
    fn numbered_accounts_and_their_slots_fold_to_distinct_words() {
        // The workloads' addresses (a prefix byte, a counter in the last eight bytes), their
        // accounts, wipes and first slots: no two distinct locations share a word. (The
        // linear fold before mapped a swap pair's slot 2 onto the router's account.)
        let a = crate::sources::example::address;
        let router = a(0xc2, 0);
        let pair_slot = Location::Storage(a(0xc1, 0x2030), U256::from(2));
        assert_ne!(Location::Account(router).word(), pair_slot.word());
        let mut words = std::collections::HashMap::new();
        for tag in [0x00, 0x01, 0xaa, 0xbb, 0xc1, 0xc2] {
            for i in 0..4_000u64 {
                let address = a(tag, i);
                let mut locations =
                    vec![Location::Account(address), Location::StorageWipe(address)];
                locations.extend((0..6u64).map(|k| Location::Storage(address, U256::from(k))));
                for loc in locations {
                    if let Some(other) = words.insert(loc.word(), loc) {
                        panic!("{loc:?} and {other:?} fold to one word");
                    }
                }
            }
        }
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
