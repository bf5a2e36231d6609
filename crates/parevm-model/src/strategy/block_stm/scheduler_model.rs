//! The scheduler under shuttle: two or three workers run a miniature Block-STM over it, in
//! which every transaction reads what the one below it wrote (a chain: the worst case for
//! conflicts), with value-based validation, ESTIMATEs on abort, suspension on an ESTIMATE and
//! the rolling commit, as the strategy's workers drive the real scheduler.
//!
//! Checked on every explored interleaving: the run ends (no deadlock, no lost wake-up, no
//! livelock: shuttle bounds the steps); no transaction runs on two workers at once; no
//! incarnation runs twice; every transaction is committed once, in block order, and only
//! after the read its committed incarnation made is what the final incarnation of the
//! transaction below it wrote (the scheduler's commit rule is what makes that hold).

use super::scheduler::{Scheduler, Task, TxIdx, Wave};
use shuttle::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering::SeqCst},
};

/// What a transaction's latest incarnation wrote (its one location).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Nothing,
    /// Written by this incarnation.
    By(u32),
    /// Its incarnation was aborted: a value will probably be written.
    Estimate,
}

/// Per incarnation that ran: the incarnation below it that it read (`None`: nothing written
/// yet, or the first transaction).
type Reads = Vec<(u32, Option<u32>)>;

/// The shared state of one model run.
struct Model {
    n: usize,
    scheduler: Scheduler,
    written: Vec<Mutex<Written>>,
    /// Per transaction, what each of its incarnations read.
    reads: Vec<Mutex<Reads>>,
    running: Vec<AtomicBool>,
    committed: Mutex<Vec<TxIdx>>,
    commit_wave: Mutex<Wave>,
}

impl Model {
    fn new(n: usize) -> Self {
        Model {
            n,
            scheduler: Scheduler::new(n),
            written: (0..n).map(|_| Mutex::new(Written::Nothing)).collect(),
            reads: (0..n).map(|_| Mutex::new(Vec::new())).collect(),
            running: (0..n).map(|_| AtomicBool::new(false)).collect(),
            committed: Mutex::new(Vec::new()),
            commit_wave: Mutex::new(0),
        }
    }

    /// Reads the location of `i - 1` as `i` (blocked on an ESTIMATE: the writer's index).
    fn read_below(&self, i: TxIdx) -> Result<Option<u32>, TxIdx> {
        if i == 0 {
            return Ok(None);
        }
        match *self.written[i - 1].lock().unwrap() {
            Written::Nothing => Ok(None),
            Written::By(k) => Ok(Some(k)),
            Written::Estimate => Err(i - 1),
        }
    }

    fn execute(&self, i: TxIdx, k: u32) -> Option<Task> {
        assert!(
            !self.running[i].swap(true, SeqCst),
            "transaction {i} runs on two workers"
        );
        loop {
            let read = match self.read_below(i) {
                Ok(v) => v,
                Err(blocking) => {
                    self.running[i].store(false, SeqCst);
                    if self.scheduler.add_dependency(i, blocking) {
                        return None;
                    }
                    assert!(!self.running[i].swap(true, SeqCst));
                    continue;
                }
            };
            {
                let mut reads = self.reads[i].lock().unwrap();
                assert!(
                    reads.iter().all(|(j, _)| *j < k),
                    "incarnation {k} of {i} ran twice or after a later one"
                );
                reads.push((k, read));
            }
            let wrote_new = {
                let mut w = self.written[i].lock().unwrap();
                let new = *w == Written::Nothing;
                *w = Written::By(k);
                new
            };
            self.running[i].store(false, SeqCst);
            return self.scheduler.finish_execution(i, k, wrote_new);
        }
    }

    fn validate(&self, i: TxIdx, k: u32, wave: Wave) -> Option<Task> {
        let seen = {
            let reads = self.reads[i].lock().unwrap();
            reads.iter().find(|(j, _)| *j == k).expect("executed").1
        };
        let valid = self.read_below(i) == Ok(seen);
        let aborted = !valid && self.scheduler.try_validation_abort(i, k);
        if aborted {
            *self.written[i].lock().unwrap() = Written::Estimate;
        }
        self.scheduler.finish_validation(i, k, wave, aborted)
    }

    /// Commits what is final, checking each transaction's read against the final write below.
    fn commit_ready(&self) {
        let Ok(mut wave) = self.commit_wave.try_lock() else {
            return;
        };
        while let Some(i) = self.scheduler.try_commit(&mut wave) {
            let mut committed = self.committed.lock().unwrap();
            assert_eq!(committed.len(), i, "commits out of order");
            let last = self.reads[i].lock().unwrap().last().expect("executed").1;
            if i > 0 {
                let below = *self.written[i - 1].lock().unwrap();
                assert_eq!(
                    Written::By(last.expect("the transaction below wrote")),
                    below,
                    "transaction {i} committed on a stale read"
                );
            }
            committed.push(i);
        }
    }

    fn worker(&self) {
        let mut task = None;
        let mut validations = 0u32;
        while !self.scheduler.done() {
            task = match task {
                Some(Task::Execute(i, k)) => self.execute(i, k),
                Some(Task::Validate(i, k, wave)) => {
                    let next = self.validate(i, k, wave);
                    validations += 1;
                    if validations.is_multiple_of(2) {
                        self.commit_ready();
                    }
                    next
                }
                None => {
                    let next = self.scheduler.next_task();
                    if next.is_none() {
                        self.commit_ready();
                        shuttle::thread::yield_now();
                    }
                    next
                }
            };
        }
    }
}

/// One run: `workers` threads on a chain of `n` transactions.
fn run(n: usize, workers: usize) {
    let model = Arc::new(Model::new(n));
    let handles: Vec<_> = (1..workers)
        .map(|_| {
            let m = model.clone();
            shuttle::thread::spawn(move || m.worker())
        })
        .collect();
    model.worker();
    for h in handles {
        h.join().expect("a worker panicked");
    }
    model.commit_ready();
    let committed = model.committed.lock().unwrap().clone();
    assert_eq!(committed, (0..n).collect::<Vec<_>>());
}

#[test]
fn two_workers_on_a_chain_of_three() {
    shuttle::check_random(|| run(3, 2), 2_000);
}

#[test]
fn three_workers_on_a_chain_of_four() {
    shuttle::check_pct(|| run(4, 3), 2_000, 3);
    shuttle::check_random(|| run(4, 3), 1_000);
}

#[test]
fn more_workers_than_transactions() {
    shuttle::check_random(|| run(2, 3), 1_000);
}
