//! The persistent worker pools the parallel strategies run on, and a helper to split a pass
//! over a block between the caller and a pool.
//!
//! Creating threads for every block would cost more than a small block's whole run; a pool per
//! thread count is created once and kept. The calling thread is always one of the workers, so
//! a run on `threads` threads uses a pool of `threads - 1`.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// A persistent pool of `threads` threads (one per distinct size asked for), so that a block
/// does not pay for creating threads.
pub(crate) fn pool(threads: usize) -> std::sync::Arc<rayon::ThreadPool> {
    static POOLS: std::sync::OnceLock<Mutex<Vec<std::sync::Arc<rayon::ThreadPool>>>> =
        std::sync::OnceLock::new();
    let mut pools = POOLS.get_or_init(Default::default).lock();
    if let Some(p) = pools.iter().find(|p| p.current_num_threads() == threads) {
        return p.clone();
    }
    let p = std::sync::Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("parevm-{i}"))
            .build()
            .expect("thread pool"),
    );
    pools.push(p.clone());
    p
}

/// Runs `f` on every chunk on `threads` threads: the caller and `threads - 1` pool workers,
/// which claim chunks from a shared counter. `items` is how many items the chunks hold: below
/// `MIN_PARALLEL`, waking the pool's threads costs more than the work they would share.
pub(crate) fn parallel_chunks<C: Send>(
    chunks: Vec<C>,
    items: usize,
    threads: usize,
    f: impl Fn(C) + Sync,
) {
    const MIN_PARALLEL: usize = 1024;
    let threads = if items < MIN_PARALLEL { 1 } else { threads };
    for_each_chunk(chunks, threads, || (), |(), c| f(c));
}

/// Runs `f` on every chunk, lowest first, on `threads` threads: the caller and `threads - 1`
/// pool workers, each with its own state made by `worker` (an EVM, say), claiming chunks from
/// a shared counter. (Not rayon's `par_chunks_mut`: the pool has `threads - 1` threads because
/// the calling thread is a worker too, and inside `install` the caller would only wait.)
pub(crate) fn for_each_chunk<C: Send, W>(
    chunks: Vec<C>,
    threads: usize,
    worker: impl Fn() -> W + Sync,
    f: impl Fn(&mut W, C) + Sync,
) {
    if threads <= 1 || chunks.len() < 2 {
        let mut w = worker();
        chunks.into_iter().for_each(|c| f(&mut w, c));
        return;
    }
    let chunks: Vec<Mutex<Option<C>>> = chunks.into_iter().map(|c| Mutex::new(Some(c))).collect();
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
    let helpers = (threads - 1).min(chunks.len() - 1);
    pool(helpers).in_place_scope(|s| {
        for _ in 0..helpers {
            s.spawn(|_| run());
        }
        run();
    });
}
