//! The shared Ethereum test suites, run through the engine with every registered strategy:
//! GeneralStateTests, execution-spec-tests state fixtures and BlockchainTests/ValidBlocks.
//! Every non-skipped case must pass. The runners themselves are shown able to fail: a copy of
//! a fixture with a corrupted expectation must be reported as failing.

use parevm::{
    conformance::{Outcome, Summary, blocktest, json_files, statetest},
    sources::fixtures::fixtures_or_skip,
    strategy,
};
use std::path::{Path, PathBuf};

type RunFile = fn(
    &Path,
    &dyn parevm::Strategy,
    &parevm::Engine,
) -> Result<Vec<parevm::conformance::CaseResult>, parevm::LoadError>;

fn run_suite(dir: &Path, run: RunFile, threads: usize) -> Vec<(String, Summary, Vec<String>)> {
    let files = json_files(dir).unwrap_or_else(|e| {
        panic!(
            "suite folder {} is missing or unreadable: {e}",
            dir.display()
        )
    });
    assert!(!files.is_empty(), "no test files under {}", dir.display());
    // The variants too: `block-stm` runs these mostly one-transaction blocks sequentially.
    strategy::registry()
        .into_iter()
        .chain(strategy::variants())
        .map(|s| {
            let mut summary = Summary::default();
            let mut failures = Vec::new();
            std::thread::scope(|scope| {
                let chunks: Vec<&[PathBuf]> = files.chunks(files.len().div_ceil(2)).collect();
                let handles: Vec<_> = chunks
                    .into_iter()
                    .map(|chunk| {
                        scope.spawn(move || {
                            let engine = parevm::Engine::new(threads).expect("threads");
                            chunk
                                .iter()
                                .map(|f| (f.clone(), run(f, s, &engine)))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                for h in handles {
                    for (file, result) in h.join().expect("worker") {
                        match result {
                            Err(e) => {
                                summary.failed += 1;
                                failures.push(format!("{}: {e}", file.display()));
                            }
                            Ok(cases) => {
                                for c in cases {
                                    summary.add(&c.outcome);
                                    if let Outcome::Failed(why) = c.outcome {
                                        failures.push(format!("{}: {why}", c.name));
                                    }
                                }
                            }
                        }
                    }
                }
            });
            (s.name().to_string(), summary, failures)
        })
        .collect()
}

fn assert_suite(name: &str, dir: &Path, run: RunFile, threads: usize) {
    for (strategy, summary, failures) in run_suite(dir, run, threads) {
        eprintln!("{name} [{strategy} x{threads}]: {}", summary.line());
        assert!(summary.passed > 0, "{name}: nothing ran");
        assert!(
            failures.is_empty(),
            "{name} [{strategy}]: {} failures:\n{}",
            failures.len(),
            failures
                .iter()
                .take(50)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn general_state_tests() {
    let Some(f) = fixtures_or_skip("general_state_tests") else {
        return;
    };
    assert_suite(
        "GeneralStateTests",
        &f.join("ethereum-tests/GeneralStateTests"),
        statetest::run_file,
        2,
    );
}

#[test]
fn eest_state_tests() {
    let Some(f) = fixtures_or_skip("eest_state_tests") else {
        return;
    };
    assert_suite("eest", &f.join("eest"), statetest::run_file, 2);
}

/// Multi-fork legacy state tests whose invalid transactions leave the beneficiary touched
/// before Spurious Dragon.
#[test]
fn legacy_regression_state_tests() {
    let Some(f) = fixtures_or_skip("legacy_regression_state_tests") else {
        return;
    };
    assert_suite(
        "legacy-regressions",
        &f.join("legacy-regressions"),
        statetest::run_file,
        2,
    );
}

#[test]
fn blockchain_tests() {
    let Some(f) = fixtures_or_skip("blockchain_tests") else {
        return;
    };
    assert_suite(
        "BlockchainTests",
        &f.join("ethereum-tests/BlockchainTests/ValidBlocks"),
        blocktest::run_file,
        2,
    );
}

/// Copies `src` with `edit` applied to its JSON and runs it.
fn corrupted(
    src: &Path,
    tag: &str,
    run: RunFile,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Result<Vec<parevm::conformance::CaseResult>, parevm::LoadError> {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src).unwrap()).unwrap();
    edit(&mut v);
    let dst = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{tag}.json"));
    std::fs::write(&dst, serde_json::to_string(&v).unwrap()).unwrap();
    run(
        &dst,
        &strategy::sequential::Sequential,
        &parevm::Engine::new(1).unwrap(),
    )
}

fn first_test(v: &mut serde_json::Value) -> &mut serde_json::Value {
    v.as_object_mut().unwrap().values_mut().next().unwrap()
}

/// The first fork's expectations of a state test file's first test.
fn first_post(v: &mut serde_json::Value) -> &mut serde_json::Value {
    first_test(v)["post"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .next()
        .unwrap()
}

#[test]
fn runners_detect_wrong_expectations_and_bad_files() {
    let Some(f) = fixtures_or_skip("runner_mutations") else {
        return;
    };
    let st = f.join("ethereum-tests/GeneralStateTests/stExample/add11.json");
    let failed = |r: Vec<parevm::conformance::CaseResult>| {
        r.iter().any(|c| matches!(c.outcome, Outcome::Failed(_)))
    };
    // The unmodified file passes.
    assert!(!failed(
        statetest::run_file(
            &st,
            &strategy::sequential::Sequential,
            &parevm::Engine::new(1).unwrap()
        )
        .unwrap()
    ));
    // A wrong post-state root fails.
    let r = corrupted(&st, "bad_root", statetest::run_file, |v| {
        let post = first_post(v);
        post[0]["hash"] =
            "0x00000000000000000000000000000000000000000000000000000000000000aa".into();
    });
    assert!(failed(r.unwrap()));
    // A wrong logs hash fails.
    let r = corrupted(&st, "bad_logs", statetest::run_file, |v| {
        let post = first_post(v);
        post[0]["logs"] =
            "0x00000000000000000000000000000000000000000000000000000000000000bb".into();
    });
    assert!(failed(r.unwrap()));
    // An exception that does not happen fails.
    let r = corrupted(&st, "bad_exception", statetest::run_file, |v| {
        let post = first_post(v);
        post[0]["expectException"] = "TR_NoFunds".into();
    });
    assert!(failed(r.unwrap()));
    // Malformed files are errors naming the file and the problem.
    let e = corrupted(&st, "bad_fork", statetest::run_file, |v| {
        let post = first_test(v)["post"].as_object_mut().unwrap();
        let cases = post.values().next().unwrap().clone();
        post.insert("Atlantis".into(), cases);
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("bad_fork.json") && e.contains("unknown fork name \"Atlantis\""),
        "{e}"
    );
    let e = corrupted(&st, "bad_hex", statetest::run_file, |v| {
        first_test(v)["transaction"]["data"][0] = "0xzz".into();
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("bad_hex.json") && e.contains("invalid hex"),
        "{e}"
    );
    let e = corrupted(&st, "missing_env", statetest::run_file, |v| {
        first_test(v).as_object_mut().unwrap().remove("env");
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("missing_env.json") && e.contains("missing field `env`"),
        "{e}"
    );

    // Blockchain tests: a wrong state root in the final postState fails.
    let bt = json_files(&f.join("ethereum-tests/BlockchainTests/ValidBlocks/bcExample"))
        .unwrap()
        .remove(0);
    assert!(!failed(
        blocktest::run_file(
            &bt,
            &strategy::sequential::Sequential,
            &parevm::Engine::new(1).unwrap()
        )
        .unwrap()
    ));
    let r = corrupted(&bt, "bad_post_state", blocktest::run_file, |v| {
        let post = first_test(v)["postState"].as_object_mut().unwrap();
        let acc = post.values_mut().next().unwrap();
        acc["nonce"] = "0x7777".into();
    });
    assert!(failed(r.unwrap()));
    let e = corrupted(&bt, "bad_network", blocktest::run_file, |v| {
        first_test(v)["network"] = "Atlantis".into()
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("bad_network.json") && e.contains("unknown network"),
        "{e}"
    );
}
