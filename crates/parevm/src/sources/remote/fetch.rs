//! One block from a node into a block folder: the block with its transactions, the pre-state
//! (from the prestateTracer, or by executing the block against the parent's state read
//! lazily), and the ancestor hashes its BLOCKHASH reads.
//!
//! Both pre-state paths end the same way: the block is executed on the pre-state with block
//! hashes read from the node, its header is checked, and the hashes it read are kept. So the
//! ancestor table holds exactly what the block reads, and a folder is written only when it
//! replays.

use super::{Node, RemoteHashes, RemoteState, RpcError, Touched};
use crate::{
    block::Block,
    chain::{ChainSpec, Fork},
    engine::execute_block,
    predict::{Loc, Predictor, access_list::AccessList},
    sources::{json, prestate::PreState, rpc::parse_block},
    state::{InMemoryState, StateError, StateView, WithBlockHashes},
    strategy::{Workers, sequential::Sequential},
};
use alloy_primitives::B256;
use serde_json::Value;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

/// Where a block's pre-state is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrestateSource {
    /// The prestateTracer when the node serves it and its pre-state reproduces the header,
    /// else [`PrestateSource::Execute`].
    Auto,
    /// `debug_traceBlockByNumber` with the prestateTracer only.
    Tracer,
    /// Executing the block against the parent block's state, read account by account.
    Execute,
}

/// How a fetched pre-state was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The prestateTracer.
    Tracer,
    /// Execution against the parent's state.
    Execute,
}

impl Via {
    /// How it is named in messages.
    pub fn name(self) -> &'static str {
        match self {
            Via::Tracer => "with the prestateTracer",
            Via::Execute => "by execution against the parent state",
        }
    }
}

/// A block and everything its folder holds.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The block number.
    pub number: u64,
    /// Transactions in the block.
    pub transactions: usize,
    /// `eth_getBlockByNumber(number, true)` as the node sent it.
    pub block: Value,
    /// The state the block found.
    pub prestate: PreState,
    /// The ancestor hashes the block reads, and its parent's.
    pub hashes: BTreeMap<u64, B256>,
    /// How the pre-state was read.
    pub via: Via,
}

/// Reads block `number` with its transactions and decodes it (hashes verified).
pub fn load_block(node: &Node, number: u64, chain: &ChainSpec) -> Result<(Value, Block), RpcError> {
    let value = node.block(number, true)?;
    let origin = PathBuf::from(format!("eth_getBlockByNumber({number}) at {}", node.url()));
    let block =
        parse_block(&value, chain, &origin).map_err(|source| RpcError::Block { number, source })?;
    if block.number() != number {
        return Err(RpcError::Malformed {
            method: "eth_getBlockByNumber",
            detail: format!("asked for block {number}, got block {}", block.number()),
        });
    }
    Ok((value, block))
}

/// Fetches block `number`. `notice` hears about a fallback from the tracer to execution.
pub fn fetch_block(
    node: &Node,
    number: u64,
    chain: &ChainSpec,
    source: PrestateSource,
    notice: &mut dyn FnMut(&str),
) -> Result<Fetched, RpcError> {
    if number == 0 {
        return Err(RpcError::Malformed {
            method: "eth_getBlockByNumber",
            detail: "block 0 has no pre-state to fetch (its state is the genesis)".into(),
        });
    }
    let (value, block) = load_block(node, number, chain)?;
    let fetched = |(prestate, hashes, via)| Fetched {
        number,
        transactions: block.transactions.len(),
        block: value.clone(),
        prestate,
        hashes,
        via,
    };
    let auto = source == PrestateSource::Auto;
    let traced = match source {
        PrestateSource::Execute => None,
        PrestateSource::Tracer | PrestateSource::Auto => match node.prestate_trace(number) {
            Ok(trace) => Some(merge_trace(&trace, block.transactions.len())?),
            Err(RpcError::MissingMethod { message, .. }) if auto => {
                notice(&format!(
                    "block {number}: the node does not serve debug_traceBlockByNumber \
                     ({message}); {FALLBACK}"
                ));
                None
            }
            Err(RpcError::MissingMethod { message, .. }) => {
                return Err(RpcError::NoTracer { message });
            }
            Err(e) => return Err(e),
        },
    };
    if let Some(pre) = traced {
        match from_tracer(node, &block, pre) {
            Ok(found) => return Ok(fetched(found)),
            Err(e @ (RpcError::Mismatch { .. } | RpcError::Execution { .. })) if auto => {
                notice(&format!("{e}; {FALLBACK}"));
            }
            Err(e) => return Err(e),
        }
    }
    from_execution(node, &block).map(fetched)
}

