//! Projected speedups: each strategy's scheduling rules replayed on a block's measured
//! transaction costs and its dependency graph, for any number of workers.
//!
//! The models keep what decides a strategy's scaling and nothing else. Every execution costs
//! the transaction's sequential cost times `1 + overhead`, the strategy's own cost per
//! transaction (recording, validation, the multi-version store), calibrated so that the model
//! at one worker gives the speedup measured at one thread; work before the transactions is
//! added as measured: planning serially, predicting shared by the workers. Workers take transactions in
//! block order, each the earliest free worker.
//!
//! - [`Model::Optimistic`] (Block-STM): a run that started before one of its dependencies'
//!   last run finished read a stale value and is done again once they have finished.
//! - [`Model::Merge`] (Monad): the other workers execute transactions at once; one thread
//!   merges them in block order at `merge` of their cost each (measured by the strategy's
//!   `merge_us` counter, else [`MERGE`]), re-executing one whose dependency was merged after
//!   it started, and executing one itself when no worker would start it sooner.
//! - [`Model::Independent`] (BAL): no transaction waits for another.
//! - [`Model::Scheduled`] (Sealevel, the dependency graph): as `Merge`, but a transaction
//!   starts only once the earlier ones its predicted accesses make it wait for are merged.

use std::{cmp::Reverse, collections::BinaryHeap};

/// A merge's cost, as a share of the transaction's execution, where none was measured.
pub const MERGE: f64 = 0.1;

/// The lowest overhead calibration gives: a strategy at most twice as fast as sequential on
/// one thread.
pub const MIN_OVERHEAD: f64 = -0.5;

/// A strategy's scheduling rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Model {
    /// Optimistic execution, re-run on a stale read.
    Optimistic,
    /// Execute all, merge in order, one re-execution.
    Merge,
    /// No waits.
    Independent,
    /// Execute once the predicted waits are merged, merge in order.
    Scheduled(Vec<Vec<usize>>),
}

/// A block as the models see it.
#[derive(Debug, Clone, Copy)]
pub struct Block<'a> {
    /// Each transaction's sequential cost.
    pub costs: &'a [f64],
    /// For each transaction, the earlier ones it really depends on.
    pub deps: &'a [Vec<usize>],
    /// Serial time before the transactions (same unit as the costs).
    pub serial: f64,
    /// Work before the transactions that the workers share (predicting accesses).
    pub shared: f64,
    /// A merge's cost as a share of the transaction's execution (the merging models).
    pub merge: f64,
}

