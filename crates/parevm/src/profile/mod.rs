//! The parallelism profiler: how much parallelism a block holds at all, and how much each
//! strategy would extract on 1 to 64 workers.
//!
//! A sequential run gives each transaction's accesses and cost ([`record`]); the exact
//! dependency graph follows from them, with the commutative updates the engine treats as
//! deltas kept apart ([`graph`]); its critical path bounds every schedule. Each strategy's
//! rules are then replayed on the graph and the costs ([`simulate`]), calibrated by the
//! strategy's speedup measured at one thread and checked against the one measured at two.

pub mod doc;
pub mod graph;
pub mod record;
pub mod simulate;

use crate::{
    bench::{self, Config},
    block::Block,
    error::ExecError,
    predict::Loc,
    state::{Overlay, StateView},
    strategy::{
        self, Workers,
        common::graph::{Hints, Rule, waits},
    },
};
use graph::{Graph, Kind};
use serde::Serialize;
use simulate::Model;
use std::collections::BTreeMap;

/// How to profile.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Count commutative updates as dependencies.
    pub count_commutative: bool,
    /// Timed passes of the sequential run (the median cost of each transaction is kept).
    pub passes: usize,
    /// Project for 1 to this many workers.
    pub threads_max: usize,
    /// Rounds of the measurement that calibrates and validates the projections (`parevm
    /// bench` at 1 and 2 threads); 0 projects uncalibrated models and validates nothing.
    pub iterations: usize,
    /// How fast two threads of this machine run independent work, per thread, against one
    /// ([`machine_efficiency`]): the projections at two threads are scaled by it before they
    /// are compared with measurements (the curves assume cores that do not slow each other).
    /// A block whose halves are independent uses its own, measured with the strategies.
    pub efficiency: f64,
}

/// The no-coordination ceiling at two threads over two (at most 1): an ERC-20 block cut in
/// halves run at once on the same pre-state, against running it whole (see
/// [`crate::bench`]), measured with `iterations` rounds (at least 7: one figure scales every
/// two-thread projection).
pub fn machine_efficiency(iterations: usize) -> Result<f64, ExecError> {
    use crate::sources::workload::{self, WorkloadKind, WorkloadSpec};
    let (block, state) = workload::generate(&WorkloadSpec::new(WorkloadKind::Erc20, 300_000_000));
    let rows = bench::measure(
        "erc20",
        &block,
        &state,
        &[],
        &[2],
        iterations.max(7),
        &|| (),
    )?
    .rows;
    let ceiling = rows
        .iter()
        .find(|r| r.strategy == bench::CEILING && r.threads == 2);
    Ok(ceiling.map_or(1.0, |r| (r.speedup / 2.0).min(1.0)))
}

/// One block's profile.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct BlockProfile {
    /// Block number, or the workload's name.
    pub number: String,
    /// Transactions.
    pub txs: usize,
    /// Sum of the transactions' costs, microseconds.
    pub work_us: f64,
    /// Gas used.
    pub work_gas: u64,
    /// The heaviest path by cost, microseconds.
    pub critical_path_us: f64,
    /// The heaviest path by gas.
    pub critical_path_gas: u64,
    /// `work_us / critical_path_us`: no schedule does better.
    pub parallelism_bound: f64,
    /// Share of transactions depending on none.
    pub independent_share: f64,
    /// The most transactions on one path.
    pub longest_chain: usize,
    /// The locations behind the most dependent transactions.
    pub hottest: Vec<Hot>,
    /// Edges by kind (commutative kinds count only with the switch).
    pub edges: BTreeMap<Kind, usize>,
    /// Projected speedup of each strategy at 1, 2, ... workers.
    pub projections: BTreeMap<String, Vec<f64>>,
    /// Measured speedups at 1 and 2 threads, where measured.
    pub measured: BTreeMap<String, [f64; 2]>,
    /// The projections at 1 and 2 threads on this machine (two threads scaled by the
    /// machine's efficiency), compared with `measured`.
    pub projected_here: BTreeMap<String, [f64; 2]>,
    /// The one-thread speedup each model was calibrated with (see `calibrated_by`).
    pub calibration: BTreeMap<String, f64>,
    /// The graph (for DOT output).
    #[serde(skip)]
    pub graph: Graph,
}

/// A hot location.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Hot {
    /// The account, or `account/slot`.
    pub loc: String,
    /// Transactions depending on another through it.
    pub dependents: usize,
}

/// A strategy as projected: its name (a registered strategy or variant) and model.
struct Projected {
    name: String,
    model: Model,
    /// Planning, microseconds (one thread).
    serial_us: f64,
    /// Predicting, microseconds of one thread (the workers share it).
    predict_us: f64,
}

