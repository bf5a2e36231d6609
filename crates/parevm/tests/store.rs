//! The persistent store: chains of blocks committed through it keep the same roots as the
//! in-memory state under every strategy, earlier states read back through the change sets,
//! the roots recompute from scratch, and bad files are refused with a clear error.

use alloy_primitives::B256;
use parevm::{
    Engine, InMemoryState, StateView,
    sources::workload::{self, WorkloadKind, WorkloadSpec},
    store::{Committing, Head, Store, StoreError},
    strategy,
};
use std::path::PathBuf;

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("parevm-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn genesis_head() -> Head {
    Head {
        number: workload::FIRST_NUMBER - 1,
        hash: workload::genesis_hash(),
        state_root: B256::ZERO,
    }
}

#[test]
fn a_chain_through_the_store_keeps_the_in_memory_roots_under_every_strategy() {
    let spec = WorkloadSpec::new(WorkloadKind::Mixed, 400_000);
    let (blocks, genesis) = workload::chain(&spec, 6);
    let engine = Engine::new(2).unwrap();
    for s in strategy::registry() {
        let d = dir(&format!("chain-{}", s.name()));
        let store = Store::create(&d, &genesis, genesis_head(), 3).unwrap();
        assert_eq!(store.head().unwrap().state_root, genesis.state_root());
        let mut memory = genesis.clone();
        let mut states = Vec::new();
        for b in &blocks {
            let view = store.view().unwrap();
            let out = engine.execute(b, &view, s).unwrap();
            let root = store
                .commit(b.number(), b.hash, out.all_changes(), None)
                .unwrap();
            out.all_changes().for_each(|c| memory.apply(c));
            assert_eq!(
                root,
                memory.state_root(),
                "{} block {}",
                s.name(),
                b.number()
            );
            states.push(memory.clone());
        }
        let (computed, stored) = store.verify().unwrap();
        assert_eq!(computed, stored);
        // Reopened, at the same head; the three blocks within the horizon read back.
        drop(store);
        let store = Store::open(&d, 3).unwrap();
        let head = store.head().unwrap();
        assert_eq!(head.number, blocks.last().unwrap().number());
        for back in 0..3 {
            let at = head.number - back;
            let past = store.view_at(at).unwrap();
            let expected = &states[states.len() - 1 - back as usize];
            same_state(expected, &past, &format!("{} at {at}", s.name()));
        }
        let too_old = store.view_at(head.number - 4).unwrap_err();
        assert!(matches!(too_old, StoreError::NotRetained(..)), "{too_old}");
        let _ = std::fs::remove_dir_all(&d);
    }
}

/// Every account and slot of `expected` reads the same through `view`.
fn same_state(expected: &InMemoryState, view: &dyn StateView, what: &str) {
    for (address, account) in expected.accounts() {
        let fields = view.account_fields(*address).unwrap();
        assert_eq!(
            fields,
            Some((account.balance, account.nonce, account.code_hash)),
            "{what}: {address}"
        );
        for (slot, value) in &account.storage {
            assert_eq!(
                view.storage(*address, *slot).unwrap(),
                *value,
                "{what}: {address} {slot}"
            );
        }
    }
}

