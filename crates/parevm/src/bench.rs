//! The benchmark harness behind `parevm bench`: interleaved, repeated runs of every strategy
//! on the same block and state, reported as medians and ratios measured in the same process.
//!
//! Why interleave: on a noisy machine (a shared VM's identical runs differ by tens of percent
//! between batches) drift hits all configurations alike when their runs alternate
//! (sequential, parallel, sequential, parallel, ...), so *ratios* between runs of the same
//! round are trustworthy even when absolute times are not. Every other round runs the
//! configurations in reverse order (A B, B A, ...), so that none always runs first. A sample
//! takes at least `MIN_SAMPLE_MS`: a block shorter than that is run back to back that many
//! times per sample, by every configuration alike, and the sample is the mean run (one run of a
//! microseconds-long block is mostly timer and cache noise). Before timing, each strategy's
//! output is checked equal to sequential's: the harness refuses to time a wrong answer. Then
//! [`WARM_UP_ROUNDS`] rounds run untimed, because one run does not bring a process to its
//! steady state (its allocator's pages are still being faulted in and zeroed).
//!
//! # Priming
//!
//! Every timed sample follows a run of its own configuration: where the run before it was
//! another configuration's, one untimed run of its own comes first. A run pays for what the run
//! before it left (a parallel run's memory freed across threads and cached on the other core,
//! the other thread asleep after a sequential run), and in a block engine each block follows a
//! block run by the same strategy; without priming, the order of configurations within a round
//! shows in their ratio.
//!
//! # Speedups are paired by round
//!
//! A configuration's speedup is the median over rounds of sequential's sample over its own
//! sample *in the same round*, not the ratio of the two medians. A host's drift is slow next to
//! a round, so a slow spell that covers a round slows both of its samples and their ratio
//! cancels it; the ratio of medians cancels it only when the spell covers as many rounds of
//! each. `median_ms` stays the plain median (the throughput column uses it), and every sample
//! is reported in `samples_ms`, in round order, for other estimators.
//!
//! # The no-coordination ceiling
//!
//! A speedup says little without knowing what the machine allows: two cores sharing caches and
//! memory bandwidth (and, on a VM, a hypervisor) do not run two halves of a block in half the
//! time even when nothing is shared. So the harness can also time, interleaved with the rest,
//! the block cut into `T` contiguous parts of about equal gas, each executed sequentially on
//! its own thread from the same pre-block state, at once, with no coordination at all
//! ([`CEILING`]). It is not a strategy: its state is wrong whenever the parts interact. It is a
//! measurement of the same work done with perfect parallelism and zero overhead, so it is only
//! reported when every transaction did the same work in its part as in the block — the same
//! status, gas and logs (values written may differ, as when a transfer credits an account
//! whose own transaction ran in the other part; the beneficiary's fees always do) — and when no
//! part failed. Dependent blocks (a nonce chain, say) fail that check and get a note instead.

use crate::{
    block::Block,
    engine::{Engine, execute_block},
    error::ExecError,
    output::BlockOutput,
    state::StateView,
    strategy::{Strategy, sequential::Sequential},
};
use serde::Serialize;
use std::time::{Duration, Instant};

/// The strategy name the no-coordination ceiling is reported under (see the module docs).
pub const CEILING: &str = "ceiling";

/// One (strategy, threads) configuration.
#[derive(Clone, Copy)]
pub struct Config {
    /// The strategy.
    pub strategy: &'static dyn Strategy,
    /// Worker threads.
    pub threads: usize,
}

/// The measured result of one configuration on one block.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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
    /// Median over rounds of sequential's sample / this configuration's sample in that round
    /// (see the module docs), both measured in this run.
    pub speedup: f64,
    /// CPU time over wall time (100% = one core busy), median over runs.
    pub cpu_pct: f64,
    /// Every timed sample (ms per run), in round order: sample `r` of every configuration on
    /// the same target was taken in round `r`, next to the others' (for paired comparisons).
    pub samples_ms: Vec<f64>,
    /// Execution statistics of the last run.
    pub stats: crate::output::ExecStats,
}

