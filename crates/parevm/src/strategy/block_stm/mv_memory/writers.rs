//! The lowest-writer tables: which locations no transaction below `i` ever wrote, answered
//! from one atomic word per bucket instead of a shard lookup.
//!
//! Two tables interleaved bucket by bucket (a write of an account marks both, and a codeless
//! check may consult both: one cache line for the two).
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

/// The lowest-writer and full-writer tables of one block (see the module docs).
pub(super) struct LowestWriters {
    /// `[lowest writer, lowest full writer]` per bucket.
    buckets: Box<[[AtomicU32; 2]]>,
    mask: u64,
}

impl LowestWriters {
    /// Empty tables for a block of `n` transactions.
    pub(super) fn new(n: usize) -> Self {
        let buckets = writer_buckets(n);
        LowestWriters {
            buckets: (0..buckets)
                .map(|_| [AtomicU32::new(u32::MAX), AtomicU32::new(u32::MAX)])
                .collect(),
            mask: buckets as u64 - 1,
        }
    }

    fn bucket(&self, h: u64) -> &[AtomicU32; 2] {
        &self.buckets[((h >> 8) & self.mask) as usize]
    }

    /// Notes that transaction `i` writes the location hashing to `h` (in full, for an
    /// account's info, when `full`). Call before the write is recorded.
    pub(super) fn mark(&self, h: u64, i: TxIdx, full: bool) {
        let i = tx_u32(i);
        let lower = |bucket: &AtomicU32| {
            if bucket.load(Relaxed) > i {
                bucket.fetch_min(i, SeqCst);
            }
        };
        let [any, whole] = self.bucket(h);
        if full {
            lower(whole);
        }
        lower(any);
    }

    /// False when no transaction below `i` ever wrote the location hashing to `h`.
    pub(super) fn maybe_written_below(&self, h: u64, i: TxIdx) -> bool {
        self.bucket(h)[0].load(SeqCst) < tx_u32(i)
    }

    /// True when no transaction below `i` ever wrote the account hashing to `h` in full.
    pub(super) fn never_fully_written_below(&self, h: u64, i: TxIdx) -> bool {
        self.bucket(h)[1].load(SeqCst) >= tx_u32(i)
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
}
