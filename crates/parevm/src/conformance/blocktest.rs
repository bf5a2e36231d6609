//! BlockchainTests (ethereum/tests `ValidBlocks`): build the genesis state from `pre`, execute
//! each block (decoded from its RLP, senders recovered from signatures) on its parent's state
//! with the chosen strategy, and check per block the header's gas used, receipts root, logs
//! bloom **and state root** (the state is complete here), then the final `postState`.
//!
//! Blocks are executed on the state of their parent by hash, so tests whose blocks form
//! several branches (re-orgs) work; BLOCKHASH sees the ancestors of the block's own branch.

use super::{
    CaseResult, Outcome, skip,
    statetest::{diff_state, parse_pre},
};
use crate::{
    block::{Block, Ommer},
    chain::{ChainSpec, Fork},
    engine::Engine,
    error::LoadError,
    sources::{
        json::{self},
        tx::from_envelope,
    },
    state::{BlockHashes, InMemoryState},
    strategy::Strategy,
};
use alloy_consensus::TxEnvelope;
use alloy_primitives::{B256, map::HashMap};
use alloy_rlp::Decodable;
use serde_json::Value;
use std::path::Path;

/// Runs every test of one blockchain test file.
pub fn run_file(
    path: &Path,
    strategy: &dyn Strategy,
    engine: &Engine,
) -> Result<Vec<CaseResult>, LoadError> {
    let (file_name, tests) = super::read_tests(path)?;
    let mut results = Vec::new();
    for (name, test) in &tests {
        let label = format!("{file_name}::{name}");
        if let Some(why) = skip::file_skip_reason(path) {
            results.push(CaseResult {
                name: label,
                outcome: Outcome::Skipped(why.into()),
            });
            continue;
        }
        let network = json::field(test, "network", "test")
            .and_then(|n| {
                n.as_str()
                    .ok_or_else(|| "`network` is not a string".to_string())
            })
            .map_err(|m| LoadError::invalid(path, format!("test {name}: {m}")))?;
        let Some(fork) = Fork::from_test_name(network) else {
            match skip::fork_skip_reason(network) {
                Some(why) => {
                    results.push(CaseResult {
                        name: label,
                        outcome: Outcome::Skipped(why.into()),
                    });
                    continue;
                }
                None => {
                    return Err(LoadError::invalid(
                        path,
                        format!("test {name}: unknown network {network:?}"),
                    ));
                }
            }
        };
        let outcome = run_test(test, fork, strategy, engine)
            .map_err(|m| LoadError::invalid(path, format!("test {name}: {m}")))?;
        results.push(CaseResult {
            name: label,
            outcome,
        });
    }
    Ok(results)
}

struct Node {
    number: u64,
    parent: B256,
    state: InMemoryState,
}