/// What `auto` does when the tracer does not serve.
const FALLBACK: &str = "reading the parent block's state with eth_getBalance, \
    eth_getTransactionCount, eth_getCode and eth_getStorageAt instead";

/// A pre-state, the block hashes read, and how the pre-state was read.
type Found = (PreState, BTreeMap<u64, B256>, Via);

/// Checks the tracer's pre-state by executing the block on it.
fn from_tracer(node: &Node, block: &Block, pre: PreState) -> Result<Found, RpcError> {
    let mut state = InMemoryState::new();
    pre.apply_to(&mut state);
    let hashes = RemoteHashes::new(node);
    hashes.insert(block.number() - 1, block.header.parent_hash);
    let view = WithBlockHashes {
        inner: &state,
        hashes: |n| {
            Some(
                hashes
                    .get(n)
                    .map_err(|e| StateError::Backend(e.to_string())),
            )
        },
    };
    check(block, &view, Via::Tracer)?;
    Ok((pre, hashes.read(), Via::Tracer))
}

/// Executes the block against the parent block's state, reading what it reads.
fn from_execution(node: &Node, block: &Block) -> Result<Found, RpcError> {
    let remote = RemoteState::new(node, block.header.parent_hash);
    remote
        .hashes()
        .insert(block.number() - 1, block.header.parent_hash);
    warm_up(block, &remote)?;
    let touched = Touched::new(&remote);
    check(block, &touched, Via::Execute)?;
    let pre = remote.prestate(&touched.into_read());
    Ok((pre, remote.hashes().read(), Via::Execute))
}

/// Reads most of what `block` will read from the node, many requests at a time, so that the
/// sequential run after it seldom waits on the network: first what the envelopes name, then
/// what a parallel speculative execution (`monad-speculative` on as many threads as requests
/// may be in flight, at most 16) reads. That run's result is dropped; it may read locations
/// the block does not (from speculative state), which stay in the cache only.
pub fn warm_up(block: &Block, remote: &RemoteState<'_>) -> Result<(), RpcError> {
    remote.prefetch(predicted(block))?;
    let threads = remote.node().concurrency().min(16);
    if let (Some(strategy), Ok(engine)) = (
        crate::strategy::by_name("monad-speculative"),
        crate::engine::Engine::new(threads),
    ) {
        // A failure here (a network error, an invalid transaction) comes back, named, from
        // the sequential run.
        let _ = engine.execute(block, remote, strategy);
    }
    Ok(())
}

/// What the block's envelopes name (senders, recipients, the beneficiary, EIP-2930 lists,
/// withdrawal recipients): read together before execution, instead of one at a time in it.
pub fn predicted(block: &Block) -> Vec<Loc> {
    // The predictor reads a recipient's code only to mark its prediction partial, which
    // does not matter here: an empty state answers that without asking the node.
    let one = Workers::one();
    let mut locs: Vec<Loc> = AccessList
        .predict(block, &InMemoryState::new(), &one)
        .ok()
        .flatten()
        .unwrap_or_default()
        .into_iter()
        .flat_map(|p| p.reads)
        .collect();
    locs.push(Loc::Account(block.header.beneficiary));
    locs.extend(block.withdrawals.iter().map(|w| Loc::Account(w.address)));
    locs
}

/// Why execution against state read by JSON-RPC can go wrong before Spurious Dragon.
const EMPTY_ACCOUNTS: &str = " (before Spurious Dragon an empty account differs from a missing \
     one, and eth_getBalance, eth_getTransactionCount and eth_getCode cannot tell them apart: \
     fetch this block from a node that serves the prestateTracer)";

