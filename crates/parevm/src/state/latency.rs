//! A state view that adds a fixed latency to every read of the underlying state: the
//! I/O-bound regime (state on disk or over the network), where parallel execution hides
//! latency rather than sharing CPU.
//!
//! Latencies of 50 µs and more sleep, so the thread yields its core as real I/O would;
//! shorter ones spin, because sleep granularity on Linux is about 50 µs.

use super::{AccountInfo, Bytecode, StateError, StateView};
use alloy_primitives::{Address, B256, U256};
use std::time::{Duration, Instant};

/// Wraps a view and delays each read by `latency`.
#[derive(Debug)]
pub struct LatencyState<S> {
    inner: S,
    latency: Duration,
}

impl<S> LatencyState<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, latency: Duration) -> Self {
        LatencyState { inner, latency }
    }

    fn wait(&self) {
        if self.latency.is_zero() {
        } else if self.latency >= Duration::from_micros(50) {
            std::thread::sleep(self.latency);
        } else {
            let until = Instant::now() + self.latency;
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
    }
}

impl<S: StateView> StateView for LatencyState<S> {
    fn account(&self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        self.wait();
        self.inner.account(address)
    }
    fn code_by_hash(&self, code_hash: B256) -> Result<Bytecode, StateError> {
        self.wait();
        self.inner.code_by_hash(code_hash)
    }
    fn storage(&self, address: Address, index: U256) -> Result<U256, StateError> {
        self.wait();
        self.inner.storage(address, index)
    }
    fn block_hash(&self, number: u64) -> Result<B256, StateError> {
        self.wait();
        self.inner.block_hash(number)
    }
}
