//! Orders from predicted accesses, for the strategies that schedule from hints (`dag`,
//! `sealevel`): where predictions come from, and the tasks they give under a scheduling rule.
//!
//! Execution and the in-order merge are `monad`'s (see [`crate::strategy::monad`]), which
//! checks every value a transaction read against the merged state before it and executes it
//! again where one differs: a wrong prediction costs a re-execution (counted in
//! `re_executions`), never a wrong result. The beneficiary is left out: a transaction that does
//! not load it defers its fee, which the merge credits in order.

use super::tasks::{Task, Tasks};
use crate::{
    block::Block,
    error::ExecError,
    output::ExecStats,
    predict::{self, Loc, Prediction, Predictor},
    state::StateView,
    strategy::{
        Workers,
        monad::{Plan, Publish},
    },
};
use alloy_primitives::{Address, map::HashMap};

/// Where predictions come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hints {
    /// Static bytecode analysis, and simulation for the transactions it marks partial.
    StaticThenSimulate,
    /// Static bytecode analysis alone.
    Static,
    /// Each transaction simulated alone on the state before the transactions.
    Simulate,
    /// The transactions' EIP-2930 lists.
    AccessList,
    /// The block's EIP-7928 list when it has one (else as `StaticThenSimulate`).
    Bal,
}

