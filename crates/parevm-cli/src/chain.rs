//! `parevm chain`: chains of blocks on a persistent store — create one, run blocks into it
//! (pipelined or not), verify its root from scratch, and show its head.

use clap::{Args, Subcommand, ValueEnum};
use parevm::{
    Block, Engine, InMemoryState,
    conformance::blocktest,
    pipeline::{self, Pipeline},
    sources::{
        rpc::BlockFolder,
        workload::{self, WorkloadKind, WorkloadSpec},
    },
    store::{Head, Store},
};
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

/// `parevm chain` subcommands.
#[derive(Subcommand)]
pub(crate) enum ChainCommand {
    /// Create a store from a genesis: a blockchain test's, or a block folder's pre-state.
    Init {
        /// The store's directory.
        dir: PathBuf,
        /// A blockchain test file whose genesis starts the chain (`--test` picks the test).
        #[arg(
            long,
            conflicts_with = "from_fixture",
            required_unless_present = "from_fixture"
        )]
        genesis: Option<PathBuf>,
        /// A block folder (block.json + prestate.json) whose pre-state starts the chain (a
        /// partial state: roots are not checked against headers).
        #[arg(long)]
        from_fixture: Option<PathBuf>,
        /// The test of the `--genesis` file (default: its first).
        #[arg(long)]
        test: Option<String>,
    },
    /// Execute blocks into a store (created from the source's genesis when DIR does not exist).
    Run(RunArgs),
    /// Recompute the state root from the stored accounts and compare it with the stored one.
    Verify {
        /// The store's directory.
        dir: PathBuf,
    },
    /// The head block and its state root, what is retained, and sizes.
    Info {
        /// The store's directory.
        dir: PathBuf,
    },
    /// Time a synthetic chain into fresh stores with the pipeline off and on, alternating,
    /// each run in its own process (its peak memory its own).
    Bench(BenchArgs),
}

/// `parevm chain bench` arguments.
#[derive(Args)]
pub(crate) struct BenchArgs {
    /// The workload of the synthetic chain.
    #[arg(long, default_value = "mixed")]
    synthetic: String,
    /// Blocks.
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// Gas per block.
    #[arg(long, default_value = "10M")]
    gas: String,
    /// Strategy.
    #[arg(long, default_value = "block-stm")]
    strategy: String,
    /// Worker threads of the engine.
    #[arg(long, default_value_t = 2, value_parser = crate::replay::threads)]
    threads: usize,
    /// Rounds (each runs both modes, in alternating order).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Write the runs as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// `parevm chain run` arguments.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// The store's directory.
    dir: PathBuf,
    /// A blockchain test file (`--test` picks the test), or a folder of consecutive block
    /// folders.
    #[arg(
        long,
        conflicts_with = "synthetic",
        required_unless_present = "synthetic"
    )]
    blocks: Option<PathBuf>,
    /// A synthetic workload: `--count` blocks of `--gas` each, the same for the same flags.
    #[arg(long)]
    synthetic: Option<String>,
    /// Blocks of the synthetic chain.
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// Gas per synthetic block (e.g. 30M).
    #[arg(long, default_value = "30M")]
    gas: String,
    /// The test of a `--blocks` blockchain test file (default: its first).
    #[arg(long)]
    test: Option<String>,
    /// Strategy.
    #[arg(long, default_value = "block-stm")]
    strategy: String,
    /// Worker threads of the engine.
    #[arg(long, default_value_t = 2, value_parser = crate::replay::threads)]
    threads: usize,
    /// Overlap preparing, executing and committing consecutive blocks.
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    pipeline: OnOff,
    /// Change sets kept (blocks whose state stays readable).
    #[arg(long, default_value_t = 128)]
    horizon: u64,
    /// Write what the run did as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// On or off.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

pub(crate) fn run(command: ChainCommand) -> ExitCode {
    let result = match command {
        ChainCommand::Init {
            dir,
            genesis,
            from_fixture,
            test,
        } => init(
            &dir,
            genesis.as_deref(),
            from_fixture.as_deref(),
            test.as_deref(),
        ),
        ChainCommand::Run(args) => run_blocks(&args),
        ChainCommand::Verify { dir } => verify(&dir),
        ChainCommand::Info { dir } => info(&dir),
        ChainCommand::Bench(args) => bench(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(crate::EXIT_INPUT)
        }
    }
}

