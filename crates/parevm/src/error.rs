//! Errors of loading and executing blocks. Every error names what was wrong and where.

use crate::state::StateError;
use alloy_primitives::B256;
use std::path::PathBuf;

/// A block could not be executed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// A transaction is invalid in this block (nonce, balance, gas limit, fee cap, ...).
    #[error("transaction {index} ({hash}) is invalid: {reason}")]
    InvalidTransaction {
        /// Position in the block.
        index: usize,
        /// Transaction hash.
        hash: B256,
        /// Why (revm's validation error, or the block-level rule broken).
        reason: String,
    },
    /// The block header is invalid for execution (e.g. missing prevrandao after the merge).
    #[error("invalid block header: {0}")]
    InvalidHeader(String),
    /// A required system call failed (EIP-7002 / EIP-7251 contracts missing or reverting).
    #[error("system call to {contract} failed: {reason}")]
    SystemCall {
        /// Which contract.
        contract: &'static str,
        /// Why.
        reason: String,
    },
    /// Reading state failed.
    #[error("state read failed: {0}")]
    State(#[from] StateError),
    /// The EVM reported an internal error.
    #[error("EVM error: {0}")]
    Evm(String),
    /// The block uses a rule parevm does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The block's access list (EIP-7928) is not what executing the block gives.
    #[error("block access list does not match execution: {0}")]
    AccessList(String),
    /// The worker threads could not be started (or zero were asked for).
    #[error("worker threads: {0}")]
    Workers(String),
    /// A worker thread panicked; the block's result is unknown.
    #[error("execution panicked in strategy {strategy}: {message}")]
    Panic {
        /// Strategy that was running.
        strategy: String,
        /// The panic message.
        message: String,
    },
}

impl ExecError {
    /// The index of the offending transaction, if the error is about one.
    pub fn tx_index(&self) -> Option<usize> {
        match self {
            ExecError::InvalidTransaction { index, .. } => Some(*index),
            _ => None,
        }
    }
}

/// Input could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid JSON or does not have the expected shape.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the JSON location where known.
        message: String,
    },
}

impl LoadError {
    /// Builds an [`LoadError::Invalid`].
    pub fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        LoadError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Extracts a readable message from a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