/// The process's peak resident memory so far, KiB.
pub fn peak_memory_kib() -> u64 {
    // SAFETY: getrusage only writes the struct we pass, which is zero-initialised and owned.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    usage.ru_maxrss.max(0) as u64
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

/// The speedup of `samples` over `reference`, both taken in the same rounds: the median over
/// rounds of the reference's sample over this one's in that round (see the module docs).
fn paired_speedup(reference: &[f64], samples: &[f64]) -> f64 {
    let mut ratios: Vec<f64> = reference
        .iter()
        .zip(samples)
        .map(|(r, s)| r / s.max(1e-9))
        .collect();
    median(&mut ratios)
}

/// Runs `f` and returns its result with the wall time (ms) and CPU% it took. (The result is
/// dropped by the caller, after the clock stopped.)
fn clocked<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (cpu0, t0) = (process_cpu_time(), Instant::now());
    let out = f();
    let wall = t0.elapsed().as_secs_f64();
    let cpu = (process_cpu_time() - cpu0).as_secs_f64();
    (out, wall * 1e3, 100.0 * cpu / wall.max(1e-9))
}

/// Untimed rounds of every configuration, in the timed rounds' order, between the checked
/// warm-up and the timed rounds (see the module docs).
pub const WARM_UP_ROUNDS: usize = 2;

/// The least a timed sample takes: a shorter block is run this long back to back per sample
/// (see the module docs).
const MIN_SAMPLE_MS: f64 = 2.0;

/// How many runs back to back make a sample of a block whose run took `ms`.
fn runs_per_sample(ms: f64) -> usize {
    ((MIN_SAMPLE_MS / ms.max(1e-6)).ceil() as usize).clamp(1, 1_000)
}

/// Runs `run` `repeat` times (at least once) back to back; returns the last result, or the
/// first error, with the wall time per run (ms) and the CPU%. The results are dropped after the
/// clock stops.
fn clocked_runs<T, E>(repeat: usize, run: impl Fn() -> Result<T, E>) -> Result<(T, f64, f64), E> {
    let repeat = repeat.max(1);
    let (outs, wall, cpu) = clocked(|| (0..repeat).map(|_| run()).collect::<Vec<_>>());
    let last = outs.into_iter().try_fold(None, |_, out| out.map(Some))?;
    Ok((last.expect("at least one run"), wall / repeat as f64, cpu))
}

/// Runs `block` with `strategy` on `engine` `repeat` times back to back: the last output, the
/// wall time per run (ms) and the CPU%.
fn timed(
    block: &Block,
    state: &dyn StateView,
    strategy: &dyn Strategy,
    engine: &Engine,
    repeat: usize,
) -> Result<(BlockOutput, f64, f64), ExecError> {
    clocked_runs(repeat, || engine.execute(block, state, strategy))
}

/// `block` with its access list attached, when a configuration executes from one.
fn with_access_list(
    block: &Block,
    state: &dyn StateView,
    configs: &[Config],
) -> Result<Option<Block>, ExecError> {
    if !configs
        .iter()
        .any(|c| c.strategy.executes_from_access_list())
    {
        return Ok(None);
    }
    let mut listed = block.clone();
    listed.record_access = true;
    let out = execute_block(&listed, state, &Sequential, 1)?;
    let list = crate::bal::build(&listed, state, &out).map_err(ExecError::AccessList)?;
    listed.set_access_list(list);
    Ok(Some(listed))
}

/// The no-coordination ceiling at one thread count: the block's parts and the pool that runs
/// all but the first (the calling thread runs that, as it does in Block-STM).
struct Ceiling {
    parts: Vec<Block>,
    pool: rayon::ThreadPool,
}

