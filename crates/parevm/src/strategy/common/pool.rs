//! The worker threads a parallel run uses, owned by whoever runs blocks (an
//! [`Engine`](crate::Engine)), and helpers to split a pass over a block between the calling
//! thread and them.
//!
//! Creating threads for every block would cost more than a small block's whole run, so an
//! engine creates its threads once and keeps them for every block it runs. They are its own:
//! two engines (two blocks in flight in a pipeline, say) never queue behind each other's
//! jobs. The calling thread is always one of the workers, so `threads` workers are the caller
//! and a pool of `threads - 1` helpers.

use crate::error::ExecError;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The worker threads of a run: the calling thread plus `threads - 1` persistent helpers.
#[derive(Debug)]
pub struct Workers {
    threads: usize,
    /// `None` for a single worker (the calling thread alone).
    helpers: Option<rayon::ThreadPool>,
}

impl Workers {
    /// The calling thread alone.
    pub const fn one() -> Workers {
        Workers {
            threads: 1,
            helpers: None,
        }
    }

    /// `threads` workers: starts `threads - 1` helper threads, which live as long as this.
    pub fn new(threads: usize) -> Result<Workers, ExecError> {
        match threads {
            0 => Err(ExecError::Workers(
                "the number of threads must be at least 1, not 0".into(),
            )),
            1 => Ok(Workers::one()),
            _ => rayon::ThreadPoolBuilder::new()
                .num_threads(threads - 1)
                .thread_name(|i| format!("parevm-{}", i + 1))
                .build()
                .map(|pool| Workers {
                    threads,
                    helpers: Some(pool),
                })
                .map_err(|e| ExecError::Workers(format!("could not start {threads} threads: {e}"))),
        }
    }

    /// How many workers run a block: the calling thread and the helpers.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Wakes up to `helpers` helper threads ahead of work that will be handed to them (a
    /// sleeping thread takes 5 to 30 µs to wake on a VM, which the caller's setup can hide).
    pub(crate) fn wake(&self, helpers: usize) {
        if let Some(pool) = &self.helpers {
            for _ in 0..helpers.min(self.threads - 1) {
                pool.spawn(|| {});
            }
        }
    }

    /// Runs `job` on up to `helpers` helper threads while the calling thread runs `main`;
    /// returns `main`'s result once every job has returned. A panic in a job is resumed here
    /// after the others have finished (callers that must not wait for a panicked job's work
    /// catch it inside `job`).
    pub(crate) fn scope<R>(
        &self,
        helpers: usize,
        job: impl Fn() + Sync,
        main: impl FnOnce() -> R,
    ) -> R {
        let helpers = helpers.min(self.threads - 1);
        match &self.helpers {
            Some(pool) if helpers > 0 => pool.in_place_scope(|s| {
                for _ in 0..helpers {
                    s.spawn(|_| job());
                }
                main()
            }),
            _ => main(),
        }
    }

    /// Runs `f` on every chunk on all workers when `items` (how many items the chunks hold)
    /// is at least `MIN_PARALLEL`; below it, waking the helpers costs more than the work they
    /// would share, and the caller runs them alone.
    pub(crate) fn parallel_chunks<C: Send>(
        &self,
        chunks: Vec<C>,
        items: usize,
        f: impl Fn(C) + Sync,
    ) {
        const MIN_PARALLEL: usize = 1024;
        if items < MIN_PARALLEL {
            chunks.into_iter().for_each(f);
        } else {
            self.for_each_chunk(chunks, || (), |(), c| f(c));
        }
    }

    /// Runs `f` on every chunk, lowest first, on every worker, each with its own state made
    /// by `worker` (an EVM, say), claiming chunks from a shared counter. (Not rayon's
    /// `par_chunks_mut`: inside `install` the calling thread would only wait.)
    pub(crate) fn for_each_chunk<C: Send, W>(
        &self,
        chunks: Vec<C>,
        worker: impl Fn() -> W + Sync,
        f: impl Fn(&mut W, C) + Sync,
    ) {
        if self.threads <= 1 || chunks.len() < 2 {
            let mut w = worker();
            chunks.into_iter().for_each(|c| f(&mut w, c));
            return;
        }
        let helpers = (self.threads - 1).min(chunks.len() - 1);
        let chunks: Vec<Mutex<Option<C>>> =
            chunks.into_iter().map(|c| Mutex::new(Some(c))).collect();
        let next = AtomicUsize::new(0);
        let run = || {
            let mut w = worker();
            loop {
                let c = next.fetch_add(1, Relaxed);
                let Some(chunk) = chunks.get(c) else { break };
                if let Some(chunk) = chunk.lock().take() {
                    f(&mut w, chunk);
                }
            }
        };
        self.scope(helpers, run, run);
    }
}
