//! The lazy-write index under shuttle: the builder links a block's transactions and publishes
//! them in steps while readers, started at once, ask for the touches of an account below a
//! transaction and in the whole block. Every answer must be the chain a sequential pass over
//! the block gives, however far the builder had got (readers wait, never read a half-built
//! chain); a builder that fails makes waiting readers give up instead of hanging.

use super::lazy_index::{LazyIndex, Role, Touch};
use alloy_primitives::{Address, U256};
use parevm::block::Transaction;
use revm::{context::TxEnv, primitives::TxKind};
use shuttle::sync::Arc;
use std::{collections::HashMap, sync::LazyLock};

fn address(i: u8) -> Address {
    Address::with_last_byte(i)
}

/// Senders and recipients over three accounts: every account in both roles, in chains.
static BLOCK: LazyLock<Vec<Transaction>> = LazyLock::new(|| {
    [(1, 2), (2, 3), (1, 3), (3, 1), (2, 1), (1, 2)]
        .into_iter()
        .map(|(from, to)| Transaction {
            hash: Default::default(),
            tx_type: 0,
            env: TxEnv {
                caller: address(from),
                kind: TxKind::Call(address(to)),
                value: U256::from(1),
                ..Default::default()
            },
        })
        .collect()
});

/// The touches of `a` below `i`, highest first, from a sequential pass (every transaction
/// touches its sender; each of these is a plain transfer, so it touches its recipient).
fn expected(txs: &[Transaction], a: Address, i: usize) -> Vec<Touch> {
    (0..i)
        .rev()
        .filter_map(|t| {
            let env = &txs[t].env;
            if env.caller == a {
                Some(Touch {
                    tx: t,
                    role: Role::Sender,
                })
            } else if env.kind == TxKind::Call(a) {
                Some(Touch {
                    tx: t,
                    role: Role::Recipient,
                })
            } else {
                None
            }
        })
        .collect()
}

/// Builds the index as the hints builder does: links in block order, published every two.
fn build(lazy: &LazyIndex<'_>, txs: &[Transaction]) {
    let mut last: HashMap<Address, u32> = HashMap::new();
    for (i, tx) in txs.iter().enumerate() {
        let sender = Touch {
            tx: i,
            role: Role::Sender,
        }
        .encode();
        let of_sender = last.insert(tx.env.caller, sender).unwrap_or(0);
        let to = *tx.env.kind.to().expect("a call");
        let of_recipient = last.get(&to).copied().unwrap_or(0);
        last.insert(
            to,
            Touch {
                tx: i,
                role: Role::Recipient,
            }
            .encode(),
        );
        lazy.link(i, of_sender, of_recipient);
        if i % 2 == 1 {
            lazy.publish(i + 1);
        }
    }
    lazy.finish(move |a| last.get(a).copied().unwrap_or(0));
}

fn run(readers: usize) {
    let txs: &'static [Transaction] = &BLOCK;
    let lazy = Arc::new(LazyIndex::new(txs));
    let mut handles = Vec::new();
    for r in 0..readers {
        let lazy = lazy.clone();
        handles.push(shuttle::thread::spawn(move || {
            for i in [5, 3, 1].into_iter().skip(r % 2) {
                for a in 1..=3 {
                    let got: Vec<Touch> =
                        lazy.touches_below(address(a), i).expect("built").collect();
                    assert_eq!(got, expected(txs, address(a), i), "account {a} below {i}");
                }
            }
            let all: Vec<Touch> = lazy.all_touches(address(2)).expect("built").collect();
            assert_eq!(all, expected(txs, address(2), txs.len()));
        }));
    }
    build(&lazy, txs);
    for h in handles {
        h.join().expect("no panic");
    }
}

#[test]
fn readers_see_whole_chains_while_the_builder_runs() {
    shuttle::check_random(|| run(2), 2_000);
    shuttle::check_pct(|| run(2), 2_000, 3);
}

#[test]
fn a_failed_builder_releases_waiting_readers() {
    shuttle::check_random(
        || {
            let lazy = Arc::new(LazyIndex::new(&BLOCK));
            let reader = {
                let lazy = lazy.clone();
                shuttle::thread::spawn(move || lazy.all_touches(address(1)).is_err())
            };
            lazy.fail();
            assert!(reader.join().expect("no panic"), "the reader gave up");
        },
        1_000,
    );
}
