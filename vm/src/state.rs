//! The world state a block runs against, and the changes it leaves.

use crate::base::Base;
use crate::key::StateKey;
use crate::slot_map::Storage;
use alloy_primitives::{Address, B256, U256};
use alloy_trie::TrieAccount;
use hashbrown::HashMap;
use revm::primitives::KECCAK_EMPTY;
use revm::state::{AccountInfo, Bytecode};
use std::sync::LazyLock;

/// One account: balance, nonce, code and storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    /// Balance in wei.
    pub balance: U256,
    /// Nonce.
    pub nonce: u64,
    /// Contract code (`None` for an externally owned account). Cloning is an
    /// `Arc` bump, so analysed code is shared by every worker, and so is its
    /// hash, which revm's `Bytecode` computes once and keeps.
    pub code: Option<Bytecode>,
    /// Storage; a slot that is absent reads as zero.
    pub storage: Storage,
}

impl Account {
    /// An account holding `balance` wei.
    pub fn with_balance(balance: U256) -> Self {
        Self { balance, ..Self::default() }
    }

    /// The account's fields without its storage.
    pub fn value(&self) -> AccountValue {
        AccountValue { balance: self.balance, nonce: self.nonce, code: self.code.clone() }
    }

    /// The account as revm takes it (one clone of its code).
    pub(crate) fn info(&self) -> AccountInfo {
        info(self.balance, self.nonce, self.code.as_ref())
    }
}

/// An account's balance, nonce and code: the value of a
/// [`StateKey::Account`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountValue {
    /// Balance in wei.
    pub balance: U256,
    /// Nonce.
    pub nonce: u64,
    /// Contract code, if any.
    pub code: Option<Bytecode>,
}

impl AccountValue {
    /// Empty in the sense of EIP-161: no balance, no nonce, no code.
    pub fn is_empty(&self) -> bool {
        self.balance.is_zero() && self.nonce == 0 && self.code.as_ref().is_none_or(Bytecode::is_empty)
    }

    /// The code hash (`KECCAK_EMPTY` without code).
    pub fn code_hash(&self) -> B256 {
        self.code.as_ref().filter(|c| !c.is_empty()).map_or(KECCAK_EMPTY, Bytecode::hash_slow)
    }

    pub(crate) fn info(&self) -> AccountInfo {
        info(self.balance, self.nonce, self.code.as_ref())
    }

    /// The account revm's `info` describes, its code moved rather than
    /// cloned.
    pub(crate) fn from_info_owned(info: AccountInfo) -> Self {
        let code = info.code.filter(|c| !c.is_empty());
        Self { balance: info.balance, nonce: info.nonce, code }
    }

    pub(crate) fn from_info(info: &AccountInfo) -> Self {
        let code = info.code.as_ref().filter(|c| !c.is_empty()).cloned();
        Self { balance: info.balance, nonce: info.nonce, code }
    }
}

/// revm's view of an account's fields. A contract's code is given (revm
/// would otherwise look it up by hash). An account without code gets none
/// and the empty code's hash: revm takes its one shared empty `Bytecode`
/// only if it runs the account, and every thread cloning that `Arc` for
/// every account read would make its counter bounce between cores.
fn info(balance: U256, nonce: u64, code: Option<&Bytecode>) -> AccountInfo {
    match code.filter(|c| !c.is_empty()) {
        Some(code) => AccountInfo::new(balance, nonce, code.hash_slow(), code.clone()),
        None => {
            // Built from a template: a default `AccountInfo` would clone the
            // shared empty code only to drop it.
            static NO_CODE: LazyLock<AccountInfo> = LazyLock::new(|| AccountInfo::default().without_code());
            let mut info = NO_CODE.copy_without_code();
            info.balance = balance;
            info.nonce = nonce;
            info
        }
    }
}

/// The new value of a key after a block.
///
/// An account's storage from before the block survives unless the block
/// deleted or created the account ([`Value::clears_storage`]): after a
/// `SELFDESTRUCT` (before Cancun; of a contract created in the same
/// transaction after it), an EIP-161 deletion or a creation, every slot
/// reads as zero until it is written again. The executors keep that rule
/// for every later transaction of the block, and a block's changes record
/// it: once cleared in a block, an account stays [`Value::Created`] however
/// it is changed after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An account's new fields, over the storage it had; or `None` if it was
    /// deleted (self-destructed, or emptied and touched under EIP-161),
    /// storage and all.
    Account(Option<AccountValue>),
    /// An account's new fields over storage that started again from nothing
    /// in the block: it was created (deployed, or destroyed and deployed
    /// again at the same address), or destroyed and then given value. None
    /// of its slots from before the block remain; those the block wrote
    /// are their own keys.
    Created(AccountValue),
    /// A storage slot's new value.
    Storage(U256),
}

