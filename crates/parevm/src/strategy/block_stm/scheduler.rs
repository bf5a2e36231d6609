//! The collaborative scheduler of Block-STM (Gelashvili et al., "Block-STM: Scaling Blockchain
//! Execution by Turning Ordering Curse to a Performance Blessing", 2022), as in Aptos.
//!
//! Worker threads ask for tasks: *execute* transaction `i` (incarnation `k`) or *validate* it.
//! Two shared indices hand out work in block order, lowest first, so that the lower (winning)
//! transactions of every conflict settle first.
//!
//! # State machine of a transaction
//!
//! ```text
//!            try_incarnate              finish_execution               try_commit
//! ReadyToExecute(k) ──────► Executing(k) ──────────────► Executed(k) ──────────► Committed(k)
//!      ▲                        │                            │
//!      │ resume (k+1)           │ add_dependency             │ try_validation_abort
//!      │                        ▼                            ▼
//!      └─────────────────── Aborting(k) ◄────────────────────┘
//!         (set_ready_status: k+1, after the blocking transaction executes,
//!          or right after a failed validation; the lowest transaction waiting on a
//!          finished one goes straight from Aborting(k) to Executing(k+1) on the
//!          worker that finished it)
//! ```
//!
//! `Committed` is final: the transaction's result is settled and handed to the block's output
//! while its data is still in cache (see `commit`), and nothing aborts it any more.
//!
//! # Rolling commit: waves
//!
//! Every time the validation index moves down, a new *wave* starts (the wave number lives in
//! the high half of the same atomic word as the index, so that a validation task knows the
//! wave it was handed out in). Per transaction, under its status lock:
//! - `triggered_wave`: the highest wave started by moving the index down *to* it;
//! - `required_wave`: for an incarnation handed its validation straight from
//!   `finish_execution`, the wave current then (an earlier incarnation's validations do not
//!   count: validations are also recorded with their incarnation);
//! - `validated`: the highest wave in which the current incarnation passed validation.
//!
//! The committer (one worker at a time) keeps `commit_wave`, the highest `triggered_wave` of
//! the transactions up to the one it looks at, and commits transaction `i` (the lowest not
//! committed) when it is `Executed` and its current incarnation passed a validation handed out
//! in a wave `>= max(commit_wave, required_wave)`. This is Aptos's rule, and why it is right:
//! a validation handed out in wave `w` found the index above `i`; any later change by a lower
//! transaction — an abort (its writes become ESTIMATEs) or a re-execution writing a new
//! location — moves the index down to at most `i` and so starts a wave `> w`, recorded at a
//! transaction `<= i`, which `commit_wave` picks up before `i` is looked at. (A re-execution
//! writing only locations it wrote before follows an abort, which already did.) So a validation
//! counted for `i` started after the last change of every lower transaction: with all of them
//! committed, it compared `i`'s reads with their final writes, and `i`'s result is
//! sequential's. The moves that start a wave are recorded before the transaction concerned can
//! be committed: `finish_execution` holds the status lock from setting `Executed` to recording,
//! and a failed validation records at `i + 1` while `i` is still `Aborting`.
//!
//! # The atomics
//!
//! - `execution_idx`: the next transaction to try executing. Only moves down
//!   (`decrease_execution_idx`) when a suspended transaction resumes.
//! - `validation_idx`: the next transaction to validate (low 32 bits) and the current wave
//!   (high 32 bits). The index moves down to `i` when `i` wrote a location its previous
//!   incarnation did not (everything above may have read stale data), and to `i + 1` when `i`
//!   aborts (everything above must re-check its reads); each move starts a wave.
//! - `executed_prefix`: every transaction below it has finished at least one execution
//!   (`ever_executed`). Only grows; advanced by whichever worker finishes the transaction at it,
//!   walking on over transactions already finished. Validation is handed out only below it:
//!   validating `j` before every lower transaction wrote its first results would only be
//!   redone — each first execution writes new locations and sends the validation index back —
//!   and on blocks of cheap independent transactions that doubled the validations. (Only when
//!   validations run changes; a transaction is still validated after its last incarnation and
//!   after every lower transaction's, which is what correctness needs.)
//! - `commit_idx`: the lowest transaction not committed. Only grows; written only by the
//!   worker holding the commit lock.
//! - `decrease_cnt`: bumped on every decrease, so that [`Scheduler::check_done`] can tell
//!   that no index moved while it looked.
//! - `num_active_tasks`: tasks handed out and not finished. Done means both indices are past
//!   the end, no task is active, and `decrease_cnt` did not change meanwhile.
//! - `done_marker`: set once done (or halted after a worker panic or a committed error); every
//!   worker then stops.
//!
//! The indices and counters above (`commit_idx` and `done_marker` aside) share one cache line.
//! Both workers write every one of them, so lines of their own only multiplied the transfers
//! between the cores: handing out a task reads three of them and writes two, and with a line
//! each that moved up to five lines, with one line it moves one (3% off 1-Ggas transfers at two
//! threads). `commit_idx`, which only the committer reads and writes, on every commit, has a
//! line of its own: in the shared line its writes pulled that line away from the other worker
//! once per transaction. So does
//! `done_marker`, read by every worker on every task and written once.
//!
//! Each transaction's status, incarnation and waves live under one mutex, in a cache line of
//! its own with its `ever_executed` flag (the workers take neighbouring transactions at the
//! same time: sharing lines, their status changes moved the line between the cores); its dependents (suspended transactions waiting for it) under
//! another, with a flag under the first saying whether the list may be non-empty, so that
//! finishing a transaction nobody waits for (almost all of them) takes one lock, not two. The
//! lock order is dependents, then status.

