//! Block-level access lists against the execution-spec-tests Amsterdam fixtures: every block's
//! `blockAccessList` parses, passes alloy's ordering rules, hashes to the header's
//! `blockAccessListHash`, and is written back in exactly the fixtures' JSON shape.

use parevm::{bal, conformance::json_files, sources::fixtures::fixtures_or_skip};
use serde_json::Value;

/// Every block with a `blockAccessList` in the Amsterdam fixtures: (where, its BAL JSON, its
/// transaction count, the header's hash of it).
fn fixture_bals() -> Vec<(String, Value, usize, String)> {
    let Some(dir) = fixtures_or_skip("bal") else {
        return Vec::new();
    };
    let files = json_files(&dir.join("eest-amsterdam")).expect("eest-amsterdam fixtures");
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let tests: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
        for (name, test) in tests {
            let blocks = test["blocks"].as_array().cloned().unwrap_or_default();
            for (k, block) in blocks.iter().enumerate() {
                let Some(list) = block.get("blockAccessList") else {
                    continue;
                };
                let hash = block["blockHeader"]["blockAccessListHash"]
                    .as_str()
                    .expect("a header with a blockAccessListHash")
                    .to_string();
                let txs = block["transactions"].as_array().map_or(0, Vec::len);
                out.push((format!("{name} block {k}"), list.clone(), txs, hash));
            }
        }
    }
    out
}

#[test]
fn fixture_bals_parse_hash_to_their_header_and_round_trip() {
    let bals = fixture_bals();
    if fixtures_or_skip("bal").is_none() {
        return;
    }
    assert!(bals.len() > 300, "only {} blocks with a BAL", bals.len());
    for (what, json, txs, header_hash) in &bals {
        let parsed = bal::from_json(json, *txs).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            format!("{:#x}", bal::hash(&parsed)),
            *header_hash,
            "{what}: hash"
        );
        assert_eq!(bal::to_json(&parsed), *json, "{what}: JSON round trip");
        let summary = bal::Summary::of(&parsed);
        assert_eq!(summary.accounts, parsed.len());
        assert_eq!(summary.rlp_bytes, bal::encode(&parsed).len());
    }
}

#[test]
fn malformed_bals_are_errors_that_say_where() {
    let account = |a: &str| {
        serde_json::json!({"address": a, "nonceChanges": [], "balanceChanges": [],
            "codeChanges": [], "storageChanges": [], "storageReads": []})
    };
    let a1 = "0x0000000000000000000000000000000000000001";
    let a2 = "0x0000000000000000000000000000000000000002";
    let err = bal::from_json(&serde_json::json!({"address": a1}), 1).unwrap_err();
    assert!(err.contains("JSON list"), "{err}");
    let err = bal::from_json(&Value::Array(vec![account(a2), account(a1)]), 1).unwrap_err();
    assert!(err.contains("order"), "{err}");
    let mut bad = account(a1);
    bad["nonceChanges"] = serde_json::json!([{"blockAccessIndex": "0x05", "postNonce": "0x01"}]);
    let err = bal::from_json(&Value::Array(vec![bad]), 1).unwrap_err();
    assert!(err.contains('5') || err.contains("index"), "{err}");
    let mut bad = account(a1);
    bad["balanceChanges"] = serde_json::json!([{"blockAccessIndex": "0x01"}]);
    let err = bal::from_json(&Value::Array(vec![bad]), 1).unwrap_err();
    assert!(err.contains("account 0"), "{err}");
}

/// Builds the BAL of `block` with `strategy` on `engine` (recording access).
fn built(
    block: &parevm::Block,
    state: &dyn parevm::StateView,
    strategy: &dyn parevm::Strategy,
    engine: &parevm::Engine,
) -> (parevm::BlockOutput, bal::BlockAccessList) {
    let mut block = block.clone();
    block.record_access = true;
    let out = engine.execute(&block, state, strategy).expect("executes");
    let list = bal::build(&block, state, &out).expect("builds");
    (out, list)
}

