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
    /// Print one JSON object per block (with execution statistics) instead of text lines.
    #[arg(long)]
    json: bool,
}

/// `--strategy` and `--threads`, shared by the commands that execute blocks.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// Strategy name, or `all` to run every registered strategy and compare each with sequential.
    #[arg(long, default_value = "sequential")]
    pub(crate) strategy: String,
    /// Worker threads of the strategy.
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
}

/// Resolves `--strategy`.
pub(crate) fn strategies(name: &str) -> Result<Vec<&'static dyn Strategy>, String> {
    if name == "all" {
        return Ok(strategy::registry());
    }
    strategy::by_name(name).map(|s| vec![s]).ok_or_else(|| {
        format!(
            "unknown strategy {name:?}; known: all, {}",
            strategy::names().join(", ")
        )
    })
}

pub(crate) fn run(args: ReplayArgs) -> ExitCode {
    let strategies = match strategies(&args.run.strategy) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(crate::EXIT_INPUT);
        }
    };
    let chain = ChainSpec::mainnet();
    let (mut passed, mut failed, mut unreadable) = (0usize, 0usize, false);
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
            let (block, state) = match folder.load(&chain) {
                Ok(x) => x,
                Err(e) => {
                    println!("{}: FAIL unreadable input: {e}", folder.name());
                    unreadable = true;
                    failed += 1;
                    continue;
                }
            };
            let verdicts = check_block(&block, &state, &strategies, args.run.threads);
            let ok = verdicts.iter().all(|v| v.passed);
            if ok {
                passed += 1
            } else {
                failed += 1
            }
            if args.json {
                print_json(&block, &verdicts);
            } else {
                print_line(&folder.name(), &block, &verdicts);
            }
        }
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

fn print_json(block: &parevm::Block, verdicts: &[StrategyVerdict]) {
    let v = serde_json::json!({
        "block": block.number(),
        "fork": block.fork.to_string(),
        "transactions": block.transactions.len(),
        "passed": verdicts.iter().all(|v| v.passed),
        "strategies": verdicts,
    });
    println!("{v}");
}

pub(crate) fn example(threads: usize) -> ExitCode {
    let (block, state) = parevm::sources::example::transfer_block(64);
    let verdicts = check_block(&block, &state, &strategy::registry(), threads);
    print_line("example", &block, &verdicts);
    if verdicts.iter().all(|v| v.passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