use super::sync::{AtomicBool, AtomicU64, AtomicUsize, Mutex};
use crossbeam_utils::CachePadded;
use std::sync::atomic::Ordering::SeqCst;

/// Transaction index in the block.
pub(crate) type TxIdx = usize;

/// `i` as stored in a 32-bit field (blocks have fewer than 2^31 transactions: the strategy
/// refuses larger ones).
pub(crate) fn tx_u32(i: TxIdx) -> u32 {
    debug_assert!(i < u32::MAX as usize);
    i as u32
}
/// Execution attempt of a transaction, from 0.
pub(crate) type Incarnation = u32;
/// A validation wave (see the module docs).
pub(crate) type Wave = u32;

/// The validation index and wave as stored in one word.
fn pack(i: TxIdx, wave: Wave) -> u64 {
    (wave as u64) << 32 | i as u64
}

/// The validation index and wave of a stored word.
fn unpack(v: u64) -> (TxIdx, Wave) {
    ((v & 0xffff_ffff) as TxIdx, (v >> 32) as Wave)
}

/// Work handed to a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Task {
    /// Execute this incarnation.
    Execute(TxIdx, Incarnation),
    /// Validate this incarnation's reads (handed out in this wave).
    Validate(TxIdx, Incarnation, Wave),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    ReadyToExecute,
    Executing,
    Executed,
    Aborting,
    Committed,
}

#[derive(Debug)]
struct TxStatus {
    incarnation: Incarnation,
    status: Status,
    /// The incarnation that last passed a validation, and the highest wave it passed in.
    validated: Option<(Incarnation, Wave)>,
    /// The lowest wave a validation of the current incarnation must be from to count.
    required_wave: Wave,
    /// The highest wave started by moving the validation index down to this transaction.
    triggered_wave: Wave,
    /// A transaction was added to the dependents since they were last taken (set by
    /// `add_dependency` under this lock while it holds the dependents' lock; cleared by
    /// `finish_execution` under this lock before it takes them).
    has_dependents: bool,
}

impl TxStatus {
    /// Whether an incarnation's result is in (executed, perhaps committed).
    fn executed(&self) -> bool {
        matches!(self.status, Status::Executed | Status::Committed)
    }
}

/// The shared scheduler of one block. The block size and the first five indices and counters
/// below share one cache line (`repr(C)`, in this order), which every task handed out reads
/// and writes; `commit_idx` (the committer's alone) and `done_marker` (polled between tasks)
/// have a line each. See the module docs for why.
#[repr(C, align(64))]
pub(crate) struct Scheduler {
    n: usize,
    execution_idx: AtomicUsize,
    validation_idx: AtomicU64,
    num_active_tasks: AtomicUsize,
    executed_prefix: AtomicUsize,
    /// Changes rarely (on a re-execution or a resumption): not worth a line of its own.
    decrease_cnt: AtomicUsize,
    /// Read on every commit attempt; written by the committer only.
    commit_idx: CachePadded<AtomicUsize>,
    done_marker: CachePadded<AtomicBool>,
    dependents: Vec<Mutex<Vec<TxIdx>>>,
    /// A cache line per transaction: the workers take consecutive transactions, so two
    /// transactions' entries sharing a line would move it between the cores on every change.
    status: Vec<TxLine>,
}

