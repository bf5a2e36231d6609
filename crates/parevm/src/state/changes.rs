//! The canonical form of a state transition: per account, its new info (or deletion), and
//! the storage slots it wrote.
//!
//! Conversion from revm's per-transaction `EvmState` follows the commit rules of revm's own
//! databases plus EIP-161: only touched accounts are changes; a self-destructed account, and
//! (from Spurious Dragon) a touched account left empty, is deleted; a created account starts
//! from empty storage. Storage slots are included when the transaction changed them. A touched
//! account whose info and storage are unchanged (a call target, a zero-value recipient) is not
//! a change, so that it neither costs a commit nor looks like a write to parallel strategies.

use alloy_primitives::{Address, B256, U256};
use revm::{
    primitives::{KECCAK_EMPTY, hardfork::SpecId},
    state::{Bytecode, EvmState},
};
use std::collections::BTreeMap;

/// What one transaction (or block operation) did to one account.
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    /// New balance, nonce and code hash; `None` when the account was deleted.
    pub info: Option<(U256, u64, B256)>,
    /// True when the account's previous storage is wiped (created, destroyed or recreated).
    pub storage_cleared: bool,
    /// Storage slots written, with their new values.
    pub storage: BTreeMap<U256, U256>,
    /// The account's code, when it has any (not compared: `code_hash` identifies it).
    pub code: Option<Bytecode>,
}

impl PartialEq for AccountChange {
    fn eq(&self, other: &Self) -> bool {
        self.info == other.info
            && self.storage_cleared == other.storage_cleared
            && self.storage == other.storage
    }
}
impl Eq for AccountChange {}

impl AccountChange {
    /// A deletion of the account and its storage.
    pub fn deleted() -> Self {
        AccountChange {
            info: None,
            storage_cleared: true,
            ..Default::default()
        }
    }

    /// The new balance (zero if deleted).
    pub fn balance(&self) -> U256 {
        self.info.map_or(U256::ZERO, |i| i.0)
    }
}

/// Changes to many accounts, ordered by address so that equal changes compare and print equal.
pub type StateChanges = BTreeMap<Address, AccountChange>;

/// Converts the state revm returns for one transaction into [`StateChanges`].
pub fn from_evm_state(state: &EvmState, spec: SpecId) -> StateChanges {
    let state_clear = spec.is_enabled_in(SpecId::SPURIOUS_DRAGON);
    let mut out = StateChanges::new();
    for (address, account) in state {
        if !account.is_touched() {
            continue;
        }
        if account.is_selfdestructed() {
            out.insert(*address, AccountChange::deleted());
            continue;
        }
        if state_clear && account.is_empty() {
            // EIP-161: a touched empty account is deleted; one that did not exist stays absent.
            if !account.is_loaded_as_not_existing() || account.is_created() {
                out.insert(*address, AccountChange::deleted());
            }
            continue;
        }
        let changed_slots = account.storage.values().any(|slot| slot.is_changed());
        if !account.is_created() && !account.is_changed() && !changed_slots {
            continue; // touched (called, or paid zero) but left as it was
        }
        let info = &account.info;
        let code = if info.code_hash != KECCAK_EMPTY {
            info.code.clone()
        } else {
            None
        };
        let storage = account
            .storage
            .iter()
            .filter(|(_, slot)| slot.is_changed())
            .map(|(k, slot)| (*k, slot.present_value()))
            .collect();
        out.insert(
            *address,
            AccountChange {
                info: Some((info.balance, info.nonce, info.code_hash)),
                storage_cleared: account.is_created(),
                storage,
                code,
            },
        );
    }
    out
}

/// Appends `later` on top of `earlier`, as if both were applied in order.
pub fn merge_into(earlier: &mut StateChanges, later: &StateChanges) {
    for (address, change) in later {
        match earlier.get_mut(address) {
            Some(prev) if !change.storage_cleared && change.info.is_some() => {
                prev.info = change.info;
                prev.storage
                    .extend(change.storage.iter().map(|(k, v)| (*k, *v)));
                if change.code.is_some() {
                    prev.code = change.code.clone();
                }
            }
            _ => {
                earlier.insert(*address, change.clone());
            }
        }
    }
}

/// Balance, nonce and code hash of an account; `None` when it does not exist.
pub type AccountValue = Option<(U256, u64, B256)>;

/// An account after `amount` is added to its balance, as revm's balance increment followed by
/// the end-of-transaction EIP-161 rules leaves it: a credit always touches the account, so from
/// Spurious Dragon a touched account left empty is deleted and a missing one credited zero stays
/// missing; before it, a zero credit materialises a missing account as an empty one.
pub fn apply_credit(value: AccountValue, amount: U256, state_clear: bool) -> AccountValue {
    let after = match value {
        Some((balance, nonce, code)) => Some((balance.saturating_add(amount), nonce, code)),
        None if !amount.is_zero() || !state_clear => Some((amount, 0, KECCAK_EMPTY)),
        None => None,
    };
    match after {
        Some((b, 0, code)) if state_clear && b.is_zero() && code == KECCAK_EMPTY => None,
        other => other,
    }
}

/// The change crediting `amount` makes to an account that was `before` and that nothing else
/// touched (a fee, a reward, a withdrawal, a plain transfer's recipient), or `None` when the
/// credit leaves the state as it was.
pub fn credit_change(
    before: AccountValue,
    amount: U256,
    state_clear: bool,
) -> Option<AccountChange> {
    let after = apply_credit(before, amount, state_clear);
    match (before, after) {
        (Some(_), None) => Some(AccountChange::deleted()),
        (None, None) => None,
        (Some(b), Some(a)) if a == b => None,
        // A credit to a missing account creates it; a zero one (before EIP-161) materialises it
        // as a created empty account, as revm marks it.
        (b, Some(a)) => Some(AccountChange {
            info: Some(a),
            storage_cleared: b.is_none() && amount.is_zero(),
            ..Default::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_touch_semantics() {
        let empty = Some((U256::ZERO, 0, KECCAK_EMPTY));
        assert_eq!(apply_credit(None, U256::ZERO, true), None);
        assert_eq!(apply_credit(None, U256::ZERO, false), empty);
        assert_eq!(apply_credit(empty, U256::ZERO, true), None);
        assert_eq!(
            apply_credit(Some((U256::ZERO, 1, KECCAK_EMPTY)), U256::from(2), true),
            Some((U256::from(2), 1, KECCAK_EMPTY))
        );
        assert_eq!(credit_change(None, U256::ZERO, true), None);
        assert_eq!(
            credit_change(empty, U256::ZERO, true),
            Some(AccountChange::deleted())
        );
        assert_eq!(
            credit_change(Some((U256::from(5), 1, KECCAK_EMPTY)), U256::ZERO, true),
            None
        );
        let created = credit_change(None, U256::ZERO, false).unwrap();
        assert!(created.storage_cleared && created.info == empty);
        let paid = credit_change(None, U256::from(3), true).unwrap();
        assert!(!paid.storage_cleared && paid.balance() == U256::from(3));
    }
}
