//! Block-STM: optimistic parallel execution with multi-version memory (Aptos Block-STM; Sei v2's
//! OCC is the same idea without the collaborative scheduler).
//!
//! Workers execute transactions speculatively against the multi-version memory (`MvMemory`),
//! recording every value they read; a transaction is *validated* by re-reading those locations and
//! comparing values, and re-executed (a new *incarnation*) when one changed. The preset block order
//! decides every conflict: a transaction only ever reads what lower transactions wrote, so once
//! every transaction's last incarnation validates, each one has read exactly what sequential
//! execution would have given it, and produced the same result.
//!
//! Why values, not versions, are compared: a read is valid when it returns what it returned
//! before; comparing values also accepts re-executions that rewrote the same value, and lets
//! balance deltas (below) be compared after accumulation.
//!
//! Commutative updates: the beneficiary's fee is deferred by the execution core
//! ([`crate::core::TxExecutor::execute_deferring_fee`]) and recorded as a balance *delta* at the
//! beneficiary; deltas accumulate on read instead of ordering transactions, so fees do not make
//! every transaction depend on the previous one. A transaction that reads the beneficiary
//! (BALANCE, a transfer to it) sees the fees below it and the beneficiary's own payouts summed
//! transaction by transaction in block order (a payout may need the fees before it: see
//! `MvMemory::beneficiary_after`), and pays its own fee inside the EVM as sequential execution
//! does. As transactions commit, in block order, fees are
//! folded into each one's state changes, so the output equals sequential's exactly. A
//! transaction's own sender, when no lower transaction wrote it, is recorded as a debit too
//! (`sender_debit`): read and validated like any account, so nothing about it is deferred, but
//! kept out of the shared maps, where nobody would have read it.
//!
//! Plain value transfers (no calldata, to an account without code) go further, on both sides. The
//! recipient is credited as a delta (only its lack of code is read). The sender is *lazy*
//! (`lazy_sender_eligible`): the EVM gets a stand-in balance and the transaction's own nonce
//! instead of the sender's value, so the transfer neither waits for the sender's previous
//! transaction nor conflicts with it; its cost and new nonce are recorded as a debit, and the
//! commit (the `commit` module), in block order, runs revm's own nonce and balance checks on the
//! sender's real value. One account paying hundreds of others (exchange and mining-pool payouts,
//! the slowest mainnet blocks before this) thus runs in parallel instead of as a nonce chain.
//!
//! Nothing falls back to sequential execution because of what a block contains: SELFDESTRUCT
//! (a wipe location), contract creation (new code is shared by hash, storage starts at the
//! wipe), EIP-7702 delegations (ordinary account writes) and same-sender nonce chains
//! (lazy senders for plain transfers, ordinary conflicts otherwise) all run in parallel.
//!
//! Three rules run a block on the sequential strategy instead, all about its *size*, never its
//! content, and all counted in `fallbacks`:
//! - **One worker.** Given one thread, or a block of one transaction (there is nothing to run
//!   beside it), as Aptos's executor does at concurrency level 1: one worker in block order
//!   only ever reads final values, so there is nothing to speculate on.
//! - **Tiny blocks.** A block whose transactions' gas limits add up to less than
//!   [`BlockStm::DEFAULT`]'s `min_parallel_gas` (1M gas, a thirtieth of a 2024 block: at most
//!   47 plain transfers). A parallel run has a fixed cost — allocating the multi-version
//!   memory and the per-transaction tables, waking the pool's threads (5 to 30 µs on the
//!   reference VM), the scheduler's and the commit's bookkeeping — of some tens of
//!   microseconds, which is what sequential execution takes for such a block; the
//!   per-transaction bookkeeping then costs more than a second core can win back. (The
//!   limits are known before anything executes; gas is a poor clock for 2016's underpriced
//!   state-access transactions, which the rule also catches when few.)
//! - **Measured small.** Every other block (below 2,000 transactions) starts sequentially, and
//!   is finished that way if, from its first 50 µs on, what is left keeps extrapolating to
//!   under a millisecond ([`Start::MEASURED`]; the `start` module says why and how). Otherwise
//!   the rest runs in parallel, on top of the state the start left (`sequential_start` in the
//!   statistics: how many ran first).
//!
//! [`BlockStm::ALWAYS_SPECULATIVE`] (`block-stm-speculative`) disables all three; the test
//! suites run it beside the default so that the conformance suites, mostly one-transaction
//! blocks, still exercise the machinery.

