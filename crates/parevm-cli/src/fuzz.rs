//! `parevm fuzz`: adversarial blocks run by parallel strategies and compared with sequential
//! execution; prints each mismatch's seed (replay with `--seed SEED --blocks 1`, shrink with
//! `--shrink`) and, last, `N passed, M failed`.

use clap::Args;
use parevm::{
    Engine, fuzz,
    sources::adversarial::{self, Limits},
    strategy::{self, Strategy},
};
use std::{process::ExitCode, time::Instant};

/// Arguments of `parevm fuzz`.
#[derive(Args)]
pub(crate) struct FuzzArgs {
    /// Blocks to generate (each run by every strategy at every thread count).
    #[arg(long, default_value_t = 1_000)]
    blocks: u64,
    /// Seed of the first block; block k has seed SEED + k.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Strategies to check (repeatable); default: every registered strategy and variant but
    /// sequential.
    #[arg(long = "strategy")]
    strategies: Vec<String>,
    /// Thread counts (repeatable, at least 1); default: 2 and 4.
    #[arg(long = "threads", value_parser = crate::replay::threads)]
    threads: Vec<usize>,
    /// The most transactions a block gets.
    #[arg(long, default_value_t = Limits::default().max_txs)]
    max_txs: usize,
    /// Shrink each mismatching block (remove transactions while it still mismatches) and
    /// print what is left.
    #[arg(long)]
    shrink: bool,
    /// Where `dag` and `sealevel` get their predicted accesses: default (static analysis,
    /// simulation for what it marks partial), static, simulate, access-list, bal.
    #[arg(long)]
    hints: Option<String>,
}

fn resolve(names: &[String], hints: Option<&str>) -> Result<Vec<&'static dyn Strategy>, String> {
    if names.is_empty() {
        return Ok(strategy::parallel());
    }
    let mut all = Vec::new();
    for n in names {
        let found = crate::replay::strategies(n, hints)?;
        all.extend(found.into_iter().filter(|s| s.parallel()));
    }
    Ok(all)
}

pub(crate) fn run(args: FuzzArgs) -> ExitCode {
    let strategies = match resolve(&args.strategies, args.hints.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(crate::EXIT_INPUT);
        }
    };
    let threads = if args.threads.is_empty() {
        vec![2, 4]
    } else {
        args.threads.clone()
    };
    let engines = match threads
        .iter()
        .map(|&t| Engine::new(t))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let limits = Limits {
        max_txs: args.max_txs.max(1),
    };
    let bar = crate::progress(args.blocks, "blocks");
    let started = Instant::now();
    let runs_per_block = (strategies.len() * threads.len()) as u64;
    let (mut failed, mut txs, mut executed, mut valid) = (0u64, 0u64, 0u64, 0u64);
    for seed in args.seed..args.seed.saturating_add(args.blocks) {
        let g = adversarial::generate(seed, limits);
        txs += g.block.transactions.len() as u64;
        let checked = fuzz::check_counted(&g, &strategies, &engines);
        executed += checked.executed as u64;
        valid += u64::from(checked.valid);
        for m in checked.mismatches {
            failed += 1;
            bar.suspend(|| println!("MISMATCH {m}"));
            if args.shrink {
                let s = strategy::by_name(&m.strategy).expect("a resolved strategy");
                let engine = engines.iter().find(|e| e.threads() == m.threads);
                let small = fuzz::shrink(&g, s, engine.expect("the engine that ran it"));
                bar.suspend(|| print_shrunk(&small));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let total = args.blocks * runs_per_block;
    println!(
        "{} blocks ({valid} valid; {txs} transactions, {executed} before the first invalid one) \
         x {} strategies x {} thread counts in {:.1} s",
        args.blocks,
        strategies.len(),
        threads.len(),
        started.elapsed().as_secs_f64()
    );
    println!("{} passed, {failed} failed", total - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_shrunk(g: &adversarial::Generated) {
    let b = &g.block;
    println!(
        "  shrunk to {} transactions ({:?}, beneficiary {}, cached reads {}):",
        b.transactions.len(),
        b.fork,
        b.header.beneficiary,
        g.cached_reads
    );
    for (i, t) in b.transactions.iter().enumerate() {
        let e = &t.env;
        println!(
            "  {i}: type {} from {} nonce {} to {:?} value {} gas {} price {} tip {:?} data 0x{} auths {}",
            t.tx_type,
            e.caller,
            e.nonce,
            e.kind,
            e.value,
            e.gas_limit,
            e.gas_price,
            e.gas_priority_fee,
            alloy_primitives_hex(&e.data),
            e.authorization_list.len()
        );
    }
}

fn alloy_primitives_hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}
