//! `parevm bench`: every strategy on synthetic workloads or real blocks, side by side, as a
//! table, a JSON document and an SVG chart of speedups.

use crate::replay::strategies;
use clap::Args;
use parevm::{
    bench::{Aggregate, Config, Measurement, aggregate, measure},
    sources::{
        rpc::BlockFolder,
        workload::{self, WorkloadKind, WorkloadSpec},
    },
    state::{InMemoryState, LatencyState, StateView},
};
use std::{path::PathBuf, process::ExitCode, time::Duration};

/// Arguments of `parevm bench`.
#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Workload: transfers, erc20, swaps, mixed, transfer-chain, storage-chain, hot-contract
    /// (repeatable). Default: a sweep of all of them.
    #[arg(long = "workload")]
    workloads: Vec<String>,
    /// Strategy (repeatable): sequential, block-stm, monad, bal, or a variant:
    /// block-stm-speculative, monad-speculative, dag, sealevel and their hint kinds such as
    /// dag-bal. Default: every registered strategy (all but the variants).
    #[arg(long = "strategy")]
    strategies: Vec<String>,
    /// Where `dag` and `sealevel` get their predicted accesses: default (static analysis,
    /// simulation for what it marks partial), static, simulate, access-list, bal.
    #[arg(long)]
    hints: Option<String>,
    /// Thread counts for the parallel strategies, comma-separated (each at least 1).
    #[arg(long, value_delimiter = ',', default_value = "1,2", value_parser = crate::replay::threads)]
    threads: Vec<usize>,
    /// Gas target of generated blocks (e.g. 30M, 1G).
    #[arg(long)]
    gas: Option<String>,
    /// Fraction of transactions touching hot accounts (0 to 1).
    #[arg(long, default_value_t = 0.0, value_parser = fraction)]
    hot: f64,
    /// Accounts in generated pre-states.
    #[arg(long, default_value_t = 100_000)]
    accounts: usize,
    /// Timed rounds per configuration, after a checked warm-up and two untimed rounds
    /// [default: 5; 3 with --quick].
    #[arg(long)]
    iterations: Option<usize>,
    /// Simulated storage latency per state read, microseconds.
    #[arg(long, default_value_t = 0)]
    db_latency_us: u64,
    /// Measure real block folders (e.g. ../shared/fixtures/mainnet) instead of workloads.
    #[arg(long)]
    blocks: Option<PathBuf>,
    /// Write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write an SVG chart of speedups to this file.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// A fast sweep: 30M-gas blocks, 3 rounds.
    #[arg(long)]
    quick: bool,
    /// Also time the no-coordination ceiling at each thread count above one: the block cut
    /// into that many parts run at once with no coordination (reported only where the parts
    /// are independent; see `parevm::bench`).
    #[arg(long)]
    ceiling: bool,
}

/// Parses a fraction from 0 to 1.
fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("{s:?} is not a fraction from 0 to 1")),
    }
}

pub(crate) fn parse_gas(s: &str) -> Result<u64, String> {
    let (num, mul) = match s.chars().last() {
        Some('G' | 'g') => (&s[..s.len() - 1], 1_000_000_000),
        Some('M' | 'm') => (&s[..s.len() - 1], 1_000_000),
        Some('K' | 'k') => (&s[..s.len() - 1], 1_000),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .map(|n| n * mul)
        .map_err(|_| format!("invalid gas target {s:?} (e.g. 30M, 1G)"))
}

struct Target {
    name: String,
    block: parevm::Block,
    state: InMemoryState,
}

fn workload_specs(args: &BenchArgs) -> Result<Vec<WorkloadSpec>, String> {
    let gas = args.gas.as_deref().map(parse_gas).transpose()?;
    let spec = |kind, default_gas: u64, hot: f64| WorkloadSpec {
        kind,
        gas_target: gas.unwrap_or(if args.quick { 30_000_000 } else { default_gas }),
        accounts: args.accounts,
        hot_ratio: hot,
        seed: 1,
    };
    if args.workloads.is_empty() {
        // The default sweep: the gigagas shapes peers publish, a mixed block, a hot-account
        // variant, and the dependent shapes (a nonce chain; a truly serial chain through one
        // slot; one hot contract).
        return Ok(vec![
            spec(WorkloadKind::Transfers, 1_000_000_000, args.hot),
            spec(WorkloadKind::Erc20, 1_000_000_000, args.hot),
            spec(WorkloadKind::Swaps, 1_000_000_000, args.hot),
            spec(WorkloadKind::Mixed, 30_000_000, args.hot),
            spec(WorkloadKind::Erc20, 30_000_000, 0.5),
            spec(WorkloadKind::TransferChain, 30_000_000, 0.0),
            spec(WorkloadKind::StorageChain, 30_000_000, 0.0),
            spec(WorkloadKind::HotContract, 30_000_000, 0.0),
        ]);
    }
    args.workloads
        .iter()
        .map(|w| {
            let kind = WorkloadKind::parse(w).ok_or_else(|| {
                let known: Vec<&str> = WorkloadKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown workload {w:?}; known: {}", known.join(", "))
            })?;
            Ok(spec(kind, 30_000_000, args.hot))
        })
        .collect()
}

fn targets(args: &BenchArgs) -> Result<Vec<Target>, String> {
    if let Some(dir) = &args.blocks {
        return BlockFolder::discover(dir)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|f| {
                let (block, state) = f.open().map_err(|e| e.to_string())?;
                Ok(Target {
                    name: f.name(),
                    block,
                    state,
                })
            })
            .collect();
    }
    Ok(workload_specs(args)?
        .into_iter()
        .map(|spec| {
            let (block, state) = workload::generate(&spec);
            Target {
                name: spec.label(),
                block,
                state,
            }
        })
        .collect())
}