/// A chain's start and blocks, from one of the sources.
struct Source {
    genesis: InMemoryState,
    head: Head,
    /// Whether the genesis is complete and the headers carry real state roots: each block's
    /// root is then checked against its header's.
    complete: bool,
    blocks: Vec<Block>,
}

fn from_test(path: &Path, test: Option<&str>) -> Result<Source, String> {
    let chains = blocktest::chains(path).map_err(|e| e.to_string())?;
    let chain = match test {
        Some(t) => chains
            .into_iter()
            .find(|c| c.name.ends_with(&format!("::{t}"))),
        None => chains.into_iter().next(),
    };
    let chain = chain.ok_or_else(|| {
        format!(
            "{}: no such test{}",
            path.display(),
            test.map(|t| format!(" {t:?}")).unwrap_or_default()
        )
    })?;
    let number = chain
        .blocks
        .first()
        .map_or(0, |b| b.number().saturating_sub(1));
    Ok(Source {
        genesis: chain.genesis,
        head: Head {
            number,
            hash: chain.genesis_hash,
            state_root: chain.genesis_root,
        },
        complete: true,
        blocks: chain.blocks,
    })
}

fn from_folders(path: &Path) -> Result<Source, String> {
    let folders = BlockFolder::discover(path).map_err(|e| e.to_string())?;
    let mut blocks = Vec::new();
    let mut genesis = None;
    for f in &folders {
        let (block, state) = f.open().map_err(|e| e.to_string())?;
        genesis.get_or_insert(state);
        blocks.push(block);
    }
    let first = blocks.first().ok_or("no blocks")?;
    let head = Head {
        number: first.number() - 1,
        hash: first.header.parent_hash,
        state_root: Default::default(),
    };
    Ok(Source {
        genesis: genesis.unwrap_or_default(),
        head,
        complete: false,
        blocks,
    })
}

fn synthetic(name: &str, gas: &str, count: usize) -> Result<Source, String> {
    let kind = WorkloadKind::parse(name).ok_or_else(|| format!("unknown workload {name:?}"))?;
    let spec = WorkloadSpec::new(kind, crate::bench::parse_gas(gas)?);
    let (blocks, genesis) = workload::chain(&spec, count);
    let head = Head {
        number: workload::FIRST_NUMBER - 1,
        hash: workload::genesis_hash(),
        state_root: Default::default(),
    };
    // (Generated headers carry no state roots.)
    Ok(Source {
        genesis,
        head,
        complete: false,
        blocks,
    })
}

fn source_of(args: &RunArgs) -> Result<Source, String> {
    match (&args.blocks, &args.synthetic) {
        (_, Some(name)) => synthetic(name, &args.gas, args.count),
        (Some(p), None) if p.is_file() => from_test(p, args.test.as_deref()),
        (Some(p), None) => from_folders(p),
        (None, None) => Err("give --blocks or --synthetic".into()),
    }
}

fn init(
    dir: &Path,
    genesis: Option<&Path>,
    fixture: Option<&Path>,
    test: Option<&str>,
) -> Result<ExitCode, String> {
    let source = match (genesis, fixture) {
        (Some(g), _) => from_test(g, test)?,
        (None, Some(f)) => from_folders(f)?,
        (None, None) => return Err("give --genesis or --from-fixture".into()),
    };
    let store = create(dir, &source, 128)?;
    print_head(&store)?;
    Ok(ExitCode::SUCCESS)
}

fn create(dir: &Path, source: &Source, horizon: u64) -> Result<Store, String> {
    let head = Head {
        state_root: if source.complete {
            source.head.state_root
        } else {
            Default::default()
        },
        ..source.head
    };
    Store::create(dir, &source.genesis, head, horizon).map_err(|e| e.to_string())
}

