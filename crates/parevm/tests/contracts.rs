//! The committed workload bytecode (`contracts/build/*.hex`) matches a fresh compile of the
//! Solidity sources. Needs Node.js and the npm package `solc` (installed by `.ci/run` into
//! `contracts/node_modules`); skipped with a message otherwise.

use std::{path::PathBuf, process::Command};

#[test]
fn committed_bytecode_matches_a_fresh_compile() {
    let contracts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts");
    let node = Command::new("node").arg("--version").output();
    if node.is_err() || !contracts.join("node_modules/solc").is_dir() {
        eprintln!(
            "committed_bytecode_matches_a_fresh_compile: SKIPPED: needs node and contracts/node_modules/solc \
             (run `cd contracts && npm install --no-save solc@0.8.28`)"
        );
        return;
    }
    let out = Command::new("node")
        .arg("compile.js")
        .arg("--check")
        .current_dir(&contracts)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "committed bytecode differs from a fresh compile:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
