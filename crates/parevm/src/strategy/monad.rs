//! Monad-style execution: every transaction executes optimistically and in parallel, then one
//! merger applies the results strictly in block order, re-executing a transaction at most once.
//!
//! 1. **Execute all.** Workers claim chunks of transactions in block order and run each
//!    against the merged prefix as it is when they read it (the state before the block's
//!    transactions at first) plus the changes of the chunk's earlier transactions, through a
//!    view that records each account and storage value read (`common::recording`). The
//!    beneficiary's fee is deferred when a transaction never loads the beneficiary, so that
//!    fees alone do not make every transaction conflict.
//! 2. **Merge in order**, on the calling thread, as soon as each result is there (the merger
//!    executes chunks itself while the next result is not), into the shared overlay the
//!    workers read (`state::SharedOverlay`). For transaction `i`, the merged state holds
//!    exactly the effects of transactions `0..i`, as sequential execution leaves them. Where a
//!    worker's reads came from (an older prefix, a chunk neighbour's speculative changes) does
//!    not matter: the check asks only whether each value read is the value at `0..i`. If every
//!    value `i` read still holds there, `i` would read the same values now, so it computes the same result (a
//!    transaction's outcome is a function of what it reads: code and block hashes do not change
//!    within a block), and its changes are applied as they are. Otherwise `i` is executed again
//!    on the merged state, which is sequential execution itself, so that result is final: no
//!    transaction runs more than twice. Deferred fees are credited to the beneficiary's merged
//!    value in the same order, and block limits and cumulative gas are checked and counted as
//!    sequential execution does. An invalid transaction whose reads still hold is invalid in
//!    sequential execution too, with the same error.
//!
//! 3. **Relaxed merge.** A plain value transfer (no calldata, to an account without code)
//!    observes its sender's and recipient's balances and nonces only through revm's validity
//!    checks, and takes and gives amounts that do not depend on them. So its sender runs
//!    speculatively with a stand-in balance and its own nonce (one sender's chain of payouts
//!    does not fail on nonces its earlier transactions have not raised yet), and when only
//!    the sender's or recipient's account changed, the merge re-runs revm's checks on the
//!    merged sender and patches both accounts instead of executing it again (counted in
//!    `relaxed_merges`); if the checks fail, it executes again and fails as sequential
//!    execution does.
//!
//! What it costs against Block-STM: a chain of dependent contract calls runs every transaction
//! twice (once speculatively, once in the merge), and the merge is one thread. What it saves:
//! no multi-version memory, no validation rounds, no aborts during execution.

use super::{
    Strategy, Workers,
    common::{
        commutative::{
            STAND_IN_BALANCE, check_sender, plain_transfer_recipient, stand_in_eligible,
        },
        recording::{Read, Recorder},
        size::{Begin, SizeRules},
        tasks::{Claim, Tasks},
    },
    sequential::Progress,
};
use crate::{
    block::Block,
    chain::Fork,
    core::{TxExecutor, check_block_limits},
    error::ExecError,
    output::{ExecStats, TxOutput},
    state::{Overlay, RevmDb, SharedOverlay, StateView, changes::credit_change},
};
use alloy_primitives::U256;
use parking_lot::Mutex;
use std::sync::atomic::{
    AtomicBool, AtomicUsize,
    Ordering::{Acquire, Release},
};

/// Execute all optimistically, merge in order, re-execute at most once.
#[derive(Debug, Clone, Copy)]
pub struct Monad {
    /// When a block runs sequentially instead (the same rules as Block-STM's).
    rules: SizeRules,
}

impl Monad {
    /// The registered configuration (`monad`), with the size rules.
    pub const DEFAULT: Monad = Monad {
        rules: SizeRules::DEFAULT,
    };
    /// Without size rules (`monad-speculative`: the tests run it so that one-transaction
    /// blocks exercise the merge).
    pub const SPECULATIVE: Monad = Monad {
        rules: SizeRules::NONE,
    };
}

/// A transaction's optimistic result and the values it was computed from.
struct Speculative {
    result: Result<(TxOutput, Option<U256>), ExecError>,
    reads: Vec<Read>,
    /// A plain transfer whose sender was given the stand-in balance and its own nonce (so that
    /// it does not fail on a nonce its earlier transactions have not raised yet): its result is
    /// always patched onto the merged sender, never kept as it is.
    stood_in: bool,
}

