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
//! Predictions are never trusted: `monad`'s in-order merge checks every value read (see
//! [`super::common::graph`]).

use super::{
    Strategy, Workers,
    common::{
        graph::{self, Hints, Rule},
        size::SizeRules,
    },
};
use crate::{
    block::Block,
    error::ExecError,
    output::{ExecStats, TxOutput},
    state::Overlay,
};

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
    /// From static analysis alone (`dag-static`), without size rules.
    pub const STATIC: Dag = Dag {
        rules: SizeRules::NONE,
        hints: Hints::Static,
    };
    /// From simulation alone (`dag-simulate`), without size rules.
    pub const SIMULATE: Dag = Dag {
        rules: SizeRules::NONE,
        hints: Hints::Simulate,
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
            (Hints::Static, _) => "dag-static",
            (Hints::Simulate, _) => "dag-simulate",
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
        graph::execute(
            self.hints,
            Rule::NearestWriter,
            self.rules,
            block,
            state,
            workers,
            stats,
        )
    }
}
