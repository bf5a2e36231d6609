//! GeneralStateTests (ethereum/tests) and execution-spec-tests state fixtures.
//!
//! Each (fork, data/gas/value index) case becomes a one-transaction block with no block-level
//! operations (state tests exercise a transaction alone: no rewards, no system calls). The
//! post-state root, the logs hash and the expected exception are checked; when the fixture
//! carries the full post `state` (EEST), a failure lists the differing accounts and slots.

use super::{CaseResult, Outcome, skip};
use crate::{
    block::{Block, Transaction},
    chain::{BlobParams, ChainSpec, Fork},
    engine::Engine,
    error::{ExecError, LoadError},
    sources::json::{self},
    state::{BlockHashes, Bytecode, InMemoryState},
    strategy::Strategy,
};
use alloy_consensus::Header;
use alloy_eips::{
    eip2930::AccessList,
    eip7702::{Authorization, SignedAuthorization},
};
use alloy_primitives::{B256, Log, U256, keccak256};
use revm::{context::TxEnv, context_interface::either::Either, primitives::TxKind};
use serde_json::Value;
use std::path::Path;

/// Runs every case of one state test file.
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
            // Count every case of the test, so that totals match the suite's case count.
            let cases = test
                .get("post")
                .and_then(Value::as_object)
                .map_or(1, |post| {
                    post.values()
                        .map(|c| c.as_array().map_or(1, Vec::len))
                        .sum()
                });
            for i in 0..cases {
                let name = format!("{label}[#{i}]");
                results.push(CaseResult {
                    name,
                    outcome: Outcome::Skipped(why.into()),
                });
            }
            continue;
        }
        run_test(test, &label, strategy, engine, &mut results)
            .map_err(|m| LoadError::invalid(path, format!("test {name}: {m}")))?;
    }
    Ok(results)
}

fn run_test(
    test: &Value,
    label: &str,
    strategy: &dyn Strategy,
    engine: &Engine,
    results: &mut Vec<CaseResult>,
) -> Result<(), String> {
    let env = json::field(test, "env", "test")?;
    let tx = json::field(test, "transaction", "test")?;
    let post = json::field(test, "post", "test")?
        .as_object()
        .ok_or("`post` is not an object")?;
    if post
        .values()
        .all(|cases| cases.as_array().is_none_or(Vec::is_empty))
    {
        return Err("`post` lists no cases".into());
    }
    let pre = parse_pre(json::field(test, "pre", "test")?)?;
    let chain_id = match test.get("config").and_then(|c| c.get("chainid")) {
        Some(v) => json::u64(v, "config.chainid")?,
        None => 1,
    };
    // Validate every fork name before running anything, so a typo fails the file.
    for fork_name in post.keys() {
        if Fork::from_test_name(fork_name).is_none() && skip::fork_skip_reason(fork_name).is_none()
        {
            return Err(format!("unknown fork name {fork_name:?}"));
        }
    }
    for (fork_name, cases) in post {
        let cases = cases
            .as_array()
            .ok_or_else(|| format!("post.{fork_name} is not an array"))?;
        for (i, case) in cases.iter().enumerate() {
            let idx = json::field(case, "indexes", "post case")?;
            let (d, g, v) = (
                json::u64(json::field(idx, "data", "indexes")?, "indexes.data")? as usize,
                json::u64(json::field(idx, "gas", "indexes")?, "indexes.gas")? as usize,
                json::u64(json::field(idx, "value", "indexes")?, "indexes.value")? as usize,
            );
            let name = format!("{label}[{fork_name} #{i} d{d} g{g} v{v}]");
            let Some(fork) = Fork::from_test_name(fork_name) else {
                let why = skip::fork_skip_reason(fork_name).unwrap_or("unknown fork");
                results.push(CaseResult {
                    name,
                    outcome: Outcome::Skipped(why.into()),
                });
                continue;
            };
            let blob_params = blob_params(test, fork_name, fork)?;
            let block = build_block(
                env,
                tx,
                fork,
                chain_id,
                blob_params,
                (d, g, v),
                case.get("txbytes"),
            )
            .map_err(|m| format!("{fork_name} case {i}: {m}"))?;
            let outcome = check_case(&block, &pre, case, strategy, engine)
                .map_err(|m| format!("{fork_name} case {i}: {m}"))?;
            results.push(CaseResult { name, outcome });
        }
    }
    Ok(())
}

