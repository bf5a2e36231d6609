//! The `parevm` command line: replay real blocks, run the Ethereum test suites, benchmark.
//!
//! Only argument parsing, printing and exit codes live here; execution is in the library.

mod bench;
mod chart;
mod conformance;
mod replay;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Exit code for unreadable input.
pub(crate) const EXIT_INPUT: u8 = 2;

#[derive(Parser)]
#[command(
    name = "parevm",
    version,
    about = "Parallel EVM block execution engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Execute blocks (block.json + prestate.json folders) and check them against their headers.
    Replay(replay::ReplayArgs),
    /// Run state tests (ethereum/tests GeneralStateTests, execution-spec-tests state fixtures).
    Statetest(conformance::SuiteArgs),
    /// Run blockchain tests (ethereum/tests BlockchainTests), checking every block's state root.
    Blocktest(conformance::SuiteArgs),
    /// Benchmark every strategy on synthetic workloads or real blocks (table, JSON, SVG).
    Bench(Box<bench::BenchArgs>),
    /// Execute the built-in example block with every strategy.
    Example {
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay(args) => replay::run(args),
        Command::Statetest(args) => conformance::run(conformance::Suite::State, args),
        Command::Blocktest(args) => conformance::run(conformance::Suite::Blockchain, args),
        Command::Bench(args) => bench::run(*args),
        Command::Example { threads } => replay::example(threads),
    }
}