/// Every account and slot whose value the block changed, as executing it left them, and as
/// applying the BAL to the pre-state leaves them.
fn check_apply(
    what: &str,
    state: &dyn parevm::StateView,
    out: &parevm::BlockOutput,
    list: &[bal::AccountChanges],
) {
    use parevm::{StateView, state::Overlay};
    let mut executed = Overlay::new(state);
    executed.apply(&out.pre_block);
    for t in &out.txs {
        executed.apply(&t.changes);
    }
    executed.apply(&out.post_block);
    let mut from_bal = Overlay::new(state);
    from_bal.apply(&bal::apply(state, list, out.fork).unwrap_or_else(|e| panic!("{what}: {e}")));
    let mut touched: std::collections::BTreeMap<_, std::collections::BTreeSet<_>> =
        Default::default();
    for ch in std::iter::once(&out.pre_block)
        .chain(out.txs.iter().map(|t| &t.changes))
        .chain(std::iter::once(&out.post_block))
    {
        for (a, c) in ch {
            touched
                .entry(*a)
                .or_default()
                .extend(c.storage.keys().copied());
        }
    }
    let empty = |f: Option<(alloy_primitives::U256, u64, alloy_primitives::B256)>| {
        f.filter(|(b, n, h)| !(b.is_zero() && *n == 0 && *h == revm::primitives::KECCAK_EMPTY))
    };
    for (a, slots) in touched {
        assert_eq!(
            empty(executed.account_fields(a).unwrap()),
            empty(from_bal.account_fields(a).unwrap()),
            "{what}: account {a}"
        );
        for k in slots {
            assert_eq!(
                executed.storage(a, k).unwrap(),
                from_bal.storage(a, k).unwrap(),
                "{what}: {a} slot {k:#x}"
            );
        }
    }
}

#[test]
fn mainnet_bals_agree_across_strategies_and_apply_to_the_executed_state() {
    use parevm::{
        ChainSpec, Engine,
        sources::rpc::BlockFolder,
        strategy::{self, sequential::Sequential},
    };
    let Some(fixtures) = fixtures_or_skip("bal") else {
        return;
    };
    let folders = BlockFolder::discover(&fixtures.join("mainnet")).expect("mainnet fixtures");
    let chain = ChainSpec::mainnet();
    let engines: Vec<Engine> = [1, 2, 4].map(|t| Engine::new(t).unwrap()).into();
    for folder in folders {
        let (block, state) = folder.load(&chain).unwrap();
        let what = folder.name();
        let (out, reference) = built(&block, &state, &Sequential, &engines[0]);
        assert!(
            !reference.is_empty() || block.transactions.is_empty(),
            "{what}"
        );
        bal::from_json(&bal::to_json(&reference), block.transactions.len())
            .unwrap_or_else(|e| panic!("{what}: the built BAL breaks the rules: {e}"));
        check_apply(&what, &state, &out, &reference);
        for s in strategy::parallel() {
            for engine in &engines {
                let (_, list) = built(&block, &state, s, engine);
                assert!(
                    list == reference,
                    "{what}: {} x{} builds another BAL",
                    s.name(),
                    engine.threads()
                );
            }
        }
    }
}

#[test]
fn adversarial_bals_agree_across_strategies_and_apply_to_the_executed_state() {
    use parevm::{
        Engine,
        sources::adversarial::{self, Limits},
        strategy::{self, sequential::Sequential},
    };
    let engines: Vec<Engine> = [1, 2, 4].map(|t| Engine::new(t).unwrap()).into();
    let mut valid = 0;
    for seed in 0..300 {
        let g = adversarial::generate(seed, Limits::default());
        let mut block = g.block.clone();
        block.record_access = true;
        let Ok(out) = engines[0].execute(&block, &g.state, &Sequential) else {
            continue;
        };
        valid += 1;
        let what = format!("seed {seed}");
        let reference = bal::build(&block, &g.state, &out).unwrap();
        bal::from_json(&bal::to_json(&reference), block.transactions.len())
            .unwrap_or_else(|e| panic!("{what}: the built BAL breaks the rules: {e}"));
        check_apply(&what, &g.state, &out, &reference);
        for s in strategy::parallel() {
            for engine in &engines {
                let (_, list) = built(&g.block, &g.state, s, engine);
                assert!(
                    list == reference,
                    "{what}: {} x{} builds another BAL",
                    s.name(),
                    engine.threads()
                );
            }
        }
    }
    assert!(valid > 150, "only {valid} valid blocks");
}

