//! Results pages from committed `parevm bench` JSON: `parevm report` renders them, and the
//! README's results table is [`summary_table`] of the main sweep, so that no figure is ever
//! copied by hand (tests check both against the committed JSON).

use serde::Deserialize;
use std::{fmt::Write as _, path::Path};

/// A `parevm bench --json` document (the fields the pages use).
#[derive(Debug, Clone, Deserialize)]
pub struct BenchDoc {
    /// parevm's version.
    pub parevm_version: String,
    /// When it was measured (UTC).
    pub date: String,
    /// Where.
    pub machine: Machine,
    /// Timed rounds per configuration.
    pub iterations: usize,
    /// Simulated latency per state read, microseconds.
    pub db_latency_us: u64,
    /// The command line that produced it (absent in older files).
    #[serde(default)]
    pub command: Option<String>,
    /// One row per target and configuration.
    pub results: Vec<Row>,
    /// Per configuration over real blocks (`--blocks` only).
    #[serde(default)]
    pub aggregates: Vec<Aggregate>,
    /// What was not measured, and why.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// The machine a document was measured on.
#[derive(Debug, Clone, Deserialize)]
pub struct Machine {
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// Operating system.
    pub os: String,
    /// Architecture.
    pub arch: String,
}

/// One target (workload or block) under one configuration: the bench's own measurement.
pub use crate::bench::Measurement as Row;

/// A configuration over a set of real blocks.
pub use crate::bench::Aggregate;

/// The bench JSON files in `dir` (`bench*.json`), `bench.json` first, then by name: the
/// files `parevm report` renders when none are named.
pub fn bench_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_stem()
                    .and_then(|s| s.to_str())
                    .is_some_and(|s| s.starts_with("bench"))
        })
        .collect();
    files.sort_by_key(|p| (p.file_stem().is_none_or(|s| s != "bench"), p.clone()));
    Ok(files)
}

/// The documents of `files`, each with its file stem (which names its chart).
pub fn load_all(files: &[std::path::PathBuf]) -> Result<Vec<(String, BenchDoc)>, String> {
    files
        .iter()
        .map(|f| {
            let stem = f
                .file_stem()
                .map_or_else(|| "bench".into(), |s| s.to_string_lossy().into_owned());
            Ok((stem, load(f)?))
        })
        .collect()
}

/// Reads a bench document, with an error naming the file.
pub fn load(path: &Path) -> Result<BenchDoc, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a bench document: {e}", path.display()))
}

/// One line on where and how `doc` was measured.
pub fn provenance(doc: &BenchDoc) -> String {
    let date = doc.date.get(..10).unwrap_or(&doc.date);
    let latency = match doc.db_latency_us {
        0 => String::new(),
        us => format!(", {us} µs per state read"),
    };
    let command = doc
        .command
        .as_deref()
        .map_or_else(String::new, |c| format!("; `{c}`"));
    format!(
        "Measured {date} on a {}-CPU {}/{} machine, parevm {}, {} timed rounds per configuration{latency}{command}.",
        doc.machine.cpus, doc.machine.os, doc.machine.arch, doc.parevm_version, doc.iterations
    )
}

/// The configurations in `doc` other than sequential, in their first order.
fn configurations(doc: &BenchDoc) -> Vec<(String, usize)> {
    let mut configs: Vec<(String, usize)> = Vec::new();
    for r in &doc.results {
        let c = (r.strategy.clone(), r.threads);
        if r.strategy != "sequential" && !configs.contains(&c) {
            configs.push(c);
        }
    }
    configs
}

/// The targets in `doc`, in their first order.
fn targets(doc: &BenchDoc) -> Vec<&str> {
    let mut targets: Vec<&str> = Vec::new();
    for r in &doc.results {
        if !targets.contains(&r.target.as_str()) {
            targets.push(&r.target);
        }
    }
    targets
}

/// The compact table of `doc`: per target, sequential's median and every configuration's
/// speedup, with the CPU% of the last one (the README's results table).
pub fn summary_table(doc: &BenchDoc) -> String {
    let configs = configurations(doc);
    let mut out = String::from("| target | txs | sequential ms |");
    for (s, t) in &configs {
        let _ = write!(out, " {s} x{t} |");
    }
    if let Some((s, t)) = configs.iter().rfind(|(s, _)| s != "ceiling") {
        let _ = write!(out, " CPU% {s} x{t} |");
    }
    out.push_str("\n|---|---:|---:|");
    out.push_str(&"---:|".repeat(configs.len() + 1));
    out.push('\n');
    for target in targets(doc) {
        let row = |s: &str, t: usize| {
            doc.results.iter().find(|r| {
                r.target == target && r.strategy == s && (s == "sequential" || r.threads == t)
            })
        };
        let Some(seq) = row("sequential", 1) else {
            continue;
        };
        let _ = write!(out, "| {target} | {} | {:.2} |", seq.txs, seq.median_ms);
        for (s, t) in &configs {
            match row(s, *t) {
                Some(r) => {
                    let _ = write!(out, " {:.2}x |", r.speedup);
                }
                None => out.push_str(" – |"),
            }
        }
        if let Some((s, t)) = configs.iter().rfind(|(s, _)| s != "ceiling") {
            match row(s, *t) {
                Some(r) => {
                    let _ = write!(out, " {:.0} |", r.cpu_pct);
                }
                None => out.push_str(" – |"),
            }
        }
        out.push('\n');
    }
    out
}

