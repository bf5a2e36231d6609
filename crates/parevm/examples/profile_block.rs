//! Executes one block many times with one strategy (for profilers).
//!
//! `profile_block <block folder | workload name> [strategy] [threads] [iterations] [gas]`

use parevm::sources::workload::{self, WorkloadKind, WorkloadSpec};

#[path = "../benches/support/allocator.rs"]
mod allocator;

fn main() {
    allocator::configure();
    let args: Vec<String> = std::env::args().collect();
    let what = args
        .get(1)
        .expect("usage: profile_block <block folder | workload> [strategy] [threads] [iterations]");
    let name = args.get(2).map_or("sequential", |s| s.as_str());
    // `block-stm-speculative`: Block-STM's machinery even on one thread (its pure overhead).
    let strategy = parevm::strategy::by_name(name).expect("strategy");
    let threads: usize = args.get(3).map_or(1, |s| s.parse().expect("threads"));
    let iters: usize = args.get(4).map_or(200, |s| s.parse().expect("iterations"));
    let gas: u64 = args.get(5).map_or(30_000_000, |s| s.parse().expect("gas"));
    let (block, state) = match WorkloadKind::parse(what) {
        Some(kind) => workload::generate(&WorkloadSpec::new(kind, gas)),
        None => parevm::sources::rpc::BlockFolder { dir: what.into() }
            .load(&parevm::ChainSpec::mainnet())
            .expect("load"),
    };
    // One untimed run first: the first block faults in (and zeroes) the memory later blocks
    // reuse, which would otherwise dominate short profiles.
    let engine = parevm::Engine::new(threads).expect("threads");
    let first = engine.execute(&block, &state, strategy).expect("execute");
    eprintln!("first run: {:?}", first.stats);
    // Timed like `parevm bench`: the execution only, not dropping its output; medians.
    let (mut times, starts): (Vec<std::time::Duration>, Vec<(u64, u64)>) = (0..iters)
        .map(|_| {
            let start = std::time::Instant::now();
            let out = engine.execute(&block, &state, strategy).expect("execute");
            let took = start.elapsed();
            let how = (out.stats.fallbacks, out.stats.sequential_start);
            std::hint::black_box(out);
            (took, how)
        })
        .unzip();
    if std::env::var_os("PROFILE_BLOCK_ALL").is_some() {
        // Every run's time in order (to see whether a process's runs drift or switch modes),
        // with how it ran: `seq` when it ran sequentially (a fallback), else `+k` after a
        // sequential start of k transactions.
        let ms: Vec<String> = times
            .iter()
            .zip(&starts)
            .map(|(t, &(fallbacks, k))| {
                let how = if fallbacks > 0 {
                    "seq".into()
                } else {
                    format!("+{k}")
                };
                format!("{:.3}{how}", t.as_secs_f64() * 1e3)
            })
            .collect();
        eprintln!("runs (ms): {}", ms.join(" "));
    }
    times.sort();
    eprintln!("{:?} per block (median)", times[times.len() / 2]);
}
