//! `parevm fetch` and `parevm replay --rpc` against a JSON-RPC node on loopback that answers
//! from the shared mainnet fixtures ([`rpc_node`]).
//!
//! What must hold: a fetched folder equals the fixture it came from (through both pre-state
//! paths), flaky answers change nothing, and every way a node can fail gives its own message
//! and a non-zero exit.

#![cfg(feature = "rpc")]

mod rpc_node;

use parevm::sources::{fixtures::fixtures_or_skip, json::read_json, prestate::PreState};
use rpc_node::{Behaviour, Node, load};
use serde_json::json;
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

const BIN: &str = env!("CARGO_BIN_EXE_parevm");

fn mainnet() -> Option<PathBuf> {
    fixtures_or_skip("fetch").map(|f| f.join("mainnet"))
}

/// Every block number among the fixtures.
fn all_blocks(dir: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.sort_unstable();
    v
}

fn parevm(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn fetch(node: &Node, block: &str, out: &Path, extra: &[&str]) -> Output {
    fetch_from(&node.url, block, out, extra)
}

/// `parevm fetch` from `url`, retrying after 1 ms.
fn fetch_from(url: &str, block: &str, out: &Path, extra: &[&str]) -> Output {
    let out = out.to_str().unwrap();
    let mut args = vec!["fetch", "--rpc", url, "--block", block, "--out", out];
    args.extend_from_slice(&["--backoff-ms", "1"]);
    args.extend_from_slice(extra);
    parevm(&args)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("parevm-fetch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The fetched folder of block `n` against the fixture: the same block JSON, a pre-state
/// that agrees with the fixture's on everything it lists (`exact`: lists exactly the
/// fixture's), and ancestor hashes the fixture's table agrees with.
fn assert_same(fixtures: &Path, out: &Path, n: u64, exact: bool) {
    let (want, got) = (fixtures.join(n.to_string()), out.join(n.to_string()));
    let read = |p: PathBuf| read_json(&p).unwrap();
    assert_eq!(
        read(got.join("block.json")),
        read(want.join("block.json")),
        "block {n}"
    );
    let pre = |p: PathBuf| PreState::parse(&read(p), "pre-state").unwrap();
    let (fetched, fixture) = (
        pre(got.join("prestate.json")),
        pre(want.join("prestate.json")),
    );
    if exact {
        assert_eq!(fetched, fixture, "block {n}: pre-state");
    } else {
        for (address, account) in &fetched.accounts {
            let listed = fixture.accounts.get(address).cloned().unwrap_or_default();
            assert_eq!(
                (account.balance, account.nonce, &account.code),
                (listed.balance, listed.nonce, &listed.code),
                "block {n}: account {address}"
            );
            for (k, v) in &account.storage {
                let want = listed.storage.get(k).copied().unwrap_or_default();
                assert_eq!(*v, want, "block {n}: {address} slot {k}");
            }
        }
    }
    let table = read(fixtures.join("block_hashes.json"));
    let fetched = read(out.join("block_hashes.json"));
    for (k, v) in fetched.as_object().unwrap() {
        assert_eq!(&table[k], v, "block hash {k}");
    }
}

fn replay_passes(out: &Path, count: usize) {
    let o = parevm(&["replay", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("{count} passed, 0 failed")),
        "{}",
        text(&o)
    );
}

#[test]
fn the_tracer_path_gives_back_every_fixture() {
    let Some(dir) = mainnet() else { return };
    let blocks = all_blocks(&dir);
    let node = Node::start(load(&dir, &blocks), Behaviour::tracing());
    let out = temp("tracer");
    for n in &blocks {
        let o = fetch(&node, &n.to_string(), &out, &["--prestate", "tracer"]);
        assert!(o.status.success(), "block {n}: {}", text(&o));
        assert!(text(&o).contains("with the prestateTracer"), "{}", text(&o));
        assert_same(&dir, &out, *n, true);
    }
    replay_passes(&out, blocks.len());
    let _ = std::fs::remove_dir_all(&out);
}

/// Blocks the execution path cannot fetch, with the reason.
const NOT_EXECUTABLE: [(u64, &str); 1] = [(
    2674998,
    "touches accounts that exist empty before Spurious Dragon, which JSON-RPC reads as missing \
     (each_node_failure_names_itself checks the message)",
)];

#[test]
fn the_execution_path_reads_the_same_state() {
    let Some(dir) = mainnet() else { return };
    let blocks: Vec<u64> = (all_blocks(&dir).into_iter())
        .filter(|n| NOT_EXECUTABLE.iter().all(|(skip, _)| skip != n))
        .collect();
    // State reads name the parent by hash, which no reorganisation can make another block.
    let pinned = Behaviour {
        by_hash_only: true,
        ..Behaviour::default()
    };
    let node = Node::start(load(&dir, &blocks), pinned);
    let out = temp("execute");
    for n in blocks.iter().copied() {
        let o = fetch(&node, &n.to_string(), &out, &[]);
        assert!(o.status.success(), "block {n}: {}", text(&o));
        let t = text(&o);
        assert!(
            t.contains("does not serve debug_traceBlockByNumber") && t.contains("eth_getStorageAt"),
            "{t}"
        );
        assert!(t.contains("by execution against the parent state"), "{t}");
        assert_same(&dir, &out, n, false);
    }
    replay_passes(&out, blocks.len());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_node_failing_every_third_request_yields_the_same_files() {
    let Some(dir) = mainnet() else { return };
    let blocks = [19426587, 4370000, 2462997];
    let data = load(&dir, &blocks);
    let (steady, flaky) = (temp("steady"), temp("flaky"));
    for (tracer, how) in [(true, "tracer"), (false, "execute")] {
        let ok = Node::start(
            data.clone(),
            Behaviour {
                tracer,
                ..Default::default()
            },
        );
        let bad = Node::start(
            data.clone(),
            Behaviour {
                tracer,
                fail_every: Some(3),
                ..Default::default()
            },
        );
        for n in blocks {
            let (n, p) = (n.to_string(), ["--prestate", how]);
            let (a, b) = (fetch(&ok, &n, &steady, &p), fetch(&bad, &n, &flaky, &p));
            assert!(
                a.status.success() && b.status.success(),
                "{}\n{}",
                text(&a),
                text(&b)
            );
            for file in ["block.json", "prestate.json"] {
                let read = |d: &Path| std::fs::read(d.join(&n).join(file)).unwrap();
                assert_eq!(read(&steady), read(&flaky), "block {n} {file} via {how}");
            }
        }
        let read = |d: &Path| std::fs::read(d.join("block_hashes.json")).unwrap();
        assert_eq!(read(&steady), read(&flaky));
        // A third of the flaky node's answers were failures, each asked again: about 1.5
        // times the requests (the speculative warm-up's reads vary a little between runs).
        let (asked, retried) = (ok.requests(), bad.requests());
        assert!(
            retried * 10 >= asked * 14,
            "{asked} requests, {retried} with failures"
        );
    }
    for d in [steady, flaky] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn fetching_into_a_folder_adds_to_it() {
    let Some(dir) = mainnet() else { return };
    let data = load(&dir, &[4369999, 4370000]);
    let node = Node::start(data, Behaviour::tracing());
    let out = temp("adds");
    assert!(fetch(&node, "4369999", &out, &[]).status.success());
    let o = fetch(&node, "4370000", &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let table = read_json(&out.join("block_hashes.json")).unwrap();
    for parent in ["4369998", "4369999"] {
        assert!(table.get(parent).is_some(), "{parent} missing from {table}");
    }
    replay_passes(&out, 2);
    // A table that disagrees with the node is not overwritten.
    let wrong = json!({"4369998": format!("0x{}", "11".repeat(32))});
    std::fs::write(out.join("block_hashes.json"), wrong.to_string()).unwrap();
    let o = fetch(&node, "4369999", &out, &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("another chain?"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_range_fetches_every_block_in_it() {
    let Some(dir) = mainnet() else { return };
    let node = Node::start(load(&dir, &[2674998, 2675000]), Behaviour::tracing());
    let out = temp("range");
    // 2674999 is not among the fixtures: the node says it does not exist.
    let o = fetch(&node, "2674998..2675000", &out, &[]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("block 2674999 does not exist on the node"),
        "{}",
        text(&o)
    );
    assert!(out.join("2674998/prestate.json").is_file());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn replay_executes_against_the_node() {
    let Some(dir) = mainnet() else { return };
    let blocks = [4370000, 12244000, 19426587];
    let node = Node::start(load(&dir, &blocks), Behaviour::default());
    for n in blocks {
        let n = n.to_string();
        for threads in ["1", "2", "4", "8"] {
            let args = [
                "replay",
                "--rpc",
                &node.url,
                "--block",
                &n,
                "--strategy",
                "all",
                "--threads",
                threads,
            ];
            let o = parevm(&args);
            assert!(o.status.success(), "block {n}: {}", text(&o));
            assert!(text(&o).contains("1 passed, 0 failed"), "{}", text(&o));
        }
    }
    // The verdicts as JSON, as for folders.
    let json = temp("replay-json");
    let path = json.to_str().unwrap();
    let args = [
        "replay", "--rpc", &node.url, "--block", "19426587", "--json", path,
    ];
    let o = parevm(&args);
    assert!(o.status.success(), "{}", text(&o));
    let written = read_json(&json).unwrap();
    assert_eq!(written[0]["block"], 19426587);
    assert_eq!(written[0]["passed"], true);
    let _ = std::fs::remove_file(&json);
    // A node whose state is off: the header check fails, and says so.
    let bad = Behaviour {
        tamper: true,
        ..Default::default()
    };
    let node = Node::start(load(&dir, &blocks), bad);
    let o = parevm(&["replay", "--rpc", &node.url, "--block", "19426587"]);
    assert_fails(&o, &["FAIL", "0 passed, 1 failed"]);
}

/// Runs `fetch` for block 46147 against a node behaving as `b` and returns its output.
fn failing(b: Behaviour, extra: &[&str]) -> Output {
    let Some(dir) = mainnet() else {
        panic!("no fixtures")
    };
    let node = Node::start(load(&dir, &[46147]), b);
    let out = temp("fail");
    let o = fetch(&node, "46147", &out, extra);
    let _ = std::fs::remove_dir_all(&out);
    o
}

fn assert_fails(o: &Output, says: &[&str]) {
    assert!(!o.status.success(), "{}", text(o));
    for s in says {
        assert!(text(o).contains(s), "expected {s:?} in {}", text(o));
    }
}

#[test]
fn each_node_failure_names_itself() {
    if mainnet().is_none() {
        return;
    }
    let tracer = Behaviour::tracing();
    // The tracer asked for and not served: the fallback is named.
    let o = failing(Behaviour::default(), &["--prestate", "tracer"]);
    assert_fails(
        &o,
        &[
            "does not serve debug_traceBlockByNumber",
            "--prestate execute",
        ],
    );
    // Another chain.
    let o = failing(
        Behaviour {
            chain_id: Some(5),
            ..tracer.clone()
        },
        &[],
    );
    assert_fails(&o, &["serves chain id 5", "chain id 1 was expected"]);
    // A block the node does not have.
    let dir = mainnet().unwrap();
    let node = Node::start(load(&dir, &[46147]), tracer.clone());
    let o = fetch(&node, "46148", &temp("none"), &[]);
    assert_fails(&o, &["block 46148 does not exist on the node"]);
    // Persistent server errors, after the retries.
    let o = failing(
        Behaviour {
            always_500: true,
            ..tracer.clone()
        },
        &["--attempts", "3"],
    );
    assert_fails(&o, &["HTTP 500", "3 attempts"]);
    // Too slow.
    let slow = Behaviour {
        delay: Some(Duration::from_millis(2500)),
        ..tracer.clone()
    };
    let o = failing(slow, &["--timeout", "1", "--attempts", "2"]);
    assert_fails(&o, &["no answer within 1s", "2 attempts"]);
    // A node whose state does not reproduce the block.
    let o = failing(
        Behaviour {
            tamper: true,
            ..Default::default()
        },
        &[],
    );
    assert_fails(
        &o,
        &["execution on the pre-state read by execution", "nonce"],
    );
    // Answers that are not what the method returns.
    let garbage = Behaviour {
        garbage_block: true,
        ..Behaviour::tracing()
    };
    let node = Node::start(load(&dir, &[46147]), garbage);
    let o = fetch(&node, "46147", &temp("garbage"), &[]);
    assert_fails(&o, &["block 46147 from the node", "header hash mismatch"]);
    let garbage = Behaviour {
        garbage_trace: true,
        ..Behaviour::tracing()
    };
    let node = Node::start(load(&dir, &[46147]), garbage);
    let o = fetch(&node, "46147", &temp("garbage"), &[]);
    assert_fails(
        &o,
        &[
            "debug_traceBlockByNumber: malformed answer",
            "expected an array",
        ],
    );
    // Before Spurious Dragon, empty accounts read as missing: the likely cause is named.
    let node = Node::start(load(&dir, &[2674998]), Behaviour::default());
    let o = fetch(&node, "2674998", &temp("empty"), &[]);
    assert_fails(&o, &["before Spurious Dragon", "prestateTracer"]);
}

#[test]
fn unusable_endpoints_are_named() {
    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = temp("unreachable");
    let o = fetch_from(&url, "1", &out, &["--attempts", "2"]);
    assert_fails(&o, &["cannot reach the node at", "2 attempts"]);
    let o = fetch_from("ftp://example.org", "1", &out, &[]);
    assert_fails(&o, &["invalid node URL", "ftp"]);
    let o = fetch_from(&url, "9..3", &out, &[]);
    assert_fails(&o, &["is empty"]);
    let o = fetch_from(&url, "1", &out, &["--chain-id", "10"]);
    assert_fails(&o, &["chain id 10 is not mainnet", "--fork"]);
    let o = parevm(&["replay", "--rpc", &url]);
    assert_fails(&o, &["--block"]);
}

#[test]
fn requests_in_flight_stay_within_the_bound() {
    let Some(dir) = mainnet() else { return };
    let slow = Behaviour {
        delay: Some(Duration::from_millis(3)),
        ..Default::default()
    };
    let node = Node::start(load(&dir, &[12244000]), slow);
    let out = temp("bound");
    let o = fetch(&node, "12244000", &out, &["--concurrency", "3"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!((2..=3).contains(&node.peak()), "peak {}", node.peak());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_tracer_pre_state_that_does_not_replay_is_not_written() {
    let Some(dir) = mainnet() else { return };
    let bad = Behaviour {
        tamper_trace: true,
        ..Behaviour::tracing()
    };
    let node = Node::start(load(&dir, &[19426587]), bad);
    let out = temp("bad-trace");
    let o = fetch(&node, "19426587", &out, &["--prestate", "tracer"]);
    assert_fails(&o, &["pre-state read with the prestateTracer", "failed"]);
    assert!(!out.join("19426587").exists());
    // `auto` says so and reads the state by execution instead.
    let o = fetch(&node, "19426587", &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("with the prestateTracer failed"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("by execution against the parent state"),
        "{}",
        text(&o)
    );
    assert_same(&dir, &out, 19426587, false);
    let _ = std::fs::remove_dir_all(&out);
}

/// The figures of docs/benchmarking.md: every fixture block fetched through each path from a
/// loopback node answering at once and one answering after `PAREVM_RPC_DELAY_MS` (default 5).
/// `cargo test --release -p parevm-cli --test fetch -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a check"]
fn fetch_times() {
    let Some(dir) = mainnet() else { return };
    let delay: u64 = std::env::var("PAREVM_RPC_DELAY_MS").map_or(5, |v| v.parse().unwrap());
    let blocks: Vec<u64> = (all_blocks(&dir).into_iter())
        .filter(|n| NOT_EXECUTABLE.iter().all(|(skip, _)| skip != n))
        .collect();
    let data = load(&dir, &blocks);
    for ms in [0, delay] {
        for (tracer, how) in [(true, "tracer"), (false, "execute")] {
            let b = Behaviour {
                tracer,
                delay: (ms > 0).then(|| Duration::from_millis(ms)),
                ..Default::default()
            };
            let node = Node::start(data.clone(), b);
            let out = temp("times");
            let start = std::time::Instant::now();
            for n in &blocks {
                let o = fetch(&node, &n.to_string(), &out, &["--prestate", how]);
                assert!(o.status.success(), "{}", text(&o));
            }
            let took = start.elapsed().as_secs_f64();
            println!(
                "{how:>8} delay {ms} ms: {} blocks in {took:.1} s, {} requests, peak {} in flight",
                blocks.len(),
                node.requests(),
                node.peak()
            );
            let _ = std::fs::remove_dir_all(&out);
        }
    }
}

#[test]
fn latest_is_the_nodes_newest_block() {
    let Some(dir) = mainnet() else { return };
    let tracer = Behaviour::tracing();
    let node = Node::start(load(&dir, &[19934116, 19933597]), tracer);
    let out = temp("latest");
    let o = fetch(&node, "latest", &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_same(&dir, &out, 19934116, true);
    let o = fetch(&node, "latest..5", &out, &[]);
    assert_fails(&o, &["use N..latest"]);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn another_chain_runs_the_fork_it_is_given() {
    let Some(dir) = mainnet() else { return };
    // Block 46147's one transaction predates EIP-155: valid on any chain.
    let other = Behaviour {
        chain_id: Some(5),
        ..Behaviour::tracing()
    };
    let node = Node::start(load(&dir, &[46147]), other);
    let out = temp("chain");
    let o = fetch(&node, "46147", &out, &["--chain-id", "5"]);
    assert_fails(&o, &["chain id 5 is not mainnet", "--fork"]);
    let o = fetch(
        &node,
        "46147",
        &out,
        &["--chain-id", "5", "--fork", "Frontier"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let chain = read_json(&out.join("chain.json")).unwrap();
    assert_eq!(chain, json!({"chainId": 5, "fork": "Frontier"}));
    replay_passes(&out, 1);
    // Mainnet blocks do not go into that folder.
    let mainnet = Node::start(load(&dir, &[46147]), Behaviour::default());
    let o = fetch(&mainnet, "46147", &out, &[]);
    assert_fails(&o, &["holds blocks of chain id 5"]);
    let _ = std::fs::remove_dir_all(&out);
}
