//! `parevm bench` lists every workload x strategy (and the no-coordination ceiling) with speedups
//! in its JSON, and writes an SVG.

use std::{path::PathBuf, process::Command};

#[test]
fn bench_quick_writes_json_and_svg() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (json, svg) = (dir.join("bench.json"), dir.join("bench.svg"));
    let out = Command::new(env!("CARGO_BIN_EXE_parevm"))
        .args([
            "bench",
            "--quick",
            "--gas",
            "2M",
            "--accounts",
            "3000",
            "--iterations",
            "1",
            "--threads",
            "2",
            "--ceiling",
        ])
        .arg("--json")
        .arg(&json)
        .arg("--svg")
        .arg(&svg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = doc["results"].as_array().unwrap();
    let strategies: Vec<_> = parevm::strategy::registry()
        .iter()
        .map(|s| s.name())
        .collect();
    for workload in [
        "transfers",
        "erc20",
        "swaps",
        "mixed",
        "transfer-chain",
        "storage-chain",
        "hot-contract",
    ] {
        for s in &strategies {
            let row = results
                .iter()
                .find(|r| {
                    r["target"].as_str().unwrap().starts_with(workload) && r["strategy"] == *s
                })
                .unwrap_or_else(|| panic!("no row for {workload} x {s}"));
            for field in [
                "median_ms",
                "speedup",
                "cpu_pct",
                "ggas_per_s",
                "txs",
                "gas",
            ] {
                assert!(row[field].is_number(), "{workload} {s}: {field} missing");
            }
            if *s == "sequential" {
                assert_eq!(row["speedup"].as_f64(), Some(1.0));
            }
        }
    }
    // The no-coordination ceiling: measured where the parts are independent, a note where not.
    let ceiling = |workload: &str| {
        results.iter().any(|r| {
            r["target"].as_str().unwrap().starts_with(workload)
                && r["strategy"] == "ceiling"
                && r["threads"] == 2
        })
    };
    assert!(ceiling("transfers") && ceiling("erc20") && ceiling("swaps"));
    assert!(!ceiling("transfer-chain"));
    let notes = doc["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("transfer-chain")),
        "{notes:?}"
    );
    assert!(doc["machine"]["cpus"].as_u64().unwrap() >= 1 && doc["date"].is_string());
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("speedup"));
    assert!(stdout.contains("speedup") && stdout.contains("CPU%"));
}

#[test]
fn bench_rejects_unknown_workload() {
    let out = Command::new(env!("CARGO_BIN_EXE_parevm"))
        .args(["bench", "--workload", "nft-mint"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown workload \"nft-mint\""));
}
