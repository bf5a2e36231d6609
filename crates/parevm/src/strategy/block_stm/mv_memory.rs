//! Multi-version memory: for every location, the value each transaction's latest incarnation
//! wrote there, so that transaction `i` reads what the highest transaction below `i` wrote.
//!
//! Locations are exact ([`Location`]): an account's info, one storage slot, or the fact that an
//! account's storage was wiped (creation or destruction). No hashing is used as identity, so
//! two locations never collide.
//!
//! A write is a full value, a *delta* (a lazy transfer's credit to its recipient, or a lazy
//! sender's debit with its new nonce: applied in block order on top of the highest full value,
//! so they do not order transactions unless one of them reads the account in full), or an
//! ESTIMATE: the
//! mark left by an aborted incarnation, meaning "a value will probably be written here";
//! reading it suspends the reader until the writer re-executes.
//!
//! Full values live in the locations' slots (in shards, see [`SlotMap`]); deltas live in the
//! writing transaction's own record, found through the [`LazyIndex`] (only plain transfers
//! write them, to their sender and recipient, so the index is known before execution), which
//! spares a block of transfers two shared-map inserts per transaction. Deferred beneficiary
//! fees live in the records too.
//!
//! Reads resolve by walking down from `i - 1`: the highest full value below `i` (or the
//! pre-block state), then the deltas written between it and `i`, in block order. A storage slot resolves against both its own writes and the
//! latest wipe of its account: whichever is higher wins (the same transaction may wipe and
//! then write, so a slot write at the same index as a wipe wins).

use super::{lazy_index::LazyIndex, scheduler::TxIdx, slot_map::SlotMap};
use crate::state::{StateError, StateView};
use alloy_primitives::{Address, U256, map::HashSet};
use parking_lot::Mutex;
use revm::primitives::KECCAK_EMPTY;
use smallvec::SmallVec;
use std::hash::BuildHasher;

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

fn fold_address(a: &Address) -> u64 {
    let b = a.as_slice();
    let head = u64::from_le_bytes(b[0..8].try_into().expect("8 bytes"));
    let mid = u64::from_le_bytes(b[8..16].try_into().expect("8 bytes"));
    let tail = u32::from_le_bytes(b[16..20].try_into().expect("4 bytes")) as u64;
    head ^ mid.rotate_left(21) ^ tail.rotate_left(42)
}

impl std::hash::Hash for Location {
    /// One word per location: hashing 53 bytes per read was a measurable share of the
    /// strategy's overhead.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let word = match self {
            Location::Account(a) => fold_address(a),
            Location::Storage(a, k) => {
                let l = k.as_limbs();
                fold_address(a).rotate_left(7)
                    ^ l[0]
                    ^ l[1].rotate_left(13)
                    ^ l[2].rotate_left(29)
                    ^ l[3].rotate_left(47)
            }
            Location::StorageWipe(a) => !fold_address(a),
        };
        state.write_u64(word);
    }
}

pub(crate) use crate::state::changes::AccountValue;
use crate::state::changes::apply_credit;

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
    /// A lazy sender's plain transfer: the balance goes down by `amount` (value plus gas) and
    /// the nonce becomes `nonce`. Code is unchanged.
    Debit {
        /// What the transfer cost the sender.
        amount: U256,
        /// The sender's nonce afterwards.
        nonce: u64,
    },
}

impl Write {
    /// True for the commutative entries (credits and lazy debits) that a read folds onto the
    /// highest full value below it, rather than starting from.
    fn is_delta(&self) -> bool {
        matches!(self, Write::Delta(_) | Write::Debit { .. })
    }

    /// `value` after this delta entry.
    fn apply_delta(&self, value: AccountValue, state_clear: bool) -> AccountValue {
        match self {
            Write::Delta(d) => apply_credit(value, *d, state_clear),
            Write::Debit { amount, nonce } => {
                let (balance, _, code) = value.unwrap_or((U256::ZERO, 0, KECCAK_EMPTY));
                // Saturating: a speculative read may combine entries that no final order
                // produces; the commit checks the real balance covers the cost.
                Some((balance.saturating_sub(*amount), *nonce, code))
            }
            _ => value,
        }
    }
}

#[derive(Debug, Clone)]
enum Entry {
    Estimate,
    Written(Write),
}

/// The writes of one execution (most transactions write a handful of locations).
pub(crate) type Writes = SmallVec<[(Location, Write); 6]>;

