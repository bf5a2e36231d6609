//! Conformance: the Ethereum state tests and blockchain tests, run through parevm's own block
//! executor with any registered strategy.
//!
//! Every case becomes an ordinary [`crate::Block`] executed by [`crate::execute_block`], so
//! passing these suites proves the strategy, not a separate revm loop. Cases revm itself cannot
//! represent are skipped by [`skip`], the one place that lists them, each with its reason.

pub mod blocktest;
pub mod skip;
pub mod statetest;

use serde::Serialize;
use std::path::{Path, PathBuf};

/// The verdict on one test case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "lowercase")]
pub enum Outcome {
    /// Everything matched.
    Passed,
    /// Something differed or failed; the message says what.
    Failed(String),
    /// Not run, with the reason from the skip list.
    Skipped(String),
}

/// One case and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// File, test name and case (fork and indexes, or block).
    pub name: String,
    /// The verdict.
    pub outcome: Outcome,
}

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed, plus files that could not be read.
    pub failed: usize,
    /// Cases skipped by the skip list.
    pub skipped: usize,
}

impl Summary {
    /// Adds one case.
    pub fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed(_) => self.failed += 1,
            Outcome::Skipped(_) => self.skipped += 1,
        }
    }

    /// The summary line: exactly `N passed, M failed, K skipped`.
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// Reads a test file: its name (for case labels) and its object of tests.
pub(crate) fn read_tests(
    path: &Path,
) -> Result<(String, serde_json::Map<String, serde_json::Value>), crate::error::LoadError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match crate::sources::json::read_json(path)? {
        serde_json::Value::Object(tests) => Ok((file_name, tests)),
        _ => Err(crate::error::LoadError::invalid(
            path,
            "expected an object of tests",
        )),
    }
}

/// All `.json` files under `path` (or `path` itself), sorted.
pub fn json_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}
