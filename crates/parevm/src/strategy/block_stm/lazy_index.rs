//! Where an account's lazy writes are.
//!
//! A plain transfer run lazily credits its recipient and debits its sender as deltas kept in
//! the transaction's own record (see `MvMemory::record`), not in the account's slot of the
//! shared maps: inserting two slots per transfer there was the largest cost Block-STM added to a
//! block of plain transfers. Any other transaction may debit its sender the same way (see the
//! strategy's `sender_debit`). A reader that needs an account's value in full (not only whether
//! it has code) then needs the transactions below it that may have written such a delta. Those
//! are known before execution: a transaction debits only its sender, and only a plain transfer
//! (`lazy_recipient`) credits, only its recipient. This index links them:
//!
//! - per transaction `i`, the previous transaction *touching* `i`'s sender and the previous
//!   one touching `i`'s recipient (every transaction touches its sender; a plain transfer, a
//!   *candidate*, also touches its recipient);
//! - per address, its last touch in the block (once the whole block is indexed).
//!
//! A [`Touch`] names the transaction and the role the account plays in it, which says which of
//! the transaction's two links continues that account's chain. The touches of `a` below `i` are
//! found by starting from `i`'s own link when `a` is `i`'s sender or recipient (the common case:
//! the commit settling a transfer, a sender's next transaction, a recipient that pays onwards),
//! else from `a`'s last touch in the block, and following links down.
//!
//! Why it is complete: every transaction that writes a delta to `a` touches `a` (as its
//! sender, or as a candidate's recipient: decided on the transaction's fields alone, a superset
//! of the transactions that actually write deltas), and `a`'s chain holds every touch of `a`
//! in descending order, because the builder goes through the block in order and links each
//! touch to the previous touch of the same account it met. A transaction that wrote no delta
//! costs a look at its record, never a wrong value.
//!
//! # State machine
//!
//! `built` only grows: the links of the transactions below it are written (Relaxed) before it
//! is raised (Release); a reader that loads it (Acquire) above `i` reads `i`'s links. `last` is
//! set once, after every link. The builder is the calling thread, which fills the index (with
//! the scheduling hints, in the same pass) while the other workers already execute, and runs
//! about twenty times faster than they do, so readers seldom wait, and only for a few
//! microseconds at the block's start. If the builder stops early (it panicked), `failed` is set
//! and a waiting reader gives up with an error instead of waiting forever.

use super::scheduler::TxIdx;
use super::sync::{AtomicBool, AtomicU32, AtomicUsize, spin_loop, yield_now};
use crate::{block::Transaction, state::StateError};
use alloy_primitives::Address;
use std::sync::{
    OnceLock,
    atomic::Ordering::{Acquire, Relaxed, Release},
};

/// The account's role in a transaction: which of the transaction's links continues its chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The account is the transaction's sender.
    Sender = 0,
    /// The account is the candidate's (a plain transfer's) recipient.
    Recipient = 1,
}

/// A transaction and the role an account plays in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Touch {
    /// The transaction.
    pub(crate) tx: TxIdx,
    /// The account's role in it.
    pub(crate) role: Role,
}

impl Touch {
    /// As stored: `2 * tx + role + 1` (0 for none, so that tables start zeroed). Blocks have
    /// fewer than 2^31 transactions (the strategy refuses larger ones).
    pub(super) fn encode(self) -> u32 {
        debug_assert!(self.tx < (1 << 31) - 1);
        ((self.tx as u32) << 1 | self.role as u32) + 1
    }

    fn decode(stored: u32) -> Option<Touch> {
        let v = stored.checked_sub(1)?;
        Some(Touch {
            tx: (v >> 1) as TxIdx,
            role: if v & 1 == 0 {
                Role::Sender
            } else {
                Role::Recipient
            },
        })
    }
}

/// An address's last touch in the block, encoded.
type LastTouch = Box<dyn Fn(&Address) -> u32 + Send + Sync>;

