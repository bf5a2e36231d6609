//! Scheduling from predicted access sets: the state-dependency graph of MegaETH and Grevm.
//!
//! Each transaction's reads and writes are predicted first ([`crate::predict`]); an edge goes
//! from the nearest earlier transaction predicted to write a location to each later one
//! predicted to read or write it. Independent transactions run in parallel, a transaction
//! starts only once every transaction it depends on is merged, and a linear chain (each link
//! the only successor of the one before and depending on nothing else) is one task on one
//! worker, which runs it in order on its own earlier changes: a fully dependent block runs on
//! one thread without waiting for the merger between its transactions and without wasted
//! speculation.
//!
//! Predictions are never trusted: execution and the in-order merge are `monad`'s (see
//! [`super::monad`]), which checks every value a transaction read against the merged state
//! before its own and executes it again where one differs. A wrong prediction therefore costs
//! a re-execution (counted in `re_executions`), never a wrong result.
//!
//! The beneficiary is left out of the graph: a transaction that does not load it defers its
//! fee, which the merge credits in order.

use super::{
    Strategy, Workers,
    common::{
        size::SizeRules,
        tasks::{Task, Tasks},
    },
    monad::{Plan, Publish, execute_planned},
};
use crate::{
    block::Block,
    error::ExecError,
    output::{ExecStats, TxOutput},
    predict::{self, Loc, Prediction, Predictor},
    state::{Overlay, StateView},
};
use alloy_primitives::map::HashMap;

/// Where predictions come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hints {
    /// Static bytecode analysis, and simulation for the transactions it marks partial.
    StaticThenSimulate,
    /// The transactions' EIP-2930 lists.
    AccessList,
    /// The block's EIP-7928 list when it has one (else as `StaticThenSimulate`).
    Bal,
}

/// Dependency-graph scheduling from predictions.
#[derive(Debug, Clone, Copy)]
pub struct Dag {
    rules: SizeRules,
    hints: Hints,
}

impl Dag {
    /// The registered configuration (`dag`).
    pub const DEFAULT: Dag = Dag {
        rules: SizeRules::DEFAULT,
        hints: Hints::StaticThenSimulate,
    };
    /// Without size rules (`dag-speculative`: small blocks exercise the graph too).
    pub const SPECULATIVE: Dag = Dag {
        rules: SizeRules::NONE,
        hints: Hints::StaticThenSimulate,
    };
    /// From the transactions' access lists alone (`dag-access-list`), without size rules.
    pub const ACCESS_LIST: Dag = Dag {
        rules: SizeRules::NONE,
        hints: Hints::AccessList,
    };
    /// From the block's EIP-7928 list (`dag-bal`), without size rules.
    pub const BAL: Dag = Dag {
        rules: SizeRules::NONE,
        hints: Hints::Bal,
    };
}

impl Strategy for Dag {
    fn name(&self) -> &'static str {
        match (self.hints, self.rules == SizeRules::NONE) {
            (Hints::StaticThenSimulate, false) => "dag",
            (Hints::StaticThenSimulate, true) => "dag-speculative",
            (Hints::AccessList, _) => "dag-access-list",
            (Hints::Bal, _) => "dag-bal",
        }
    }

    fn description(&self) -> &'static str {
        "dependency graph from predicted accesses, chains on one worker, reads validated (MegaETH, Grevm)"
    }

    fn executes_from_access_list(&self) -> bool {
        self.hints == Hints::Bal
    }

    fn execute_transactions(
        &self,
        block: &Block,
        state: &mut Overlay<'_>,
        workers: &Workers,
        stats: &mut ExecStats,
    ) -> Result<Vec<TxOutput>, ExecError> {
        let plan = |base: &dyn StateView, n: usize, stats: &mut ExecStats| {
            let all = self.predict(block, base, workers)?;
            let (tasks, waited_for) = graph(&all[all.len() - n..], block.header.beneficiary, stats);
            Ok(Plan {
                tasks,
                publish: Publish::Marked(waited_for),
            })
        };
        execute_planned(self.rules, block, state, workers, stats, plan)
    }
}

impl Dag {
    /// Every transaction's prediction, on the state before the transactions.
    fn predict(
        &self,
        block: &Block,
        base: &dyn StateView,
        workers: &Workers,
    ) -> Result<Vec<Prediction>, ExecError> {
        let from = |p: &dyn Predictor| p.predict(block, base, workers);
        let listed = match self.hints {
            Hints::AccessList => from(&predict::access_list::AccessList)?,
            Hints::Bal => from(&predict::bal::FromList)?,
            Hints::StaticThenSimulate => None,
        };
        if let Some(all) = listed {
            return Ok(all);
        }
        let mut all = predict::bytecode::Static::DEFAULT.analyze_all(block, base, workers)?;
        if all.iter().any(|p| p.partial) {
            let simulated = from(&predict::simulate::Simulate)?.unwrap_or_default();
            for (p, s) in all.iter_mut().zip(simulated) {
                if p.partial {
                    *p = s;
                }
            }
        }
        Ok(all)
    }
}

