//! The lowest-writer tables: which locations no transaction below `i` ever wrote, answered
//! from one bucket (16 bytes, so never split across cache lines) instead of a shard lookup.
//!
//! Two tables and a fingerprint interleaved bucket by bucket (a write of an account marks both
//! tables, and a codeless check may consult both: one cache line for all).
//!
//! The lowest-writer table: bucket `(hash >> 8) & mask` holds the lowest transaction index
//! that any incarnation ever wrote a location hashing there (`u32::MAX`: none). It is lowered
//! (`fetch_min`) before the write is recorded and never raised, not even when a re-execution
//! stops writing the location.
//!
//! So a bucket value `>= i` proves that no transaction below `i` ever wrote the location:
//! transaction `i` reads the pre-block value, and did so at every earlier moment too. Reads
//! then skip the shard lookup (unless pre-block values are cached there, for slow stores);
//! validation accepts such a read without re-reading it (the pre-block state does not
//! change); the commit knows a lazy transfer's recipient was not written below its credit.
//! In a block of independent transactions most reads are of locations nobody below wrote,
//! even when the reader itself writes them (a sender's account, its token balance), so most
//! validations end here. A smaller bucket value only means "look it up" (collisions cost a
//! lookup, never a wrong answer).
//!
//! The full-writer table: the same for full writes of accounts only ([`super::Write::Account`];
//! not credits, debits or ESTIMATEs). A bucket value `>= i` proves no transaction below `i`
//! ever wrote the account in full, so its code is the pre-block code: a read that only needs
//! to know the account has no code (a lazy transfer's sender or recipient) is answered from
//! the pre-block state without the shard lock, and validated without a lookup. That is what
//! keeps one sender's chain of transfers, or many credits to one recipient, from meeting at
//! one shard lock twice per transaction.
//!
//! The fingerprint: which location marked the bucket, while only one ever did. With about
//! eight buckets per transaction and a few written locations each, a third of the buckets
//! hold a writer, and without the fingerprint a third of the reads of locations nobody wrote
//! (most reads, in a block of independent transactions) went to the shard for nothing. The
//! fingerprint is a word of the location's hash from bits the bucket index does not use:
//! [`NO_MARK`] until a location marks the bucket, then that location's fingerprint, then
//! [`SHARED`] for good once a location with another fingerprint marks it too. A reader whose
//! location's fingerprint differs from a single marker's knows its location was never marked,
//! whatever the bucket's indices say. Exact by the same order argument as the tables: a
//! marker sets the fingerprint before it lowers the indices, and both before it records its
//! write; a reader loads the indices before the fingerprint. So when the reader sees another
//! location's fingerprint, no write of its own location had been recorded at that moment,
//! just as when it sees an index `>= i`. (Two locations with the same fingerprint in one
//! bucket count as one: a lookup, never a wrong answer.)

use super::slot::tx_u32;
use crate::strategy::block_stm::scheduler::TxIdx;
use std::sync::atomic::{
    AtomicU32,
    Ordering::{Relaxed, SeqCst},
};

/// Buckets of the lowest-writer table for a block of `n` transactions: a power of two, about
/// eight per transaction (a few written locations each), at least 256.
fn writer_buckets(n: usize) -> usize {
    (n * 8).next_power_of_two().max(256)
}

/// A bucket's fingerprint before any location marked it.
const NO_MARK: u32 = 0;
/// A bucket's fingerprint once locations with different fingerprints marked it.
const SHARED: u32 = 1;

/// The fingerprint of the location hashing to `h`: its hash's low byte and top three bytes
/// (the bucket index uses bits 8 and up, the shard index the lowest bits), never [`NO_MARK`]
/// or [`SHARED`].
fn fingerprint(h: u64) -> u32 {
    ((h as u32) & 0xff | ((h >> 40) as u32) << 8) | 2
}

/// One bucket of the tables (see the module docs).
#[repr(align(16))]
struct Bucket {
    /// The lowest transaction that wrote a location hashing here (`u32::MAX`: none).
    any: AtomicU32,
    /// The lowest transaction that wrote an account hashing here in full.
    whole: AtomicU32,
    /// Which location marked the bucket: [`NO_MARK`], a fingerprint, or [`SHARED`].
    fingerprint: AtomicU32,
}

/// The lowest-writer and full-writer tables of one block (see the module docs).
pub(super) struct LowestWriters {
    buckets: Box<[Bucket]>,
    mask: u64,
}

impl LowestWriters {
    /// Empty tables for a block of `n` transactions.
    pub(super) fn new(n: usize) -> Self {
        let buckets = writer_buckets(n);
        LowestWriters {
            buckets: (0..buckets)
                .map(|_| Bucket {
                    any: AtomicU32::new(u32::MAX),
                    whole: AtomicU32::new(u32::MAX),
                    fingerprint: AtomicU32::new(NO_MARK),
                })
                .collect(),
            mask: buckets as u64 - 1,
        }
    }