// The indices and counters are in the scheduler's first cache line (with the engine's atomics,
// not the model checker's, which are larger).
const _: () = assert!(
    std::mem::size_of::<AtomicUsize>() != 8
        || std::mem::offset_of!(Scheduler, decrease_cnt) + 8 <= 64
);

/// A transaction's status and whether it ever finished an execution, alone in a cache line.
#[repr(align(64))]
struct TxLine {
    status: Mutex<TxStatus>,
    /// It finished an execution at least once (read without the lock by
    /// `advance_executed_prefix`).
    ever_executed: AtomicBool,
}

impl std::ops::Deref for TxLine {
    type Target = Mutex<TxStatus>;
    fn deref(&self) -> &Mutex<TxStatus> {
        &self.status
    }
}

impl Scheduler {
    pub(crate) fn new(n: usize) -> Self {
        Scheduler {
            n,
            execution_idx: AtomicUsize::new(0),
            validation_idx: AtomicU64::new(0),
            num_active_tasks: AtomicUsize::new(0),
            executed_prefix: AtomicUsize::new(0),
            commit_idx: CachePadded::new(AtomicUsize::new(0)),
            decrease_cnt: AtomicUsize::new(0),
            done_marker: CachePadded::new(AtomicBool::new(n == 0)),
            dependents: (0..n).map(|_| Mutex::new(Vec::new())).collect(),
            status: (0..n)
                .map(|_| TxLine {
                    status: Mutex::new(TxStatus {
                        incarnation: 0,
                        status: Status::ReadyToExecute,
                        validated: None,
                        required_wave: 0,
                        triggered_wave: 0,
                        has_dependents: false,
                    }),
                    ever_executed: AtomicBool::new(false),
                })
                .collect(),
        }
    }

    /// True once every transaction is executed and validated (or the run was halted).
    pub(crate) fn done(&self) -> bool {
        self.done_marker.load(SeqCst)
    }

    /// Stops every worker (after a panic elsewhere).
    pub(crate) fn halt(&self) {
        self.done_marker.store(true, SeqCst);
    }

    fn decrease_execution_idx(&self, target: TxIdx) {
        self.execution_idx.fetch_min(target, SeqCst);
        self.decrease_cnt.fetch_add(1, SeqCst);
    }

    /// The validation index (without the wave).
    fn validation_idx(&self) -> TxIdx {
        unpack(self.validation_idx.load(SeqCst)).0
    }

    /// Moves the validation index down to `target` if it is above, starting a new wave, which
    /// is returned; the caller records it at `target` (see the module docs for when).
    fn decrease_validation_idx(&self, target: TxIdx) -> Option<Wave> {
        let mut current = self.validation_idx.load(SeqCst);
        loop {
            let (i, wave) = unpack(current);
            if i <= target {
                return None;
            }
            match self.validation_idx.compare_exchange(
                current,
                pack(target, wave + 1),
                SeqCst,
                SeqCst,
            ) {
                Ok(_) => {
                    self.decrease_cnt.fetch_add(1, SeqCst);
                    return Some(wave + 1);
                }
                Err(now) => current = now,
            }
        }
    }

    /// [`Scheduler::decrease_validation_idx`] recording the wave at `target` (when it is a
    /// transaction), taking its status lock.
    fn decrease_validation_idx_and_record(&self, target: TxIdx) {
        if let Some(wave) = self.decrease_validation_idx(target)
            && let Some(s) = self.status.get(target)
        {
            let mut s = s.lock();
            s.triggered_wave = s.triggered_wave.max(wave);
        }
    }

