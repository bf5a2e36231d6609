//! The `static` predictor: what a transaction touches, from the called contracts' bytecode,
//! without reading storage.
//!
//! The transaction's calldata, caller and value, the block, and the code of every account are
//! known; storage values and balances are not. The analysis runs the EVM over that knowledge
//! ([`Word`]: a value or "unknown"): a slot computed from known words (a constant, a mapping
//! key hashed with its base, a nested mapping's hash of a hash) is a known location, so an
//! `SLOAD` or `SSTORE` of it is predicted exactly; a call to a known address is followed into
//! the callee's code. A branch on an unknown value is explored both ways (the may-access sets
//! of both paths are predicted), within a budget of steps and paths; an unknown slot, call
//! target or jump target, a contract creation, or a spent budget marks the prediction partial.
//!
//! Why this is enough for tokens and swaps: what they touch depends on calldata and on
//! addresses fixed in code, never on the values in storage, except through `require`s, whose
//! failing side only reverts.

use super::{Loc, Prediction, Predictor, envelope};
use crate::{block::Block, error::ExecError, state::StateView, strategy::Workers};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256, map::HashMap};
use revm::primitives::{KECCAK_EMPTY, TxKind};

mod eval;
mod ops;

/// A value the analysis knows, or `None` when it depends on storage, balances or gas.
pub(crate) type Word = Option<U256>;

/// Static bytecode analysis, with its budget per transaction.
#[derive(Debug, Clone, Copy)]
pub struct Static {
    /// Instructions interpreted over all paths.
    pub max_steps: usize,
    /// Paths explored (each unknown branch adds one).
    pub max_paths: usize,
    /// Nested calls followed.
    pub max_depth: usize,
}

impl Static {
    /// The budget `parevm predict` uses.
    pub const DEFAULT: Static = Static {
        max_steps: 200_000,
        max_paths: 1_024,
        max_depth: 8,
    };
}

impl Predictor for Static {
    fn name(&self) -> &'static str {
        "static"
    }

    fn description(&self) -> &'static str {
        "the called contracts' bytecode run on known calldata with storage unknown"
    }

    fn predict(
        &self,
        block: &Block,
        state: &dyn StateView,
        workers: &Workers,
    ) -> Result<Option<Vec<Prediction>>, ExecError> {
        self.analyze_all(block, state, workers).map(Some)
    }
}

impl Static {
    /// The prediction for every transaction of `block`, on `workers`.
    pub fn analyze_all(
        &self,
        block: &Block,
        state: &dyn StateView,
        workers: &Workers,
    ) -> Result<Vec<Prediction>, ExecError> {
        let n = block.transactions.len();
        super::each_transaction(n, workers, || (), |(), i| self.analyze(block, state, i))
    }

    /// The prediction for transaction `i` of `block` on pre-state `state`.
    pub fn analyze(
        &self,
        block: &Block,
        state: &dyn StateView,
        i: usize,
    ) -> Result<Prediction, ExecError> {
        let tx = &block.transactions[i];
        let mut a = Analysis {
            budget: *self,
            block,
            origin: tx.env.caller,
            state,
            p: envelope(block, tx),
            codes: HashMap::default(),
            steps: 0,
            paths: 0,
        };
        for item in tx.env.access_list.iter() {
            a.p.read(Loc::Account(item.address));
            for key in &item.storage_keys {
                a.p.read(Loc::Slot(item.address, (*key).into()));
            }
        }
        // (EIP-7702 authorities are recovered from signatures: not predicted.)
        a.p.partial |= !tx.env.authorization_list.is_empty();
        let value = Some(tx.env.value);
        let calldata: Vec<Option<u8>> = tx.env.data.iter().map(|b| Some(*b)).collect();
        match tx.env.kind {
            TxKind::Call(to) => {
                let frame = eval::Frame {
                    address: to,
                    caller: tx.env.caller,
                    value,
                    calldata,
                    code: a.code(to)?,
                    depth: 0,
                };
                a.run(frame)?;
            }
            TxKind::Create => {
                let created = tx.env.caller.create(tx.env.nonce);
                a.p.write(Loc::Account(created));
                let frame = eval::Frame {
                    address: created,
                    caller: tx.env.caller,
                    value,
                    calldata: Vec::new(),
                    code: tx.env.data.clone(),
                    depth: 0,
                };
                a.run(frame)?;
            }
        }
        Ok(a.p)
    }
}

/// One transaction's analysis: what it found so far and what it has spent.
pub(crate) struct Analysis<'a> {
    budget: Static,
    block: &'a Block,
    /// The transaction's sender (ORIGIN).
    origin: Address,
    state: &'a dyn StateView,
    pub(crate) p: Prediction,
    /// Code by account (after an EIP-7702 delegation), read once.
    codes: HashMap<Address, Bytes>,
    steps: usize,
    paths: usize,
}

impl Analysis<'_> {
    /// The code that runs when `address` is called (its delegate's, for an EIP-7702
    /// delegation), empty when it has none.
    pub(crate) fn code(&mut self, address: Address) -> Result<Bytes, ExecError> {
        if let Some(code) = self.codes.get(&address) {
            return Ok(code.clone());
        }
        let mut code = self.own_code(address)?;
        if let Some(delegate) = delegation(&code) {
            self.p.read(Loc::Account(delegate));
            code = self.own_code(delegate)?;
        }
        self.codes.insert(address, code.clone());
        Ok(code)
    }

    fn own_code(&self, address: Address) -> Result<Bytes, ExecError> {
        Ok(match self.state.account_fields(address)? {
            Some((_, _, hash)) if hash != KECCAK_EMPTY => {
                self.state.code_by_hash(hash)?.original_bytes()
            }
            _ => Bytes::new(),
        })
    }

    /// The hash of `address`'s code, as EXTCODEHASH gives it (zero for no account).
    pub(crate) fn code_hash(&self, address: Address) -> Result<B256, ExecError> {
        Ok(self
            .state
            .account_fields(address)?
            .map_or(B256::ZERO, |(_, _, h)| h))
    }

    /// Counts one instruction; false once the budget is spent (the prediction is then
    /// partial).
    pub(crate) fn step(&mut self) -> bool {
        self.steps += 1;
        let ok = self.steps <= self.budget.max_steps;
        self.p.partial |= !ok;
        ok
    }

    /// Counts a new path; false once the budget is spent.
    pub(crate) fn fork(&mut self) -> bool {
        self.paths += 1;
        let ok = self.paths <= self.budget.max_paths;
        self.p.partial |= !ok;
        ok
    }

    /// Whether a call at `depth` may be followed.
    pub(crate) fn may_enter(&mut self, depth: usize) -> bool {
        let ok = depth < self.budget.max_depth;
        self.p.partial |= !ok;
        ok
    }

    pub(crate) fn block(&self) -> &Block {
        self.block
    }
}

/// The delegate of EIP-7702 delegation code (`0xef0100 ++ address`).
fn delegation(code: &[u8]) -> Option<Address> {
    (code.len() == 23 && code.starts_with(&[0xef, 0x01, 0x00]))
        .then(|| Address::from_slice(&code[3..]))
}

/// The keccak of `bytes` when all are known.
pub(crate) fn hash_known(bytes: &[Option<u8>]) -> Word {
    let known: Option<Vec<u8>> = bytes.iter().copied().collect();
    known.map(|b| U256::from_be_bytes(keccak256(b).0))
}

#[cfg(test)]
mod tests;
