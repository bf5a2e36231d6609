//! Which writes go into the multi-version memory as *deltas* (kept in the writer's record and
//! summed by readers, see `mv_memory`) instead of full values in the shared maps: a plain
//! transfer's credit to its recipient and its lazy sender's debit, and any other transaction's
//! debit of its own sender when nobody below wrote it. Each helper says why its delta is exact.

pub(super) use crate::strategy::common::commutative::plain_transfer_recipient as lazy_recipient;

use super::{
    mv_memory::{CodelessValue, Delta, Location, MvMemory},
    scheduler::TxIdx,
    view::AccountReads,
};
use crate::state::AccountChange;
use alloy_primitives::{Address, U256};

/// What a lazy sender's plain transfer did to it (see [`lazy_sender_eligible`]).
#[derive(Clone, Copy)]
pub(super) struct LazyDebit {
    /// What the transfer cost the sender (value plus gas).
    pub(super) cost: U256,
    /// The sender's nonce afterwards.
    pub(super) nonce: u64,
    /// The sender's value execution read to establish it has no code (its real value before
    /// the transfer when no lower transaction ever wrote it; otherwise the commit reads that).
    pub(super) seen: CodelessValue,
}

/// Whether the sender of `tx`, a plain transfer (see [`lazy_recipient`]), may run lazily: the
/// EVM gets a stand-in balance and the transaction's own nonce instead of waiting for the
/// sender's previous transactions, and the cost is recorded as a debit.
///
/// Why this is exact: a plain transfer to a codeless account runs no code, so nothing observes
/// the sender's balance or nonce except the EVM's validity checks, and its cost (value plus gas
/// used times price) does not depend on them. The commit, meeting transactions in block order,
/// knows the sender's real value before each one and runs revm's own checks on it
/// (`validate_account_nonce_and_code_with_components`, `calculate_caller_fee`): when they pass,
/// sequential execution would have produced the same result; when they fail, sequential
/// execution would have rejected the transaction with that very error. The sender's lack of
/// code is an ordinary read, validated as usual. The beneficiary may be the sender (mining
/// pools pay out from it): its fee is then credited inside the EVM and is part of the net
/// cost. Not for blob transactions or amounts near the stand-in balance.
pub(super) fn lazy_sender_eligible(tx: &crate::block::Transaction) -> bool {
    crate::strategy::common::commutative::stand_in_eligible(tx)
}

/// The debit that transaction `i` may record for its `sender` in the memory `mv`, in place of
/// a full value, having read its accounts as `reads` and left the sender's as `change`: when
/// the sender is not the `beneficiary`, the change is one ([`Delta::debit_between`]), and no
/// lower transaction ever wrote the account (the sender's first transaction in the block, as a
/// rule).
///
/// Why this is exact: the transaction read the sender's account in full, and validation
/// ensures it read the value sequential execution gives it (the highest full value below it
/// plus the deltas between); that value, debited, is the value it left. A reader above it sums
/// the debit onto the same value, as it sums lazy transfers' deltas (the lazy-write index
/// links every transaction to its sender's previous one for this), and the commit takes the
/// value from the transaction's own output. What it saves: a shared-map insert per transaction
/// of a block of independent calls (every ERC-20 transfer and swap writes its sender), which
/// nobody reads. Why only when no lower transaction wrote the account: a reader sums the
/// deltas down to the highest full value one by one, and a chain of one sender's calls written
/// as debits would make each of its reads walk the whole chain.
pub(super) fn sender_debit(
    mv: &MvMemory<'_>,
    beneficiary: Address,
    sender: Address,
    i: TxIdx,
    reads: &AccountReads<'_>,
    change: &AccountChange,
) -> Option<Delta> {
    if sender == beneficiary || !mv.never_written_below(&Location::Account(sender), i) {
        return None;
    }
    Delta::debit_between(reads.read(sender)?, &change.info)
}
