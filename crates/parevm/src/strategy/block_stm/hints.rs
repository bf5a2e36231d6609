//! Scheduling hints: which earlier transaction a transaction should wait for before its
//! execution, rather than run speculatively and most likely be aborted.
//!
//! Two kinds, both about *when* a transaction runs, never about *what* it computes: a
//! transaction that waits still executes through the multi-version memory and is validated
//! like any other, so a wrong hint costs time, never correctness.
//!
//! - **Known**: a transaction whose sender sent an earlier transaction needs the nonce that
//!   one leaves (unless its sender runs lazily, see `lazy_sender_eligible`). (Another known
//!   one needs no table and lives in the strategy's `execute`: a transaction sent by or paying
//!   the beneficiary reads the sum of every lower transaction's fee, so it waits until all of
//!   them executed once — the scheduler's executed prefix.)
//! - **Learned**: transactions calling one contract whose callers keep aborting. Deposits into
//!   an exchange's contract, for instance, each raise a counter and the contract's balance: the
//!   callers form a chain, and run speculatively each one reads its predecessor's values before
//!   they are final, aborts (or stops at an ESTIMATE), and often runs three or four times.
//!   Once a contract's callers had [`HOT_MIN_CONFLICTS`] conflicts, and at least one per
//!   [`HOT_RATIO`] callers, each later caller waits until the previous caller of the same
//!   contract has executed. The ratio keeps popular contracts whose callers rarely conflict (a
//!   token with many independent transfers) speculative.
//!
//! Building the known hints is two lookups per transaction in a table of every sender and
//! callee ([`AddrTable`], which the builder prefetches sixteen transactions ahead; a third of a
//! `HashMap`'s time on a 1-Ggas block of transfers). The
//! calling thread builds them while the other workers already execute (see [`Hints`]): the
//! builder runs about twenty times faster than the block executes, so it stays ahead, and the
//! cost is spread over both cores instead of delaying the start.

use super::{
    addr_table::{self, AddrTable},
    lazy_index::{LazyIndex, Role, Touch},
    mv_memory::Keyed,
    scheduler::TxIdx,
};
use crate::block::Transaction;
use std::sync::atomic::{
    AtomicU32, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};

/// Conflicts of its callers before a contract can be hot.
const HOT_MIN_CONFLICTS: u32 = 2;
/// A contract is hot when its callers had at least one conflict per this many callers.
const HOT_RATIO: u32 = 4;

/// Per contract called by several transactions: how many call it and how many conflicts its
/// callers had (an aborted incarnation, a read stopped by an ESTIMATE).
#[derive(Default)]
struct Contract {
    callers: AtomicU32,
    conflicts: AtomicU32,
}

/// The fields of an address's record while the hints are built (in an [`AddrTable`], 0 for
/// none in each): the last transaction it sent and the last one that called it (indices plus
/// one), its index in `contracts` plus one (0 until a second caller comes), and its last touch
/// for the lazy-write index (as a sender, or as a plain transfer's recipient; encoded, see
/// [`Touch`]). Building the hints is two random lookups per transaction in a table of every
/// sender and callee, whose size decides their cost: see [`AddrTable`].
struct Last;

impl Last {
    const SENT: usize = 0;
    const CALLED: usize = 1;
    const CONTRACT: usize = 2;
    const LAZY: usize = 3;
}

/// The hints of one block, filled in by [`Hints::build`] while workers already run.
///
/// State machine: `built` only grows; the known hints of transactions below it are written
/// (Relaxed) before `built` is raised (Release), so a reader that loads `built` (Acquire) above
/// `i` sees them. Above `built` a transaction has no hint yet: it runs speculatively, as it
/// would with a wrong hint — only time is at stake. Tables hold a transaction index plus one,
/// 0 for none (so that they start zeroed). A contract's first caller learns its contract when
/// the second caller is met, possibly after `built` passed it, and `callers` grows as callers
/// are met: readers may see either value, which is again only a matter of scheduling.
pub(super) struct Hints {
    /// Transactions below this have their known hints.
    built: AtomicUsize,
    /// For each transaction, the previous transaction of the same sender.
    same_sender: Box<[AtomicU32]>,
    /// For each transaction calling a contract, the previous transaction calling it.
    same_callee: Box<[AtomicU32]>,
    /// For each transaction, its callee's index in `contracts` plus one (0: called once or not
    /// a call).
    callee: Box<[AtomicU32]>,
    /// Room for every contract that can have two callers.
    contracts: Box<[Contract]>,
}

