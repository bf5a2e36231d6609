//! The execution core: the only place that builds and drives revm.
//!
//! Strategies decide *what runs when, against which view*; this module decides *how* one
//! transaction or block operation runs: [`TxExecutor`] executes a transaction on any revm
//! `Database` and turns revm's result into a [`TxOutput`]; [`pre_block`] and [`post_block`]
//! apply the fork's system calls, rewards and withdrawals; [`check_block_limits`] enforces the
//! block-level gas rules that revm does not know about (it sees one transaction at a time).

use crate::{
    block::{Block, Transaction},
    chain::Fork,
    error::ExecError,
    output::{Access, Receipt, TxOutput},
    state::{RevmDb, StateChanges, StateError, StateView, changes},
};
use alloy_primitives::{Address, Bytes, U256, address};
use revm::{
    Context, ExecuteEvm, MainBuilder, MainContext, SystemCallEvm,
    context::result::{EVMError, ExecResultAndState, ExecutionResult},
    handler::{MainnetContext, MainnetEvm, system_call::SYSTEM_ADDRESS},
    primitives::hardfork::SpecId,
    state::EvmState,
};

/// EIP-4788 beacon roots contract.
pub const BEACON_ROOTS_ADDRESS: Address = address!("0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02");
/// EIP-2935 block hash history contract.
pub const HISTORY_STORAGE_ADDRESS: Address = address!("0x0000F90827F1C53a10cb7A02335B175320002935");
/// EIP-7002 withdrawal request contract.
pub const WITHDRAWAL_REQUEST_ADDRESS: Address =
    address!("0x00000961Ef480Eb55e80D19ad83579A64c007002");
/// EIP-7251 consolidation request contract.
pub const CONSOLIDATION_REQUEST_ADDRESS: Address =
    address!("0x0000BBdDc7CE488642fb579F8B00f3a590007251");

/// The revm EVM parevm runs, over database `DB`.
pub type Evm<DB> = MainnetEvm<MainnetContext<DB>>;

/// Executes transactions of one block on one revm instance.
///
/// Building an EVM costs allocations (precompile tables, journal), so each worker builds one
/// per block and reuses it for every transaction it runs.
pub struct TxExecutor<DB: revm::Database<Error = StateError>> {
    evm: Evm<DB>,
    spec: SpecId,
    /// Whether outputs carry what the transaction accessed ([`Block::record_access`]).
    record_access: bool,
}

impl<DB: revm::Database<Error = StateError>> TxExecutor<DB> {
    /// An executor for `block` reading through `db`.
    pub fn new(block: &Block, db: DB) -> Self {
        let evm = Context::mainnet()
            .with_db(db)
            .with_block(block.block_env())
            .with_cfg(block.cfg_env())
            .build_mainnet();
        TxExecutor {
            evm,
            spec: block.fork.spec_id(),
            record_access: block.record_access,
        }
    }

    /// The database the EVM reads.
    pub fn db_mut(&mut self) -> &mut DB {
        &mut self.evm.ctx.journaled_state.database
    }

    /// Runs transaction `index` and returns revm's raw result and state.
    pub fn transact(
        &mut self,
        index: usize,
        tx: &Transaction,
    ) -> Result<ExecResultAndState<ExecutionResult, EvmState>, ExecError> {
        self.evm
            .transact(tx.env.clone())
            .map_err(|e| evm_error(e, index, tx))
    }

    /// Runs transaction `index` and returns its output, given the gas used by the block
    /// before it. Also returns revm's state, for strategies that inspect reads.
    pub fn execute(
        &mut self,
        index: usize,
        tx: &Transaction,
        cumulative_gas_before: u64,
    ) -> Result<(TxOutput, EvmState), ExecError> {
        let ExecResultAndState { result, state } = self.transact(index, tx)?;
        Ok((
            tx_output(tx, &result, &state, cumulative_gas_before, self.spec)
                .with_access(self.record_access, &state),
            state,
        ))
    }
}

