//! `parevm fetch`: blocks and their pre-states from a node into block folders, and the node
//! options `replay --rpc` shares.

use clap::Args;
use parevm::{
    ChainSpec,
    chain::Fork,
    sources::remote::{
        Node, Options, RpcError,
        fetch::{self, PrestateSource},
    },
    sources::rpc::chain_for,
};
use std::{ops::RangeInclusive, path::PathBuf, process::ExitCode, time::Duration};

/// Arguments of `parevm fetch`.
#[derive(Args)]
pub(crate) struct FetchArgs {
    /// The node's JSON-RPC endpoint (http:// or https://).
    #[arg(long, value_name = "URL")]
    rpc: String,
    /// A block number, or an inclusive range `N..M`; `latest` stands for the node's newest
    /// block (`latest`, `N..latest`).
    #[arg(long, value_name = "N[..M]", value_parser = blocks)]
    block: Blocks,
    /// The folder to write into (created if missing; fetched blocks are added to it).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Where pre-states come from: `tracer` (debug_traceBlockByNumber with the
    /// prestateTracer), `execute` (executing the block against the parent block's state, read
    /// with eth_getBalance, eth_getTransactionCount, eth_getCode, eth_getStorageAt), or
    /// `auto` (the tracer when the node serves it and its pre-state reproduces the header).
    #[arg(long, default_value = "auto", value_parser = prestate_source)]
    prestate: PrestateSource,
    #[command(flatten)]
    node: NodeArgs,
}

/// How to reach a node and which chain it must serve.
#[derive(Args)]
pub(crate) struct NodeArgs {
    /// The chain id the node must report (1 is mainnet, whose fork schedule parevm knows;
    /// other chains need --fork).
    #[arg(long, default_value_t = 1)]
    chain_id: u64,
    /// The fork every block of a chain other than mainnet runs (Cancun, Prague, ...).
    #[arg(long)]
    fork: Option<String>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = Options::default().concurrency, value_parser = at_least_one)]
    concurrency: usize,
    /// Attempts per request on timeouts, refused connections, HTTP 408, 429 and 5xx.
    #[arg(long, default_value_t = Options::default().attempts)]
    attempts: u32,
    /// The wait before the first retry, in milliseconds; it doubles with each retry.
    #[arg(long, default_value_t = Options::default().backoff.as_millis() as u64)]
    backoff_ms: u64,
    /// Seconds one attempt may take.
    #[arg(long, default_value_t = Options::default().timeout.as_secs())]
    timeout: u64,
}

impl NodeArgs {
    /// The fork of `--fork`.
    fn fork(&self) -> Result<Option<Fork>, String> {
        let Some(name) = &self.fork else {
            return Ok(None);
        };
        Fork::from_test_name(name).map(Some).ok_or_else(|| {
            format!("unknown fork {name:?} (Frontier, Homestead, ... Cancun, Prague, Osaka)")
        })
    }

    /// The chain rules these arguments name.
    pub(crate) fn chain(&self) -> Result<ChainSpec, String> {
        chain_for(self.chain_id, self.fork()?)
    }

    /// Connects to `url`, checking its chain id.
    pub(crate) fn connect(&self, url: &str) -> Result<Node, RpcError> {
        let options = Options {
            concurrency: self.concurrency,
            attempts: self.attempts.max(1),
            backoff: Duration::from_millis(self.backoff_ms),
            timeout: Duration::from_secs(self.timeout.max(1)),
        };
        Node::connect(url, Some(self.chain_id), options)
    }
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) | Err(_) => Err(format!("{s:?} is not a positive count")),
        Ok(n) => Ok(n),
    }
}

/// One end of `--block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// A block number.
    Number(u64),
    /// The node's newest block.
    Latest,
}

/// `--block`: an inclusive range whose ends may be `latest`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Blocks(End, End);

impl Blocks {
    /// The block numbers, `latest` asked of `node`.
    fn resolve(self, node: &Node) -> Result<RangeInclusive<u64>, String> {
        let mut latest = None;
        let mut number = |end| -> Result<u64, String> {
            match end {
                End::Number(n) => Ok(n),
                End::Latest => match latest {
                    Some(n) => Ok(n),
                    None => {
                        let n = node.latest().map_err(|e| e.to_string())?;
                        latest = Some(n);
                        Ok(n)
                    }
                },
            }
        };
        let (a, b) = (number(self.0)?, number(self.1)?);
        if b < a {
            return Err(format!("the range {a}..{b} is empty"));
        }
        Ok(a..=b)
    }
}

/// Parses `N`, `N..M` (inclusive), with `latest` for either.
pub(crate) fn blocks(s: &str) -> Result<Blocks, String> {
    let end = |t: &str| match t.trim() {
        "latest" => Ok(End::Latest),
        t => t
            .parse::<u64>()
            .map(End::Number)
            .map_err(|_| format!("{t:?} is not a block number or `latest`")),
    };
    let (a, b) = match s.split_once("..") {
        None => (end(s)?, end(s)?),
        Some((a, b)) => (end(a)?, end(b.trim_start_matches('='))?),
    };
    if let (End::Number(a), End::Number(b)) = (a, b)
        && b < a
    {
        return Err(format!("the range {s} is empty ({b} < {a})"));
    }
    if let (End::Latest, End::Number(_)) = (a, b) {
        return Err(format!(
            "the range {s} starts at the newest block: use N..latest"
        ));
    }
    Ok(Blocks(a, b))
}

fn prestate_source(s: &str) -> Result<PrestateSource, String> {
    match s {
        "auto" => Ok(PrestateSource::Auto),
        "tracer" => Ok(PrestateSource::Tracer),
        "execute" => Ok(PrestateSource::Execute),
        _ => Err(format!("{s:?}: expected auto, tracer or execute")),
    }
}

pub(crate) fn run(args: FetchArgs) -> ExitCode {
    let chain = match args.node.chain() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(crate::EXIT_INPUT);
        }
    };
    let node = match args.node.connect(&args.rpc) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let fork = args.node.fork().ok().flatten();
    if let Err(e) = parevm::sources::rpc::write_chain(&args.out, args.node.chain_id, fork) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let range = match args.block.resolve(&node) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bar = crate::progress(range.clone().count() as u64, "blocks");
    for number in range {
        let mut notice = |m: &str| bar.suspend(|| eprintln!("note: {m}"));
        let written = fetch::fetch_block(&node, number, &chain, args.prestate, &mut notice)
            .and_then(|f| fetch::write_folder(&args.out, &f).map(|dir| (f, dir)));
        match written {
            Ok((f, dir)) => {
                let (accounts, slots) = f.prestate.size();
                bar.suspend(|| {
                    println!(
                        "{}: {} txs, pre-state {} ({accounts} accounts, {slots} slots), {} \
                         block hashes",
                        dir.display(),
                        f.transactions,
                        f.via.name(),
                        f.hashes.len()
                    )
                });
            }
            Err(e) => {
                bar.finish_and_clear();
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    ExitCode::SUCCESS
}