impl Value {
    /// Whether this account change ends the account's storage from before
    /// the block.
    pub fn clears_storage(&self) -> bool {
        matches!(self, Value::Account(None) | Value::Created(_))
    }

    /// The account's fields, if this is an account that exists.
    pub fn account(&self) -> Option<&AccountValue> {
        match self {
            Value::Account(account) => account.as_ref(),
            Value::Created(account) => Some(account),
            Value::Storage(_) => None,
        }
    }

    /// `new` written over a key whose value, if the block already wrote it,
    /// is `earlier`: an account whose storage the block cleared stays
    /// cleared when it is written again.
    pub(crate) fn overwrite(earlier: Option<&Value>, new: Value) -> Value {
        match new {
            Value::Account(Some(account)) if earlier.is_some_and(Value::clears_storage) => Value::Created(account),
            new => new,
        }
    }

    /// `key`'s value after `changes` (what a block wrote so far) on `base`,
    /// and whether `changes` hold it: a slot the block did not write reads
    /// as zero once the block cleared its account's storage.
    pub(crate) fn after(changes: &StateChanges, base: &Base<'_>, key: &StateKey) -> (Value, bool) {
        // A block's first segment usually starts with nothing changed.
        if changes.is_empty() {
            return (base.get(key), false);
        }
        if let Some(value) = changes.get(key) {
            return (value.clone(), true);
        }
        if let StateKey::Storage(address, _) = key
            && changes.get(&StateKey::Account(*address)).is_some_and(Value::clears_storage)
        {
            return (Value::Storage(U256::ZERO), false);
        }
        (base.get(key), false)
    }
}

/// Adds `amount` to the balance of the account at `address` in `changes`
/// (what a block wrote so far, over `base`), as [`Value::overwrite`] has
/// it: in place when the block wrote the account already, the account
/// created when it does not exist. One lookup of the key.
pub(crate) fn credit(changes: &mut StateChanges, base: &Base<'_>, address: Address, amount: U256) {
    match changes.entry(StateKey::Account(address)) {
        hashbrown::hash_map::Entry::Occupied(mut entry) => match entry.get_mut() {
            Value::Account(Some(account)) | Value::Created(account) => {
                account.balance = account.balance.saturating_add(amount)
            }
            // Deleted earlier in the block: it starts again, with no storage.
            value => *value = Value::Created(AccountValue { balance: amount, ..AccountValue::default() }),
        },
        hashbrown::hash_map::Entry::Vacant(entry) => {
            let mut account = base.account(address).unwrap_or_default();
            account.balance = account.balance.saturating_add(amount);
            entry.insert(Value::Account(Some(account)));
        }
    }
}

/// Every key a block wrote, with its final value. Unordered: sort the keys
/// ([`StateKey`] is `Ord`) for a stable listing.
pub type StateChanges = HashMap<StateKey, Value>;

/// An in-memory world state: accounts with their storage, and the hashes of
/// recent blocks for `BLOCKHASH`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    accounts: HashMap<Address, Account>,
    block_hashes: HashMap<u64, B256>,
}

impl State {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets an account (replacing any earlier one at `address`).
    pub fn insert_account(&mut self, address: Address, account: Account) {
        self.accounts.insert(address, account);
    }

    /// Records the hash of block `number`, for `BLOCKHASH`.
    pub fn insert_block_hash(&mut self, number: u64, hash: B256) {
        self.block_hashes.insert(number, hash);
    }