/// Maps revm's error for transaction `index` to an [`ExecError`].
pub fn evm_error<E: std::fmt::Display>(
    e: EVMError<StateError, E>,
    index: usize,
    tx: &Transaction,
) -> ExecError {
    match e {
        EVMError::Transaction(reason) => ExecError::InvalidTransaction {
            index,
            hash: tx.hash,
            reason: reason.to_string(),
        },
        EVMError::Header(h) => ExecError::InvalidHeader(h.to_string()),
        EVMError::Database(s) => ExecError::State(s),
        EVMError::Custom(s) => ExecError::Evm(s),
        EVMError::CustomAny(s) => ExecError::Evm(s.to_string()),
    }
}

/// Builds the output of a transaction from revm's result.
pub fn tx_output(
    tx: &Transaction,
    result: &ExecutionResult,
    state: &EvmState,
    cumulative_gas_before: u64,
    spec: SpecId,
) -> TxOutput {
    let gas_used = result.tx_gas_used();
    TxOutput {
        receipt: Receipt {
            tx_type: tx.tx_type,
            success: result.is_success(),
            cumulative_gas_used: cumulative_gas_before + gas_used,
            logs: result.logs().to_vec(),
        },
        gas_used,
        blob_gas_used: tx.env.blob_hashes.len() as u64 * crate::chain::BlobParams::GAS_PER_BLOB,
        changes: changes::from_evm_state(state, spec),
        access: None,
    }
}

/// Enforces the rules revm does not check for transaction `index` before it runs: its gas
/// limit must fit in what the block has left, its blobs in the block's blob gas, and a blob or
/// set-code transaction must have a recipient (their encodings have no creation form).
pub fn check_block_limits(
    block: &Block,
    index: usize,
    gas_used_before: u64,
    blob_gas_used_before: u64,
) -> Result<(), ExecError> {
    let tx = &block.transactions[index];
    if tx.tx_type >= 3 && tx.env.kind.is_create() {
        return Err(ExecError::InvalidTransaction {
            index,
            hash: tx.hash,
            reason: format!(
                "a type-{} transaction cannot create a contract (it needs a `to`)",
                tx.tx_type
            ),
        });
    }
    let available = block.header.gas_limit.saturating_sub(gas_used_before);
    if tx.env.gas_limit > available {
        return Err(ExecError::InvalidTransaction {
            index,
            hash: tx.hash,
            reason: format!(
                "gas limit {} exceeds the block's remaining gas {available} (block gas limit {}, used {gas_used_before})",
                tx.env.gas_limit, block.header.gas_limit
            ),
        });
    }
    if let Some(params) = block.blob_params {
        let blob_gas = tx.env.blob_hashes.len() as u64 * crate::chain::BlobParams::GAS_PER_BLOB;
        if blob_gas_used_before + blob_gas > params.max_blob_gas() {
            return Err(ExecError::InvalidTransaction {
                index,
                hash: tx.hash,
                reason: format!(
                    "blob gas {blob_gas} exceeds the block's remaining blob gas {}",
                    params.max_blob_gas() - blob_gas_used_before
                ),
            });
        }
    }
    Ok(())
}

/// What [`check_block_limits`] needs of a transaction, small enough to gather ahead of a pass
/// in block order that should not touch the transactions themselves.
#[derive(Debug, Default, Clone, Copy)]
pub struct LimitKey {
    gas_limit: u64,
    /// A blob or set-code transaction: the type and blob rules apply to it.
    typed: bool,
}

impl LimitKey {
    /// The key of `tx`.
    pub fn of(tx: &Transaction) -> Self {
        LimitKey {
            gas_limit: tx.env.gas_limit,
            typed: tx.tx_type >= 3,
        }
    }

    /// False when [`check_block_limits`] cannot fail for this transaction after
    /// `gas_used_before` gas: its gas limit fits, and it is neither a blob nor a set-code
    /// transaction (only those carry blobs or must have a recipient).
    pub fn may_fail(&self, block: &Block, gas_used_before: u64) -> bool {
        self.typed || self.gas_limit > block.header.gas_limit.saturating_sub(gas_used_before)
    }
}