/// The README's results section: [`provenance`] and [`summary_table`] of the main sweep.
pub fn readme_results(doc: &BenchDoc) -> String {
    format!("{}\n\n{}", provenance(doc), summary_table(doc))
}

/// The full table of `doc`: every row with median, spread, speedup, CPU% and executions per
/// transaction (re-executions included; `–` where not counted, as for the ceiling).
fn full_table(doc: &BenchDoc) -> String {
    let mut out = String::from(
        "| target | strategy | threads | txs | Mgas | median ms | min..max ms | speedup | CPU% | exec/tx |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &doc.results {
        let per_tx = match r.stats.executions {
            0 => "–".to_string(),
            e => format!("{:.2}", e as f64 / r.txs.max(1) as f64),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {:.2} | {:.2}..{:.2} | {:.2}x | {:.0} | {per_tx} |",
            r.target,
            r.strategy,
            r.threads,
            r.txs,
            r.gas as f64 / 1e6,
            r.median_ms,
            r.min_ms,
            r.max_ms,
            r.speedup,
            r.cpu_pct
        );
    }
    out
}

/// The size of each block's access list, from the rows that carry it (those of a strategy
/// that executes from the list): empty when none does.
fn access_list_sizes(doc: &BenchDoc) -> String {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = String::new();
    for r in &doc.results {
        let list = r.stats.counter("access_list_bytes");
        if list == 0 || !seen.insert(r.target.clone()) {
            continue;
        }
        if out.is_empty() {
            out.push_str(
                "\nAccess list (EIP-7928, RLP) per block, against the transactions' calldata:\n\n\
                 | target | txs | list bytes | per transaction | calldata bytes | list / calldata |\n\
                 |---|---:|---:|---:|---:|---:|\n",
            );
        }
        let calldata = r.stats.counter("calldata_bytes");
        let share = match calldata {
            0 => "–".to_string(),
            c => format!("{:.2}", list as f64 / c as f64),
        };
        let per_tx = list as f64 / r.txs.max(1) as f64;
        let _ = writeln!(
            out,
            "| {} | {} | {list} | {per_tx:.0} | {calldata} | {share} |",
            r.target, r.txs
        );
    }
    out
}

/// The aggregates of a run over real blocks (empty for workloads): speedup, lowest block,
/// re-executions (for strategies scheduling from predictions: the violations and misses that
/// mattered) and, where a strategy predicts, what predicting and planning cost per transaction.
fn aggregates(doc: &BenchDoc) -> String {
    if doc.aggregates.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n| strategy | threads | aggregate speedup | lowest block | blocks | txs | \
         re-executions (blocks) | predict µs/tx | plan µs/tx |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for a in &doc.aggregates {
        let per_tx = |us: u64| match us {
            0 => "–".to_string(),
            us => format!("{:.1}", us as f64 / a.txs.max(1) as f64),
        };
        // (Files written before the counts were kept have no blocks.)
        let counts = match a.blocks {
            0 => "– | – | –".to_string(),
            b => format!(
                "{b} | {} | {} ({})",
                a.txs, a.re_executions, a.blocks_re_executed
            ),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.2}x | {:.2}x | {counts} | {} | {} |",
            a.strategy,
            a.threads,
            a.speedup,
            a.lowest_block_speedup,
            per_tx(a.predict_us),
            per_tx(a.plan_us)
        );
    }
    out
}

