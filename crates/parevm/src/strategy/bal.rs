//! Declared access, the Ethereum way: execution from an EIP-7928 block-level access list.
//!
//! A block's access list gives the post-value of every write at every block access index. So
//! transaction `i` (index `i + 1`) can run against the state before the transactions overlaid
//! with the list's writes of lower indices, which is exactly the state sequential execution
//! gives it — *if* the list is right. Every transaction therefore runs at once, with no
//! waiting, no validation rounds and no re-execution (Solana's and Fuel's declared access sets
//! without locks, since the list orders every write).
//!
//! Whether the list is right is checked after the block, for every strategy, by the engine
//! (`Engine::execute`): it builds the list from the outputs and compares. By induction over
//! the block access index, equal lists mean every transaction read the values sequential
//! execution gives it: transaction 0 read the pre-state plus the pre-block writes; if the
//! outputs of transactions below `i` are right, the list built from them has the same writes
//! below `i + 1` as the given one, which is what `i` read. A wrong list (a changed post-value,
//! a missing or extra write or read, a shifted index) rejects the block, naming the step, the
//! account and the slot.
//!
//! A block without a list (any block before Amsterdam) gets one from a sequential pass first,
//! counted in `bal_built`; a validator receives the list with the block, so `parevm bench` and
//! `parevm replay` build it before the clock starts and attach it ([`Block::set_access_list`]).

use super::{Strategy, Workers, sequential};
use crate::{
    bal::{self, Check, Checked, check::Index},
    block::Block,
    core::{TxExecutor, check_block_limits},
    error::ExecError,
    output::{ExecStats, TxOutput},
    state::{AccountInfo, Bytecode, Overlay, RevmDb, StateError, StateView},
};
use alloy_primitives::{Address, B256, U256, map::HashMap};
use parking_lot::Mutex;
use revm::{primitives::KECCAK_EMPTY, state::bal::BlockAccessIndex};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Execution from a block-level access list.
#[derive(Debug, Clone, Copy)]
pub struct BalStrategy;

/// Transactions per chunk a worker claims at once.
const CHUNK: usize = 8;

impl Strategy for BalStrategy {
    fn name(&self) -> &'static str {
        "bal"
    }

    fn description(&self) -> &'static str {
        "every transaction at once from the block's EIP-7928 access list (declared access)"
    }

    fn executes_from_access_list(&self) -> bool {
        true
    }

    fn execute_transactions(
        &self,
        block: &Block,
        state: &mut Overlay<'_>,
        workers: &Workers,
        stats: &mut ExecStats,
    ) -> Result<Vec<TxOutput>, ExecError> {
        run(block, state, workers, stats, None).map(|(outputs, _)| outputs)
    }

    fn execute_listed(
        &self,
        block: &Block,
        state: &mut Overlay<'_>,
        workers: &Workers,
        stats: &mut ExecStats,
        check: &Check<'_>,
    ) -> Result<(Vec<TxOutput>, Checked), ExecError> {
        run(block, state, workers, stats, Some(check))
    }
}

/// What the workers check of a block that came with a list, as they run its transactions.
struct Listed<'a> {
    check: Option<&'a Check<'a>>,
    /// Whether every transaction checked so far agrees with the list.
    agree: AtomicBool,
    /// What the list cannot state (see [`beyond_the_list`]).
    events: Mutex<Vec<(usize, Address)>>,
    pre_161: bool,
}

impl Listed<'_> {
    /// Checks transaction `i`, run on `view` with output `out`.
    fn transaction(&self, view: &View<'_>, i: usize, out: &TxOutput) {
        beyond_the_list(view, i, out, self.pre_161, &self.events);
        let Some(check) = self.check else { return };
        if self.agree.load(Relaxed) {
            let k = i as u64 + 1;
            let ok =
                (out.access.as_ref()).is_some_and(|a| check.step(k, view.base, &out.changes, a));
            if !ok {
                self.agree.store(false, Relaxed);
            }
        }
    }
}