/// True when the account does not exist or has no code.
pub(crate) fn codeless(v: &AccountValue) -> bool {
    v.is_none_or(|(_, _, h)| h == KECCAK_EMPTY)
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

/// Shards (separately locked maps, see [`SlotMap`]) for a block of `n` transactions: a power
/// of two, up to 256 (contention on a shard lock is rare from there on), about one per eight
/// written locations below that: a small block's shards would otherwise start empty and grow —
/// allocate and rehash — one by one under their locks, and creating 256 maps costs as much as
/// a few transactions.
fn shard_count(n: usize) -> usize {
    (n * 3 / 8).next_power_of_two().clamp(4, 256)
}

/// A transaction index as stored in the lowest-writer table. Blocks have far fewer than
/// `u32::MAX` transactions (the strategy refuses larger ones).
fn tx_u32(i: TxIdx) -> u32 {
    debug_assert!(i < u32::MAX as usize);
    i as u32
}

/// Buckets of the lowest-writer table for a block of `n` transactions: a power of two, about
/// eight per transaction (a few written locations each), at least 256.
fn writer_buckets(n: usize) -> usize {
    (n * 8).next_power_of_two().max(256)
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
struct Slot {
    /// The pre-block value, once read, for slow stores only: boxed, since with the state in
    /// memory it is never set and 80 inline bytes would only widen every slot.
    base: Option<Box<Value>>,
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
    fn count_below(&self, i: TxIdx) -> usize {
        count_below(&self.txs, i, |j| *j as TxIdx)
    }

    /// Entries below `i`, highest first.
    fn below(&self, i: TxIdx) -> impl Iterator<Item = (TxIdx, &Entry)> {
        let end = self.count_below(i);
        self.txs[..end]
            .iter()
            .zip(&self.entries[..end])
            .rev()
            .map(|(j, e)| (*j as TxIdx, e))
    }

    fn insert(&mut self, i: TxIdx, e: Entry) {
        debug_assert!(
            !matches!(&e, Entry::Written(w) if w.is_delta()),
            "deltas live in the writers' records"
        );
        match search(&self.txs, i, |j| *j as TxIdx) {
            Ok(pos) => self.entries[pos] = e,
            Err(pos) => {
                self.txs.insert(pos, tx_u32(i));
                self.entries.insert(pos, e);
            }
        }
    }

    fn remove(&mut self, i: TxIdx) {
        if let Ok(pos) = search(&self.txs, i, |j| *j as TxIdx) {
            self.txs.remove(pos);
            self.entries.remove(pos);
        }
    }

    /// The transaction of the highest entry below `i`.
    fn latest_tx_below(&self, i: TxIdx) -> Option<TxIdx> {
        let k = self.count_below(i);
        self.txs.get(k.checked_sub(1)?).map(|j| *j as TxIdx)
    }
}

/// A lazy transfer's deltas: its recipient's credit and its sender's debit ([`Write::Delta`],
/// [`Write::Debit`]).
pub(crate) type LazyWrites = SmallVec<[(Address, Write); 2]>;

/// The multi-version memory of one block.
pub(crate) struct MvMemory<'a> {
    /// Where the lazy deltas of each account are (they live in `tx_writes`, not in slots).
    pub(crate) lazy: LazyIndex<'a>,
    shards: Vec<Mutex<SlotMap<Location, Slot>>>,
    hasher: alloy_primitives::map::DefaultHashBuilder,
    /// Per transaction, what its latest incarnation wrote: the locations, its lazy deltas and
    /// the fee it deferred to the beneficiary (one lock and one cache line per transaction for
    /// all; lock order: a transaction's, then shards').
    tx_writes: Vec<Mutex<TxWrites>>,
    /// Whether EIP-161 state clearing applies (a touch deletes an empty account).
    state_clear: bool,
    /// Whether pre-block values are cached (the base is slow to read).
    cache_reads: bool,
    /// The block's beneficiary, whose deferred fees live in `tx_writes`, not in a shared slot.
    beneficiary: Address,
    /// Set (before the entry is recorded) once any transaction wipes an account's storage.
    /// While unset, storage reads skip the wipe lookup. This is safe: a wipe recorded later is
    /// a write to a new location, after which every higher transaction is re-validated, and
    /// validation re-reads with the wipe taken into account.
    any_wipe: std::sync::atomic::AtomicBool,
    /// Set (before the deltas are recorded) once any transaction records a lazy delta. While
    /// unset, full reads skip the lazy-write index, for the same reason as `any_wipe`.
    any_lazy: std::sync::atomic::AtomicBool,
    /// Two tables interleaved bucket by bucket (a write of an account marks both, and a
    /// codeless check may consult both: one cache line for the two).
    ///
    /// `writers[b][0]`, the lowest-writer table: bucket `(hash >> 8) & mask` holds the lowest transaction index
    /// that any incarnation ever wrote a location hashing there (`u32::MAX`: none). It is
    /// lowered (`fetch_min`) before the write is recorded and never raised, not even when a
    /// re-execution stops writing the location.
    ///
    /// So a bucket value `>= i` proves that no transaction below `i` ever wrote the location:
    /// transaction `i` reads the pre-block value, and did so at every earlier moment too. Reads
    /// then skip the shard lookup (unless pre-block values are cached there, for slow stores);
    /// validation accepts such a read without re-reading it (the pre-block state does not
    /// change); the commit knows a lazy transfer's recipient was not written below its credit.
    /// In a block of independent transactions most reads are of locations nobody below wrote,
    /// even when the reader itself writes them (a sender's account, its token balance), so most
    /// validations end here. A smaller bucket value only means "look it up" (collisions cost a
    /// lookup, never a wrong answer). The beneficiary's account is never decided here (its fees
    /// live in `tx_writes`).
    ///
    /// `writers[b][1]`: the same for full writes of accounts only ([`Write::Account`]; not credits, debits or
    /// ESTIMATEs). A bucket value `>= i` proves no transaction below `i` ever wrote the
    /// account in full, so its code is the pre-block code: a read that only needs to know the
    /// account has no code (a lazy transfer's sender or recipient) is answered from the
    /// pre-block state without the shard lock, and validated without a lookup. That is what
    /// keeps one sender's chain of transfers, or many credits to one recipient, from meeting
    /// at one shard lock twice per transaction.
    writers: Box<[[std::sync::atomic::AtomicU32; 2]]>,
    writer_mask: u64,
}

/// What one transaction's latest incarnation wrote.
#[derive(Default)]
struct TxWrites {
    /// The locations.
    locations: SmallVec<[Location; 4]>,
    /// Its lazy deltas, by account (not in the accounts' slots: see [`LazyIndex`]).
    lazy: LazyWrites,
    /// Its incarnation was aborted: `lazy` names the accounts it probably writes again, and a
    /// reader of one of them in full waits (an ESTIMATE).
    lazy_estimate: bool,
    /// The fee it deferred to the beneficiary. Keeping fees out of the beneficiary's slot
    /// means transactions that never read the beneficiary never touch a shared location; one
    /// that does read it sums the fees above the latest full value.
    fee: Fee,
}

/// A transaction's deferred fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Fee {
    /// Not executed yet, or it paid no deferred fee.
    #[default]
    None,
    /// It deferred this fee (a zero fee is still a touch).
    Deferred(U256),
    /// Its incarnation was aborted: it probably defers a fee again.
    Estimate,
}

