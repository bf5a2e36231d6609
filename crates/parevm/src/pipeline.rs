//! Chains of blocks on a [`Store`], pipelined as Monad does it: while block N+1 executes,
//! block N's state root is computed and committed, and block N+2 is prepared (what its
//! transactions are predicted to touch read into the store's cache).
//!
//! Why executing N+1 before N is committed is exact: it runs on the committed state under
//! the changes of the executed blocks not yet committed, in order (an overlay), which is the
//! state after N. The view is taken from one snapshot of the store together with the list of
//! uncommitted blocks above that snapshot's head, under one lock that the committer also takes
//! to retire a committed block, so no block is missing or applied twice.
//!
//! The stages are threads connected by bounded queues (one block each): a slow stage stops the
//! one before it instead of piling blocks up. A failing stage (an execution error, a root that
//! differs from the header's) stops the run after the blocks before it are committed.

use crate::state::WithBlockHashes;
use crate::{
    block::Block,
    engine::Engine,
    error::ExecError,
    state::{Overlay, StateChanges, StateView},
    store::{Committing, Store, StoreError},
    strategy::Strategy,
};
use alloy_primitives::B256;
use parking_lot::Mutex;
use std::{
    sync::{Arc, mpsc},
    time::{Duration, Instant},
};

/// The most executed blocks the committer takes into one transaction (group commit).
pub const MAX_GROUP: usize = 8;

/// Whether stages overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pipeline {
    /// Prepare, execute and commit each block before the next.
    Off,
    /// Prepare N+2, execute N+1 and commit N at once.
    On,
}

/// Why a chain run stopped.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A block failed to execute.
    #[error("block {number}: {source}")]
    Exec {
        /// The block.
        number: u64,
        /// Why.
        source: ExecError,
    },
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Blocks committed.
    pub blocks: u64,
    /// Their gas.
    pub gas: u64,
    /// Wall time.
    pub wall: Duration,
    /// Time each stage was busy: prepare, execute, commit.
    pub busy: [Duration; 3],
}