/// The results page of `docs` (each with its file's stem, which also names its chart,
/// `<stem>.svg`, beside the page).
pub fn page(docs: &[(String, BenchDoc)]) -> String {
    let mut out = String::from(
        "# parevm results\n\nGenerated by `parevm report` from the bench JSON files named below; \
         not edited by hand. Speedups are over sequential execution in the same run, paired by \
         round (see `docs/benchmarking.md`); CPU% is process CPU time over wall time.\n",
    );
    for (stem, doc) in docs {
        let _ = write!(
            out,
            "\n## {stem}\n\n{}\n\n![speedups]({stem}.svg)\n\n{}",
            provenance(doc),
            full_table(doc)
        );
        out.push_str(&access_list_sizes(doc));
        out.push_str(&aggregates(doc));
        if !doc.notes.is_empty() {
            out.push('\n');
            for n in &doc.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
    }
    out
}

/// A `parevm predict --json` document.
#[derive(Debug, Clone, Deserialize)]
pub struct PredictDoc {
    /// parevm's version.
    pub parevm_version: String,
    /// When it was measured (UTC).
    pub date: String,
    /// Where.
    pub machine: Machine,
    /// The command line that produced it.
    pub command: String,
    /// One row per target and predictor.
    pub results: Vec<PredictRow>,
}

/// One predictor on one target (see `parevm::predict::measure::Row::to_json`).
#[derive(Debug, Clone, Deserialize)]
#[allow(missing_docs)]
pub struct PredictRow {
    pub target: String,
    pub hints: String,
    pub txs: usize,
    pub read_precision: f64,
    pub read_recall: f64,
    pub write_precision: f64,
    pub write_recall: f64,
    pub exact_share: f64,
    pub partial_share: f64,
    pub us_per_tx: f64,
    pub exec_us_per_tx: f64,
}

/// The predict JSON files in `dir` (`predict*.json`), by name.
pub fn predict_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    json_files(dir, "predict")
}

/// The profile JSON files in `dir` (`profile*.json`), by name.
pub fn profile_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    json_files(dir, "profile")
}

/// The chain bench JSON files in `dir` (`chain*.json`), by name.
pub fn chain_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    json_files(dir, "chain")
}

/// The section of the results page on chains of blocks on the store (`parevm chain bench`):
/// every run, and the pipeline's speedup.
pub fn chains(files: &[std::path::PathBuf]) -> Result<String, String> {
    let mut out = String::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let doc: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?;
        let num = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(0.0);
        let _ = write!(
            out,
            "\n## Chains on the store: {}\n\nMeasured {} on {} CPUs, parevm {}; `{}`. Each run \
             executes a synthetic chain into a fresh redb store in its own process, the \
             pipeline off and on alternating; pipeline on / off: **{:.2}x** (median over rounds \
             of the blocks/s ratio).\n\n\
             | round | pipeline | blocks | Ggas | blocks/s | Ggas/s | busy prepare / execute / commit s | overlap | peak MiB | store MiB |\n\
             |---:|---|---:|---:|---:|---:|---|---:|---:|---:|\n",
            f.file_stem().and_then(|s| s.to_str()).unwrap_or("chain"),
            doc["date"].as_str().unwrap_or("?"),
            doc["cpus"],
            doc["parevm_version"].as_str().unwrap_or("?"),
            doc["command"].as_str().unwrap_or("?"),
            num(&doc, "speedup")
        );
        for r in doc["runs"].as_array().into_iter().flatten() {
            let busy = &r["busy_s"];
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.3} | {:.1} | {:.3} | {:.2} / {:.2} / {:.2} | {:.2} | {:.0} | {:.0} |",
                r["round"],
                if r["pipeline"].as_bool() == Some(true) {
                    "on"
                } else {
                    "off"
                },
                r["blocks"],
                num(r, "gas") / 1e9,
                num(r, "blocks_per_s"),
                num(r, "ggas_per_s"),
                num(busy, "prepare"),
                num(busy, "execute"),
                num(busy, "commit"),
                num(r, "overlap"),
                num(r, "peak_rss_mib"),
                num(r, "store_bytes") / (1u64 << 20) as f64
            );
        }
    }
    Ok(out)
}

/// The JSON files in `dir` whose name starts with `prefix`, by name.
fn json_files(dir: &Path, prefix: &str) -> Result<Vec<std::path::PathBuf>, String> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && (p.file_stem().and_then(|s| s.to_str())).is_some_and(|s| s.starts_with(prefix))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// `parevm profile --json` documents, each with its file's stem (which names its chart).
pub fn load_profiles(
    files: &[std::path::PathBuf],
) -> Result<Vec<(String, crate::profile::doc::ProfileDoc)>, String> {
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
            let doc = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?;
            let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("profile");
            Ok((stem.to_string(), doc))
        })
        .collect()
}

/// The section of the results page on parallelism profiles: per document, its chart
/// (`<stem>.svg`) and tables.
pub fn profiles(docs: &[(String, crate::profile::doc::ProfileDoc)]) -> String {
    if docs.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n## Parallelism profiles\n\nFrom `parevm profile`: each block's dependency graph from a \
         sequential run (a transaction depends on the last writer of what it reads; fees, \
         plain-transfer credits and debits are commutative edges that order nothing), its \
         critical path by measured time and by gas, the parallelism bound (work over critical \
         path), and every strategy's rules replayed on the graph for 1 to 64 workers that do \
         not slow each other, calibrated by its speedup measured at one thread and checked \
         against the one measured at two (scaled by this machine's two-thread efficiency). \
         See `parevm::profile` for the models.\n",
    );
    for (stem, doc) in docs {
        let _ = write!(
            out,
            "\n### {stem}\n\n![projected speedups]({stem}.svg)\n\n{}",
            doc.markdown()
        );
    }
    out
}

