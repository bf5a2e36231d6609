//! Lock scheduling from predicted access sets: Solana Sealevel's read and write locks.
//!
//! Every transaction takes, in block order, a read lock on each location it is predicted to
//! read and a write lock on each it is predicted to write: it starts once every earlier
//! transaction holding a conflicting lock (a write lock on what it touches, a read lock on what
//! it writes) has finished and been merged, so a transaction never runs before what it depends
//! on, and nothing runs speculatively. Unlike Solana's declared accounts, Ethereum's
//! predictions can be wrong: an access outside them is caught by `monad`'s in-order merge, which
//! checks every value read and runs the transaction again after all its predecessors (counted
//! in `re_executions`: the violations); see [`super::common::graph`].

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

/// Sealevel-style lock scheduling from predictions.
#[derive(Debug, Clone, Copy)]
pub struct Sealevel {
    hints: Hints,
}

impl Sealevel {
    /// From static analysis, simulation for the transactions it marks partial (`sealevel`).
    pub const DEFAULT: Sealevel = Sealevel {
        hints: Hints::StaticThenSimulate,
    };
    /// From static analysis alone (`sealevel-static`).
    pub const STATIC: Sealevel = Sealevel {
        hints: Hints::Static,
    };
    /// From simulation alone (`sealevel-simulate`).
    pub const SIMULATE: Sealevel = Sealevel {
        hints: Hints::Simulate,
    };
    /// From the transactions' EIP-2930 lists (`sealevel-access-list`).
    pub const ACCESS_LIST: Sealevel = Sealevel {
        hints: Hints::AccessList,
    };
    /// From the block's EIP-7928 list (`sealevel-bal`).
    pub const BAL: Sealevel = Sealevel { hints: Hints::Bal };
}

impl Strategy for Sealevel {
    fn name(&self) -> &'static str {
        match self.hints {
            Hints::StaticThenSimulate => "sealevel",
            Hints::Static => "sealevel-static",
            Hints::Simulate => "sealevel-simulate",
            Hints::AccessList => "sealevel-access-list",
            Hints::Bal => "sealevel-bal",
        }
    }

    fn description(&self) -> &'static str {
        "read and write locks from predicted accesses, no speculation, reads validated (Solana Sealevel)"
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
            Rule::Locks,
            SizeRules::NONE,
            block,
            state,
            workers,
            stats,
        )
    }
}
