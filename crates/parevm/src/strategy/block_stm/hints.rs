//! Scheduling hints: which earlier transaction a transaction should wait for before its
//! execution, rather than run speculatively and most likely be aborted.
//!
//! Two kinds, both about *when* a transaction runs, never about *what* it computes: a
//! transaction that waits still executes through the multi-version memory and is validated
//! like any other, so a wrong hint costs time, never correctness.
//!
//! - **Known**: a transaction whose sender sent an earlier transaction needs the nonce that
//!   one leaves (unless its sender runs lazily, see `lazy_sender_eligible`).
//! - **Learned**: transactions calling one contract whose callers keep aborting. Deposits into
//!   an exchange's contract, for instance, each raise a counter and the contract's balance: the
//!   callers form a chain, and run speculatively each one reads its predecessor's values before
//!   they are final, aborts (or stops at an ESTIMATE), and often runs three or four times.
//!   Once a contract's callers had [`HOT_MIN_CONFLICTS`] conflicts, and at least one per
//!   [`HOT_RATIO`] callers, each later caller waits until the previous caller of the same
//!   contract has executed. The ratio keeps popular contracts whose callers rarely conflict (a
//!   token with many independent transfers) speculative.
//!
//! (Building the hints is two lookups per transaction in a map of every sender and callee:
//! with 64-byte entries that took 6.6 ms of a 47,619-transaction block, hence the compact
//! [`Last`]. A lossy table keyed by the hash alone lost a hot contract's hint whenever a
//! sender fell into its bucket; an exact open-addressing table of 36-byte buckets, allocated
//! and filled up front, took 8 ms.)

use super::scheduler::TxIdx;
use crate::block::Block;
use alloy_primitives::map::AddressHashMap;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// Conflicts of its callers before a contract can be hot.
const HOT_MIN_CONFLICTS: u32 = 2;
/// A contract is hot when its callers had at least one conflict per this many callers.
const HOT_RATIO: u32 = 4;

/// Per contract called by several transactions: how many call it and how many conflicts its
/// callers had (an aborted incarnation, a read stopped by an ESTIMATE).
struct Contract {
    callers: u32,
    conflicts: AtomicU32,
}

/// "None" in the hints' `u32` tables (the strategy refuses blocks of `u32::MAX` transactions).
const NONE: u32 = u32::MAX;

/// Per address while the hints are built: the last transaction it sent, the last one that
/// called it, and its index in `contracts` (`NONE` until a second caller comes). Twelve bytes,
/// so that the map's entries are 32 bytes: building the hints is two random lookups per
/// transaction in a map of every sender and callee, and its size decides their cost.
#[derive(Clone, Copy)]
struct Last {
    sent: u32,
    called: u32,
    contract: u32,
}

impl Default for Last {
    fn default() -> Self {
        Last {
            sent: NONE,
            called: NONE,
            contract: NONE,
        }
    }
}

fn some(i: u32) -> Option<TxIdx> {
    (i != NONE).then_some(i as TxIdx)
}

/// The hints of one block (transaction indices as `u32`, `NONE` for none).
pub(super) struct Hints {
    /// For each transaction, the previous transaction of the same sender.
    same_sender: Vec<u32>,
    /// For each transaction calling a contract, the previous transaction calling it.
    same_callee: Vec<u32>,
    /// For each transaction, its callee's index in `contracts` (`NONE`: called once or not a
    /// call).
    callee: Vec<u32>,
    contracts: Vec<Contract>,
}

impl Hints {
    /// The known hints of `block`, and room for the learned ones.
    pub(super) fn new(block: &Block) -> Self {
        let n = block.transactions.len();
        let mut last: AddressHashMap<Last> =
            AddressHashMap::with_capacity_and_hasher(2 * n, Default::default());
        let mut same_sender = Vec::with_capacity(n);
        let mut same_callee = Vec::with_capacity(n);
        let mut callee = Vec::with_capacity(n);
        let mut contracts: Vec<Contract> = Vec::new();
        for (i, tx) in block.transactions.iter().enumerate() {
            let i = i as u32;
            let entry = last.entry(tx.env.caller).or_default();
            same_sender.push(std::mem::replace(&mut entry.sent, i));
            let revm::primitives::TxKind::Call(to) = tx.env.kind else {
                same_callee.push(NONE);
                callee.push(NONE);
                continue;
            };
            let entry = last.entry(to).or_default();
            let previous = std::mem::replace(&mut entry.called, i);
            if previous != NONE {
                if entry.contract == NONE {
                    // Its second caller: the contract gets its counters.
                    entry.contract = contracts.len() as u32;
                    contracts.push(Contract {
                        callers: 1,
                        conflicts: AtomicU32::new(0),
                    });
                    callee[previous as usize] = entry.contract;
                }
                contracts[entry.contract as usize].callers += 1;
            }
            same_callee.push(previous);
            callee.push(entry.contract);
        }
        Hints {
            same_sender,
            same_callee,
            callee,
            contracts,
        }
    }

    /// The previous transaction of `i`'s sender.
    pub(super) fn same_sender(&self, i: TxIdx) -> Option<TxIdx> {
        some(self.same_sender[i])
    }

    /// The previous caller of `i`'s callee, when that contract is hot.
    pub(super) fn hot_predecessor(&self, i: TxIdx) -> Option<TxIdx> {
        let c = self.contracts.get(self.callee[i] as usize)?;
        let conflicts = c.conflicts.load(Relaxed);
        (conflicts >= HOT_MIN_CONFLICTS && conflicts * HOT_RATIO >= c.callers)
            .then(|| some(self.same_callee[i]))
            .flatten()
    }

    /// Notes a conflict of `i`'s: an incarnation aborted, or stopped at an ESTIMATE.
    pub(super) fn conflicted(&self, i: TxIdx) {
        if let Some(c) = self.contracts.get(self.callee[i] as usize) {
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
        let hints = Hints::new(&block);
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