/// The section of the results page on access predictions: per file, every row, or only the
/// aggregate over all targets when there are many.
pub fn predictions(files: &[std::path::PathBuf]) -> Result<String, String> {
    if files.is_empty() {
        return Ok(String::new());
    }
    let mut out = String::from(
        "
## Access predictions

Each predictor's read and write sets against what \
         sequential execution touched (`parevm predict`): precision (share of predicted \
         locations touched), recall (share of touched locations predicted), the share of \
         transactions predicted exactly and of those marked partial, and the cost per \
         transaction beside sequential execution's.\n",
    );
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let doc: PredictDoc = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a predict document: {e}", f.display()))?;
        let stem = f
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let date = doc.date.get(..10).unwrap_or(&doc.date);
        let _ = write!(
            out,
            "\n### {stem}\n\nMeasured {date} on a {}-CPU {}/{} machine, parevm {}; `{}`.\n\n",
            doc.machine.cpus, doc.machine.os, doc.machine.arch, doc.parevm_version, doc.command
        );
        out.push_str("| target | hints | txs | read P | read R | write P | write R | exact | partial | µs/tx | exec µs/tx |\n");
        out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        // (Many targets, the mainnet blocks: their aggregate only.)
        let targets: std::collections::BTreeSet<&str> =
            doc.results.iter().map(|r| r.target.as_str()).collect();
        let only_all = targets.len() > 10 && targets.contains("all");
        for r in doc
            .results
            .iter()
            .filter(|r| !only_all || r.target == "all")
        {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} | {:.2} | {:.1} | {:.1} |",
                r.target,
                r.hints,
                r.txs,
                r.read_precision,
                r.read_recall,
                r.write_precision,
                r.write_recall,
                r.exact_share,
                r.partial_share,
                r.us_per_tx,
                r.exec_us_per_tx
            );
        }
    }
    Ok(out)
}

/// `readme` with the text between `<!-- results:begin -->` and `<!-- results:end -->`
/// replaced by `table` (an error if the markers are missing).
pub fn splice_readme(readme: &str, table: &str) -> Result<String, String> {
    const BEGIN: &str = "<!-- results:begin -->\n";
    const END: &str = "<!-- results:end -->";
    let start = readme
        .find(BEGIN)
        .ok_or("no `<!-- results:begin -->` line")?
        + BEGIN.len();
    let end = readme[start..]
        .find(END)
        .ok_or("no `<!-- results:end -->` line")?
        + start;
    Ok(format!("{}{table}{}", &readme[..start], &readme[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> BenchDoc {
        let row = |target: &str, strategy: &str, threads, median_ms, speedup| Row {
            target: target.into(),
            strategy: strategy.into(),
            threads,
            txs: 10,
            gas: 210_000,
            median_ms,
            min_ms: median_ms,
            max_ms: median_ms,
            speedup,
            cpu_pct: 100.0 * threads as f64,
            ggas_per_s: 0.0,
            samples_ms: vec![],
            stats: Default::default(),
        };
        BenchDoc {
            parevm_version: "0.1.0".into(),
            date: "2026-12-06T10:00:00Z".into(),
            machine: Machine {
                cpus: 2,
                os: "linux".into(),
                arch: "x86_64".into(),
            },
            iterations: 7,
            db_latency_us: 0,
            command: Some("parevm bench".into()),
            results: vec![
                row("a", "sequential", 1, 2.0, 1.0),
                row("a", "block-stm", 2, 1.0, 2.0),
                row("b", "sequential", 1, 4.0, 1.0),
            ],
            aggregates: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn the_summary_has_a_column_per_configuration_and_a_row_per_target() {
        let t = summary_table(&doc());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "| target | txs | sequential ms | block-stm x2 | CPU% block-stm x2 |"
        );
        assert_eq!(lines[2], "| a | 10 | 2.00 | 2.00x | 200 |");
        assert_eq!(lines[3], "| b | 10 | 4.00 | – | – |");
    }

    #[test]
    fn splicing_replaces_only_the_marked_region() {
        let readme = "x\n<!-- results:begin -->\nold\n<!-- results:end -->\ny\n";
        assert_eq!(
            splice_readme(readme, "new\n").unwrap(),
            "x\n<!-- results:begin -->\nnew\n<!-- results:end -->\ny\n"
        );
        assert!(splice_readme("no markers", "t").is_err());
    }
}
