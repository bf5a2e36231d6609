//! Turning validated results into the block's outputs: block limits, cumulative gas, and the
//! commutative credits (deferred beneficiary fees, lazy transfer credits) folded into each
//! transaction's changes exactly as sequential execution would have written them.
//!
//! Only what is inherently ordered runs serially: the gas prefix sums, the beneficiary's
//! running balance (one addition per transaction) and the running values of accounts that
//! several lazy transfers credit or debit. Everything else — reading pre-block values, checking
//! uncontended lazy senders, looking at a transaction's own changes, building and inserting the
//! credits, freeing its read set, moving the outputs — is per transaction and runs on every
//! worker thread. The serial pass reads one compact [`Settle`] record per transaction, gathered
//! by the first parallel pass: walking the results themselves (hundreds of bytes each, spread
//! over several cache lines) made it memory-bound on blocks of cheap transactions.
//!
//! Why the recipient's value before transaction `i` is right: after the parallel phase the
//! multi-version memory holds exactly the final incarnation's writes of every transaction.
//! If no transaction below `i` wrote the recipient (neither in full nor as a credit), its value
//! before `i` is the pre-block value. Otherwise it is the highest full write below `i` plus the
//! credits above that write; those credits belong to lower transactions whose recipient was
//! already written below them, so the serial pass met them first, in block order, and keeps
//! their running sum — it only re-reads the memory when a full write came in between. The
//! same holds for a lazy sender's value. The pre-block value need not be read again when the
//! lowest-writer table shows that no incarnation of any lower transaction *ever* wrote the
//! account: the execution then read the pre-block value and kept it. (A lower write that a
//! re-execution later withdrew would not show in the final memory, but would in the table.)

use super::{
    TxResult,
    mv_memory::{AccountValue, Location, MvMemory, ReadResult, Value},
    scheduler::TxIdx,
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
};
use alloy_primitives::{Address, U256, map::AddressHashMap};
use parking_lot::Mutex;
use revm::primitives::KECCAK_EMPTY;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// What the serial pass needs of one transaction (gathered by the first parallel pass).
#[derive(Default, Clone, Copy)]
struct Settle {
    gas_used: u64,
    blob_gas_used: u64,
    /// What the block-limit check needs of the transaction.
    limits: LimitKey,
    /// The fee deferred to the beneficiary (meaningful with [`Settle::FEE`]).
    fee: U256,
    flags: u8,
}

impl Settle {
    /// The transaction has an output (otherwise its error, or its absence, is reported).
    const OK: u8 = 1;
    /// It deferred a fee.
    const FEE: u8 = 2;
    /// It wrote the beneficiary in full.
    const BENEFICIARY_WRITTEN: u8 = 4;
    /// A lazy sender some lower transaction also wrote: settled by the serial pass.
    const CONTESTED_DEBIT: u8 = 8;
    /// A lazy credit to a recipient some lower transaction also wrote.
    const CONTESTED_CREDIT: u8 = 16;
    /// A lazy sender whose checks, run by the parallel pass, failed.
    const DEBIT_FAILED: u8 = 32;

    /// Whether any of `flags` is set.
    fn has(&self, flags: u8) -> bool {
        self.flags & flags != 0
    }
}

/// What the serial pass decides for one transaction, beyond what it stores in the result.
#[derive(Default, Clone)]
struct Settled {
    cumulative_gas: u64,
    /// The beneficiary's value before this transaction's deferred fee.
    fee_before: AccountValue,
}

/// How many transactions ahead the first pass starts loading what it will read.
const PREFETCH_AHEAD: usize = 8;

/// Consecutive transactions per chunk of a parallel pass.
const CHUNK: usize = 64;