impl Report {
    /// Busy time over wall time: above 1 when stages overlap.
    pub fn overlap(&self) -> f64 {
        let busy: Duration = self.busy.iter().sum();
        busy.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Executed blocks not yet committed, oldest first: number, hash and changes.
type Pending = Mutex<Vec<(u64, B256, Arc<Vec<StateChanges>>)>>;

/// Runs `blocks` (each the child of the one before, the first the child of the store's head)
/// on `store` with `strategy` on `engine`; `check_roots` compares each computed root with the
/// header's. `progress` is told each committed block's number and gas.
pub fn run(
    store: &Store,
    blocks: impl Iterator<Item = Block> + Send,
    strategy: &dyn Strategy,
    engine: &Engine,
    pipeline: Pipeline,
    check_roots: bool,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Report, ChainError> {
    let started = Instant::now();
    let pending: Pending = Mutex::new(Vec::new());
    let run = Run {
        store,
        strategy,
        engine,
        check_roots,
        pending: &pending,
        progress,
    };
    let mut report = match pipeline {
        Pipeline::Off => run.serial(blocks)?,
        Pipeline::On => run.pipelined(blocks)?,
    };
    report.wall = started.elapsed();
    Ok(report)
}

struct Run<'a> {
    store: &'a Store,
    strategy: &'a dyn Strategy,
    engine: &'a Engine,
    check_roots: bool,
    pending: &'a Pending,
    progress: &'a (dyn Fn(u64, u64) + Sync),
}

/// An executed block on its way to the committer.
struct Executed {
    number: u64,
    hash: B256,
    header_root: B256,
    gas: u64,
    changes: Arc<Vec<StateChanges>>,
}

impl Run<'_> {
    fn serial(&self, blocks: impl Iterator<Item = Block>) -> Result<Report, ChainError> {
        let mut report = Report::default();
        for block in blocks {
            let t = Instant::now();
            self.prepare(&block)?;
            report.busy[0] += t.elapsed();
            let t = Instant::now();
            let done = self.execute(&block)?;
            report.busy[1] += t.elapsed();
            let t = Instant::now();
            self.commit(&[done], &mut report)?;
            report.busy[2] += t.elapsed();
        }
        Ok(report)
    }

    fn pipelined(&self, blocks: impl Iterator<Item = Block> + Send) -> Result<Report, ChainError> {
        let (to_execute, prepared) = mpsc::sync_channel::<Block>(1);
        let (to_commit, executed) = mpsc::sync_channel::<Executed>(MAX_GROUP);
        std::thread::scope(|scope| {
            let preparer = scope.spawn(move || -> Result<Duration, ChainError> {
                let mut busy = Duration::ZERO;
                for block in blocks {
                    let t = Instant::now();
                    self.prepare(&block)?;
                    busy += t.elapsed();
                    if to_execute.send(block).is_err() {
                        break;
                    }
                }
                Ok(busy)
            });
            let committer = scope.spawn(move || -> Result<Report, ChainError> {
                let mut report = Report::default();
                while let Ok(first) = executed.recv() {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match executed.try_recv() {
                            Ok(next) => group.push(next),
                            Err(_) => break,
                        }
                    }
                    let t = Instant::now();
                    self.commit(&group, &mut report)?;
                    report.busy[2] += t.elapsed();
                }
                Ok(report)
            });
            let mut executing = Duration::ZERO;
            let mut failed = None;
            for block in prepared {
                let t = Instant::now();
                match self.execute(&block) {
                    Ok(done) => {
                        executing += t.elapsed();
                        if to_commit.send(done).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            drop(to_commit);
            let report = committer.join().expect("the committer does not panic");
            let prepare = preparer.join().expect("the preparer does not panic");
            let mut report = report?;
            if let Some(e) = failed {
                return Err(e);
            }
            report.busy[0] = prepare?;
            report.busy[1] = executing;
            Ok(report)
        })
    }

    /// Reads what `block`'s transactions are predicted to touch so that execution finds it
    /// in the store's cache: every transaction's envelope (sender, recipient, the beneficiary)
    /// and its own EIP-2930 list ([`crate::predict::access_list`], the prediction that costs
    /// nothing to make). What it reads is the committed state, which may be older than the
    /// block's: only the cache is warmed, nothing is kept.
    fn prepare(&self, block: &Block) -> Result<(), ChainError> {
        use crate::predict::{Loc, Predictor, access_list::AccessList};
        let view = self.store.view()?;
        let one = crate::strategy::Workers::one();
        let predicted = AccessList
            .predict(block, &view, &one)
            .ok()
            .flatten()
            .unwrap_or_default();
        for loc in predicted.iter().flat_map(|p| p.reads.iter()) {
            // (A failed read here fails again, named, where execution makes it.)
            let _ = match loc {
                Loc::Account(a) => view.account_fields(*a).map(|_| ()),
                Loc::Slot(a, k) => view.storage(*a, *k).map(|_| ()),
            };
        }
        Ok(())
    }

    /// Executes `block` on the committed state under the uncommitted blocks before it.
    fn execute(&self, block: &Block) -> Result<Executed, ChainError> {
        let number = block.header.number;
        let exec = |source| ChainError::Exec { number, source };
        let (head, view, above) = {
            let pending = self.pending.lock();
            let (head, view) = self.store.snapshot()?;
            let above: Vec<_> = (pending.iter())
                .filter(|(n, ..)| *n > head.number)
                .cloned()
                .collect();
            (head, view, above)
        };
        debug_assert_eq!(head.number + above.len() as u64 + 1, number);
        // The executed blocks not yet committed know their own hashes.
        let hashes = WithBlockHashes {
            inner: &view,
            hashes: |n| above.iter().find(|(m, ..)| *m == n).map(|(_, h, _)| Ok(*h)),
        };
        let mut state = Overlay::new(&hashes);
        above
            .iter()
            .flat_map(|(.., c)| c.iter())
            .for_each(|c| state.apply(c));
        let out = self
            .engine
            .execute(block, &state, self.strategy)
            .map_err(exec)?;
        let changes: Arc<Vec<StateChanges>> = Arc::new(out.all_changes().cloned().collect());
        self.pending
            .lock()
            .push((number, block.hash, changes.clone()));
        Ok(Executed {
            number,
            hash: block.hash,
            header_root: block.header.state_root,
            gas: out.gas_used,
            changes,
        })
    }

    /// Computes and commits the roots of executed blocks (one transaction), each checked
    /// against its header.
    fn commit(&self, group: &[Executed], report: &mut Report) -> Result<(), ChainError> {
        let changes: Vec<Vec<&StateChanges>> =
            group.iter().map(|d| d.changes.iter().collect()).collect();
        let blocks: Vec<Committing<'_>> = (group.iter().zip(&changes))
            .map(|(d, c)| Committing {
                number: d.number,
                hash: d.hash,
                changes: c,
                expected: self.check_roots.then_some(d.header_root),
            })
            .collect();
        self.store.commit_group(&blocks)?;
        let last = group.last().map_or(0, |d| d.number);
        self.pending.lock().retain(|(n, ..)| *n > last);
        for d in group {
            report.blocks += 1;
            report.gas += d.gas;
            (self.progress)(d.number, d.gas);
        }
        Ok(())
    }
}
