//! The lowest-writer tables: which locations no transaction below `i` ever wrote, answered
//! from one bucket (16 bytes, so never split across cache lines) instead of a shard lookup.
//!
//! Each bucket `(hash >> 8) & mask` has room for two locations: two *marks*, each a location's
//! fingerprint (16 bits of its hash that the bucket index does not use) with the lowest
//! transaction index that any incarnation ever wrote that location (`u32::MAX`: none), and
//! beside them the *full-writer* index, the lowest transaction that wrote an account hashing
//! there in full. An index is lowered (`fetch_min`) before the write is recorded and never
//! raised, not even when a re-execution stops writing the location.
//!
//! So when a reader's location holds one of the two marks and that mark's index is `>= i`, no
//! transaction below `i` ever wrote the location: transaction `i` reads the pre-block value,
//! and did so at every earlier moment too. So too when neither mark is the location's: it was
//! never written. Reads then skip the shard lookup (unless pre-block values are cached there,
//! for slow stores); validation accepts such a read without re-reading it (the pre-block state
//! does not change); the commit knows a lazy transfer's recipient was not written below its
//! credit. In a block of independent transactions most reads are of locations nobody below
//! wrote, even when the reader itself writes them (a sender's account, its token balance), so
//! most validations end here. Anything else only means "look it up" (collisions cost a
//! lookup, never a wrong answer).
//!
//! A third location marking a bucket turns it *shared*, for good: it lowers the first mark's
//! index, and a reader of a shared bucket looks its location up unless both are `>= i`.
//! Two marks per bucket, not one, because of who reads: a transaction reads what it writes
//! (its balances), and every transaction reads the few contracts that nobody writes (a router,
//! a popular token's code). With one mark, any second location marking such a bucket left it
//! shared, and every later read there went to the shards for nothing (for a hot contract, a
//! shard lock on every read by every transaction). With two, it takes a third location: about
//! one bucket in five hundred with a quarter of the buckets marked (the sizes below), against
//! one in forty with one mark.
//!
//! The full-writer index: the same for full writes of accounts only ([`super::Write::Account`];
//! not credits, debits or ESTIMATEs), one per bucket. An index `>= i`, or no mark of the
//! account's in an unshared bucket, proves no transaction below `i` ever wrote the account in
//! full, so its code is the pre-block code: a read that only needs to know the account has no
//! code (a lazy transfer's sender or recipient) is answered from the pre-block state without
//! the shard lock, and validated without a lookup. That is what keeps one sender's chain of
//! transfers, or many credits to one recipient, from meeting at one shard lock twice per
//! transaction.
//!
//! Why the answers are exact under concurrent marks: a marker puts its fingerprint in the
//! bucket (or turns it shared) before it lowers any index, and does both before it records its
//! write; a reader loads the indices before the fingerprints. Fingerprints only ever go from
//! empty to set, and a bucket from unshared to shared. So when a reader sees no mark of its
//! location, or its mark's index `>= i`, no write of its location had been recorded when it
//! loaded the indices, exactly as if it had looked the location up then. (A third location
//! marking meanwhile lowers an index only after it turned the bucket shared, so a reader sees
//! either the bucket unshared, and in it its own location's mark, which only that location's
//! writers lower, or the bucket shared, and the lower index of the two. Two locations with
//! the same fingerprint in one bucket count as one.)

use crate::strategy::block_stm::{
    scheduler::{TxIdx, tx_u32},
    sync::AtomicU32,
};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};