/// Runs every transaction of `block` at once from its list (or one built here), checking each
/// against `check` when the block came with its list.
fn run(
    block: &Block,
    state: &mut Overlay<'_>,
    workers: &Workers,
    stats: &mut ExecStats,
    check: Option<&Check<'_>>,
) -> Result<(Vec<TxOutput>, Checked), ExecError> {
    let n = block.transactions.len();
    let state_clear = block.fork.at_least(crate::Fork::SpuriousDragon);
    let built;
    let writes = match &block.access_list {
        Some(given) => Writes {
            index: given.index().map_err(ExecError::AccessList)?,
            lives: Lives::default(),
        },
        None => {
            built = built_writes(block, state, stats)?;
            Writes {
                index: &built.0,
                lives: built.1,
            }
        }
    };
    let listed = block.access_list.is_some().then(|| Listed {
        check,
        agree: AtomicBool::new(check.is_some()),
        events: Mutex::new(Vec::new()),
        pre_161: !state_clear,
    });
    let results: Vec<Mutex<Option<Result<TxOutput, ExecError>>>> =
        (0..n).map(|_| Mutex::new(None)).collect();
    let chunks: Vec<usize> = (0..n).step_by(CHUNK).collect();
    let base: &dyn StateView = &*state;
    let view = || {
        let at = View {
            writes: &writes,
            base,
            index: BlockAccessIndex::new(1),
            state_clear,
        };
        TxExecutor::new(block, RevmDb(at))
    };
    workers.for_each_chunk(chunks, view, |exec, first| {
        let last = (first + CHUNK).min(n);
        for (i, tx) in (first..last).zip(&block.transactions[first..last]) {
            exec.db_mut().0.index = BlockAccessIndex::new(i as u64 + 1);
            let out = exec.execute(i, tx, 0).map(|(out, _)| out);
            if let (Ok(out), Some(listed)) = (&out, &listed) {
                listed.transaction(&exec.db_mut().0, i, out);
            }
            *results[i].lock() = Some(out);
        }
    });
    stats.executions += n as u64;
    let outputs = in_order(block, state, results)?;
    let mut checked = Checked::Nothing;
    if let Some(listed) = listed {
        refuse_beyond_the_list(listed.events.into_inner(), &outputs)?;
        if listed.agree.into_inner() {
            checked = Checked::Transactions;
        }
    }
    if crate::core::needs_post_transaction_state(block) {
        for out in &outputs {
            state.apply(&out.changes);
        }
    }
    Ok((outputs, checked))
}

/// The outputs in block order with their cumulative gas, or the error of the first
/// transaction that failed or broke the block's limits.
fn in_order(
    block: &Block,
    state: &Overlay<'_>,
    results: Vec<Mutex<Option<Result<TxOutput, ExecError>>>>,
) -> Result<Vec<TxOutput>, ExecError> {
    let (mut gas, mut blob_gas) = (0u64, 0u64);
    let mut outputs = Vec::with_capacity(results.len());
    for (i, slot) in results.into_iter().enumerate() {
        let out = check_block_limits(block, i, gas, blob_gas)
            .and_then(|()| slot.into_inner().expect("every transaction ran"));
        let mut out = match out {
            Ok(out) => out,
            Err(e) => return Err(blame(block, state, &outputs, e)),
        };
        gas += out.gas_used;
        blob_gas += out.blob_gas_used;
        out.receipt.cumulative_gas_used = gas;
        outputs.push(out);
    }
    Ok(outputs)
}

/// The error of the block whose transaction `outputs.len()` failed with `error`: a list
/// mismatch when the list's writes below it are not what the transactions before it wrote
/// (it then ran on a wrong view), its own error otherwise (what sequential execution gives).
fn blame(block: &Block, base: &dyn StateView, outputs: &[TxOutput], error: ExecError) -> ExecError {
    let Some(given) = &block.access_list else {
        return error;
    };
    match bal::writes_of(base, outputs) {
        Err(e) => ExecError::AccessList(e),
        Ok(built) => match bal::first_write_mismatch(given, &built, outputs.len()) {
            Some(mismatch) => ExecError::AccessList(mismatch),
            None => error,
        },
    }
}

