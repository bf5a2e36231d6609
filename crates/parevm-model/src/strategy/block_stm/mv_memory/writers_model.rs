//! The lowest-writer tables under shuttle: writers of three locations that share one bucket
//! (so that it turns shared mid-run) mark it concurrently with readers asking about it.
//!
//! The property (the tables' module docs argue it): an answer "no transaction below `i` ever
//! wrote the location" is never given once a mark of that location by a transaction below
//! `i` has completed. Completion is published by each writer, after its mark, through a flag;
//! a reader snapshots the flags before asking, and every flag it saw set must be reflected.

use super::writers::LowestWriters;
use shuttle::sync::{
    Arc,
    atomic::{AtomicBool, Ordering::SeqCst},
};

/// The hash of a location in bucket `bucket` with fingerprint bytes `f` (low byte and top
/// byte of the hash: see the tables' `fingerprint`).
fn hash(bucket: u64, f: u16) -> u64 {
    u64::from(f >> 8) << 56 | bucket << 8 | u64::from(f & 0xff)
}

/// Three locations in bucket 3, their writers (transaction, whether in full).
const LOCATIONS: [u16; 3] = [0x0101, 0x0202, 0x0303];
const WRITES: [(usize, usize, bool); 5] = [
    (0, 4, true),
    (1, 2, false),
    (2, 6, true),
    (0, 1, false),
    (1, 7, true),
];

fn run(readers: usize) {
    let w = Arc::new(LowestWriters::new(8, 0));
    let done: Arc<Vec<AtomicBool>> =
        Arc::new(WRITES.iter().map(|_| AtomicBool::new(false)).collect());
    let mut handles = Vec::new();
    // Two writer threads share the writes.
    for part in 0..2 {
        let (w, done) = (w.clone(), done.clone());
        handles.push(shuttle::thread::spawn(move || {
            for (n, &(loc, tx, full)) in WRITES.iter().enumerate() {
                if n % 2 == part {
                    w.mark(hash(3, LOCATIONS[loc]), tx, full);
                    done[n].store(true, SeqCst);
                }
            }
        }));
    }
    for r in 0..readers {
        let (w, done) = (w.clone(), done.clone());
        handles.push(shuttle::thread::spawn(move || {
            for round in 0..3 {
                let loc = (r + round) % LOCATIONS.len();
                let h = hash(3, LOCATIONS[loc]);
                let seen: Vec<bool> = done.iter().map(|d| d.load(SeqCst)).collect();
                for i in 0..=8 {
                    let must_be_written = WRITES
                        .iter()
                        .zip(&seen)
                        .any(|(&(l, tx, _), &s)| s && l == loc && tx < i);
                    if must_be_written {
                        assert!(w.maybe_written_below(h, i), "location {loc} below {i}");
                    }
                    let must_be_full = WRITES
                        .iter()
                        .zip(&seen)
                        .any(|(&(l, tx, full), &s)| s && full && l == loc && tx < i);
                    if must_be_full {
                        assert!(
                            !w.never_fully_written_below(h, i),
                            "location {loc} below {i}"
                        );
                    }
                }
            }
        }));
    }
    for h in handles {
        h.join().expect("no panic");
    }
    // Once all marks are in: written below anything above each location's lowest writer.
    for (loc, &f) in LOCATIONS.iter().enumerate() {
        let lowest = WRITES
            .iter()
            .filter(|w| w.0 == loc)
            .map(|w| w.1)
            .min()
            .expect("written");
        for i in 0..=8 {
            if i > lowest {
                assert!(w.maybe_written_below(hash(3, f), i));
            }
        }
    }
}

#[test]
fn concurrent_marks_are_never_missed_by_readers() {
    shuttle::check_random(|| run(1), 2_000);
    shuttle::check_pct(|| run(2), 2_000, 3);
}