impl<'a> MvMemory<'a> {
    /// The memory of a block of transactions `txs`.
    pub(crate) fn new(
        txs: &'a [crate::block::Transaction],
        state_clear: bool,
        beneficiary: Address,
        cache_reads: bool,
    ) -> Self {
        let n = txs.len();
        let shards = shard_count(n);
        MvMemory {
            lazy: LazyIndex::new(txs),
            // Sized for about three written locations per transaction, so that shards do not
            // rehash while workers hold their locks.
            shards: (0..shards)
                .map(|_| Mutex::new(SlotMap::with_capacity(n * 3 / shards + 1)))
                .collect(),
            hasher: Default::default(),
            tx_writes: (0..n).map(|_| Mutex::new(TxWrites::default())).collect(),
            state_clear,
            cache_reads,
            beneficiary,
            any_wipe: Default::default(),
            any_lazy: Default::default(),
            writers: (0..writer_buckets(n))
                .map(|_| {
                    [
                        std::sync::atomic::AtomicU32::new(u32::MAX),
                        std::sync::atomic::AtomicU32::new(u32::MAX),
                    ]
                })
                .collect(),
            writer_mask: writer_buckets(n) as u64 - 1,
        }
    }

    /// Frees the memory with `threads` threads (its shards in parallel): dropping tens of
    /// thousands of slots took 2.3 ms of a 47,619-transaction block on one thread.
    pub(crate) fn free(self, threads: usize) {
        // (Sized by transactions: small blocks free on one thread.)
        let transactions = self.tx_writes.len();
        let MvMemory { shards, .. } = self;
        super::pool::parallel_chunks(shards, transactions, threads, drop);
    }