impl Hints {
    /// Every transaction's prediction, on the state before the transactions.
    pub(crate) fn predict(
        self,
        block: &Block,
        base: &dyn StateView,
        workers: &Workers,
    ) -> Result<Vec<Prediction>, ExecError> {
        let from = |p: &dyn Predictor| p.predict(block, base, workers);
        let listed = match self {
            Hints::AccessList => from(&predict::access_list::AccessList)?,
            Hints::Bal => from(&predict::bal::FromList)?,
            Hints::Simulate => from(&predict::simulate::Simulate)?,
            Hints::StaticThenSimulate | Hints::Static => None,
        };
        if let Some(all) = listed {
            return Ok(all);
        }
        let mut all = predict::bytecode::Static::DEFAULT.analyze_all(block, base, workers)?;
        if self == Hints::StaticThenSimulate && all.iter().any(|p| p.partial) {
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

/// Which earlier transactions a transaction waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// The nearest earlier writer of each location it reads or writes (a dependency graph);
    /// linear chains are one task.
    NearestWriter,
    /// Every earlier transaction holding a conflicting lock: a writer of what it reads or
    /// writes, a reader of what it writes (Sealevel's read and write locks).
    Locks,
}

/// The plan of a run whose transactions have `predictions` under `rule`: the tasks, and the
/// merger publishing what a transaction of another task waits for. Counts the waits in
/// `graph_edges`.
pub(crate) fn plan(
    predictions: &[Prediction],
    beneficiary: Address,
    rule: Rule,
    stats: &mut ExecStats,
) -> Plan {
    let preds = waits(predictions, beneficiary, rule);
    stats.count("graph_edges", preds.iter().map(|p| p.len() as u64).sum());
    let (tasks, task_of) = tasks(&preds, rule == Rule::NearestWriter);
    let mut waited_for = vec![false; preds.len()];
    for (j, mine) in preds.iter().enumerate() {
        for p in mine.iter().filter(|p| task_of[**p] != task_of[j]) {
            waited_for[*p] = true;
        }
    }
    Plan {
        tasks,
        publish: Publish::Marked(waited_for),
    }
}

/// Executes `block`'s transactions on `state` scheduled by `rule` from `hints`, merged in
/// block order (after those the size `rules` run sequentially first).
#[allow(clippy::too_many_arguments)]
pub(crate) fn execute(
    hints: Hints,
    rule: Rule,
    rules: super::size::SizeRules,
    block: &Block,
    state: &mut crate::state::Overlay<'_>,
    workers: &Workers,
    stats: &mut ExecStats,
) -> Result<Vec<crate::output::TxOutput>, ExecError> {
    let schedule = |base: &dyn StateView, n: usize, stats: &mut ExecStats| {
        let started = std::time::Instant::now();
        let all = hints.predict(block, base, workers)?;
        stats.count("predict_us", started.elapsed().as_micros() as u64);
        let started = std::time::Instant::now();
        let plan = plan(&all[all.len() - n..], block.header.beneficiary, rule, stats);
        stats.count("plan_us", started.elapsed().as_micros() as u64);
        Ok(plan)
    };
    crate::strategy::monad::execute_planned(rules, block, state, workers, stats, schedule)
}

/// For each transaction, the earlier ones it waits for under `rule` (ascending).
pub(crate) fn waits(
    predictions: &[Prediction],
    beneficiary: Address,
    rule: Rule,
) -> Vec<Vec<usize>> {
    let fee = Loc::Account(beneficiary);
    let mut last_writer: HashMap<Loc, usize> = HashMap::default();
    let mut last_reader: HashMap<Loc, usize> = HashMap::default();
    let mut all = Vec::with_capacity(predictions.len());
    for (j, p) in predictions.iter().enumerate() {
        let touched = p.reads.iter().chain(&p.writes).filter(|l| **l != fee);
        let mut mine: Vec<usize> = touched
            .filter_map(|l| last_writer.get(l).copied())
            .collect();
        if rule == Rule::Locks {
            let readers = p.writes.iter().filter_map(|l| last_reader.get(l).copied());
            mine.extend(readers);
            for r in p.reads.iter().filter(|l| **l != fee) {
                last_reader.insert(*r, j);
            }
        }
        mine.sort_unstable();
        mine.dedup();
        for w in p.writes.iter().filter(|l| **l != fee) {
            last_writer.insert(*w, j);
        }
        all.push(mine);
    }
    all
}

/// The tasks of transactions waiting for `preds`, each ready once its waits are merged; with
/// `chains`, a transaction that waits only for one that nothing else waits for joins that
/// one's task. Returns them and each transaction's task.
fn tasks(preds: &[Vec<usize>], chains: bool) -> (Tasks, Vec<usize>) {
    let mut successors = vec![0u32; preds.len()];
    for p in preds.iter().flatten() {
        successors[*p] += 1;
    }
    let mut task_of = vec![usize::MAX; preds.len()];
    let mut list: Vec<Task> = Vec::new();
    for (j, mine) in preds.iter().enumerate() {
        match mine.as_slice() {
            [p] if chains && successors[*p] == 1 => {
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
    (Tasks::new(list), task_of)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        block::Block,
        engine::Engine,
        output::TxOutput,
        sources::adversarial,
        state::Overlay,
        strategy::{Strategy, sequential::Sequential},
    };
    use alloy_primitives::U256;

    fn p(reads: &[u64], writes: &[u64]) -> Prediction {
        let slot = |k: &u64| Loc::Slot(Address::ZERO, U256::from(*k));
        let mut out = Prediction::default();
        reads.iter().for_each(|k| out.read(slot(k)));
        writes.iter().for_each(|k| out.write(slot(k)));
        out
    }

    /// 0 and 1 independent; 2 reads what 1 writes, 3 what 2 writes (a chain 1-2-3); 4 reads
    /// what 0 and 3 write; 5 writes what 4 reads.
    fn block() -> Vec<Prediction> {
        vec![
            p(&[], &[10]),
            p(&[], &[11]),
            p(&[11], &[12]),
            p(&[12], &[13]),
            p(&[10, 13], &[]),
            p(&[], &[10]),
        ]
    }

    #[test]
    fn the_graph_waits_for_nearest_writers_and_chains_are_one_task() {
        let mut stats = ExecStats::default();
        let plan = plan(
            &block(),
            Address::repeat_byte(0xbe),
            Rule::NearestWriter,
            &mut stats,
        );
        let tasks: Vec<&[usize]> = (0..4).map(|t| plan.tasks.txs(t)).collect();
        assert_eq!(tasks, [&[0][..], &[1, 2, 3], &[4], &[5]]);
        // (5 writes 10 after 0 wrote it.)
        assert_eq!(stats.counter("graph_edges"), 5);
        let Publish::Marked(waited_for) = plan.publish else {
            panic!("publishes what is waited for")
        };
        assert_eq!(waited_for, [true, false, false, true, false, false]);
    }

    #[test]
    fn locks_also_wait_for_earlier_readers_and_make_no_chains() {
        let preds = waits(&block(), Address::repeat_byte(0xbe), Rule::Locks);
        assert_eq!(preds[5], [0, 4], "the writer of 10 and its reader");
        let (tasks, _) = tasks(&preds, false);
        assert_eq!(tasks.txs(2), [2]);
    }

    /// A deliberate mistake made to the prediction of transaction `i`.
    type Spoil = fn(&mut Prediction, usize);

    /// A strategy scheduling by `rule` from predictions spoiled (deliberately wrong hints).
    struct Spoiled(Spoil, Rule);

    impl Strategy for Spoiled {
        fn name(&self) -> &'static str {
            "spoiled"
        }
        fn description(&self) -> &'static str {
            "scheduled from wrong predictions"
        }
        fn execute_transactions(
            &self,
            block: &Block,
            state: &mut Overlay<'_>,
            workers: &Workers,
            stats: &mut ExecStats,
        ) -> Result<Vec<TxOutput>, ExecError> {
            let plan = |base: &dyn StateView, n: usize, stats: &mut ExecStats| {
                let mut all = Hints::StaticThenSimulate.predict(block, base, workers)?;
                all.iter_mut().enumerate().for_each(|(i, p)| (self.0)(p, i));
                let beneficiary = block.header.beneficiary;
                Ok(plan(&all[all.len() - n..], beneficiary, self.1, stats))
            };
            let rules = crate::strategy::common::size::SizeRules::NONE;
            crate::strategy::monad::execute_planned(rules, block, state, workers, stats, plan)
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
            for ((what, spoil), rule) in spoils
                .iter()
                .flat_map(|s| [Rule::NearestWriter, Rule::Locks].map(|r| (s, r)))
            {
                for engine in &engines {
                    let out = engine.execute(&g.block, &g.state, &Spoiled(*spoil, rule));
                    let diff = crate::checks::verdict_difference(&reference, &out);
                    assert_eq!(
                        diff,
                        None,
                        "seed {seed}, {what}, {rule:?}, x{}",
                        engine.threads()
                    );
                }
            }
        }
    }
}