/// Buckets of the lowest-writer table for a block of `n` transactions whose gas limits sum to
/// `gas`: a power of two, at least 256, at least eight per transaction (a transfer or a token
/// transfer writes two or three locations), and at least one per 16,384 gas of limit (a
/// transaction rich in gas writes more: an AMM swap, seven locations in 110,000 gas; senders
/// set limits two to four times what they use), but at most 64 per transaction (a block's
/// limits can be far above anything it could use).
///
/// Why gas: the table tells locations apart while few share a bucket. At eight buckets per
/// swap, half the buckets were marked and one in five by two locations or more; a transaction
/// reads what it writes, so its validation found its own location's bucket shared that often
/// (with one mark per bucket, as then, every such read was looked up).
fn writer_buckets(n: usize, gas: u64) -> usize {
    // (No overflow: blocks have fewer than 2^31 transactions.)
    let by_gas = (gas / 16_384).min(n as u64 * 64) as usize;
    (n * 8).max(by_gas).next_power_of_two().max(256)
}

/// A bucket's marks before any location marked it (both fingerprints empty).
const EMPTY: u32 = 0;
/// A bucket's marks once a third location marked it (never two fingerprints: see
/// [`fingerprint`]).
const SHARED: u32 = u32::MAX;

/// The fingerprint of the location hashing to `h`: its hash's low byte and top byte (the
/// bucket index uses bits 8 and up, the shard index the lowest bits), never 0 (an empty mark)
/// or `0xffff` (so that two marks never read as [`SHARED`]).
fn fingerprint(h: u64) -> u32 {
    (((h as u32) & 0xff) | ((h >> 56) as u32) << 8).clamp(1, 0xfffe)
}

/// One bucket of the tables (see the module docs).
#[repr(align(16))]
struct Bucket {
    /// The lowest transaction that wrote the location of each mark (`u32::MAX`: none).
    lowest: [AtomicU32; 2],
    /// The lowest transaction that wrote an account hashing here in full.
    whole: AtomicU32,
    /// The marks' fingerprints, the first in the low half ([`EMPTY`] until set), or
    /// [`SHARED`].
    marks: AtomicU32,
}

/// What a bucket's marks say about the location with fingerprint `f`.
enum Marked {
    /// The location never marked the bucket.
    No,
    /// The location holds the mark with this index.
    At(usize),
    /// The bucket is shared: the location may have marked it.
    Shared,
}

impl Bucket {
    fn marked(&self, f: u32) -> Marked {
        match self.marks.load(SeqCst) {
            SHARED => Marked::Shared,
            m if m & 0xffff == f => Marked::At(0),
            m if m >> 16 == f => Marked::At(1),
            _ => Marked::No,
        }
    }
}

/// The lowest-writer and full-writer tables of one block (see the module docs).
pub(super) struct LowestWriters {
    buckets: Box<[Bucket]>,
    mask: u64,
}