#[test]
fn a_block_out_of_order_or_with_a_wrong_root_is_refused() {
    let (blocks, genesis) =
        workload::chain(&WorkloadSpec::new(WorkloadKind::Transfers, 100_000), 2);
    let d = dir("order");
    let store = Store::create(&d, &genesis, genesis_head(), 8).unwrap();
    let err = store
        .commit(blocks[1].number(), blocks[1].hash, [], None)
        .unwrap_err();
    assert!(matches!(err, StoreError::NotNext { .. }), "{err}");
    // A root other than the header's is refused, and nothing of the block is written.
    let before = store.head().unwrap();
    let out = Engine::new(1)
        .unwrap()
        .execute(
            &blocks[0],
            &store.view().unwrap(),
            &strategy::sequential::Sequential,
        )
        .unwrap();
    let wrong = Some(B256::repeat_byte(7));
    let err = store
        .commit(blocks[0].number(), blocks[0].hash, out.all_changes(), wrong)
        .unwrap_err();
    assert!(matches!(err, StoreError::Root { .. }), "{err}");
    assert_eq!(store.head().unwrap(), before);
    assert_eq!(store.verify().unwrap().0, before.state_root);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn foreign_newer_corrupt_and_missing_files_are_refused_by_name() {
    let (_, genesis) = workload::chain(&WorkloadSpec::new(WorkloadKind::Transfers, 100_000), 1);
    let missing = Store::open(&dir("missing"), 8).unwrap_err();
    assert!(matches!(missing, StoreError::Missing(_)), "{missing}");

    let d = dir("foreign");
    std::fs::create_dir_all(&d).unwrap();
    let db = redb::Database::create(d.join(parevm::store::FILE)).unwrap();
    let w = db.begin_write().unwrap();
    w.open_table(redb::TableDefinition::<&str, &str>::new("other"))
        .unwrap()
        .insert("a", "b")
        .unwrap();
    w.commit().unwrap();
    drop(db);
    let foreign = Store::open(&d, 8).unwrap_err();
    assert!(matches!(foreign, StoreError::Foreign(_)), "{foreign}");

    let d = dir("newer");
    drop(Store::create(&d, &genesis, genesis_head(), 8).unwrap());
    let db = redb::Database::open(d.join(parevm::store::FILE)).unwrap();
    let w = db.begin_write().unwrap();
    let meta = redb::TableDefinition::<&str, &[u8]>::new("meta");
    w.open_table(meta)
        .unwrap()
        .insert("format", 2u32.to_be_bytes().as_slice())
        .unwrap();
    w.commit().unwrap();
    drop(db);
    let newer = Store::open(&d, 8).unwrap_err();
    assert!(
        matches!(newer, StoreError::Newer { found: 2, .. }),
        "{newer}"
    );
    assert!(newer.to_string().contains("format 2"));

    let d = dir("garbage");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(parevm::store::FILE), vec![0x5a; 10_000]).unwrap();
    let garbage = Store::open(&d, 8).unwrap_err();
    assert!(
        garbage.to_string().contains(parevm::store::FILE),
        "names the file: {garbage}"
    );

    let d = dir("damaged");
    drop(Store::create(&d, &genesis, genesis_head(), 8).unwrap());
    let file = d.join(parevm::store::FILE);
    let mut bytes = std::fs::read(&file).unwrap();
    let len = bytes.len();
    for b in &mut bytes[len / 4..len * 3 / 4] {
        *b ^= 0xff;
    }
    std::fs::write(&file, bytes).unwrap();
    // (A damaged file is refused when opened or when read; never a panic.)
    match Store::open(&d, 8) {
        Err(e) => assert!(!e.to_string().is_empty()),
        Ok(store) => {
            let read = store.verify().map(|(a, b)| a == b);
            assert!(!matches!(read, Ok(true)), "the damage shows: {read:?}");
        }
    }
    for name in ["foreign", "newer", "garbage", "damaged"] {
        let _ = std::fs::remove_dir_all(dir(name));
    }
}

#[test]
fn a_group_commit_keeps_the_blocks_before_a_refused_one() {
    let (blocks, genesis) =
        workload::chain(&WorkloadSpec::new(WorkloadKind::Transfers, 100_000), 4);
    let d = dir("group");
    let store = Store::create(&d, &genesis, genesis_head(), 8).unwrap();
    let engine = Engine::new(1).unwrap();
    let mut memory = genesis.clone();
    let mut all = Vec::new();
    for b in &blocks {
        let out = engine
            .execute(b, &memory, &strategy::sequential::Sequential)
            .unwrap();
        out.all_changes().for_each(|c| memory.apply(c));
        all.push((
            out.all_changes().cloned().collect::<Vec<_>>(),
            memory.state_root(),
        ));
    }
    let refs: Vec<Vec<&parevm::state::StateChanges>> =
        all.iter().map(|(c, _)| c.iter().collect()).collect();
    let group: Vec<Committing<'_>> = (blocks.iter().zip(&all).zip(&refs))
        .enumerate()
        .map(|(k, ((b, (_, root)), changes))| Committing {
            number: b.number(),
            hash: b.hash,
            changes,
            // (The third block's header is wrong.)
            expected: Some(if k == 2 { B256::repeat_byte(1) } else { *root }),
        })
        .collect();
    let err = store.commit_group(&group).unwrap_err();
    assert!(
        matches!(err, StoreError::Root { number, .. } if number == blocks[2].number()),
        "{err}"
    );
    let head = store.head().unwrap();
    assert_eq!(
        (head.number, head.state_root),
        (blocks[1].number(), all[1].1)
    );
    assert_eq!(
        store.commit_group(&group[2..3]).unwrap_err().to_string(),
        err.to_string()
    );
    let mut fixed = group[2];
    fixed.expected = Some(all[2].1);
    assert_eq!(
        store.commit_group(&[fixed, group[3]]).unwrap(),
        [all[2].1, all[3].1]
    );
    let _ = std::fs::remove_dir_all(&d);
}