fn run_test(
    test: &Value,
    fork: Fork,
    strategy: &dyn Strategy,
    engine: &Engine,
) -> Result<Outcome, String> {
    let chain = ChainSpec::single_fork(1, fork);
    let mut genesis_state = parse_pre(json::field(test, "pre", "test")?)?;
    genesis_state.set_block_hash_mode(BlockHashes::Table);
    let genesis = json::field(test, "genesisBlockHeader", "test")?;
    let genesis_hash = json::b256(
        json::field(genesis, "hash", "genesisBlockHeader")?,
        "genesis hash",
    )?;
    let genesis_root = json::b256(
        json::field(genesis, "stateRoot", "genesisBlockHeader")?,
        "genesis stateRoot",
    )?;
    if genesis_state.state_root() != genesis_root {
        return Ok(Outcome::Failed(format!(
            "genesis: pre-state root {} differs from the genesis header's {genesis_root}",
            genesis_state.state_root()
        )));
    }
    let mut nodes: HashMap<B256, Node> = HashMap::default();
    nodes.insert(
        genesis_hash,
        Node {
            number: 0,
            parent: B256::ZERO,
            state: genesis_state,
        },
    );

    let blocks = json::field(test, "blocks", "test")?
        .as_array()
        .ok_or("`blocks` is not an array")?;
    for (i, b) in blocks.iter().enumerate() {
        let rlp = json::bytes(
            json::field(b, "rlp", &format!("blocks[{i}]"))?,
            &format!("blocks[{i}].rlp"),
        )?;
        let expects_failure = b.get("expectException").is_some();
        let decoded = match alloy_consensus::Block::<TxEnvelope>::decode(&mut rlp.as_ref()) {
            Ok(d) => d,
            Err(e) if expects_failure => {
                let _ = e;
                continue;
            }
            Err(e) => return Err(format!("blocks[{i}]: cannot decode the block RLP: {e}")),
        };
        let header = &decoded.header;
        let hash = header.hash_slow();
        let Some(parent) = nodes.get(&header.parent_hash) else {
            return Ok(Outcome::Failed(format!(
                "block {i} ({hash}): unknown parent {}",
                header.parent_hash
            )));
        };
        let mut state = parent.state.clone();
        // BLOCKHASH sees this branch's ancestors (up to 256).
        let mut cursor = header.parent_hash;
        while let Some(node) = nodes.get(&cursor) {
            state.insert_block_hash(node.number, cursor);
            if node.number == 0 || header.number.saturating_sub(node.number) >= 256 {
                break;
            }
            cursor = node.parent;
        }
        let mut block = block_of(decoded, hash, &chain).map_err(|m| format!("block {i} {m}"))?;
        // An Amsterdam block's access list: it must hash to the header's, and execution is
        // checked against it (the `bal` strategy executes from it).
        if let Some(list) = b.get("blockAccessList") {
            let list = match crate::bal::from_json(list, block.transactions.len()) {
                Ok(list) => list,
                Err(e) => return Ok(Outcome::Failed(format!("block {i}: {e}"))),
            };
            let hash = crate::bal::hash(&list);
            if block
                .header
                .block_access_list_hash
                .is_some_and(|h| h != hash)
            {
                return Ok(Outcome::Failed(format!(
                    "block {i}: its blockAccessList hashes to {hash}, the header says {}",
                    block.header.block_access_list_hash.unwrap_or_default()
                )));
            }
            block.set_access_list(list);
        }
        // (Without the list, its hash in the header is checked against the list execution
        // builds.)
        block.record_access |= block.header.block_access_list_hash.is_some();
        let out = match engine.execute(&block, &state, strategy) {
            Ok(out) => out,
            Err(_) if expects_failure => continue,
            Err(e) => return Ok(Outcome::Failed(format!("block {i}: {e}"))),
        };
        let mut problems = out.check_header(&block).mismatches;
        if let Some(expected) = block.header.block_access_list_hash {
            // (A list the block came with was checked against execution by the engine and
            // against this hash above: only a block without one builds it here.)
            let built;
            let list = match &block.access_list {
                Some(given) => &**given,
                None => {
                    built = crate::bal::build(&block, &state, &out)?;
                    let hash = crate::bal::hash(&built);
                    if hash != expected {
                        problems.push(format!(
                            "blockAccessListHash: computed {hash}, header {expected}"
                        ));
                    }
                    &built
                }
            };
            // EIP-7928: at most one listed item per ITEM_COST gas of the block's limit.
            let items = alloy_eip7928::total_bal_items(list);
            let budget = block.header.gas_limit / alloy_eip7928::ITEM_COST as u64;
            if items > budget {
                problems.push(format!(
                    "block access list: {items} items, the gas limit allows {budget}"
                ));
            }
        }
        for changes in out.all_changes() {
            state.apply(changes);
        }
        let root = state.state_root();
        if root != block.header.state_root {
            problems.push(format!(
                "stateRoot: computed {root}, header {}",
                block.header.state_root
            ));
        }
        if expects_failure {
            if problems.is_empty() {
                return Ok(Outcome::Failed(format!(
                    "block {i}: expected to be invalid, but it executed and matched"
                )));
            }
            continue;
        }
        if !problems.is_empty() {
            return Ok(Outcome::Failed(format!(
                "block {i}: {}",
                problems.join("; ")
            )));
        }
        nodes.insert(
            hash,
            Node {
                number: block.header.number,
                parent: block.header.parent_hash,
                state,
            },
        );
    }

    let last = json::b256(json::field(test, "lastblockhash", "test")?, "lastblockhash")?;
    let Some(node) = nodes.get(&last) else {
        return Ok(Outcome::Failed(format!(
            "lastblockhash {last} was never executed"
        )));
    };
    if let Some(post) = test.get("postState") {
        let expected = parse_pre(post)?;
        if expected.state_root() != node.state.state_root() {
            return Ok(Outcome::Failed(format!(
                "final state differs from postState: {}",
                diff_state(&node.state, post)?
            )));
        }
    } else if let Some(h) = test.get("postStateHash") {
        let expected = json::b256(h, "postStateHash")?;
        if expected != node.state.state_root() {
            return Ok(Outcome::Failed(format!(
                "final state root {} differs from postStateHash {expected}",
                node.state.state_root()
            )));
        }
    }
    Ok(Outcome::Passed)
}

