//! The CLI as a new user meets it: rejected flag values, what `--help` says, labels, messages,
//! and the files a command writes.

use std::{path::PathBuf, process::Command};

fn parevm(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_parevm"))
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(!stderr.contains("panicked"), "parevm panicked:\n{stderr}");
    (out.status.code().expect("exit code"), stdout, stderr)
}

#[test]
fn zero_threads_are_rejected_everywhere() {
    for args in [
        &["bench", "--threads", "0"][..],
        &["bench", "--threads", "1,0"],
        &["replay", "--threads", "0", "."],
        &["statetest", "--threads", "0", "."],
        &["fuzz", "--threads", "0"],
        &["predict", "--threads", "0", "--workload", "erc20"],
    ] {
        let (code, _, err) = parevm(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("at least one thread"), "{args:?}: {err}");
    }
}

#[test]
fn a_hot_ratio_outside_zero_to_one_is_rejected() {
    for hot in ["--hot=1.5", "--hot=-0.1", "--hot=lots"] {
        let (code, _, err) = parevm(&["bench", hot]);
        assert_eq!(code, 2, "{hot}: {err}");
        assert!(err.contains("not a fraction from 0 to 1"), "{hot}: {err}");
    }
}

#[test]
fn help_shows_defaults_and_strategy_names() {
    let (code, out, _) = parevm(&["bench", "--help"]);
    assert_eq!(code, 0);
    for needle in [
        "default: 5",
        "3 with --quick",
        "default: 1,2",
        "block-stm-speculative",
    ] {
        assert!(
            out.contains(needle),
            "bench --help lacks {needle:?}:\n{out}"
        );
    }
}

#[test]
fn an_unknown_strategy_lists_what_all_means() {
    let (code, _, err) = parevm(&["replay", "--strategy", "optimistic", "."]);
    assert_eq!(code, 2);
    let registered: Vec<&str> = parevm::strategy::registry()
        .iter()
        .map(|s| s.name())
        .collect();
    let all = format!("or all ({})", registered.join(", "));
    assert!(
        err.contains("block-stm-speculative") && err.contains(&all),
        "{err}"
    );
}

#[test]
fn sequential_is_reported_at_one_thread() {
    let (code, out, _) = parevm(&["example", "--threads", "2"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("[sequential x1]") && out.contains("[block-stm x2]"),
        "{out}"
    );
    assert!(!out.contains("sequential x2"), "{out}");
}

#[test]
fn a_state_test_without_cases_is_named_once_with_its_problem() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-statetest");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("empty_post.json");
    std::fs::write(
        &file,
        r#"{"t": {"env": {}, "pre": {}, "transaction": {}, "post": {}}}"#,
    )
    .unwrap();
    let (code, out, err) = parevm(&["statetest", file.to_str().unwrap()]);
    let text = format!("{out}{err}");
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("`post` lists no cases"), "{text}");
    assert_eq!(text.matches("empty_post.json").count(), 1, "{text}");
}

#[test]
fn bench_says_where_it_wrote_its_files() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let (json, svg) = (dir.join("b.json"), dir.join("b.svg"));
    let (code, _, err) = parevm(&[
        "bench",
        "--workload",
        "transfers",
        "--gas",
        "1M",
        "--accounts",
        "100",
        "--iterations",
        "1",
        "--json",
        json.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("wrote {}", json.display())), "{err}");
    assert!(err.contains(&format!("wrote {}", svg.display())), "{err}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(
        doc["command"]
            .as_str()
            .unwrap()
            .starts_with("parevm bench --workload transfers")
    );
}

/// `parevm bal build` on mainnet block `number` into a fresh folder: (the block folder, the
/// folder, the list file, what it printed); `None` when the fixtures are skipped.
fn built_list(number: &str) -> Option<(String, PathBuf, PathBuf, String)> {
    let fixtures = parevm::sources::fixtures::fixtures_or_skip("bal cli")?;
    let block = fixtures.join("mainnet").join(number);
    let block = block.to_str().unwrap().to_string();
    let dir = std::env::temp_dir().join(format!("parevm-bal-{number}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("bal.json");
    let (code, out, err) = parevm(&["bal", "build", &block, "--out", list.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    Some((block, dir, list, out))
}

#[test]
fn bal_build_writes_a_list_that_bal_apply_reads_and_bad_lists_are_named() {
    let Some((block, dir, list, out)) = built_list("19934116") else {
        return;
    };
    let block = block.as_str();
    assert!(
        out.contains("accounts") && out.contains("RLP bytes") && out.contains("hash 0x"),
        "{out}"
    );
    let (code, out, err) = parevm(&["bal", "apply", block, "--bal", list.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("state root 0x"), "{out}");
    // A list out of order, and a file that is not there: named, exit 2.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&list).unwrap()).unwrap();
    doc.as_array_mut().unwrap().swap(0, 1);
    let bad = dir.join("bad.json");
    std::fs::write(&bad, doc.to_string()).unwrap();
    let (code, _, err) = parevm(&["bal", "apply", block, "--bal", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.json") && err.contains("order"), "{err}");
    let missing = dir.join("missing.json");
    let (code, _, err) = parevm(&["bal", "apply", block, "--bal", missing.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("missing.json") && err.contains("cannot read"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn replay_with_a_list_accepts_the_built_one_and_refuses_a_wrong_one_with_exit_1() {
    let Some((block, dir, list, _)) = built_list("19933597") else {
        return;
    };
    let block = block.as_str();
    for strategy in ["bal", "all"] {
        let args = [
            "replay",
            block,
            "--bal",
            list.to_str().unwrap(),
            "--strategy",
            strategy,
        ];
        let (code, out, err) = parevm(&[&args[..], &["--threads", "2"]].concat());
        assert_eq!(code, 0, "{strategy}: {out}{err}");
    }
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&list).unwrap()).unwrap();
    let account = doc
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|a| !a["balanceChanges"].as_array().unwrap().is_empty())
        .unwrap();
    account["balanceChanges"][0]["postBalance"] = "0x01".into();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, doc.to_string()).unwrap();
    let (code, out, _) = parevm(&[
        "replay",
        block,
        "--bal",
        bad.to_str().unwrap(),
        "--strategy",
        "bal",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("block access list does not match execution"),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn predict_scores_every_predictor_in_the_json_shape_and_names_unknown_hints() {
    let dir = std::env::temp_dir().join(format!("parevm-predict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("predict.json");
    let args = ["predict", "--workload", "erc20", "--gas", "1M", "--json"];
    let (code, out, err) = parevm(&[&args[..], &[json.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("static"), "{out}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = doc["results"].as_array().expect("results");
    let hints: Vec<&str> = rows.iter().map(|r| r["hints"].as_str().unwrap()).collect();
    assert_eq!(hints, ["access-list", "static", "simulate", "bal"]);
    for field in [
        "target",
        "txs",
        "read_precision",
        "read_recall",
        "write_precision",
        "write_recall",
        "exact_share",
        "partial_share",
        "us_per_tx",
    ] {
        assert!(rows.iter().all(|r| !r[field].is_null()), "{field}: {doc}");
    }
    let (code, _, err) = parevm(&["replay", ".", "--strategy", "dag", "--hints", "oracle"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unknown hints \"oracle\"") && err.contains("access-list"),
        "{err}"
    );
    let (code, _, err) = parevm(&["predict", "--workload", "erc20", "--hints", "oracle"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unknown hints \"oracle\"") && err.contains("static"),
        "{err}"
    );
    let (code, _, err) = parevm(&["predict"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--workload"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
