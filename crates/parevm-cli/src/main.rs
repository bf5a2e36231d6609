//! The `parevm` command line: replay real blocks, run the Ethereum test suites, benchmark.
//!
//! Only argument parsing, printing and exit codes live here; execution is in the library.

mod bal;
mod bench;
mod chain;
mod chart;
mod conformance;
#[cfg(feature = "rpc")]
mod fetch;
mod fuzz;
mod predict;
mod profile;
mod replay;
mod report;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: per-thread free lists, cheap frees of memory allocated
/// by another thread (worker threads build outputs that the caller frees). As reth does with
/// jemalloc, the allocator is the binary's choice; the library does not impose one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory for reuse instead of handing it back to the kernel 10 ms after it is
/// freed (mimalloc's default): a block engine frees and reallocates the same amounts block
/// after block, and re-faulting (zeroing) those pages cost more than executing a block of
/// plain transfers. Memory stays bounded by the largest block's working set.
fn configure_allocator() {
    // SAFETY: sets a plain integer option; mimalloc reads options at each purge decision.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// A progress bar of `len` steps on stderr, drawn only when stderr is a terminal; `unit`
/// names the steps.
pub(crate) fn progress(len: u64, unit: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    let bar = indicatif::ProgressBar::new(len);
    if std::io::stderr().is_terminal() {
        let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} {{elapsed}} eta {{eta}} {{msg}}");
        bar.set_style(indicatif::ProgressStyle::with_template(&template).expect("template"));
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

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
    /// Fetch blocks and their pre-states from a node (JSON-RPC) into block folders.
    #[cfg(feature = "rpc")]
    Fetch(fetch::FetchArgs),
    /// Run state tests (ethereum/tests GeneralStateTests, execution-spec-tests state fixtures).
    Statetest(conformance::SuiteArgs),
    /// Run blockchain tests (ethereum/tests BlockchainTests), checking every block's state root.
    Blocktest(conformance::SuiteArgs),
    /// Benchmark every strategy on synthetic workloads or real blocks (table, JSON, SVG).
    Bench(Box<bench::BenchArgs>),
    /// Render committed bench JSON into docs/RESULTS.md, its charts and the README's table.
    Report(report::ReportArgs),
    /// Block-level access lists (EIP-7928): build one from an execution, or apply one.
    #[command(subcommand)]
    Bal(bal::BalCommand),
    /// Run adversarial generated blocks with parallel strategies and compare with sequential.
    Fuzz(fuzz::FuzzArgs),
    /// Score access predictors (access-list, static, simulate, bal) against execution.
    Predict(predict::PredictArgs),
    /// Profile the parallelism of blocks: dependency graph, critical path, projected speedups.
    Profile(profile::ProfileArgs),
    /// Chains of blocks on a persistent state store: init, run, verify, info.
    #[command(subcommand)]
    Chain(chain::ChainCommand),
    /// Execute the built-in example block with every strategy.
    Example {
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
}

fn main() -> ExitCode {
    configure_allocator();
    let cli = Cli::parse();
    match cli.command {
        Command::Replay(args) => replay::run(args),
        #[cfg(feature = "rpc")]
        Command::Fetch(args) => fetch::run(args),
        Command::Statetest(args) => conformance::run(conformance::Suite::State, args),
        Command::Blocktest(args) => conformance::run(conformance::Suite::Blockchain, args),
        Command::Bench(args) => bench::run(*args),
        Command::Fuzz(args) => fuzz::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Profile(args) => profile::run(args),
        Command::Chain(c) => chain::run(c),
        Command::Bal(command) => bal::run(command),
        Command::Report(args) => report::run(args),
        Command::Example { threads } => replay::example(threads),
    }
}
