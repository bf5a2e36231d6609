//! The benchmark harness behind `parevm bench`: interleaved, repeated runs of every strategy
//! on the same block and state, reported as medians and ratios measured in the same process.
//!
//! Why interleave: on a noisy machine (this project's reference is a 2-core VM whose identical
//! runs differ by up to 30% between batches) drift hits all strategies alike when their runs
//! alternate (sequential, parallel, sequential, parallel, ...), so the *ratio* of medians is
//! trustworthy even when absolute times are not. Before timing, each strategy's output is
//! checked equal to sequential's: the harness refuses to time a wrong answer.

use crate::{
    block::Block,
    error::ExecError,
    execute_block,
    output::BlockOutput,
    state::StateView,
    strategy::{Strategy, sequential::Sequential},
};
use serde::Serialize;
use std::time::{Duration, Instant};

/// One (strategy, threads) configuration.
#[derive(Clone, Copy)]
pub struct Config {
    /// The strategy.
    pub strategy: &'static dyn Strategy,
    /// Worker threads.
    pub threads: usize,
}

/// The measured result of one configuration on one block.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// Workload or block name.
    pub target: String,
    /// Strategy name.
    pub strategy: String,
    /// Worker threads.
    pub threads: usize,
    /// Transactions in the block.
    pub txs: usize,
    /// Gas used by the block.
    pub gas: u64,
    /// Median wall time, milliseconds.
    pub median_ms: f64,
    /// Fastest run, milliseconds.
    pub min_ms: f64,
    /// Slowest run, milliseconds.
    pub max_ms: f64,
    /// Throughput at the median, gigagas per second.
    pub ggas_per_s: f64,
    /// Sequential median / this median, both measured in this run.
    pub speedup: f64,
    /// CPU time over wall time (100% = one core busy), median over runs.
    pub cpu_pct: f64,
    /// Execution statistics of the last run.
    pub stats: crate::output::ExecStats,
}

/// CPU time (user + system) of this process so far.
pub fn process_cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct we pass, which is zero-initialised and owned.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn timed(
    block: &Block,
    state: &dyn StateView,
    c: Config,
) -> Result<(BlockOutput, f64, f64), ExecError> {
    let (cpu0, t0) = (process_cpu_time(), Instant::now());
    let out = execute_block(block, state, c.strategy, c.threads)?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = (process_cpu_time() - cpu0).as_secs_f64();
    Ok((out, wall * 1e3, 100.0 * cpu / wall.max(1e-9)))
}

/// Measures `configs` (sequential is always measured first, as the reference) on one block:
/// one warm-up run each, checked against sequential's output, then `iterations` interleaved
/// rounds. `tick` is called after every run (for progress bars).
pub fn measure(
    target: &str,
    block: &Block,
    state: &dyn StateView,
    configs: &[Config],
    iterations: usize,
    tick: &(dyn Fn() + Sync),
) -> Result<Vec<Measurement>, ExecError> {
    let mut all = vec![Config {
        strategy: &Sequential,
        threads: 1,
    }];
    all.extend(
        configs
            .iter()
            .copied()
            .filter(|c| c.strategy.name() != "sequential"),
    );
    let (reference, _, _) = timed(block, state, all[0])?;
    tick();
    for c in &all[1..] {
        let (out, _, _) = timed(block, state, *c)?;
        if let Some(diff) = reference.first_difference(&out) {
            return Err(ExecError::Evm(format!(
                "{} x{} differs from sequential on {target}: {diff}",
                c.strategy.name(),
                c.threads
            )));
        }
        tick();
    }
    let mut walls = vec![Vec::with_capacity(iterations); all.len()];
    let mut cpus = vec![Vec::with_capacity(iterations); all.len()];
    let mut stats = vec![Default::default(); all.len()];
    for _ in 0..iterations.max(1) {
        for (i, c) in all.iter().enumerate() {
            let (out, wall, cpu) = timed(block, state, *c)?;
            walls[i].push(wall);
            cpus[i].push(cpu);
            stats[i] = out.stats;
            tick();
        }
    }
    let seq_median = median(&mut walls[0].clone());
    Ok(all
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let med = median(&mut walls[i]);
            Measurement {
                target: target.to_string(),
                strategy: c.strategy.name().to_string(),
                threads: c.threads,
                txs: block.transactions.len(),
                gas: reference.gas_used,
                median_ms: med,
                min_ms: walls[i].iter().copied().fold(f64::INFINITY, f64::min),
                max_ms: walls[i].iter().copied().fold(0.0, f64::max),
                ggas_per_s: reference.gas_used as f64 / (med / 1e3) / 1e9,
                speedup: seq_median / med,
                cpu_pct: median(&mut cpus[i]),
                stats: std::mem::take(&mut stats[i]),
            }
        })
        .collect())
}

/// Aggregate speedup of a strategy over several blocks: sum of sequential medians over the sum
/// of the strategy's medians (so big blocks weigh more, as in wall time of a chain segment).
pub fn aggregate_speedup(rows: &[Measurement], strategy: &str, threads: usize) -> Option<f64> {
    let mut seq = 0.0;
    let mut par = 0.0;
    let targets: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.target.as_str()).collect();
    for t in targets {
        let s = rows
            .iter()
            .find(|r| r.target == t && r.strategy == "sequential")?;
        let p = rows
            .iter()
            .find(|r| r.target == t && r.strategy == strategy && r.threads == threads)?;
        seq += s.median_ms;
        par += p.median_ms;
    }
    (par > 0.0).then(|| seq / par)
}