mod addr_table;
mod commit;
mod deltas;
mod hints;
mod lazy_index;
mod mv_memory;
mod scheduler;
mod slot_map;
mod sync;
mod view;

pub use crate::strategy::common::{size::SizeRules, start::Start};

use super::{Strategy, common::size::Begin, sequential};
use crate::strategy::Workers;
use crate::{
    block::Block,
    core::TxExecutor,
    error::{ExecError, panic_message},
    output::{ExecStats, TxOutput},
    state::{AccountChange, Overlay, StateChanges, StateView},
};
use alloy_primitives::U256;
use deltas::{LazyDebit, lazy_recipient, lazy_sender_eligible, sender_debit};
use mv_memory::{Location, MvMemory, Value, Write};
use parking_lot::Mutex;
use revm::primitives::hardfork::SpecId;
use scheduler::{Incarnation, Scheduler, Task, TxIdx, Wave};
use std::sync::atomic::{
    AtomicU64, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};
use view::{AccountReads, NewCode, TxView};

/// Asks for the cache line holding `value`, ahead of a use (a hint: nothing on other
/// architectures).
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is a hint with no effect on memory or on the program's
        // behaviour (it cannot fault); SSE, which it needs, is part of every x86-64 CPU.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Block-STM with deferred beneficiary fees and lazy transfers.
#[derive(Debug, Clone, Copy)]
pub struct BlockStm {
    /// When a block runs sequentially instead (see [`SizeRules`]).
    rules: SizeRules,
    /// Finish a block sequentially once its parallel part proves serial (see
    /// [`commit::Committer::looks_serial`]).
    serial_bail: bool,
}

impl BlockStm {
    /// The registered configuration (`block-stm`): one worker's worth of work, or a tiny
    /// block, runs sequentially (see the module docs for why).
    pub const DEFAULT: BlockStm = BlockStm {
        rules: SizeRules::DEFAULT,
        serial_bail: true,
    };
    /// Speculates whatever the thread count and block size (`block-stm-speculative`; the tests
    /// use it to exercise the machinery on small blocks).
    pub const ALWAYS_SPECULATIVE: BlockStm = BlockStm {
        rules: SizeRules::NONE,
        serial_bail: false,
    };

    /// This configuration, starting blocks as `start` says (tests use a fixed
    /// [`Start::After`] to switch from sequential to parallel at a chosen transaction).
    pub const fn with_start(self, start: Start) -> BlockStm {
        BlockStm {
            rules: SizeRules {
                start,
                ..self.rules
            },
            ..self
        }
    }
}