fn table(n: usize) -> Box<[AtomicU32]> {
    (0..n).map(|_| AtomicU32::new(0)).collect()
}

/// A stored index (plus one, 0 for none) as a transaction.
fn some(stored: u32) -> Option<TxIdx> {
    (stored != 0).then(|| stored as TxIdx - 1)
}

impl Hints {
    /// Hints for a block of `n` transactions, none known yet.
    pub(super) fn empty(n: usize) -> Self {
        Hints {
            built: AtomicUsize::new(0),
            same_sender: table(n),
            same_callee: table(n),
            callee: table(n),
            contracts: (0..n / 2 + 1).map(|_| Contract::default()).collect(),
        }
    }

    /// Works out the known hints of the transactions `txs` (a block's, or the rest of one,
    /// paying `beneficiary`, under `fork`) in block order (on one thread, the only writer), publishing them
    /// as it goes, and in the same pass the links of the lazy-write index `lazy` (whose
    /// builder this is).
    pub(super) fn build(
        &self,
        txs: &[Transaction],
        beneficiary: alloy_primitives::Address,
        fork: crate::Fork,
        lazy: &LazyIndex<'_>,
        keyed: &Keyed,
    ) {
        /// Transactions per publication of `built`.
        const PUBLISH: usize = 64;
        /// How many transactions ahead the builder prefetches the addresses' buckets (of 8,
        /// 16 and 32, tried on 1-Ggas transfers in a noisy hour, 16 was never slower).
        const AHEAD: usize = 16;
        let n = txs.len();
        // (Fields of an address's record, each 0 for none: see [`Last`].)
        let mut last = AddrTable::with_capacity(2 * n);
        let callee = |tx: &Transaction| tx.env.kind.to().copied();
        let mut contracts = 0u32;
        for (i, tx) in txs.iter().enumerate() {
            if let Some(ahead) = txs.get(i + AHEAD) {
                last.prefetch(addr_table::key(keyed, &ahead.env.caller));
                if let Some(to) = callee(ahead) {
                    last.prefetch(addr_table::key(keyed, &to));
                }
            }
            let t = i as u32 + 1;
            // Any transaction may write a debit to its sender; a plain transfer may also
            // credit its recipient.
            let candidate = super::lazy_recipient(tx, beneficiary, fork).is_some();
            let mut entry = last.entry(addr_table::key(keyed, &tx.env.caller));
            self.same_sender[i].store(entry.replace(Last::SENT, t), Relaxed);
            let sender_touch = Touch {
                tx: i,
                role: Role::Sender,
            };
            let of_sender = entry.replace(Last::LAZY, sender_touch.encode());
            let mut of_recipient = 0;
            if let Some(to) = callee(tx) {
                let mut entry = last.entry(addr_table::key(keyed, &to));
                of_recipient = entry.get(Last::LAZY);
                if candidate {
                    let touch = Touch {
                        tx: i,
                        role: Role::Recipient,
                    };
                    entry.replace(Last::LAZY, touch.encode());
                }
                let previous = entry.replace(Last::CALLED, t);
                if previous != 0 {
                    let mut contract = entry.get(Last::CONTRACT);
                    if contract == 0 {
                        // Its second caller: the contract gets its counters.
                        contracts += 1;
                        contract = contracts;
                        entry.replace(Last::CONTRACT, contract);
                        self.contracts[contract as usize - 1]
                            .callers
                            .store(1, Relaxed);
                        self.callee[previous as usize - 1].store(contract, Relaxed);
                    }
                    self.contracts[contract as usize - 1]
                        .callers
                        .fetch_add(1, Relaxed);
                }
                self.same_callee[i].store(previous, Relaxed);
                self.callee[i].store(entry.get(Last::CONTRACT), Relaxed);
            }
            lazy.link(i, of_sender, of_recipient);
            if (i + 1) % PUBLISH == 0 {
                self.built.store(i + 1, Release);
                lazy.publish(i + 1);
            }
        }
        self.built.store(n, Release);
        let keyed = keyed.clone();
        lazy.finish(move |a| {
            last.get(addr_table::key(&keyed, a))
                .map_or(0, |r| r[Last::LAZY])
        });
    }