fn run_blocks(args: &RunArgs) -> Result<ExitCode, String> {
    let strategy = parevm::strategy::by_name(&args.strategy)
        .ok_or_else(|| format!("unknown strategy {:?}", args.strategy))?;
    let source = source_of(args)?;
    let store = match args.dir.join(parevm::store::FILE).exists() {
        true => Store::open(&args.dir, args.horizon).map_err(|e| e.to_string())?,
        false => create(&args.dir, &source, args.horizon)?,
    };
    let head = store.head().map_err(|e| e.to_string())?;
    let todo: Vec<Block> = source
        .blocks
        .into_iter()
        .filter(|b| b.number() > head.number)
        .collect();
    if let Some(first) = todo.first()
        && (first.number() != head.number + 1 || first.header.parent_hash != head.hash)
    {
        return Err(format!(
            "the source's next block is {} (parent {}), the store's head is {} ({})",
            first.number(),
            first.header.parent_hash,
            head.number,
            head.hash
        ));
    }
    let engine = Engine::new(args.threads).map_err(|e| e.to_string())?;
    let bar = crate::progress(todo.len() as u64, "blocks");
    let started = std::time::Instant::now();
    let gas_so_far = std::sync::atomic::AtomicU64::new(0);
    let progress = |_: u64, gas: u64| {
        let g = gas_so_far.fetch_add(gas, std::sync::atomic::Ordering::Relaxed) + gas;
        let s = started.elapsed().as_secs_f64().max(1e-9);
        bar.inc(1);
        bar.set_message(format!(
            "{:.1} blocks/s {:.2} Ggas/s",
            bar.position() as f64 / s,
            g as f64 / s / 1e9
        ));
    };
    let mode = match args.pipeline {
        OnOff::On => Pipeline::On,
        OnOff::Off => Pipeline::Off,
    };
    let result = pipeline::run(
        &store,
        todo.into_iter(),
        strategy,
        &engine,
        mode,
        source.complete,
        &progress,
    );
    bar.finish_and_clear();
    let report = result.map_err(|e| e.to_string())?;
    let secs = report.wall.as_secs_f64().max(1e-9);
    let bytes = store.sizes().map(|s| s.3).unwrap_or(0);
    println!(
        "{} blocks, {:.3} Ggas in {:.2} s: {:.1} blocks/s, {:.3} Ggas/s; busy prepare {:.2} s, execute {:.2} s, commit {:.2} s (overlap {:.2}); peak memory {} MiB; store {} MiB",
        report.blocks,
        report.gas as f64 / 1e9,
        secs,
        report.blocks as f64 / secs,
        report.gas as f64 / secs / 1e9,
        report.busy[0].as_secs_f64(),
        report.busy[1].as_secs_f64(),
        report.busy[2].as_secs_f64(),
        report.overlap(),
        parevm::bench::peak_memory_kib() / 1024,
        bytes / (1 << 20)
    );
    print_head(&store)?;
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "parevm_version": env!("CARGO_PKG_VERSION"),
            "date": crate::bench::utc_now(),
            "command": crate::bench::command_line(),
            "strategy": args.strategy,
            "threads": args.threads,
            "pipeline": mode == Pipeline::On,
            "blocks": report.blocks,
            "gas": report.gas,
            "wall_s": secs,
            "blocks_per_s": report.blocks as f64 / secs,
            "ggas_per_s": report.gas as f64 / secs / 1e9,
            "busy_s": {"prepare": report.busy[0].as_secs_f64(), "execute": report.busy[1].as_secs_f64(), "commit": report.busy[2].as_secs_f64()},
            "overlap": report.overlap(),
            "peak_rss_mib": parevm::bench::peak_memory_kib() as f64 / 1024.0,
            "store_bytes": bytes,
        });
        std::fs::write(
            path,
            serde_json::to_string_pretty(&doc).expect("json") + "\n",
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(dir: &Path) -> Result<ExitCode, String> {
    let mut store = Store::open(dir, u64::MAX).map_err(|e| e.to_string())?;
    store.check_integrity().map_err(|e| e.to_string())?;
    let (computed, stored) = store.verify().map_err(|e| e.to_string())?;
    let head = store.head().map_err(|e| e.to_string())?;
    if computed == stored {
        println!(
            "block {}: state root {stored} verified from scratch",
            head.number
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "block {}: stored state root {stored}, from scratch {computed}",
            head.number
        );
        Ok(ExitCode::FAILURE)
    }
}

fn info(dir: &Path) -> Result<ExitCode, String> {
    let store = Store::open(dir, u64::MAX).map_err(|e| e.to_string())?;
    print_head(&store)?;
    let oldest = store.oldest().map_err(|e| e.to_string())?;
    let (accounts, slots, codes, bytes) = store.sizes().map_err(|e| e.to_string())?;
    println!(
        "retained blocks {oldest}..; {accounts} accounts, {slots} storage slots, {codes} codes; {bytes} bytes"
    );
    Ok(ExitCode::SUCCESS)
}

fn print_head(store: &Store) -> Result<(), String> {
    let head = store.head().map_err(|e| e.to_string())?;
    println!("head block {} ({})", head.number, head.hash);
    println!("state root {}", head.state_root);
    Ok(())
}

fn bench(args: &BenchArgs) -> Result<ExitCode, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find parevm itself: {e}"))?;
    let mut runs: Vec<serde_json::Value> = Vec::new();
    for round in 0..args.rounds.max(1) {
        let modes = if round % 2 == 0 {
            ["off", "on"]
        } else {
            ["on", "off"]
        };
        for mode in modes {
            let dir = std::env::temp_dir().join(format!(
                "parevm-chain-bench-{}-{round}-{mode}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let json = dir.with_extension("json");
            let count = args.count.to_string();
            let threads = args.threads.to_string();
            let status = std::process::Command::new(&exe)
                .args(["chain", "run"])
                .arg(&dir)
                .args([
                    "--synthetic",
                    &args.synthetic,
                    "--count",
                    &count,
                    "--gas",
                    &args.gas,
                ])
                .args([
                    "--strategy",
                    &args.strategy,
                    "--threads",
                    &threads,
                    "--pipeline",
                    mode,
                    "--json",
                ])
                .arg(&json)
                .stdout(std::process::Stdio::null())
                .status()
                .map_err(|e| e.to_string())?;
            let text =
                std::fs::read_to_string(&json).map_err(|e| format!("{}: {e}", json.display()))?;
            let _ = (std::fs::remove_dir_all(&dir), std::fs::remove_file(&json));
            if !status.success() {
                return Err(format!("round {round}, pipeline {mode}: the run failed"));
            }
            let mut run: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| e.to_string())?;
            run["round"] = round.into();
            println!(
                "round {round} pipeline {mode:>3}: {:.1} blocks/s, {:.3} Ggas/s, peak {:.0} MiB, store {:.0} MiB",
                run["blocks_per_s"].as_f64().unwrap_or(0.0),
                run["ggas_per_s"].as_f64().unwrap_or(0.0),
                run["peak_rss_mib"].as_f64().unwrap_or(0.0),
                run["store_bytes"].as_f64().unwrap_or(0.0) / (1u64 << 20) as f64
            );
            runs.push(run);
        }
    }
    let speedup = paired_speedup(&runs);
    println!("pipeline on / off: {speedup:.2}x (median over rounds of the blocks/s ratio)");
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "parevm_version": env!("CARGO_PKG_VERSION"),
            "date": crate::bench::utc_now(),
            "command": crate::bench::command_line(),
            "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "speedup": speedup,
            "runs": runs,
        });
        std::fs::write(
            path,
            serde_json::to_string_pretty(&doc).expect("json") + "\n",
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The median over rounds of blocks/s with the pipeline on over off.
fn paired_speedup(runs: &[serde_json::Value]) -> f64 {
    let rate = |round: u64, on: bool| {
        runs.iter()
            .find(|r| r["round"].as_u64() == Some(round) && r["pipeline"].as_bool() == Some(on))
            .and_then(|r| r["blocks_per_s"].as_f64())
    };
    let rounds = runs
        .iter()
        .filter_map(|r| r["round"].as_u64())
        .max()
        .map_or(0, |m| m + 1);
    let mut ratios: Vec<f64> = (0..rounds)
        .filter_map(|k| Some(rate(k, true)? / rate(k, false)?))
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios.get(ratios.len() / 2).copied().unwrap_or(0.0)
}