/// Executes `block` sequentially on `state` and checks its header.
fn check(block: &Block, state: &dyn StateView, via: Via) -> Result<(), RpcError> {
    let number = block.number();
    let note = match via {
        Via::Execute if !block.fork.at_least(Fork::SpuriousDragon) => EMPTY_ACCOUNTS,
        _ => "",
    };
    let out = execute_block(block, state, &Sequential, 1).map_err(|e| RpcError::Execution {
        number,
        via: via.name(),
        detail: e.to_string(),
        note,
    })?;
    let problems = out.check_header(block).mismatches;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RpcError::Mismatch {
            number,
            via: via.name(),
            problems,
            note,
        })
    }
}

/// The block's pre-state from a `debug_traceBlockByNumber` answer: one prestateTracer object
/// per transaction, merged so that the first mention of an account or slot wins.
pub fn merge_trace(trace: &Value, transactions: usize) -> Result<PreState, RpcError> {
    let bad = |detail: String| RpcError::Malformed {
        method: "debug_traceBlockByNumber",
        detail,
    };
    let entries = trace
        .as_array()
        .ok_or_else(|| bad(format!("expected an array, found {}", kind(trace))))?;
    if entries.len() != transactions {
        return Err(bad(format!(
            "{} results for a block of {transactions} transactions",
            entries.len()
        )));
    }
    let mut pre = PreState::default();
    for (i, entry) in entries.iter().enumerate() {
        if let Some(e) = entry.get("error") {
            return Err(bad(format!("transaction {i}: the tracer failed: {e}")));
        }
        let result = entry
            .get("result")
            .ok_or_else(|| bad(format!("transaction {i}: no `result`")))?;
        pre.merge_first(result, &format!("transaction {i}"))
            .map_err(bad)?;
    }
    Ok(pre)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Writes `fetched` under `dir`: `dir/<number>/block.json`, `dir/<number>/prestate.json`, and
/// its hashes merged into `dir/block_hashes.json`. A hash that disagrees with one already
/// there is an error, and nothing of the block is written then.
pub fn write_folder(dir: &Path, fetched: &Fetched) -> Result<PathBuf, RpcError> {
    let table = dir.join("block_hashes.json");
    let mut hashes = read_hashes(&table)?;
    for (n, h) in &fetched.hashes {
        match hashes.insert(*n, *h) {
            Some(old) if old != *h => {
                return Err(RpcError::Folder {
                    path: table,
                    detail: format!(
                        "says block {n} has hash {old}, the node says {h}: another chain?"
                    ),
                });
            }
            _ => {}
        }
    }
    let folder = dir.join(fetched.number.to_string());
    std::fs::create_dir_all(&folder).map_err(|e| io(&folder, e))?;
    write_json(&folder.join("block.json"), &fetched.block)?;
    write_json(&folder.join("prestate.json"), &fetched.prestate.to_json())?;
    write_text(&table, &hashes_text(&hashes))?;
    Ok(folder)
}

/// The table in block order, one entry a line (a JSON object's keys would sort as text).
fn hashes_text(hashes: &BTreeMap<u64, B256>) -> String {
    let lines: Vec<String> = hashes
        .iter()
        .map(|(n, h)| format!(" \"{n}\": \"{h}\""))
        .collect();
    format!("{{\n{}\n}}\n", lines.join(",\n"))
}

/// `block_hashes.json` if it exists.
fn read_hashes(path: &Path) -> Result<BTreeMap<u64, B256>, RpcError> {
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let value = json::read_json(path).map_err(|e| RpcError::Folder {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let mut state = InMemoryState::new();
    super::super::rpc::parse_block_hashes(&value, &mut state, path).map_err(|e| {
        RpcError::Folder {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }
    })?;
    Ok(state.block_hashes().collect())
}

/// Writes `value` pretty-printed.
fn write_json(path: &Path, value: &Value) -> Result<(), RpcError> {
    write_text(
        path,
        &serde_json::to_string_pretty(value).expect("JSON values serialize"),
    )
}

/// Writes under a temporary name and renames, so a reader never sees half a file.
fn write_text(path: &Path, text: &str) -> Result<(), RpcError> {
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, text).map_err(|e| io(&partial, e))?;
    std::fs::rename(&partial, path).map_err(|e| io(path, e))
}

fn io(path: &Path, e: std::io::Error) -> RpcError {
    RpcError::Folder {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}
