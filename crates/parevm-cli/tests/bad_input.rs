//! Bad input to `parevm replay` yields a clear error naming the file and the problem, and a
//! non-zero exit code (2 for unreadable input), never a panic.

use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    process::Command,
};

fn fixtures() -> Option<PathBuf> {
    parevm::sources::fixtures::fixtures_or_skip("bad_input")
}

/// A scratch copy of mainnet block `n` that a test may corrupt.
fn scratch_block(name: &str, n: u64) -> Option<PathBuf> {
    let src = fixtures()?.join("mainnet").join(n.to_string());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(name)
        .join(n.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["block.json", "prestate.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    std::fs::copy(
        src.join("../block_hashes.json"),
        dir.join("block_hashes.json"),
    )
    .unwrap();
    Some(dir)
}

fn replay(dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_parevm"))
        .arg("replay")
        .arg(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("panicked"), "parevm panicked:\n{text}");
    (out.status.code().expect("exit code"), text)
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, serde_json::to_string(&v).unwrap()).unwrap();
}

#[test]
fn truncated_block_json() {
    let Some(dir) = scratch_block("truncated", 46147) else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("block.json")).unwrap();
    std::fs::write(dir.join("block.json"), &text[..text.len() / 2]).unwrap();
    let (code, out) = replay(&dir);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("block.json") && out.contains("malformed JSON"),
        "{out}"
    );
    assert!(out.contains("0 passed, 1 failed"), "{out}");
}

#[test]
fn malformed_balance_in_prestate() {
    let Some(dir) = scratch_block("bad_balance", 46147) else {
        return;
    };
    let mut victim = String::new();
    edit_json(&dir.join("prestate.json"), |v| {
        let (addr, acc) = v.as_object_mut().unwrap().iter_mut().next().unwrap();
        victim = addr.clone();
        acc["balance"] = Value::String("0xnot-hex".into());
    });
    let (code, out) = replay(&dir);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("prestate.json") && out.contains(&victim) && out.contains("balance"),
        "{out}"
    );
}

#[test]
fn malformed_storage_slot_in_prestate() {
    let Some(dir) = scratch_block("bad_slot", 4370000) else {
        return;
    };
    edit_json(&dir.join("prestate.json"), |v| {
        let acc = v
            .as_object_mut()
            .unwrap()
            .values_mut()
            .find(|a| {
                a.get("storage")
                    .is_some_and(|s| !s.as_object().unwrap().is_empty())
            })
            .expect("an account with storage");
        let slot = acc["storage"]
            .as_object_mut()
            .unwrap()
            .values_mut()
            .next()
            .unwrap();
        *slot = Value::String("0x12zz".into());
    });
    let (code, out) = replay(&dir);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("prestate.json") && out.contains("storage slot"),
        "{out}"
    );
}

#[test]
fn unknown_transaction_type() {
    let Some(dir) = scratch_block("bad_type", 46147) else {
        return;
    };
    edit_json(&dir.join("block.json"), |v| {
        v["transactions"][0]["type"] = Value::String("0x99".into())
    });
    let (code, out) = replay(&dir);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("block.json")
            && out.contains("transaction 0")
            && out.contains("unknown transaction type 0x99"),
        "{out}"
    );
}

#[test]
fn transactions_exceeding_the_block_gas_limit() {
    let Some(dir) = scratch_block("over_gas_limit", 46147) else {
        return;
    };
    edit_json(&dir.join("block.json"), |v| {
        v["gasLimit"] = Value::String("0x5207".into()); // 20,999 < the 21,000 its transfer needs
        // Re-seal the header so that only the gas rule is broken.
        let header: alloy_consensus::Header = serde_json::from_value(v.clone()).unwrap();
        v["hash"] = Value::String(header.hash_slow().to_string());
    });
    let (code, out) = replay(&dir);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("transaction 0") && out.contains("exceeds the block's remaining gas"),
        "{out}"
    );
}

#[test]
fn missing_folder_and_unknown_strategy() {
    let (code, out) = replay(Path::new("/nonexistent/parevm/blocks"));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("/nonexistent/parevm/blocks"), "{out}");
    let out = Command::new(env!("CARGO_BIN_EXE_parevm"))
        .args(["replay", ".", "--strategy", "warp-speed"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown strategy \"warp-speed\""));
}

#[test]
fn statetest_reports_a_malformed_file_and_continues() {
    let Some(f) = fixtures() else { return };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("statetest_mixed");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let good = f.join("ethereum-tests/GeneralStateTests/stExample/add11.json");
    std::fs::copy(&good, dir.join("good.json")).unwrap();
    std::fs::write(dir.join("broken.json"), "{\"t\": {\"env\": ").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_parevm"))
        .arg("statetest")
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("broken.json") && text.contains("malformed JSON"),
        "{text}"
    );
    let last = text.lines().last().unwrap();
    assert!(
        last.ends_with("passed, 1 failed, 0 skipped") && !last.starts_with("0 passed"),
        "{last}"
    );
}