pub(crate) fn run(args: BenchArgs) -> ExitCode {
    let mut selected = Vec::new();
    let names = if args.strategies.is_empty() {
        vec!["all".to_string()]
    } else {
        args.strategies.clone()
    };
    for n in &names {
        match strategies(n, args.hints.as_deref()) {
            Ok(s) => selected.extend(s),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(crate::EXIT_INPUT);
            }
        }
    }
    let configs: Vec<Config> = selected
        .iter()
        .filter(|s| s.name() != "sequential")
        .flat_map(|s| {
            args.threads.iter().map(move |t| Config {
                strategy: *s,
                threads: *t,
            })
        })
        .collect();
    let iterations = args.iterations.unwrap_or(if args.quick { 3 } else { 5 });
    let targets = match targets(&args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(crate::EXIT_INPUT);
        }
    };
    let ceiling_threads: Vec<usize> = if args.ceiling {
        let mut t: Vec<usize> = args.threads.iter().copied().filter(|t| *t > 1).collect();
        t.sort_unstable();
        t.dedup();
        t
    } else {
        Vec::new()
    };
    let runs_per_target = (configs.len() + 1 + ceiling_threads.len())
        * (iterations + 1 + parevm::bench::WARM_UP_ROUNDS);
    let bar = crate::progress((targets.len() * runs_per_target) as u64, "runs");
    let latency = Duration::from_micros(args.db_latency_us);
    let mut rows: Vec<Measurement> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for t in &targets {
        bar.set_message(t.name.clone());
        let slow;
        let state: &dyn StateView = if latency.is_zero() {
            &t.state
        } else {
            slow = LatencyState::new(&t.state, latency);
            &slow
        };
        let tick = || bar.inc(1);
        match measure(
            &t.name,
            &t.block,
            state,
            &configs,
            &ceiling_threads,
            iterations,
            &tick,
        ) {
            Ok(m) => {
                rows.extend(m.rows);
                notes.extend(m.notes);
            }
            Err(e) => {
                bar.finish_and_clear();
                eprintln!("error: {}: {e}", t.name);
                return ExitCode::FAILURE;
            }
        }
    }
    bar.finish_and_clear();
    print_table(&rows, iterations, args.db_latency_us);
    for note in &notes {
        println!("{note}");
    }
    for warning in warnings(&rows) {
        eprintln!("warning: {warning}");
    }
    let aggregates: Vec<Aggregate> = if args.blocks.is_some() {
        let blocks = rows.iter().filter(|r| r.strategy == "sequential").count();
        let all = configs.iter();
        let all = all.filter_map(|c| aggregate(&rows, c.strategy.name(), c.threads));
        all.inspect(|a| print_aggregate(a, blocks)).collect()
    } else {
        Vec::new()
    };
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "parevm_version": env!("CARGO_PKG_VERSION"),
            "date": utc_now(),
            "machine": {
                "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
                "os": std::env::consts::OS,
                "arch": std::env::consts::ARCH,
            },
            "command": command_line(),
            "iterations": iterations,
            "db_latency_us": args.db_latency_us,
            "results": rows,
            "aggregates": aggregates,
            "notes": notes,
        });
        if let Err(e) = std::fs::write(path, serde_json::to_string_pretty(&doc).expect("json")) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.svg {
        if let Err(e) = crate::chart::speedup_chart(path, &rows) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}

