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
