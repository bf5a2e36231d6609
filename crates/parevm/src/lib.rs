//! # parevm
//!
//! A parallel EVM block-execution engine: several parallel execution paradigms implemented
//! as pluggable [strategies](strategy) over one real EVM ([revm]) and one block model, so that
//! they can be embedded by clients and compared on the same blocks. Every strategy must
//! produce exactly what [sequential](strategy::sequential) execution produces.
//!
//! The data flow is: a source ([`sources`]) builds a [`Block`] and a pre-state ([`StateView`]);
//! [`execute_block`] runs it with a [`Strategy`]; the [`BlockOutput`] is checked against the
//! header, against other strategies, or applied to a state.
//!
//! ```
//! use parevm::{execute_block, strategy, sources::example};
//!
//! // A small built-in block: value transfers between a few accounts.
//! let (block, state) = example::transfer_block(8);
//! let seq = strategy::by_name("sequential").unwrap();
//! let out = execute_block(&block, &state, seq, 1).unwrap();
//! assert_eq!(out.txs.len(), 8);
//! assert!(out.txs.iter().all(|t| t.receipt.success));
//! assert!(out.check_header(&block).passed());
//! ```

pub mod bal;
pub mod bench;
pub mod block;
pub mod chain;
pub mod checks;
pub mod conformance;
pub mod core;
pub mod engine;
pub mod error;
pub mod fuzz;
pub mod output;
pub mod pipeline;
pub mod predict;
pub mod profile;
pub mod report;
pub mod sources;
pub mod state;
pub mod store;
pub mod strategy;

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExamples;

pub use block::{Block, Transaction};
pub use chain::{ChainSpec, Fork};
pub use engine::{Engine, execute_block};
pub use error::{ExecError, LoadError};
pub use output::{BlockOutput, ExecStats, Receipt, TxOutput};
pub use state::{InMemoryState, StateView};
pub use strategy::{Strategy, Workers};