/// What the merger found for the next transaction to merge.
enum Taken {
    /// A worker's result.
    Speculative(Speculative),
    /// The task holding it, now the merger's.
    Mine(usize),
}

/// What the merge does with a speculative result.
enum Merge {
    /// Every value it read still holds: it is the result.
    Keep(Result<(TxOutput, Option<U256>), ExecError>),
    /// Patched onto the merged sender and recipient (a relaxed merge).
    Relaxed((TxOutput, Option<U256>)),
    /// Executed again on the merged state.
    Again,
    /// Not executed yet: the merger executes it on the merged state.
    Mine,
}

/// Transactions per chunk a worker claims at once.
const CHUNK: usize = 8;

impl Strategy for Monad {
    fn name(&self) -> &'static str {
        if self.rules == SizeRules::NONE {
            "monad-speculative"
        } else {
            "monad"
        }
    }

    fn description(&self) -> &'static str {
        "optimistic execute-all, in-order merge, at most one re-execution (Monad)"
    }

    fn execute_transactions(
        &self,
        block: &Block,
        state: &mut Overlay<'_>,
        workers: &Workers,
        stats: &mut ExecStats,
    ) -> Result<Vec<TxOutput>, ExecError> {
        let plan = |_: &dyn StateView, n: usize, _: &mut ExecStats| {
            Ok(Plan {
                tasks: Tasks::chunks(n, CHUNK),
                publish: Publish::OnConflict,
            })
        };
        execute_planned(self.rules, block, state, workers, stats, plan)
    }
}

/// When the merger shows the workers what it merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Publish {
    /// From the block's first re-execution on (before that, publishing costs the merger more
    /// than it could save), never a patched transfer's changes.
    OnConflict,
    /// The transactions marked (those that transactions of other tasks wait for: workers
    /// read them once merged).
    Marked(Vec<bool>),
}

/// How a block's transactions are taken up: the tasks, and what the merger publishes.
pub(crate) struct Plan {
    pub(crate) tasks: Tasks,
    pub(crate) publish: Publish,
}

/// Executes `block`'s transactions as `plan` (given the state before them, how many run in
/// parallel and the stats) orders them, merging in block order (see the module docs), after
/// the transactions the size `rules` run sequentially first.
pub(crate) fn execute_planned(
    rules: SizeRules,
    block: &Block,
    state: &mut Overlay<'_>,
    workers: &Workers,
    stats: &mut ExecStats,
    plan: impl FnOnce(&dyn StateView, usize, &mut ExecStats) -> Result<Plan, ExecError>,
) -> Result<Vec<TxOutput>, ExecError> {
    {
        let n = block.transactions.len();
        let before = match rules.begin(block, state, workers.threads(), stats)? {
            Begin::Finished(outputs) => return Ok(outputs),
            Begin::Parallel { before, .. } => before,
        };
        let first = before.outputs.len();
        let Plan { tasks, publish } = plan(&*state, n - first, stats)?;
        let run = Run {
            block,
            first,
            env: (block.block_env(), block.cfg_env()),
            base: &*state,
            merged: SharedOverlay::new(&*state, 4 * (n - first)),
            slots: (first..n).map(|_| Mutex::new(None)).collect(),
            tasks,
            publish,
            merged_count: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            panic: Mutex::new(None),
        };
        let outputs = run.execute_and_merge(before, workers, stats)?;
        stats.executions += (n - first) as u64;
        // (Merged on an overlay of its own while the workers read `state`: applied here.)
        if crate::core::needs_post_transaction_state(block) {
            for out in &outputs[first..] {
                state.apply(&out.changes);
            }
        }
        Ok(outputs)
    }
}