impl Default for BlockStm {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The latest result of a transaction with the reads it was computed from.
struct TxResult {
    result: Result<(TxOutput, Option<U256>), ExecError>,
    reads: Vec<(Location, Value)>,
    /// A lazy plain transfer: the recipient's value the EVM saw (its real value before the
    /// credit when no lower transaction ever wrote it; otherwise the commit reads that). The
    /// recipient and the amount credited are the transaction's own.
    lazy_credit: Option<mv_memory::CodelessValue>,
    /// A lazy sender (the transaction's caller): see [`LazyDebit`].
    lazy_debit: Option<LazyDebit>,
    /// Whether the output's changes hold the beneficiary's info as the EVM left it (not as a
    /// lazy sender's stand-in): noted here, so that the commit need not search every
    /// transaction's changes for it.
    beneficiary_written: bool,
}

/// How long (in spin-loop hints, each some tens of cycles) the calling thread waits awake
/// for the pool's workers at the end of a block before letting the pool's scope put it to
/// sleep.
const END_SPINS: u32 = 256;

/// A worker tries to commit after every this many validations (see [`commit`]'s docs), and
/// when it runs out of tasks.
const COMMIT_EVERY: u32 = 8;

/// Statistics of the whole run, summed from each worker's [`Local`] counts when it stops.
#[derive(Default)]
struct Counters {
    executions: AtomicU64,
    validations: AtomicU64,
    aborts: AtomicU64,
    suspensions: AtomicU64,
}

/// One worker's counts (kept private so that counting costs no shared cache line per task).
#[derive(Default)]
struct Local {
    executions: u64,
    validations: u64,
    aborts: u64,
    suspensions: u64,
}

impl Counters {
    fn add(&self, l: &Local) {
        self.executions.fetch_add(l.executions, Relaxed);
        self.validations.fetch_add(l.validations, Relaxed);
        self.aborts.fetch_add(l.aborts, Relaxed);
        self.suspensions.fetch_add(l.suspensions, Relaxed);
    }
}

struct Shared<'a, 'b> {
    block: &'a Block,
    /// The transactions this run executes: the block's from `first` on (those below ran
    /// sequentially first, see [`start`]). Indices in the run are positions in `txs`; the
    /// block's own index, `first + i`, is what errors and block-level checks name.
    txs: &'a [crate::block::Transaction],
    first: TxIdx,
    base: &'b dyn StateView,
    mv: MvMemory<'a>,
    new_code: NewCode,
    scheduler: Scheduler,
    results: Vec<Mutex<Option<TxResult>>>,
    /// Whom a transaction should wait for before executing.
    hints: hints::Hints,
    /// Whether the block's configuration lets plain transfers run with lazy senders (revm's
    /// nonce, balance, fee and EIP-3607 checks all on: the commit re-runs exactly those).
    lazy_senders: bool,
    counters: Counters,
    /// Suspensions and aborts so far, for the serial bail-out (touched only on a conflict,
    /// so a block without conflicts never moves its line).
    conflicts: crossbeam_utils::CachePadded<AtomicUsize>,
    /// Whether the serial bail-out is on.
    serial_bail: bool,
    panic: Mutex<Option<String>>,
    /// The rolling commit, held by one worker at a time.
    commit: Mutex<commit::Committer>,
    /// Pool workers that have not returned from [`worker`] yet (see `execute_transactions`
    /// for why the calling thread waits on this rather than on the pool's scope alone).
    helpers_running: AtomicUsize,
}

impl Strategy for BlockStm {
    fn name(&self) -> &'static str {
        if self.rules != SizeRules::NONE || self.serial_bail {
            "block-stm"
        } else {
            "block-stm-speculative"
        }
    }

    fn description(&self) -> &'static str {
        "optimistic parallel execution with multi-version memory, validation and re-execution (Aptos Block-STM)"
    }

    fn execute_transactions(
        &self,
        block: &Block,
        state: &mut Overlay<'_>,
        workers: &Workers,
        stats: &mut ExecStats,
    ) -> Result<Vec<TxOutput>, ExecError> {
        let n = block.transactions.len();
        if n >= (1 << 31) - 1 {
            return Err(ExecError::Unsupported(format!(
                "block-stm: {n} transactions exceed the multi-version memory's 31-bit indices"
            )));
        }
        match self.rules.begin(block, state, workers.threads(), stats)? {
            Begin::Finished(outputs) => Ok(outputs),
            Begin::Parallel { before, took } => {
                let pace = commit::Pace::of(block, before.outputs.len(), took);
                self.run_parallel(block, before, pace, state, workers, stats)
            }
        }
    }
}

