//! What a block touched: every account and storage slot its steps loaded,
//! with the value each step left where it changed one. This is the content
//! of an EIP-7928 block access list in defivm's terms; `defivm-ethereum`
//! orders and encodes it.
//!
//! Steps are numbered by *block access index*: 0 for the system calls
//! before the first transaction, `i + 1` for transaction `i`, `n + 1` for
//! what follows the last of `n` transactions (rewards, withdrawals, the
//! request system calls).
//!
//! Rules kept here, the same for every executor and mode:
//! - A step records the accounts and slots revm loaded for it, whether it
//!   changed them or not, and for each changed field (balance, nonce, code,
//!   a slot) its value at the end of the step; a field left as the step
//!   found it records nothing, however often it moved in between.
//! - An account destroyed in the step ends it empty, its loaded slots zero.
//! - The beneficiary's fee is part of the transaction that pays it: the
//!   beneficiary is accessed by every transaction that ran, and its balance
//!   after a transaction includes that transaction's fee
//!   ([`BeneficiaryBalance`]).
//! - A transaction rejected for an access violation records nothing.
//! - The system address, the caller of the system calls, is not recorded.
//!
//! How it is kept: each thread records the steps it runs into a
//! [`Recorder`] of its own, whatever their order, each change put in place
//! by index; the recorders are split alike into parts by address, and
//! part `p` of every recorder is combined into part `p` of the block's
//! record (one thread combines them all at the block's end).

use alloy_primitives::{Address, Bytes, U256};
use hashbrown::HashMap;
use revm::handler::SYSTEM_ADDRESS;
use revm::primitives::KECCAK_EMPTY;
use revm::state::EvmState;

/// Every account a block accessed, with what each step changed.
#[derive(Debug, Clone, Default)]
pub struct BlockAccess {
    /// Accounts by [`part`].
    parts: Vec<HashMap<Address, AccountAccess>>,
}

/// One account's accesses in a block: each field's changes as
/// `(block access index, value after that step)`, in index order, and every
/// slot accessed (a slot with no changes was only read, or written back to
/// the value the step found).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountAccess {
    /// Balance changes.
    pub balance: Vec<(u32, U256)>,
    /// Nonce changes.
    pub nonce: Vec<(u32, u64)>,
    /// Code changes: the runtime code after the step.
    pub code: Vec<(u32, Bytes)>,
    /// Every slot accessed, with its changes.
    pub storage: HashMap<U256, Vec<(u32, U256)>>,
}

/// The block access index of what follows the last of `txs`.
pub(crate) fn after_last<T>(txs: &[T]) -> u32 {
    u32::try_from(txs.len()).map_or(u32::MAX, |n| n.saturating_add(1))
}

/// Which of `parts` parts holds the account at `address` (addresses are
/// hashes: their last byte is as good as any).
fn part(address: &Address, parts: usize) -> usize {
    usize::from(address.0[19]) % parts
}

impl PartialEq for BlockAccess {
    /// The same accounts with the same accesses, however they are split.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.accounts().all(|(address, a)| other.account(address) == Some(a))
    }
}

impl Eq for BlockAccess {}

impl BlockAccess {
    /// The accounts accessed, in no particular order.
    pub fn accounts(&self) -> impl Iterator<Item = (&Address, &AccountAccess)> {
        self.parts.iter().flatten()
    }

    /// The accesses of the account at `address`, if the block had any.
    pub fn account(&self, address: &Address) -> Option<&AccountAccess> {
        self.parts.get(part(address, self.parts.len().max(1)))?.get(address)
    }

    /// The accounts accessed, taken out, in no particular order.
    pub fn into_accounts(self) -> impl Iterator<Item = (Address, AccountAccess)> {
        self.parts.into_iter().flatten()
    }

    /// A block's accesses made of each account's (an account given twice
    /// keeps both's changes).
    pub fn from_accounts(accounts: impl IntoIterator<Item = (Address, AccountAccess)>) -> Self {
        let mut access = Self::default();
        for (address, account) in accounts {
            access.entry(address).absorb(account);
        }
        access
    }

    /// How many accounts the block accessed.
    pub fn len(&self) -> usize {
        self.parts.iter().map(HashMap::len).sum()
    }

    /// Whether the block accessed no account at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The account at `address`, added if new.
    fn entry(&mut self, address: Address) -> &mut AccountAccess {
        if self.parts.is_empty() {
            self.parts.push(HashMap::new());
        }
        let parts = self.parts.len();
        self.parts[part(&address, parts)].entry(address).or_default()
    }

