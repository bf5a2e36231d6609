//! Executes one block many times with one strategy (for profilers).
//!
//! `profile_block <block folder | workload name> [strategy] [threads] [iterations]`

use parevm::sources::workload::{self, WorkloadKind, WorkloadSpec};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args
        .get(1)
        .expect("usage: profile_block <block folder | workload> [strategy] [threads] [iterations]");
    let strategy = parevm::strategy::by_name(args.get(2).map_or("sequential", |s| s.as_str()))
        .expect("strategy");
    let threads: usize = args.get(3).map_or(1, |s| s.parse().expect("threads"));
    let iters: usize = args.get(4).map_or(200, |s| s.parse().expect("iterations"));
    let (block, state) = match WorkloadKind::parse(what) {
        Some(kind) => workload::generate(&WorkloadSpec::new(kind, 30_000_000)),
        None => parevm::sources::rpc::BlockFolder { dir: what.into() }
            .load(&parevm::ChainSpec::mainnet())
            .expect("load"),
    };
    for _ in 0..iters {
        let out = parevm::execute_block(&block, &state, strategy, threads).expect("execute");
        std::hint::black_box(out);
    }
}
