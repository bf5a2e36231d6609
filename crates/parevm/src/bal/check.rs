//! Checking an execution against the access list its block came with, one step at a time and
//! all steps at once.
//!
//! The list gives every step's writes, so the state before step `k` is the pre-block state
//! with the list's writes below `k`: no step needs another's output to be checked. A step
//! agrees with the list when each field and slot it changes differs from that state exactly
//! where the list has a write at `k`, with the value written, when it has no other write at
//! `k`, and when everything it accesses is listed. If every step agrees, the lists are equal,
//! by induction over `k`: step 0 starts from the true pre-block state; if steps below `k`
//! agree, the list's writes below `k` are the block's, so the state the list gives step `k`
//! is the true one, and agreeing with it means step `k`'s writes are the list's. What remains
//! is global: every listed account and read slot must have been accessed by some step.
//!
//! A step that deletes an account or wipes its storage is checked here only when the account
//! had nothing a wipe could zero (no code and no nonce before the block, no slot written
//! before the step); otherwise [`Check::step`] answers "not here" and the caller compares the
//! whole built list, whose builder knows every wiped slot. A step that disagrees is diagnosed
//! the same way: the fast check never names a mismatch, and never accepts one.

use super::BlockAccessList;
use crate::{
    Fork,
    output::Access,
    state::{AccountChange, AccountInfo, Bytecode, StateChanges, StateView},
};
use alloy_primitives::{Address, B256, U256, map::HashMap};
use revm::{
    primitives::KECCAK_EMPTY,
    state::bal::{AccountBal, Bal, BalWrites, BlockAccessIndex},
};
use std::sync::atomic::{AtomicU64, Ordering};

/// A block's access list as it came with the block, with its index for execution and
/// checking (built once, when the list is attached).
#[derive(Debug)]
pub struct Given {
    list: BlockAccessList,
    index: Result<Index, String>,
}

impl Given {
    /// The list of a block of `transactions` transactions, indexed. A list that breaks the
    /// EIP's ordering and uniqueness rules or carries invalid code is kept, and its error
    /// reported when the block executes.
    pub fn new(list: BlockAccessList, transactions: usize) -> Given {
        let index = Index::new(&list, transactions);
        Given { list, index }
    }

    /// The list itself.
    pub fn list(&self) -> &BlockAccessList {
        &self.list
    }

    /// The index, or why the list cannot have one.
    pub(crate) fn index(&self) -> Result<&Index, String> {
        self.index.as_ref().map_err(Clone::clone)
    }
}

impl std::ops::Deref for Given {
    type Target = BlockAccessList;
    fn deref(&self) -> &BlockAccessList {
        &self.list
    }
}

impl PartialEq for Given {
    fn eq(&self, other: &Given) -> bool {
        self.list == other.list
    }
}

/// A list's writes indexed for reading at any step (revm's structure), its code by hash, a
/// position for each listed slot (reads first), and the number of writes at each step.
#[derive(Debug)]
pub(crate) struct Index {
    pub(crate) bal: Bal,
    pub(crate) codes: HashMap<B256, Bytecode>,
    slots: HashMap<(Address, U256), u32>,
    reads: u32,
    writes_at: Vec<u32>,
}

impl Index {
    pub(crate) fn new(list: &BlockAccessList, transactions: usize) -> Result<Index, String> {
        alloy_eip7928::validate_block_access_list(list, transactions)
            .map_err(|e| format!("block access list: {e}"))?;
        let bal = Bal::clone_from_alloy(list)
            .map_err(|e| format!("a code change is not valid code: {e}"))?;
        let codes = bal
            .accounts
            .values()
            .flat_map(|a| a.account_info.code.writes.iter().map(|(_, c)| c.clone()))
            .collect();
        let mut slots = HashMap::default();
        for a in list {
            for k in &a.storage_reads {
                slots.insert((a.address, *k), slots.len() as u32);
            }
        }
        let reads = slots.len() as u32;
        let mut writes_at = vec![0u32; transactions + 2];
        let mut count = |i: alloy_eip7928::BlockAccessIndex| writes_at[i.0 as usize] += 1;
        for a in list {
            a.balance_changes
                .iter()
                .for_each(|c| count(c.block_access_index));
            a.nonce_changes
                .iter()
                .for_each(|c| count(c.block_access_index));
            a.code_changes
                .iter()
                .for_each(|c| count(c.block_access_index));
            for s in &a.storage_changes {
                s.changes.iter().for_each(|c| count(c.block_access_index));
                slots.insert((a.address, s.slot), slots.len() as u32);
            }
        }
        Ok(Index {
            bal,
            codes,
            slots,
            reads,
            writes_at,
        })
    }
}

