//! What every parallel strategy shares: the worker threads, the read-recording view, and the
//! size rules with the measured start that decide when a block is not worth a parallel run.

pub(crate) mod commutative;
pub(crate) mod graph;
pub(crate) mod pool;
pub(crate) mod recording;
pub(crate) mod size;
pub(crate) mod start;
pub(crate) mod tasks;