impl Ceiling {
    /// Cuts `block` into `threads` contiguous parts of about equal gas used (as the reference
    /// run used it), or explains why the ceiling cannot be measured on it.
    fn new(block: &Block, reference: &BlockOutput, threads: usize) -> Result<Ceiling, String> {
        let n = block.transactions.len();
        if n < threads {
            return Err(format!("{n} transactions cannot fill {threads} parts"));
        }
        let total: u64 = reference.txs.iter().map(|t| t.gas_used).sum();
        // Each part is the block with some of its transactions (cloned once, not per part).
        let empty = Block {
            transactions: Vec::new(),
            ..block.clone()
        };
        let part = |txs: &[crate::block::Transaction]| Block {
            transactions: txs.to_vec(),
            ..empty.clone()
        };
        let mut parts = Vec::with_capacity(threads);
        let (mut first, mut gas) = (0, 0u64);
        for (i, tx) in reference.txs.iter().enumerate() {
            gas += tx.gas_used;
            let filled = gas as u128 * threads as u128 >= total as u128 * (parts.len() + 1) as u128;
            // Leave at least one transaction for each part still to come.
            let room = n - (i + 1) >= threads - parts.len() - 1;
            if parts.len() + 1 < threads && filled && room {
                parts.push(part(&block.transactions[first..=i]));
                first = i + 1;
            }
        }
        parts.push(part(&block.transactions[first..]));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads - 1)
            .thread_name(|i| format!("ceiling-{i}"))
            .build()
            .map_err(|e| format!("cannot start its threads: {e}"))?;
        Ok(Ceiling { parts, pool })
    }

    /// Runs every part at once; returns the parts' outputs in order, or the first part's
    /// error (naming the part and where it starts in the block).
    fn run(&self, state: &dyn StateView) -> Result<Vec<BlockOutput>, String> {
        let mut outs: Vec<Option<Result<BlockOutput, ExecError>>> =
            (0..self.parts.len()).map(|_| None).collect();
        let (head, tail) = outs.split_at_mut(1);
        self.pool.in_place_scope(|s| {
            for (part, out) in self.parts[1..].iter().zip(tail) {
                s.spawn(move |_| *out = Some(execute_block(part, state, &Sequential, 1)));
            }
            head[0] = Some(execute_block(&self.parts[0], state, &Sequential, 1));
        });
        let mut first = 0;
        let mut done = Vec::with_capacity(outs.len());
        for (k, (out, part)) in outs.into_iter().zip(&self.parts).enumerate() {
            match out {
                Some(Ok(o)) => done.push(o),
                Some(Err(e)) => {
                    return Err(format!(
                        "part {} (the block's transactions from {first} on, run alone) fails: {e}",
                        k + 1
                    ));
                }
                None => return Err(format!("part {} did not run", k + 1)),
            }
            first += part.transactions.len();
        }
        Ok(done)
    }

    /// Whether every transaction did the same work in its part as in the block (see the module
    /// docs); the first that did not, otherwise.
    fn check(&self, state: &dyn StateView, reference: &BlockOutput) -> Result<(), String> {
        let outs = self.run(state)?;
        let txs = outs.iter().flat_map(|o| &o.txs);
        for (i, (a, b)) in reference.txs.iter().zip(txs).enumerate() {
            if a.receipt.success != b.receipt.success
                || a.gas_used != b.gas_used
                || a.receipt.logs != b.receipt.logs
            {
                return Err(format!(
                    "tx {i} does different work in its part (the parts are not independent)"
                ));
            }
        }
        Ok(())
    }

    /// Runs the parts `repeat` times back to back: the wall time per run (ms) and the CPU%.
    fn timed(&self, state: &dyn StateView, repeat: usize) -> Result<(f64, f64), ExecError> {
        let (_, wall, cpu) = clocked_runs(repeat, || self.run(state))
            .map_err(|e| ExecError::Evm(format!("{CEILING}: {e}")))?;
        Ok((wall, cpu))
    }
}

/// What [`measure`] found on one block.
pub struct Measured {
    /// Sequential first, then each configuration, then each ceiling that could be measured.
    pub rows: Vec<Measurement>,
    /// Why a ceiling asked for was not measured.
    pub notes: Vec<String>,
}

