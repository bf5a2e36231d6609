//! [`Node`]: one JSON-RPC endpoint over HTTP, through alloy's provider, with a bound on the
//! requests in flight, a timeout per attempt and retries with exponential backoff.
//!
//! Every method blocks its calling thread on the node's own tokio runtime, so that the
//! synchronous [`crate::state::StateView`] reads of any number of worker threads can share
//! one node (and its connection pool). Called from inside another runtime (an async
//! application embedding parevm), where tokio forbids blocking on a runtime, a call runs on
//! a short-lived thread of its own instead; a node dropped there shuts down in the
//! background.
//!
//! What is retried: HTTP 408, 429 and 5xx, JSON-RPC errors that alloy classifies as rate
//! limits, timeouts and refused or dropped connections. Everything else (a JSON-RPC error,
//! a missing method, a malformed answer) is final at once: asking again gives the same answer.
//! alloy's own retry layer waits a constant delay and leaves timeouts and most 5xx alone;
//! the loop here doubles the delay and covers them.

use super::RpcError;
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_provider::{Provider, RootProvider};
use alloy_rpc_client::RpcClient;
use alloy_transport::{TransportError, TransportErrorKind};
use alloy_transport_http::reqwest;
use serde_json::Value;
use std::{future::Future, time::Duration};
use tokio::{runtime::Runtime, sync::Semaphore};

