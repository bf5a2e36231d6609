//! Multi-version memory: for every location, the value each transaction's latest incarnation
//! wrote there, so that transaction `i` reads what the highest transaction below `i` wrote.
//!
//! Locations are exact ([`Location`]): an account's info, one storage slot, or the fact that an
//! account's storage was wiped (creation or destruction). No hashing is used as identity, so
//! two locations never collide.
//!
//! A write is a full value, a *delta* (a lazy transfer's credit to its recipient, or a
//! sender's debit with its new nonce: applied in block order on top of the highest full value,
//! so they do not order transactions unless one of them reads the account in full), or an
//! ESTIMATE: the mark left by an aborted incarnation, meaning "a value will probably be
//! written here"; reading it suspends the reader until the writer re-executes.
//!
//! Full values live in the locations' slots (in shards, see [`SlotMap`]); deltas live in the
//! writing transaction's own record, found through the [`LazyIndex`] (only plain transfers
//! credit, their recipients, and a transaction debits only its own sender, so the index is
//! known before execution), which spares a block of transfers two shared-map inserts per
//! transaction, and a block of independent calls one. Deferred beneficiary fees live in the
//! records too.
//!
//! Reads resolve by walking down from `i - 1`: the highest full value below `i` (or the
//! pre-block state), then the deltas written between it and `i`, in block order. A storage
//! slot resolves against both its own writes and the latest wipe of its account: whichever is
//! higher wins (the same transaction may wipe and then write, so a slot write at the same
//! index as a wipe wins). Most reads never get that far: the lowest-writer tables
//! ([`writers`]) prove that nothing below `i` wrote the location, and the pre-block value is
//! read directly (an execution's read fetches it while the table's bucket loads: see
//! [`writers::Fetch`]).
//!
//! Submodules: [`values`] (locations, writes, read values), [`slot`] (one location's sorted
//! entries), [`writers`] (the lowest-writer tables).

use super::{lazy_index::LazyIndex, scheduler::TxIdx, slot_map::SlotMap};
use crate::state::{StateError, StateView};
use crate::strategy::Workers;
use alloy_primitives::{Address, U256, map::HashSet};
use parking_lot::Mutex;
use smallvec::SmallVec;

mod slot;
mod values;
mod writers;

use crate::state::changes::apply_credit;
use slot::{Entry, Slot};
pub(crate) use values::{
    AccountValue, CodelessValue, Delta, Keyed, LazyWrites, Location, ReadResult, Value, Write,
    Writes, codeless,
};
use writers::{Fetch, LowestWriters};

/// Shards (separately locked maps, see [`SlotMap`]) for a block of `n` transactions: a power
/// of two, up to 256 (contention on a shard lock is rare from there on), about one per 32
/// written locations below that (three a transaction): a small block's shards would otherwise
/// start empty and grow — allocate and rehash — one by one under their locks, while creating
/// (and freeing) a map costs as much as several reads. (One per eight: 256 maps for a block of
/// 380 transfers, whose setup was then a twentieth of the run.)
fn shard_count(n: usize) -> usize {
    (n * 3 / 32).next_power_of_two().clamp(4, 256)
}

/// The multi-version memory of one block.
pub(crate) struct MvMemory<'a> {
    /// Where the lazy deltas of each account are (they live in `tx_writes`, not in slots).
    pub(crate) lazy: LazyIndex<'a>,
    shards: Vec<Mutex<SlotMap<Location, Slot>>>,
    /// The block's keyed hash of locations (see [`Keyed`]), shared with the hints' table.
    pub(crate) keyed: Keyed,
    /// Per transaction, what its latest incarnation wrote: the locations, its lazy deltas and
    /// the fee it deferred to the beneficiary (one lock per transaction for all; lock order: a
    /// transaction's, then shards').
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
    /// Which locations no transaction below a given one ever wrote (see [`writers`]).
    writers: LowestWriters,
}