fn blob_params(test: &Value, fork_name: &str, fork: Fork) -> Result<Option<BlobParams>, String> {
    let Some(default) = fork.blob_params() else {
        return Ok(None);
    };
    let Some(s) = test
        .get("config")
        .and_then(|c| c.get("blobSchedule"))
        .and_then(|b| b.get(fork_name))
    else {
        return Ok(Some(default));
    };
    Ok(Some(BlobParams {
        max_blobs_per_block: json::u64(json::field(s, "max", "blobSchedule")?, "blobSchedule.max")?,
        update_fraction: json::u64(
            json::field(s, "baseFeeUpdateFraction", "blobSchedule")?,
            "blobSchedule.baseFeeUpdateFraction",
        )?,
    }))
}

/// Parses a test `pre` (or `postState`) allocation into a state.
pub fn parse_pre(pre: &Value) -> Result<InMemoryState, String> {
    let obj = pre.as_object().ok_or("`pre` is not an object")?;
    let mut state = InMemoryState::new();
    state.set_block_hash_mode(BlockHashes::StateTestConvention);
    for (addr, acc) in obj {
        let what = |f: &str| format!("pre.{addr}.{f}");
        let address = json::address(&Value::String(addr.clone()), "pre address")?;
        let balance = json::u256(json::field(acc, "balance", &what(""))?, &what("balance"))?;
        let nonce = json::u64(json::field(acc, "nonce", &what(""))?, &what("nonce"))?;
        let code = json::bytes(json::field(acc, "code", &what(""))?, &what("code"))?;
        let mut storage = Vec::new();
        if let Some(s) = acc.get("storage").and_then(Value::as_object) {
            for (k, v) in s {
                storage.push((
                    json::u256(&Value::String(k.clone()), &what("storage key"))?,
                    json::u256(v, &what(&format!("storage[{k}]")))?,
                ));
            }
        }
        state.insert_account(address, balance, nonce, Bytecode::new_raw(code), storage);
    }
    Ok(state)
}

