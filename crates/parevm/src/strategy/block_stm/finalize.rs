//! Turning validated results into the block's outputs: block limits, cumulative gas, and the
//! commutative credits (deferred beneficiary fees, lazy transfer credits) folded into each
//! transaction's changes exactly as sequential execution would have written them.
//!
//! Only what is inherently ordered runs serially: the gas prefix sums, the beneficiary's
//! running balance (one addition per transaction) and the running balance of recipients that
//! several transactions credit. Everything else — reading pre-block values, looking at a
//! transaction's own changes, inserting the credits into its change set, freeing its read set —
//! is per transaction and runs on every worker thread.
//!
//! Why the recipient's value before transaction `i` is right: after the parallel phase the
//! multi-version memory holds exactly the final incarnation's writes of every transaction.
//! If no transaction below `i` wrote the recipient (neither in full nor as a credit), its value
//! before `i` is the pre-block value. Otherwise it is the highest full write below `i` plus the
//! credits above that write; those credits belong to lower transactions whose recipient was
//! already written below them, so the serial pass met them first, in block order, and keeps
//! their running sum — it only re-reads the memory when a full write came in between.

use super::{
    TxResult,
    mv_memory::{AccountValue, Location, MvMemory, ReadResult, Value},
    scheduler::TxIdx,
};
use crate::{
    block::Block,
    core::check_block_limits,
    error::ExecError,
    output::TxOutput,
    state::{
        StateView,
        changes::{AccountChange, apply_credit, credit_change},
    },
};
use alloy_primitives::{Address, U256, map::AddressHashMap};
use parking_lot::Mutex;
use revm::primitives::KECCAK_EMPTY;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// One transaction on its way to an output.
struct Pending {
    result: Option<Result<(TxOutput, Option<U256>), ExecError>>,
    /// The read set, freed by the parallel pass rather than on the serial path.
    reads: Vec<(super::mv_memory::Location, Value)>,
    /// The lazy transfer credit: recipient, amount, and the recipient's value before this
    /// transaction when no lower transaction wrote it (the pre-block value).
    lazy: Option<(Address, U256, Option<AccountValue>)>,
    /// The recipient's value its execution saw.
    lazy_seen: AccountValue,
    /// A lazy sender: sender, cost, nonce afterwards.
    debit: Option<(Address, U256, u64)>,
    /// The outcome of the lazy sender's checks, decided by the parallel pass when no lower
    /// transaction wrote the sender (its change is then already in `credits[2]`).
    debit_checked: Option<Result<(), ExecError>>,
    /// The beneficiary's value after this transaction, if it wrote the beneficiary in full.
    beneficiary_written: Option<AccountValue>,
    /// Changes to insert into the transaction's changes (decided by the serial pass): the
    /// recipient's credit, the beneficiary's fee, the lazy sender's new value.
    credits: [Option<(Address, AccountChange)>; 3],
    cumulative_gas: u64,
}

/// Runs `f` on every item of `items` on `threads` threads (the caller and `threads - 1` pool
/// workers), which claim chunks of consecutive items from a shared counter.
/// (Not rayon's `par_chunks_mut`: Block-STM's pool has `threads - 1` threads because the
/// calling thread is a worker too, and inside `install` the caller would only wait.)
pub(super) fn parallel_for<T: Send>(
    items: &mut [T],
    threads: usize,
    f: impl Fn(usize, &mut T) + Sync,
) {
    const CHUNK: usize = 64;
    // Below this, waking the pool's threads costs more than the work it would share.
    const MIN_PARALLEL: usize = 4096;
    if threads <= 1 || items.len() < MIN_PARALLEL {
        items.iter_mut().enumerate().for_each(|(i, t)| f(i, t));
        return;
    }
    let chunks: Vec<Mutex<&mut [T]>> = items.chunks_mut(CHUNK).map(Mutex::new).collect();
    let next = AtomicUsize::new(0);
    let run = || {
        loop {
            let c = next.fetch_add(1, Relaxed);
            let Some(chunk) = chunks.get(c) else { break };
            for (k, t) in chunk.lock().iter_mut().enumerate() {
                f(c * CHUNK + k, t);
            }
        }
    };
    let helpers = (threads - 1).min(chunks.len() - 1);
    super::pool(helpers).in_place_scope(|s| {
        for _ in 0..helpers {
            s.spawn(|_| run());
        }
        run();
    });
}