/// One block's run: the speculative results, filled by the workers task by task (claimed from
/// `tasks` once ready), and taken by the merger in block order.
struct Run<'a> {
    block: &'a Block,
    /// The first transaction of the run (those below ran sequentially first: the size rules).
    first: usize,
    /// The block's revm environment, for the relaxed merge's validity checks.
    env: (revm::context::BlockEnv, revm::context::CfgEnv),
    /// What the workers execute against: the state before the transactions plus the merged
    /// transactions' changes, published by the merger once a block shows conflicts (before
    /// that, and for patched transfers, publishing costs the merger more than it could save
    /// in re-executions; a worker reading an older value is only checked, never wrong).
    merged: SharedOverlay<'a>,
    /// The state before the transactions (what the merged prefix is over).
    base: &'a dyn StateView,
    slots: Vec<Mutex<Option<Speculative>>>,
    tasks: Tasks,
    publish: Publish,
    /// How many of the run's transactions are merged (and published, as `publish` says):
    /// raised by the merger (`Release`) after publishing, read by workers claiming tasks
    /// (`Acquire`).
    merged_count: AtomicUsize,
    /// Set when the merger is done (or failed): workers stop claiming chunks.
    stop: AtomicBool,
    /// A worker's panic, which the merger reports instead of waiting for its chunk.
    panic: Mutex<Option<String>>,
}