impl BlockStm {
    /// Runs the transactions after `before` (already applied to `state`) in parallel; returns
    /// the block's outputs, `before`'s first.
    fn run_parallel(
        &self,
        block: &Block,
        before: sequential::Progress,
        pace: Option<commit::Pace>,
        state: &mut Overlay<'_>,
        workers: &Workers,
        stats: &mut ExecStats,
    ) -> Result<Vec<TxOutput>, ExecError> {
        let first = before.outputs.len();
        let txs = &block.transactions[first..];
        let n = txs.len();
        // Wake the pool's threads now: a sleeping thread takes 5 to 30 µs to wake, which the
        // setup below hides in part (a small block's whole run is tens of microseconds).
        let threads = workers.threads().clamp(1, n);
        workers.wake(threads - 1);
        let state_clear = block.fork.spec_id().is_enabled_in(SpecId::SPURIOUS_DRAGON);
        let mv = MvMemory::new(
            txs,
            state_clear,
            block.header.beneficiary,
            !state.reads_are_cheap(),
        );
        let committer = commit::Committer::new(block, before, pace, &*state, &mv, state_clear)?;
        let shared = Shared {
            block,
            txs,
            first,
            base: &*state,
            mv,
            new_code: Default::default(),
            scheduler: Scheduler::new(n),
            results: (0..n).map(|_| Mutex::new(None)).collect(),
            hints: hints::Hints::empty(n),
            lazy_senders: {
                use revm::context_interface::Cfg as _;
                let cfg = block.cfg_env();
                !(cfg.is_nonce_check_disabled()
                    || cfg.is_balance_check_disabled()
                    || cfg.is_fee_charge_disabled()
                    || cfg.is_eip3607_disabled())
            },
            counters: Counters::default(),
            conflicts: Default::default(),
            serial_bail: self.serial_bail,
            panic: Mutex::new(None),
            commit: Mutex::new(committer),
            helpers_running: AtomicUsize::new(threads - 1),
        };
        // The calling thread is one of the workers; the others are the engine's helpers.
        // It first works out the scheduling hints, while the others already execute (a
        // transaction whose hints are not known yet just runs speculatively; see [`hints`]).
        let build_and_work = || {
            // (A panic while building stops the run like a worker's: readers waiting for the
            // lazy-write index give up instead of waiting forever.)
            let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                shared.hints.build(
                    txs,
                    block.header.beneficiary,
                    block.fork,
                    &shared.mv.lazy,
                    &shared.mv.keyed,
                )
            }));
            if let Err(payload) = built {
                shared
                    .panic
                    .lock()
                    .get_or_insert_with(|| panic_message(payload.as_ref()));
                shared.mv.lazy.fail();
                shared.scheduler.halt();
            }
            worker(&shared);
        };
        if threads == 1 {
            build_and_work();
        } else {
            let help = || {
                worker(&shared);
                shared.helpers_running.fetch_sub(1, Release);
            };
            workers.scope(threads - 1, help, || {
                build_and_work();
                // The end of the scope puts this thread to sleep until the pool's workers have
                // signalled that their jobs returned, and on the reference VM waking it up
                // again took 20 to 30 µs: a tenth of a small block. The workers see the block
                // done at about the same moment as this thread, so it commits what is left and
                // waits a few microseconds for them awake; the scope then usually finds them
                // gone and returns at once. (Only a few: spinning longer, while a worker had
                // not even started — its thread still waking — took its virtual CPU's time
                // away on the reference VM and made small blocks ten times slower.)
                shared.commit.lock().commit_ready(&shared);
                for _ in 0..END_SPINS {
                    if shared.helpers_running.load(Acquire) == 0 {
                        break;
                    }
                    std::hint::spin_loop();
                }
            });
        }
        if let Some(message) = shared.panic.lock().take() {
            return Err(ExecError::Panic {
                strategy: self.name().into(),
                message,
            });
        }
        let c = &shared.counters;
        let executions = c.executions.load(Relaxed);
        stats.executions += executions;
        stats.re_executions = executions.saturating_sub(n as u64);
        stats.count("validations", c.validations.load(Relaxed));
        stats.count("aborts", c.aborts.load(Relaxed));
        stats.count("suspensions", c.suspensions.load(Relaxed));
        // What the workers left to commit (usually the last few transactions).
        shared.commit.lock().commit_ready(&shared);
        let Shared { commit, mv, .. } = shared;
        let committer = commit.into_inner();
        if committer.bailed() {
            // Serial: what is committed is final; the rest runs sequentially on top of it.
            mv.free(workers);
            let mut done = committer.into_progress()?;
            for out in &done.outputs[first..] {
                state.apply(&out.changes);
            }
            stats.fallbacks += 1;
            sequential::run_while(block, state, &mut done, stats, |_| true)?;
            return Ok(done.outputs);
        }
        let outputs = committer.finish(first + n)?;
        // (The parallel part's own outputs: the start's changes are in `state` already.)
        let ran = &outputs[first..];
        // The post-block operations read the state after the transactions. Sequential
        // execution has it anyway; here it is built only for the accounts they read, when
        // those are known (rewards and withdrawals only credit known accounts).
        match crate::core::post_block_reads(block) {
            Some(accounts) => {
                for address in accounts {
                    if let Some(change) = last_change(ran, &mv, address, block)? {
                        state.apply(&StateChanges::from([(address, change.clone())]));
                    }
                }
            }
            None => {
                for out in ran {
                    state.apply(&out.changes);
                }
            }
        }
        mv.free(workers);
        Ok(outputs)
    }
}