    fn check_done(&self) {
        let observed = self.decrease_cnt.load(SeqCst);
        if self.execution_idx.load(SeqCst).min(self.validation_idx()) >= self.n
            && self.num_active_tasks.load(SeqCst) == 0
            && observed == self.decrease_cnt.load(SeqCst)
        {
            self.done_marker.store(true, SeqCst);
        }
    }

    /// Moves `i` from ReadyToExecute to Executing; otherwise ends the caller's task.
    fn try_incarnate(&self, i: TxIdx) -> Option<Task> {
        if i < self.n {
            let mut s = self.status[i].lock();
            if s.status == Status::ReadyToExecute {
                s.status = Status::Executing;
                return Some(Task::Execute(i, s.incarnation));
            }
        }
        self.num_active_tasks.fetch_sub(1, SeqCst);
        None
    }

    fn next_version_to_execute(&self) -> Option<Task> {
        if self.execution_idx.load(SeqCst) >= self.n {
            self.check_done();
            return None;
        }
        self.num_active_tasks.fetch_add(1, SeqCst);
        let i = self.execution_idx.fetch_add(1, SeqCst);
        self.try_incarnate(i)
    }

    /// Advances `executed_prefix` over every finished transaction from where it is.
    fn advance_executed_prefix(&self) {
        loop {
            let p = self.executed_prefix.load(SeqCst);
            if p >= self.n || !self.status[p].ever_executed.load(SeqCst) {
                return;
            }
            // Another worker may advance it meanwhile: either way it moves on.
            let _ = self
                .executed_prefix
                .compare_exchange(p, p + 1, SeqCst, SeqCst);
        }
    }

    fn next_version_to_validate(&self) -> Option<Task> {
        let v = self.validation_idx();
        if v >= self.n {
            self.check_done();
            return None;
        }
        if v >= self.executed_prefix.load(SeqCst) {
            return None; // a lower transaction has not executed yet
        }
        self.num_active_tasks.fetch_add(1, SeqCst);
        // (The index never nears 2^32: it stops at most `threads` past `n < 2^31`.)
        let (i, wave) = unpack(self.validation_idx.fetch_add(1, SeqCst));
        if i < self.n {
            let s = self.status[i].lock();
            if s.status == Status::Executed {
                return Some(Task::Validate(i, s.incarnation, wave));
            }
        }
        self.num_active_tasks.fetch_sub(1, SeqCst);
        None
    }

    /// The next task, validation first when it lags behind execution.
    pub(crate) fn next_task(&self) -> Option<Task> {
        let v = self.validation_idx();
        let e = self.execution_idx.load(SeqCst);
        if v < e.min(self.executed_prefix.load(SeqCst)) {
            return self.next_version_to_validate();
        }
        if e >= self.n && v < self.n {
            // Nothing left to execute: what remains is validations (perhaps still gated).
            return self.next_version_to_validate();
        }
        self.next_version_to_execute()
    }

    /// The lowest transaction that has not finished an execution yet (`n` once all have).
    pub(crate) fn executed_prefix(&self) -> TxIdx {
        self.executed_prefix.load(SeqCst)
    }

    /// True if the latest incarnation's result of `i` is in: `i` is executed (or being
    /// validated, or committed).
    pub(crate) fn is_executed(&self, i: TxIdx) -> bool {
        self.status[i].lock().executed()
    }

    /// Suspends `i`, which read an ESTIMATE written by `blocking`, until `blocking` executes.
    /// Returns false if `blocking` already executed: the caller re-executes `i` at once.
    pub(crate) fn add_dependency(&self, i: TxIdx, blocking: TxIdx) -> bool {
        let mut deps = self.dependents[blocking].lock();
        {
            let mut b = self.status[blocking].lock();
            if b.executed() {
                return false;
            }
            b.has_dependents = true;
        }
        self.status[i].lock().status = Status::Aborting;
        deps.push(i);
        self.num_active_tasks.fetch_sub(1, SeqCst);
        true
    }

    fn set_ready_status(&self, i: TxIdx) {
        let mut s = self.status[i].lock();
        s.incarnation += 1;
        s.status = Status::ReadyToExecute;
    }

    /// [`Scheduler::try_incarnate`] for a test that drives a re-execution by hand.
    #[cfg(test)]
    fn try_incarnate_for_test(&self, i: TxIdx) -> Option<Task> {
        self.num_active_tasks.fetch_add(1, SeqCst);
        self.try_incarnate(i)
    }

