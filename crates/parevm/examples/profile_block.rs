//! Executes one fixture block many times with the sequential strategy (for profilers).

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: profile_block <block folder> [iterations]");
    let iters: usize = std::env::args()
        .nth(2)
        .map_or(200, |s| s.parse().expect("iterations"));
    let folder = parevm::sources::rpc::BlockFolder { dir: dir.into() };
    let (block, state) = folder.load(&parevm::ChainSpec::mainnet()).expect("load");
    for _ in 0..iters {
        let out =
            parevm::execute_block(&block, &state, &parevm::strategy::sequential::Sequential, 1)
                .expect("execute");
        std::hint::black_box(out);
    }
}
