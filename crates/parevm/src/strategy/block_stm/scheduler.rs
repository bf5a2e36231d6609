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
//!            try_incarnate              finish_execution
//! ReadyToExecute(k) ──────► Executing(k) ──────────────► Executed(k)
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
//! # The atomics
//!
//! - `execution_idx`: the next transaction to try executing. Only moves down
//!   (`decrease_execution_idx`) when a suspended transaction resumes.
//! - `validation_idx`: the next transaction to validate. Moves down to `i` when `i` wrote a
//!   location its previous incarnation did not (everything above may have read stale data),
//!   and to `i + 1` when `i` aborts (everything above must re-check its reads).
//! - `executed_prefix`: every transaction below it has finished at least one execution
//!   (`ever_executed`). Only grows; advanced by whichever worker finishes the transaction at it,
//!   walking on over transactions already finished. Validation is handed out only below it:
//!   validating `j` before every lower transaction wrote its first results would only be
//!   redone — each first execution writes new locations and sends the validation index back —
//!   and on blocks of cheap independent transactions that doubled the validations. (Only when
//!   validations run changes; a transaction is still validated after its last incarnation and
//!   after every lower transaction's, which is what correctness needs.)
//! - `decrease_cnt`: bumped on every decrease, so that [`Scheduler::check_done`] can tell
//!   that no index moved while it looked.
//! - `num_active_tasks`: tasks handed out and not finished. Done means both indices are past
//!   the end, no task is active, and `decrease_cnt` did not change meanwhile.
//! - `done_marker`: set once done (or halted after a worker panic); every worker then stops.
//!
//! Each transaction's status and incarnation live under one mutex; its dependents (suspended
//! transactions waiting for it) under another. The lock order is dependents, then status.

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

/// Transaction index in the block.
pub(crate) type TxIdx = usize;
/// Execution attempt of a transaction, from 0.
pub(crate) type Incarnation = u32;

/// Work handed to a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Task {
    /// Execute this incarnation.
    Execute(TxIdx, Incarnation),
    /// Validate this incarnation's reads.
    Validate(TxIdx, Incarnation),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    ReadyToExecute,
    Executing,
    Executed,
    Aborting,
}

#[derive(Debug)]
struct TxStatus {
    incarnation: Incarnation,
    status: Status,
}

/// The shared scheduler of one block. Each shared index has a cache line to itself: the two
/// indices and the task count change on every task, and every worker polls `done_marker`
/// between tasks, which would otherwise miss whenever another worker claimed a task.
pub(crate) struct Scheduler {
    n: usize,
    execution_idx: CachePadded<AtomicUsize>,
    validation_idx: CachePadded<AtomicUsize>,
    num_active_tasks: CachePadded<AtomicUsize>,
    executed_prefix: CachePadded<AtomicUsize>,
    /// Per transaction: it finished an execution at least once.
    ever_executed: Vec<AtomicBool>,
    /// Changes rarely (on a re-execution or a resumption): not worth a line of its own.
    decrease_cnt: AtomicUsize,
    done_marker: CachePadded<AtomicBool>,
    dependents: Vec<Mutex<Vec<TxIdx>>>,
    status: Vec<Mutex<TxStatus>>,
}

