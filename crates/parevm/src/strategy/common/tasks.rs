//! The order in which workers may take up a block's transactions, for strategies that merge
//! results in block order (`monad`, `dag`): tasks, each a run of transactions one worker
//! executes in order, and each ready once the merger has merged enough of the block.
//!
//! State machine of a task: *waiting* (fewer than `ready_at` transactions merged) → *ready* →
//! *claimed* (one worker won the `claimed` flag) → done (its results are in the run's slots).
//! The merger merges transaction `i` only after every transaction below it, and a task's
//! `ready_at` is at most its first transaction's index: so the task holding the next
//! transaction to merge is always ready, and the merger, which takes up ready tasks itself
//! while it waits, can never wait forever.

use std::sync::atomic::{
    AtomicBool, AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed},
};

/// A run of transactions (indices relative to the run's first, ascending) and when it may
/// start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Task {
    pub(crate) txs: Vec<usize>,
    /// How many transactions must be merged first (at most `txs[0]`).
    pub(crate) ready_at: usize,
}

/// What a worker found when it looked for a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// This task is now the worker's.
    Task(usize),
    /// Some are left, none is ready yet.
    Wait,
    /// Every task is claimed.
    Done,
}

/// A block's tasks and which are claimed.
#[derive(Debug)]
pub(crate) struct Tasks {
    list: Vec<Task>,
    /// Set once by the worker that claims the task (`swap`: exactly one wins).
    claimed: Vec<AtomicBool>,
    /// Every task below it is claimed (only ever raised; a stale value only costs a scan).
    cursor: AtomicUsize,
    /// The task of each transaction.
    task_of: Vec<usize>,
}

/// How far past the first unclaimed task a worker looks for a ready one.
const WINDOW: usize = 256;

impl Tasks {
    /// `list`, checked to be merge-safe (see the module docs).
    pub(crate) fn new(list: Vec<Task>) -> Tasks {
        debug_assert!(
            list.iter()
                .all(|t| t.txs.first().is_some_and(|f| t.ready_at <= *f))
        );
        let n = list.iter().map(|t| t.txs.len()).sum();
        let mut task_of = vec![0; n];
        for (t, task) in list.iter().enumerate() {
            task.txs.iter().for_each(|j| task_of[*j] = t);
        }
        Tasks {
            claimed: list.iter().map(|_| AtomicBool::new(false)).collect(),
            list,
            cursor: AtomicUsize::new(0),
            task_of,
        }
    }

    /// `n` transactions in runs of `chunk`, all ready at once (`monad`'s order).
    pub(crate) fn chunks(n: usize, chunk: usize) -> Tasks {
        let list = (0..n)
            .step_by(chunk)
            .map(|first| Task {
                txs: (first..(first + chunk).min(n)).collect(),
                ready_at: 0,
            })
            .collect();
        Tasks::new(list)
    }

    /// The transactions of task `t`.
    pub(crate) fn txs(&self, t: usize) -> &[usize] {
        &self.list[t].txs
    }

    /// Claims the task holding transaction `j` unless it is claimed already.
    pub(crate) fn claim_holding(&self, j: usize) -> Option<usize> {
        let t = self.task_of[j];
        (!self.claimed[t].swap(true, AcqRel)).then_some(t)
    }

    /// Claims the first ready unclaimed task, `merged` transactions being merged.
    pub(crate) fn claim(&self, merged: usize) -> Claim {
        let start = self.cursor.load(Acquire);
        if start >= self.list.len() {
            return Claim::Done;
        }
        let mut front = true;
        for t in start..self.list.len().min(start + WINDOW) {
            if self.claimed[t].load(Relaxed) {
                if front {
                    self.cursor.fetch_max(t + 1, AcqRel);
                }
                continue;
            }
            front = false;
            if self.list[t].ready_at <= merged && !self.claimed[t].swap(true, AcqRel) {
                return Claim::Task(t);
            }
        }
        if self.cursor.load(Acquire) >= self.list.len() {
            Claim::Done
        } else {
            Claim::Wait
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_tasks_are_claimed_once_in_order() {
        let tasks = Tasks::new(vec![
            Task {
                txs: vec![0, 1],
                ready_at: 0,
            },
            Task {
                txs: vec![2],
                ready_at: 2,
            },
            Task {
                txs: vec![3],
                ready_at: 0,
            },
        ]);
        assert_eq!(tasks.claim(0), Claim::Task(0));
        // (Task 1 waits for two merged transactions; task 2 does not.)
        assert_eq!(tasks.claim(0), Claim::Task(2));
        assert_eq!(tasks.claim(1), Claim::Wait);
        assert_eq!(tasks.claim(2), Claim::Task(1));
        assert_eq!(tasks.claim(3), Claim::Done);
    }

    #[test]
    fn chunks_cover_every_transaction() {
        let tasks = Tasks::chunks(10, 4);
        let all: Vec<usize> = (0..3).flat_map(|t| tasks.txs(t).to_vec()).collect();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }
}
