//! Updates that commute with the transactions around them, and the rules that say when a
//! transaction's effect is one: a plain value transfer credits its recipient and debits its
//! sender by amounts that do not depend on their balances, so a strategy may apply them to
//! values other than those the transaction read, after re-running the only checks that read
//! them (revm's nonce, code and balance checks on the sender).

use crate::{block::Transaction, error::ExecError, state::changes::AccountValue};
use alloy_primitives::{Address, U256};
use revm::primitives::KECCAK_EMPTY;

/// The recipient of `tx` if it is a plain value transfer whose recipient's balance can be
/// credited as a commutative update: no calldata, no EIP-7702 authorizations, not to itself, the
/// beneficiary or a precompile (those execute code), and before Amsterdam (`fork`): from then
/// on, EIP-2780 charges a transfer for creating its recipient when the recipient does not exist
/// yet, so its gas depends on the transfers to the same account before it. Whether the
/// recipient has code is checked when it is read.
pub(crate) fn plain_transfer_recipient(
    tx: &crate::block::Transaction,
    beneficiary: Address,
    fork: crate::Fork,
) -> Option<Address> {
    if fork.at_least(crate::Fork::Amsterdam) {
        return None;
    }
    let revm::primitives::TxKind::Call(to) = tx.env.kind else {
        return None;
    };
    // (One comparison of 18 bytes: a byte-by-byte `all` compiled to some hundred instructions.)
    let precompile_range = to.as_slice()[..18] == [0u8; 18];
    (tx.env.data.is_empty()
        && tx.env.authorization_list.is_empty()
        && to != tx.env.caller
        && to != beneficiary
        && !precompile_range)
        .then_some(to)
}

/// The balance a plain transfer's sender is given when it runs without waiting for its real
/// value (a *lazy sender*): more than any eligible transaction can spend (see
/// [`stand_in_eligible`]), so the EVM's balance check passes and the cost is the difference.
pub(crate) const STAND_IN_BALANCE: U256 = U256::from_limbs([0, 0, 0, 1 << 62]);

/// Whether a plain transfer's sender may be given the stand-in balance and its own nonce: not
/// a blob transaction, and spending far less than the stand-in.
pub(crate) fn stand_in_eligible(tx: &Transaction) -> bool {
    use revm::context_interface::Transaction as _;
    tx.tx_type != 3
        && tx
            .env
            .max_balance_spending()
            .is_ok_and(|v| v < STAND_IN_BALANCE >> 4)
}

/// Runs revm's own validity checks of `tx` (the block's `index`) on its sender's value
/// `before` — the same functions, in the same order, that revm runs before executing a
/// transaction — so that a failure is the error sequential execution would report.
pub(crate) fn check_sender(
    tx: &Transaction,
    index: usize,
    block_env: &revm::context::BlockEnv,
    cfg: &revm::context::CfgEnv,
    before: AccountValue,
) -> Result<(), ExecError> {
    let (balance, nonce, code_hash) = before.unwrap_or((U256::ZERO, 0, KECCAK_EMPTY));
    let info = crate::state::account_info(balance, nonce, code_hash, None);
    revm::handler::pre_execution::validate_account_nonce_and_code_with_components(
        &info, &tx.env, cfg,
    )
    .and_then(|()| {
        revm::handler::pre_execution::calculate_caller_fee(balance, &tx.env, block_env, cfg)
    })
    .map(|_| ())
    .map_err(|reason| {
        crate::core::evm_error(
            revm::context::result::EVMError::<crate::state::StateError, _>::Transaction(reason),
            index,
            tx,
        )
    })
}