    /// The lowest transaction not committed yet (`n` once all are).
    #[cfg(test)]
    fn commit_idx(&self) -> TxIdx {
        self.commit_idx.load(SeqCst)
    }

    /// For the committer (one worker at a time; `commit_wave` is its own, from 0): commits
    /// the lowest uncommitted transaction if its result is final (see the module docs) and
    /// returns it.
    pub(crate) fn try_commit(&self, commit_wave: &mut Wave) -> Option<TxIdx> {
        let i = self.commit_idx.load(SeqCst);
        let mut s = self.status.get(i)?.lock();
        *commit_wave = (*commit_wave).max(s.triggered_wave);
        match s.validated {
            Some((k, wave))
                if s.status == Status::Executed
                    && k == s.incarnation
                    && wave >= s.required_wave.max(*commit_wave) =>
            {
                s.status = Status::Committed;
                self.commit_idx.store(i + 1, SeqCst);
                Some(i)
            }
            _ => None,
        }
    }

    /// Records that incarnation `k` of `i` executed. `wrote_new_location` says whether it
    /// wrote a location the previous incarnation did not. May hand back a validation task.
    pub(crate) fn finish_execution(
        &self,
        i: TxIdx,
        k: Incarnation,
        wrote_new_location: bool,
    ) -> Option<Task> {
        // (Under the status lock from `Executed` to recording the wave it starts, if any: the
        // committer must not see the one without the other.)
        let (validate_now, has_dependents) = {
            let mut s = self.status[i].lock();
            s.status = Status::Executed;
            let has_dependents = std::mem::take(&mut s.has_dependents);
            let (v, wave) = unpack(self.validation_idx.load(SeqCst));
            let validate_now = if v <= i {
                None // the validation index will reach it
            } else if wrote_new_location {
                if let Some(wave) = self.decrease_validation_idx(i) {
                    s.triggered_wave = s.triggered_wave.max(wave);
                }
                None
            } else {
                s.required_wave = wave;
                Some(wave)
            };
            (validate_now, has_dependents)
        };
        if !self.status[i].ever_executed.swap(true, SeqCst) {
            self.advance_executed_prefix();
        }
        // (Without the flag, nobody was added since the last take, and nobody can be now: a
        // dependency is added only while `i` is not executed.)
        let mut deps = if has_dependents {
            std::mem::take(&mut *self.dependents[i].lock())
        } else {
            Vec::new()
        };
        deps.sort_unstable();
        if let Some((&first, rest)) = deps.split_first() {
            for &d in rest {
                self.set_ready_status(d);
            }
            if let Some(&min) = rest.first() {
                self.decrease_execution_idx(min);
            }
            // Hand the lowest resumed transaction straight to this worker: a nonce chain then
            // runs back to back on one warm core instead of sending every worker back through
            // the execution index. `i` still gets validated, through the validation index.
            let k = {
                let mut s = self.status[first].lock();
                s.incarnation += 1;
                s.status = Status::Executing;
                s.incarnation
            };
            if validate_now.is_some() {
                self.decrease_validation_idx_and_record(i);
            }
            return Some(Task::Execute(first, k));
        }
        if let Some(wave) = validate_now {
            return Some(Task::Validate(i, k, wave));
        }
        self.num_active_tasks.fetch_sub(1, SeqCst);
        None
    }

    /// Claims the abort of incarnation `k` of `i` after a failed validation. Only the first
    /// failing validation of an incarnation wins.
    pub(crate) fn try_validation_abort(&self, i: TxIdx, k: Incarnation) -> bool {
        let mut s = self.status[i].lock();
        if s.incarnation == k && s.status == Status::Executed {
            s.status = Status::Aborting;
            true
        } else {
            false
        }
    }