/// How a [`Node`] talks to its endpoint.
#[derive(Debug, Clone)]
pub struct Options {
    /// Requests in flight at once, across every thread using the node.
    pub concurrency: usize,
    /// Attempts per request (the first plus the retries); at least 1.
    pub attempts: u32,
    /// The wait before the first retry; each further retry waits twice as long, up to
    /// [`MAX_BACKOFF`].
    pub backoff: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            concurrency: 16,
            attempts: 10,
            backoff: Duration::from_millis(250),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Attempts of the first request, which finds out whether a node is there at all.
const FIRST_ATTEMPTS: u32 = 3;

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// A JSON-RPC endpoint. Cheap to share by reference between threads.
#[derive(Debug)]
pub struct Node {
    url: String,
    provider: RootProvider,
    /// Always `Some` but while dropped.
    runtime: Option<Runtime>,
    in_flight: Semaphore,
    options: Options,
    chain_id: u64,
}

impl Drop for Node {
    fn drop(&mut self) {
        // Dropping a runtime blocks on its threads, which tokio forbids inside another
        // runtime; shutting down in the background is allowed anywhere.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Why one attempt failed, and whether another may succeed.
enum Failure {
    /// Worth another attempt; the text says what happened.
    Transient(Transient),
    /// Final.
    Final(RpcError),
}

/// What went wrong in an attempt that may be retried.
enum Transient {
    Connect(String),
    Timeout,
    Http(u16, String),
    Other(String),
}

impl Node {
    /// Connects to `url` and asks for its chain id, which must be `expected_chain` when given.
    pub fn connect(
        url: &str,
        expected_chain: Option<u64>,
        options: Options,
    ) -> Result<Node, RpcError> {
        let parsed: reqwest::Url = url.parse().map_err(|e| RpcError::BadUrl {
            url: url.to_string(),
            detail: format!("{e}"),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(RpcError::BadUrl {
                url: url.to_string(),
                detail: format!(
                    "scheme {:?} (parevm speaks HTTP and HTTPS)",
                    parsed.scheme()
                ),
            });
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("parevm-rpc")
            .enable_all()
            .build()
            .map_err(|e| RpcError::Runtime(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .build()
            .map_err(|e| RpcError::Runtime(e.to_string()))?;
        let client = RpcClient::new_http_with_client(http, parsed);
        let mut node = Node {
            url: url.to_string(),
            provider: RootProvider::new(client),
            runtime: Some(runtime),
            in_flight: Semaphore::new(options.concurrency.max(1)),
            options,
            chain_id: 0,
        };
        // A node that does not answer at first is more likely absent than busy: fewer
        // attempts before saying so.
        let first = node.options.attempts.min(FIRST_ATTEMPTS);
        node.chain_id = node.block_on(node.call_with("eth_chainId", first, || {
            node.provider.get_chain_id().into_future()
        }))?;
        match expected_chain {
            Some(expected) if expected != node.chain_id => Err(RpcError::WrongChain {
                url: node.url.clone(),
                served: node.chain_id,
                expected,
            }),
            _ => Ok(node),
        }
    }

    /// The chain id the node reported.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// Requests in flight at once.
    pub fn concurrency(&self) -> usize {
        self.options.concurrency.max(1)
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `future` to completion on the node's runtime, blocking this thread.
    pub(crate) fn block_on<F: Future + Send>(&self, future: F) -> F::Output
    where
        F::Output: Send,
    {
        let runtime = self.runtime.as_ref().expect("present until dropped");
        if tokio::runtime::Handle::try_current().is_err() {
            return runtime.block_on(future);
        }
        std::thread::scope(|s| {
            let call = s.spawn(|| runtime.block_on(future));
            call.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// The number of the node's newest block (`eth_blockNumber`).
    pub fn latest(&self) -> Result<u64, RpcError> {
        self.block_on(self.call("eth_blockNumber", || {
            self.provider.get_block_number().into_future()
        }))
    }

    /// `eth_getBlockByNumber(number, full)` as the node sent it.
    pub fn block(&self, number: u64, full: bool) -> Result<Value, RpcError> {
        let tag = format!("{number:#x}");
        let found: Option<Value> = self.block_on(self.call("eth_getBlockByNumber", || {
            self.provider
                .raw_request::<_, Option<Value>>("eth_getBlockByNumber".into(), (&tag, full))
        }))?;
        match found {
            Some(v) if !v.is_null() => Ok(v),
            _ => Err(RpcError::NoBlock(number)),
        }
    }

    /// The hash of block `number` (`eth_getBlockByNumber(number, false)`, of which only
    /// `hash` is read).
    pub async fn block_hash(&self, number: u64) -> Result<B256, RpcError> {
        let tag = format!("{number:#x}");
        let found: Option<Value> = self
            .call("eth_getBlockByNumber", || {
                self.provider
                    .raw_request::<_, Option<Value>>("eth_getBlockByNumber".into(), (&tag, false))
            })
            .await?;
        let block = found
            .filter(|v| !v.is_null())
            .ok_or(RpcError::NoBlock(number))?;
        block
            .get("hash")
            .and_then(|h| serde_json::from_value(h.clone()).ok())
            .ok_or_else(|| RpcError::Malformed {
                method: "eth_getBlockByNumber",
                detail: format!("block {number} has no valid `hash`"),
            })
    }

    /// `debug_traceBlockByNumber(number, {tracer: "prestateTracer"})`: one entry per
    /// transaction.
    pub fn prestate_trace(&self, number: u64) -> Result<Value, RpcError> {
        let tag = format!("{number:#x}");
        let config = serde_json::json!({ "tracer": "prestateTracer" });
        self.block_on(self.call("debug_traceBlockByNumber", || {
            self.provider
                .raw_request::<_, Value>("debug_traceBlockByNumber".into(), (&tag, &config))
        }))
    }

    /// Balance, nonce and code of `address` after the block whose hash is `at` (EIP-1898:
    /// a hash, unlike a number, cannot name another block after a reorganisation), read
    /// concurrently.
    pub async fn account(
        &self,
        address: Address,
        at: B256,
    ) -> Result<(U256, u64, Bytes), RpcError> {
        let balance = self.call("eth_getBalance", || {
            self.provider.get_balance(address).hash(at).into_future()
        });
        let nonce = self.call("eth_getTransactionCount", || {
            self.provider
                .get_transaction_count(address)
                .hash(at)
                .into_future()
        });
        let code = self.call("eth_getCode", || {
            self.provider.get_code_at(address).hash(at).into_future()
        });
        let (balance, nonce, code) = futures_util::try_join!(balance, nonce, code)?;
        Ok((balance, nonce, code))
    }

    /// Storage slot `index` of `address` after the block whose hash is `at`.
    pub async fn storage(&self, address: Address, index: U256, at: B256) -> Result<U256, RpcError> {
        self.call("eth_getStorageAt", || {
            self.provider
                .get_storage_at(address, index)
                .hash(at)
                .into_future()
        })
        .await
    }

    /// One request, retried on transient failures with a doubling wait.
    async fn call<T, F, Fut>(&self, method: &'static str, make: F) -> Result<T, RpcError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, TransportError>>,
    {
        self.call_with(method, self.options.attempts, make).await
    }

    /// [`Node::call`] with at most `attempts` attempts.
    async fn call_with<T, F, Fut>(
        &self,
        method: &'static str,
        attempts: u32,
        make: F,
    ) -> Result<T, RpcError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, TransportError>>,
    {
        let mut wait = self.options.backoff;
        let attempts = attempts.max(1);
        for attempt in 1..=attempts {
            let outcome = {
                let _permit = self.in_flight.acquire().await.expect("never closed");
                tokio::time::timeout(self.options.timeout, make()).await
            };
            let failure = match outcome {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) => classify(method, e),
                Err(_) => Failure::Transient(Transient::Timeout),
            };
            match failure {
                Failure::Final(e) => return Err(e),
                Failure::Transient(t) if attempt == attempts => {
                    return Err(self.exhausted(method, attempts, t));
                }
                Failure::Transient(_) => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_BACKOFF);
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    /// The error after the last attempt failed with `last`.
    fn exhausted(&self, method: &'static str, attempts: u32, last: Transient) -> RpcError {
        match last {
            Transient::Connect(detail) => RpcError::Unreachable {
                url: self.url.clone(),
                detail: format!("{detail} ({attempts} attempts)"),
            },
            Transient::Timeout => RpcError::Timeout {
                method,
                after: self.options.timeout,
                attempts,
            },
            Transient::Http(status, body) => RpcError::Http {
                method,
                status,
                body,
                attempts,
            },
            Transient::Other(detail) => RpcError::Transport {
                method,
                detail: format!("{detail} ({attempts} attempts)"),
            },
        }
    }
}

/// Sorts a failed attempt into transient and final.
fn classify(method: &'static str, error: TransportError) -> Failure {
    use alloy_transport::RpcError as E;
    match error {
        E::ErrorResp(payload) => {
            if payload.is_retry_err() {
                Failure::Transient(Transient::Other(payload.to_string()))
            } else {
                Failure::Final(node_error(method, payload.code, &payload.message))
            }
        }
        E::Transport(kind) => classify_transport(method, kind),
        E::NullResp => Failure::Final(RpcError::Malformed {
            method,
            detail: "the result is null".into(),
        }),
        E::DeserError { err, text } => Failure::Final(RpcError::Malformed {
            method,
            detail: format!("{err}; the answer began {:?}", excerpt(&text)),
        }),
        other => Failure::Final(RpcError::Transport {
            method,
            detail: other.to_string(),
        }),
    }
}

fn classify_transport(method: &'static str, kind: TransportErrorKind) -> Failure {
    if let Some(http) = kind.as_http_error() {
        let status = http.status;
        // A gateway may put a JSON-RPC error (such as an unknown method) in an HTTP error.
        let body: Option<Value> = serde_json::from_str(&http.body).ok();
        let rpc = body.as_ref().and_then(|b| b.get("error").or(Some(b)));
        if let Some(code) = rpc.and_then(|e| e.get("code")).and_then(Value::as_i64) {
            let message = rpc
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if is_missing_method(code, message) {
                return Failure::Final(RpcError::MissingMethod {
                    method,
                    message: message.to_string(),
                });
            }
        }
        return if status == 408 || status == 429 || status >= 500 {
            Failure::Transient(Transient::Http(status, excerpt(&http.body)))
        } else {
            Failure::Final(RpcError::Http {
                method,
                status,
                body: excerpt(&http.body),
                attempts: 1,
            })
        };
    }
    let reqwest = match &kind {
        TransportErrorKind::Custom(inner) => inner.downcast_ref::<reqwest::Error>(),
        _ => None,
    };
    if let Some(e) = reqwest {
        if e.is_timeout() {
            return Failure::Transient(Transient::Timeout);
        }
        if e.is_connect() || e.is_request() {
            return Failure::Transient(Transient::Connect(chain_of(e)));
        }
    }
    match kind {
        TransportErrorKind::BackendGone | TransportErrorKind::MissingBatchResponse(_) => {
            Failure::Transient(Transient::Other(kind.to_string()))
        }
        other => Failure::Final(RpcError::Transport {
            method,
            detail: other.to_string(),
        }),
    }
}

/// A JSON-RPC error answer as an [`RpcError`]: a missing method is told apart, since callers
/// fall back on it.
fn node_error(method: &'static str, code: i64, message: &str) -> RpcError {
    if is_missing_method(code, message) {
        RpcError::MissingMethod {
            method,
            message: message.to_string(),
        }
    } else {
        RpcError::Node {
            method,
            code,
            message: message.to_string(),
        }
    }
}

/// Whether an error answer says the method is not served: JSON-RPC's -32601, or the words
/// nodes and gateways use for it under other codes.
fn is_missing_method(code: i64, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    code == -32601
        || (m.contains("method")
            && [
                "not found",
                "does not exist",
                "not available",
                "not supported",
                "unsupported",
                "not allowed",
                "disabled",
            ]
            .iter()
            .any(|w| m.contains(w)))
}

/// The error and its causes, joined: reqwest's own text is only "error sending request".
fn chain_of(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// At most 200 characters of `text`.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_methods_are_told_apart_from_other_errors() {
        assert!(is_missing_method(-32601, "anything"));
        assert!(is_missing_method(
            -32000,
            "Method debug_traceBlockByNumber not supported"
        ));
        assert!(is_missing_method(
            -32603,
            "the method is disabled on this endpoint"
        ));
        assert!(!is_missing_method(
            -32000,
            "required historical state unavailable"
        ));
        assert!(!is_missing_method(-32000, "header not found"));
    }

    #[test]
    fn works_from_inside_another_runtime() {
        let outer = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Nothing listens on a port just released: the error, not a panic, comes back.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let options = Options {
            attempts: 2,
            backoff: Duration::from_millis(1),
            ..Options::default()
        };
        let result = outer.block_on(async { Node::connect(&url, None, options) });
        assert!(
            matches!(result, Err(RpcError::Unreachable { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn excerpts_stop_at_a_character_boundary() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(300);
        assert_eq!(excerpt(&long).chars().count(), 201);
    }
}
