//! One location's entries in the multi-version memory, sorted by transaction index.

use super::values::{Value, Write};
use crate::strategy::block_stm::scheduler::{TxIdx, tx_u32};
use smallvec::SmallVec;

/// A slot's entry for one transaction.
#[derive(Debug, Clone)]
pub(super) enum Entry {
    Estimate,
    Written(Write),
}

/// Everything known about one location: the pre-block value once read (so validation and
/// later readers never go back to a possibly slow store), and the writes by transaction index,
/// sorted (transactions mostly finish in order, so inserts are mostly appends).
///
/// The indices live apart from the entries: reads binary-search them, and on a location that
/// hundreds of transactions write (a hot slot) searching 88-byte entries touched a cache line
/// per step; four-byte indices keep the whole search in a few. Slots hold full values, wipes
/// and ESTIMATEs only (lazy deltas live in the writers' records).
#[derive(Default)]
pub(super) struct Slot {
    /// The pre-block value, once read, for slow stores only: boxed, since with the state in
    /// memory it is never set and 80 inline bytes would only widen every slot.
    pub(super) base: Option<Box<Value>>,
    /// The transactions with an entry, ascending.
    txs: SmallVec<[u32; 2]>,
    /// Their entries, in the same order. Most locations are written once: the first lives
    /// inline.
    entries: SmallVec<[Entry; 1]>,
}

/// How many items of `sorted` (ascending by `key`) are below `i`. Checks the last item first:
/// readers mostly come after every writer of what they read and transactions finish mostly in
/// order, so on a location written by thousands of transactions (a nonce chain's sender, a hot
/// account) the answer is usually "all of them", without a binary search over cold memory.
fn count_below<T>(sorted: &[T], i: TxIdx, key: impl Fn(&T) -> TxIdx) -> usize {
    match sorted.last() {
        None => 0,
        Some(last) if key(last) < i => sorted.len(),
        _ => sorted.partition_point(|t| key(t) < i),
    }
}

/// `binary_search` on `sorted` for `i`, checking the last item first (inserts are mostly
/// appends, see [`count_below`]).
fn search<T>(sorted: &[T], i: TxIdx, key: impl Fn(&T) -> TxIdx) -> Result<usize, usize> {
    match sorted.last().map(&key) {
        None => Err(0),
        Some(last) if last < i => Err(sorted.len()),
        Some(last) if last == i => Ok(sorted.len() - 1),
        _ => sorted.binary_search_by_key(&i, key),
    }
}

impl Slot {
    /// How many entries are below `i`.
    pub(super) fn count_below(&self, i: TxIdx) -> usize {
        count_below(&self.txs, i, |j| *j as TxIdx)
    }

    /// Entries below `i`, highest first.
    pub(super) fn below(&self, i: TxIdx) -> impl Iterator<Item = (TxIdx, &Entry)> {
        let end = self.count_below(i);
        self.txs[..end]
            .iter()
            .zip(&self.entries[..end])
            .rev()
            .map(|(j, e)| (*j as TxIdx, e))
    }

    pub(super) fn insert(&mut self, i: TxIdx, e: Entry) {
        match search(&self.txs, i, |j| *j as TxIdx) {
            Ok(pos) => self.entries[pos] = e,
            Err(pos) => {
                self.txs.insert(pos, tx_u32(i));
                self.entries.insert(pos, e);
            }
        }
    }

    pub(super) fn remove(&mut self, i: TxIdx) {
        if let Ok(pos) = search(&self.txs, i, |j| *j as TxIdx) {
            self.txs.remove(pos);
            self.entries.remove(pos);
        }
    }

    /// The transactions with an entry, ascending.
    pub(super) fn writers(&self) -> impl Iterator<Item = TxIdx> + '_ {
        self.txs.iter().map(|j| *j as TxIdx)
    }

    /// The transaction of the highest entry below `i`.
    pub(super) fn latest_tx_below(&self, i: TxIdx) -> Option<TxIdx> {
        let k = self.count_below(i);
        self.txs.get(k.checked_sub(1)?).map(|j| *j as TxIdx)
    }
}