/// What one transaction's latest incarnation wrote.
#[derive(Default)]
struct TxWrites {
    /// The locations (a `Vec`: a lazy transfer writes none, and 232 inline bytes in every
    /// transaction's record cost more in memory traffic than the allocation saved).
    locations: Vec<Location>,
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
            keyed: Keyed::default(),
            tx_writes: (0..n).map(|_| Mutex::new(TxWrites::default())).collect(),
            state_clear,
            cache_reads,
            beneficiary,
            any_wipe: Default::default(),
            any_lazy: Default::default(),
            writers: LowestWriters::new(
                n,
                txs.iter()
                    .fold(0u64, |sum, tx| sum.saturating_add(tx.env.gas_limit)),
            ),
        }
    }

    /// Frees the memory on `workers` (its shards in parallel): dropping tens of
    /// thousands of slots took 2.3 ms of a 47,619-transaction block on one thread.
    pub(crate) fn free(self, workers: &Workers) {
        // (Sized by transactions: small blocks free on one thread.)
        let transactions = self.tx_writes.len();
        let MvMemory { shards, .. } = self;
        workers.parallel_chunks(shards, transactions, drop);
    }

    /// The hash of `loc` that picks its shard, its lowest-writer bucket and its fingerprint
    /// (keyed per block: see [`Keyed`]).
    fn hash(&self, loc: &Location) -> u64 {
        self.keyed.location(loc)
    }

    fn shard_by_hash(&self, h: u64) -> &Mutex<SlotMap<Location, Slot>> {
        // (A power of two: the low bits pick the shard.)
        &self.shards[(h as usize) & (self.shards.len() - 1)]
    }

    /// Notes that transaction `i` writes `w` at the location hashing to `h`.
    fn mark_written(&self, h: u64, i: TxIdx, w: &Write) {
        self.writers.mark(h, i, matches!(w, Write::Account(_)));
    }

    /// True when no transaction below `i` ever wrote `address`'s account in full: its code,
    /// for `i`, is the pre-block code, whatever credits and debits came below.
    pub(crate) fn never_fully_written_below(&self, address: Address, i: TxIdx) -> bool {
        self.writers
            .never_fully_written_below(self.hash(&Location::Account(address)), i)
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
            // (The beneficiary's account is never decided by the table: its fees live in
            // `tx_writes`.)
            Location::Account(a) => {
                *a != self.beneficiary && !self.writers.maybe_written_below(h, i)
            }
            Location::Storage(a, _) => {
                !self.writers.maybe_written_below(h, i)
                    && (!self.any_wipe.load(std::sync::atomic::Ordering::SeqCst)
                        || !self
                            .writers
                            .maybe_written_below(self.hash(&Location::StorageWipe(*a)), i))
            }
            Location::StorageWipe(_) => !self.writers.maybe_written_below(h, i),
        }
    }

    /// Records the writes of `i`'s latest incarnation, replacing its previous incarnation's:
    /// `writes` (drained: the caller keeps the buffer) go to the locations' slots, the lazy
    /// deltas `lazy` (at most a credit and a debit) and the deferred `fee` stay with the
    /// transaction. Returns true if it wrote a location the previous incarnation did not. (A
    /// lazy delta and a full write of the same account count as different locations: a reader
    /// that only asks whether the account has code ignores deltas, so a full write replacing a
    /// delta is new to it.)
    pub(crate) fn record(
        &self,
        i: TxIdx,
        writes: &mut Writes,
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
        for (address, _) in &lazy {
            self.writers
                .mark(self.hash(&Location::Account(*address)), i, false);
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
        for (loc, w) in writes.drain(..) {
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
        base.account_fields(address)
    }

    /// The lazy deltas to `address` written by transactions between the full value at
    /// `full_at` (the pre-block value: `None`) and `i`, with their writers, highest first; or
    /// an aborted writer's index, whose deltas are ESTIMATEs.
    #[allow(clippy::type_complexity)]
    fn lazy_deltas_below(
        &self,
        address: Address,
        i: TxIdx,
        full_at: Option<TxIdx>,
    ) -> Result<Result<SmallVec<[(TxIdx, Delta); 4]>, TxIdx>, StateError> {
        let mut deltas = SmallVec::new();
        for t in self.lazy.touches_below(address, i)? {
            if full_at.is_some_and(|f| t.tx <= f) {
                break;
            }
            match self.lazy_write(t.tx, address) {
                Some((_, true)) => return Ok(Err(t.tx)),
                Some((d, false)) => deltas.push((t.tx, d)),
                None => {}
            }
        }
        Ok(Ok(deltas))
    }

    /// Transaction `j`'s lazy delta to `address`, if its latest incarnation wrote one, and
    /// whether that incarnation was aborted (the delta is an ESTIMATE).
    fn lazy_write(&self, j: TxIdx, address: Address) -> Option<(Delta, bool)> {
        let w = self.tx_writes[j].lock();
        let (_, d) = w.lazy.iter().find(|(a, _)| *a == address)?;
        Some((*d, w.lazy_estimate))
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
            .map(|slot| slot.writers().collect())
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
        self.read_account_as(address, i, base, false, Fetch::Ahead)
    }

    /// Like [`MvMemory::read_account`] but only establishes whether the account has code:
    /// deltas never change code, so they are skipped, not summed.
    pub(crate) fn read_codeless(
        &self,
        address: Address,
        i: TxIdx,
        base: &dyn StateView,
    ) -> Result<ReadResult, StateError> {
        self.read_account_as(address, i, base, true, Fetch::Ahead)
    }

    fn read_account_as(
        &self,
        address: Address,
        i: TxIdx,
        base: &dyn StateView,
        code_only: bool,
        fetch: Fetch,
    ) -> Result<ReadResult, StateError> {
        let loc = Location::Account(address);
        let h = self.hash(&loc);
        if !self.cache_reads {
            let pre = fetch.ahead(&self.writers, h, || base.account_fields(address));
            if self.never_written_below_hashed(&loc, h, i)
                || code_only && self.writers.never_fully_written_below(h, i)
            {
                // Nothing below wrote it, or (only its code is asked for) nothing below wrote
                // it in full: deltas are not summed for such a read, so it is the pre-block
                // value.
                let v = pre.unwrap_or_else(|| base.account_fields(address))?;
                return Ok(ReadResult::Value(Value::Account(v)));
            }
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
                let v = base.account_fields(address)?;
                self.cache_base(loc, Value::Account(v));
                (v, None)
            }
        };
        if code_only {
            return Ok(ReadResult::Value(Value::Account(value)));
        }
        let mut deltas = SmallVec::new();
        if self.any_lazy.load(std::sync::atomic::Ordering::SeqCst) {
            match self.lazy_deltas_below(address, i, full_at)? {
                Ok(d) => deltas = d,
                Err(j) => return Ok(ReadResult::Blocked(j)),
            }
        }
        // (Lowest first: block order.)
        deltas.reverse();
        if address != self.beneficiary {
            for (_, d) in &deltas {
                value = d.apply(value, self.state_clear);
            }
            return Ok(ReadResult::Value(Value::Account(value)));
        }
        match self.beneficiary_after(value, full_at, i, &deltas) {
            Ok(v) => Ok(ReadResult::Value(Value::Account(v))),
            Err(j) => Ok(ReadResult::Blocked(j)),
        }
    }

    /// The beneficiary's value before `i`, given its `value` after the full write at `full_at`
    /// (or before the block) and its lazy `deltas` above that (lowest first): the fees deferred
    /// by the transactions in between and the deltas, each transaction's in turn, in block
    /// order; or the first aborted fee payer, which the reader must wait for.
    ///
    /// Why the order matters: a debit saturates at zero (a speculative sum may combine entries
    /// that no final order produces), so a beneficiary that can only pay out of the fees
    /// earned below it (a builder paying the proposer from the coinbase) must have those fees
    /// added before its debit, exactly when sequential execution adds them. Within one
    /// transaction the delta comes first: sequential execution credits the fee at its end.
    fn beneficiary_after(
        &self,
        mut value: AccountValue,
        full_at: Option<TxIdx>,
        i: TxIdx,
        deltas: &[(TxIdx, Delta)],
    ) -> Result<AccountValue, TxIdx> {
        let mut deltas = deltas.iter().peekable();
        for j in full_at.map_or(0, |p| p + 1)..i {
            while let Some((_, d)) = deltas.next_if(|(t, _)| *t <= j) {
                value = d.apply(value, self.state_clear);
            }
            match self.tx_writes[j].lock().fee {
                Fee::None => {}
                Fee::Deferred(f) => value = apply_credit(value, f, self.state_clear),
                Fee::Estimate => return Err(j),
            }
        }
        for (_, d) in deltas {
            value = d.apply(value, self.state_clear);
        }
        Ok(value)
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
        self.read_storage_as(address, index, i, base, Fetch::Ahead)
    }

    fn read_storage_as(
        &self,
        address: Address,
        index: U256,
        i: TxIdx,
        base: &dyn StateView,
        fetch: Fetch,
    ) -> Result<ReadResult, StateError> {
        let loc = Location::Storage(address, index);
        let h = self.hash(&loc);
        if !self.cache_reads {
            let pre = fetch.ahead(&self.writers, h, || base.storage(address, index));
            if self.never_written_below_hashed(&loc, h, i) {
                let v = pre.unwrap_or_else(|| base.storage(address, index))?;
                return Ok(ReadResult::Value(Value::Storage(v)));
            }
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
            Location::Account(a) => {
                let code_only = *seen == Value::Codeless;
                self.read_account_as(*a, i, base, code_only, Fetch::After)
            }
            Location::Storage(a, k) => self.read_storage_as(*a, *k, i, base, Fetch::After),
            Location::StorageWipe(_) => unreachable!("wipes are never read directly"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::InMemoryState;
    use alloy_primitives::address;
    use revm::primitives::KECCAK_EMPTY;

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

    /// A pre-block store whose reads of one account (and its storage) fail.
    struct FailingFor(Address, InMemoryState);

    impl StateView for FailingFor {
        fn account(&self, a: Address) -> Result<Option<crate::state::AccountInfo>, StateError> {
            if a == self.0 {
                return Err(StateError::Backend(format!("cannot read {a}")));
            }
            self.1.account(a)
        }
        fn code_by_hash(
            &self,
            h: alloy_primitives::B256,
        ) -> Result<revm::bytecode::Bytecode, StateError> {
            self.1.code_by_hash(h)
        }
        fn storage(&self, a: Address, index: U256) -> Result<U256, StateError> {
            if a == self.0 {
                return Err(StateError::Backend(format!("cannot read {a}")));
            }
            self.1.storage(a, index)
        }
        fn block_hash(&self, number: u64) -> Result<alloy_primitives::B256, StateError> {
            self.1.block_hash(number)
        }
    }

    /// Reads fetch the pre-block value before the lowest-writer table answers (see
    /// [`Fetch`]): the value, and a failure to read it, count only when nothing below wrote
    /// the location — for the execution's reads and validation's alike.
    #[test]
    fn a_pre_block_read_counts_only_when_nothing_below_wrote_the_location() {
        let a = address!("0xaa000000000000000000000000000000000000aa");
        let block = transfers_to(a, 4, &[]);
        let mv = MvMemory::new(&block.transactions, true, Address::ZERO, false);
        let written = Some((U256::from(9), 2, KECCAK_EMPTY));
        mv.record(
            1,
            &mut smallvec::smallvec![
                (Location::Account(a), Write::Account(written)),
                (
                    Location::Storage(a, U256::from(1)),
                    Write::Storage(U256::from(7))
                ),
            ],
            smallvec::smallvec![],
            None,
        );
        let base = FailingFor(a, InMemoryState::new());
        // Above the writer: its values, whatever the store says.
        assert_eq!(
            value(mv.read_storage(a, U256::from(1), 2, &base).unwrap()),
            Value::Storage(U256::from(7))
        );
        assert_eq!(
            value(mv.read_account(a, 3, &base).unwrap()),
            Value::Account(written)
        );
        let seen = Value::Storage(U256::from(7));
        assert!(matches!(
            mv.reread(&Location::Storage(a, U256::from(1)), &seen, 2, &base),
            Ok(ReadResult::Value(v)) if v == seen
        ));
        // At or below it: the pre-block value, so the store's failure.
        for i in [0, 1] {
            assert!(matches!(
                mv.read_storage(a, U256::from(1), i, &base),
                Err(StateError::Backend(_))
            ));
            assert!(matches!(
                mv.read_account(a, i, &base),
                Err(StateError::Backend(_))
            ));
        }
        // Another slot of the same account was never written: the store answers.
        assert!(mv.read_storage(a, U256::from(2), 3, &base).is_err());
        let other = address!("0xbb000000000000000000000000000000000000bb");
        assert_eq!(
            value(mv.read_storage(other, U256::from(1), 3, &base).unwrap()),
            Value::Storage(U256::ZERO)
        );
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
        super::super::hints::Hints::empty(5).build(
            &block.transactions,
            block.header.beneficiary,
            block.fork,
            &mv.lazy,
            &mv.keyed,
        );
        mv.record(
            1,
            &mut smallvec::smallvec![],
            smallvec::smallvec![(a, Delta::Credit(U256::from(3)))],
            None,
        );
        mv.record(
            2,
            &mut smallvec::smallvec![],
            smallvec::smallvec![(a, Delta::Credit(U256::from(4)))],
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
            &mut smallvec::smallvec![],
            smallvec::smallvec![(a, Delta::Credit(U256::from(3)))],
            None,
        ));
        assert_eq!(
            value(mv.read_account(a, 3, &base).unwrap()),
            Value::Account(Some((U256::from(17), 0, KECCAK_EMPTY)))
        );
        // A wipe at 2 hides the base slot from 3 on; a later write at 3 is seen from 4 on.
        mv.record(
            2,
            &mut smallvec::smallvec![
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
            &mut smallvec::smallvec![(
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
            &mut smallvec::smallvec![],
            smallvec::smallvec![],
            Some(U256::from(1)),
        );
        mv.record(
            1,
            &mut smallvec::smallvec![],
            smallvec::smallvec![],
            Some(U256::from(2)),
        );
        // tx 2 read the beneficiary and wrote it in full (its fee was paid inside the EVM).
        mv.record(
            2,
            &mut smallvec::smallvec![(
                Location::Account(cb),
                Write::Account(Some((U256::from(500), 0, KECCAK_EMPTY)))
            )],
            smallvec::smallvec![],
            None,
        );
        mv.record(
            3,
            &mut smallvec::smallvec![],
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
