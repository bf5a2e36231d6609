//! Blocks in the JSON of `eth_getBlockByNumber(n, true)` with a geth prestateTracer pre-state
//! (`prestate.json`) and a table of ancestor hashes (`block_hashes.json`): the layout of
//! `../shared/fixtures/mainnet/<n>/`.
//!
//! The header is decoded with alloy's RPC types and its hash is verified; every transaction
//! is decoded as a consensus envelope, its hash verified against the JSON's `hash`, and its
//! sender taken from `from` or recovered from the signature.

use super::{
    json::{self, read_json},
    prestate::PreState,
};
use crate::{
    block::Block,
    chain::{ChainSpec, Fork},
    error::LoadError,
    state::InMemoryState,
};
use alloy_consensus::TxEnvelope;
use alloy_eips::eip4895::Withdrawal;
use alloy_primitives::B256;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Parses a block from RPC JSON. `path` is used in error messages only.
pub fn parse_block(value: &Value, chain: &ChainSpec, path: &Path) -> Result<Block, LoadError> {
    let err = |m: String| LoadError::invalid(path, m);
    let rpc_header: alloy_rpc_types_eth::Header =
        json::from_value(value, "block header").map_err(err)?;
    let header = rpc_header.inner;
    let computed = header.hash_slow();
    if computed != rpc_header.hash {
        return Err(err(format!(
            "header hash mismatch: JSON says {}, the header fields hash to {computed}",
            rpc_header.hash
        )));
    }
    let txs = json::field(value, "transactions", "block").map_err(err)?;
    let txs = txs
        .as_array()
        .ok_or_else(|| err("`transactions` is not an array".into()))?;
    let mut transactions = Vec::with_capacity(txs.len());
    for (i, tx) in txs.iter().enumerate() {
        transactions.push(parse_tx(tx).map_err(|m| err(format!("transaction {i}: {m}")))?);
    }
    let withdrawals: Vec<Withdrawal> = match value.get("withdrawals") {
        None | Some(Value::Null) => Vec::new(),
        Some(w) => json::from_value(w, "withdrawals").map_err(err)?,
    };
    let uncles = match value.get("uncles") {
        None | Some(Value::Null) => 0,
        Some(u) => u.as_array().map_or(0, Vec::len),
    };
    let (fork, blob_params) = Block::fork_of(chain, &header);
    Ok(Block {
        hash: rpc_header.hash,
        fork,
        chain_id: chain.chain_id,
        blob_params,
        transactions,
        withdrawals,
        ommers: Vec::new(),
        unknown_ommers: uncles,
        system_operations: true,
        record_access: false,
        access_list: None,
        header,
    })
}

fn parse_tx(tx: &Value) -> Result<crate::block::Transaction, String> {
    let ty = match tx.get("type") {
        None | Some(Value::Null) => 0,
        Some(t) => json::u64(t, "type")?,
    };
    if ty > 4 {
        return Err(format!(
            "unknown transaction type {ty:#x} (parevm knows types 0x0 to 0x4)"
        ));
    }
    let envelope: TxEnvelope = json::from_value(tx, "transaction fields")?;
    if let Some(h) = tx.get("hash") {
        let declared = json::b256(h, "hash")?;
        if declared != *envelope.tx_hash() {
            return Err(format!(
                "hash mismatch: JSON says {declared}, the fields hash to {}",
                envelope.tx_hash()
            ));
        }
    }
    let from = match tx.get("from") {
        None | Some(Value::Null) => None,
        Some(f) => Some(json::address(f, "from")?),
    };
    super::tx::from_envelope(&envelope, from)
}

/// Parses a prestateTracer JSON object into `state`.
pub fn parse_prestate(
    value: &Value,
    state: &mut InMemoryState,
    path: &Path,
) -> Result<(), LoadError> {
    let pre = PreState::parse(value, "pre-state").map_err(|m| LoadError::invalid(path, m))?;
    pre.apply_to(state);
    Ok(())
}

/// Parses `{"<decimal number>": "0x<hash>"}` into `state`.
pub fn parse_block_hashes(
    value: &Value,
    state: &mut InMemoryState,
    path: &Path,
) -> Result<(), LoadError> {
    let obj = value
        .as_object()
        .ok_or_else(|| LoadError::invalid(path, "expected an object of block hashes"))?;
    for (n, h) in obj {
        let number: u64 = n.parse().map_err(|_| {
            LoadError::invalid(path, format!("key {n:?} is not a decimal block number"))
        })?;
        let hash: B256 = json::b256(h, &format!("hash of block {n}"))
            .map_err(|m| LoadError::invalid(path, m))?;
        state.insert_block_hash(number, hash);
    }
    Ok(())
}

/// A block folder: `block.json`, `prestate.json`, and `block_hashes.json` in it or its parent.
#[derive(Debug, Clone)]
pub struct BlockFolder {
    /// The folder.
    pub dir: PathBuf,
}

impl BlockFolder {
    /// True if `dir` holds a `block.json`.
    pub fn is_block_folder(dir: &Path) -> bool {
        dir.join("block.json").is_file()
    }