/// Runs `f(c, chunk)` on every chunk (`c` its position; chunk `c` holds the items from
/// `c * CHUNK`) on `threads` threads: the caller and `threads - 1` pool workers, which claim
/// chunks from a shared counter. `items` is how many items the chunks hold: below
/// `MIN_PARALLEL`, waking the pool's threads costs more than the work they would share.
/// (Not rayon's `par_chunks_mut`: Block-STM's pool has `threads - 1` threads because the
/// calling thread is a worker too, and inside `install` the caller would only wait.)
pub(super) fn parallel_chunks<C: Send>(
    chunks: Vec<C>,
    items: usize,
    threads: usize,
    f: impl Fn(usize, C) + Sync,
) {
    const MIN_PARALLEL: usize = 1024;
    if threads <= 1 || items < MIN_PARALLEL || chunks.len() < 2 {
        chunks
            .into_iter()
            .enumerate()
            .for_each(|(c, chunk)| f(c, chunk));
        return;
    }
    let chunks: Vec<Mutex<Option<C>>> = chunks.into_iter().map(|c| Mutex::new(Some(c))).collect();
    let next = AtomicUsize::new(0);
    let run = || {
        loop {
            let c = next.fetch_add(1, Relaxed);
            let Some(chunk) = chunks.get(c) else { break };
            if let Some(chunk) = chunk.lock().take() {
                f(c, chunk);
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
    mv: &MvMemory<'_>,
    mut results: Vec<Mutex<Option<TxResult>>>,
    state_clear: bool,
    threads: usize,
) -> Result<Vec<TxOutput>, ExecError> {
    let n = results.len();
    let beneficiary = block.header.beneficiary;
    let (block_env, cfg) = (block.block_env(), block.cfg_env());

    // Per transaction, in parallel: free the read set, gather what the serial pass needs,
    // settle lazy senders and recipients that no lower transaction wrote.
    let mut settle = vec![Settle::default(); n];
    let base_errors = Mutex::new(None);
    // Lazy senders whose checks failed, with revm's error (rare: kept apart, not in every
    // result).
    let debit_errors: Mutex<Vec<(TxIdx, ExecError)>> = Mutex::new(Vec::new());
    let chunks = results
        .chunks_mut(CHUNK)
        .zip(settle.chunks_mut(CHUNK))
        .collect();
    parallel_chunks(chunks, n, threads, |c, (rs, ss)| {
        for k in 0..rs.len() {
            // The lowest-writer buckets this pass reads are scattered over megabytes: each
            // would be a wait for memory. Loading them a few transactions ahead overlaps them.
            if let Some(Some(ahead)) = rs.get_mut(k + PREFETCH_AHEAD).map(|r| r.get_mut().as_ref())
            {
                mv.prefetch_accounts(
                    ahead
                        .lazy_debit
                        .map(|d| d.0)
                        .into_iter()
                        .chain(ahead.lazy_credit.map(|c| c.0)),
                );
            }
            let (r, s) = (&mut rs[k], &mut ss[k]);
            let i = c * CHUNK + k;
            s.limits = LimitKey::of(&block.transactions[i]);
            let Some(r) = r.get_mut() else { continue };
            drop(std::mem::take(&mut r.reads));
            let Ok((out, fee)) = &r.result else { continue };
            s.flags |= Settle::OK;
            s.gas_used = out.gas_used;
            s.blob_gas_used = out.blob_gas_used;
            if let Some(fee) = fee {
                s.fee = *fee;
                s.flags |= Settle::FEE;
            }
            // (Noted by execution: a lazy sender's entry holds a stand-in value until pass 2
            // replaces it, and does not count.)
            if r.beneficiary_written {
                s.flags |= Settle::BENEFICIARY_WRITTEN;
            }
            if let Some((sender, cost, nonce, seen)) = &mut r.lazy_debit {
                let (sender, cost, nonce) = (*sender, *cost, *nonce);
                // Its value before this transaction is the pre-block value when no lower
                // transaction wrote it: the value execution saw if none ever did.
                let before = if mv.never_written_below(&Location::Account(sender), i) {
                    Some(Ok(*seen))
                } else if sender == beneficiary {
                    None
                } else {
                    match mv.account_written_below(sender, i) {
                        Ok(false) => Some(mv.base_account(sender, base).map_err(ExecError::from)),
                        Ok(true) => None,
                        Err(e) => Some(Err(e.into())),
                    }
                };
                match before {
                    Some(before) => {
                        match before.and_then(|v| debit(block, &block_env, &cfg, i, v, cost, nonce))
                        {
                            // (The value seen is replaced by the value after: see `TxResult`.)
                            Ok(after) => *seen = after,
                            Err(e) => {
                                s.flags |= Settle::DEBIT_FAILED;
                                debit_errors.lock().push((i, e));
                            }
                        }
                    }
                    None => s.flags |= Settle::CONTESTED_DEBIT,
                }
            }
            if let Some((to, _, seen)) = &mut r.lazy_credit {
                let to = *to;
                // Nothing below ever wrote it: execution was given the pre-block value, which
                // is the value before the credit (`seen` stays).
                if !mv.never_written_below(&Location::Account(to), i) {
                    match mv
                        .account_written_below(to, i)
                        .and_then(|written| match written {
                            false => mv.base_account(to, base).map(Some),
                            true => Ok(None),
                        }) {
                        Ok(Some(v)) => *seen = v,
                        Ok(None) => s.flags |= Settle::CONTESTED_CREDIT,
                        Err(e) => {
                            base_errors.lock().get_or_insert(e);
                        }
                    }
                }
            }
        }
    });
    if let Some(e) = base_errors.into_inner() {
        return Err(e.into());
    }
    let mut debit_errors = debit_errors.into_inner();

    // Serial, in block order: limits, gas, the first error, and the running values of the
    // beneficiary and of contested lazy accounts.
    let mut settled = vec![Settled::default(); n];
    let mut beneficiary_value = mv.base_account(beneficiary, base)?;
    // Accounts credited or debited lazily by several transactions: (value, transaction it is
    // the value after).
    let mut running: AddressHashMap<(AccountValue, TxIdx)> = AddressHashMap::default();
    let (mut gas, mut blob_gas) = (0u64, 0u64);
    let missing = |i: TxIdx| ExecError::Evm(format!("block-stm: transaction {i} has no result"));
    for (i, (s, st)) in settle.iter().zip(settled.iter_mut()).enumerate() {
        if s.limits.may_fail(block, gas) {
            check_block_limits(block, i, gas, blob_gas)?;
        }
        if !s.has(Settle::OK) {
            return Err(match results[i].get_mut() {
                Some(TxResult { result: Err(e), .. }) => e.clone(),
                _ => missing(i),
            });
        }
        gas += s.gas_used;
        blob_gas += s.blob_gas_used;
        st.cumulative_gas = gas;
        if s.has(Settle::DEBIT_FAILED | Settle::CONTESTED_DEBIT | Settle::CONTESTED_CREDIT) {
            let r = results[i].get_mut().as_mut().ok_or_else(|| missing(i))?;
            if s.has(Settle::DEBIT_FAILED) {
                return Err(match debit_errors.iter().position(|(j, _)| *j == i) {
                    Some(at) => debit_errors.swap_remove(at).1,
                    None => ExecError::Evm(format!(
                        "block-stm: lazy sender of transaction {i} failed without an error"
                    )),
                });
            }
            if s.has(Settle::CONTESTED_DEBIT)
                && let Some((sender, cost, nonce, value)) = &mut r.lazy_debit
            {
                let (sender, cost, nonce) = (*sender, *cost, *nonce);
                // The beneficiary's running value is kept apart (its fees are not in the
                // memory).
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
                *value = after;
            }
            if s.has(Settle::CONTESTED_CREDIT)
                && let Some((to, value, seen)) = &mut r.lazy_credit
            {
                let before = running_value(mv, base, &running, *to, i)?;
                running.insert(*to, (apply_credit(before, *value, state_clear), i));
                *seen = before;
            }
        }
        if s.has(Settle::BENEFICIARY_WRITTEN)
            && let Some(TxResult {
                result: Ok((out, _)),
                ..
            }) = results[i].get_mut()
            && let Some(change) = out.changes.get(&beneficiary)
        {
            beneficiary_value = change.info;
        }
        if s.has(Settle::FEE) {
            st.fee_before = beneficiary_value;
            beneficiary_value = apply_credit(beneficiary_value, s.fee, state_clear);
        }
    }

    // Per transaction, in parallel: build and insert the credits, set the cumulative gas,
    // move the output into place.
    let mut outputs: Vec<Option<TxOutput>> = (0..n).map(|_| None).collect();
    let chunks = results
        .chunks_mut(CHUNK)
        .zip(settle.chunks(CHUNK))
        .zip(settled.chunks(CHUNK))
        .zip(outputs.chunks_mut(CHUNK))
        .collect();
    parallel_chunks(chunks, n, threads, |_, (((rs, ss), sts), os)| {
        for (((r, s), st), o) in rs.iter_mut().zip(ss).zip(sts).zip(os) {
            // (The output is taken out of the result, not the whole result out of its slot:
            // that moved the whole record, hundreds of bytes, per transaction.)
            let slot = r.get_mut();
            let Some(TxResult {
                result: Ok((out, _)),
                lazy_credit,
                lazy_debit,
                ..
            }) = slot
            else {
                continue; // reported below
            };
            // (Settled by the first pass or the serial one, which stops at the first error:
            // every lazy value here is the real one, no longer the value execution saw.)
            let (lazy_credit, lazy_debit) = (*lazy_credit, *lazy_debit);
            let mut out = std::mem::take(out);
            // (The rest is dropped now, while in cache, rather than by a pass of its own.)
            *slot = None;
            out.receipt.cumulative_gas_used = st.cumulative_gas;
            // The lazy accounts' entries, left by execution with stand-in values, are replaced.
            if let Some((to, value, before)) = lazy_credit {
                match credit_change(before, value, state_clear) {
                    Some(change) => out.changes.insert(to, change),
                    None => out.changes.remove(&to),
                };
            }
            if let Some((sender, _, _, after)) = lazy_debit {
                out.changes.insert(sender, account_change(after));
            }
            if s.has(Settle::FEE)
                && let Some(change) = credit_change(st.fee_before, s.fee, state_clear)
            {
                out.changes.insert(beneficiary, change);
            }
            *o = Some(out);
        }
    });
    // Every result was checked by the serial pass; a gap here would be a bug in this module.
    match outputs.iter().position(Option::is_none) {
        Some(i) => Err(ExecError::Evm(format!(
            "block-stm: transaction {i} was not settled by finalize"
        ))),
        None => {
            // (Collecting a `Flatten` would grow the vector step by step: its length is not
            // known to it.)
            let mut all = Vec::with_capacity(n);
            all.extend(outputs.into_iter().flatten());
            Ok(all)
        }
    }
}
