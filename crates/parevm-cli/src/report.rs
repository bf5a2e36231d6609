//! `parevm report`: the results page (`docs/RESULTS.md`), its charts and the README's results
//! table, rendered from committed `parevm bench --json` files by `parevm::report`.

use clap::Args;
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

/// Arguments of `parevm report`.
#[derive(Args)]
pub(crate) struct ReportArgs {
    /// Bench JSON files, the main sweep first (default: docs/bench*.json, bench.json first).
    json: Vec<PathBuf>,
    /// The results page to write; each file's chart goes beside it as <file stem>.svg.
    #[arg(long, default_value = "docs/RESULTS.md")]
    out: PathBuf,
    /// Also rewrite the results table of this README (between its
    /// `<!-- results:begin -->` and `<!-- results:end -->` lines) from the first file.
    #[arg(long)]
    readme: Option<PathBuf>,
}

pub(crate) fn run(args: ReportArgs) -> ExitCode {
    match report(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(crate::EXIT_INPUT)
        }
    }
}

fn report(args: &ReportArgs) -> Result<(), String> {
    let files = if args.json.is_empty() {
        parevm::report::bench_files(Path::new("docs"))
            .map_err(|e| format!("{e} (run from the repository, or name the JSON files)"))?
    } else {
        args.json.clone()
    };
    if files.is_empty() {
        return Err("no bench JSON files given or found under docs/".into());
    }
    let docs = parevm::report::load_all(&files)?;
    let dir = args.out.parent().unwrap_or(Path::new("."));
    for (stem, doc) in &docs {
        let svg = dir.join(format!("{stem}.svg"));
        crate::chart::speedup_chart(&svg, &doc.results)
            .map_err(|e| format!("cannot write {}: {e}", svg.display()))?;
        println!("wrote {}", svg.display());
    }
    let predictions =
        parevm::report::predict_files(dir).and_then(|files| parevm::report::predictions(&files))?;
    let profiles = parevm::report::profile_files(dir)
        .and_then(|files| parevm::report::load_profiles(&files))?;
    for (stem, doc) in &profiles {
        let svg = dir.join(format!("{stem}.svg"));
        let chart = crate::chart::projection_chart(doc)?;
        std::fs::write(&svg, chart).map_err(|e| format!("cannot write {}: {e}", svg.display()))?;
        println!("wrote {}", svg.display());
    }
    let chains =
        parevm::report::chain_files(dir).and_then(|files| parevm::report::chains(&files))?;
    let page =
        parevm::report::page(&docs) + &predictions + &parevm::report::profiles(&profiles) + &chains;
    std::fs::write(&args.out, page)
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    println!("wrote {}", args.out.display());
    if let Some(path) = &args.readme {
        let readme =
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let table = parevm::report::readme_results(&docs[0].1);
        let with = parevm::report::splice_readme(&readme, &table)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::write(path, with).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote the results table of {}", path.display());
    }
    Ok(())
}