fn build_block(
    env: &Value,
    tx: &Value,
    fork: Fork,
    chain_id: u64,
    blob_params: Option<BlobParams>,
    (d, g, v): (usize, usize, usize),
    txbytes: Option<&Value>,
) -> Result<Block, String> {
    let opt = |name: &str| env.get(name).filter(|v| !v.is_null());
    let header = Header {
        beneficiary: json::address(
            json::field(env, "currentCoinbase", "env")?,
            "currentCoinbase",
        )?,
        gas_limit: json::u64(
            json::field(env, "currentGasLimit", "env")?,
            "currentGasLimit",
        )?,
        number: json::u64(json::field(env, "currentNumber", "env")?, "currentNumber")?,
        timestamp: json::u64(
            json::field(env, "currentTimestamp", "env")?,
            "currentTimestamp",
        )?,
        difficulty: json::u256(
            json::field(env, "currentDifficulty", "env")?,
            "currentDifficulty",
        )?,
        base_fee_per_gas: opt("currentBaseFee")
            .map(|v| json::u64(v, "currentBaseFee"))
            .transpose()?,
        mix_hash: opt("currentRandom")
            .map(|v| json::b256(v, "currentRandom"))
            .transpose()?
            .unwrap_or_default(),
        excess_blob_gas: opt("currentExcessBlobGas")
            .map(|v| json::u64(v, "currentExcessBlobGas"))
            .transpose()?,
        parent_beacon_block_root: Some(B256::ZERO),
        ..Default::default()
    };
    let pick = |name: &str, i: usize| -> Result<&Value, String> {
        json::field(tx, name, "transaction")?
            .as_array()
            .ok_or_else(|| format!("transaction.{name} is not an array"))?
            .get(i)
            .ok_or_else(|| format!("transaction.{name} has no index {i}"))
    };
    let access_list: Option<AccessList> = match tx.get("accessLists").and_then(|a| a.get(d)) {
        None | Some(Value::Null) => None,
        Some(a) => Some(json::from_value(a, "accessLists")?),
    };
    let has = |name: &str| tx.get(name).is_some_and(|v| !v.is_null());
    let tx_type = if has("authorizationList") {
        4
    } else if has("blobVersionedHashes") {
        3
    } else if has("maxFeePerGas") {
        2
    } else if access_list.is_some() {
        1
    } else {
        0
    };
    let to = json::field(tx, "to", "transaction")?;
    let kind = match to.as_str() {
        Some("") | None => TxKind::Create,
        Some(_) => TxKind::Call(json::address(to, "to")?),
    };
    let sender = json::address(json::field(tx, "sender", "transaction")?, "sender")?;
    let (gas_price, priority) = if tx_type >= 2 {
        (
            json::u256(
                json::field(tx, "maxFeePerGas", "transaction")?,
                "maxFeePerGas",
            )?,
            Some(json::u256(
                json::field(tx, "maxPriorityFeePerGas", "transaction")?,
                "maxPriorityFeePerGas",
            )?),
        )
    } else {
        (
            json::u256(json::field(tx, "gasPrice", "transaction")?, "gasPrice")?,
            None,
        )
    };
    let to_u128 =
        |x: U256, what: &str| u128::try_from(x).map_err(|_| format!("{what} {x} exceeds 128 bits"));
    let mut env = TxEnv {
        tx_type,
        caller: sender,
        gas_limit: json::u64(pick("gasLimit", g)?, "gasLimit")?,
        gas_price: to_u128(gas_price, "gas price")?,
        gas_priority_fee: priority.map(|p| to_u128(p, "priority fee")).transpose()?,
        kind,
        value: json::u256(pick("value", v)?, "value")?,
        data: json::bytes(pick("data", d)?, "data")?,
        nonce: json::u64(json::field(tx, "nonce", "transaction")?, "nonce")?,
        // Legacy transactions in the suites are signed without EIP-155 (no chain id).
        chain_id: (tx_type > 0).then_some(chain_id),
        access_list: access_list.unwrap_or_default(),
        ..Default::default()
    };
    if let Some(hashes) = tx.get("blobVersionedHashes").filter(|v| !v.is_null()) {
        env.blob_hashes = json::from_value(hashes, "blobVersionedHashes")?;
        env.max_fee_per_blob_gas = to_u128(
            json::u256(
                json::field(tx, "maxFeePerBlobGas", "transaction")?,
                "maxFeePerBlobGas",
            )?,
            "blob fee",
        )?;
    }
    if let Some(list) = tx.get("authorizationList").filter(|v| !v.is_null()) {
        let list = list.as_array().ok_or("authorizationList is not an array")?;
        env.authorization_list = list
            .iter()
            .map(parse_authorization)
            .collect::<Result<_, _>>()?;
    }
    let hash = match txbytes {
        Some(b) => keccak256(json::bytes(b, "txbytes")?),
        None => B256::ZERO,
    };
    Ok(Block {
        hash: B256::ZERO,
        header,
        fork,
        chain_id,
        blob_params,
        transactions: vec![Transaction { hash, tx_type, env }],
        withdrawals: vec![],
        ommers: vec![],
        unknown_ommers: 0,
        system_operations: false,
        record_access: false,
        access_list: None,
    })
}

fn parse_authorization(
    a: &Value,
) -> Result<Either<SignedAuthorization, revm::context::transaction::RecoveredAuthorization>, String>
{
    let auth = Authorization {
        chain_id: json::u256(
            json::field(a, "chainId", "authorization")?,
            "authorization chainId",
        )?,
        address: json::address(
            json::field(a, "address", "authorization")?,
            "authorization address",
        )?,
        nonce: json::u64(
            json::field(a, "nonce", "authorization")?,
            "authorization nonce",
        )?,
    };
    let parity = json::field(a, "yParity", "authorization")
        .or_else(|_| json::field(a, "v", "authorization"))?;
    let y_parity = json::u256(parity, "authorization yParity")?;
    let y_parity = u8::try_from(y_parity)
        .map_err(|_| format!("authorization yParity {y_parity} exceeds 8 bits"))?;
    let r = json::u256(json::field(a, "r", "authorization")?, "authorization r")?;
    let s = json::u256(json::field(a, "s", "authorization")?, "authorization s")?;
    Ok(Either::Left(SignedAuthorization::new_unchecked(
        auth, y_parity, r, s,
    )))
}

