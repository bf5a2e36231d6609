//! EIP-7928 block-level access lists (BALs): every account and slot a block touches, with the
//! post-value of each write at each block access index (0: the pre-execution system calls,
//! `1..=n`: the transactions, `n + 1`: the post-execution operations).
//!
//! The types, the RLP encoding, the hash and the ordering rules are alloy's
//! ([`alloy_eip7928`]); this module adds the JSON shape of the execution-spec-tests fixtures'
//! `blockAccessList` (alloy's own serde names differ), in and out, a summary, a builder from
//! any strategy's output, and the post-state a BAL implies.
//!
//! BALs are defined from Amsterdam on, where SELFDESTRUCT can no longer wipe storage an
//! account had before the transaction (EIP-6780). Built for older blocks, a list cannot say
//! that such a wipe zeroed slots the block never touched, nor tell a deleted account from an
//! empty one before EIP-161: [`apply`] is exact for every account and slot the block touched,
//! and for the rest of the state from Cancun on.

pub use alloy_eip7928::{AccountChanges, BlockAccessList};
pub use check::{Check, Checked, Given};

pub mod check;

use crate::{
    block::Block,
    output::{Access, BlockOutput},
    state::{AccountChange, StateChanges, StateView},
    strategy::Workers,
};
use alloy_eip7928::{
    BalanceChange, BlockAccessIndex, CodeChange, NonceChange, SlotChanges, StorageChange,
};
use alloy_primitives::map::HashMap;
use alloy_primitives::{Address, B256, U256, hex};
use parking_lot::Mutex;
use revm::primitives::KECCAK_EMPTY;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Parses a BAL from the fixtures' JSON shape (a list of accounts with `nonceChanges`,
/// `balanceChanges`, `codeChanges`, `storageChanges` and `storageReads`), and checks alloy's
/// ordering and uniqueness rules for a block of `transactions` transactions. The error names
/// what is wrong and where.
pub fn from_json(value: &Value, transactions: usize) -> Result<BlockAccessList, String> {
    let list = value
        .as_array()
        .ok_or("a block access list must be a JSON list of accounts")?;
    let bal = list
        .iter()
        .enumerate()
        .map(|(i, account)| {
            serde_json::from_value::<AccountChanges>(account.clone())
                .map_err(|e| format!("account {i} of the block access list: {e}"))
        })
        .collect::<Result<BlockAccessList, String>>()?;
    alloy_eip7928::validate_block_access_list(&bal, transactions)
        .map_err(|e| format!("block access list: {e}"))?;
    Ok(bal)
}