    /// Ends the validation of incarnation `k` of `i`, handed out in `wave`: records a pass,
    /// or after an abort schedules re-validation of everything above `i` and possibly hands
    /// back the re-execution of `i`.
    pub(crate) fn finish_validation(
        &self,
        i: TxIdx,
        k: Incarnation,
        wave: Wave,
        aborted: bool,
    ) -> Option<Task> {
        if aborted {
            // (Recorded while `i` is still Aborting: nothing above it can commit before.)
            self.decrease_validation_idx_and_record(i + 1);
            self.set_ready_status(i);
            if self.execution_idx.load(SeqCst) > i {
                return self.try_incarnate(i);
            }
        } else {
            let mut s = self.status[i].lock();
            if s.incarnation == k && s.status == Status::Executed {
                s.validated = Some(match s.validated {
                    Some((v, w)) if v == k => (k, w.max(wave)),
                    _ => (k, wave),
                });
            }
        }
        self.num_active_tasks.fetch_sub(1, SeqCst);
        None
    }
}

#[cfg(all(test, not(parevm_model)))]
mod tests {
    use super::*;

    /// Drives the scheduler single-threaded through a suspension: tx 1 reads an ESTIMATE of
    /// tx 0, waits, resumes as incarnation 1, and both end validated.
    #[test]
    fn dependency_then_completion() {
        let s = Scheduler::new(2);
        assert_eq!(s.next_task(), Some(Task::Execute(0, 0)));
        // Nothing is validated before tx 0 has executed: the next task executes tx 1.
        assert_eq!(s.next_task(), Some(Task::Execute(1, 0)));
        assert!(s.add_dependency(1, 0));
        // tx 0 finishes: tx 1 is handed straight to this worker as incarnation 1.
        assert_eq!(s.finish_execution(0, 0, true), Some(Task::Execute(1, 1)));
        assert_eq!(s.finish_execution(1, 1, true), None);
        let (mut executed, mut validated) = (vec![(1, 1)], Vec::new());
        while !s.done() {
            match s.next_task() {
                Some(Task::Execute(i, k)) => {
                    executed.push((i, k));
                    if let Some(Task::Validate(i, k, w)) = s.finish_execution(i, k, true) {
                        validated.push((i, k));
                        assert_eq!(s.finish_validation(i, k, w, false), None);
                    }
                }
                Some(Task::Validate(i, k, w)) => {
                    validated.push((i, k));
                    assert_eq!(s.finish_validation(i, k, w, false), None);
                }
                None => {}
            }
        }
        assert_eq!(executed, vec![(1, 1)]);
        assert_eq!(validated, vec![(0, 0), (1, 1)]);
    }

    /// Dependents are resumed by the incarnation they waited for, every time: none is lost
    /// when a transaction that had dependents before finishes again with new ones, and none
    /// can be added once it has executed.
    #[test]
    fn dependents_of_each_incarnation_are_resumed() {
        let s = Scheduler::new(3);
        assert_eq!(s.next_task(), Some(Task::Execute(0, 0)));
        assert_eq!(s.next_task(), Some(Task::Execute(1, 0)));
        assert!(s.add_dependency(1, 0));
        assert_eq!(s.finish_execution(0, 0, true), Some(Task::Execute(1, 1)));
        assert!(
            !s.add_dependency(1, 0),
            "0 has executed: 1 runs again at once"
        );
        // 0 is aborted and re-incarnated; 2 now waits for its incarnation 1.
        assert!(s.try_validation_abort(0, 0));
        s.set_ready_status(0);
        assert_eq!(s.try_incarnate_for_test(0), Some(Task::Execute(0, 1)));
        // (The validation index, at 0, hands out nothing while 0 executes.)
        let next = (0..4).find_map(|_| s.next_task());
        assert_eq!(next, Some(Task::Execute(2, 0)));
        assert!(s.add_dependency(2, 0));
        assert_eq!(s.finish_execution(0, 1, false), Some(Task::Execute(2, 1)));
        // A third finish with nobody waiting hands back no execution.
        assert!(s.try_validation_abort(0, 1));
        s.set_ready_status(0);
        assert_eq!(s.try_incarnate_for_test(0), Some(Task::Execute(0, 2)));
        assert!(!matches!(
            s.finish_execution(0, 2, false),
            Some(Task::Execute(..))
        ));
    }