/// Checks the block limits of every transaction after the fact, given their outputs (for
/// strategies that do not execute in order). Returns the first violation in block order.
pub fn check_all_block_limits(block: &Block, txs: &[TxOutput]) -> Result<(), ExecError> {
    let (mut gas, mut blob_gas) = (0, 0);
    for (i, out) in txs.iter().enumerate() {
        check_block_limits(block, i, gas, blob_gas)?;
        gas += out.gas_used;
        blob_gas += out.blob_gas_used;
    }
    Ok(())
}

/// Runs a system call against `state` and returns what it changed in `contract` only (the
/// system address and the beneficiary are not touched by system calls), and its output.
fn system_call(
    block: &Block,
    state: &dyn StateView,
    contract: Address,
    data: Bytes,
    access: &mut Option<Access>,
) -> Result<Option<(StateChanges, Bytes)>, ExecError> {
    let has_code = state
        .account(contract)?
        .is_some_and(|a| a.code_hash != revm::primitives::KECCAK_EMPTY);
    if !has_code {
        return Ok(None);
    }
    let mut evm = Context::mainnet()
        .with_db(RevmDb(state))
        .with_block(block.block_env())
        .with_cfg(block.cfg_env())
        .build_mainnet();
    let ExecResultAndState {
        result,
        state: evm_state,
    } = evm
        .system_call_with_caller(SYSTEM_ADDRESS, contract, data)
        .map_err(|e| ExecError::SystemCall {
            contract: contract_name(contract),
            reason: e.to_string(),
        })?;
    if !result.is_success() {
        return Err(ExecError::SystemCall {
            contract: contract_name(contract),
            reason: format!("execution did not succeed: {result:?}"),
        });
    }
    let mut changes = changes::from_evm_state(&evm_state, block.fork.spec_id());
    changes.retain(|a, _| *a == contract);
    if let Some(access) = access {
        access.add(&evm_state, |a| *a == SYSTEM_ADDRESS);
    }
    Ok(Some((changes, result.into_output().unwrap_or_default())))
}

fn contract_name(a: Address) -> &'static str {
    match a {
        BEACON_ROOTS_ADDRESS => "EIP-4788 beacon roots",
        HISTORY_STORAGE_ADDRESS => "EIP-2935 history storage",
        WITHDRAWAL_REQUEST_ADDRESS => "EIP-7002 withdrawal requests",
        CONSOLIDATION_REQUEST_ADDRESS => "EIP-7251 consolidation requests",
        _ => "system contract",
    }
}

/// Applies the operations that precede the transactions: the EIP-4788 beacon root (Cancun)
/// and EIP-2935 parent hash (Prague) system calls. Both are skipped, as their EIPs specify,
/// when the contract has no code. The changes are applied to `state` and returned.
pub fn pre_block(
    block: &Block,
    state: &mut crate::state::Overlay<'_>,
    access: &mut Option<Access>,
) -> Result<StateChanges, ExecError> {
    if block.chain_id == 1 && block.number() == 1_920_000 {
        return Err(ExecError::Unsupported(
            "block 1,920,000: the DAO fork's irregular state change is not implemented".into(),
        ));
    }
    let mut all = StateChanges::new();
    if !block.system_operations {
        return Ok(all);
    }
    let h = &block.header;
    if block.fork.at_least(Fork::Cancun) {
        let root = h.parent_beacon_block_root.ok_or_else(|| {
            ExecError::InvalidHeader("Cancun block without parentBeaconBlockRoot".into())
        })?;
        if let Some((ch, _)) =
            system_call(block, state, BEACON_ROOTS_ADDRESS, root.0.into(), access)?
        {
            state.apply(&ch);
            changes::merge_into(&mut all, &ch);
        }
    }
    if block.fork.at_least(Fork::Prague) && block.number() > 0 {
        let parent = h.parent_hash;
        if let Some((ch, _)) = system_call(
            block,
            state,
            HISTORY_STORAGE_ADDRESS,
            parent.0.into(),
            access,
        )? {
            state.apply(&ch);
            changes::merge_into(&mut all, &ch);
        }
    }
    Ok(all)
}