/// The BAL in the fixtures' JSON shape (hex quantities; slots and values unpadded).
pub fn to_json(bal: &[AccountChanges]) -> Value {
    let q = |n: u64| quantity(&U256::from(n));
    let u = quantity;
    Value::Array(
        bal.iter()
            .map(|a| {
                json!({
                    "address": a.address,
                    "nonceChanges": a.nonce_changes.iter().map(|c| json!({
                        "blockAccessIndex": q(c.block_access_index.0),
                        "postNonce": q(c.new_nonce),
                    })).collect::<Vec<_>>(),
                    "balanceChanges": a.balance_changes.iter().map(|c| json!({
                        "blockAccessIndex": q(c.block_access_index.0),
                        "postBalance": u(&c.post_balance),
                    })).collect::<Vec<_>>(),
                    "codeChanges": a.code_changes.iter().map(|c| json!({
                        "blockAccessIndex": q(c.block_access_index.0),
                        "newCode": hex::encode_prefixed(&c.new_code),
                    })).collect::<Vec<_>>(),
                    "storageChanges": a.storage_changes.iter().map(|s| json!({
                        "slot": u(&s.slot),
                        "slotChanges": s.changes.iter().map(|c| json!({
                            "blockAccessIndex": q(c.block_access_index.0),
                            "postValue": u(&c.new_value),
                        })).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                    "storageReads": a.storage_reads.iter().map(u).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// A number as the fixtures write it: big-endian bytes without leading zero bytes, at least
/// one (`0x00`, `0x03e8`).
fn quantity(n: &U256) -> String {
    let bytes = n.to_be_bytes_trimmed_vec();
    if bytes.is_empty() {
        "0x00".into()
    } else {
        hex::encode_prefixed(bytes)
    }
}

/// The BAL's RLP encoding.
pub fn encode(bal: &[AccountChanges]) -> Vec<u8> {
    let mut out = Vec::new();
    alloy_rlp::encode_list(bal, &mut out);
    out
}

/// The BAL's hash, as a header's `blockAccessListHash` carries it (keccak of the RLP).
pub fn hash(bal: &[AccountChanges]) -> B256 {
    alloy_eip7928::compute_block_access_list_hash(bal)
}

/// What a BAL holds, in numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Accounts listed.
    pub accounts: usize,
    /// Storage slots listed (written or read).
    pub slots: usize,
    /// Post-values listed: nonce, balance, code and slot changes.
    pub writes: usize,
    /// Bytes of its RLP encoding.
    pub rlp_bytes: usize,
    /// Its hash.
    pub hash: B256,
}

impl Summary {
    /// Counts `bal`.
    pub fn of(bal: &[AccountChanges]) -> Summary {
        let writes = bal
            .iter()
            .map(|a| {
                a.nonce_changes.len()
                    + a.balance_changes.len()
                    + a.code_changes.len()
                    + a.storage_changes
                        .iter()
                        .map(|s| s.changes.len())
                        .sum::<usize>()
            })
            .sum();
        Summary {
            accounts: bal.len(),
            slots: bal
                .iter()
                .map(|a| a.storage_changes.len() + a.storage_reads.len())
                .sum(),
            writes,
            rlp_bytes: encode(bal).len(),
            hash: hash(bal),
        }
    }
}

/// Builds the BAL of an executed block from its output: each step's writes from its state
/// changes, compared with the value before that step (starting from `pre`, the state the
/// block ran on: a write that leaves a value as it was is a read, as EIP-7928 says), and each
/// step's reads from what it accessed. Any strategy's output builds the same list, since
/// their changes are equal and every strategy's final execution of a transaction accesses
/// what sequential execution does. The block must have run with [`Block::record_access`].
pub fn build(
    block: &Block,
    pre: &dyn StateView,
    out: &BlockOutput,
) -> Result<BlockAccessList, String> {
    build_on(block, pre, out, &Workers::one())
}

/// [`build`] on `workers`: accounts are independent (each one's entries depend on its own
/// earlier values alone), so they are built in parallel.
pub fn build_on(
    block: &Block,
    pre: &dyn StateView,
    out: &BlockOutput,
    workers: &Workers,
) -> Result<BlockAccessList, String> {
    let missing = || "the block ran without recording access (Block::record_access)".to_string();
    let (pre_access, post_access) = out.block_access.as_ref().ok_or_else(missing)?;
    let beneficiary = Access(BTreeMap::from([(
        block.header.beneficiary,
        BTreeSet::new(),
    )]));
    let nothing = StateChanges::new();
    let mut events = Events::default();
    events.step(0, &out.pre_block, pre_access);
    for (i, tx) in out.txs.iter().enumerate() {
        events.step(
            i as u64 + 1,
            &tx.changes,
            tx.access.as_ref().ok_or_else(missing)?,
        );
        // (Every transaction pays the beneficiary, even when a strategy deferred the fee.)
        events.step(i as u64 + 1, &nothing, &beneficiary);
    }
    events.step(out.txs.len() as u64 + 1, &out.post_block, post_access);
    events.build(pre, workers)
}

/// The writes-only list of transaction steps `1..=n` whose state changes are `txs`, over `pre`
/// (the state after the pre-block operations): what executing from a list needs when the
/// block came without one.
pub fn writes_of(
    pre: &dyn StateView,
    txs: &[crate::output::TxOutput],
) -> Result<BlockAccessList, String> {
    let mut events = Events::default();
    let none = Access::default();
    for (i, tx) in txs.iter().enumerate() {
        events.step(i as u64 + 1, &tx.changes, &none);
    }
    events.build(pre, &Workers::one())
}

/// What happened to one account at one step.
enum Event<'a> {
    /// It was accessed, with these slots.
    Accessed(&'a BTreeSet<U256>),
    /// It changed.
    Changed(&'a AccountChange),
}

/// One account's events, in step order (within a step, accesses before changes).
type AccountEvents<'a> = (Address, Vec<(u64, Event<'a>)>);

/// Every account's events.
#[derive(Default)]
struct Events<'a>(HashMap<Address, Vec<(u64, Event<'a>)>>);

impl<'a> Events<'a> {
    fn step(&mut self, index: u64, changes: &'a StateChanges, access: &'a Access) {
        for (address, slots) in &access.0 {
            self.0
                .entry(*address)
                .or_default()
                .push((index, Event::Accessed(slots)));
        }
        for (address, change) in changes {
            self.0
                .entry(*address)
                .or_default()
                .push((index, Event::Changed(change)));
        }
    }

    /// The list: each account's entry built on `workers`, in address order.
    fn build(self, pre: &dyn StateView, workers: &Workers) -> Result<BlockAccessList, String> {
        let mut accounts: Vec<AccountEvents<'a>> = self.0.into_iter().collect();
        accounts.sort_unstable_by_key(|(a, _)| *a);
        let built: Vec<Mutex<Option<Result<AccountChanges, String>>>> =
            accounts.iter().map(|_| Mutex::new(None)).collect();
        let chunks: Vec<(usize, &[AccountEvents<'a>])> = (0..accounts.len())
            .step_by(64)
            .map(|k| (k, &accounts[k..(k + 64).min(accounts.len())]))
            .collect();
        workers.for_each_chunk(
            chunks,
            || (),
            |(), (first, chunk)| {
                for (k, (address, events)) in chunk.iter().enumerate() {
                    *built[first + k].lock() = Some(entry(pre, *address, events));
                }
            },
        );
        built
            .into_iter()
            .map(|b| b.into_inner().expect("every account built"))
            .collect()
    }
}

/// One account's entry, from its events over `pre`.
fn entry(
    pre: &dyn StateView,
    address: Address,
    events: &[(u64, Event<'_>)],
) -> Result<AccountChanges, String> {
    let err = |e: crate::state::StateError| format!("account {address}: {e}");
    let mut info: Option<Option<(U256, u64, B256)>> = None;
    let mut written: HashMap<U256, U256> = HashMap::default();
    let mut wiped = false;
    let mut out = AccountChanges::new(address);
    let mut slots: BTreeMap<U256, Vec<StorageChange>> = BTreeMap::new();
    let mut touched: BTreeSet<U256> = BTreeSet::new();
    for (i, (index, event)) in events.iter().enumerate() {
        let at = BlockAccessIndex::new(*index);
        let change = match event {
            Event::Accessed(accessed) => {
                touched.extend(accessed.iter().copied());
                continue;
            }
            Event::Changed(change) => change,
        };
        let before = match info {
            Some(known) => known,
            None => pre.account_fields(address).map_err(err)?,
        };
        let (b0, n0, h0) = before.unwrap_or((U256::ZERO, 0, KECCAK_EMPTY));
        let (b1, n1, h1) = change.info.unwrap_or((U256::ZERO, 0, KECCAK_EMPTY));
        if b1 != b0 {
            out.balance_changes.push(BalanceChange::new(at, b1));
        }
        if n1 != n0 {
            out.nonce_changes.push(NonceChange::new(at, n1));
        }
        if h1 != h0 {
            let code = change
                .code
                .as_ref()
                .map(|c| c.original_bytes())
                .unwrap_or_default();
            out.code_changes.push(CodeChange::new(at, code));
        }
        let wipes = change.storage_cleared || change.info.is_none();
        // A wipe zeroes every slot it had: those listed so far or accessed in this step are
        // listed again (a wiped slot of the pre-state nobody touched cannot be: see the gaps
        // in the module docs).
        let now = events[..i]
            .iter()
            .rev()
            .take_while(|(j, _)| j == index)
            .filter_map(|(_, e)| match e {
                Event::Accessed(s) => Some(s.iter()),
                Event::Changed(_) => None,
            })
            .flatten();
        let listed: BTreeSet<U256> = if wipes {
            slots.keys().chain(&touched).chain(now).copied().collect()
        } else {
            BTreeSet::new()
        };
        let zeroed = listed.iter().filter(|k| !change.storage.contains_key(*k));
        let writes: Vec<(U256, U256)> = change
            .storage
            .iter()
            .map(|(k, v)| (*k, *v))
            .chain(zeroed.map(|k| (*k, U256::ZERO)))
            .collect();
        for (slot, value) in writes {
            let old = match written.get(&slot) {
                Some(v) => *v,
                None if wiped => U256::ZERO,
                None => pre.storage(address, slot).map_err(err)?,
            };
            if value == old {
                touched.insert(slot);
            } else {
                slots
                    .entry(slot)
                    .or_default()
                    .push(StorageChange::new(at, value));
            }
        }
        // The account as the change leaves it (an overlay's rules).
        info = Some(change.info);
        if wipes {
            wiped = true;
            written.clear();
        }
        written.extend(change.storage.iter().map(|(k, v)| (*k, *v)));
    }
    out.storage_reads = touched
        .into_iter()
        .filter(|k| !slots.contains_key(k))
        .collect();
    out.storage_changes = slots
        .into_iter()
        .map(|(slot, changes)| SlotChanges::new(slot, changes))
        .collect();
    Ok(out)
}

/// The post-block state of every account the BAL changes, from `pre` and the BAL alone
/// (nothing executes): each field's and slot's last post-value, the pre-state's value where the
/// BAL lists no change. From Spurious Dragon on (`fork`), an account left with no balance,
/// nonce or code is deleted (EIP-161).
pub fn apply(
    pre: &dyn StateView,
    bal: &[AccountChanges],
    fork: crate::Fork,
) -> Result<StateChanges, String> {
    let state_clear = fork.at_least(crate::Fork::SpuriousDragon);
    let mut out = StateChanges::new();
    for a in bal {
        let changed = !a.balance_changes.is_empty()
            || !a.nonce_changes.is_empty()
            || !a.code_changes.is_empty()
            || !a.storage_changes.is_empty();
        if !changed {
            continue;
        }
        let before = pre
            .account_fields(a.address)
            .map_err(|e| format!("{}: {e}", a.address))?;
        let (mut balance, mut nonce, mut hash) = before.unwrap_or((U256::ZERO, 0, KECCAK_EMPTY));
        let mut code = None;
        if let Some(c) = a.balance_changes.last() {
            balance = c.post_balance;
        }
        if let Some(c) = a.nonce_changes.last() {
            nonce = c.new_nonce;
        }
        if let Some(c) = a.code_changes.last() {
            let bytecode = revm::state::Bytecode::new_raw_checked(c.new_code.clone())
                .map_err(|e| format!("{}: code: {e}", a.address))?;
            hash = bytecode.hash_slow();
            code = (hash != KECCAK_EMPTY).then_some(bytecode);
        }
        let storage = a.storage_post_states().collect();
        let empty = state_clear && balance.is_zero() && nonce == 0 && hash == KECCAK_EMPTY;
        let change = crate::state::AccountChange {
            info: (!empty).then_some((balance, nonce, hash)),
            storage_cleared: empty,
            storage: if empty { BTreeMap::new() } else { storage },
            code,
        };
        out.insert(a.address, change);
    }
    Ok(out)
}

/// One thing a list states: a post-value at an index, or an access.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Fact {
    /// A write at a block access index: nonce, balance, code (its hash) or a slot.
    Write(u64, Address, Field, B256),
    /// An account listed (accessed), and a slot read.
    Listed(Address),
    Read(Address, U256),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    Nonce,
    Balance,
    Code,
    Slot(U256),
}

fn facts(bal: &[AccountChanges]) -> BTreeSet<Fact> {
    let mut out = BTreeSet::new();
    for a in bal {
        let at = |i: BlockAccessIndex| i.0;
        out.insert(Fact::Listed(a.address));
        for c in &a.nonce_changes {
            let v = B256::from(U256::from(c.new_nonce));
            out.insert(Fact::Write(
                at(c.block_access_index),
                a.address,
                Field::Nonce,
                v,
            ));
        }
        for c in &a.balance_changes {
            let v = B256::from(c.post_balance);
            out.insert(Fact::Write(
                at(c.block_access_index),
                a.address,
                Field::Balance,
                v,
            ));
        }
        for c in &a.code_changes {
            let v = alloy_primitives::keccak256(&c.new_code);
            out.insert(Fact::Write(
                at(c.block_access_index),
                a.address,
                Field::Code,
                v,
            ));
        }
        for s in &a.storage_changes {
            for c in &s.changes {
                let (f, v) = (Field::Slot(s.slot), B256::from(c.new_value));
                out.insert(Fact::Write(at(c.block_access_index), a.address, f, v));
            }
        }
        for k in &a.storage_reads {
            out.insert(Fact::Read(a.address, *k));
        }
    }
    out
}

/// The first way `given` (a block's list) and `executed` (built from executing the block)
/// differ, lowest block access index first, naming the step, the account and the slot; `None`
/// when they are equal. `transactions` is the block's transaction count.
pub fn first_mismatch(
    given: &[AccountChanges],
    executed: &[AccountChanges],
    transactions: usize,
) -> Option<String> {
    mismatch(facts(given), facts(executed), transactions)
}

/// [`first_mismatch`] over the writes of transactions `0..transactions` alone (block access
/// indices `1..=transactions`): what a transaction that failed after them read must agree.
pub fn first_write_mismatch(
    given: &[AccountChanges],
    executed: &[AccountChanges],
    transactions: usize,
) -> Option<String> {
    let writes = |facts: BTreeSet<Fact>| -> BTreeSet<Fact> {
        let last = transactions as u64;
        let ours = |f: &Fact| matches!(f, Fact::Write(i, ..) if (1..=last).contains(i));
        facts.into_iter().filter(ours).collect()
    };
    mismatch(writes(facts(given)), writes(facts(executed)), usize::MAX)
}

fn mismatch(
    given: BTreeSet<Fact>,
    executed: BTreeSet<Fact>,
    transactions: usize,
) -> Option<String> {
    let step = |i: u64| match i {
        0 => "the pre-block system calls (index 0)".to_string(),
        i if i as usize > transactions => format!("the post-block operations (index {i})"),
        i => format!("transaction {} (index {i})", i - 1),
    };
    let what = |f: &Field| match f {
        Field::Nonce => "nonce".to_string(),
        Field::Balance => "balance".to_string(),
        Field::Code => "code".to_string(),
        Field::Slot(k) => format!("slot {k:#x}"),
    };
    let first = given.symmetric_difference(&executed).next()?;
    let listed = given.contains(first);
    let says = |yes: &str, no: &str| {
        if listed {
            yes.to_string()
        } else {
            no.to_string()
        }
    };
    Some(match first {
        Fact::Write(i, a, f, v) => {
            let other = (if listed { &executed } else { &given })
                .range(Fact::Write(*i, *a, *f, B256::ZERO)..)
                .next()
                .filter(|o| matches!(o, Fact::Write(j, b, g, _) if j == i && b == a && g == f));
            let value = |v: &B256| format!("{:#x}", U256::from_be_bytes(v.0));
            match (listed, other) {
                (true, Some(Fact::Write(.., w))) => format!(
                    "{}: account {a} {}: the list says {}, execution gives {}",
                    step(*i),
                    what(f),
                    value(v),
                    value(w)
                ),
                (false, Some(Fact::Write(.., w))) => format!(
                    "{}: account {a} {}: the list says {}, execution gives {}",
                    step(*i),
                    what(f),
                    value(w),
                    value(v)
                ),
                _ => format!(
                    "{}: account {a} {}: {}",
                    step(*i),
                    what(f),
                    says(
                        &format!(
                            "the list writes {} but execution does not change it",
                            value(v)
                        ),
                        &format!("execution writes {} but the list does not", value(v))
                    )
                ),
            }
        }
        Fact::Listed(a) => format!(
            "account {a}: {}",
            says(
                "the list has it but execution never accesses it",
                "execution accesses it but the list does not have it"
            )
        ),
        Fact::Read(a, k) => format!(
            "account {a} slot {k:#x}: {}",
            says(
                "the list reads it but execution does not",
                "execution reads it but the list does not"
            )
        ),
    })
}