/// Profiles `block` on `state`.
pub fn profile(
    name: &str,
    block: &Block,
    state: &dyn StateView,
    options: Options,
) -> Result<BlockProfile, ExecError> {
    let mut block = block.clone();
    let rec = record::record(&block, state, options.passes)?;
    if block.access_list.is_none() {
        // (The `bal` projections need the list; a block it cannot state runs without.)
        if let Ok(list) = crate::bal::build(&block, state, &rec.output) {
            block.set_access_list(list);
        }
    }
    let g = Graph::build(&rec.access, options.count_commutative);
    let gas: Vec<f64> = rec.gas.iter().map(|g| *g as f64).collect();
    let (time, by_gas) = (g.shape(&rec.us), g.shape(&gas));
    let projected = projected(&block, state, &rec.output)?;
    let measured = match options.iterations {
        0 => Measured::default(),
        k => measure(name, &block, state, &projected, k)?,
    };
    let deps = g.dependencies();
    let sim = simulate::Block {
        costs: &rec.us,
        deps: &deps,
        serial: 0.0,
        shared: 0.0,
        merge: simulate::MERGE,
    };
    let mut projections = BTreeMap::new();
    let mut projected_here = BTreeMap::new();
    for p in &projected {
        let b = simulate::Block {
            serial: p.serial_us,
            shared: p.predict_us,
            merge: (measured.merge_us.get(&p.name))
                .map_or(simulate::MERGE, |us| us / time.work.max(1e-9)),
            ..sim
        };
        let overhead =
            (measured.calibration.get(&p.name)).map_or(0.0, |m| b.calibrate(&p.model, *m));
        let curve = (1..=options.threads_max).map(|n| b.speedup(&p.model, overhead, n));
        projections.insert(p.name.clone(), curve.collect());
        if measured.speedups.contains_key(&p.name) {
            let efficiency = measured.efficiency.unwrap_or(options.efficiency);
            let slower = (1.0 + overhead) / efficiency - 1.0;
            let here = [
                b.speedup(&p.model, overhead, 1),
                b.speedup(&p.model, slower, 2),
            ];
            projected_here.insert(p.name.clone(), here);
        }
    }
    Ok(BlockProfile {
        number: name.to_string(),
        txs: block.transactions.len(),
        work_us: time.work,
        work_gas: rec.gas.iter().sum(),
        critical_path_us: time.critical_path,
        critical_path_gas: by_gas.critical_path as u64,
        parallelism_bound: time.bound,
        independent_share: time.independent as f64 / block.transactions.len().max(1) as f64,
        longest_chain: time.longest_chain,
        hottest: g
            .hottest(5)
            .into_iter()
            .map(|(loc, dependents)| Hot {
                loc: show(loc),
                dependents,
            })
            .collect(),
        edges: g.edge_counts().into_iter().collect(),
        projections,
        measured: measured.speedups,
        projected_here,
        calibration: measured.calibration,
        graph: g,
    })
}

fn show(loc: Loc) -> String {
    match loc {
        Loc::Account(a) => a.to_string(),
        Loc::Slot(a, k) => format!("{a}/{k:#x}"),
    }
}

/// Every strategy projected: the registered ones and each hint kind of sealevel and dag,
/// with their predictions made (and timed) on the state before the transactions.
fn projected(
    block: &Block,
    state: &dyn StateView,
    output: &crate::BlockOutput,
) -> Result<Vec<Projected>, ExecError> {
    let plain = |name: &str, model| Projected {
        name: name.into(),
        model,
        serial_us: 0.0,
        predict_us: 0.0,
    };
    let mut all = vec![
        plain("block-stm", Model::Optimistic),
        plain("monad", Model::Merge),
        plain("bal", Model::Independent),
    ];
    let mut base = Overlay::new(state);
    base.apply(&output.pre_block);
    let kinds = [
        ("static", Hints::Static),
        ("simulate", Hints::Simulate),
        ("access-list", Hints::AccessList),
        ("bal", Hints::Bal),
    ];
    for (kind, hints) in kinds {
        let started = std::time::Instant::now();
        // (On one thread: its cost is shared by however many workers the model has.)
        let predictions = hints.predict(block, &base, &Workers::one())?;
        let predict_us = started.elapsed().as_secs_f64() * 1e6;
        for (name, rule) in [("sealevel", Rule::Locks), ("dag", Rule::NearestWriter)] {
            let started = std::time::Instant::now();
            let waits = waits(&predictions, block.header.beneficiary, rule);
            let serial_us = started.elapsed().as_secs_f64() * 1e6;
            all.push(Projected {
                name: format!("{name}-{kind}"),
                model: Model::Scheduled(waits),
                serial_us,
                predict_us,
            });
        }
    }
    Ok(all)
}

/// What calibrates a projected strategy's model: `name`'s own twin without size rules where
/// it has one (with size rules a strategy runs one thread sequentially, which says nothing of
/// its overhead), else `name` itself.
fn calibrated_by(name: &str) -> String {
    match name {
        "block-stm" => "block-stm-speculative".into(),
        "monad" => "monad-speculative".into(),
        _ => name.into(),
    }
}