/// Measures `configs` (sequential is always measured first, as the reference) on one block:
/// one warm-up run each, checked against sequential's output, then `iterations` interleaved
/// rounds. With `ceiling_threads`, also the no-coordination ceiling (see the module docs) at
/// each of those thread counts above one, interleaved with the rest. `tick` is called after
/// every run (for progress bars).
pub fn measure(
    target: &str,
    block: &Block,
    state: &dyn StateView,
    configs: &[Config],
    ceiling_threads: &[usize],
    iterations: usize,
    tick: &(dyn Fn() + Sync),
) -> Result<Measured, ExecError> {
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
    // (An engine per configuration, its threads started before any clock runs.)
    let engines = all
        .iter()
        .map(|c| Engine::new(c.threads))
        .collect::<Result<Vec<_>, _>>()?;
    let (reference, reference_ms, _) = timed(block, state, all[0].strategy, &engines[0], 1)?;
    // (The block with its access list, for the strategies that execute from one: built before
    // any clock runs, as a validator receives it with the block.)
    let listed = with_access_list(block, state, &all)?;
    // (Its size, reported on the rows of the strategies that execute from it.)
    let sizes = listed
        .as_ref()
        .and_then(|b| b.access_list.as_ref())
        .map(|list| {
            let calldata: usize = block.transactions.iter().map(|t| t.env.data.len()).sum();
            (crate::bal::encode(list).len() as u64, calldata as u64)
        });
    let block_for = |c: &Config| match (&listed, c.strategy.executes_from_access_list()) {
        (Some(listed), true) => listed,
        _ => block,
    };
    let repeat = runs_per_sample(reference_ms);
    tick();
    let mut notes = Vec::new();
    // (A strategy that executes from the block's list cannot run a block the list cannot
    // describe: it is left out of this block, with a note.)
    let mut keep = vec![true; all.len()];
    for (k, (c, engine)) in all.iter().zip(&engines).enumerate().skip(1) {
        let out = match timed(block_for(c), state, c.strategy, engine, 1) {
            Err(ExecError::Unsupported(why)) if c.strategy.executes_from_access_list() => {
                let name = c.strategy.name();
                notes.push(format!("{target}: no {name} x{}: {why}", c.threads));
                keep[k] = false;
                continue;
            }
            other => other?.0,
        };
        if let Some(diff) = reference.first_difference(&out) {
            return Err(ExecError::Evm(format!(
                "{} x{} differs from sequential on {target}: {diff}",
                c.strategy.name(),
                c.threads
            )));
        }
        tick();
    }
    let mut kept = keep.iter();
    let all: Vec<Config> = all
        .into_iter()
        .filter(|_| *kept.next().unwrap_or(&true))
        .collect();
    let mut kept = keep.iter();
    let engines: Vec<Engine> = engines
        .into_iter()
        .filter(|_| *kept.next().unwrap_or(&true))
        .collect();
    let mut ceilings = Vec::new();
    for &t in ceiling_threads.iter().filter(|t| **t > 1) {
        match Ceiling::new(block, &reference, t).and_then(|c| {
            c.check(state, &reference)?;
            Ok(c)
        }) {
            Ok(c) => {
                ceilings.push((t, c));
                tick();
            }
            Err(why) => notes.push(format!("{target}: no {CEILING} x{t}: {why}")),
        }
    }
    let runs = all.len() + ceilings.len();
    let mut walls = vec![Vec::with_capacity(iterations); runs];
    let mut cpus = vec![Vec::with_capacity(iterations); runs];
    let mut stats = vec![Default::default(); all.len()];
    // The configuration that ran last (see the module docs on priming).
    let mut last = None;
    for round in 0..WARM_UP_ROUNDS + iterations.max(1) {
        for k in 0..runs {
            // Every other round in reverse order (see the module docs).
            let i = if round % 2 == 0 { k } else { runs - 1 - k };
            let run = |repeat| match all.get(i) {
                Some(c) => timed(block_for(c), state, c.strategy, &engines[i], repeat)
                    .map(|(out, wall, cpu)| (Some(out), wall, cpu)),
                None => ceilings[i - all.len()]
                    .1
                    .timed(state, repeat)
                    .map(|(wall, cpu)| (None, wall, cpu)),
            };
            if last != Some(i) {
                run(1)?;
            }
            let (out, wall, cpu) = run(repeat)?;
            last = Some(i);
            if let Some(out) = out {
                stats[i] = out.stats;
            }
            if round >= WARM_UP_ROUNDS {
                walls[i].push(wall);
                cpus[i].push(cpu);
            }
            tick();
        }
    }
    let names = all
        .iter()
        .map(|c| (c.strategy.name(), c.threads))
        .chain(ceilings.iter().map(|(t, _)| (CEILING, *t)));
    let rows = names
        .enumerate()
        .map(|(i, (strategy, threads))| {
            let samples_ms = walls[i].clone();
            let speedup = paired_speedup(&walls[0], &samples_ms);
            let med = median(&mut walls[i]);
            Measurement {
                target: target.to_string(),
                strategy: strategy.to_string(),
                threads,
                txs: block.transactions.len(),
                gas: reference.gas_used,
                median_ms: med,
                min_ms: walls[i].iter().copied().fold(f64::INFINITY, f64::min),
                max_ms: walls[i].iter().copied().fold(0.0, f64::max),
                ggas_per_s: reference.gas_used as f64 / (med / 1e3) / 1e9,
                speedup,
                cpu_pct: median(&mut cpus[i]),
                samples_ms,
                stats: stats.get_mut(i).map(std::mem::take).unwrap_or_else(|| {
                    crate::output::ExecStats {
                        strategy: CEILING.into(),
                        threads,
                        executions: block.transactions.len() as u64,
                        ..Default::default()
                    }
                }),
            }
        })
        .collect::<Vec<Measurement>>();
    let mut rows = rows;
    for (row, c) in rows.iter_mut().zip(&all) {
        if let (Some((list, calldata)), true) = (sizes, c.strategy.executes_from_access_list()) {
            row.stats.count("access_list_bytes", list);
            row.stats.count("calldata_bytes", calldata);
        }
    }
    Ok(Measured { rows, notes })
}

