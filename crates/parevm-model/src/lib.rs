//! Model checking of Block-STM's concurrent structures with [shuttle].
//!
//! This crate compiles the engine's own source files of the scheduler, the lowest-writer
//! tables and the lazy-write index (included by path, not copied), with `cfg(parevm_model)`
//! swapping their atomics, mutexes and spins for shuttle's (see `block_stm::sync`). Its tests
//! run two or three workers on tiny blocks under shuttle's randomized and PCT schedulers,
//! which explore thread interleavings systematically and fail on a deadlock, a livelock or a
//! broken invariant. The module tree mirrors parevm's so that the included files' paths
//! resolve; `block` and `state` re-export the few parevm items they name.
//!
//! Items the engine uses and these tests do not are dead code here.
#![allow(dead_code)]

mod strategy;

/// parevm's block model, as the included files name it.
mod block {
    pub(crate) use parevm::block::Transaction;
}

/// parevm's state errors, as the included files name them.
mod state {
    pub(crate) use parevm::state::StateError;
}
