//! Crash safety of `parevm chain run`: killed with SIGKILL at pseudo-random points (while the
//! store is created, while blocks execute and commit), the store always reopens at its last
//! committed block, `chain verify` passes, and the run resumes to the root of a run never
//! interrupted.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_parevm");

/// The chain every run executes.
const CHAIN: [&str; 8] = [
    "--synthetic",
    "transfers",
    "--count",
    "40",
    "--gas",
    "2M",
    "--threads",
    "2",
];

fn run_args(dir: &Path) -> Vec<String> {
    let mut args = vec!["chain".to_string(), "run".into(), dir.display().to_string()];
    args.extend(CHAIN.iter().map(|s| s.to_string()));
    args
}

/// `chain info`'s state root line.
fn root(dir: &Path) -> String {
    let out = Command::new(BIN)
        .args(["chain", "info"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .find(|l| l.starts_with("state root"))
        .unwrap()
        .to_string()
}

#[test]
fn killed_runs_resume_to_the_root_of_an_uninterrupted_one() {
    let base = std::env::temp_dir().join(format!("parevm-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (whole, killed) = (base.join("whole"), base.join("killed"));
    let status = Command::new(BIN)
        .args(run_args(&whole))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let expected = root(&whole);

    // Rounds from an empty directory, each killed at pseudo-random points until a run
    // finishes; stops after enough kills (or the time budget).
    let budget = Duration::from_secs(100);
    let started = Instant::now();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let (mut kills, mut resumed) = (0, 0);
    while kills < 20 && started.elapsed() < budget {
        let _ = std::fs::remove_dir_all(&killed);
        let mut killed_this_round = 0;
        loop {
            let mut child = Command::new(BIN)
                .args(run_args(&killed))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let deadline = Instant::now() + Duration::from_millis(150 + seed % 1_500);
            // (Late in a round, or of the budget, the run is let finish.)
            let spare = killed_this_round >= 6 || started.elapsed() > budget;
            let finished = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break Some(status);
                }
                if Instant::now() >= deadline && !spare {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(2));
            };
            if let Some(status) = finished {
                let err = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
                assert!(status.success(), "the resumed run failed: {err}");
                break;
            }
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
            killed_this_round += 1;
            if killed.join("state.redb").exists() {
                let v = Command::new(BIN)
                    .args(["chain", "verify"])
                    .arg(&killed)
                    .output()
                    .unwrap();
                assert!(
                    v.status.success(),
                    "after kill {kills}: {}{}",
                    String::from_utf8_lossy(&v.stdout),
                    String::from_utf8_lossy(&v.stderr)
                );
            }
        }
        assert_eq!(root(&killed), expected, "after {killed_this_round} kills");
        resumed += usize::from(killed_this_round > 0);
    }
    assert!(
        kills >= 10 && resumed > 0,
        "{kills} kills, {resumed} resumed rounds"
    );
    eprintln!("survived {kills} kills; {resumed} rounds resumed to the same root");
    let _ = std::fs::remove_dir_all(&base);
}
