//! The multi-version memory's lowest-writer tables, included from the engine's source.

#[path = "../../../../../parevm/src/strategy/block_stm/mv_memory/writers.rs"]
pub(super) mod writers;

#[cfg(test)]
mod writers_model;