/// Notes in `events` each account transaction `i` (its output `out`, run on `view`) did what
/// an EIP-7928 list cannot state to it: deleted an account that existed, wiped its storage, or
/// created an empty account before EIP-161 (`pre_161`). (From Cancun on none can happen.) The
/// view is the state the list gives `i`, which is the block's own if the list is right; if it
/// is not, the block is rejected anyway.
fn beyond_the_list(
    view: &View<'_>,
    i: usize,
    out: &TxOutput,
    pre_161: bool,
    events: &Mutex<Vec<(usize, Address)>>,
) {
    for (address, change) in &out.changes {
        let wipes = change.info.is_none() || change.storage_cleared;
        let empty = change.info == Some((U256::ZERO, 0, KECCAK_EMPTY));
        if !(wipes || pre_161 && empty) {
            continue;
        }
        // (A view that cannot be read counts as existing: the block is then refused.)
        let existed = view.account(*address).map_or(true, |a| a.is_some());
        let beyond = (existed && wipes) || (!existed && pre_161 && empty);
        if beyond {
            events.lock().push((i, *address));
        }
    }
}

/// Refuses a block in which a transaction accessed an account after an earlier one did what
/// the list cannot state to it (`events`, from [`beyond_the_list`]): it ran on a view the list
/// could not make right, which the check against the list would not always see. The error
/// names both, rather than risk a wrong result.
fn refuse_beyond_the_list(
    events: Vec<(usize, Address)>,
    outputs: &[TxOutput],
) -> Result<(), ExecError> {
    let mut first: HashMap<Address, usize> = HashMap::default();
    for (k, a) in events {
        first.entry(a).and_modify(|e| *e = (*e).min(k)).or_insert(k);
    }
    let Some(from) = first.values().min().copied() else {
        return Ok(());
    };
    for (i, out) in outputs.iter().enumerate().skip(from + 1) {
        let accessed = out.access.as_ref().into_iter().flat_map(|a| a.0.keys());
        let mut after = accessed.filter_map(|a| first.get(a).filter(|k| **k < i).map(|k| (a, k)));
        if let Some((a, k)) = after.next() {
            return Err(ExecError::Unsupported(format!(
                "transaction {i} accesses account {a} after transaction {k} deleted it, wiped \
                 its storage or created it empty, which a block access list cannot state: \
                 run the block without its list"
            )));
        }
    }
    Ok(())
}

/// The writes of a block without a list, from a sequential pass over a copy of `state`; with
/// the deletions and storage wipes a list cannot state (it need not from Amsterdam on, see
/// [`crate::bal`]), so that older blocks run exactly too.
fn built_writes(
    block: &Block,
    state: &Overlay<'_>,
    stats: &mut ExecStats,
) -> Result<(Index, Lives), ExecError> {
    stats.count("bal_built", 1);
    let mut copy = Overlay::new(state);
    let mut done = sequential::Progress::default();
    let mut scratch = ExecStats::default();
    sequential::run_while(block, &mut copy, &mut done, &mut scratch, |_| true)?;
    let list = bal::writes_of(state, &done.outputs).map_err(ExecError::AccessList)?;
    let mut lives = Lives::default();
    let mut walk = Overlay::new(state);
    for (i, out) in done.outputs.iter().enumerate() {
        for (address, change) in &out.changes {
            let existed = walk.account_fields(*address)?.is_some();
            let life = match (existed, change.info.is_some()) {
                (true, false) => Some(Life::Deleted),
                (false, true) => Some(Life::Created),
                (true, true) if change.storage_cleared => Some(Life::Wiped),
                _ => None,
            };
            if let Some(life) = life {
                lives
                    .0
                    .entry(*address)
                    .or_default()
                    .push((i as u64 + 1, life));
            }
        }
        walk.apply(&out.changes);
    }
    let index = Index::new(&list, block.transactions.len()).map_err(ExecError::AccessList)?;
    Ok((index, lives))
}

