//! The hints builder's table of the block's addresses: per address, a record of four `u32`s
//! (see `hints`), in one flat open-addressing table that the builder *prefetches* a few
//! transactions ahead.
//!
//! Why not a `HashMap`: the builder looks up two addresses per transaction (sender and
//! callee) in a table of every address the block names, megabytes for a big block, so nearly
//! every lookup missed the caches, one after the other: 8 to 12 ms for a 1-Ggas block of
//! 47,619 transfers, on the thread that also starts executing. Knowing the addresses of the
//! transactions ahead, the builder asks for their buckets' cache lines early
//! ([`AddrTable::prefetch`]) and the misses overlap.
//!
//! Keys are the block's keyed 64-bit hash of the address (see `mv_memory::Keyed`: addresses
//! can be ground, by CREATE2 salts or keys, to collide under any fixed fold), not the address,
//! so that a bucket is 24 bytes. Two
//! addresses with the same fold share a record. That is safe for everything the builder keeps:
//! a shared record makes two accounts' lazy-write chains one chain, still in descending block
//! order, whose every reader checks the address in the transaction records it visits (a look
//! too many, never a wrong value); it merges two senders' or two callees' scheduling hints,
//! which only changes when transactions run, never what they compute.

use alloy_primitives::Address;

/// A record: four `u32`s, all zero until first set.
pub(super) type Record = [u32; 4];

/// The table (see the module docs).
pub(super) struct AddrTable {
    /// Per bucket: the key (0: empty), then the record as two words. All zero to start, so
    /// that allocating it is a zeroed allocation, not a pass over every bucket.
    buckets: Vec<[u64; 3]>,
    /// `buckets.len() - 1` (a power of two).
    mask: usize,
    /// 64 minus the bits of a bucket index: a key's home is the top bits of its product with
    /// an odd constant (see [`AddrTable::home`]).
    shift: u32,
}

/// The key of `a` under the block's `keyed` hash (never 0, which marks an empty bucket).
pub(super) fn key(keyed: &super::mv_memory::Keyed, a: &Address) -> u64 {
    keyed.address(a).max(1)
}

impl AddrTable {
    /// A table for up to `entries` addresses (at most half full).
    pub(super) fn with_capacity(entries: usize) -> Self {
        let len = (entries * 2).next_power_of_two().max(16);
        AddrTable {
            buckets: vec![[0; 3]; len],
            mask: len - 1,
            shift: 64 - len.trailing_zeros(),
        }
    }

    /// The first bucket to probe for `key`: the top bits of the product of the key, its high
    /// half folded onto its low half, with 2^64 divided by the golden ratio (Fibonacci
    /// hashing), so that every bit of the key moves them. (Bits from the middle of the plain
    /// product, as before, ignored the key's top bits: a fold of addresses that differ only in
    /// a few bytes, as numbered or vanity addresses do, put 100,000 keys in about a thousand
    /// homes, and the linear probes ran tens of buckets long.)
    fn home(&self, key: u64) -> usize {
        ((key ^ key >> 32).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// Asks for the cache line of `key`'s first bucket, ahead of a lookup.
    pub(super) fn prefetch(&self, key: u64) {
        super::prefetch(&self.buckets[self.home(key)]);
    }

    /// The record of `key`, inserted (all zero) if it is new.
    ///
    /// Panics if the table is full (more addresses than it was sized for, a bug).
    pub(super) fn entry(&mut self, key: u64) -> Entry<'_> {
        let mut b = self.home(key);
        for _ in 0..self.buckets.len() {
            let k = self.buckets[b][0];
            if k == key || k == 0 {
                self.buckets[b][0] = key;
                return Entry(&mut self.buckets[b]);
            }
            b = (b + 1) & self.mask;
        }
        panic!("address table full: sized for fewer addresses than the block has");
    }

    /// The record of `key`, if it was inserted.
    pub(super) fn get(&self, key: u64) -> Option<Record> {
        let mut b = self.home(key);
        for _ in 0..self.buckets.len() {
            match self.buckets[b][0] {
                0 => return None,
                k if k == key => return Some(Entry::record(&self.buckets[b])),
                _ => b = (b + 1) & self.mask,
            }
        }
        None
    }
}

/// One bucket's record, to read and write.
pub(super) struct Entry<'a>(&'a mut [u64; 3]);

impl Entry<'_> {
    fn record(b: &[u64; 3]) -> Record {
        [
            b[1] as u32,
            (b[1] >> 32) as u32,
            b[2] as u32,
            (b[2] >> 32) as u32,
        ]
    }

    /// Field `f` (0 to 3) of the record.
    pub(super) fn get(&self, f: usize) -> u32 {
        Entry::record(self.0)[f]
    }

    /// Sets field `f` (0 to 3) to `v` and returns what it was.
    pub(super) fn replace(&mut self, f: usize, v: u32) -> u32 {
        let old = self.get(f);
        let (word, shift) = (1 + f / 2, 32 * (f % 2));
        self.0[word] = (self.0[word] & !(0xffff_ffff << shift)) | ((v as u64) << shift);
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        /// Against a `HashMap` keyed the same way: every field written reads back, through
        /// the entry and through `get`, whatever collides in the buckets.
        #[test]
        fn behaves_like_a_hash_map(
            ops in proptest::collection::vec((0u64..64, 0usize..4, any::<u32>()), 1..300)
        ) {
            let mut table = AddrTable::with_capacity(64);
            let mut reference: HashMap<u64, Record> = HashMap::new();
            for (k, f, v) in ops {
                // Keys in a few buckets' worth, so that probes run into each other.
                let key = ((k << 40) | (k % 3)).max(1);
                table.prefetch(key);
                let old = table.entry(key).replace(f, v);
                let r = reference.entry(key).or_default();
                prop_assert_eq!(old, r[f]);
                r[f] = v;
                prop_assert_eq!(table.entry(key).get(f), v);
            }
            for (key, r) in &reference {
                prop_assert_eq!(table.get(*key), Some(*r));
            }
            prop_assert_eq!(table.get(1 << 63), None);
        }
    }

    #[test]
    fn keys_that_differ_only_in_their_top_bits_get_homes_of_their_own() {
        // Keys that differ only in their top bits, and the keys of numbered addresses (a tag
        // byte, then a big-endian counter).
        let table = AddrTable::with_capacity(4096);
        for keys in [
            (1..=4096u64).map(|i| i << 50).collect::<Vec<_>>(),
            (0..4096)
                .map(|i| {
                    key(
                        &Default::default(),
                        &crate::sources::example::address(0xaa, i),
                    )
                })
                .collect(),
        ] {
            let homes: std::collections::HashSet<usize> =
                keys.iter().map(|k| table.home(*k)).collect();
            assert!(homes.len() > keys.len() / 2, "{} homes", homes.len());
        }
    }

    #[test]
    fn keys_are_never_empty_and_differ_for_different_addresses() {
        let keyed = Default::default();
        assert_ne!(key(&keyed, &Address::ZERO), 0);
        assert_ne!(
            key(&keyed, &Address::with_last_byte(1)),
            key(&keyed, &Address::with_last_byte(2))
        );
    }
}
