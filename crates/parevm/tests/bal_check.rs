//! Blocks executed with their access list attached: every strategy accepts the right list,
//! decided step by step (the whole lists compared only where the step check cannot tell), and
//! refuses any one change to it, on adversarial blocks and on the mainnet fixtures.

use alloy_eip7928::{BalanceChange, BlockAccessIndex, BlockAccessList};
use alloy_primitives::U256;
use parevm::{
    Block, BlockOutput, Engine, ExecError, StateView, Strategy, bal,
    sources::adversarial::{self, Limits},
    strategy::{self, bal::BalStrategy, block_stm::BlockStm, sequential::Sequential},
};

/// The block with its access list attached, and sequential execution's output, or `None` for
/// an invalid block.
fn listed(block: &Block, state: &dyn StateView) -> Option<(Block, BlockOutput, BlockAccessList)> {
    let mut block = block.clone();
    block.record_access = true;
    let out = Engine::new(1)
        .unwrap()
        .execute(&block, state, &Sequential)
        .ok()?;
    let list = bal::build(&block, state, &out).expect("builds");
    block.set_access_list(list.clone());
    Some((block, out, list))
}

/// Runs `block` (with the right list) with every strategy on `engines`: each accepts it with
/// the reference's output. Returns how many runs compared the whole lists.
fn accepted(
    what: &str,
    block: &Block,
    state: &dyn StateView,
    reference: &BlockOutput,
    engines: &[Engine],
) -> usize {
    let mut whole = 0;
    let strategies = std::iter::once(&Sequential as &dyn Strategy).chain(strategy::parallel());
    for s in strategies {
        for engine in engines {
            let run = format!("{what}: {} x{}", s.name(), engine.threads());
            let out = match engine.execute(block, state, s) {
                // (`bal` refuses a block the list cannot describe, and says so.)
                Err(ExecError::Unsupported(_)) if s.executes_from_access_list() => continue,
                Err(e) => panic!("{run}: the right list is refused: {e}"),
                Ok(out) => out,
            };
            assert_eq!(reference.first_difference(&out), None, "{run}");
            whole += out.stats.counter("list_compared_whole") as usize;
        }
    }
    whole
}

/// One change to a list, chosen by `pick`; `None` when the list has nothing of that kind.
fn mutate(list: &BlockAccessList, pick: u64) -> Option<(String, BlockAccessList)> {
    let mut bad = list.clone();
    let a = (pick / 8) as usize % bad.len();
    let account = &mut bad[a];
    let address = account.address;
    let what = match pick % 8 {
        0 => {
            let c = account.balance_changes.first_mut()?;
            c.post_balance += U256::from(1);
            "a changed balance"
        }
        1 => {
            let c = account.storage_changes.first_mut()?.changes.last_mut()?;
            c.new_value ^= U256::from(1);
            "a changed slot value"
        }
        2 => {
            account.storage_reads.pop()?;
            "a missing read"
        }
        3 => {
            let slot = U256::from(0xdead_beefu64);
            let taken = account.storage_changes.iter().any(|s| s.slot == slot);
            if taken || account.storage_reads.contains(&slot) {
                return None;
            }
            account.storage_reads.push(slot);
            account.storage_reads.sort();
            "an extra read"
        }
        4 => {
            bad.remove(a);
            "a missing account"
        }
        5 => {
            let c = account.nonce_changes.last_mut()?;
            c.block_access_index = BlockAccessIndex::new(c.block_access_index.0 + 1);
            "a shifted index"
        }
        6 => {
            let taken = |i: u64| {
                account
                    .balance_changes
                    .iter()
                    .any(|c| c.block_access_index.0 == i)
            };
            let free = (1..=2).find(|i| !taken(*i))?;
            let at = BlockAccessIndex::new(free);
            account
                .balance_changes
                .push(BalanceChange::new(at, U256::from(12345)));
            account
                .balance_changes
                .sort_by_key(|c| c.block_access_index);
            "an extra balance write"
        }
        _ => {
            account.storage_changes.pop()?;
            "a missing slot write"
        }
    };
    Some((format!("{what} at account {address}"), bad))
}

/// Runs `block` with `bad` attached with a few strategies: each refuses it.
fn refused(
    what: &str,
    block: &Block,
    state: &dyn StateView,
    bad: BlockAccessList,
    engine: &Engine,
) {
    let mut block = block.clone();
    block.set_access_list(bad);
    let strategies: [&dyn Strategy; 3] = [&Sequential, &BlockStm::DEFAULT, &BalStrategy];
    for s in strategies {
        match engine.execute(&block, state, s) {
            Err(ExecError::AccessList(_)) => {}
            Err(ExecError::Unsupported(_)) if s.executes_from_access_list() => {}
            other => panic!(
                "{what} [{}]: not refused as a wrong list: {:?}",
                s.name(),
                other.map(|_| "accepted")
            ),
        }
    }
}

#[test]
fn adversarial_lists_attached_are_accepted_step_by_step_and_changes_refused() {
    let engines: Vec<Engine> = [1, 2, 4].map(|t| Engine::new(t).unwrap()).into();
    let (mut valid, mut mutations) = (0, 0);
    let mut whole = Vec::new();
    for seed in 0..200u64 {
        let g = adversarial::generate(seed, Limits::default());
        let Some((block, reference, list)) = listed(&g.block, &g.state) else {
            continue;
        };
        valid += 1;
        let what = format!("seed {seed}");
        if accepted(&what, &block, &g.state, &reference, &engines) > 0 {
            whole.push((seed, block.fork));
        }
        for m in 0..4u64 {
            let pick = seed
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(m as u32 * 7)
                + m;
            if let Some((change, bad)) = mutate(&list, pick) {
                mutations += 1;
                refused(
                    &format!("{what}: {change}"),
                    &block,
                    &g.state,
                    bad,
                    &engines[1],
                );
            }
        }
    }
    assert!(valid > 100, "only {valid} valid blocks");
    assert!(mutations > 300, "only {mutations} changed lists");
    // (The step check leaves to the builder only deletions and wipes of accounts that had
    // code, a nonce or written slots: from Cancun on, only a transaction that created an
    // account deletes it, and none of these blocks re-creates one.)
    let recent = whole
        .iter()
        .filter(|(_, f)| f.at_least(parevm::Fork::Cancun));
    assert_eq!(recent.count(), 0, "compared the whole lists: {whole:?}");
}

#[test]
fn mainnet_lists_attached_are_accepted_step_by_step_and_changes_refused() {
    use parevm::{ChainSpec, sources::fixtures::fixtures_or_skip, sources::rpc::BlockFolder};
    let Some(fixtures) = fixtures_or_skip("bal_check") else {
        return;
    };
    let folders = BlockFolder::discover(&fixtures.join("mainnet")).expect("mainnet fixtures");
    let engines: Vec<Engine> = [1, 2].map(|t| Engine::new(t).unwrap()).into();
    for (i, folder) in folders.iter().enumerate() {
        let (block, state) = folder.load(&ChainSpec::mainnet()).unwrap();
        let (block, reference, list) = listed(&block, &state).expect("a valid block");
        let what = folder.name();
        let whole = accepted(&what, &block, &state, &reference, &engines);
        if block.fork.at_least(parevm::Fork::Cancun) {
            assert_eq!(whole, 0, "{what}: compared the whole lists");
        }
        if let Some((change, bad)) = mutate(&list, i as u64 * 131 + 5) {
            refused(
                &format!("{what}: {change}"),
                &block,
                &state,
                bad,
                &engines[1],
            );
        }
    }
}