impl Run<'_> {
    /// Executes the block on `workers` and merges it on the calling thread, which
    /// also executes chunks while the next result to merge is not ready.
    fn execute_and_merge(
        &self,
        before: Progress,
        workers: &Workers,
        stats: &mut ExecStats,
    ) -> Result<Vec<TxOutput>, ExecError> {
        let before = Mutex::new(Some(before));
        let merge = || {
            let mut worker = TxExecutor::new(
                self.block,
                Recorder::new(&self.merged).with_stand_in_reads(self.base),
            );
            let mut exec = TxExecutor::new(self.block, RevmDb(Overlay::new(self.base)));
            let mut counted = ExecStats::default();
            let before = before.lock().take().expect("merged once");
            let result = self.merge(before, &mut exec, &mut worker, &mut counted);
            self.stop.store(true, Release);
            (result, counted)
        };
        let help = || {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut worker = TxExecutor::new(
                    self.block,
                    Recorder::new(&self.merged).with_stand_in_reads(self.base),
                );
                while !self.stop.load(Acquire) {
                    match self.execute_task(&mut worker) {
                        Claim::Task(_) => {}
                        // (Nothing ready: what is ready next comes from the merger.)
                        Claim::Wait => std::thread::sleep(std::time::Duration::from_micros(20)),
                        Claim::Done => break,
                    }
                }
            }));
            if let Err(payload) = run {
                let message = crate::error::panic_message(payload.as_ref());
                self.panic.lock().get_or_insert(message);
            }
        };
        let (result, counted) = workers.scope(workers.threads() - 1, help, merge);
        stats.executions += counted.executions;
        stats.re_executions += counted.re_executions;
        stats.count("relaxed_merges", counted.counter("relaxed_merges"));
        result
    }

    /// Claims a ready task and executes it.
    fn execute_task(&self, worker: &mut TxExecutor<Recorder<'_>>) -> Claim {
        let claim = self.tasks.claim(self.merged_count.load(Acquire));
        let Claim::Task(t) = claim else {
            return claim;
        };
        // A task runs in order on the merged prefix plus its own earlier transactions' changes.
        worker.db_mut().forget();
        for &j in self.tasks.txs(t) {
            let i = self.first + j;
            let tx = &self.block.transactions[i];
            let db = worker.db_mut();
            db.reads.clear();
            db.stood_in = false;
            db.stand_in =
                (plain_transfer_recipient(tx, self.block.header.beneficiary, self.block.fork)
                    .is_some()
                    && stand_in_eligible(tx))
                .then_some((tx.env.caller, tx.env.nonce));
            let result = worker.execute_deferring_fee(i, tx, 0);
            let db = worker.db_mut();
            let reads = std::mem::take(&mut db.reads);
            let stood_in = db.stood_in;
            // (Not a stand-in's changes: its sender's balance is made up.)
            if let (Ok((out, _)), false) = (&result, stood_in) {
                db.keep(&out.changes);
            }
            *self.slots[j].lock() = Some(Speculative {
                result,
                reads,
                stood_in,
            });
        }
        claim
    }

    /// Transaction `i`'s speculative result, or its task when no worker has taken it up yet
    /// (the merger then executes its transactions itself, on the merged state: exactly, with
    /// nothing to check); executing other tasks meanwhile, or waiting for the worker that has
    /// it (an error if that worker panicked: its task never comes).
    fn take(&self, j: usize, worker: &mut TxExecutor<Recorder<'_>>) -> Result<Taken, ExecError> {
        loop {
            if let Some(s) = self.slots[j].lock().take() {
                return Ok(Taken::Speculative(s));
            }
            if let Some(t) = self.tasks.claim_holding(j) {
                return Ok(Taken::Mine(t));
            }
            if !matches!(self.execute_task(worker), Claim::Task(_)) {
                if let Some(message) = self.panic.lock().clone() {
                    return Err(ExecError::Panic {
                        strategy: "monad".into(),
                        message,
                    });
                }
                std::hint::spin_loop();
            }
        }
    }

    /// What merging transaction `i`'s speculative result `s` into the `merged` state takes:
    /// keeping it when every value it read still holds; patching it when it is a plain
    /// transfer whose only changed reads are its sender's and recipient's accounts (a relaxed
    /// merge, see [`Run::relax`]); executing it again otherwise.
    fn check(&self, i: usize, s: Speculative, merged: &dyn StateView) -> Result<Merge, ExecError> {
        let tx = &self.block.transactions[i];
        let recipient =
            plain_transfer_recipient(tx, self.block.header.beneficiary, self.block.fork);
        let mut relaxable = recipient.is_some() && tx.tx_type != 3;
        let mut holds = true;
        for r in &s.reads {
            if r.holds_in(merged)? {
                continue;
            }
            holds = false;
            let balance_only = matches!(r, Read::Account(a, _)
                if *a == tx.env.caller || Some(*a) == recipient);
            relaxable &= balance_only;
            if !relaxable {
                return Ok(Merge::Again);
            }
        }
        // (Only a transaction's own invalidity is a result: any other error may come from
        // the view it ran on, so it runs again on the merged state.)
        let own_error = matches!(&s.result, Err(ExecError::InvalidTransaction { .. }));
        if holds && !s.stood_in && (s.result.is_ok() || own_error) {
            return Ok(Merge::Keep(s.result));
        }
        Ok(match (s.result, recipient) {
            (Ok(result), Some(to)) if relaxable => self
                .relax(i, result, to, merged, s.stood_in, &s.reads)?
                .map_or(Merge::Again, Merge::Relaxed),
            _ => Merge::Again,
        })
    }

    /// A plain transfer's result with its sender and recipient patched onto their `merged`
    /// values, or `None` when it cannot be (then it runs again). Exact: a plain transfer to an
    /// account without code runs no code, so it observes its sender's and recipient's balances
    /// and nonces only through revm's validity checks, which run here on the merged sender
    /// (failing, the transaction runs again and fails as sequential execution does), and what
    /// it takes and gives (value plus gas, value) does not depend on them. It must have
    /// deferred its fee (it did not load the beneficiary), succeeded, and the recipient must
    /// still have no code.
    fn relax(
        &self,
        i: usize,
        (mut out, fee): (TxOutput, Option<U256>),
        to: alloy_primitives::Address,
        merged: &dyn StateView,
        stood_in: bool,
        reads: &[Read],
    ) -> Result<Option<(TxOutput, Option<U256>)>, ExecError> {
        let tx = &self.block.transactions[i];
        let sender = tx.env.caller;
        let Some(spent) = out.changes.get(&sender).and_then(|c| c.info) else {
            return Ok(None);
        };
        if fee.is_none() || !out.receipt.success {
            return Ok(None);
        }
        let codeless = |v: &Option<(U256, u64, alloy_primitives::B256)>| {
            v.is_none_or(|(_, _, h)| h == revm::primitives::KECCAK_EMPTY)
        };
        // (The speculative run found the recipient without code: it ran no code.)
        if !reads
            .iter()
            .any(|r| matches!(r, Read::Account(a, v) if *a == to && codeless(v)))
        {
            return Ok(None);
        }
        // (What the speculative run gave the sender: its first read of the account.)
        let read_balance = if stood_in {
            STAND_IN_BALANCE
        } else {
            match reads.iter().find_map(|r| match r {
                Read::Account(a, v) if *a == sender => Some(*v),
                _ => None,
            }) {
                Some(Some((b, _, _))) => b,
                _ => return Ok(None),
            }
        };
        let now = merged.account_fields(sender)?;
        let recipient = merged.account_fields(to)?;
        let Some((balance, _, code)) = now else {
            return Ok(None);
        };
        if !codeless(&recipient) || !codeless(&now) || spent.2 != code {
            return Ok(None);
        }
        if check_sender(tx, i, &self.env.0, &self.env.1, now).is_err() {
            return Ok(None);
        }
        let Some(cost) = read_balance.checked_sub(spent.0) else {
            return Ok(None);
        };
        let Some(left) = balance.checked_sub(cost) else {
            return Ok(None);
        };
        let state_clear = self.block.fork.at_least(Fork::SpuriousDragon);
        if let Some(change) = out.changes.get_mut(&sender) {
            change.info = Some((left, spent.1, code));
        }
        match credit_change(recipient, tx.env.value, state_clear) {
            Some(change) => out.changes.insert(to, change),
            None => out.changes.remove(&to),
        };
        Ok(Some((out, fee)))
    }

    /// Merges the results in block order into the state `exec` reads (see the module docs),
    /// re-executing those whose reads no longer hold, after the transactions `before` ran.
    fn merge(
        &self,
        before: Progress,
        exec: &mut TxExecutor<RevmDb<Overlay<'_>>>,
        worker: &mut TxExecutor<Recorder<'_>>,
        stats: &mut ExecStats,
    ) -> Result<Vec<TxOutput>, ExecError> {
        let block = self.block;
        let beneficiary = block.header.beneficiary;
        let state_clear = block.fork.at_least(Fork::SpuriousDragon);
        let (mut gas, mut blob_gas) = (before.gas, before.blob_gas);
        let mut outputs = before.outputs;
        outputs.reserve_exact(self.slots.len());
        // Publishing the merged prefix to the workers only pays where transactions conflict:
        // it starts with the first re-execution (see `Run::merged`).
        let mut conflicts = false;
        // (The transactions of the tasks the merger took up itself.)
        let mut mine = vec![false; self.slots.len()];
        // (Time spent merging: checking, crediting, applying and publishing, not executing
        // or waiting; the parallelism profiler models merges with it.)
        let mut merging = std::time::Duration::ZERO;
        for j in 0..self.slots.len() {
            let i = self.first + j;
            check_block_limits(block, i, gas, blob_gas)?;
            let s = match mine[j] {
                true => None,
                false => match self.take(j, worker)? {
                    Taken::Speculative(s) => Some(s),
                    Taken::Mine(t) => {
                        self.tasks.txs(t).iter().for_each(|k| mine[*k] = true);
                        None
                    }
                },
            };
            let tx = &block.transactions[i];
            let started = std::time::Instant::now();
            let mut executing = std::time::Duration::ZERO;
            let merged: &dyn StateView = &exec.db_mut().0;
            let mut publish = conflicts;
            let checked = match s {
                Some(s) => self.check(i, s, merged)?,
                None => Merge::Mine,
            };
            let mut timed = |exec: &mut TxExecutor<_>| {
                let started = std::time::Instant::now();
                let result = exec.execute_deferring_fee(i, tx, 0);
                executing += started.elapsed();
                result
            };
            let (mut out, fee) = match checked {
                Merge::Mine => timed(exec)?,
                Merge::Keep(result) => result?,
                Merge::Relaxed(result) => {
                    stats.count("relaxed_merges", 1);
                    // (What a patched transfer changed is rarely read by contract calls;
                    // publishing every payout would cost the merger more than it saves.)
                    publish = false;
                    result
                }
                Merge::Again => {
                    conflicts = true;
                    publish = true;
                    stats.executions += 1;
                    stats.re_executions += 1;
                    timed(exec)?
                }
            };
            if let Some(fee) = fee {
                let before = exec.db_mut().0.account_fields(beneficiary)?;
                if let Some(change) = credit_change(before, fee, state_clear) {
                    out.changes.insert(beneficiary, change);
                }
            }
            gas += out.gas_used;
            blob_gas += out.blob_gas_used;
            out.receipt.cumulative_gas_used = gas;
            exec.db_mut().0.apply(&out.changes);
            let marked = matches!(&self.publish, Publish::Marked(m) if m[j]);
            if publish || marked {
                self.merged.apply(&out.changes)?;
            } else {
                // (New code always: a published account may point to it later.)
                self.merged.publish_code(&out.changes);
            }
            outputs.push(out);
            self.merged_count.store(j + 1, Release);
            merging += started.elapsed().saturating_sub(executing);
        }
        stats.count("merge_us", merging.as_micros() as u64);
        Ok(outputs)
    }
}
