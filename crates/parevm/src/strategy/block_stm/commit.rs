//! Rolling commit: turning each transaction's validated result into its output as soon as it
//! is final, in block order, while its data is still in cache — block limits, cumulative gas,
//! and the commutative credits (deferred beneficiary fees, lazy transfers' credits and debits)
//! folded into its changes exactly as sequential execution would have written them.
//!
//! A transaction is final once the scheduler commits it (see `scheduler`'s module docs for
//! the rule and why it is right): every transaction below it is committed, and its last
//! incarnation passed a validation that started after their last changes. One worker at a
//! time holds the [`Committer`] (a `try_lock` every few validations and whenever a worker
//! runs out of tasks; a worker that finds it taken goes back to work) and commits as far as it
//! can. Settling a transaction here, a few transactions behind its validation, costs a
//! fraction of a pass over the whole block afterwards, which found every result and its
//! changes cold. It also stops the block at its first invalid transaction soon after that
//! one is final. (After every validation, the lock and the committer's own state moved
//! between the cores on every transaction: on 1-Ggas transfers and ERC-20 transfers at two
//! threads, committing every eighth validation took 6 to 8% off the run's median time.)
//!
//! Why the values settled here are right: when `i` is committed, the multi-version memory
//! holds the final writes of every transaction below `i`, so reading an account as `i` (full
//! values, then the credits and debits above the highest, in block order) gives exactly its
//! value before `i`. The committer keeps the running values of the beneficiary (whose fees are
//! not in the memory) and of accounts that several lazy transfers touch (so a chain of a
//! thousand transfers from one sender is not re-summed from its start each time). Reading the
//! memory is avoided altogether when the lowest-writer table shows that no incarnation of any
//! lower transaction *ever* wrote the account: execution then read the pre-block value, which
//! is the value before `i`. (A lower write that a re-execution later withdrew would not show
//! in the final memory, but would in the table.)

use super::{
    Shared, TxResult,
    mv_memory::{AccountValue, Location, MvMemory, ReadResult, Value},
    scheduler::{TxIdx, Wave},
};
use crate::{
    block::Block,
    core::{LimitKey, check_block_limits},
    error::ExecError,
    output::TxOutput,
    state::{
        StateView,
        changes::{AccountChange, apply_credit, credit_change},
    },
    strategy::sequential::Progress,
};
use alloy_primitives::{Address, U256, map::AddressHashMap};
use revm::primitives::KECCAK_EMPTY;

/// The state of the rolling commit: what the transactions committed so far add up to.
pub(super) struct Committer {
    /// The committed transactions' outputs, in block order.
    outputs: Vec<TxOutput>,
    gas: u64,
    blob_gas: u64,
    /// The beneficiary's value after the committed transactions.
    beneficiary_value: AccountValue,
    /// Accounts settled lazily after some lower transaction wrote them: (value, transaction
    /// it is the value after).
    running: AddressHashMap<(AccountValue, TxIdx)>,
    /// The highest wave triggered at or below the next transaction (the scheduler's rule).
    wave: Wave,
    block_env: revm::context::BlockEnv,
    cfg: revm::context::CfgEnv,
    state_clear: bool,
    /// The first error in block order (the block's result), once a committed transaction
    /// turned out invalid.
    error: Option<ExecError>,
    /// The parallel part looked serial and was stopped (see [`Committer::looks_serial`]).
    bailed: bool,
    /// The sequential start's pace, when it ran any transaction.
    pace: Option<Pace>,
    /// When the parallel part began.
    began: std::time::Instant,
    /// The gas limits of the transactions committed in parallel.
    ran_limits: f64,
}

/// How fast the sequential start ran: seconds per transaction and per unit of gas limit.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pace {
    per_tx: f64,
    per_gas: f64,
}

impl Pace {
    /// The pace of `block`'s first `ran` transactions, run sequentially in `took`.
    pub(super) fn of(block: &Block, ran: usize, took: std::time::Duration) -> Option<Pace> {
        let limits: u64 = block.transactions[..ran]
            .iter()
            .map(|t| t.env.gas_limit)
            .sum();
        (ran > 0).then(|| Pace {
            per_tx: took.as_secs_f64() / ran as f64,
            per_gas: took.as_secs_f64() / limits.max(1) as f64,
        })
    }
}

/// The serial bail-out is checked once this many transactions are committed in parallel, and
/// every as many after (see [`Committer::looks_serial`]).
const SERIAL_CHECK: usize = 32;

