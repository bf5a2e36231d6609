//! `parevm replay`: execute block folders and check gas used, logs bloom and receipts root.

use clap::Args;
use parevm::{
    checks::{StrategyVerdict, check_block},
    sources::rpc::BlockFolder,
    strategy::{self, Strategy},
};
use std::{path::PathBuf, process::ExitCode};

/// Arguments of `parevm replay`.
#[derive(Args)]
pub(crate) struct ReplayArgs {
    /// Block folders, or folders of block folders.
    #[cfg_attr(feature = "rpc", arg(required_unless_present = "rpc"))]
    #[cfg_attr(not(feature = "rpc"), arg(required = true))]
    paths: Vec<PathBuf>,
    /// Execute block `--block` straight against this node's state (JSON-RPC) instead.
    #[cfg(feature = "rpc")]
    #[arg(long, value_name = "URL", requires = "block", conflicts_with_all = ["paths", "bal"])]
    rpc: Option<String>,
    /// The block to execute with `--rpc`.
    #[cfg(feature = "rpc")]
    #[arg(long, value_name = "N", requires = "rpc")]
    block: Option<u64>,
    #[cfg(feature = "rpc")]
    #[command(flatten)]
    node: crate::fetch::NodeArgs,
    #[command(flatten)]
    run: RunArgs,
    /// Also write every block's verdicts (with execution statistics) to this JSON file.
    #[arg(long, value_name = "FILE")]
    json: Option<std::path::PathBuf>,
    /// The blocks' EIP-7928 access lists (a file `parevm bal build --out` wrote): every
    /// strategy's execution is checked against them, and `bal` executes from them.
    #[arg(long, value_name = "FILE")]
    bal: Option<PathBuf>,
}

/// `--strategy` and `--threads`, shared by the commands that execute blocks.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// Strategy name (sequential, block-stm, monad, bal, or a variant: block-stm-speculative,
    /// monad-speculative, dag, sealevel and their hint kinds such as dag-bal), or `all` for
    /// every registered strategy (all but the variants), each compared with sequential.
    #[arg(long, default_value = "sequential")]
    pub(crate) strategy: String,
    /// Worker threads of the strategy (at least 1).
    #[arg(long, default_value_t = 1, value_parser = threads)]
    pub(crate) threads: usize,
    /// Where `dag` and `sealevel` get their predicted accesses: default (static analysis,
    /// simulation for what it marks partial), static, simulate, access-list, bal.
    #[arg(long)]
    pub(crate) hints: Option<String>,
}

/// Parses a thread count: at least one.
pub(crate) fn threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("a strategy needs at least one thread".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a thread count")),
    }
}

/// Resolves `--strategy` with `--hints`.
pub(crate) fn strategies(
    name: &str,
    hints: Option<&str>,
) -> Result<Vec<&'static dyn Strategy>, String> {
    let found = named(name)?;
    let Some(h) = hints else {
        return Ok(found);
    };
    found
        .into_iter()
        .map(|s| {
            strategy::with_hints(s, h).ok_or_else(|| {
                format!("unknown hints {h:?}; known: {}", strategy::HINTS.join(", "))
            })
        })
        .collect()
}

/// Resolves `--strategy`.
fn named(name: &str) -> Result<Vec<&'static dyn Strategy>, String> {
    if name == "all" {
        return Ok(strategy::registry());
    }
    strategy::by_name(name).map(|s| vec![s]).ok_or_else(|| {
        let registered: Vec<&str> = strategy::registry().iter().map(|s| s.name()).collect();
        format!(
            "unknown strategy {name:?}; known: {}, or all ({})",
            strategy::names().join(", "),
            registered.join(", ")
        )
    })
}

