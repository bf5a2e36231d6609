//! Blocks and their pre-states from a node over JSON-RPC (the `rpc` feature).
//!
//! [`Node`] is the endpoint (alloy's provider over HTTP, with bounded concurrency, timeouts
//! and retries); [`RemoteState`] reads the state after a block lazily, for execution straight
//! against the node; [`fetch::fetch_block`] turns a block number into what a block folder
//! holds, and [`fetch::write_folder`] writes it in the layout of the bundled mainnet blocks.
//!
//! A fetched pre-state is always checked before it is written: the block is executed on it
//! and must reproduce its header's gas used, logs bloom and receipts root. A node that serves
//! a wrong or incomplete pre-state is caught there, not when the folder is replayed.

mod client;
pub mod fetch;
mod state;

pub use client::{MAX_BACKOFF, Node, Options};
pub use state::{RemoteHashes, RemoteState, Touched};

use crate::error::LoadError;
use std::{path::PathBuf, time::Duration};

/// Why talking to a node, or using what it said, failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The URL cannot be used.
    #[error("invalid node URL {url:?}: {detail}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The async runtime or HTTP client could not be set up.
    #[error("cannot start the HTTP client: {0}")]
    Runtime(String),
    /// No connection could be made.
    #[error("cannot reach the node at {url}: {detail}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// The connection error.
        detail: String,
    },
    /// Every attempt timed out.
    #[error("{method}: no answer within {after:?} ({attempts} attempts)")]
    Timeout {
        /// The JSON-RPC method.
        method: &'static str,
        /// The timeout of one attempt.
        after: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// The node answered with an HTTP error status.
    #[error("{method}: the node answered HTTP {status} ({attempts} attempts): {body}")]
    Http {
        /// The JSON-RPC method.
        method: &'static str,
        /// The last HTTP status.
        status: u16,
        /// The start of the last answer's body.
        body: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Another transport failure.
    #[error("{method}: {detail}")]
    Transport {
        /// The JSON-RPC method.
        method: &'static str,
        /// What failed.
        detail: String,
    },
    /// The node does not serve the method.
    #[error("the node does not serve {method}: {message}")]
    MissingMethod {
        /// The JSON-RPC method.
        method: &'static str,
        /// The node's error message.
        message: String,
    },
    /// The prestateTracer was asked for and the node does not serve it.
    #[error(
        "the node does not serve debug_traceBlockByNumber ({message}); `--prestate execute` \
         reads the parent block's state with eth_getBalance, eth_getTransactionCount, \
         eth_getCode and eth_getStorageAt instead"
    )]
    NoTracer {
        /// The node's error message.
        message: String,
    },
    /// The node answered with a JSON-RPC error.
    #[error("{method}: the node answered error {code}: {message}")]
    Node {
        /// The JSON-RPC method.
        method: &'static str,
        /// The error code.
        code: i64,
        /// The error message.
        message: String,
    },
    /// The answer is not what the method returns.
    #[error("{method}: malformed answer: {detail}")]
    Malformed {
        /// The JSON-RPC method.
        method: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The node has no such block.
    #[error("block {0} does not exist on the node")]
    NoBlock(u64),
    /// The node serves another chain.
    #[error(
        "the node at {url} serves chain id {served}, but chain id {expected} was expected \
         (pass --chain-id {served} to use it)"
    )]
    WrongChain {
        /// The endpoint.
        url: String,
        /// The chain id the node reported.
        served: u64,
        /// The chain id asked for.
        expected: u64,
    },
    /// The node's block JSON does not decode or its hashes do not match.
    #[error("block {number} from the node: {source}")]
    Block {
        /// The block number.
        number: u64,
        /// What is wrong.
        source: LoadError,
    },
    /// Executing the block on the fetched pre-state failed.
    #[error("block {number}: execution on the pre-state read {via} failed: {detail}{note}")]
    Execution {
        /// The block number.
        number: u64,
        /// How the pre-state was read.
        via: &'static str,
        /// The engine's error.
        detail: String,
        /// A likely cause, or nothing.
        note: &'static str,
    },
    /// The fetched pre-state does not reproduce the block's header.
    #[error("block {number}: the pre-state read {via} does not reproduce the header: {}{note}", problems.join("; "))]
    Mismatch {
        /// The block number.
        number: u64,
        /// How the pre-state was read.
        via: &'static str,
        /// The header fields that differ.
        problems: Vec<String>,
        /// A likely cause, or nothing.
        note: &'static str,
    },
    /// Reading or writing a block folder failed.
    #[error("{}: {detail}", path.display())]
    Folder {
        /// The file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
}