/// The last change any transaction made to `address`, which holds the account's complete info after
/// the transactions (its storage is not needed: the post-block operations only credit balances).
/// The transactions that changed an account's info are those with an entry in the final
/// multi-version memory (lazy ones as credits and debits in their records; a change that left the
/// info as read has no entry, see [`AccountReads::unchanged`](view::AccountReads::unchanged), and needs none: the info after it is
/// the info before it), tried from the highest down: a lazy credit that the commit found to change
/// nothing left no change. The beneficiary's fees are not in the memory: its last change is found
/// walking back from the block's end, where it is almost always the last transaction's fee.
fn last_change<'o>(
    outputs: &'o [TxOutput],
    mv: &MvMemory<'_>,
    address: alloy_primitives::Address,
    block: &Block,
) -> Result<Option<&'o AccountChange>, ExecError> {
    if address == block.header.beneficiary {
        return Ok(outputs.iter().rev().find_map(|o| o.changes.get(&address)));
    }
    Ok(mv
        .account_writers(address)?
        .into_iter()
        .rev()
        .find_map(|j| outputs.get(j)?.changes.get(&address)))
}

/// One worker: takes tasks until the block is done. A panic halts every worker and is
/// reported instead of leaving the others waiting for a task that never finishes.
fn worker(shared: &Shared<'_, '_>) {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let view = TxView {
            mv: &shared.mv,
            base: shared.base,
            new_code: &shared.new_code,
            txn: 0,
            reads: Vec::new(),
            blocked: None,
            lazy: None,
            lazy_seen: None,
            lazy_prefetched: None,
            lazy_sender: None,
            lazy_sender_served: false,
            lazy_sender_spoiled: false,
            lazy_sender_seen: None,
            code_cache: Default::default(),
        };
        let mut exec = TxExecutor::new(shared.block, view);
        let mut task: Option<Task> = None;
        let mut idle = 0u32;
        let mut validated = 0u32;
        let mut local = Local::default();
        while !shared.scheduler.done() {
            task = match task {
                Some(Task::Execute(i, k)) => execute(shared, &mut exec, &mut local, i, k),
                Some(Task::Validate(i, k, wave)) => {
                    let next = validate(shared, &mut local, i, k, wave);
                    // Commit what the validations made final (unless another worker is
                    // committing: it goes on as far as it can), every few validations.
                    validated += 1;
                    if validated.is_multiple_of(COMMIT_EVERY)
                        && let Some(mut committer) = shared.commit.try_lock()
                    {
                        committer.commit_ready(shared);
                    }
                    next
                }
                None => {
                    let next = shared.scheduler.next_task();
                    if next.is_some() {
                        idle = 0;
                    } else if idle < 10 {
                        if idle == 0
                            && let Some(mut committer) = shared.commit.try_lock()
                        {
                            // Nothing to do for now: commit what is final meanwhile.
                            committer.commit_ready(shared);
                        }
                        // Work usually appears within microseconds: spin briefly, backing
                        // off exponentially (each look at the scheduler's indices pulls their
                        // cache line away from the workers that are busy updating them) ...
                        for _ in 0..(1u32 << idle) {
                            std::hint::spin_loop();
                        }
                        idle += 1;
                    } else {
                        // ... then give the core away (with more workers than cores,
                        // spinning would starve the busy ones).
                        std::thread::yield_now();
                    }
                    next
                }
            };
        }
        shared.counters.add(&local);
    }));
    if let Err(payload) = run {
        shared
            .panic
            .lock()
            .get_or_insert_with(|| panic_message(payload.as_ref()));
        shared.scheduler.halt();
    }
}