    /// A failed validation aborts, re-executes as the next incarnation and re-validates.
    #[test]
    fn abort_reexecutes() {
        let s = Scheduler::new(1);
        assert_eq!(s.next_task(), Some(Task::Execute(0, 0)));
        assert_eq!(s.finish_execution(0, 0, false), None);
        assert_eq!(s.next_task(), Some(Task::Validate(0, 0, 0)));
        assert!(s.try_validation_abort(0, 0));
        assert!(
            !s.try_validation_abort(0, 0),
            "only one validation may abort an incarnation"
        );
        assert_eq!(
            s.finish_validation(0, 0, 0, true),
            Some(Task::Execute(0, 1))
        );
        // The abort moved nothing down (nothing above): incarnation 1 is validated in wave 0.
        assert_eq!(
            s.finish_execution(0, 1, false),
            Some(Task::Validate(0, 1, 0))
        );
        let mut wave = 0;
        assert_eq!(s.try_commit(&mut wave), None, "not validated yet");
        assert_eq!(s.finish_validation(0, 1, 0, false), None);
        assert_eq!(s.try_commit(&mut wave), Some(0));
        assert_eq!(s.next_task(), None);
        assert!(s.done());
    }

    /// Validation waits for every lower transaction's first execution: finishing out of
    /// order does not hand out a validation that the lower one's first writes would undo.
    #[test]
    fn validation_waits_for_lower_first_executions() {
        let s = Scheduler::new(2);
        assert_eq!(s.next_task(), Some(Task::Execute(0, 0)));
        assert_eq!(s.next_task(), Some(Task::Execute(1, 0)));
        // tx 1 finishes first: nothing to validate yet (tx 0 has not executed).
        assert_eq!(s.finish_execution(1, 0, true), None);
        assert_eq!(s.next_task(), None);
        // tx 0 finishes: both can be validated now, in order.
        assert_eq!(s.finish_execution(0, 0, true), None);
        assert_eq!(s.next_task(), Some(Task::Validate(0, 0, 0)));
        assert_eq!(s.finish_validation(0, 0, 0, false), None);
        assert_eq!(s.next_task(), Some(Task::Validate(1, 0, 0)));
        assert_eq!(s.finish_validation(1, 0, 0, false), None);
        assert_eq!(s.next_task(), None);
        assert!(s.done());
    }

    /// A transaction validated before a lower one aborted is not committed on that
    /// validation: the abort starts a wave, and only a validation from it counts.
    #[test]
    fn commit_waits_for_a_validation_after_lower_aborts() {
        let s = Scheduler::new(2);
        assert_eq!(s.next_task(), Some(Task::Execute(0, 0)));
        assert_eq!(s.next_task(), Some(Task::Execute(1, 0)));
        assert_eq!(s.finish_execution(0, 0, true), None);
        assert_eq!(s.finish_execution(1, 0, true), None);
        assert_eq!(s.next_task(), Some(Task::Validate(0, 0, 0)));
        assert_eq!(s.next_task(), Some(Task::Validate(1, 0, 0)));
        // tx 1 passes in wave 0; then tx 0 fails its validation and aborts.
        assert_eq!(s.finish_validation(1, 0, 0, false), None);
        assert!(s.try_validation_abort(0, 0));
        assert_eq!(
            s.finish_validation(0, 0, 0, true),
            Some(Task::Execute(0, 1))
        );
        let mut wave = 0;
        assert_eq!(s.try_commit(&mut wave), None, "tx 0 is being re-executed");
        // Its re-execution writes the same locations: it is validated at once, in wave 1.
        assert_eq!(
            s.finish_execution(0, 1, false),
            Some(Task::Validate(0, 1, 1))
        );
        assert_eq!(s.finish_validation(0, 1, 1, false), None);
        assert_eq!(s.try_commit(&mut wave), Some(0));
        // tx 1's wave-0 validation predates tx 0's abort: it must be validated again.
        assert_eq!(s.try_commit(&mut wave), None);
        assert_eq!(s.next_task(), Some(Task::Validate(1, 0, 1)));
        assert!(
            !s.try_validation_abort(0, 1),
            "a committed transaction never aborts"
        );
        assert_eq!(s.finish_validation(1, 0, 1, false), None);
        assert_eq!(s.try_commit(&mut wave), Some(1));
        assert_eq!(s.commit_idx(), 2);
        assert_eq!(s.next_task(), None);
        assert!(s.done());
    }

    #[test]
    fn empty_block_is_done() {
        assert!(Scheduler::new(0).done());
    }
}