/// The write of `writes` at exactly step `k`.
fn at<T: PartialEq + Clone>(writes: &BalWrites<T>, k: u64) -> Option<&T> {
    let found = writes.writes.binary_search_by_key(&k, |(i, _)| i.0);
    found.ok().map(|i| &writes.writes[i].1)
}

/// True when `listed` (the list's write at a step, if any) says what a step that changed a
/// value from `old` to `new` did.
fn agrees<T: PartialEq>(listed: Option<&T>, old: &T, new: &T) -> bool {
    match listed {
        Some(v) => old != new && v == new,
        None => old == new,
    }
}

/// One execution's check of a block against its list, shared by the engine and a strategy
/// that checks its transactions as it runs them: the accesses seen so far (a bit per listed
/// account and slot, set by any step on any thread; only ever set, so `Relaxed` suffices: they
/// are read after joining the threads that set them).
pub struct Check<'a> {
    index: &'a Index,
    /// Whether a deletion can be checked here (EIP-161: from Spurious Dragon on, an account
    /// with storage has a nonce).
    wipes: bool,
    accounts: Vec<AtomicU64>,
    slots: Vec<AtomicU64>,
}

fn bits(n: usize) -> Vec<AtomicU64> {
    (0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect()
}

fn set(bits: &[AtomicU64], i: usize) {
    bits[i / 64].fetch_or(1 << (i % 64), Ordering::Relaxed);
}

fn all_set(bits: &[AtomicU64], n: usize) -> bool {
    (0..n).all(|i| bits[i / 64].load(Ordering::Relaxed) & (1 << (i % 64)) != 0)
}

impl<'a> Check<'a> {
    pub(crate) fn new(index: &'a Index, fork: Fork) -> Check<'a> {
        Check {
            index,
            wipes: fork.at_least(Fork::SpuriousDragon),
            accounts: bits(index.bal.accounts.len()),
            slots: bits(index.slots.len()),
        }
    }

    /// Whether step `k`, which made `changes` and accessed `access`, agrees with the list,
    /// where `pre` is the state before the block, or the state after step 0 once step 0 is
    /// known to agree. `false` means "not shown here": the whole lists are compared.
    pub fn step(
        &self,
        k: u64,
        pre: &dyn StateView,
        changes: &StateChanges,
        access: &Access,
    ) -> bool {
        let mut matched = 0u32;
        for (address, change) in changes {
            match self.change(k, pre, address, change) {
                Some(n) => matched += n,
                None => return false,
            }
        }
        access.0.iter().all(|(address, slots)| {
            self.account(address).is_some() && slots.iter().all(|s| self.slot(address, s))
        }) && self.index.writes_at.get(k as usize) == Some(&matched)
    }

    /// Marks `address` accessed; its position and entry, or `None` when it is not listed.
    fn account(&self, address: &Address) -> Option<&'a AccountBal> {
        let (position, _, account) = self.index.bal.accounts.get_full(address)?;
        set(&self.accounts, position);
        Some(account)
    }

    /// Marks slot `slot` of `address` accessed; `false` when it is not listed.
    fn slot(&self, address: &Address, slot: &U256) -> bool {
        let Some(position) = self.index.slots.get(&(*address, *slot)) else {
            return false;
        };
        set(&self.slots, *position as usize);
        true
    }

    /// How many of the list's writes at step `k` `change` of `address` accounts for, or
    /// `None` when it disagrees with them or cannot be checked here.
    fn change(
        &self,
        k: u64,
        pre: &dyn StateView,
        address: &Address,
        change: &AccountChange,
    ) -> Option<u32> {
        let account = self.account(address)?;
        let base = pre.account(*address).ok()?;
        let wipe = change.storage_cleared || change.info.is_none();
        if wipe && !self.wipe_is_plain(k, base.as_ref(), account) {
            return None;
        }
        let mut before = base.unwrap_or_default();
        account.populate_account_info(BlockAccessIndex::new(k), &mut before);
        let (balance, nonce, hash) = change.info.unwrap_or((U256::ZERO, 0, KECCAK_EMPTY));
        let code = at(&account.code, k).map(|(h, _)| h);
        let fields = agrees(at(&account.balance, k), &before.balance, &balance)
            && agrees(at(&account.nonce, k), &before.nonce, &nonce)
            && agrees(code, &before.code_hash, &hash);
        if !fields {
            return None;
        }
        let mut matched = [before.balance != balance, before.nonce != nonce]
            .into_iter()
            .chain([before.code_hash != hash])
            .filter(|changed| *changed)
            .count() as u32;
        for (slot, value) in &change.storage {
            if !self.slot(address, slot) {
                return None;
            }
            let writes = account.storage.storage.get(slot)?;
            let old = match writes.get(BlockAccessIndex::new(k)) {
                Some(v) => v,
                None => pre.storage(*address, *slot).ok()?,
            };
            if !agrees(at(writes, k), &old, value) {
                return None;
            }
            matched += u32::from(old != *value);
        }
        Some(matched)
    }

    /// Whether a deletion or storage wipe of an account at step `k` can zero nothing the
    /// list could need to state: the account had no code and no nonce before the block
    /// (so, from EIP-161 on, no storage) and no slot of it was written before `k`.
    fn wipe_is_plain(&self, k: u64, base: Option<&AccountInfo>, account: &AccountBal) -> bool {
        let bare = base.is_none_or(|b| b.nonce == 0 && b.code_hash == KECCAK_EMPTY);
        let written_before = account
            .storage
            .storage
            .values()
            .any(|w| w.writes.first().is_some_and(|(i, _)| i.0 < k));
        self.wipes && bare && !written_before
    }

    /// Whether every listed account and every listed read was accessed by some step.
    pub(crate) fn complete(&self) -> bool {
        all_set(&self.accounts, self.index.bal.accounts.len())
            && all_set(&self.slots, self.index.reads as usize)
    }
}

/// Whether the executed block `out` (run with [`crate::Block::record_access`] on `pre`)
/// agrees with the list `check` checks, checked step by step on `workers`; its transactions
/// only when `checked` says the strategy did not as it ran them. `false` means "not shown
/// here" (a disagreement, a wipe the check leaves to the builder, or missing accesses): the
/// caller then compares the whole lists.
pub(crate) fn agrees_with(
    check: &Check<'_>,
    checked: Checked,
    block: &crate::Block,
    pre: &dyn StateView,
    out: &crate::BlockOutput,
    workers: &crate::Workers,
) -> bool {
    /// Transactions per chunk a worker claims.
    const CHUNK: usize = 32;
    let Some((pre_access, post_access)) = &out.block_access else {
        return false;
    };
    let n = out.txs.len() as u64;
    // (Every transaction pays the beneficiary, even when a strategy deferred the fee.)
    let paid = n == 0 || check.account(&block.header.beneficiary).is_some();
    let edges = paid
        && check.step(0, pre, &out.pre_block, pre_access)
        && check.step(n + 1, pre, &out.post_block, post_access);
    if !edges {
        return false;
    }
    if checked == Checked::Transactions {
        return check.complete();
    }
    let agree = std::sync::atomic::AtomicBool::new(true);
    let chunks: Vec<usize> = (0..out.txs.len()).step_by(CHUNK).collect();
    workers.for_each_chunk(
        chunks,
        || (),
        |(), first| {
            let last = (first + CHUNK).min(out.txs.len());
            for (i, tx) in out.txs[first..last].iter().enumerate() {
                let k = (first + i) as u64 + 1;
                let ok = (tx.access.as_ref()).is_some_and(|a| check.step(k, pre, &tx.changes, a));
                if !ok {
                    agree.store(false, Ordering::Relaxed);
                    return;
                }
            }
        },
    );
    agree.into_inner() && check.complete()
}

/// What a strategy checked against the block's list as it ran the transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Nothing: the engine checks every step after the block.
    Nothing,
    /// Every transaction agrees with the list, checked with [`Check`] on the state after step 0
    /// (which the engine checks): the engine checks steps 0 and `n + 1` and that every listed
    /// access was seen.
    Transactions,
}