pub(crate) fn run(args: ReplayArgs) -> ExitCode {
    let strategies = match strategies(&args.run.strategy, args.run.hints.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(crate::EXIT_INPUT);
        }
    };
    let engine = match parevm::Engine::new(args.run.threads) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    #[cfg(feature = "rpc")]
    if let (Some(url), Some(number)) = (&args.rpc, args.block) {
        let json = args.json.as_deref();
        return remote(url, number, &args.node, &strategies, &engine, json);
    }
    let (mut passed, mut failed, mut unreadable) = (0usize, 0usize, false);
    let mut json = Vec::new();
    for path in &args.paths {
        let folders = match BlockFolder::discover(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: {e}");
                unreadable = true;
                failed += 1;
                continue;
            }
        };
        for folder in folders {
            let loaded = folder
                .open()
                .map_err(|e| e.to_string())
                .and_then(|(mut b, s)| {
                    if let Some(path) = &args.bal {
                        b.set_access_list(crate::bal::read_list(path, &b)?);
                    }
                    Ok((b, s))
                });
            let (block, state) = match loaded {
                Ok(x) => x,
                Err(e) => {
                    println!("{}: FAIL unreadable input: {e}", folder.name());
                    unreadable = true;
                    failed += 1;
                    continue;
                }
            };
            let verdicts = check_block(&block, &state, &strategies, &engine);
            let ok = verdicts.iter().all(|v| v.passed);
            if ok {
                passed += 1
            } else {
                failed += 1
            }
            if args.json.is_some() {
                json.push(block_json(&block, &verdicts));
            }
            print_line(&folder.name(), &block, &verdicts);
        }
    }
    if let Some(path) = &args.json
        && !write_json(path, &json)
    {
        return ExitCode::FAILURE;
    }
    println!("{passed} passed, {failed} failed");
    if unreadable {
        ExitCode::from(crate::EXIT_INPUT)
    } else if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes the verdicts' JSON to `path`; false (after saying why) when it cannot.
fn write_json(path: &std::path::Path, json: &[serde_json::Value]) -> bool {
    let text = serde_json::to_string_pretty(json).expect("json");
    if let Err(e) = std::fs::write(path, text) {
        eprintln!("error: cannot write {}: {e}", path.display());
        return false;
    }
    eprintln!("wrote {}", path.display());
    true
}

fn print_line(name: &str, block: &parevm::Block, verdicts: &[StrategyVerdict]) {
    for v in verdicts {
        let head = format!(
            "{name} ({}, {} txs) [{} x{}]",
            block.fork,
            block.transactions.len(),
            v.strategy,
            v.threads
        );
        if v.passed {
            let note = if v.unchecked.is_empty() {
                String::new()
            } else {
                "; receiptsRoot not checkable (pre-Byzantium)".into()
            };
            println!("{head}: ok{note}");
        } else {
            println!("{head}: FAIL {}", v.problems.join("; "));
        }
    }
}

fn block_json(block: &parevm::Block, verdicts: &[StrategyVerdict]) -> serde_json::Value {
    serde_json::json!({
        "block": block.number(),
        "fork": block.fork.to_string(),
        "transactions": block.transactions.len(),
        "passed": verdicts.iter().all(|v| v.passed),
        "strategies": verdicts,
    })
}

pub(crate) fn example(threads: usize) -> ExitCode {
    let (block, state) = parevm::sources::example::transfer_block(64);
    let verdicts = match parevm::Engine::new(threads) {
        Ok(engine) => check_block(&block, &state, &strategy::registry(), &engine),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    print_line("example", &block, &verdicts);
    if verdicts.iter().all(|v| v.passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `replay --rpc URL --block N`: the block executed against the node's state after block
/// N - 1, read on demand into a cache the workers share, and checked as a folder is.
#[cfg(feature = "rpc")]
fn remote(
    url: &str,
    number: u64,
    node_args: &crate::fetch::NodeArgs,
    strategies: &[&dyn Strategy],
    engine: &parevm::Engine,
    json: Option<&std::path::Path>,
) -> ExitCode {
    use parevm::sources::remote::{RemoteState, fetch};
    let chain = match node_args.chain() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(crate::EXIT_INPUT);
        }
    };
    let loaded = node_args.connect(url).and_then(|node| {
        let (_, block) = fetch::load_block(&node, number, &chain)?;
        Ok((node, block))
    });
    let (node, block) = match loaded {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if number == 0 {
        eprintln!("error: block 0 has no parent state to execute against");
        return ExitCode::from(crate::EXIT_INPUT);
    }
    let state = RemoteState::new(&node, block.header.parent_hash);
    state.hashes().insert(number - 1, block.header.parent_hash);
    if let Err(e) = fetch::warm_up(&block, &state) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let verdicts = check_block(&block, &state, strategies, engine);
    print_line(&number.to_string(), &block, &verdicts);
    if let Some(path) = json
        && !write_json(path, &[block_json(&block, &verdicts)])
    {
        return ExitCode::FAILURE;
    }
    if verdicts.iter().all(|v| v.passed) {
        println!("1 passed, 0 failed");
        ExitCode::SUCCESS
    } else {
        println!("0 passed, 1 failed");
        ExitCode::FAILURE
    }
}