impl Block<'_> {
    fn work(&self) -> f64 {
        self.costs.iter().sum()
    }

    /// The projected speedup over sequential of `model` with `overhead` on `n` workers.
    pub fn speedup(&self, model: &Model, overhead: f64, n: usize) -> f64 {
        let span = self.makespan(model, overhead, n);
        if span > 0.0 { self.work() / span } else { 1.0 }
    }

    /// The overhead that makes `model` on one worker run at `measured` speedup: negative when
    /// the strategy's one thread beats sequential execution (down to [`MIN_OVERHEAD`]); 0
    /// without a measurement.
    pub fn calibrate(&self, model: &Model, measured: f64) -> f64 {
        if measured.is_nan() || measured <= 0.0 {
            return 0.0;
        }
        if self.speedup(model, MIN_OVERHEAD, 1) <= measured {
            return MIN_OVERHEAD;
        }
        let (mut lo, mut hi) = (MIN_OVERHEAD, 1.0);
        while self.speedup(model, hi, 1) > measured && hi < 1e6 {
            hi *= 2.0;
        }
        for _ in 0..50 {
            let mid = (lo + hi) / 2.0;
            if self.speedup(model, mid, 1) > measured {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        (lo + hi) / 2.0
    }

    /// Time to run the block under `model`.
    pub fn makespan(&self, model: &Model, overhead: f64, n: usize) -> f64 {
        let cost = |j: usize| self.costs[j] * (1.0 + overhead);
        let n = n.max(1);
        self.serial
            + self.shared / n as f64
            + match model {
                Model::Independent => {
                    let mut pool = Pool::new(n, 0.0);
                    (0..self.costs.len())
                        .map(|j| pool.run(0.0, cost(j)))
                        .fold(0.0, f64::max)
                }
                Model::Optimistic => self.optimistic(n, &cost),
                Model::Merge => self.merged(n, &cost, None),
                Model::Scheduled(waits) => self.merged(n, &cost, Some(waits)),
            }
    }

    fn optimistic(&self, n: usize, cost: &dyn Fn(usize) -> f64) -> f64 {
        let mut pool = Pool::new(n, 0.0);
        let mut done = vec![0.0f64; self.costs.len()];
        for (j, deps) in self.deps.iter().enumerate() {
            let ready = deps.iter().map(|i| done[*i]).fold(0.0, f64::max);
            let start = pool.next_free();
            done[j] = match ready <= start {
                true => pool.run(0.0, cost(j)),
                false => {
                    pool.run(0.0, cost(j));
                    pool.run(ready, cost(j))
                }
            };
        }
        done.iter().copied().fold(0.0, f64::max)
    }

    /// The merging models: `n - 1` workers execute in block order, and the merger, the
    /// `n`-th thread, merges in order and executes a transaction itself when it would start
    /// it before any worker could (as monad's merger takes up the next unclaimed task).
    fn merged(
        &self,
        n: usize,
        cost: &dyn Fn(usize) -> f64,
        waits: Option<&Vec<Vec<usize>>>,
    ) -> f64 {
        let mut pool = Pool::new(n - 1, 0.0);
        let mut merged = vec![0.0f64; self.costs.len()];
        let mut merger = 0.0f64;
        for j in 0..self.costs.len() {
            let after = waits.map_or(0.0, |w| w[j].iter().map(|i| merged[*i]).fold(0.0, f64::max));
            let merge = self.merge * self.costs[j];
            let by_worker = (n > 1).then(|| pool.next_free().max(after));
            merger = match by_worker {
                Some(start) if start <= merger.max(after) => {
                    let end = pool.run(after, cost(j));
                    let stale = self.deps[j].iter().any(|i| merged[*i] > start);
                    merger.max(end) + merge + if stale { cost(j) } else { 0.0 }
                }
                _ => merger.max(after) + cost(j) + merge,
            };
            merged[j] = merger;
        }
        merger
    }
}

/// Workers by the time each is next free.
struct Pool(BinaryHeap<Reverse<Time>>);

impl Pool {
    fn new(n: usize, at: f64) -> Pool {
        Pool((0..n).map(|_| Reverse(Time(at))).collect())
    }

    fn next_free(&self) -> f64 {
        self.0.peek().map_or(0.0, |t| t.0.0)
    }

    /// Runs a task of `cost`, not before `ready`, on the earliest free worker: its end.
    fn run(&mut self, ready: f64, cost: f64) -> f64 {
        let Reverse(Time(free)) = self.0.pop().expect("a worker");
        let end = free.max(ready) + cost;
        self.0.push(Reverse(Time(end)));
        end
    }
}

/// A time, ordered (never NaN: sums of finite costs).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Time(f64);

impl Eq for Time {}

impl PartialOrd for Time {
    fn partial_cmp(&self, other: &Time) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Time {
    fn cmp(&self, other: &Time) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<Vec<usize>> {
        (0..n)
            .map(|j| if j == 0 { vec![] } else { vec![j - 1] })
            .collect()
    }

    #[test]
    fn independent_transactions_scale_with_workers_up_to_their_count() {
        let costs = [1.0; 8];
        let deps = vec![Vec::new(); 8];
        let b = Block {
            costs: &costs,
            deps: &deps,
            serial: 0.0,
            shared: 0.0,
            merge: MERGE,
        };
        for model in [Model::Independent, Model::Optimistic] {
            assert_eq!(b.speedup(&model, 0.0, 1), 1.0);
            assert_eq!(b.speedup(&model, 0.0, 4), 4.0);
            assert_eq!(b.speedup(&model, 0.0, 64), 8.0, "{model:?}");
        }
        assert_eq!(
            b.speedup(&Model::Independent, 1.0, 4),
            2.0,
            "overhead doubles each"
        );
    }

    #[test]
    fn a_chain_does_not_scale_and_optimism_wastes_runs_on_it() {
        let costs = [1.0; 8];
        let deps = chain(8);
        let b = Block {
            costs: &costs,
            deps: &deps,
            serial: 0.0,
            shared: 0.0,
            merge: MERGE,
        };
        let waits = Model::Scheduled(deps.clone());
        assert!(b.speedup(&waits, 0.0, 8) < 1.0, "the merges add up");
        assert!(b.speedup(&Model::Optimistic, 0.0, 8) <= 1.0);
        assert!(b.speedup(&Model::Merge, 0.0, 8) < 1.0);
        assert_eq!(
            b.speedup(&Model::Independent, 0.0, 8),
            8.0,
            "BAL never waits"
        );
    }

    #[test]
    fn calibration_finds_the_overhead_of_a_measured_one_thread_speedup() {
        let costs = [1.0, 2.0, 3.0];
        let deps = vec![Vec::new(); 3];
        let b = Block {
            costs: &costs,
            deps: &deps,
            serial: 0.0,
            shared: 0.0,
            merge: MERGE,
        };
        let o = b.calibrate(&Model::Independent, 0.8);
        assert!((o - 0.25).abs() < 1e-9, "{o}");
        assert!((b.speedup(&Model::Independent, o, 1) - 0.8).abs() < 1e-9);
        let o = b.calibrate(&Model::Independent, 1.25);
        assert!((o + 0.2).abs() < 1e-9, "faster than sequential: {o}");
        assert_eq!(b.calibrate(&Model::Independent, 0.0), 0.0, "not measured");
    }
}