/// One configuration over a set of real blocks: its speedup, and what its last runs counted.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Aggregate {
    /// Strategy.
    pub strategy: String,
    /// Threads.
    pub threads: usize,
    /// Sum of sequential medians over the sum of this configuration's, over the blocks it ran
    /// (so big blocks weigh more, as in wall time of a chain segment; the notes name those it
    /// could not run).
    pub speedup: f64,
    /// The lowest block's speedup.
    pub lowest_block_speedup: f64,
    /// Blocks it ran.
    #[serde(default)]
    pub blocks: usize,
    /// Their transactions.
    #[serde(default)]
    pub txs: usize,
    /// Executions beyond the first, summed over the blocks: for strategies scheduling from
    /// predictions, the transactions whose predicted accesses were wrong in a way that
    /// mattered (a lock violation, a missed dependency).
    #[serde(default)]
    pub re_executions: u64,
    /// Blocks with at least one re-execution.
    #[serde(default)]
    pub blocks_re_executed: usize,
    /// Microseconds spent predicting accesses, summed over the blocks.
    #[serde(default)]
    pub predict_us: u64,
    /// Microseconds spent building the schedule from predictions, summed over the blocks.
    #[serde(default)]
    pub plan_us: u64,
}

/// `strategy` at `threads` over the blocks of `rows` (each a target with a sequential row), or
/// `None` when it ran none of them.
pub fn aggregate(rows: &[Measurement], strategy: &str, threads: usize) -> Option<Aggregate> {
    let mut seq = 0.0;
    let mut par = 0.0;
    let mut ran = Vec::new();
    let targets: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.target.as_str()).collect();
    for t in targets {
        let s = rows
            .iter()
            .find(|r| r.target == t && r.strategy == "sequential")?;
        let Some(p) = rows
            .iter()
            .find(|r| r.target == t && r.strategy == strategy && r.threads == threads)
        else {
            continue;
        };
        seq += s.median_ms;
        par += p.median_ms;
        ran.push(p);
    }
    let sum = |f: &dyn Fn(&Measurement) -> u64| ran.iter().map(|r| f(r)).sum::<u64>();
    (par > 0.0).then(|| Aggregate {
        strategy: strategy.to_string(),
        threads,
        speedup: seq / par,
        lowest_block_speedup: ran.iter().map(|r| r.speedup).fold(f64::INFINITY, f64::min),
        blocks: ran.len(),
        txs: ran.iter().map(|r| r.txs).sum(),
        re_executions: sum(&|r| r.stats.re_executions),
        blocks_re_executed: ran.iter().filter(|r| r.stats.re_executions > 0).count(),
        predict_us: sum(&|r| r.stats.counter("predict_us")),
        plan_us: sum(&|r| r.stats.counter("plan_us")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::workload::{self, WorkloadKind, WorkloadSpec};

    #[test]
    fn a_spell_that_slows_one_round_cancels_in_the_paired_speedup() {
        // The second round ran three times slower for both configurations: their ratio in
        // that round is unchanged, and the median of the three ratios ignores the third
        // round's outlier. The ratio of medians (11 / 10) would read 1.1x.
        let sequential = [10.0, 30.0, 11.0];
        let parallel = [5.0, 15.0, 10.0];
        assert_eq!(paired_speedup(&sequential, &parallel), 2.0);
        assert_eq!(paired_speedup(&sequential, &sequential), 1.0);
        assert_eq!(
            paired_speedup(&[4.0, 8.0], &[2.0, 2.0]),
            3.0,
            "even count: the mean of the middle two"
        );
    }

    #[test]
    fn short_blocks_are_sampled_over_at_least_the_minimum() {
        assert_eq!(runs_per_sample(5.0), 1, "a long block: one run per sample");
        assert_eq!(runs_per_sample(MIN_SAMPLE_MS), 1);
        assert_eq!(runs_per_sample(1.5), 2);
        assert_eq!(runs_per_sample(0.005), 400, "a 5 µs block: 2 ms of runs");
        assert_eq!(runs_per_sample(0.0), 1_000, "capped");
    }

    #[test]
    fn an_aggregate_weighs_blocks_by_time_and_sums_their_counts() {
        let row = |target: &str, strategy: &str, ms: f64, re: u64| {
            let mut stats = crate::output::ExecStats {
                re_executions: re,
                ..crate::output::ExecStats::default()
            };
            stats.count("predict_us", 10);
            Measurement {
                target: target.into(),
                strategy: strategy.into(),
                threads: if strategy == "sequential" { 1 } else { 2 },
                txs: 5,
                gas: 0,
                median_ms: ms,
                min_ms: ms,
                max_ms: ms,
                ggas_per_s: 0.0,
                speedup: 0.0,
                cpu_pct: 100.0,
                samples_ms: vec![ms],
                stats,
            }
        };
        let rows = [
            row("a", "sequential", 3.0, 0),
            row("a", "dag", 1.0, 2),
            row("b", "sequential", 1.0, 0),
            row("b", "dag", 1.0, 0),
            row("c", "sequential", 9.0, 0),
        ];
        let a = aggregate(&rows, "dag", 2).expect("ran two blocks");
        assert_eq!(a.speedup, 2.0, "(3 + 1) / (1 + 1); c not run");
        assert_eq!((a.blocks, a.txs), (2, 10));
        assert_eq!((a.re_executions, a.blocks_re_executed), (2, 1));
        assert_eq!((a.predict_us, a.plan_us), (20, 0));
        assert_eq!(aggregate(&rows, "monad", 2), None);
    }

    fn reference(block: &Block, state: &dyn StateView) -> BlockOutput {
        execute_block(block, state, &Sequential, 1).expect("sequential")
    }

    #[test]
    fn ceiling_parts_are_contiguous_cover_the_block_and_split_its_gas_evenly() {
        let (block, state) = workload::generate(&WorkloadSpec::new(WorkloadKind::Mixed, 3_000_000));
        let reference = reference(&block, &state);
        for threads in [2, 3, 4] {
            let c = Ceiling::new(&block, &reference, threads).expect("ceiling");
            assert_eq!(c.parts.len(), threads);
            let hashes =
                |txs: &[crate::block::Transaction]| txs.iter().map(|t| t.hash).collect::<Vec<_>>();
            let joined: Vec<_> = c
                .parts
                .iter()
                .flat_map(|p| hashes(&p.transactions))
                .collect();
            assert_eq!(joined, hashes(&block.transactions));
            // Each part's gas is within one transaction's gas of an equal share.
            let total: u64 = reference.txs.iter().map(|t| t.gas_used).sum();
            let max_tx = reference.txs.iter().map(|t| t.gas_used).max().unwrap();
            let mut first = 0;
            for p in &c.parts {
                let n = p.transactions.len();
                let gas: u64 = reference.txs[first..first + n]
                    .iter()
                    .map(|t| t.gas_used)
                    .sum();
                assert!(
                    gas.abs_diff(total / threads as u64) <= max_tx,
                    "{gas} of {total}"
                );
                first += n;
            }
        }
    }

    #[test]
    fn ceiling_is_measured_on_independent_blocks_only() {
        let (block, state) =
            workload::generate(&WorkloadSpec::new(WorkloadKind::Transfers, 2_000_000));
        let independent = reference(&block, &state);
        Ceiling::new(&block, &independent, 2)
            .and_then(|c| c.check(&state, &independent))
            .expect("independent transfers: every transaction does the same work in its part");
        let (chain, state) =
            workload::generate(&WorkloadSpec::new(WorkloadKind::TransferChain, 2_000_000));
        let dependent = reference(&chain, &state);
        let why = Ceiling::new(&chain, &dependent, 2)
            .and_then(|c| c.check(&state, &dependent))
            .expect_err("a nonce chain cannot be cut");
        assert!(why.contains("part 2") && why.contains("nonce"), "{why}");
    }

    #[test]
    fn measure_reports_a_ceiling_row_or_a_note() {
        let (block, state) =
            workload::generate(&WorkloadSpec::new(WorkloadKind::Transfers, 1_000_000));
        let m = measure("t", &block, &state, &[], &[1, 2], 1, &|| {}).expect("measure");
        let names: Vec<_> = m
            .rows
            .iter()
            .map(|r| (r.strategy.as_str(), r.threads))
            .collect();
        assert_eq!(names, [("sequential", 1), (CEILING, 2)]);
        assert!(m.notes.is_empty());
        let (chain, state) =
            workload::generate(&WorkloadSpec::new(WorkloadKind::TransferChain, 1_000_000));
        let m = measure("c", &chain, &state, &[], &[2], 1, &|| {}).expect("measure");
        assert_eq!(m.rows.len(), 1);
        assert_eq!(m.notes.len(), 1, "{:?}", m.notes);
    }

    #[test]
    fn warm_up_rounds_run_every_configuration_untimed() {
        let (block, state) =
            workload::generate(&WorkloadSpec::new(WorkloadKind::Transfers, 300_000));
        let configs = [Config {
            strategy: &crate::strategy::block_stm::BlockStm::ALWAYS_SPECULATIVE,
            threads: 2,
        }];
        let ticks = std::sync::atomic::AtomicUsize::new(0);
        let tick = || {
            ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        let iterations = 3;
        let m = measure("t", &block, &state, &configs, &[], iterations, &tick).expect("measure");
        // Each configuration: the checked warm-up, the untimed rounds, the timed rounds.
        assert_eq!(
            ticks.into_inner(),
            2 * (1 + WARM_UP_ROUNDS + iterations),
            "every warm-up and timed run is ticked (primers are not)"
        );
        for row in &m.rows {
            assert_eq!(
                row.samples_ms.len(),
                iterations,
                "only timed rounds are samples"
            );
        }
    }
}
