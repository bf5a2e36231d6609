//! One shard of the multi-version memory: a map from exact keys (locations) to values (their
//! slots), laid out for a memory-bound workload.
//!
//! A plain hash map stores each key (56 bytes) and value (about 150 bytes) in its bucket, so a
//! map sized for a 1-Ggas block spans tens of megabytes, and every insert writes three or four
//! cold cache lines at a random place in it. Here the hash table holds only a four-byte
//! position per bucket (sixteen to a cache line: the table of a whole block fits in the
//! second-level cache), and keys with their values are appended to a vector, whose tail — where
//! inserts write — stays in cache.
//!
//! Why it is exact: a lookup compares the full key of every candidate the table's hash points
//! at; the hash only narrows the search, so two keys with equal hashes are still told apart
//! (they cost one more comparison). Entries are never removed (a location written once keeps
//! its slot for the block; an emptied slot is harmless), so positions stay valid.

use hashbrown::{HashTable, hash_table::Entry};

/// The table's hash of a key whose (caller-side) hash is `h`. The caller picks the shard with
/// the low bits of `h`, so every key of a shard shares them: the table must not use them
/// raw, or all keys would crowd into a fraction of its buckets and share one tag. Dropping the
/// low byte and multiplying spreads the remaining bits over the whole word (hashbrown takes
/// the bucket from the low bits and a tag from the top seven).
fn table_hash(h: u64) -> u64 {
    h.rotate_right(8).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Keys `K` with values `V`, found through a caller-computed hash.
pub(super) struct SlotMap<K, V> {
    /// Positions in `entries`.
    table: HashTable<u32>,
    /// The keys and values, in insertion order.
    entries: Vec<(K, V)>,
}

impl<K: Eq, V: Default> SlotMap<K, V> {
    /// A map with room for `capacity` keys before it grows.
    pub(super) fn with_capacity(capacity: usize) -> Self {
        SlotMap {
            table: HashTable::with_capacity(capacity),
            entries: Vec::with_capacity(capacity),
        }
    }

    /// The value of `key`, whose hash is `h`.
    pub(super) fn get(&self, key: &K, h: u64) -> Option<&V> {
        let entries = &self.entries;
        let p = self
            .table
            .find(table_hash(h), |&p| entries[p as usize].0 == *key)?;
        Some(&entries[*p as usize].1)
    }

    /// The value of `key`, whose hash is `h`, mutably.
    pub(super) fn get_mut(&mut self, key: &K, h: u64) -> Option<&mut V> {
        let entries = &self.entries;
        let p = *self
            .table
            .find(table_hash(h), |&p| entries[p as usize].0 == *key)?;
        Some(&mut self.entries[p as usize].1)
    }

    /// The value of `key`, whose hash is `h`, inserted as the default if absent. `hash` gives
    /// any key's hash (the same function that gave `h`), for when the table grows.
    pub(super) fn get_or_default(&mut self, key: K, h: u64, hash: impl Fn(&K) -> u64) -> &mut V {
        let SlotMap { table, entries } = self;
        let p = match table.entry(
            table_hash(h),
            |&p| entries[p as usize].0 == key,
            |&p| table_hash(hash(&entries[p as usize].0)),
        ) {
            Entry::Occupied(e) => *e.get() as usize,
            Entry::Vacant(e) => {
                let p = entries.len();
                // (A block's locations number far below `u32::MAX`: the strategy refuses blocks
                // with that many transactions, and each writes a bounded number of locations.)
                let p32 = u32::try_from(p).expect("fewer than 2^32 locations per shard");
                e.insert(p32);
                entries.push((key, V::default()));
                p
            }
        };
        &mut entries[p].1
    }

    /// How many keys the map holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// A deliberately weak hash: keys collide in groups of eight (and share the low byte, as a
    /// shard's keys do), so lookups must tell colliding keys apart by comparing them.
    fn weak_hash(k: &u64) -> u64 {
        (k / 8) << 8 | 0x5a
    }

    proptest! {
        /// Any sequence of inserts, updates and lookups gives what a standard hash map gives.
        #[test]
        fn behaves_like_a_hash_map(ops in proptest::collection::vec((0u64..200, any::<u32>(), 0u8..3), 1..400)) {
            let mut map: SlotMap<u64, u32> = SlotMap::with_capacity(4);
            let mut reference: HashMap<u64, u32> = HashMap::new();
            for (key, value, op) in ops {
                let h = weak_hash(&key);
                match op {
                    0 => {
                        *map.get_or_default(key, h, weak_hash) = value;
                        reference.insert(key, value);
                    }
                    1 => {
                        if let Some(v) = map.get_mut(&key, h) {
                            *v = v.wrapping_add(value);
                        }
                        if let Some(v) = reference.get_mut(&key) {
                            *v = v.wrapping_add(value);
                        }
                    }
                    _ => prop_assert_eq!(map.get(&key, h), reference.get(&key)),
                }
            }
            prop_assert_eq!(map.len(), reference.len());
            for (key, value) in &reference {
                prop_assert_eq!(map.get(key, weak_hash(key)), Some(value));
            }
        }
    }

    #[test]
    fn get_or_default_inserts_once() {
        let mut map: SlotMap<u64, Vec<u8>> = SlotMap::with_capacity(0);
        map.get_or_default(7, weak_hash(&7), weak_hash).push(1);
        map.get_or_default(7, weak_hash(&7), weak_hash).push(2);
        assert_eq!(map.get(&7, weak_hash(&7)), Some(&vec![1, 2]));
        assert_eq!(
            map.get(&6, weak_hash(&6)),
            None,
            "a colliding key is a different key"
        );
        assert_eq!(map.len(), 1);
    }
}