    /// The one-word hash of `loc` that picks its shard and its lowest-writer bucket.
    fn hash(&self, loc: &Location) -> u64 {
        self.hasher.hash_one(loc)
    }

    fn shard_by_hash(&self, h: u64) -> &Mutex<SlotMap<Location, Slot>> {
        // (A power of two: the low bits pick the shard.)
        &self.shards[(h as usize) & (self.shards.len() - 1)]
    }

    fn writer_bucket(&self, h: u64) -> &std::sync::atomic::AtomicU32 {
        &self.writers[((h >> 8) & self.writer_mask) as usize][0]
    }

    fn full_writer_bucket(&self, h: u64) -> &std::sync::atomic::AtomicU32 {
        &self.writers[((h >> 8) & self.writer_mask) as usize][1]
    }

    /// Notes that transaction `i` writes `w` at the location hashing to `h`.
    fn mark_written(&self, h: u64, i: TxIdx, w: &Write) {
        let i = tx_u32(i);
        let lower = |bucket: &std::sync::atomic::AtomicU32| {
            if bucket.load(std::sync::atomic::Ordering::Relaxed) > i {
                bucket.fetch_min(i, std::sync::atomic::Ordering::SeqCst);
            }
        };
        if matches!(w, Write::Account(_)) {
            lower(self.full_writer_bucket(h));
        }
        lower(self.writer_bucket(h));
    }

    /// True when no transaction below `i` ever wrote `address`'s account in full: its code,
    /// for `i`, is the pre-block code, whatever credits and debits came below.
    pub(crate) fn never_fully_written_below(&self, address: Address, i: TxIdx) -> bool {
        let h = self.hash(&Location::Account(address));
        self.full_writer_bucket(h)
            .load(std::sync::atomic::Ordering::SeqCst)
            >= tx_u32(i)
    }

    /// False when no transaction below `i` ever wrote the location hashing to `h`.
    fn maybe_written_below(&self, h: u64, i: TxIdx) -> bool {
        self.writer_bucket(h)
            .load(std::sync::atomic::Ordering::SeqCst)
            < tx_u32(i)
    }

    /// True when no transaction below `i` ever wrote `loc` (nor, for a slot, wiped its
    /// account): `i` reads, and always read, the pre-block value there. Validation accepts a
    /// read of such a location without re-reading it.
    pub(crate) fn never_written_below(&self, loc: &Location, i: TxIdx) -> bool {
        self.never_written_below_hashed(loc, self.hash(loc), i)
    }

    /// [`MvMemory::never_written_below`] for a location whose hash `h` the caller has already.
    fn never_written_below_hashed(&self, loc: &Location, h: u64, i: TxIdx) -> bool {
        match loc {
            Location::Account(a) => *a != self.beneficiary && !self.maybe_written_below(h, i),
            Location::Storage(a, _) => {
                !self.maybe_written_below(h, i)
                    && (!self.any_wipe.load(std::sync::atomic::Ordering::SeqCst)
                        || !self.maybe_written_below(self.hash(&Location::StorageWipe(*a)), i))
            }
            Location::StorageWipe(_) => !self.maybe_written_below(h, i),
        }
    }