    fn bucket(&self, h: u64) -> &Bucket {
        &self.buckets[((h >> 8) & self.mask) as usize]
    }

    /// Notes that transaction `i` writes the location hashing to `h` (in full, for an
    /// account's info, when `full`). Call before the write is recorded.
    pub(super) fn mark(&self, h: u64, i: TxIdx, full: bool) {
        let i = tx_u32(i);
        let bucket = self.bucket(h);
        let mine = fingerprint(h);
        let mut seen = bucket.fingerprint.load(Relaxed);
        while seen != mine && seen != SHARED {
            let next = if seen == NO_MARK { mine } else { SHARED };
            match bucket
                .fingerprint
                .compare_exchange_weak(seen, next, SeqCst, Relaxed)
            {
                Ok(_) => break,
                Err(now) => seen = now,
            }
        }
        let lower = |index: &AtomicU32| {
            if index.load(Relaxed) > i {
                index.fetch_min(i, SeqCst);
            }
        };
        if full {
            lower(&bucket.whole);
        }
        lower(&bucket.any);
    }

    /// Whether the location hashing to `h` may have marked its bucket (checked after the
    /// index that said "maybe": see the module docs for the order).
    fn maybe_marked_by(bucket: &Bucket, h: u64) -> bool {
        let f = bucket.fingerprint.load(SeqCst);
        f == SHARED || f == fingerprint(h)
    }

    /// False when no transaction below `i` ever wrote the location hashing to `h`.
    pub(super) fn maybe_written_below(&self, h: u64, i: TxIdx) -> bool {
        let bucket = self.bucket(h);
        bucket.any.load(SeqCst) < tx_u32(i) && Self::maybe_marked_by(bucket, h)
    }

    /// True when no transaction below `i` ever wrote the account hashing to `h` in full.
    pub(super) fn never_fully_written_below(&self, h: u64, i: TxIdx) -> bool {
        let bucket = self.bucket(h);
        bucket.whole.load(SeqCst) >= tx_u32(i) || !Self::maybe_marked_by(bucket, h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_remembers_its_lowest_writer_and_full_writer_apart() {
        let w = LowestWriters::new(4);
        let h = 5 << 8;
        assert!(!w.maybe_written_below(h, 10));
        assert!(w.never_fully_written_below(h, 10));
        w.mark(h, 7, false);
        assert!(!w.maybe_written_below(h, 7));
        assert!(w.maybe_written_below(h, 8));
        assert!(w.never_fully_written_below(h, 10));
        w.mark(h, 9, true);
        w.mark(h, 3, false); // lowered, never raised
        assert!(w.maybe_written_below(h, 4));
        assert!(!w.maybe_written_below(h, 3));
        assert!(w.never_fully_written_below(h, 9));
        assert!(!w.never_fully_written_below(h, 10));
    }

    #[test]
    fn a_fingerprint_tells_locations_sharing_a_bucket_apart_until_two_marked_it() {
        let w = LowestWriters::new(4);
        // Same bucket (bits 8 and up below 40), different fingerprints (low byte).
        let (a, b, c) = (5 << 8 | 1, 5 << 8 | 2, 5 << 8 | 3);
        assert_eq!(w.bucket(a) as *const Bucket, w.bucket(b) as *const Bucket);
        w.mark(a, 3, true);
        assert!(w.maybe_written_below(a, 4) && !w.never_fully_written_below(a, 4));
        // Only `a` marked the bucket: `b` was never written, whatever the indices say.
        assert!(!w.maybe_written_below(b, 10) && w.never_fully_written_below(b, 10));
        w.mark(a, 2, false); // the same location again: still told apart
        assert!(!w.maybe_written_below(b, 10));
        w.mark(b, 8, false);
        // Shared now, for good: below the lowest index, every location must be looked up.
        for h in [a, b, c] {
            assert!(w.maybe_written_below(h, 3));
            assert!(!w.maybe_written_below(h, 2));
            assert!(!w.never_fully_written_below(h, 4));
        }
        // A location with a fingerprint of its own in an untouched bucket: never written.
        assert!(!w.maybe_written_below(6 << 8 | 1, 100));
    }

    #[test]
    fn fingerprints_are_never_the_markers_states() {
        for h in [0, 1, 2, 3, u64::MAX, 1 << 40, 0xff, 0x1_0000_0000] {
            let f = fingerprint(h);
            assert!(f != NO_MARK && f != SHARED, "{h:#x}");
        }
    }
}