    /// Whether `i`'s known hints are there.
    fn known(&self, i: TxIdx) -> bool {
        i < self.built.load(Acquire)
    }

    /// The contract `i` calls, if some other transaction calls it too.
    fn contract(&self, i: TxIdx) -> Option<&Contract> {
        let c = self.callee[i].load(Relaxed);
        (c != 0).then(|| &self.contracts[c as usize - 1])
    }

    /// The previous transaction of `i`'s sender.
    pub(super) fn same_sender(&self, i: TxIdx) -> Option<TxIdx> {
        if !self.known(i) {
            return None;
        }
        some(self.same_sender[i].load(Relaxed))
    }

    /// The previous caller of `i`'s callee, when that contract is hot.
    pub(super) fn hot_predecessor(&self, i: TxIdx) -> Option<TxIdx> {
        if !self.known(i) {
            return None;
        }
        let c = self.contract(i)?;
        let conflicts = c.conflicts.load(Relaxed);
        (conflicts >= HOT_MIN_CONFLICTS && conflicts * HOT_RATIO >= c.callers.load(Relaxed))
            .then(|| some(self.same_callee[i].load(Relaxed)))
            .flatten()
    }

    /// Notes a conflict of `i`'s: an incarnation aborted, or stopped at an ESTIMATE.
    pub(super) fn conflicted(&self, i: TxIdx) {
        if let Some(c) = self.contract(i) {
            c.conflicts.fetch_add(1, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::workload::{self, WorkloadKind, WorkloadSpec};

    #[test]
    fn callers_of_one_contract_chain_once_it_is_hot() {
        let (mut block, _) = workload::generate(&WorkloadSpec::new(WorkloadKind::Erc20, 2_000_000));
        let n = block.transactions.len();
        assert!(n >= 8, "{n} transactions");
        // Every transaction calls one token: make the last one call elsewhere.
        let other = alloy_primitives::Address::repeat_byte(0x77);
        block.transactions[n - 1].env.kind = revm::primitives::TxKind::Call(other);
        block.transactions[4].env.caller = block.transactions[1].env.caller;
        let hints = Hints::empty(n);
        assert_eq!(hints.same_sender(4), None, "not built yet: no hint");
        hints.build(
            &block.transactions,
            block.header.beneficiary,
            block.fork,
            &LazyIndex::new(&block.transactions),
            &Default::default(),
        );
        assert_eq!(hints.same_sender(1), None, "distinct senders");
        assert_eq!(
            hints.same_sender(4),
            Some(1),
            "the sender's previous transaction"
        );
        assert_eq!(hints.hot_predecessor(3), None, "nothing aborted yet");
        let enough = (n as u32 - 1).div_ceil(HOT_RATIO).max(HOT_MIN_CONFLICTS);
        for _ in 0..enough - 1 {
            hints.conflicted(2);
        }
        assert_eq!(hints.hot_predecessor(3), None, "below the ratio");
        hints.conflicted(5);
        assert_eq!(hints.hot_predecessor(3), Some(2));
        assert_eq!(hints.hot_predecessor(0), None, "the first caller has none");
        assert_eq!(hints.hot_predecessor(n - 1), None, "called once");
        hints.conflicted(n - 1); // counts nowhere
        assert_eq!(hints.hot_predecessor(n - 1), None);
    }
}