/// The tasks of the dependency graph of `predictions` (one per transaction of the run), and
/// which transactions a transaction of another task waits for (the merger publishes those):
/// each transaction waits for the nearest earlier writer of every location it is predicted to
/// touch; linear chains are one task. Counts the graph's edges in `dag_edges`.
fn graph(
    predictions: &[Prediction],
    beneficiary: alloy_primitives::Address,
    stats: &mut ExecStats,
) -> (Tasks, Vec<bool>) {
    let n = predictions.len();
    let mut last_writer: HashMap<Loc, usize> = HashMap::default();
    let mut preds: Vec<Vec<usize>> = Vec::with_capacity(n);
    let fee = Loc::Account(beneficiary);
    for (j, p) in predictions.iter().enumerate() {
        let mut mine: Vec<usize> = p
            .reads
            .iter()
            .chain(&p.writes)
            .filter(|l| **l != fee)
            .filter_map(|l| last_writer.get(l).copied())
            .collect();
        mine.sort_unstable();
        mine.dedup();
        for w in p.writes.iter().filter(|l| **l != fee) {
            last_writer.insert(*w, j);
        }
        preds.push(mine);
    }
    let mut successors = vec![0u32; n];
    for mine in &preds {
        for p in mine {
            successors[*p] += 1;
        }
    }
    stats.count("dag_edges", preds.iter().map(|p| p.len() as u64).sum());
    // Each transaction's task: its only predecessor's, when it is that one's only successor.
    let mut task_of = vec![usize::MAX; n];
    let mut list: Vec<Task> = Vec::new();
    for (j, mine) in preds.iter().enumerate() {
        match mine.as_slice() {
            [p] if successors[*p] == 1 => {
                task_of[j] = task_of[*p];
                list[task_of[j]].txs.push(j);
            }
            _ => {
                task_of[j] = list.len();
                let ready_at = mine.last().map_or(0, |p| p + 1);
                list.push(Task {
                    txs: vec![j],
                    ready_at,
                });
            }
        }
    }
    let mut waited_for = vec![false; n];
    for (j, mine) in preds.iter().enumerate() {
        for p in mine.iter().filter(|p| task_of[**p] != task_of[j]) {
            waited_for[*p] = true;
        }
    }
    (Tasks::new(list), waited_for)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{engine::Engine, sources::adversarial, strategy::sequential::Sequential};
    use alloy_primitives::{Address, U256};

    /// A deliberate mistake made to the prediction of transaction `i`.
    type Spoil = fn(&mut Prediction, usize);

    /// `dag` with its predictions spoiled (deliberately wrong hints).
    struct Spoiled(Spoil);

    impl Strategy for Spoiled {
        fn name(&self) -> &'static str {
            "dag-spoiled"
        }
        fn description(&self) -> &'static str {
            "dag on wrong predictions"
        }
        fn execute_transactions(
            &self,
            block: &Block,
            state: &mut Overlay<'_>,
            workers: &Workers,
            stats: &mut ExecStats,
        ) -> Result<Vec<TxOutput>, ExecError> {
            let plan = |base: &dyn StateView, n: usize, stats: &mut ExecStats| {
                let mut all = Dag::SPECULATIVE.predict(block, base, workers)?;
                all.iter_mut().enumerate().for_each(|(i, p)| (self.0)(p, i));
                let (tasks, waited_for) =
                    graph(&all[all.len() - n..], block.header.beneficiary, stats);
                Ok(Plan {
                    tasks,
                    publish: Publish::Marked(waited_for),
                })
            };
            execute_planned(SizeRules::NONE, block, state, workers, stats, plan)
        }
    }

    #[test]
    fn wrong_predictions_still_give_the_sequential_result() {
        let spoils: [(&str, Spoil); 5] = [
            ("empty sets", |p, _| *p = Prediction::default()),
            ("missing writes", |p, _| p.writes.clear()),
            ("missing reads", |p, _| {
                p.reads.retain(|l| p.writes.contains(l))
            }),
            ("extra entries", |p, i| {
                p.write(Loc::Slot(Address::repeat_byte(0xee), U256::from(i % 3)))
            }),
            ("one chain", |p, _| {
                p.write(Loc::Account(Address::repeat_byte(0xcc)))
            }),
        ];
        let engines = [Engine::new(2).unwrap(), Engine::new(4).unwrap()];
        for seed in 0..60 {
            let g = adversarial::generate(seed, adversarial::Limits::default());
            let reference = Engine::new(1)
                .unwrap()
                .execute(&g.block, &g.state, &Sequential);
            for (what, spoil) in spoils {
                for engine in &engines {
                    let out = engine.execute(&g.block, &g.state, &Spoiled(spoil));
                    let diff = crate::checks::verdict_difference(&reference, &out);
                    assert_eq!(diff, None, "seed {seed}, {what}, x{}", engine.threads());
                }
            }
        }
    }

    fn p(reads: &[u64], writes: &[u64]) -> Prediction {
        let slot = |k: &u64| Loc::Slot(Address::ZERO, U256::from(*k));
        let mut out = Prediction::default();
        reads.iter().for_each(|k| out.read(slot(k)));
        writes.iter().for_each(|k| out.write(slot(k)));
        out
    }

    #[test]
    fn independent_transactions_are_tasks_of_their_own_and_chains_one_task() {
        let mut stats = ExecStats::default();
        // 0 and 1 independent; 2 reads what 1 writes, 3 what 2 writes (a chain 1-2-3);
        // 4 reads what 0 and 3 write.
        let all = [
            p(&[], &[10]),
            p(&[], &[11]),
            p(&[11], &[12]),
            p(&[12], &[13]),
            p(&[10, 13], &[]),
        ];
        let (tasks, waited_for) = graph(&all, Address::repeat_byte(0xbe), &mut stats);
        assert_eq!(tasks.txs(0), [0]);
        assert_eq!(tasks.txs(1), [1, 2, 3]);
        assert_eq!(tasks.txs(2), [4]);
        assert_eq!(stats.counter("dag_edges"), 4);
        // (4 waits for 0 and 3, in other tasks; 2 and 3 wait within their chain.)
        assert_eq!(waited_for, [true, false, false, true, false]);
    }
}