fn execute(
    shared: &Shared<'_, '_>,
    exec: &mut TxExecutor<TxView<'_>>,
    local: &mut Local,
    i: TxIdx,
    k: Incarnation,
) -> Option<Task> {
    let tx = &shared.txs[i];
    let beneficiary = shared.block.header.beneficiary;
    let mut lazy = lazy_recipient(tx, beneficiary, shared.block.fork);
    // A plain transfer to a contract (an exchange's deposit address, WETH) runs the contract's
    // code, so nothing about it is lazy. Found out inside the EVM, after the sender was already
    // given its stand-in value, it would cost a second execution; one look first saves that.
    // (Only a shortcut: a recipient that looks codeless here is checked again, and recorded,
    // when the EVM reads it.)
    // (The value read is handed to the view: the EVM's own read of the recipient, a moment
    // later, would read the same location again; either read is validated the same way.)
    let mut prefetched = None;
    if let Some(to) = lazy
        && let Ok(mv_memory::ReadResult::Value(Value::Account(v))) =
            shared.mv.read_codeless(to, i, shared.base)
    {
        if mv_memory::codeless(&v) {
            prefetched = Some(v);
        } else {
            lazy = None;
        }
    }
    let mut lazy_sender = lazy.is_some() && shared.lazy_senders && lazy_sender_eligible(tx);
    // A known dependency: the sender's previous transaction sets the nonce this one needs.
    // Executing before it has executed would only produce a nonce error to throw away (a
    // lazy sender does not read the nonce: the commit checks it). A learned one: the previous
    // caller of a contract whose callers keep aborting (see [`hints`]).
    // A third, known one: a transaction sent by the beneficiary, or paying it (not lazily),
    // reads the beneficiary in full, which sums the fees of every transaction below it (a
    // mining pool paying out from its own address): it waits until all of them executed once,
    // rather than read a partial sum, abort, and turn the beneficiary into an ESTIMATE that
    // suspends every transaction above it.
    let pending = |j: &TxIdx| !shared.scheduler.is_executed(*j);
    let reads_beneficiary = !lazy_sender
        && (tx.env.caller == beneficiary
            || tx.env.kind == revm::primitives::TxKind::Call(beneficiary));
    let wait_for = (!lazy_sender)
        .then(|| shared.hints.same_sender(i))
        .flatten()
        .filter(pending)
        .or_else(|| shared.hints.hot_predecessor(i).filter(pending))
        .or_else(|| {
            reads_beneficiary
                .then(|| shared.scheduler.executed_prefix())
                .filter(|p| *p < i)
        });
    if let Some(j) = wait_for
        && shared.scheduler.add_dependency(i, j)
    {
        local.suspensions += 1;
        shared.conflicts.fetch_add(1, Relaxed);
        return None;
    }
    loop {
        let view = exec.db_mut();
        view.reset(i, lazy);
        view.lazy_prefetched = prefetched.take().filter(|_| lazy.is_some());
        view.set_lazy_sender(lazy_sender.then_some((tx.env.caller, tx.env.nonce)));
        local.executions += 1;
        let mut result = exec.execute_deferring_fee(shared.first + i, tx, 0);
        let view = exec.db_mut();
        if let Some(blocking) = view.blocked.take() {
            local.suspensions += 1;
            shared.conflicts.fetch_add(1, Relaxed);
            shared.hints.conflicted(i);
            if shared.scheduler.add_dependency(i, blocking) {
                return None;
            }
            continue; // the blocking transaction finished meanwhile: run again now
        }
        if view.lazy_sender_spoiled {
            lazy_sender = false;
            continue;
        }
        let lazy_used = view.lazy.filter(|to| {
            view.reads
                .iter()
                .any(|(l, v)| *l == Location::Account(*to) && *v == Value::Codeless)
        });
        let mut lazy_credit = None;
        if let (Some(to), Ok((out, _))) = (lazy_used, &mut result) {
            if !out.receipt.success {
                // Cannot happen for a plain transfer to a codeless account; if it does, run
                // again reading the recipient for real rather than trust a speculative value.
                lazy = None;
                lazy_sender = false;
                continue;
            }
            // Its entry in the changes stays (the commit overwrites it with the credited value):
            // replacing a value in place is cheaper than removing and re-inserting the key.
            // (Always codeless: `lazy_used` means the recipient was read as such.)
            let Some(seen) = mv_memory::CodelessValue::of(view.lazy_seen) else {
                lazy = None;
                lazy_sender = false;
                continue;
            };
            lazy_credit = Some((to, seen));
        }
        let mut lazy_debit = None;
        if view.lazy_sender_served
            && let Ok((out, _)) = &mut result
        {
            let caller = tx.env.caller;
            // What the transfer took from the stand-in balance, and the nonce it left.
            lazy_debit = match out.changes.get(&caller).and_then(|c| c.info) {
                Some((balance, nonce, _)) if lazy_credit.is_some() => view::LAZY_SENDER_BALANCE
                    .checked_sub(balance)
                    .zip(mv_memory::CodelessValue::of(view.lazy_sender_seen))
                    .map(|(cost, seen)| LazyDebit { cost, nonce, seen }),
                _ => None,
            };
            if lazy_debit.is_none() {
                // Not the plain transfer it looked like: run again reading the sender.
                lazy_sender = false;
                continue;
            }
        }
        // The buffer for the next execution starts at this one's size, so that a worker does
        // not regrow it read by read on every transaction.
        let size = view.reads.len();
        let reads = std::mem::replace(&mut view.reads, Vec::with_capacity(size));
        let mut writes = mv_memory::Writes::new();
        if let Ok((out, _)) = &result {
            let locations: usize = out.changes.values().map(|c| 2 + c.storage.len()).sum();
            writes.reserve_exact(locations);
        }
        let mut lazy_writes = mv_memory::LazyWrites::new();
        if let Some((to, _)) = lazy_credit {
            lazy_writes.push((to, mv_memory::Delta::Credit(tx.env.value)));
        }
        if let Some(LazyDebit { cost, nonce, .. }) = lazy_debit {
            let debit = mv_memory::Delta::Debit {
                amount: cost,
                nonce,
            };
            lazy_writes.push((tx.env.caller, debit));
        }
        let mut beneficiary_written = false;
        if let Ok((out, _)) = &result {
            // Lazy accounts' entries hold stand-in values until the commit: their writes are the
            // credit and the debit above.
            let lazy_from = lazy_debit.map(|_| tx.env.caller);
            let lazy_to = lazy_credit.map(|(to, _)| to);
            let read_infos = AccountReads::new(&reads, out.changes.len());
            for (address, change) in &out.changes {
                if Some(*address) == lazy_from || Some(*address) == lazy_to {
                    continue;
                }
                beneficiary_written |= *address == beneficiary;
                // The sender's account, when no lower transaction ever wrote it, goes in as a
                // debit: see [`sender_debit`].
                let debit = (*address == tx.env.caller && !change.storage_cleared)
                    .then(|| {
                        sender_debit(&shared.mv, beneficiary, *address, i, &read_infos, change)
                    })
                    .flatten();
                if let Some(debit) = debit {
                    lazy_writes.push((*address, debit));
                } else if change.storage_cleared
                    || *address == beneficiary
                    || !read_infos.unchanged(*address, &change.info)
                {
                    // An account whose info the transaction left as it read it (a token
                    // contract whose storage changed) is not written: see
                    // [`AccountReads::unchanged`].
                    writes.push((Location::Account(*address), Write::Account(change.info)));
                }
                if change.storage_cleared {
                    writes.push((Location::StorageWipe(*address), Write::Wipe));
                }
                for (slot, value) in &change.storage {
                    writes.push((Location::Storage(*address, *slot), Write::Storage(*value)));
                }
                // New code is shared with the other workers. Code this worker already ran is
                // known to all of them (it came from the pre-block state or the shared map):
                // its own cache answers without the shared lock, whose every read would pull
                // the lock's line from the other core (every ERC-20 transfer changes a
                // contract, and carries its code).
                if let (Some(code), Some((_, _, hash))) = (&change.code, change.info)
                    && !view.code_cache.contains_key(&hash)
                    && !shared.new_code.read().contains_key(&hash)
                {
                    shared.new_code.write().insert(hash, code.clone());
                }
            }
        }
        let fee = result.as_ref().ok().and_then(|(_, fee)| *fee);
        let wrote_new = shared.mv.record(i, &mut writes, lazy_writes, fee);
        *shared.results[i].lock() = Some(TxResult {
            result,
            reads,
            lazy_credit: lazy_credit.map(|(_, seen)| seen),
            lazy_debit,
            beneficiary_written,
        });
        return shared.scheduler.finish_execution(i, k, wrote_new);
    }
}

fn validate(
    shared: &Shared<'_, '_>,
    local: &mut Local,
    i: TxIdx,
    k: Incarnation,
    wave: Wave,
) -> Option<Task> {
    local.validations += 1;
    let valid = match &*shared.results[i].lock() {
        None => false,
        Some(r) => r.reads.iter().all(|(loc, seen)| {
            shared.mv.never_written_below(loc, i)
                || matches!((loc, seen), (Location::Account(a), Value::Codeless)
                    if shared.mv.never_fully_written_below(*a, i))
                || matches!(shared.mv.reread(loc, seen, i, shared.base),
                    Ok(mv_memory::ReadResult::Value(v)) if seen.accepts(&v))
        }),
    };
    let aborted = !valid && shared.scheduler.try_validation_abort(i, k);
    if aborted {
        local.aborts += 1;
        shared.conflicts.fetch_add(1, Relaxed);
        shared.hints.conflicted(i);
        shared.mv.convert_writes_to_estimates(i);
    }
    shared.scheduler.finish_validation(i, k, wave, aborted)
}