/// What happened to an account at a block access index, beyond what a list states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    /// Deleted (self-destructed, or cleared as empty): it does not exist, its storage is gone.
    Deleted,
    /// Its storage wiped (created over an address with storage).
    Wiped,
    /// Created where no account was (before EIP-161, possibly empty, which a list cannot
    /// tell from absent).
    Created,
}

/// Per account, its [`Life`] events in index order.
#[derive(Debug, Default)]
struct Lives(HashMap<Address, Vec<(u64, Life)>>);

/// A list's writes, indexed for reading, and the deletions and wipes known beyond it.
struct Writes<'a> {
    index: &'a Index,
    lives: Lives,
}

impl Writes<'_> {
    /// The last event of `address` below `index`.
    fn life(&self, address: &Address, index: BlockAccessIndex) -> Option<(u64, Life)> {
        let events = self.lives.0.get(address)?;
        events.iter().rev().find(|(at, _)| *at < index.0).copied()
    }

    /// The last index below `index` at which `address`'s storage was wiped or deleted.
    fn wiped(&self, address: &Address, index: BlockAccessIndex) -> Option<u64> {
        let events = self.lives.0.get(address)?;
        let mut wipes = events.iter().rev().filter(|(_, l)| *l != Life::Created);
        wipes.find(|(at, _)| *at < index.0).map(|(at, _)| *at)
    }
}

/// The state transaction `index - 1` runs against: `base` with the list's writes below
/// `index`.
struct View<'a> {
    writes: &'a Writes<'a>,
    base: &'a dyn StateView,
    index: BlockAccessIndex,
    /// EIP-161 (Spurious Dragon on): an account the list leaves empty no longer exists.
    state_clear: bool,
}

impl StateView for View<'_> {
    fn account(&self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        let base = self.base.account(address)?;
        let Some(listed) = self.writes.index.bal.accounts.get(&address) else {
            return Ok(base);
        };
        let life = self.writes.life(&address, self.index);
        let mut info = match life {
            Some((_, Life::Deleted)) => return Ok(None),
            _ => base.clone().unwrap_or_default(),
        };
        let changed = listed.populate_account_info(self.index, &mut info);
        let empty = info.balance.is_zero() && info.nonce == 0 && info.code_hash == KECCAK_EMPTY;
        if changed && empty && self.state_clear {
            return Ok(None);
        }
        let created = matches!(life, Some((_, Life::Created)));
        Ok((changed || created || base.is_some()).then_some(info))
    }

    fn code_by_hash(&self, code_hash: B256) -> Result<Bytecode, StateError> {
        match self.writes.index.codes.get(&code_hash) {
            Some(code) => Ok(code.clone()),
            None => self.base.code_by_hash(code_hash),
        }
    }

    fn storage(&self, address: Address, index: U256) -> Result<U256, StateError> {
        let Some(listed) = self.writes.index.bal.accounts.get(&address) else {
            return self.base.storage(address, index);
        };
        // The last write below this index, unless a deletion or wipe came after it.
        let written = listed.storage.storage.get(&index).and_then(|w| {
            let below = w.writes.partition_point(|(at, _)| *at < self.index);
            below.checked_sub(1).map(|last| w.writes[last])
        });
        let wiped = self.writes.wiped(&address, self.index);
        match (written, wiped) {
            (Some((at, v)), Some(w)) if at.0 >= w => Ok(v),
            (_, Some(_)) => Ok(U256::ZERO),
            (Some((_, v)), None) => Ok(v),
            (None, None) => self.base.storage(address, index),
        }
    }

    fn block_hash(&self, number: u64) -> Result<B256, StateError> {
        self.base.block_hash(number)
    }

    fn reads_are_cheap(&self) -> bool {
        self.base.reads_are_cheap()
    }
}