fn print_table(rows: &[Measurement], iterations: usize, latency_us: u64) {
    println!(
        "{:<22} {:<11} {:>3} {:>6} {:>7} {:>10} {:>13} {:>7} {:>8} {:>5}",
        "workload",
        "strategy",
        "thr",
        "txs",
        "Mgas",
        "median ms",
        "min..max ms",
        "Ggas/s",
        "speedup",
        "CPU%"
    );
    for r in rows {
        println!(
            "{:<22} {:<11} {:>3} {:>6} {:>7.1} {:>10.2} {:>13} {:>7.2} {:>7.2}x {:>5.0}",
            r.target,
            r.strategy,
            r.threads,
            r.txs,
            r.gas as f64 / 1e6,
            r.median_ms,
            format!("{:.1}..{:.1}", r.min_ms, r.max_ms),
            r.ggas_per_s,
            r.speedup,
            r.cpu_pct
        );
    }
    println!(
        "({iterations} interleaved rounds per configuration after a checked warm-up and {} untimed \
         rounds; speedup: median over rounds of sequential's time / this time in the same round; db latency {latency_us} us)",
        parevm::bench::WARM_UP_ROUNDS
    );
}

/// Why the figures of `rows` may not be trustworthy: a run that got fewer cores than it had
/// threads (CPU% well below 100 per thread while it ran in parallel, or below one core), or
/// samples spread by more than 20% around their median (a busy machine).
fn warnings(rows: &[Measurement]) -> Vec<String> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out = Vec::new();
    for r in rows {
        let parallel = r.stats.fallbacks == 0 && r.strategy != "sequential" && r.threads > 1;
        let want = if parallel { r.threads.min(cpus) } else { 1 } as f64;
        if r.cpu_pct < 100.0 * want * 0.7 {
            out.push(format!(
                "{} [{} x{}]: CPU {:.0}% for {} busy thread(s): fewer cores than threads were \
                 available, so its speedup is not trustworthy",
                r.target, r.strategy, r.threads, r.cpu_pct, want
            ));
        }
        if r.median_ms > 0.0 && (r.max_ms - r.min_ms) / r.median_ms > 0.2 {
            out.push(format!(
                "{} [{} x{}]: samples spread by {:.0}% of the median ({:.2}..{:.2} ms): the \
                 machine is busy, the speedups are not trustworthy",
                r.target,
                r.strategy,
                r.threads,
                100.0 * (r.max_ms - r.min_ms) / r.median_ms,
                r.min_ms,
                r.max_ms
            ));
        }
    }
    out
}

/// This process's command line, as a user would type it (`parevm bench ...`).
pub(crate) fn command_line() -> String {
    std::iter::once("parevm".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// One line on `a`, over `a.blocks` of `blocks`.
fn print_aggregate(a: &Aggregate, blocks: usize) {
    println!(
        "aggregate {} x{}: {:.2}x over {} of {blocks} blocks (sum of sequential medians / sum of medians); lowest block {:.2}x; {} re-executions of {} txs in {} blocks",
        a.strategy,
        a.threads,
        a.speedup,
        a.blocks,
        a.lowest_block_speedup,
        a.re_executions,
        a.txs,
        a.blocks_re_executed
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(threads: usize, cpu_pct: f64, spread: (f64, f64), parallel: bool) -> Measurement {
        Measurement {
            target: "t".into(),
            strategy: if parallel { "block-stm" } else { "sequential" }.into(),
            threads,
            txs: 1,
            gas: 1,
            median_ms: 10.0,
            min_ms: spread.0,
            max_ms: spread.1,
            ggas_per_s: 0.0,
            speedup: 1.0,
            cpu_pct,
            samples_ms: vec![],
            stats: Default::default(),
        }
    }

    #[test]
    fn warns_of_missing_cores_and_spread_samples() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert!(warnings(&[row(1, 100.0, (9.5, 10.5), false)]).is_empty());
        // A sequential run that did not get one core.
        let w = warnings(&[row(1, 40.0, (9.5, 10.5), false)]);
        assert!(w.len() == 1 && w[0].contains("fewer cores"), "{w:?}");
        // A parallel run at two threads that got one core, where two exist.
        if cpus >= 2 {
            let w = warnings(&[row(2, 100.0, (9.5, 10.5), true)]);
            assert!(w.len() == 1 && w[0].contains("fewer cores"), "{w:?}");
        }
        // Samples from 8 to 13 ms around a 10 ms median.
        let w = warnings(&[row(1, 100.0, (8.0, 13.0), false)]);
        assert!(w.len() == 1 && w[0].contains("spread by 50%"), "{w:?}");
    }
}