impl LowestWriters {
    /// Empty tables for a block of `n` transactions whose gas limits sum to `gas`.
    pub(super) fn new(n: usize, gas: u64) -> Self {
        let buckets = writer_buckets(n, gas);
        LowestWriters {
            buckets: (0..buckets)
                .map(|_| Bucket {
                    lowest: [AtomicU32::new(u32::MAX), AtomicU32::new(u32::MAX)],
                    whole: AtomicU32::new(u32::MAX),
                    marks: AtomicU32::new(EMPTY),
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
        // Find or take the location's mark (the first one fills first), or turn the bucket
        // shared: before any index is lowered (see the module docs).
        let mut seen = bucket.marks.load(Relaxed);
        let at = loop {
            let (next, at) = match seen {
                SHARED => break None,
                m if m & 0xffff == mine => break Some(0),
                m if m >> 16 == mine => break Some(1),
                EMPTY => (mine, Some(0)),
                m if m >> 16 == EMPTY => (m | mine << 16, Some(1)),
                _ => (SHARED, None),
            };
            match bucket
                .marks
                .compare_exchange_weak(seen, next, SeqCst, Relaxed)
            {
                Ok(_) => break at,
                Err(now) => seen = now,
            }
        };
        let lower = |index: &AtomicU32| {
            if index.load(Relaxed) > i {
                index.fetch_min(i, SeqCst);
            }
        };
        if full {
            lower(&bucket.whole);
        }
        match at {
            Some(k) => lower(&bucket.lowest[k]),
            // (Shared: a reader takes the lower of the two, whichever mark it finds.)
            None => lower(&bucket.lowest[0]),
        }
    }

    /// Starts loading the bucket of the location hashing to `h` into the cache.
    pub(super) fn prefetch(&self, h: u64) {
        crate::strategy::block_stm::prefetch(self.bucket(h));
    }

    /// False when no transaction below `i` ever wrote the location hashing to `h`.
    pub(super) fn maybe_written_below(&self, h: u64, i: TxIdx) -> bool {
        let bucket = self.bucket(h);
        let i = tx_u32(i);
        // (The indices first, then the marks: see the module docs.)
        let lowest = [bucket.lowest[0].load(SeqCst), bucket.lowest[1].load(SeqCst)];
        if lowest[0] >= i && lowest[1] >= i {
            return false;
        }
        match bucket.marked(fingerprint(h)) {
            Marked::No => false,
            Marked::At(k) => lowest[k] < i,
            Marked::Shared => true,
        }
    }

    /// True when no transaction below `i` ever wrote the account hashing to `h` in full.
    pub(super) fn never_fully_written_below(&self, h: u64, i: TxIdx) -> bool {
        let bucket = self.bucket(h);
        bucket.whole.load(SeqCst) >= tx_u32(i)
            || matches!(bucket.marked(fingerprint(h)), Marked::No)
    }
}

/// When a read fetches the pre-block value, which it returns if the lowest-writer table shows
/// that nothing below wrote the location.
#[derive(Clone, Copy)]
pub(super) enum Fetch {
    /// Before asking the table, with the table's bucket prefetched: a transaction's first
    /// read of a location (its balance, its token balance) misses the cache in both, and
    /// asking first made the two misses one after the other (the table's was 6% of a 1-Ggas
    /// ERC-20 block on one thread, the pre-block reads cost the same as sequential's; with
    /// the prefetch, a third of that went). When the table sends the read on to the shards,
    /// the value fetched is dropped: such locations are written by others, hot in the cache.
    Ahead,
    /// After asking the table: validation, which re-reads only locations that the table
    /// already showed written below.
    After,
}

impl Fetch {
    /// The pre-block value fetched ahead (`None` when it is fetched after the table).
    pub(super) fn ahead<T>(
        self,
        writers: &LowestWriters,
        h: u64,
        read: impl FnOnce() -> T,
    ) -> Option<T> {
        match self {
            Fetch::Ahead => {
                writers.prefetch(h);
                Some(read())
            }
            Fetch::After => None,
        }
    }
}

#[cfg(all(test, not(parevm_model)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A hash in bucket `bucket` (of a table of at least 256 buckets) whose fingerprint is
    /// `f` (low byte `f`'s low byte, top byte its high byte).
    fn hash(bucket: u64, f: u16) -> u64 {
        u64::from(f >> 8) << 56 | bucket << 8 | u64::from(f & 0xff)
    }

    #[test]
    fn a_bucket_remembers_its_lowest_writer_and_full_writer_apart() {
        let w = LowestWriters::new(4, 0);
        let h = hash(5, 7);
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
    fn two_locations_in_a_bucket_keep_their_own_writers_until_a_third_shares_it() {
        let w = LowestWriters::new(4, 0);
        let (a, b, c) = (hash(5, 0x101), hash(5, 0x202), hash(5, 0x303));
        assert_eq!(w.bucket(a) as *const Bucket, w.bucket(c) as *const Bucket);
        w.mark(a, 3, true);
        w.mark(b, 8, false);
        // Each mark has its own index: `b` was not written below 8, `a` was below 4.
        assert!(w.maybe_written_below(a, 4) && !w.never_fully_written_below(a, 4));
        assert!(!w.maybe_written_below(b, 8) && w.maybe_written_below(b, 9));
        // The full-writer index is the bucket's: `b`, marked here, must be looked up (a lookup,
        // not a wrong answer); `c`, never marked, was never written at all.
        assert!(!w.never_fully_written_below(b, 100));
        assert!(!w.maybe_written_below(c, 100) && w.never_fully_written_below(c, 100));
        w.mark(a, 2, false); // the same location again: still its own mark
        assert!(!w.maybe_written_below(b, 8) && w.maybe_written_below(a, 3));
        w.mark(c, 9, false);
        // Shared now, for good: below the lowest index, every location must be looked up.
        for h in [a, b, c, hash(5, 0x404)] {
            assert!(w.maybe_written_below(h, 3));
            assert!(!w.maybe_written_below(h, 2));
            assert!(!w.never_fully_written_below(h, 4));
            assert!(w.never_fully_written_below(h, 3));
        }
        // A location of its own in an untouched bucket: never written.
        assert!(!w.maybe_written_below(hash(6, 0x101), 100));
    }

    #[test]
    fn fingerprints_are_never_an_empty_mark_nor_make_two_marks_look_shared() {
        for h in [
            0,
            1,
            2,
            3,
            u64::MAX,
            1 << 40,
            0xff,
            0x1_0000_0000,
            0xff << 56,
        ] {
            let f = fingerprint(h);
            assert!(f != EMPTY && f < 0xffff, "{h:#x}");
        }
    }

    #[test]
    fn marks_made_at_once_from_several_threads_are_all_kept() {
        // Eight locations in one bucket marked concurrently (each by its own transaction
        // index): whatever order the marks land in, none is lost.
        for _ in 0..200 {
            let w = LowestWriters::new(4, 0);
            std::thread::scope(|s| {
                for t in 0..8u16 {
                    let w = &w;
                    s.spawn(move || w.mark(hash(9, 0x100 + t), 10 + usize::from(t), t % 2 == 0));
                }
            });
            for t in 0..8u16 {
                let (h, i) = (hash(9, 0x100 + t), 10 + usize::from(t));
                assert!(w.maybe_written_below(h, i + 1));
                assert!(!w.maybe_written_below(h, 10));
                assert!(!w.never_fully_written_below(h, 11));
            }
        }
    }

    proptest! {
        /// Against a model (the exact set of writes): every answer is sound, and while at
        /// most two locations marked the bucket, exact.
        #[test]
        fn answers_are_sound_and_exact_while_two_locations_share_a_bucket(
            marks in prop::collection::vec((0u16..5, 0usize..40, any::<bool>()), 0..12),
            reads in prop::collection::vec((0u16..5, 0usize..45), 1..20),
        ) {
            let w = LowestWriters::new(4, 0);
            // Locations 0..5 in one bucket, distinct fingerprints.
            let h = |l: u16| hash(3, 0x1000 + l * 0x111);
            let mut written: Vec<(u16, usize, bool)> = Vec::new();
            for (m, &(l, i, full)) in marks.iter().enumerate() {
                w.mark(h(l), i, full);
                written.push((l, i, full));
                let markers = {
                    let mut ls: Vec<u16> = written.iter().map(|x| x.0).collect();
                    ls.sort_unstable();
                    ls.dedup();
                    ls.len()
                };
                for &(r, j) in reads.iter().skip(m % reads.len()).take(4) {
                    let below = written.iter().any(|&(l, i, _)| l == r && i < j);
                    let full_below = written.iter().any(|&(l, i, f)| l == r && f && i < j);
                    let maybe = w.maybe_written_below(h(r), j);
                    let never_full = w.never_fully_written_below(h(r), j);
                    prop_assert!(maybe || !below, "missed a write of {r} below {j}");
                    prop_assert!(!never_full || !full_below, "missed a full write of {r} below {j}");
                    if markers <= 2 {
                        prop_assert_eq!(maybe, below, "inexact for {} below {}", r, j);
                    }
                }
            }
        }
    }
}
