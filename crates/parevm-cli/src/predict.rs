//! `parevm predict`: how well each predictor foresees what transactions read and write, on
//! block folders or synthetic workloads, against sequential execution.

use clap::Args;
use parevm::{
    Engine, Workers, bal,
    predict::{self, Predictor, measure},
    sources::{
        rpc::BlockFolder,
        workload::{self, WorkloadKind, WorkloadSpec},
    },
    state::InMemoryState,
    strategy::sequential::Sequential,
};
use std::{path::PathBuf, process::ExitCode};

/// Arguments of `parevm predict`.
#[derive(Args)]
pub(crate) struct PredictArgs {
    /// Block folders (block.json + prestate.json), or folders of them.
    paths: Vec<PathBuf>,
    /// Predictor (repeatable): access-list, static, simulate, bal. Default: all of them.
    #[arg(long = "hints")]
    hints: Vec<String>,
    /// A synthetic workload instead of block folders (transfers, erc20, swaps, ...;
    /// repeatable).
    #[arg(long = "workload")]
    workloads: Vec<String>,
    /// Gas target of the generated block (e.g. 30M, 1G) [default: 30M].
    #[arg(long)]
    gas: Option<String>,
    /// Worker threads for the predictors that run in parallel.
    #[arg(long, default_value_t = 2, value_parser = crate::replay::threads)]
    threads: usize,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub(crate) fn run(args: PredictArgs) -> ExitCode {
    match predict_all(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(crate::EXIT_INPUT)
        }
    }
}

fn predictors(args: &PredictArgs) -> Result<Vec<&'static dyn Predictor>, String> {
    if args.hints.is_empty() {
        return Ok(predict::predictors());
    }
    args.hints
        .iter()
        .map(|h| {
            predict::by_name(h).ok_or_else(|| {
                let known: Vec<&str> = predict::predictors().iter().map(|p| p.name()).collect();
                format!("unknown hints {h:?}; known: {}", known.join(", "))
            })
        })
        .collect()
}

/// The blocks named by `paths` (block folders or folders of them), or the `workloads` at
/// `gas` (default 30M) when any are given.
pub(crate) fn targets(
    paths: &[PathBuf],
    workloads: &[String],
    gas: Option<&str>,
) -> Result<Vec<(String, parevm::Block, InMemoryState)>, String> {
    if !workloads.is_empty() {
        let gas = gas.map(crate::bench::parse_gas).transpose()?;
        return workloads
            .iter()
            .map(|w| {
                let kind =
                    WorkloadKind::parse(w).ok_or_else(|| format!("unknown workload {w:?}"))?;
                let spec = WorkloadSpec {
                    kind,
                    gas_target: gas.unwrap_or(30_000_000),
                    accounts: 100_000,
                    hot_ratio: 0.0,
                    seed: 1,
                };
                let (block, state) = workload::generate(&spec);
                Ok((spec.label(), block, state))
            })
            .collect();
    }
    if paths.is_empty() {
        return Err("give block folders or --workload".into());
    }
    let mut all = Vec::new();
    for path in paths {
        for folder in BlockFolder::discover(path).map_err(|e| e.to_string())? {
            let (block, state) = folder.open().map_err(|e| e.to_string())?;
            all.push((folder.name(), block, state));
        }
    }
    Ok(all)
}

fn predict_all(args: &PredictArgs) -> Result<(), String> {
    let predictors = predictors(args)?;
    let workers = Workers::new(args.threads).map_err(|e| e.to_string())?;
    let wants_list = predictors.iter().any(|p| p.name() == "bal");
    let mut rows = Vec::new();
    for (name, mut block, state) in targets(&args.paths, &args.workloads, args.gas.as_deref())? {
        if wants_list && block.access_list.is_none() {
            // (A block without its list gets the one sequential execution builds.)
            block.record_access = true;
            let out = Engine::new(1)
                .and_then(|e| e.execute(&block, &state, &Sequential))
                .map_err(|e| format!("{name}: {e}"))?;
            block.set_access_list(bal::build(&block, &state, &out)?);
        }
        let found = measure::measure(&name, &block, &state, &predictors, &workers)
            .map_err(|e| format!("{name}: {e}"))?;
        rows.extend(found);
    }
    let mut all = rows.clone();
    if rows
        .iter()
        .map(|r| &r.target)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1
    {
        all.extend(measure::aggregate(&rows));
    }
    print!("{}", measure::table(&all));
    if let Some(path) = &args.json {
        let mut doc = measure::to_json(&all);
        doc["parevm_version"] = env!("CARGO_PKG_VERSION").into();
        doc["date"] = crate::bench::utc_now().into();
        doc["machine"] = serde_json::json!({
            "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
        });
        doc["command"] = crate::bench::command_line().into();
        let text = serde_json::to_string_pretty(&doc).expect("json");
        std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