/// `bal::apply` gives the executed post-state's root on every mainnet fixture (the pre-state
/// holds the accounts the block touches, so the root covers all of them), but where a list
/// cannot say it (see `parevm::bal`): a block that deletes an account (a self-destruct, or
/// EIP-161 clearing an empty one), or leaves one empty before EIP-161.
#[test]
fn applied_bal_roots_equal_the_executed_roots_on_mainnet_blocks() {
    use parevm::{ChainSpec, Engine, sources::rpc::BlockFolder, strategy::sequential::Sequential};
    let Some(fixtures) = fixtures_or_skip("bal") else {
        return;
    };
    let engine = Engine::new(1).unwrap();
    let (mut differ, mut compared, mut gaps) = (Vec::new(), 0, 0);
    for folder in BlockFolder::discover(&fixtures.join("mainnet")).expect("mainnet fixtures") {
        let (block, state) = folder.load(&ChainSpec::mainnet()).unwrap();
        let (out, list) = built(&block, &state, &Sequential, &engine);
        let mut executed = state.clone();
        executed.apply(&out.pre_block);
        for t in &out.txs {
            executed.apply(&t.changes);
        }
        executed.apply(&out.post_block);
        let mut from_bal = state.clone();
        from_bal.apply(&bal::apply(&state, &list, block.fork).unwrap());
        let pre_161 = !block.fork.at_least(parevm::Fork::SpuriousDragon);
        let empty = Some((
            alloy_primitives::U256::ZERO,
            0,
            revm::primitives::KECCAK_EMPTY,
        ));
        // (A deletion of an account that existed before its step, or an empty account left
        // before EIP-161.)
        let mut walk = parevm::state::Overlay::new(&state);
        let mut inexpressible = false;
        for changes in std::iter::once(&out.pre_block)
            .chain(out.txs.iter().map(|t| &t.changes))
            .chain(std::iter::once(&out.post_block))
        {
            for (a, c) in changes {
                let existed = parevm::StateView::account_fields(&walk, *a)
                    .unwrap()
                    .is_some();
                inexpressible |= (c.info.is_none() && existed) || (pre_161 && c.info == empty);
            }
            walk.apply(changes);
        }
        if inexpressible {
            // (From Cancun on, EIP-6780 and the cleared empty accounts leave none.)
            assert!(
                !block.fork.at_least(parevm::Fork::Cancun),
                "{}",
                folder.name()
            );
            gaps += 1;
        } else if executed.state_root() != from_bal.state_root() {
            differ.push(format!("{} ({})", folder.name(), block.fork));
        }
        compared += 1;
    }
    assert!(differ.is_empty(), "roots differ: {differ:?}");
    assert!(
        compared - gaps >= 30,
        "{compared} blocks, {gaps} outside what a list says"
    );
}