    /// Records that step `index` moved the balance of the account at
    /// `address` from `before` (what the step found) to `after`: a reward
    /// or a withdrawal after the transactions, credited in place.
    pub(crate) fn balance(&mut self, index: u32, address: Address, before: U256, after: U256) {
        let account = self.entry(address);
        // An earlier record of the same step: `before` is what that record
        // said, so the change is the record's replacement.
        if before != after || account.balance.last().is_some_and(|(at, _)| *at == index) {
            set(&mut account.balance, index, after);
        }
    }

    /// Takes in what `recorder` recorded (a few system calls).
    pub(crate) fn absorb(&mut self, recorder: Recorder) {
        for (address, account) in recorder.parts.into_iter().flatten() {
            self.entry(address).absorb(account);
        }
    }

    /// The records of several threads, each split alike, combined part by
    /// part: part `p` of the block's is part `p` of every recorder's.
    pub(crate) fn combine(recorders: Vec<Recorder>) -> Self {
        let mut recorders = recorders.into_iter();
        let Some(first) = recorders.next() else {
            return Self::default();
        };
        let mut parts = first.parts;
        for recorder in recorders {
            for (into, from) in parts.iter_mut().zip(recorder.parts) {
                for (address, account) in from {
                    match into.entry(address) {
                        hashbrown::hash_map::Entry::Vacant(entry) => {
                            entry.insert(account);
                        }
                        hashbrown::hash_map::Entry::Occupied(mut entry) => entry.get_mut().absorb(account),
                    }
                }
            }
        }
        Self { parts }
    }
}

impl AccountAccess {
    /// Takes in `other`'s accesses of the same account (from other steps).
    fn absorb(&mut self, other: AccountAccess) {
        for (at, value) in other.balance {
            set(&mut self.balance, at, value);
        }
        for (at, value) in other.nonce {
            set(&mut self.nonce, at, value);
        }
        for (at, value) in other.code {
            set(&mut self.code, at, value);
        }
        for (slot, changes) in other.storage {
            let into = self.storage.entry(slot).or_default();
            for (at, value) in changes {
                set(into, at, value);
            }
        }
    }
}

/// Sets the value of a field at step `index`, keeping the changes in index
/// order: a new change, or the one of the same step replaced (two system
/// calls at index 0, a withdrawal after the block reward). Steps mostly
/// come in order, so the place is searched from the end.
fn set<T>(changes: &mut Vec<(u32, T)>, index: u32, value: T) {
    let at = changes.iter().rposition(|(i, _)| *i <= index);
    match at {
        Some(at) if changes[at].0 == index => changes[at].1 = value,
        Some(at) => changes.insert(at + 1, (index, value)),
        None => changes.insert(0, (index, value)),
    }
}

/// What one step did to one account it loaded, as a block access list
/// records it: each field it changed, with its value at the end of the step
/// (a field left as the step found it is `None`, however often it moved in
/// between), and every slot it loaded.
pub(crate) struct Step<'a> {
    /// The new balance.
    pub(crate) balance: Option<U256>,
    /// The new nonce.
    pub(crate) nonce: Option<u64>,
    account: &'a revm::state::Account,
    /// Destroyed in the step: it ends empty, its loaded slots zero.
    destroyed: bool,
    code_changed: bool,
}

impl Step<'_> {
    /// The new runtime code, if the step changed it.
    pub(crate) fn code(&self) -> Option<Bytes> {
        let code = if self.destroyed { None } else { self.account.info.code.as_ref() };
        self.code_changed.then(|| code.map(|code| code.original_bytes()).unwrap_or_default())
    }

    /// Every slot the step loaded, with its new value if it changed it.
    pub(crate) fn slots(&self) -> impl Iterator<Item = (U256, Option<U256>)> + '_ {
        self.account.storage.iter().map(|(slot, value)| {
            let present = if self.destroyed { U256::ZERO } else { value.present_value };
            (*slot, (present != value.original_value).then_some(present))
        })
    }
}