    /// The block hashes `BLOCKHASH` answers with, in no particular order.
    pub fn block_hashes(&self) -> impl Iterator<Item = (u64, B256)> + '_ {
        self.block_hashes.iter().map(|(n, h)| (*n, *h))
    }

    /// The account at `address`, if it exists.
    pub fn account(&self, address: &Address) -> Option<&Account> {
        self.accounts.get(address)
    }

    /// The account at `address`, to change it in place.
    pub fn account_mut(&mut self, address: &Address) -> Option<&mut Account> {
        self.accounts.get_mut(address)
    }

    /// The hash of block `number` (zero if unknown).
    pub fn block_hash(&self, number: u64) -> B256 {
        self.block_hashes.get(&number).copied().unwrap_or_default()
    }

    /// Every account, in no particular order.
    pub fn accounts(&self) -> impl Iterator<Item = (&Address, &Account)> {
        self.accounts.iter()
    }

    /// A storage slot's value (zero when unset).
    pub fn storage(&self, address: &Address, slot: &U256) -> U256 {
        self.accounts.get(address).and_then(|a| a.storage.get(slot)).copied().unwrap_or_default()
    }

    /// The value `key` holds.
    pub fn get(&self, key: &StateKey) -> Value {
        match key {
            StateKey::Account(a) => Value::Account(self.accounts.get(a).map(Account::value)),
            StateKey::Storage(a, slot) => Value::Storage(self.storage(a, slot)),
        }
    }

    /// Applies a block's changes. Accounts are applied before slots, so a
    /// deleted account takes its storage with it and a created one starts
    /// with none; zero slots are removed. An account that ends empty stays:
    /// the executors write a deletion where EIP-161 makes one, and before
    /// it an empty account exists.
    pub fn apply(&mut self, changes: &StateChanges) {
        let accounts_first = changes.iter().filter(|(k, _)| matches!(k, StateKey::Account(_)));
        let slots = changes.iter().filter(|(k, _)| matches!(k, StateKey::Storage(..)));
        for (key, value) in accounts_first.chain(slots) {
            match (key, value) {
                (StateKey::Account(a), Value::Account(None)) => {
                    self.accounts.remove(a);
                }
                (StateKey::Account(a), Value::Account(Some(v)) | Value::Created(v)) => {
                    let account = self.accounts.entry(*a).or_default();
                    account.balance = v.balance;
                    account.nonce = v.nonce;
                    account.code = v.code.clone();
                    if matches!(value, Value::Created(_)) {
                        account.storage.clear();
                    }
                }
                (StateKey::Storage(a, slot), Value::Storage(v)) => {
                    let deleted = matches!(changes.get(&StateKey::Account(*a)), Some(Value::Account(None)));
                    if deleted {
                        continue;
                    }
                    if v.is_zero() {
                        if let Some(account) = self.accounts.get_mut(a) {
                            account.storage.remove(slot);
                        }
                    } else {
                        self.accounts.entry(*a).or_default().storage.insert(*slot, *v);
                    }
                }
                // Executors never pair a key with the other kind of value.
                _ => {}
            }
        }
    }

    /// The Ethereum state root (Merkle-Patricia, keccak-hashed keys) over
    /// every account. Zero slots are left out, as in every client.
    pub fn root(&self) -> B256 {
        alloy_trie::root::state_root_unhashed(self.accounts.iter().map(|(address, account)| {
            (*address, trie_account(&account.value(), account.storage.iter().map(|(k, v)| (*k, *v))))
        }))
    }

    /// The state root after `changes`: equal to applying them to a copy and
    /// taking [`root`](Self::root), without the copy (a large state is not
    /// held twice). It follows [`apply`](Self::apply)'s rules exactly.
    pub fn root_after(&self, changes: &StateChanges) -> B256 {
        // Per address: its account change, if any, and its slot changes.
        // Borrowed from `changes`: a large block's changes are not copied.
        type Touched<'c> = (Option<&'c Value>, HashMap<&'c U256, &'c U256>);
        let mut touched: HashMap<Address, Touched<'_>> = HashMap::new();
        for (key, value) in changes {
            match (key, value) {
                (StateKey::Account(a), Value::Account(_) | Value::Created(_)) => {
                    touched.entry(*a).or_default().0 = Some(value)
                }
                (StateKey::Storage(a, slot), Value::Storage(v)) => {
                    touched.entry(*a).or_default().1.insert(slot, v);
                }
                _ => {}
            }
        }
        let untouched = self.accounts.iter().filter(|(a, _)| !touched.contains_key(*a)).map(|(address, account)| {
            Some((*address, trie_account(&account.value(), account.storage.iter().map(|(k, v)| (*k, *v)))))
        });
        let after = touched.iter().map(|(address, (account_change, slots))| {
            let pre = self.accounts.get(address);
            let value = match account_change {
                Some(Value::Account(None)) => return None, // deleted, storage and all
                Some(change) => change.account().cloned().unwrap_or_default(),
                None => pre.map(Account::value).unwrap_or_default(),
            };
            let cleared = account_change.is_some_and(|change| change.clears_storage());
            let kept = pre
                .filter(|_| !cleared)
                .into_iter()
                .flat_map(|a| a.storage.iter())
                .filter(|(k, _)| !slots.contains_key(k));
            let written = slots.iter().map(|(k, v)| (*k, *v)).filter(|(_, v)| !v.is_zero());
            let storage = kept.chain(written).map(|(k, v)| (*k, *v));
            // An account the changes do not delete exists, empty or not
            // (as in `apply`); one that was never there and only lost slots
            // it never had is not made up.
            if pre.is_none() && account_change.is_none() && storage.clone().next().is_none() {
                return None;
            }
            Some((*address, trie_account(&value, storage)))
        });
        alloy_trie::root::state_root_unhashed(untouched.chain(after).flatten())
    }
}

/// An account's trie leaf: its fields and the root of its non-zero slots.
fn trie_account(value: &AccountValue, storage: impl Iterator<Item = (U256, U256)>) -> TrieAccount {
    let slots = storage.filter(|(_, v)| !v.is_zero()).map(|(k, v)| (B256::from(k), v));
    let storage_root = alloy_trie::root::storage_root_unhashed(slots);
    TrieAccount { nonce: value.nonce, balance: value.balance, storage_root, code_hash: value.code_hash() }
}
