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

/// The fixtures folder for `test`. Without it the test fails, naming the folder it looked for,
/// unless `PAREVM_SKIP_FIXTURES` is set: then it returns `None` after saying on stderr that
/// the test is skipped. (A skip that passes silently would let a run without fixtures look
/// like a run with them.)
pub fn fixtures_or_skip(test: &str) -> Option<PathBuf> {
    let looked = match std::env::var_os("PAREVM_FIXTURES") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    };
    let skip = std::env::var_os("PAREVM_SKIP_FIXTURES").is_some();
    match missing_fixtures(test, fixtures_dir(), &looked, skip) {
        Ok(dir) => dir,
        Err(message) => panic!("{message}"),
    }
}

/// What [`fixtures_or_skip`] does with `found` (the folder, if it exists at `looked`): the
/// folder; or, when it is missing, `None` after a note on stderr if `skip`, else the failure
/// message.
fn missing_fixtures(
    test: &str,
    found: Option<PathBuf>,
    looked: &std::path::Path,
    skip: bool,
) -> Result<Option<PathBuf>, String> {
    match found {
        Some(dir) => Ok(Some(dir)),
        None if skip => {
            eprintln!(
                "{test}: SKIPPED: fixtures folder {} not found",
                looked.display()
            );
            Ok(None)
        }
        None => Err(format!(
            "{test}: fixtures folder {} not found: put the fixtures there, point \
             PAREVM_FIXTURES at them, or set PAREVM_SKIP_FIXTURES=1 to skip the tests that need them",
            looked.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fixtures_fail_naming_the_folder_unless_skipped() {
        let looked = std::path::Path::new("/nowhere/fixtures");
        let err = missing_fixtures("t", None, looked, false).unwrap_err();
        assert!(
            err.contains("/nowhere/fixtures") && err.contains("PAREVM_SKIP_FIXTURES"),
            "{err}"
        );
        assert_eq!(missing_fixtures("t", None, looked, true), Ok(None));
        let found = Some(PathBuf::from("/here"));
        assert_eq!(
            missing_fixtures("t", found.clone(), looked, false),
            Ok(found)
        );
    }
}