/// True when [`post_block`] reads the post-transaction state (rewards, withdrawals or request
/// system calls). When false, a strategy need not apply its transactions' changes to the state
/// it was given: nothing reads it afterwards.
pub fn needs_post_transaction_state(block: &Block) -> bool {
    block.system_operations
        && ((block.fork.block_reward().is_some())
            || (block.fork.at_least(Fork::Shanghai) && !block.withdrawals.is_empty())
            || block.fork.at_least(Fork::Prague))
}

/// The accounts [`post_block`] reads, when they are known before it runs: the beneficiary and
/// the ommers' beneficiaries (block rewards) and the withdrawal recipients, each of which it
/// only credits. `None` from Prague on, when the request system calls run contract code that
/// may read anything. A strategy that keeps its transactions' changes elsewhere need only
/// apply these accounts' final values to the state [`post_block`] is given (empty when
/// [`needs_post_transaction_state`] is false).
pub fn post_block_reads(block: &Block) -> Option<Vec<Address>> {
    if !needs_post_transaction_state(block) {
        return Some(Vec::new());
    }
    if block.fork.at_least(Fork::Prague) {
        return None;
    }
    let mut accounts = Vec::new();
    if block.fork.block_reward().is_some() {
        accounts.push(block.header.beneficiary);
        accounts.extend(block.ommers.iter().map(|o| o.beneficiary));
    }
    if block.fork.at_least(Fork::Shanghai) {
        accounts.extend(block.withdrawals.iter().map(|w| w.address));
    }
    accounts.sort_unstable();
    accounts.dedup();
    Some(accounts)
}

/// Applies the operations that follow the transactions, on the post-transaction `state`:
/// pre-merge block and uncle rewards, withdrawals (Shanghai), and the EIP-7002 / EIP-7251
/// request system calls (Prague), whose outputs are returned as requests.
pub fn post_block(
    block: &Block,
    state: &mut crate::state::Overlay<'_>,
    access: &mut Option<Access>,
) -> Result<(StateChanges, Vec<Bytes>), ExecError> {
    let mut all = StateChanges::new();
    if !block.system_operations {
        return Ok((all, Vec::new()));
    }
    let state_clear = block.fork.at_least(Fork::SpuriousDragon);
    let mut credit = |state: &mut crate::state::Overlay<'_>, to: Address, amount: U256| {
        if let Some(access) = access.as_mut() {
            access.add_account(to);
        }
        let before = state.account_fields(to)?;
        if let Some(change) = changes::credit_change(before, amount, state_clear) {
            let one = StateChanges::from([(to, change)]);
            state.apply(&one);
            changes::merge_into(&mut all, &one);
        }
        Ok::<_, ExecError>(())
    };
    {
        if let Some(reward) = block.fork.block_reward() {
            let ommer_count = block.ommers.len() + block.unknown_ommers;
            let miner = reward + crate::chain::nephew_reward(reward, ommer_count);
            credit(state, block.header.beneficiary, miner)?;
            for ommer in &block.ommers {
                let r = crate::chain::ommer_reward(reward, block.number(), ommer.number);
                credit(state, ommer.beneficiary, r)?;
            }
        }
    }
    if block.fork.at_least(Fork::Shanghai) {
        for w in &block.withdrawals {
            let wei = U256::from(w.amount) * U256::from(1_000_000_000u64);
            credit(state, w.address, wei)?;
        }
    }
    let mut requests = Vec::new();
    if block.fork.at_least(Fork::Prague) {
        for contract in [WITHDRAWAL_REQUEST_ADDRESS, CONSOLIDATION_REQUEST_ADDRESS] {
            let Some((ch, out)) = system_call(block, state, contract, Bytes::new(), access)? else {
                return Err(ExecError::SystemCall {
                    contract: contract_name(contract),
                    reason: "the contract has no code".into(),
                });
            };
            state.apply(&ch);
            changes::merge_into(&mut all, &ch);
            requests.push(out);
        }
    }
    Ok((all, requests))
}