impl Committer {
    /// The committer of `block`'s transactions after the ones in `before` (run sequentially
    /// first: their outputs lead the block's, their gas counts towards the block's limits and
    /// cumulative gas, their changes are in `base` already).
    pub(super) fn new(
        block: &Block,
        before: Progress,
        pace: Option<Pace>,
        base: &dyn StateView,
        mv: &MvMemory<'_>,
        state_clear: bool,
    ) -> Result<Self, ExecError> {
        let mut outputs = before.outputs;
        outputs.reserve_exact(block.transactions.len() - outputs.len());
        Ok(Committer {
            outputs,
            gas: before.gas,
            blob_gas: before.blob_gas,
            beneficiary_value: mv.base_account(block.header.beneficiary, base)?,
            running: AddressHashMap::default(),
            wave: 0,
            block_env: block.block_env(),
            cfg: block.cfg_env(),
            state_clear,
            error: None,
            bailed: false,
            pace,
            began: std::time::Instant::now(),
            ran_limits: 0.0,
        })
    }

    /// Commits every transaction that is final, in block order. After the first invalid one,
    /// keeps its error and halts the workers: the block is rejected with it, as sequential
    /// execution would reject it.
    pub(super) fn commit_ready(&mut self, shared: &Shared<'_, '_>) {
        if self.error.is_some() {
            return;
        }
        let before = self.outputs.len();
        while let Some(i) = shared.scheduler.try_commit(&mut self.wave) {
            if let Err(e) = self.commit(shared, i) {
                self.error = Some(e);
                shared.scheduler.halt();
                return;
            }
        }
        let ran = self.outputs.len() - shared.first;
        if shared.serial_bail
            && !self.bailed
            && ran / SERIAL_CHECK > (before - shared.first) / SERIAL_CHECK
            && self.looks_serial(shared, ran)
        {
            self.bailed = true;
            shared.scheduler.halt();
        }
    }

    /// Whether the `ran` transactions committed in parallel so far show a chain in which each
    /// needs the one before it (one slot rewritten by every call, one counter everyone
    /// increments). Two workers then hand the chain back and forth, every step a cross-core
    /// transfer and a suspension, slower than one worker; the rest of the block is left to
    /// the sequential strategy (counted in `fallbacks`). Exact either way: what is committed
    /// is final, and sequential execution goes on from the state it leaves.
    ///
    /// The signs: at least one conflict (a suspension or an abort) per two transactions, and
    /// the parallel part slower than the sequential start's pace predicts for them; or, in the
    /// block's first half, a conflict per transaction or more (the start's pace is measured on
    /// a few cold transactions and can overstate sequential time twice over; a block's last
    /// transactions pile up suspensions as the workers run out of other work, so the rule is
    /// not applied there).
    fn looks_serial(&self, shared: &Shared<'_, '_>, ran: usize) -> bool {
        let conflicts = shared.conflicts.load(std::sync::atomic::Ordering::Relaxed);
        if ran < SERIAL_CHECK || conflicts * 2 < ran {
            return false;
        }
        let slower = self.pace.is_some_and(|p| {
            let sequential = (p.per_tx * ran as f64).max(p.per_gas * self.ran_limits);
            self.began.elapsed().as_secs_f64() > sequential
        });
        slower || (conflicts >= ran && ran * 2 <= shared.txs.len())
    }

    /// Whether the run was stopped as serial.
    pub(super) fn bailed(&self) -> bool {
        self.bailed
    }

