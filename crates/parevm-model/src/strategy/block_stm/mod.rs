//! The Block-STM files under test, included from the engine's source.

#[path = "../../../../parevm/src/strategy/block_stm/lazy_index.rs"]
pub(crate) mod lazy_index;
pub(crate) mod mv_memory;
#[path = "../../../../parevm/src/strategy/block_stm/scheduler.rs"]
pub(crate) mod scheduler;
#[path = "../../../../parevm/src/strategy/block_stm/sync.rs"]
pub(crate) mod sync;

#[cfg(test)]
mod lazy_index_model;
#[cfg(test)]
mod scheduler_model;

/// The engine's cache prefetch is a hint with no effect on what the program computes: nothing
/// to model.
pub(crate) fn prefetch<T>(_value: &T) {}