    /// Finds block folders: `path` itself, or its sub-folders (sorted by block number).
    pub fn discover(path: &Path) -> Result<Vec<BlockFolder>, LoadError> {
        if Self::is_block_folder(path) {
            return Ok(vec![BlockFolder {
                dir: path.to_path_buf(),
            }]);
        }
        let entries = std::fs::read_dir(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| Self::is_block_folder(p))
            .collect();
        if found.is_empty() {
            return Err(LoadError::invalid(
                path,
                "no block.json here or in its sub-folders",
            ));
        }
        found.sort_by_key(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            (name.parse::<u64>().unwrap_or(u64::MAX), name.to_string())
        });
        Ok(found.into_iter().map(|dir| BlockFolder { dir }).collect())
    }

    /// A short name (the folder name).
    pub fn name(&self) -> String {
        self.dir.file_name().map_or_else(
            || self.dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// The chain the block belongs to: `chain.json` in the folder or its parent (written by
    /// `parevm fetch` for chains other than mainnet), else mainnet.
    pub fn chain(&self) -> Result<ChainSpec, LoadError> {
        let found = [
            self.dir.join(CHAIN_FILE),
            self.dir.join("..").join(CHAIN_FILE),
        ]
        .into_iter()
        .find(|p| p.is_file());
        match found {
            None => Ok(ChainSpec::mainnet()),
            Some(path) => {
                let (id, fork) = read_chain(&path)?;
                chain_for(id, fork).map_err(|m| LoadError::invalid(&path, m))
            }
        }
    }

    /// Loads the block and its pre-state under the folder's own chain ([`Self::chain`]).
    pub fn open(&self) -> Result<(Block, InMemoryState), LoadError> {
        self.load(&self.chain()?)
    }

    /// Loads the block and its pre-state under `chain`.
    pub fn load(&self, chain: &ChainSpec) -> Result<(Block, InMemoryState), LoadError> {
        let block_path = self.dir.join("block.json");
        let block = parse_block(&read_json(&block_path)?, chain, &block_path)?;
        let mut state = InMemoryState::new();
        let pre_path = self.dir.join("prestate.json");
        parse_prestate(&read_json(&pre_path)?, &mut state, &pre_path)?;
        let hashes = [
            self.dir.join("block_hashes.json"),
            self.dir.join("../block_hashes.json"),
        ]
        .into_iter()
        .find(|p| p.is_file());
        if let Some(hashes) = hashes {
            parse_block_hashes(&read_json(&hashes)?, &mut state, &hashes)?;
        }
        if block.number() > 0 {
            state.insert_block_hash(block.number() - 1, block.header.parent_hash);
        }
        Ok((block, state))
    }
}

/// The file naming a folder's chain when it is not mainnet.
pub const CHAIN_FILE: &str = "chain.json";

/// The chain rules for the chain id `id`: mainnet's fork schedule for 1, else `fork` for
/// every block (a devnet or rollup that runs one fork).
pub fn chain_for(id: u64, fork: Option<Fork>) -> Result<ChainSpec, String> {
    match (id, fork) {
        (_, Some(f)) => Ok(ChainSpec::single_fork(id, f)),
        (1, None) => Ok(ChainSpec::mainnet()),
        (id, None) => Err(format!(
            "chain id {id} is not mainnet, whose fork schedule is the only one parevm knows: \
             name the fork its blocks run (--fork)"
        )),
    }
}

/// Reads `chain.json`: `{"chainId": n, "fork": "Prague"}`.
fn read_chain(path: &Path) -> Result<(u64, Option<Fork>), LoadError> {
    let value = read_json(path)?;
    let err = |m: String| LoadError::invalid(path, m);
    let id = json::u64(
        json::field(&value, "chainId", "chain").map_err(err)?,
        "chainId",
    )
    .map_err(err)?;
    let fork = match value.get("fork") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => {
            Some(Fork::from_test_name(name).ok_or_else(|| err(format!("unknown fork {name:?}")))?)
        }
        Some(other) => return Err(err(format!("`fork` is not a fork name: {other}"))),
    };
    Ok((id, fork))
}

/// Records in `dir` which chain its block folders belong to: nothing for mainnet, else
/// `chain.json`. A folder already holding another chain's blocks is an error.
pub fn write_chain(dir: &Path, id: u64, fork: Option<Fork>) -> Result<(), LoadError> {
    let path = dir.join(CHAIN_FILE);
    let existing = if path.is_file() {
        Some(read_chain(&path)?)
    } else {
        None
    };
    let holds_blocks = BlockFolder::discover(dir).is_ok();
    match existing {
        Some(found) if found != (id, fork) => Err(LoadError::invalid(
            &path,
            format!(
                "the folder holds blocks of chain id {} ({}); these are of chain id {id}",
                found.0,
                found.1.map_or("mainnet's forks".into(), |f| f.to_string())
            ),
        )),
        Some(_) => Ok(()),
        None if (id, fork) == (1, None) => Ok(()),
        None if holds_blocks => Err(LoadError::invalid(
            dir,
            format!("the folder holds mainnet blocks; these are of chain id {id}"),
        )),
        None => {
            let text = serde_json::json!({ "chainId": id, "fork": fork.map(|f| f.to_string()) });
            std::fs::create_dir_all(dir).map_err(|source| LoadError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            std::fs::write(&path, format!("{text:#}\n")).map_err(|source| LoadError::Io {
                path: path.clone(),
                source,
            })
        }
    }
}