/// Every kind of wrong list is refused, by the `bal` strategy and by sequential execution
/// checked against it, with an error naming the account (and the slot, for a slot).
#[test]
fn wrong_lists_are_refused_naming_the_account_and_slot() {
    use alloy_eip7928::{BlockAccessIndex, NonceChange, StorageChange};
    use alloy_primitives::U256;
    use parevm::{
        ChainSpec, Engine, ExecError,
        sources::rpc::BlockFolder,
        strategy::{bal::BalStrategy, sequential::Sequential},
    };
    let Some(fixtures) = fixtures_or_skip("bal") else {
        return;
    };
    let folder = BlockFolder::discover(&fixtures.join("mainnet/19932703"))
        .unwrap()
        .remove(0);
    let (block, state) = folder.load(&ChainSpec::mainnet()).unwrap();
    let engine = Engine::new(2).unwrap();
    let (_, good) = built(&block, &state, &Sequential, &engine);
    let n = block.transactions.len() as u64;
    let written = good
        .iter()
        .position(|a| !a.storage_changes.is_empty())
        .unwrap();
    let read = good
        .iter()
        .position(|a| !a.storage_reads.is_empty())
        .unwrap();
    let bare = good
        .iter()
        .position(|a| {
            a.storage_changes.is_empty()
                && a.storage_reads.is_empty()
                && a.balance_changes.is_empty()
                && a.nonce_changes.is_empty()
        })
        .unwrap();
    let w = good[written].address;
    let slot = good[written].storage_changes[0].slot;
    let r = good[read].address;
    let read_slot = good[read].storage_reads[0];
    type Tamper = Box<dyn Fn(&mut Vec<bal::AccountChanges>)>;
    let cases: Vec<(&str, Tamper, alloy_primitives::Address, Option<U256>)> = vec![
        (
            "a changed post-value",
            Box::new(move |l| {
                let c = &mut l[written].storage_changes[0].changes[0];
                c.new_value += U256::from(1);
            }),
            w,
            Some(slot),
        ),
        (
            "a missing write",
            Box::new(move |l| {
                l[written].storage_changes.remove(0);
            }),
            w,
            Some(slot),
        ),
        (
            "a shifted index",
            Box::new(move |l| {
                let c = &mut l[written].storage_changes[0].changes[0];
                c.block_access_index = BlockAccessIndex::new(c.block_access_index.0 + 1);
            }),
            w,
            Some(slot),
        ),
        (
            "an extra write",
            Box::new(move |l| {
                l[bare]
                    .nonce_changes
                    .push(NonceChange::new(BlockAccessIndex::new(n), 7));
            }),
            good[bare].address,
            None,
        ),
        (
            "an extra slot write",
            Box::new(move |l| {
                let extra = alloy_eip7928::SlotChanges::new(
                    U256::from(0x5eed),
                    vec![StorageChange::new(BlockAccessIndex::new(n), U256::from(1))],
                );
                l[written].storage_changes.push(extra);
            }),
            w,
            Some(U256::from(0x5eed)),
        ),
        (
            "a missing read",
            Box::new(move |l| {
                l[read].storage_reads.remove(0);
            }),
            r,
            Some(read_slot),
        ),
        (
            "an extra read",
            Box::new(move |l| {
                l[read].storage_reads.push(U256::from(0xbeef));
            }),
            r,
            Some(U256::from(0xbeef)),
        ),
        (
            "a missing account",
            Box::new(move |l| {
                l.remove(bare);
            }),
            good[bare].address,
            None,
        ),
    ];
    for (what, tamper, account, slot) in cases {
        let mut list = good.clone();
        tamper(&mut list);
        let mut b = block.clone();
        b.set_access_list(list);
        for s in [&BalStrategy as &dyn parevm::Strategy, &Sequential] {
            let err = engine.execute(&b, &state, s).expect_err(what);
            let ExecError::AccessList(message) = &err else {
                panic!("{what} [{}]: not a list error: {err}", s.name());
            };
            assert!(
                message.contains(&account.to_string()),
                "{what} [{}]: {message}",
                s.name()
            );
            if let Some(k) = slot {
                assert!(
                    message.contains(&format!("{k:#x}")),
                    "{what} [{}]: {message}",
                    s.name()
                );
            }
        }
    }
    // The right list is accepted by every strategy, and `bal` executes from it exactly.
    let reference = engine.execute(&block, &state, &Sequential).unwrap();
    let mut b = block.clone();
    b.set_access_list(good);
    for s in parevm::strategy::parallel() {
        let out = engine
            .execute(&b, &state, s)
            .unwrap_or_else(|e| panic!("{}: {e}", s.name()));
        assert_eq!(reference.first_difference(&out), None, "{}", s.name());
    }
}