impl Scheduler {
    pub(crate) fn new(n: usize) -> Self {
        Scheduler {
            n,
            execution_idx: CachePadded::new(AtomicUsize::new(0)),
            validation_idx: CachePadded::new(AtomicUsize::new(0)),
            num_active_tasks: CachePadded::new(AtomicUsize::new(0)),
            executed_prefix: CachePadded::new(AtomicUsize::new(0)),
            ever_executed: (0..n).map(|_| AtomicBool::new(false)).collect(),
            decrease_cnt: AtomicUsize::new(0),
            done_marker: CachePadded::new(AtomicBool::new(n == 0)),
            dependents: (0..n).map(|_| Mutex::new(Vec::new())).collect(),
            status: (0..n)
                .map(|_| {
                    Mutex::new(TxStatus {
                        incarnation: 0,
                        status: Status::ReadyToExecute,
                    })
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

    fn decrease_validation_idx(&self, target: TxIdx) {
        self.validation_idx.fetch_min(target, SeqCst);
        self.decrease_cnt.fetch_add(1, SeqCst);
    }

    fn check_done(&self) {
        let observed = self.decrease_cnt.load(SeqCst);
        if self
            .execution_idx
            .load(SeqCst)
            .min(self.validation_idx.load(SeqCst))
            >= self.n
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
            if p >= self.n || !self.ever_executed[p].load(SeqCst) {
                return;
            }
            // Another worker may advance it meanwhile: either way it moves on.
            let _ = self
                .executed_prefix
                .compare_exchange(p, p + 1, SeqCst, SeqCst);
        }
    }

    fn next_version_to_validate(&self) -> Option<Task> {
        let v = self.validation_idx.load(SeqCst);
        if v >= self.n {
            self.check_done();
            return None;
        }
        if v >= self.executed_prefix.load(SeqCst) {
            return None; // a lower transaction has not executed yet
        }
        self.num_active_tasks.fetch_add(1, SeqCst);
        let i = self.validation_idx.fetch_add(1, SeqCst);
        if i < self.n {
            let s = self.status[i].lock();
            if s.status == Status::Executed {
                return Some(Task::Validate(i, s.incarnation));
            }
        }
        self.num_active_tasks.fetch_sub(1, SeqCst);
        None
    }

    /// The next task, validation first when it lags behind execution.
    pub(crate) fn next_task(&self) -> Option<Task> {
        let v = self.validation_idx.load(SeqCst);
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

    /// True if incarnation `k`'s result of `i` is in: `i` is executed (or being validated).
    pub(crate) fn is_executed(&self, i: TxIdx) -> bool {
        matches!(self.status[i].lock().status, Status::Executed)
    }

    /// Suspends `i`, which read an ESTIMATE written by `blocking`, until `blocking` executes.
    /// Returns false if `blocking` already executed: the caller re-executes `i` at once.
    pub(crate) fn add_dependency(&self, i: TxIdx, blocking: TxIdx) -> bool {
        let mut deps = self.dependents[blocking].lock();
        if self.status[blocking].lock().status == Status::Executed {
            return false;
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

    /// Records that incarnation `k` of `i` executed. `wrote_new_location` says whether it
    /// wrote a location the previous incarnation did not. May hand back a validation task.
    pub(crate) fn finish_execution(
        &self,
        i: TxIdx,
        k: Incarnation,
        wrote_new_location: bool,
    ) -> Option<Task> {
        self.status[i].lock().status = Status::Executed;
        if !self.ever_executed[i].swap(true, SeqCst) {
            self.advance_executed_prefix();
        }
        let mut deps = std::mem::take(&mut *self.dependents[i].lock());
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
            if self.validation_idx.load(SeqCst) > i {
                self.decrease_validation_idx(i);
            }
            return Some(Task::Execute(first, k));
        }
        if self.validation_idx.load(SeqCst) > i {
            if wrote_new_location {
                self.decrease_validation_idx(i);
            } else {
                return Some(Task::Validate(i, k));
            }
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

    /// Ends a validation; after an abort, schedules re-validation of everything above `i` and
    /// possibly hands back the re-execution of `i`.
    pub(crate) fn finish_validation(&self, i: TxIdx, aborted: bool) -> Option<Task> {
        if aborted {
            self.set_ready_status(i);
            self.decrease_validation_idx(i + 1);
            if self.execution_idx.load(SeqCst) > i {
                return self.try_incarnate(i);
            }
        }
        self.num_active_tasks.fetch_sub(1, SeqCst);
        None
    }
}

#[cfg(test)]
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
                    if let Some(Task::Validate(i, k)) = s.finish_execution(i, k, true) {
                        validated.push((i, k));
                        assert_eq!(s.finish_validation(i, false), None);
                    }
                }
                Some(Task::Validate(i, k)) => {
                    validated.push((i, k));
                    assert_eq!(s.finish_validation(i, false), None);
                }
                None => {}
            }
        }
        assert_eq!(executed, vec![(1, 1)]);
        assert_eq!(validated, vec![(0, 0), (1, 1)]);
    }

    /// A failed validation aborts, re-executes as the next incarnation and re-validates.
    #[test]
    fn abort_reexecutes() {
        let s = Scheduler::new(1);
        assert_eq!(s.next_task(), Some(Task::Execute(0, 0)));
        assert_eq!(s.finish_execution(0, 0, false), None);
        assert_eq!(s.next_task(), Some(Task::Validate(0, 0)));
        assert!(s.try_validation_abort(0, 0));
        assert!(
            !s.try_validation_abort(0, 0),
            "only one validation may abort an incarnation"
        );
        assert_eq!(s.finish_validation(0, true), Some(Task::Execute(0, 1)));
        assert_eq!(s.finish_execution(0, 1, false), Some(Task::Validate(0, 1)));
        assert_eq!(s.finish_validation(0, false), None);
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
        assert_eq!(s.next_task(), Some(Task::Validate(0, 0)));
        assert_eq!(s.finish_validation(0, false), None);
        assert_eq!(s.next_task(), Some(Task::Validate(1, 0)));
        assert_eq!(s.finish_validation(1, false), None);
        assert_eq!(s.next_task(), None);
        assert!(s.done());
    }

    #[test]
    fn empty_block_is_done() {
        assert!(Scheduler::new(0).done());
    }
}
