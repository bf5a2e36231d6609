//! `parevm replay`: execute block folders and check gas used, logs bloom and receipts root.

use clap::Args;
use parevm::{
    ChainSpec,
    checks::{StrategyVerdict, check_block},
    sources::rpc::BlockFolder,
    strategy::{self, Strategy},
};
use std::{path::PathBuf, process::ExitCode};

/// Arguments of `parevm replay`.
#[derive(Args)]
pub(crate) struct ReplayArgs {
    /// Block folders, or folders of block folders.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
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
    let chain = ChainSpec::mainnet();
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
                .load(&chain)
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
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&json).expect("json");
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {}", path.display());
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