/// revm's mainnet handler, except that the beneficiary's fee is *deferred* when the
/// transaction never loaded the beneficiary account: the fee is returned instead of credited.
///
/// Why: every transaction pays the block's beneficiary, so crediting it inside each
/// transaction makes every transaction read and write one account, serialising any parallel
/// execution. A fee is a commutative balance increment: as long as the transaction itself did
/// not observe the beneficiary, crediting it later, in block order, gives the same state. When
/// the transaction did load the beneficiary (BALANCE, a call or transfer to it), the fee is
/// credited exactly as revm does, so the transaction sees and writes the true balance.
struct DeferredFeeHandler<DB> {
    deferred: std::cell::Cell<Option<U256>>,
    _db: std::marker::PhantomData<DB>,
}

impl<DB: revm::Database<Error = StateError>> revm::handler::Handler for DeferredFeeHandler<DB> {
    type Evm = Evm<DB>;
    type Error = EVMError<StateError, revm::context::result::InvalidTransaction>;
    type HaltReason = revm::context::result::HaltReason;

    fn reward_beneficiary(
        &self,
        evm: &mut Self::Evm,
        exec_result: &mut revm::handler::FrameResult,
    ) -> Result<(), Self::Error> {
        use revm::context_interface::{Block as _, Cfg as _, JournalTr as _, Transaction as _};
        let ctx = &mut evm.ctx;
        let beneficiary = ctx.block.beneficiary();
        if ctx.journaled_state.evm_state().contains_key(&beneficiary) {
            return revm::handler::post_execution::reward_beneficiary(ctx, exec_result.gas())
                .map_err(From::from);
        }
        if ctx.cfg.is_fee_charge_disabled() {
            return Ok(());
        }
        // The same fee revm's `reward_beneficiary` credits.
        let basefee = ctx.block.basefee() as u128;
        let effective_gas_price = ctx.tx.effective_gas_price(basefee);
        let coinbase_gas_price = if ctx.cfg.spec().is_enabled_in(SpecId::LONDON) {
            effective_gas_price.saturating_sub(basefee)
        } else {
            effective_gas_price
        };
        let gas = exec_result.gas();
        let used = gas.used().saturating_sub(gas.reservoir());
        self.deferred
            .set(Some(U256::from(coinbase_gas_price * used as u128)));
        Ok(())
    }
}

impl<DB: revm::Database<Error = StateError>> TxExecutor<DB> {
    /// Like [`TxExecutor::execute`], but defers the beneficiary's fee when the transaction does
    /// not load the beneficiary (see `DeferredFeeHandler`): returns `Some(fee)` then, and the
    /// output's changes do not include the beneficiary. With `None`, the fee was credited.
    pub fn execute_deferring_fee(
        &mut self,
        index: usize,
        tx: &Transaction,
        cumulative_gas_before: u64,
    ) -> Result<(TxOutput, Option<U256>), ExecError> {
        use revm::{context::ContextSetters, handler::Handler};
        self.evm.ctx.set_tx(tx.env.clone());
        let mut handler = DeferredFeeHandler::<DB> {
            deferred: Default::default(),
            _db: Default::default(),
        };
        let result = handler.run(&mut self.evm);
        let state = self.evm.finalize();
        let result = result.map_err(|e| evm_error(e, index, tx))?;
        let output = tx_output(tx, &result, &state, cumulative_gas_before, self.spec)
            .with_access(self.record_access, &state);
        Ok((output, handler.deferred.get()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::workload::{self, WorkloadKind, WorkloadSpec};

    #[test]
    fn limit_key_flags_every_transaction_the_check_rejects() {
        let (block, _) = workload::generate(&WorkloadSpec::new(WorkloadKind::Transfers, 1_000_000));
        let limit = block.header.gas_limit;
        let mut rejected = 0;
        for (i, tx) in block.transactions.iter().enumerate() {
            let key = LimitKey::of(tx);
            for before in [
                0,
                limit / 2,
                limit - tx.env.gas_limit,
                limit - tx.env.gas_limit + 1,
                limit,
            ] {
                if check_block_limits(&block, i, before, 0).is_err() {
                    rejected += 1;
                    assert!(
                        key.may_fail(&block, before),
                        "transaction {i} after {before} gas"
                    );
                }
            }
        }
        assert!(
            rejected > 0,
            "the cases above include gas limits that do not fit"
        );
    }
}
