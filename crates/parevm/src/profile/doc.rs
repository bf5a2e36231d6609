//! The `parevm profile --json` document, and what is rendered from it: the results page's
//! tables and the DOT graph of a block.

use super::{BlockProfile, Validation, graph::Kind};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, fmt::Write as _};

/// Worker counts shown in tables.
pub const SHOWN: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];

/// A profile run over one or more blocks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileDoc {
    /// parevm's version.
    pub parevm_version: String,
    /// When (UTC).
    pub date: String,
    /// The command line.
    pub command: String,
    /// Logical CPUs of the machine.
    pub cpus: usize,
    /// Whether commutative updates counted as dependencies.
    pub count_commutative: bool,
    /// The machine's two-thread efficiency the validation used (see
    /// [`super::machine_efficiency`]).
    pub efficiency: f64,
    /// Every block.
    pub blocks: Vec<BlockProfile>,
    /// Projected speedups over all blocks (sums of work over sums of projected times).
    pub projections: BTreeMap<String, Vec<f64>>,
    /// Projected against measured per strategy, at 1 and 2 threads (1 calibrates the model).
    pub validation: BTreeMap<String, BTreeMap<usize, Validation>>,
}

impl ProfileDoc {
    /// The parallelism bound over all blocks: their work over the sum of critical paths.
    pub fn bound(&self) -> f64 {
        let work: f64 = self.blocks.iter().map(|b| b.work_us).sum();
        let path: f64 = self.blocks.iter().map(|b| b.critical_path_us).sum();
        if path > 0.0 { work / path } else { 1.0 }
    }

    /// Minimum, quartiles and maximum of the blocks' parallelism bounds.
    pub fn bound_distribution(&self) -> [f64; 5] {
        let mut all: Vec<f64> = self.blocks.iter().map(|b| b.parallelism_bound).collect();
        all.sort_by(f64::total_cmp);
        let at = |q: f64| {
            all.get(((all.len().max(1) - 1) as f64 * q).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        [at(0.0), at(0.25), at(0.5), at(0.75), at(1.0)]
    }

    /// The page's section: per block, the bound's distribution, the projections and the
    /// validation, as markdown tables.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Measured {} on {} CPUs, parevm {}; `{}`. Commutative updates {}.\n",
            self.date,
            self.cpus,
            self.parevm_version,
            self.command,
            if self.count_commutative {
                "counted as dependencies"
            } else {
                "kept apart (fee, credit and debit edges order nothing)"
            }
        );
        out.push_str(&self.blocks_table());
        let [lo, q1, med, q3, hi] = self.bound_distribution();
        let _ = writeln!(
            out,
            "\nParallelism bound over all blocks {:.1}; per block min {lo:.1}, quartiles {q1:.1} / {med:.1} / {q3:.1}, max {hi:.1}.\n",
            self.bound()
        );
        out.push_str(&self.projections_table());
        out.push_str(&self.validation_table());
        out
    }

    fn blocks_table(&self) -> String {
        let mut out = String::from(
            "| block | txs | work µs | critical path µs | bound | critical path gas | independent | longest chain | conflict / fee / credit / debit edges | hottest location (dependents) |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        );
        for b in &self.blocks {
            let edge = |k: Kind| b.edges.get(&k).copied().unwrap_or(0);
            let hot = b.hottest.first().map_or("–".to_string(), |h| {
                format!("{} ({})", h.loc, h.dependents)
            });
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.0} | {:.1} | {} | {:.0}% | {} | {} / {} / {} / {} | {hot} |",
                b.number,
                b.txs,
                b.work_us,
                b.critical_path_us,
                b.parallelism_bound,
                b.critical_path_gas,
                b.independent_share * 100.0,
                b.longest_chain,
                edge(Kind::Conflict),
                edge(Kind::Fee),
                edge(Kind::Credit),
                edge(Kind::Debit)
            );
        }
        out
    }

    fn projections_table(&self) -> String {
        let shown: Vec<usize> = SHOWN
            .into_iter()
            .filter(|n| self.projections.values().any(|c| c.len() >= *n))
            .collect();
        let mut out = String::from("| strategy (projected) |");
        shown.iter().for_each(|n| {
            let _ = write!(out, " x{n} |");
        });
        out.push_str("\n|---|");
        out.push_str(&"---:|".repeat(shown.len()));
        out.push('\n');
        for (name, curve) in &self.projections {
            let _ = write!(out, "| {name} |");
            for n in &shown {
                let _ = write!(out, " {:.2}x |", curve[n - 1]);
            }
            out.push('\n');
        }
        out
    }

    fn validation_table(&self) -> String {
        if self.validation.is_empty() {
            return "\nNot measured: the projections are the models without overheads.\n".into();
        }
        let mut out = format!(
            "\nProjected against measured (`parevm bench` speedups in the same run, blocks \
             weighted by their work). Each model's overhead is calibrated by a one-thread \
             speedup: of `block-stm-speculative` and `monad-speculative` for `block-stm` and \
             `monad` (whose size rules run one thread sequentially), of the strategy itself \
             otherwise, where x1 matches by construction. At two threads the projection is \
             scaled by this machine's two-thread efficiency, {:.2} (the no-coordination \
             ceiling over two).\n\n\
             | strategy | measured x1 | projected x1 | measured x2 | projected x2 | error x2 |\n\
             |---|---:|---:|---:|---:|---:|\n",
            self.efficiency
        );
        for (name, by) in &self.validation {
            let cell = |t: usize| {
                by.get(&t).map_or("– | –".to_string(), |v| {
                    format!("{:.2}x | {:.2}x", v.measured, v.projected)
                })
            };
            let error = by
                .get(&2)
                .map_or("–".to_string(), |v| format!("{:+.0}%", v.error_pct));
            let _ = writeln!(out, "| {name} | {} | {} | {error} |", cell(1), cell(2));
        }
        out
    }
}

/// The graph of `block` in DOT: one node per transaction, conflict edges solid, commutative
/// ones dashed.
pub fn dot(block: &BlockProfile) -> String {
    let mut out = format!(
        "digraph \"block {}\" {{\n  rankdir=LR;\n  node [shape=circle];\n",
        block.number
    );
    for j in 0..block.graph.txs {
        let _ = writeln!(out, "  t{j} [label=\"{j}\"];");
    }
    for e in &block.graph.edges {
        let style = match e.kind {
            Kind::Conflict => "solid",
            Kind::Fee | Kind::Credit | Kind::Debit => "dashed",
        };
        let kind = serde_json::to_value(e.kind)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  t{} -> t{} [style={style}, label=\"{kind}\"];",
            e.from, e.to
        );
    }
    out.push_str("}\n");
    out
}