    /// Records the writes of `i`'s latest incarnation, replacing its previous incarnation's:
    /// `writes` go to the locations' slots, the lazy deltas `lazy` (at most a credit and a
    /// debit) and the deferred `fee` stay with the transaction. Returns true if it wrote a
    /// location the previous incarnation did not. (A lazy delta and a full write of the same
    /// account count as different locations: a reader that only asks whether the account has
    /// code ignores deltas, so a full write replacing a delta is new to it.)
    pub(crate) fn record(
        &self,
        i: TxIdx,
        writes: Writes,
        lazy: LazyWrites,
        fee: Option<U256>,
    ) -> bool {
        let mut tx = self.tx_writes[i].lock();
        let fee_is_new = fee.is_some() && tx.fee == Fee::None;
        tx.fee = fee.map_or(Fee::None, Fee::Deferred);
        let lazy_is_new = lazy
            .iter()
            .any(|(a, _)| !tx.lazy.iter().any(|(old, _)| old == a));
        // (Stored only once: every plain transfer storing it would keep the line, which every
        // read path also reads, bouncing between cores.)
        if !lazy.is_empty() && !self.any_lazy.load(std::sync::atomic::Ordering::SeqCst) {
            self.any_lazy
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        for (address, w) in &lazy {
            self.mark_written(self.hash(&Location::Account(*address)), i, w);
        }
        tx.lazy = lazy;
        tx.lazy_estimate = false;
        let last = &mut tx.locations;
        let wrote_new = {
            // Comparing the two write sets pairwise is quadratic: fine for a handful of
            // locations, not for a re-executed transaction that wrote thousands (2016's
            // state-bloat attacks), where both are looked up through hash sets instead.
            const PAIRWISE: usize = 16;
            let hashed = last.len() > PAIRWISE && writes.len() > PAIRWISE;
            let (new_set, old_set): (HashSet<&Location>, HashSet<&Location>) = if hashed {
                (
                    writes.iter().map(|(l, _)| l).collect(),
                    last.iter().collect(),
                )
            } else {
                Default::default()
            };
            let in_new = |loc: &Location| {
                if hashed {
                    new_set.contains(loc)
                } else {
                    writes.iter().any(|(l, _)| l == loc)
                }
            };
            let in_old = |loc: &Location| {
                if hashed {
                    old_set.contains(loc)
                } else {
                    last.contains(loc)
                }
            };
            for old in last.iter() {
                let h = self.hash(old);
                if !in_new(old)
                    && let Some(slot) = self.shard_by_hash(h).lock().get_mut(old, h)
                {
                    slot.remove(i);
                }
            }
            fee_is_new || lazy_is_new || writes.iter().any(|(l, _)| !in_old(l))
        };
        if writes
            .iter()
            .any(|(l, _)| matches!(l, Location::StorageWipe(_)))
        {
            self.any_wipe
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        last.clear();
        last.reserve_exact(writes.len());
        for (loc, w) in writes {
            let h = self.hash(&loc);
            self.mark_written(h, i, &w);
            self.shard_by_hash(h)
                .lock()
                .get_or_default(loc, h, |l| self.hash(l))
                .insert(i, Entry::Written(w));
            last.push(loc);
        }
        wrote_new
    }

    /// Marks every location `i` wrote as ESTIMATE (its incarnation was aborted).
    pub(crate) fn convert_writes_to_estimates(&self, i: TxIdx) {
        let mut tx = self.tx_writes[i].lock();
        if matches!(tx.fee, Fee::Deferred(_)) {
            tx.fee = Fee::Estimate;
        }
        tx.lazy_estimate = !tx.lazy.is_empty();
        for loc in tx.locations.iter() {
            let h = self.hash(loc);
            if let Some(slot) = self.shard_by_hash(h).lock().get_mut(loc, h) {
                slot.insert(i, Entry::Estimate);
            }
        }
    }

    /// Caches the pre-block value of `loc` (first reader wins; all read the same value),
    /// unless the base is cheap to read again.
    fn cache_base(&self, loc: Location, v: Value) {
        if !self.cache_reads {
            return;
        }
        let h = self.hash(&loc);
        let mut shard = self.shard_by_hash(h).lock();
        let slot = shard.get_or_default(loc, h, |l| self.hash(l));
        if slot.base.is_none() {
            slot.base = Some(Box::new(v));
        }
    }

    /// The pre-block value of an account, if some transaction read it (cached), else from
    /// `base`.
    pub(crate) fn base_account(
        &self,
        address: Address,
        base: &dyn StateView,
    ) -> Result<AccountValue, StateError> {
        let loc = Location::Account(address);
        let h = self.hash(&loc);
        if let Some(Slot {
            base: Some(cached), ..
        }) = self.shard_by_hash(h).lock().get(&loc, h)
            && let Value::Account(v) = **cached
        {
            return Ok(v);
        }
        Ok(base
            .account(address)?
            .map(|a| (a.balance, a.nonce, a.code_hash)))
    }

    /// The lazy deltas to `address` written by transactions between the full value at
    /// `full_at` (the pre-block value: `None`) and `i`, highest first; or an aborted writer's
    /// index, whose deltas are ESTIMATEs.
    #[allow(clippy::type_complexity)]
    fn lazy_deltas_below(
        &self,
        address: Address,
        i: TxIdx,
        full_at: Option<TxIdx>,
    ) -> Result<Result<SmallVec<[Write; 4]>, TxIdx>, StateError> {
        let mut deltas = SmallVec::new();
        for t in self.lazy.touches_below(address, i)? {
            if full_at.is_some_and(|f| t.tx <= f) {
                break;
            }
            match self.lazy_write(t.tx, address) {
                Some((_, true)) => return Ok(Err(t.tx)),
                Some((d, false)) => deltas.push(d),
                None => {}
            }
        }
        Ok(Ok(deltas))
    }

    /// Transaction `j`'s lazy delta to `address`, if its latest incarnation wrote one, and
    /// whether that incarnation was aborted (the delta is an ESTIMATE).
    fn lazy_write(&self, j: TxIdx, address: Address) -> Option<(Write, bool)> {
        let w = self.tx_writes[j].lock();
        let (_, d) = w.lazy.iter().find(|(a, _)| *a == address)?;
        Some((d.clone(), w.lazy_estimate))
    }

    /// Every transaction that wrote `address`'s account (full values in its slot, credits and
    /// debits in the transactions' records), in block order. After the run these are exactly
    /// the transactions whose final changes include the account, the beneficiary's deferred
    /// fees aside.
    pub(crate) fn account_writers(&self, address: Address) -> Result<Vec<TxIdx>, StateError> {
        let loc = Location::Account(address);
        let h = self.hash(&loc);
        let mut writers: Vec<TxIdx> = self
            .shard_by_hash(h)
            .lock()
            .get(&loc, h)
            .map(|slot| slot.txs.iter().map(|j| *j as TxIdx).collect())
            .unwrap_or_default();
        for t in self.lazy.all_touches(address)? {
            if self.lazy_write(t.tx, address).is_some() {
                writers.push(t.tx);
            }
        }
        writers.sort_unstable();
        writers.dedup();
        Ok(writers)
    }

    /// The highest transaction below `i` that wrote `address`'s account in full (not a delta).
    pub(crate) fn latest_full_write_below(&self, address: Address, i: TxIdx) -> Option<TxIdx> {
        let loc = Location::Account(address);
        let h = self.hash(&loc);
        self.shard_by_hash(h)
            .lock()
            .get(&loc, h)?
            .latest_tx_below(i)
    }

    /// Reads an account as transaction `i` sees it: the highest full value below `i` (or the
    /// pre-block value), plus the deltas written above it, in block order.
    pub(crate) fn read_account(
        &self,
        address: Address,
        i: TxIdx,
        base: &dyn StateView,
    ) -> Result<ReadResult, StateError> {
        self.read_account_as(address, i, base, false)
    }

    /// Like [`MvMemory::read_account`] but only establishes whether the account has code:
    /// deltas never change code, so they are skipped, not summed.
    pub(crate) fn read_codeless(
        &self,
        address: Address,
        i: TxIdx,
        base: &dyn StateView,
    ) -> Result<ReadResult, StateError> {
        self.read_account_as(address, i, base, true)
    }

    fn read_account_as(
        &self,
        address: Address,
        i: TxIdx,
        base: &dyn StateView,
        code_only: bool,
    ) -> Result<ReadResult, StateError> {
        let loc = Location::Account(address);
        let h = self.hash(&loc);
        if !self.cache_reads
            && (self.never_written_below_hashed(&loc, h, i)
                || code_only
                    && self
                        .full_writer_bucket(h)
                        .load(std::sync::atomic::Ordering::SeqCst)
                        >= tx_u32(i))
        {
            // Nothing below wrote it, or (only its code is asked for) nothing below wrote it
            // in full: deltas are not summed for such a read, so it is the pre-block value.
            let v = base
                .account(address)?
                .map(|a| (a.balance, a.nonce, a.code_hash));
            return Ok(ReadResult::Value(Value::Account(v)));
        }
        // (the highest full value below `i`, its transaction), or none: the pre-block value,
        // not cached yet.
        let found: Option<(AccountValue, Option<TxIdx>)> = {
            let shard = self.shard_by_hash(h).lock();
            match shard.get(&loc, h) {
                None => None,
                Some(slot) => match slot.below(i).next() {
                    Some((j, Entry::Estimate)) => return Ok(ReadResult::Blocked(j)),
                    Some((j, Entry::Written(Write::Account(v)))) => Some((*v, Some(j))),
                    Some(_) => unreachable!("an account's slot holds account values"),
                    None => match slot.base.as_deref() {
                        Some(Value::Account(v)) => Some((*v, None)),
                        _ => None,
                    },
                },
            }
        };
        let (mut value, full_at) = match found {
            Some(found) => found,
            None => {
                let v = base
                    .account(address)?
                    .map(|a| (a.balance, a.nonce, a.code_hash));
                self.cache_base(loc, Value::Account(v));
                (v, None)
            }
        };
        if !code_only && self.any_lazy.load(std::sync::atomic::Ordering::SeqCst) {
            match self.lazy_deltas_below(address, i, full_at)? {
                Ok(deltas) => {
                    for d in deltas.iter().rev() {
                        value = d.apply_delta(value, self.state_clear);
                    }
                }
                Err(j) => return Ok(ReadResult::Blocked(j)),
            }
        }
        if address == self.beneficiary && !code_only {
            // The fees deferred between the latest full value and `i`, in block order.
            for j in full_at.map_or(0, |p| p + 1)..i {
                match self.tx_writes[j].lock().fee {
                    Fee::None => {}
                    Fee::Deferred(f) => value = apply_credit(value, f, self.state_clear),
                    Fee::Estimate => return Ok(ReadResult::Blocked(j)),
                }
            }
        }
        Ok(ReadResult::Value(Value::Account(value)))
    }

    /// The latest entry below `i` at `loc`, and the cached base value.
    fn latest_below(
        &self,
        loc: &Location,
        h: u64,
        i: TxIdx,
    ) -> (Option<(TxIdx, Entry)>, Option<Value>) {
        let shard = self.shard_by_hash(h).lock();
        match shard.get(loc, h) {
            None => (None, None),
            Some(slot) => (
                slot.below(i).next().map(|(j, e)| (j, e.clone())),
                slot.base.as_deref().cloned(),
            ),
        }
    }

    /// Reads a storage slot as transaction `i` sees it.
    pub(crate) fn read_storage(
        &self,
        address: Address,
        index: U256,
        i: TxIdx,
        base: &dyn StateView,
    ) -> Result<ReadResult, StateError> {
        let loc = Location::Storage(address, index);
        let h = self.hash(&loc);
        if !self.cache_reads && self.never_written_below_hashed(&loc, h, i) {
            return Ok(ReadResult::Value(Value::Storage(
                base.storage(address, index)?,
            )));
        }
        let (slot, cached) = self.latest_below(&loc, h, i);
        let wipe = if self.any_wipe.load(std::sync::atomic::Ordering::SeqCst) {
            let wipe = Location::StorageWipe(address);
            self.latest_below(&wipe, self.hash(&wipe), i).0
        } else {
            None
        };
        for (j, e) in [&slot, &wipe].into_iter().flatten() {
            if matches!(e, Entry::Estimate) {
                return Ok(ReadResult::Blocked(*j));
            }
        }
        let value = match (slot, wipe) {
            (Some((js, Entry::Written(Write::Storage(v)))), Some((jw, _))) if js >= jw => v,
            (Some((_, Entry::Written(Write::Storage(v)))), None) => v,
            (_, Some(_)) => U256::ZERO,
            (_, None) => match cached {
                Some(Value::Storage(v)) => v,
                _ => {
                    let v = base.storage(address, index)?;
                    self.cache_base(loc, Value::Storage(v));
                    v
                }
            },
        };
        Ok(ReadResult::Value(Value::Storage(value)))
    }

    /// Re-reads `loc` for transaction `i` (validation) as the recorded read `seen` needs it.
    pub(crate) fn reread(
        &self,
        loc: &Location,
        seen: &Value,
        i: TxIdx,
        base: &dyn StateView,
    ) -> Result<ReadResult, StateError> {
        match loc {
            Location::Account(a) if *seen == Value::Codeless => self.read_codeless(*a, i, base),
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

    /// A block of `n` plain transfers between distinct accounts, those at `paying` to `to`.
    fn transfers_to(to: Address, n: usize, paying: &[usize]) -> crate::block::Block {
        use crate::sources::workload::{self, WorkloadKind, WorkloadSpec};
        let (mut block, _) = workload::generate(&WorkloadSpec::new(
            WorkloadKind::Transfers,
            21_000 * n as u64,
        ));
        block.transactions.truncate(n);
        assert_eq!(block.transactions.len(), n);
        for &i in paying {
            block.transactions[i].env.kind = revm::primitives::TxKind::Call(to);
        }
        block
    }

    fn value(r: ReadResult) -> Value {
        match r {
            ReadResult::Value(v) => v,
            ReadResult::Blocked(j) => panic!("blocked on {j}"),
        }
    }

    #[test]
    fn reads_see_the_highest_lower_writer_deltas_and_wipes() {
        let a = address!("0xaa000000000000000000000000000000000000aa");
        let mut base = InMemoryState::new();
        base.insert_account(
            a,
            U256::from(10),
            0,
            Default::default(),
            [(U256::from(1), U256::from(5))],
        );
        // Five plain transfers; 1 and 2 pay `a`, so they may credit it lazily.
        let block = transfers_to(a, 5, &[1, 2]);
        let mv = MvMemory::new(&block.transactions, true, Address::ZERO, true);
        super::super::hints::Hints::empty(5).build(&block, &mv.lazy);
        mv.record(
            1,
            smallvec::smallvec![],
            smallvec::smallvec![(a, Write::Delta(U256::from(3)))],
            None,
        );
        mv.record(
            2,
            smallvec::smallvec![],
            smallvec::smallvec![(a, Write::Delta(U256::from(4)))],
            None,
        );
        assert_eq!(
            value(mv.read_account(a, 0, &base).unwrap()),
            Value::Account(Some((U256::from(10), 0, KECCAK_EMPTY)))
        );
        assert_eq!(
            value(mv.read_account(a, 3, &base).unwrap()),
            Value::Account(Some((U256::from(17), 0, KECCAK_EMPTY)))
        );
        // An aborted lazy writer's credit is an ESTIMATE for full readers above it, not for
        // readers that only ask whether the account has code.
        mv.convert_writes_to_estimates(1);
        assert!(matches!(
            mv.read_account(a, 3, &base).unwrap(),
            ReadResult::Blocked(1)
        ));
        assert!(matches!(
            mv.read_codeless(a, 3, &base).unwrap(),
            ReadResult::Value(_)
        ));
        // Its next incarnation credits again: a known location, not a new one.
        assert!(!mv.record(
            1,
            smallvec::smallvec![],
            smallvec::smallvec![(a, Write::Delta(U256::from(3)))],
            None,
        ));
        assert_eq!(
            value(mv.read_account(a, 3, &base).unwrap()),
            Value::Account(Some((U256::from(17), 0, KECCAK_EMPTY)))
        );
        // A wipe at 2 hides the base slot from 3 on; a later write at 3 is seen from 4 on.
        mv.record(
            2,
            smallvec::smallvec![
                (Location::Account(a), Write::Account(None)),
                (Location::StorageWipe(a), Write::Wipe),
            ],
            smallvec::smallvec![],
            None,
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
            smallvec::smallvec![(
                Location::Storage(a, U256::from(1)),
                Write::Storage(U256::from(8)),
            )],
            smallvec::smallvec![],
            None,
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
    fn beneficiary_fees_sum_above_the_latest_full_value() {
        let cb = address!("0x00000000000000000000000000000000000000cb");
        let mut base = InMemoryState::new();
        base.insert_account(cb, U256::from(100), 0, Default::default(), []);
        let block = transfers_to(cb, 6, &[]);
        let mv = MvMemory::new(&block.transactions, true, cb, true);
        mv.record(
            0,
            smallvec::smallvec![],
            smallvec::smallvec![],
            Some(U256::from(1)),
        );
        mv.record(
            1,
            smallvec::smallvec![],
            smallvec::smallvec![],
            Some(U256::from(2)),
        );
        // tx 2 read the beneficiary and wrote it in full (its fee was paid inside the EVM).
        mv.record(
            2,
            smallvec::smallvec![(
                Location::Account(cb),
                Write::Account(Some((U256::from(500), 0, KECCAK_EMPTY)))
            )],
            smallvec::smallvec![],
            None,
        );
        mv.record(
            3,
            smallvec::smallvec![],
            smallvec::smallvec![],
            Some(U256::from(4)),
        );
        let at = |i| match value(mv.read_account(cb, i, &base).unwrap()) {
            Value::Account(Some((b, _, _))) => b,
            other => panic!("{other:?}"),
        };
        assert_eq!(at(0), U256::from(100));
        assert_eq!(at(2), U256::from(103));
        assert_eq!(at(3), U256::from(500));
        assert_eq!(at(5), U256::from(504));
        // An aborted fee payer blocks readers above it.
        mv.convert_writes_to_estimates(3);
        assert!(matches!(
            mv.read_account(cb, 5, &base).unwrap(),
            ReadResult::Blocked(3)
        ));
        assert_eq!(at(3), U256::from(500));
    }
}
