//! `parevm bal`: a block's EIP-7928 access list, built from its sequential execution, and the
//! post-block state a list implies without executing.

use clap::Subcommand;
use parevm::{
    Engine, bal,
    sources::rpc::BlockFolder,
    state::{InMemoryState, StateView},
    strategy::sequential::Sequential,
};
use std::{path::PathBuf, process::ExitCode};

/// What `parevm bal` does.
#[derive(Subcommand)]
pub(crate) enum BalCommand {
    /// Execute block folders sequentially and build each one's access list; prints its
    /// accounts, slots, writes, RLP bytes and hash.
    Build {
        /// Block folders (block.json + prestate.json), or folders of them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Write the list (the fixtures' JSON shape) here: the list itself for one block, an
        /// object keyed by block number for several.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compute a block folder's post-block state from its pre-state and an access list alone,
    /// without executing, and print its root (over the pre-state's accounts and the list's).
    Apply {
        /// One block folder.
        path: PathBuf,
        /// The list: a file `parevm bal build --out` wrote (for this block).
        #[arg(long)]
        bal: PathBuf,
    },
}

pub(crate) fn run(command: BalCommand) -> ExitCode {
    let result = match command {
        BalCommand::Build { paths, out } => build(&paths, out.as_ref()),
        BalCommand::Apply { path, bal } => apply(&path, &bal),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(crate::EXIT_INPUT)
        }
    }
}

/// Every block folder under `paths`, loaded.
fn load_all(paths: &[PathBuf]) -> Result<Vec<(String, parevm::Block, InMemoryState)>, String> {
    let mut blocks = Vec::new();
    for path in paths {
        for folder in BlockFolder::discover(path).map_err(|e| e.to_string())? {
            let (block, state) = folder.open().map_err(|e| e.to_string())?;
            blocks.push((folder.name(), block, state));
        }
    }
    Ok(blocks)
}

fn build(paths: &[PathBuf], out: Option<&PathBuf>) -> Result<ExitCode, String> {
    let engine = Engine::new(1).map_err(|e| e.to_string())?;
    let mut lists = serde_json::Map::new();
    let mut failed = false;
    for (name, mut block, state) in load_all(paths)? {
        block.record_access = true;
        let list = engine
            .execute(&block, &state, &Sequential)
            .map_err(|e| e.to_string())
            .and_then(|output| bal::build(&block, &state, &output));
        match list {
            Ok(list) => {
                let s = bal::Summary::of(&list);
                println!(
                    "{name}: {} accounts, {} slots, {} writes, {} RLP bytes, hash {}",
                    s.accounts, s.slots, s.writes, s.rlp_bytes, s.hash
                );
                lists.insert(block.number().to_string(), bal::to_json(&list));
            }
            Err(e) => {
                println!("{name}: FAIL {e}");
                failed = true;
            }
        }
    }
    if let Some(path) = out {
        let doc = match lists.len() {
            1 => lists.into_iter().next().map(|(_, v)| v).unwrap_or_default(),
            _ => serde_json::Value::Object(lists),
        };
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Reads the list of `block` from `path`: a list, or an object keyed by block number.
pub(crate) fn read_list(
    path: &PathBuf,
    block: &parevm::Block,
) -> Result<bal::BlockAccessList, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let list = match &doc {
        serde_json::Value::Object(by_number) => by_number
            .get(&block.number().to_string())
            .ok_or_else(|| format!("{}: no list for block {}", path.display(), block.number()))?,
        _ => &doc,
    };
    bal::from_json(list, block.transactions.len()).map_err(|e| format!("{}: {e}", path.display()))
}

fn apply(path: &PathBuf, list: &PathBuf) -> Result<ExitCode, String> {
    let mut blocks = load_all(std::slice::from_ref(path))?;
    if blocks.len() != 1 {
        return Err(format!(
            "{}: {} blocks, not one",
            path.display(),
            blocks.len()
        ));
    }
    let (name, block, mut state) = blocks.remove(0);
    let list = read_list(list, &block)?;
    let changes = bal::apply(&state as &dyn StateView, &list, block.fork)?;
    state.apply(&changes);
    println!(
        "{name}: {} accounts changed; state root {} (the pre-state's accounts with the list applied)",
        changes.len(),
        state.state_root()
    );
    Ok(ExitCode::SUCCESS)
}
