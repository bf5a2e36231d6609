//! `parevm profile`: the dependency graph of blocks or workloads, its critical path and
//! parallelism bound, and every strategy's projected speedup on 1 to N workers, validated
//! against measured speedups; as a table, JSON, an SVG chart, DOT and one HTML page.

use clap::Args;
use parevm::profile::{self, Options, doc::ProfileDoc};
use std::{path::PathBuf, process::ExitCode};

/// Arguments of `parevm profile`.
#[derive(Args)]
pub(crate) struct ProfileArgs {
    /// Block folders (block.json + prestate.json), or folders of them.
    paths: Vec<PathBuf>,
    /// A synthetic workload instead of block folders (repeatable).
    #[arg(long = "workload")]
    workloads: Vec<String>,
    /// Gas target of generated blocks (e.g. 30M, 1G) [default: 30M].
    #[arg(long)]
    gas: Option<String>,
    /// Project speedups for 1 to this many workers.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads_max: u16,
    /// Count commutative updates (fees, plain-transfer credits and debits) as dependencies.
    #[arg(long)]
    count_commutative: bool,
    /// Timed sequential passes per block (each transaction's median cost is kept).
    #[arg(long, default_value_t = 5)]
    passes: usize,
    /// Rounds of the measurement at 1 and 2 threads that calibrates and validates the
    /// projections (0: no measurement, uncalibrated models).
    #[arg(long, default_value_t = 3)]
    iterations: usize,
    /// Write the profile as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the projected speedup curves as SVG to this file.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Write one self-contained HTML page (tables and chart inline) to this file.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Write the dependency graph of the block with the most transactions as DOT to this file.
    #[arg(long)]
    dot: Option<PathBuf>,
}

pub(crate) fn run(args: ProfileArgs) -> ExitCode {
    match profile_all(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(crate::EXIT_INPUT)
        }
    }
}

fn profile_all(args: &ProfileArgs) -> Result<(), String> {
    let targets = crate::predict::targets(&args.paths, &args.workloads, args.gas.as_deref())?;
    let options = Options {
        count_commutative: args.count_commutative,
        passes: args.passes,
        threads_max: args.threads_max as usize,
        iterations: args.iterations,
        efficiency: match args.iterations {
            0 => 1.0,
            k => profile::machine_efficiency(k).map_err(|e| e.to_string())?,
        },
    };
    let bar = crate::progress(targets.len() as u64, "blocks");
    let mut blocks = Vec::new();
    for (name, block, state) in &targets {
        let p =
            profile::profile(name, block, state, options).map_err(|e| format!("{name}: {e}"))?;
        blocks.push(p);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let doc = ProfileDoc {
        parevm_version: env!("CARGO_PKG_VERSION").into(),
        date: crate::bench::utc_now(),
        command: crate::bench::command_line(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        count_commutative: args.count_commutative,
        efficiency: options.efficiency,
        projections: profile::aggregate_projections(&blocks),
        validation: profile::validate(&blocks),
        blocks,
    };
    print!("{}", doc.markdown());
    write_outputs(args, &doc)
}

fn write_outputs(args: &ProfileArgs, doc: &ProfileDoc) -> Result<(), String> {
    let write = |path: &PathBuf, text: String| {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
        Ok::<(), String>(())
    };
    if let Some(path) = &args.json {
        write(
            path,
            serde_json::to_string_pretty(doc).expect("json") + "\n",
        )?;
    }
    if let Some(path) = &args.svg {
        write(path, crate::chart::projection_chart(doc)?)?;
    }
    if let Some(path) = &args.html {
        write(path, html(doc)?)?;
    }
    if let Some(path) = &args.dot {
        let largest = doc
            .blocks
            .iter()
            .max_by_key(|b| b.txs)
            .ok_or("no block to draw")?;
        write(path, profile::doc::dot(largest))?;
    }
    Ok(())
}

/// One self-contained page: the chart inline, the tables as HTML.
pub(crate) fn html(doc: &ProfileDoc) -> Result<String, String> {
    let svg = crate::chart::projection_chart(doc)?;
    let mut tables = String::new();
    let mut in_table = false;
    for line in doc.markdown().lines() {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        match line.starts_with('|') {
            true if line.starts_with("|---") => {}
            true if !in_table => {
                in_table = true;
                tables.push_str("<table>\n<tr>");
                cells
                    .iter()
                    .for_each(|c| tables.push_str(&format!("<th>{}</th>", escape(c))));
                tables.push_str("</tr>\n");
            }
            true => {
                tables.push_str("<tr>");
                cells
                    .iter()
                    .for_each(|c| tables.push_str(&format!("<td>{}</td>", escape(c))));
                tables.push_str("</tr>\n");
            }
            false => {
                if in_table {
                    tables.push_str("</table>\n");
                    in_table = false;
                }
                if !line.is_empty() {
                    tables.push_str(&format!("<p>{}</p>\n", escape(line)));
                }
            }
        }
    }
    if in_table {
        tables.push_str("</table>\n");
    }
    Ok(format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>parevm profile</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}\
         td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}</style></head><body>\n\
         <h1>parevm parallelism profile</h1>\n{svg}\n{tables}</body></html>\n"
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use parevm::sources::workload::{self, WorkloadKind, WorkloadSpec};

    #[test]
    fn the_page_holds_the_chart_and_every_number_of_the_tables() {
        let (block, state) = workload::generate(&WorkloadSpec::new(WorkloadKind::Erc20, 2_000_000));
        let options = Options {
            count_commutative: false,
            passes: 1,
            threads_max: 16,
            iterations: 0,
            efficiency: 1.0,
        };
        let p = profile::profile("erc20 2M", &block, &state, options).unwrap();
        let doc = ProfileDoc {
            parevm_version: "test".into(),
            date: "today".into(),
            command: "parevm profile".into(),
            cpus: 2,
            count_commutative: false,
            efficiency: 1.0,
            projections: profile::aggregate_projections(std::slice::from_ref(&p)),
            validation: profile::validate(std::slice::from_ref(&p)),
            blocks: vec![p.clone()],
        };
        let page = html(&doc).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
        assert!(!page.contains("http://") || page.contains("http://www.w3.org/2000/svg"));
        assert!(!page.contains("<script"), "no code, nothing fetched");
        let svg = page.find("<svg").expect("the chart inline");
        let chart = &page[svg..page.find("</svg>").expect("closed")];
        for name in doc.projections.keys() {
            assert!(
                chart.contains(name.as_str()),
                "{name} in the chart's legend"
            );
        }
        let row = format!(
            "<td>erc20 2M</td><td>{}</td><td>{:.0}</td><td>{:.0}</td><td>{:.1}</td>",
            p.txs, p.work_us, p.critical_path_us, p.parallelism_bound
        );
        assert!(page.contains(&row), "the block's row: {row}");
        let x16 = format!("<td>{:.2}x</td>", doc.projections["bal"][15]);
        assert!(page.contains(&x16), "bal at 16 workers: {x16}");
        assert!(
            page.contains("Not measured"),
            "no validation without measurement"
        );
    }
}