/// Every account a step whose state diff is `state` loaded, with what it did
/// to it ([`Step`]); for a system call (`system`), the system address that
/// made it is left out. The one rule of what a step changed, for the
/// recorders and for checking a list.
pub(crate) fn steps(state: &EvmState, system: bool) -> impl Iterator<Item = (&Address, Step<'_>)> {
    state.iter().filter(move |(address, _)| !(system && **address == SYSTEM_ADDRESS)).map(|(address, account)| {
        let destroyed = account.is_selfdestructed_locally();
        let mut step = Step { balance: None, nonce: None, account, destroyed, code_changed: false };
        // An account whose fields did not move is left at that, without a
        // copy of what it was: a copy clones its code, a counter every
        // thread would bump (a hot contract's, in every transaction).
        if destroyed || account.is_changed() {
            let before = account.original_info();
            let info = &account.info;
            let (balance, nonce, code_hash) =
                if destroyed { (U256::ZERO, 0, KECCAK_EMPTY) } else { (info.balance, info.nonce, info.code_hash) };
            step.balance = (before.balance != balance).then_some(balance);
            step.nonce = (before.nonce != nonce).then_some(nonce);
            step.code_changed = before.code_hash != code_hash;
        }
        (address, step)
    })
}

/// What is shown each transaction's state diff as it runs.
pub(crate) trait StepObserver {
    /// Transaction step `index` (its block access index) left `state`;
    /// returns the balance it left the beneficiary with, if it changed it
    /// (its fee not included).
    fn observe(&mut self, index: u32, state: &EvmState) -> Option<U256>;
}

impl StepObserver for Recorder {
    fn observe(&mut self, index: u32, state: &EvmState) -> Option<U256> {
        self.record(index, state, false)
    }
}

/// One thread's record of the steps it ran, split into `parts` parts by
/// address. The beneficiary's balance is left out: the fees set it
/// ([`BeneficiaryBalance`]).
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    parts: Vec<HashMap<Address, AccountAccess>>,
    beneficiary: Address,
}

impl Recorder {
    /// An empty record in `parts` parts (at least one) of a block whose
    /// beneficiary is `beneficiary`.
    pub(crate) fn new(parts: usize, beneficiary: Address) -> Self {
        Self { parts: vec![HashMap::new(); parts.max(1)], beneficiary }
    }

    /// Records step `index`, whose state diff is `state`, and returns the
    /// balance it left the beneficiary with, if it changed it (a fee not
    /// included). For a system call (`system`), the system address that
    /// made it is left out.
    pub(crate) fn record(&mut self, index: u32, state: &EvmState, system: bool) -> Option<U256> {
        let parts = self.parts.len();
        let mut beneficiary = None;
        for (address, step) in steps(state, system) {
            let entry = self.parts[part(address, parts)].entry(*address).or_default();
            if let Some(balance) = step.balance {
                if *address == self.beneficiary {
                    beneficiary = Some(balance);
                } else {
                    set(&mut entry.balance, index, balance);
                }
            }
            if let Some(nonce) = step.nonce {
                set(&mut entry.nonce, index, nonce);
            }
            if let Some(code) = step.code() {
                set(&mut entry.code, index, code);
            }
            for (slot, value) in step.slots() {
                let changes = entry.storage.entry(slot).or_default();
                if let Some(value) = value {
                    set(changes, index, value);
                }
            }
        }
        beneficiary
    }

    /// The whole record, as a block's.
    pub(crate) fn into_access(self) -> BlockAccess {
        BlockAccess { parts: self.parts }
    }
}

/// The beneficiary's balance through a block, transaction by transaction
/// in block order: what each left it with, plus its fee.
#[derive(Debug, Clone)]
pub(crate) struct BeneficiaryBalance {
    /// Its balance after the last transaction added.
    balance: U256,
    /// The changes so far.
    changes: Vec<(u32, U256)>,
    /// Whether any transaction ran (and so accessed it).
    accessed: bool,
}

impl BeneficiaryBalance {
    /// A beneficiary holding `balance` before the first transaction.
    pub(crate) fn new(balance: U256) -> Self {
        Self { balance, changes: Vec::new(), accessed: false }
    }

    /// Transaction `index - 1`: the balance it left the beneficiary with,
    /// if it changed it (`left`), and its fee. One that did not run (an
    /// access violation) changes nothing.
    pub(crate) fn add(&mut self, index: u32, left: Option<U256>, fee: U256, ran: bool) {
        if !ran {
            return;
        }
        self.accessed = true;
        let after = left.unwrap_or(self.balance) + fee;
        if after != self.balance {
            self.changes.push((index, after));
        }
        self.balance = after;
    }

    /// Puts the beneficiary's balance changes, at `beneficiary`, into
    /// `access`.
    pub(crate) fn finish(self, beneficiary: Address, access: &mut BlockAccess) {
        if self.accessed {
            access.entry(beneficiary).balance = self.changes;
        }
    }
}
