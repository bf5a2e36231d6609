//! The results page and the README's results table are exactly what `parevm report` makes of
//! the committed bench and predict JSON: no figure is copied by hand.

use parevm::report;
use std::path::Path;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn the_committed_results_page_is_generated_from_the_committed_json() {
    let files = report::bench_files(&repo().join("docs")).unwrap();
    assert!(!files.is_empty(), "no bench JSON under docs/");
    let docs = report::load_all(&files).unwrap();
    let page = std::fs::read_to_string(repo().join("docs/RESULTS.md")).unwrap();
    let predictions = report::predict_files(&repo().join("docs")).unwrap();
    let profiles = report::profile_files(&repo().join("docs")).unwrap();
    let profiles = report::load_profiles(&profiles).unwrap();
    let expected = report::page(&docs)
        + &report::predictions(&predictions).unwrap()
        + &report::profiles(&profiles)
        + &report::chains(&report::chain_files(&repo().join("docs")).unwrap()).unwrap();
    assert!(
        page == expected,
        "docs/RESULTS.md differs from the committed JSON's: run `parevm report --readme README.md`"
    );
    let stems = docs
        .iter()
        .map(|d| &d.0)
        .chain(profiles.iter().map(|p| &p.0));
    for stem in stems {
        assert!(
            repo().join(format!("docs/{stem}.svg")).is_file(),
            "docs/{stem}.svg missing"
        );
    }
}

#[test]
fn the_readme_table_is_generated_from_the_main_sweep() {
    let doc = report::load(&repo().join("docs/bench.json")).unwrap();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let expected = report::splice_readme(&readme, &report::readme_results(&doc)).unwrap();
    assert!(
        readme == expected,
        "README.md's results table differs from docs/bench.json's: run `parevm report --readme README.md`"
    );
    let lines = readme.lines().count();
    assert!(lines <= 200, "README.md has {lines} lines");
}