/// Speedups measured as `parevm bench` measures them (interleaved with sequential,
/// `iterations` rounds): every projected strategy at 1 and 2 threads, and the ones that
/// calibrate them at 1.
fn measure(
    name: &str,
    block: &Block,
    state: &dyn StateView,
    projected: &[Projected],
    iterations: usize,
) -> Result<Measured, ExecError> {
    let mut configs: Vec<Config> = Vec::new();
    let mut add = |name: &str, threads: usize| {
        let known = configs
            .iter()
            .any(|c| c.strategy.name() == name && c.threads == threads);
        if let (false, Some(strategy)) = (known, strategy::by_name(name)) {
            configs.push(Config { strategy, threads });
        }
    };
    for p in projected {
        add(&calibrated_by(&p.name), 1);
        add(&p.name, 1);
        add(&p.name, 2);
    }
    let rows = bench::measure(name, block, state, &configs, &[2], iterations, &|| ())?.rows;
    let at = |name: &str, t: usize| {
        rows.iter()
            .find(|r| r.strategy == name && r.threads == t)
            .map(|r| r.speedup)
    };
    let mut out = Measured::default();
    let ceiling = rows
        .iter()
        .find(|r| r.strategy == bench::CEILING && r.threads == 2);
    out.efficiency = ceiling.map(|r| (r.speedup / 2.0).min(1.0));
    for p in projected {
        if let (Some(one), Some(two), Some(c)) = (
            at(&p.name, 1),
            at(&p.name, 2),
            at(&calibrated_by(&p.name), 1),
        ) {
            out.speedups.insert(p.name.clone(), [one, two]);
            out.calibration.insert(p.name.clone(), c);
            let twin = calibrated_by(&p.name);
            let run = rows.iter().find(|r| r.strategy == twin && r.threads == 1);
            let merge_us = run.map_or(0, |r| r.stats.counter("merge_us"));
            if merge_us > 0 {
                out.merge_us.insert(p.name.clone(), merge_us as f64);
            }
        }
    }
    Ok(out)
}

/// Measured speedups of a block.
#[derive(Debug, Default)]
struct Measured {
    /// Each strategy's at 1 and 2 threads.
    speedups: BTreeMap<String, [f64; 2]>,
    /// The one-thread speedup that calibrates each strategy's model.
    calibration: BTreeMap<String, f64>,
    /// The time that run spent merging (strategies that merge in order), microseconds.
    merge_us: BTreeMap<String, f64>,
    /// The block's no-coordination ceiling at two threads over two, where its halves are
    /// independent (measured in the same rounds as the strategies).
    efficiency: Option<f64>,
}

/// Projected against measured over several blocks, per strategy and thread count: sums of
/// sequential time over sums of each one's (as `parevm bench` aggregates), and the error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Validation {
    /// Measured speedup.
    pub measured: f64,
    /// Projected speedup.
    pub projected: f64,
    /// `(projected - measured) / measured`, percent.
    pub error_pct: f64,
}

/// For each strategy measured in `profiles`, [`Validation`] at 1 and 2 threads (blocks
/// weighted by their sequential work).
pub fn validate(profiles: &[BlockProfile]) -> BTreeMap<String, BTreeMap<usize, Validation>> {
    let mut out: BTreeMap<String, BTreeMap<usize, Validation>> = BTreeMap::new();
    let names: std::collections::BTreeSet<&String> =
        profiles.iter().flat_map(|p| p.measured.keys()).collect();
    for name in names {
        for (k, threads) in [1usize, 2].into_iter().enumerate() {
            let (mut work, mut measured, mut projected) = (0.0, 0.0, 0.0);
            for p in profiles {
                let (Some(m), Some(here)) = (p.measured.get(name), p.projected_here.get(name))
                else {
                    continue;
                };
                work += p.work_us;
                measured += p.work_us / m[k];
                projected += p.work_us / here[k];
            }
            if work > 0.0 {
                let (m, p) = (work / measured, work / projected);
                let v = Validation {
                    measured: m,
                    projected: p,
                    error_pct: (p - m) / m * 100.0,
                };
                out.entry(name.clone()).or_default().insert(threads, v);
            }
        }
    }
    out
}

/// Projected speedups over several blocks (sums of work over sums of projected times).
pub fn aggregate_projections(profiles: &[BlockProfile]) -> BTreeMap<String, Vec<f64>> {
    let mut out = BTreeMap::new();
    let Some(first) = profiles.first() else {
        return out;
    };
    for (name, curve) in &first.projections {
        let points = (0..curve.len()).map(|n| {
            let (mut work, mut time) = (0.0, 0.0);
            for p in profiles {
                if let Some(s) = p.projections.get(name).and_then(|c| c.get(n)) {
                    work += p.work_us;
                    time += p.work_us / s;
                }
            }
            if time > 0.0 { work / time } else { 1.0 }
        });
        out.insert(name.clone(), points.collect());
    }
    out
}