fn check_case(
    block: &Block,
    pre: &InMemoryState,
    case: &Value,
    strategy: &dyn Strategy,
    engine: &Engine,
) -> Result<Outcome, String> {
    let expected_root = json::b256(json::field(case, "hash", "post case")?, "hash")?;
    let expected_logs = json::b256(json::field(case, "logs", "post case")?, "logs")?;
    let expected_exception = case.get("expectException").and_then(Value::as_str);
    let (post, logs) = match engine.execute(block, pre, strategy) {
        Ok(out) => {
            if let Some(ex) = expected_exception {
                return Ok(Outcome::Failed(format!(
                    "expected exception {ex}, but the transaction was valid"
                )));
            }
            let mut post = pre.clone();
            for changes in out.all_changes() {
                post.apply(changes);
            }
            let logs: Vec<Log> = out
                .txs
                .iter()
                .flat_map(|t| t.receipt.logs.iter().cloned())
                .collect();
            (post, logs)
        }
        Err(ExecError::InvalidTransaction { reason, .. }) => {
            if expected_exception.is_none() {
                return Ok(Outcome::Failed(format!("unexpected exception: {reason}")));
            }
            (post_state_of_invalid(block, pre), Vec::new())
        }
        Err(e) => return Ok(Outcome::Failed(format!("execution error: {e}"))),
    };
    let logs_hash = keccak256(alloy_rlp::encode(&logs));
    let root = post.state_root();
    let mut problems = Vec::new();
    if root != expected_root {
        problems.push(format!("state root {root}, expected {expected_root}"));
        if let Some(expected) = case.get("state") {
            problems.push(diff_state(&post, expected)?);
        }
    }
    if logs_hash != expected_logs {
        problems.push(format!("logs hash {logs_hash}, expected {expected_logs}"));
    }
    Ok(if problems.is_empty() {
        Outcome::Passed
    } else {
        Outcome::Failed(problems.join("; "))
    })
}

/// The post-state a state test expects when its transaction is invalid: the pre-state, with
/// the beneficiary touched before Spurious Dragon. The suites' reference implementation (as
/// revm's own runner) credits the beneficiary a zero reward even then, which before EIP-161's
/// state clearing leaves a missing beneficiary as an empty account; from Spurious Dragon on a
/// touched empty account is deleted, so nothing changes.
fn post_state_of_invalid(block: &Block, pre: &InMemoryState) -> InMemoryState {
    let mut post = pre.clone();
    let beneficiary = block.header.beneficiary;
    if !block.fork.at_least(crate::chain::Fork::SpuriousDragon) && post.get(&beneficiary).is_none()
    {
        post.insert_account(beneficiary, U256::ZERO, 0, Default::default(), []);
    }
    post
}

/// Describes how `actual` differs from a full expected allocation (accounts and slots).
pub fn diff_state(actual: &InMemoryState, expected: &Value) -> Result<String, String> {
    let mut expected = parse_pre(expected)?;
    expected.set_block_hash_mode(BlockHashes::Table);
    let mut lines = Vec::new();
    for (addr, exp) in expected.accounts() {
        match actual.get(addr) {
            None => lines.push(format!(
                "{addr}: missing (expected balance {}, nonce {})",
                exp.balance, exp.nonce
            )),
            Some(act) => {
                if act.balance != exp.balance {
                    lines.push(format!(
                        "{addr}: balance {} expected {}",
                        act.balance, exp.balance
                    ));
                }
                if act.nonce != exp.nonce {
                    lines.push(format!(
                        "{addr}: nonce {} expected {}",
                        act.nonce, exp.nonce
                    ));
                }
                if act.code_hash != exp.code_hash {
                    lines.push(format!(
                        "{addr}: code hash {} expected {}",
                        act.code_hash, exp.code_hash
                    ));
                }
                for (k, v) in &exp.storage {
                    let a = act.storage.get(k).copied().unwrap_or_default();
                    if a != *v {
                        lines.push(format!("{addr}[{k:#x}]: {a:#x} expected {v:#x}"));
                    }
                }
                for (k, a) in &act.storage {
                    if !exp.storage.contains_key(k) {
                        lines.push(format!("{addr}[{k:#x}]: {a:#x} expected 0"));
                    }
                }
            }
        }
    }
    for (addr, _) in actual.accounts() {
        if expected.get(addr).is_none() {
            lines.push(format!("{addr}: present but not expected"));
        }
    }
    Ok(format!("post-state diff: {}", lines.join(", ")))
}

/// The chain spec a state test case runs on.
pub fn chain(chain_id: u64, fork: Fork) -> ChainSpec {
    ChainSpec::single_fork(chain_id, fork)
}