/// The value of `address` before transaction `i`, an account some transaction below `i` wrote:
/// the running value kept by the serial pass when no full write came after it, else read from
/// the (final) multi-version memory.
fn running_value(
    mv: &MvMemory,
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
            "block-stm: account {address} unresolved before transaction {i} after validation"
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

/// A lazy sender's value after transaction `i`, given its real value `before`: revm's validity
/// checks run on `before` first — the same functions, in the same order, that revm runs before
/// executing a transaction, so a failure is the error sequential execution reports — and then
/// the transfer's `cost` comes off the balance and the nonce becomes `nonce_after`.
fn debit(
    block: &Block,
    block_env: &revm::context::BlockEnv,
    cfg: &revm::context::CfgEnv,
    i: TxIdx,
    before: AccountValue,
    cost: U256,
    nonce_after: u64,
) -> Result<AccountValue, ExecError> {
    let tx = &block.transactions[i];
    let (balance, nonce, code_hash) = before.unwrap_or((U256::ZERO, 0, KECCAK_EMPTY));
    let info = crate::state::account_info(balance, nonce, code_hash, None);
    revm::handler::pre_execution::validate_account_nonce_and_code_with_components(
        &info, &tx.env, cfg,
    )
    .and_then(|()| {
        revm::handler::pre_execution::calculate_caller_fee(balance, &tx.env, block_env, cfg)
    })
    .map_err(|reason| {
        crate::core::evm_error(
            revm::context::result::EVMError::<crate::state::StateError, _>::Transaction(reason),
            i,
            tx,
        )
    })?;
    // The checks ensured the balance covers the most the transfer could cost.
    let balance = balance.checked_sub(cost).ok_or_else(|| {
        ExecError::Evm(format!(
            "block-stm: lazy sender of transaction {i} cannot pay {cost} after revm's checks passed"
        ))
    })?;
    Ok(Some((balance, nonce_after, code_hash)))
}

/// The block's outputs from the validated results, or the first error in block order.
pub(super) fn finalize(
    block: &Block,
    base: &dyn StateView,
    mv: &MvMemory,
    results: Vec<Mutex<Option<TxResult>>>,
    state_clear: bool,
    threads: usize,
) -> Result<Vec<TxOutput>, ExecError> {
    let beneficiary = block.header.beneficiary;
    let mut pending: Vec<Pending> = results
        .into_iter()
        .map(|r| {
            let (result, reads, lazy, debit) = match r.into_inner() {
                Some(TxResult {
                    result,
                    reads,
                    lazy_credit,
                    lazy_debit,
                }) => (Some(result), reads, lazy_credit, lazy_debit),
                None => (None, Vec::new(), None, None),
            };
            Pending {
                result,
                reads,
                lazy: lazy.map(|(to, v, _)| (to, v, None)),
                lazy_seen: lazy.and_then(|(_, _, seen)| seen),
                debit,
                debit_checked: None,
                beneficiary_written: None,
                credits: [None, None, None],
                cumulative_gas: 0,
            }
        })
        .collect();

    // Per transaction, in parallel: pre-block values of uncontended recipients, whether the
    // beneficiary was written in full. Read sets were freed with their results.
    let base_errors = Mutex::new(None);
    let (block_env, cfg) = (block.block_env(), block.cfg_env());
    parallel_for(&mut pending, threads, |i, p| {
        drop(std::mem::take(&mut p.reads));
        if let Some((sender, cost, nonce)) = p.debit
            && sender != beneficiary
            && !mv.account_written_below(sender, i)
        {
            let checked = mv
                .base_account(sender, base)
                .map_err(ExecError::from)
                .and_then(|before| debit(block, &block_env, &cfg, i, before, cost, nonce))
                .map(|after| p.credits[2] = Some((sender, account_change(after))));
            p.debit_checked = Some(checked);
        }
        if let Some(Ok((out, _))) = &p.result {
            p.beneficiary_written = out.changes.get(&beneficiary).map(|c| c.info);
        }
        if let Some((to, _, before)) = &mut p.lazy
            && mv.never_written_below(&Location::Account(*to), i)
        {
            // Nothing below ever wrote it, so execution was given the pre-block value.
            *before = Some(p.lazy_seen);
        } else if let Some((to, _, before)) = &mut p.lazy
            && !mv.account_written_below(*to, i)
        {
            match mv.base_account(*to, base) {
                Ok(v) => *before = Some(v),
                Err(e) => {
                    base_errors.lock().get_or_insert(e);
                }
            }
        }
    });
    if let Some(e) = base_errors.into_inner() {
        return Err(e.into());
    }

    // Serial, in block order: limits, gas, and the running values of credited accounts.
    let mut beneficiary_value = mv.base_account(beneficiary, base)?;
    // Accounts credited or debited lazily by several transactions: (value, transaction it is
    // the value after).
    let mut running: AddressHashMap<(AccountValue, TxIdx)> = AddressHashMap::default();
    let (mut gas, mut blob_gas) = (0u64, 0u64);
    for (i, p) in pending.iter_mut().enumerate() {
        check_block_limits(block, i, gas, blob_gas)?;
        let (out, fee) = match &p.result {
            Some(Ok((out, fee))) => (out, *fee),
            Some(Err(e)) => return Err(e.clone()),
            None => {
                return Err(ExecError::Evm(format!(
                    "block-stm: transaction {i} has no result"
                )));
            }
        };
        gas += out.gas_used;
        blob_gas += out.blob_gas_used;
        p.cumulative_gas = gas;
        if let Some(checked) = p.debit_checked.take() {
            checked?;
        } else if let Some((sender, cost, nonce)) = p.debit {
            // The beneficiary's running value is kept apart (its fees are not in the memory).
            let before = if sender == beneficiary {
                beneficiary_value
            } else {
                running_value(mv, base, &running, sender, i)?
            };
            let after = debit(block, &block_env, &cfg, i, before, cost, nonce)?;
            if sender == beneficiary {
                beneficiary_value = after;
            } else {
                running.insert(sender, (after, i));
            }
            p.credits[2] = Some((sender, account_change(after)));
        }
        if let Some((to, value, known)) = p.lazy {
            let before = match known {
                Some(v) => v,
                None => running_value(mv, base, &running, to, i)?,
            };
            let after = apply_credit(before, value, state_clear);
            if known.is_none() {
                running.insert(to, (after, i));
            }
            p.credits[0] = credit_change(before, value, state_clear).map(|c| (to, c));
        }
        if let Some(v) = p.beneficiary_written {
            beneficiary_value = v;
        }
        if let Some(fee) = fee {
            p.credits[1] =
                credit_change(beneficiary_value, fee, state_clear).map(|c| (beneficiary, c));
            beneficiary_value = apply_credit(beneficiary_value, fee, state_clear);
        }
    }

    // Per transaction, in parallel: insert the credits, set the cumulative gas.
    parallel_for(&mut pending, threads, |_, p| {
        if let Some(Ok((out, _))) = &mut p.result {
            out.receipt.cumulative_gas_used = p.cumulative_gas;
            for (address, change) in p.credits.iter_mut().filter_map(Option::take) {
                out.changes.insert(address, change);
            }
        }
    });
    Ok(pending
        .into_iter()
        .filter_map(|p| match p.result {
            Some(Ok((out, _))) => Some(out),
            _ => None,
        })
        .collect())
}
