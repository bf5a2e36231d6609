//! `parevm statetest` and `parevm blocktest`: run the Ethereum test suites through the engine.

use crate::replay::strategies;
use clap::Args;
use parevm::{
    Engine,
    conformance::{CaseResult, Outcome, Summary, blocktest, json_files, statetest},
    error::LoadError,
    strategy::Strategy,
};
use rayon::prelude::*;
use std::{path::PathBuf, process::ExitCode};

/// Arguments shared by `statetest` and `blocktest`.
#[derive(Args)]
pub(crate) struct SuiteArgs {
    /// Test files or folders of test files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    run: crate::replay::RunArgs,
    /// Write every case's verdict to this JSON file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Which suite.
#[derive(Clone, Copy)]
pub(crate) enum Suite {
    State,
    Blockchain,
}

pub(crate) fn run(suite: Suite, args: SuiteArgs) -> ExitCode {
    let strategies = match strategies(&args.run.strategy, args.run.hints.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(crate::EXIT_INPUT);
        }
    };
    let mut files = Vec::new();
    for p in &args.paths {
        match json_files(p) {
            Ok(f) => files.extend(f),
            Err(e) => {
                eprintln!("error: {}: {e}", p.display());
                return ExitCode::from(crate::EXIT_INPUT);
            }
        }
    }
    let bar = crate::progress((files.len() * strategies.len()) as u64, "files");
    // (One engine for the files run at once: their blocks share its helper threads.)
    let engine = match Engine::new(args.run.threads) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut summary = Summary::default();
    let mut all_cases: Vec<(String, CaseResult)> = Vec::new();
    for strategy in &strategies {
        let per_file: Vec<(PathBuf, Result<Vec<CaseResult>, LoadError>)> = files
            .par_iter()
            .map(|f| {
                let r = run_file(suite, f, *strategy, &engine);
                bar.inc(1);
                (f.clone(), r)
            })
            .collect();
        for (_, result) in per_file {
            match result {
                Ok(cases) => {
                    for case in cases {
                        summary.add(&case.outcome);
                        if let Outcome::Failed(why) = &case.outcome {
                            bar.suspend(|| {
                                println!("FAIL [{}] {}: {why}", strategy.name(), case.name)
                            });
                        }
                        all_cases.push((strategy.name().to_string(), case));
                    }
                }
                Err(e) => {
                    summary.failed += 1;
                    bar.suspend(|| println!("ERROR [{}] {e}", strategy.name()));
                }
            }
        }
    }
    bar.finish_and_clear();
    if let Some(path) = &args.json {
        let cases: Vec<_> = all_cases
            .iter()
            .map(|(s, c)| serde_json::json!({"strategy": s, "case": c.name, "result": c.outcome}))
            .collect();
        let doc = serde_json::json!({"summary": summary, "cases": cases});
        if let Err(e) = std::fs::write(path, serde_json::to_string_pretty(&doc).expect("json")) {
            eprintln!("error: cannot write {}: {e}", path.display());
        }
    }
    println!("{}", summary.line());
    if summary.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn run_file(
    suite: Suite,
    file: &std::path::Path,
    strategy: &dyn Strategy,
    engine: &Engine,
) -> Result<Vec<CaseResult>, LoadError> {
    match suite {
        Suite::State => statetest::run_file(file, strategy, engine),
        Suite::Blockchain => blocktest::run_file(file, strategy, engine),
    }
}