    /// What the committed transactions add up to, or the block's first error: the seam from
    /// which a serial block goes on sequentially.
    pub(super) fn into_progress(self) -> Result<Progress, ExecError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(Progress {
            outputs: self.outputs,
            gas: self.gas,
            blob_gas: self.blob_gas,
        })
    }

    /// The block's outputs (of its `n` transactions) once every transaction is committed, or
    /// its first error.
    pub(super) fn finish(self, n: usize) -> Result<Vec<TxOutput>, ExecError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        match self.outputs.len() {
            // A gap would be a bug in the scheduler's commit rule.
            len if len < n => Err(ExecError::Evm(format!(
                "block-stm: transaction {len} was not committed"
            ))),
            _ => Ok(self.outputs),
        }
    }

    /// Settles committed transaction `i` and appends its output.
    fn commit(&mut self, shared: &Shared<'_, '_>, i: TxIdx) -> Result<(), ExecError> {
        let (block, mv, base) = (shared.block, &shared.mv, shared.base);
        let beneficiary = block.header.beneficiary;
        let tx = &shared.txs[i];
        // (The block's index of the transaction, for its checks and errors.)
        let index = shared.first + i;
        if LimitKey::of(tx).may_fail(block, self.gas) {
            check_block_limits(block, index, self.gas, self.blob_gas)?;
        }
        let mut slot = shared.results[i].lock();
        let Some(TxResult {
            result,
            lazy_credit,
            lazy_debit,
            beneficiary_written,
            ..
        }) = slot.as_mut()
        else {
            return Err(ExecError::Evm(format!(
                "block-stm: transaction {index} has no result"
            )));
        };
        let (out, fee) = match result {
            Ok((out, fee)) => (out, *fee),
            Err(e) => return Err(e.clone()),
        };
        self.gas += out.gas_used;
        self.blob_gas += out.blob_gas_used;
        self.ran_limits += tx.env.gas_limit as f64;
        out.receipt.cumulative_gas_used = self.gas;
        // The lazy accounts' entries, left by execution with stand-in values, are replaced.
        if let Some(super::deltas::LazyDebit { cost, nonce, seen }) = *lazy_debit {
            let sender = tx.env.caller;
            let seen = seen.value();
            // Its value before `i` is the pre-block value when nothing below ever wrote it:
            // the value execution saw.
            let uncontested = mv.never_written_below(&Location::Account(sender), i);
            let before = if sender == beneficiary {
                self.beneficiary_value
            } else if uncontested {
                seen
            } else {
                running_value(mv, base, &self.running, sender, i)?
            };
            let after = debit(tx, index, &self.block_env, &self.cfg, before, cost, nonce)?;
            if sender == beneficiary {
                self.beneficiary_value = after;
            } else if !uncontested {
                self.running.insert(sender, (after, i));
            }
            out.changes.insert(sender, account_change(after));
        }
        // A sender with a running value whose transaction went into the memory as a debit (see
        // `sender_debit`), or as a full value, left its real value in the output: the running
        // value moves on to it.
        if !self.running.is_empty()
            && lazy_debit.is_none()
            && let Some(change) = out.changes.get(&tx.env.caller)
            && let Some(running) = self.running.get_mut(&tx.env.caller)
        {
            *running = (change.info, i);
        }
        if let Some(seen) = *lazy_credit {
            // (A call: see `lazy_recipient`, which also rules out the beneficiary.)
            let revm::primitives::TxKind::Call(to) = tx.env.kind else {
                return Err(ExecError::Evm(format!(
                    "block-stm: transaction {index} creates a contract but was credited lazily"
                )));
            };
            let (value, seen) = (tx.env.value, seen.value());
            let before = if mv.never_written_below(&Location::Account(to), i) {
                seen
            } else {
                let before = running_value(mv, base, &self.running, to, i)?;
                self.running
                    .insert(to, (apply_credit(before, value, self.state_clear), i));
                before
            };
            match credit_change(before, value, self.state_clear) {
                Some(change) => out.changes.insert(to, change),
                None => out.changes.remove(&to),
            };
        }
        // (Noted by execution: a lazy sender's entry held a stand-in value, and did not count.)
        if *beneficiary_written && let Some(change) = out.changes.get(&beneficiary) {
            self.beneficiary_value = change.info;
        }
        if let Some(fee) = fee {
            let before = self.beneficiary_value;
            self.beneficiary_value = apply_credit(before, fee, self.state_clear);
            if let Some(change) = credit_change(before, fee, self.state_clear) {
                out.changes.insert(beneficiary, change);
            }
        }
        let out = std::mem::take(out);
        // (The rest — the read set above all — is freed now, while in cache.)
        *slot = None;
        self.outputs.push(out);
        Ok(())
    }
}

/// The value of `address` before committed transaction `i`, an account some transaction below
/// `i` wrote: the running value when no full write came after it, else read from the memory
/// (final below `i`).
fn running_value(
    mv: &MvMemory<'_>,
    base: &dyn StateView,
    running: &AddressHashMap<(AccountValue, TxIdx)>,
    address: Address,
    i: TxIdx,
) -> Result<AccountValue, ExecError> {
    if let Some(&(v, at)) = running.get(&address)
        && mv
            .latest_full_write_below(address, i)
            .is_none_or(|j| j < at)
    {
        return Ok(v);
    }
    match mv.read_account(address, i, base)? {
        ReadResult::Value(Value::Account(v)) => Ok(v),
        _ => Err(ExecError::Evm(format!(
            "block-stm: account {address} unresolved before committed transaction {i}"
        ))),
    }
}

/// A change that sets an account's info and leaves its storage alone.
fn account_change(info: AccountValue) -> AccountChange {
    AccountChange {
        info,
        ..Default::default()
    }
}

/// A lazy sender's value after transaction `tx` (the block's `index`), given its real value
/// `before`: revm's validity checks run on `before` first — the same functions, in the same
/// order, that revm runs before executing a transaction, so a failure is the error sequential
/// execution reports — and then the transfer's `cost` comes off the balance and the nonce
/// becomes `nonce_after`.
fn debit(
    tx: &crate::block::Transaction,
    index: usize,
    block_env: &revm::context::BlockEnv,
    cfg: &revm::context::CfgEnv,
    before: AccountValue,
    cost: U256,
    nonce_after: u64,
) -> Result<AccountValue, ExecError> {
    let (balance, _, code_hash) = before.unwrap_or((U256::ZERO, 0, KECCAK_EMPTY));
    crate::strategy::common::commutative::check_sender(tx, index, block_env, cfg, before)?;
    // The checks ensured the balance covers the most the transfer could cost.
    let balance = balance.checked_sub(cost).ok_or_else(|| {
        ExecError::Evm(format!(
            "block-stm: lazy sender of transaction {index} cannot pay {cost} after revm's checks passed"
        ))
    })?;
    Ok(Some((balance, nonce_after, code_hash)))
}