/// The lazy-write index of one block (see the module docs).
pub(crate) struct LazyIndex<'a> {
    /// The block's transactions (a reader's own sender and recipient pick its starting link).
    txs: &'a [Transaction],
    /// Transactions below this have their links.
    built: AtomicUsize,
    /// Set if the builder stopped before finishing.
    failed: AtomicBool,
    /// Per transaction: the previous touch of its sender, of its recipient (encoded).
    prev: Box<[[AtomicU32; 2]]>,
    /// Per address, its last touch in the block (encoded, 0: none), once all are linked: a
    /// lookup in the builder's own map of addresses, handed over when it finishes.
    last: OnceLock<LastTouch>,
}

impl<'a> LazyIndex<'a> {
    /// An index of `txs`, empty until built.
    pub(crate) fn new(txs: &'a [Transaction]) -> Self {
        LazyIndex {
            txs,
            built: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            prev: (0..txs.len())
                .map(|_| [AtomicU32::new(0), AtomicU32::new(0)])
                .collect(),
            last: OnceLock::new(),
        }
    }

    /// Builder: `i`'s links (encoded touches; 0 for none).
    pub(super) fn link(&self, i: TxIdx, of_sender: u32, of_recipient: u32) {
        self.prev[i][0].store(of_sender, Relaxed);
        self.prev[i][1].store(of_recipient, Relaxed);
    }

    /// Builder: the links of every transaction below `built` are in.
    pub(super) fn publish(&self, built: usize) {
        self.built.store(built, Release);
    }

    /// Builder: every link is in; `last` gives each address's last touch (encoded).
    pub(super) fn finish(&self, last: impl Fn(&Address) -> u32 + Send + Sync + 'static) {
        self.publish(self.txs.len());
        let _ = self.last.set(Box::new(last));
    }

    /// The builder stopped early: waiting readers give up.
    pub(crate) fn fail(&self) {
        self.failed.store(true, Release);
    }

    /// Waits (briefly: the builder runs far ahead of execution) until `ready` holds.
    fn wait<T>(&self, mut ready: impl FnMut() -> Option<T>) -> Result<T, StateError> {
        let mut spins = 0u32;
        loop {
            if let Some(v) = ready() {
                return Ok(v);
            }
            if self.failed.load(Acquire) {
                return Err(StateError::Backend(
                    "block-stm: the lazy-write index was not built".into(),
                ));
            }
            spins += 1;
            if spins < 64 {
                spin_loop();
            } else {
                yield_now();
            }
        }
    }

    /// The touches of `address` by transactions below `i`, highest first.
    pub(crate) fn touches_below(
        &self,
        address: Address,
        i: TxIdx,
    ) -> Result<impl Iterator<Item = Touch> + '_, StateError> {
        let tx = &self.txs[i].env;
        let role = if tx.caller == address {
            Some(Role::Sender)
        } else if tx.kind == revm::primitives::TxKind::Call(address) {
            Some(Role::Recipient)
        } else {
            None
        };
        let start = match role {
            Some(role) => {
                self.wait(|| (self.built.load(Acquire) > i).then_some(()))?;
                Touch::decode(self.prev[i][role as usize].load(Relaxed))
            }
            None => {
                let last = self.wait(|| self.last.get())?;
                let mut t = Touch::decode(last(&address));
                // Down the chain to the first touch below `i`.
                while let Some(touch) = t
                    && touch.tx >= i
                {
                    t = self.next(touch);
                }
                t
            }
        };
        Ok(std::iter::successors(start, |t| self.next(*t)))
    }

    /// Every touch of `address` in the block, highest first (after the build).
    pub(crate) fn all_touches(
        &self,
        address: Address,
    ) -> Result<impl Iterator<Item = Touch> + '_, StateError> {
        let last = self.wait(|| self.last.get())?;
        let start = Touch::decode(last(&address));
        Ok(std::iter::successors(start, |t| self.next(*t)))
    }

    /// The touch below `t` of the same account.
    fn next(&self, t: Touch) -> Option<Touch> {
        Touch::decode(self.prev[t.tx][t.role as usize].load(Relaxed))
    }
}

#[cfg(all(test, not(parevm_model)))]
mod tests {
    use super::*;

    #[test]
    fn touches_round_trip() {
        for tx in [0, 1, 7, (1 << 31) - 2] {
            for role in [Role::Sender, Role::Recipient] {
                let t = Touch { tx, role };
                assert_ne!(t.encode(), 0);
                assert_eq!(Touch::decode(t.encode()), Some(t));
            }
        }
        assert_eq!(Touch::decode(0), None);
    }
}
