//! parevm's `strategy` module, reduced to the included Block-STM files.

pub(crate) mod block_stm;
