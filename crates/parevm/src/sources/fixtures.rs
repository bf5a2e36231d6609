//! Where the shared test fixtures live: `$PAREVM_FIXTURES`, else `../shared/fixtures` beside
//! the workspace.

use std::path::PathBuf;

/// The fixtures folder, if it exists.
pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("PAREVM_FIXTURES") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    };
    dir.is_dir().then_some(dir)
}

/// The fixtures folder, or `None` after printing why tests are skipped. Panics instead when
/// `CI` or `PAREVM_REQUIRE_FIXTURES` is set: CI always has the fixtures, so their absence
/// there is a failure, not a skip.
pub fn fixtures_or_skip(test: &str) -> Option<PathBuf> {
    let dir = fixtures_dir();
    if dir.is_none() {
        let required = std::env::var_os("CI").is_some()
            || std::env::var_os("PAREVM_REQUIRE_FIXTURES").is_some();
        assert!(
            !required,
            "{test}: fixtures folder not found (set PAREVM_FIXTURES)"
        );
        eprintln!(
            "{test}: SKIPPED: fixtures folder not found (../shared/fixtures or $PAREVM_FIXTURES)"
        );
    }
    dir
}
