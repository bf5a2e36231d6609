//! A write overlay over a read-only [`StateView`]: the state "as of" some point inside a
//! block, without copying the base.
//!
//! The overlay holds, per account it has seen change, the account's current info (or `None`
//! for deleted) and the slots written since the base; `cleared` records that the account's
//! base storage no longer applies (it was created or destroyed inside the block), so unknown
//! slots read zero instead of falling through to the base. Reads take `&self`, so one overlay
//! can be shared by worker threads while nothing is applied to it.

use super::{AccountChange, StateChanges, StateError, StateView};
use alloy_primitives::{
    Address, B256, U256,
    map::{AddressHashMap, HashMap},
};
use revm::{
    primitives::KECCAK_EMPTY,
    state::{AccountInfo, Bytecode},
};

/// One account's changes since the base.
#[derive(Debug, Clone, Default)]
struct OverlayAccount {
    info: Option<(U256, u64, B256)>,
    cleared: bool,
    storage: HashMap<U256, U256>,
}

impl OverlayAccount {
    /// Applies one transaction's change of the account.
    fn apply(&mut self, change: &AccountChange) {
        self.info = change.info;
        if change.storage_cleared || change.info.is_none() {
            self.cleared = true;
            self.storage.clear();
        }
        self.storage
            .extend(change.storage.iter().map(|(k, v)| (*k, *v)));
    }

    /// A slot's value, when the changes decide it (`None`: the base's value holds).
    fn storage(&self, index: U256) -> Option<U256> {
        match self.storage.get(&index) {
            Some(v) => Some(*v),
            None if self.cleared => Some(U256::ZERO),
            None => None,
        }
    }
}

/// The code of a change that sets one, keyed by its hash.
pub(super) fn new_code(change: &AccountChange) -> Option<(B256, &Bytecode)> {
    match (&change.code, change.info) {
        (Some(code), Some((_, _, hash))) => Some((hash, code)),
        _ => None,
    }
}

/// A base state plus the changes applied on top of it.
#[derive(Debug)]
pub struct Overlay<'a> {
    base: &'a dyn StateView,
    accounts: AddressHashMap<OverlayAccount>,
    codes: HashMap<B256, Bytecode>,
}

impl std::fmt::Debug for dyn StateView + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn StateView")
    }
}

impl<'a> Overlay<'a> {
    /// An overlay with no changes yet.
    pub fn new(base: &'a dyn StateView) -> Self {
        Overlay {
            base,
            accounts: AddressHashMap::default(),
            codes: HashMap::default(),
        }
    }

    /// The state under the overlay.
    pub fn base(&self) -> &'a dyn StateView {
        self.base
    }

    /// Drops every change (keeping the memory for the next ones).
    pub fn clear(&mut self) {
        self.accounts.clear();
        self.codes.clear();
    }

    /// Applies changes, in order, on top of the current overlay.
    pub fn apply(&mut self, changes: &StateChanges) {
        for (address, change) in changes {
            self.apply_one(*address, change);
        }
    }

    fn apply_one(&mut self, address: Address, change: &AccountChange) {
        if let Some((hash, code)) = new_code(change) {
            self.codes.entry(hash).or_insert_with(|| code.clone());
        }
        self.accounts.entry(address).or_default().apply(change);
    }
}