/// A block of a blockchain test, decoded: senders recovered, fork from `chain`.
fn block_of(
    decoded: alloy_consensus::Block<TxEnvelope>,
    hash: B256,
    chain: &ChainSpec,
) -> Result<Block, String> {
    let mut transactions = Vec::with_capacity(decoded.body.transactions.len());
    for (t, tx) in decoded.body.transactions.iter().enumerate() {
        transactions.push(from_envelope(tx, None).map_err(|m| format!("transaction {t}: {m}"))?);
    }
    let header = decoded.header;
    let (fork, blob_params) = Block::fork_of(chain, &header);
    Ok(Block {
        hash,
        fork,
        chain_id: chain.chain_id,
        blob_params,
        transactions,
        withdrawals: decoded
            .body
            .withdrawals
            .map(|w| w.into_inner())
            .unwrap_or_default(),
        ommers: (decoded.body.ommers.iter())
            .map(|o| Ommer {
                number: o.number,
                beneficiary: o.beneficiary,
            })
            .collect(),
        unknown_ommers: 0,
        system_operations: true,
        record_access: false,
        access_list: None,
        header,
    })
}

/// One blockchain test as a linear chain: its genesis and the blocks from it to its last
/// block, each the parent of the next (blocks expected to fail, and branches the last block
/// does not descend from, are left out).
#[derive(Debug)]
pub struct TestChain {
    /// `file::test`.
    pub name: String,
    /// The genesis state (complete).
    pub genesis: InMemoryState,
    /// The genesis block's hash.
    pub genesis_hash: B256,
    /// Its state root.
    pub genesis_root: B256,
    /// The blocks, in order.
    pub blocks: Vec<Block>,
}

/// The chains of every test of a blockchain test file whose network is known (the others,
/// and tests the skip list names, are left out).
pub fn chains(path: &Path) -> Result<Vec<TestChain>, LoadError> {
    let (file_name, tests) = super::read_tests(path)?;
    let mut out = Vec::new();
    if skip::file_skip_reason(path).is_some() {
        return Ok(out);
    }
    for (name, test) in &tests {
        let network = test
            .get("network")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(fork) = Fork::from_test_name(network) else {
            continue;
        };
        let chain = chain_of(test, fork)
            .map_err(|m| LoadError::invalid(path, format!("test {name}: {m}")))?;
        out.push(TestChain {
            name: format!("{file_name}::{name}"),
            ..chain
        });
    }
    Ok(out)
}

fn chain_of(test: &Value, fork: Fork) -> Result<TestChain, String> {
    let chain = ChainSpec::single_fork(1, fork);
    let mut genesis = parse_pre(json::field(test, "pre", "test")?)?;
    genesis.set_block_hash_mode(BlockHashes::Table);
    let header = json::field(test, "genesisBlockHeader", "test")?;
    let genesis_hash = json::b256(
        json::field(header, "hash", "genesisBlockHeader")?,
        "genesis hash",
    )?;
    let genesis_root = json::b256(
        json::field(header, "stateRoot", "genesisBlockHeader")?,
        "genesis stateRoot",
    )?;
    genesis.insert_block_hash(
        json::u64(
            json::field(header, "number", "genesisBlockHeader")?,
            "genesis number",
        )?,
        genesis_hash,
    );
    let mut by_hash: HashMap<B256, Block> = HashMap::default();
    let blocks = json::field(test, "blocks", "test")?
        .as_array()
        .ok_or("`blocks` is not an array")?;
    for (i, b) in blocks.iter().enumerate() {
        if b.get("expectException").is_some() {
            continue;
        }
        let rlp = json::bytes(
            json::field(b, "rlp", &format!("blocks[{i}]"))?,
            &format!("blocks[{i}].rlp"),
        )?;
        let decoded = alloy_consensus::Block::<TxEnvelope>::decode(&mut rlp.as_ref())
            .map_err(|e| format!("blocks[{i}]: cannot decode the block RLP: {e}"))?;
        let hash = decoded.header.hash_slow();
        by_hash.insert(
            hash,
            block_of(decoded, hash, &chain).map_err(|m| format!("block {i} {m}"))?,
        );
    }
    let mut cursor = json::b256(json::field(test, "lastblockhash", "test")?, "lastblockhash")?;
    let mut path = Vec::new();
    while cursor != genesis_hash {
        let block = by_hash
            .remove(&cursor)
            .ok_or_else(|| format!("block {cursor} does not descend from the genesis"))?;
        cursor = block.header.parent_hash;
        path.push(block);
    }
    path.reverse();
    Ok(TestChain {
        name: String::new(),
        genesis,
        genesis_hash,
        genesis_root,
        blocks: path,
    })
}