impl StateView for Overlay<'_> {
    #[inline]
    fn account(&self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        match self.accounts.get(&address) {
            None => self.base.account(address),
            Some(acc) => Ok(acc.info.map(|(balance, nonce, code_hash)| {
                let code = (code_hash != KECCAK_EMPTY)
                    .then(|| self.codes.get(&code_hash).cloned())
                    .flatten();
                super::account_info(balance, nonce, code_hash, code)
            })),
        }
    }

    #[inline]
    fn account_fields(&self, address: Address) -> Result<Option<(U256, u64, B256)>, StateError> {
        match self.accounts.get(&address) {
            None => self.base.account_fields(address),
            Some(acc) => Ok(acc.info),
        }
    }

    fn code_by_hash(&self, code_hash: B256) -> Result<Bytecode, StateError> {
        match self.codes.get(&code_hash) {
            Some(code) => Ok(code.clone()),
            None => self.base.code_by_hash(code_hash),
        }
    }

    #[inline]
    fn storage(&self, address: Address, index: U256) -> Result<U256, StateError> {
        match self
            .accounts
            .get(&address)
            .and_then(|acc| acc.storage(index))
        {
            Some(v) => Ok(v),
            None => self.base.storage(address, index),
        }
    }

    fn block_hash(&self, number: u64) -> Result<B256, StateError> {
        self.base.block_hash(number)
    }

    fn reads_are_cheap(&self) -> bool {
        self.base.reads_are_cheap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::InMemoryState;
    use alloy_primitives::address;

    #[test]
    fn overlay_reads_through_and_clears() {
        let a = address!("0x00000000000000000000000000000000000000aa");
        let mut base = InMemoryState::new();
        base.insert_account(
            a,
            U256::from(5),
            1,
            Bytecode::default(),
            [(U256::from(1), U256::from(9))],
        );
        let mut o = Overlay::new(&base);
        assert_eq!(o.storage(a, U256::from(1)).unwrap(), U256::from(9));
        let mut ch = StateChanges::new();
        ch.insert(a, AccountChange::deleted());
        o.apply(&ch);
        assert_eq!(o.account(a).unwrap(), None);
        assert_eq!(o.storage(a, U256::from(1)).unwrap(), U256::ZERO);
        let before = o
            .account(a)
            .unwrap()
            .map(|i| (i.balance, i.nonce, i.code_hash));
        let credit = crate::state::changes::credit_change(before, U256::from(7), true).unwrap();
        assert_eq!(credit.balance(), U256::from(7));
        o.apply(&StateChanges::from([(a, credit)]));
        assert_eq!(o.account(a).unwrap().unwrap().balance, U256::from(7));
        // Recreated account keeps the cleared storage.
        assert_eq!(o.storage(a, U256::from(1)).unwrap(), U256::ZERO);
    }

    /// `account_fields` (no code) agrees with `account` on the base store and on the
    /// overlay: accounts with and without code, changed, deleted, created, and absent.
    #[test]
    fn account_fields_agree_with_account() {
        let [code_owner, plain, deleted, created, absent] =
            [0xa1u8, 0xa2, 0xa3, 0xa4, 0xa5].map(Address::repeat_byte);
        let mut base = InMemoryState::new();
        let code = Bytecode::new_raw(alloy_primitives::Bytes::from_static(&[0x60, 0x00]));
        base.insert_account(code_owner, U256::from(3), 1, code, []);
        base.insert_account(plain, U256::from(5), 2, Bytecode::default(), []);
        base.insert_account(deleted, U256::from(8), 0, Bytecode::default(), []);
        let fields = |v: &dyn StateView, a| {
            let whole = v
                .account(a)
                .unwrap()
                .map(|i| (i.balance, i.nonce, i.code_hash));
            assert_eq!(v.account_fields(a).unwrap(), whole, "{a}");
            whole
        };
        for a in [code_owner, plain, deleted, created, absent] {
            fields(&base, a);
        }
        assert_ne!(fields(&base, code_owner).unwrap().2, KECCAK_EMPTY);
        let mut o = Overlay::new(&base);
        let credit = |before| crate::state::changes::credit_change(before, U256::from(7), true);
        o.apply(&StateChanges::from([
            (plain, credit(fields(&base, plain)).unwrap()),
            (deleted, AccountChange::deleted()),
            (created, credit(None).unwrap()),
        ]));
        assert_eq!(fields(&o, plain).unwrap().0, U256::from(12));
        assert_eq!(fields(&o, deleted), None);
        assert_eq!(fields(&o, created).unwrap().0, U256::from(7));
        assert_eq!(fields(&o, absent), None);
        assert_eq!(fields(&o, code_owner), fields(&base, code_owner));
    }
}
