//! EIP-7928 block access lists: what an executor recorded of a block
//! ([`BlockAccess`]), in the order and encoding the EIP gives.
//!
//! Accounts are sorted by address; in each, the changed slots by slot with
//! their changes by block access index, the slots only read by slot, and
//! the balance, nonce and code changes by index. The list's hash is
//! `keccak256(rlp(list))`; an empty list hashes to [`EMPTY_BAL_HASH`].

use alloy_eip7928::{
    AccountChanges, BalanceChange, BlockAccessIndex, BlockAccessList, CodeChange, NonceChange, SlotChanges,
    StorageChange,
};
use alloy_primitives::{Address, B256, Bytes, Keccak256, U64, U256, b256};
use alloy_rlp::Encodable;
use defivm_vm::{AccountAccess, BlockAccess, ListedAccess};
use serde::{Deserialize, Serialize};

/// The hash of an empty block access list: `keccak256(rlp([]))`.
pub const EMPTY_BAL_HASH: B256 = b256!("0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347");

/// The block access list of a block whose accesses are `access`.
pub fn block_access_list(access: &BlockAccess) -> BlockAccessList {
    let mut list: BlockAccessList = access.accounts().map(|(address, a)| account_changes(*address, a)).collect();
    list.sort_unstable_by_key(|account| account.address);
    list
}

/// The first account (by its place in `list`) where the block access list
/// of `access` and `list` differ, if they do. The two are compared account
/// by account: the list of `access` is never built whole.
pub fn first_difference(access: &BlockAccess, list: &[AccountChanges]) -> Option<usize> {
    let mut accounts: Vec<(&Address, &AccountAccess)> = access.accounts().collect();
    accounts.sort_unstable_by_key(|(address, _)| **address);
    let differs =
        accounts.iter().zip(list).position(|((address, a), expected)| account_changes(**address, a) != *expected);
    differs.or((accounts.len() != list.len()).then(|| accounts.len().min(list.len())))
}

/// `keccak256(rlp(list))`, hashed account by account: a large block's
/// list is never encoded whole, as alloy's `compute_block_access_list_hash`
/// encodes it. (Loading a million-transaction fixture, `defivm bal`, peaked
/// at 2,170,508 KiB this way against 2,260,188 KiB with alloy's.)
pub fn bal_hash(list: &BlockAccessList) -> B256 {
    let payload_length = list.iter().map(Encodable::length).sum();
    let mut buffer = Vec::new();
    alloy_rlp::Header { list: true, payload_length }.encode(&mut buffer);
    let mut hasher = Keccak256::new();
    hasher.update(&buffer);
    for account in list {
        buffer.clear();
        account.encode(&mut buffer);
        hasher.update(&buffer);
    }
    hasher.finalize()
}

/// What a block access list says the block accessed: the reverse of
/// [`block_access_list`], for executing the block from it
/// ([`defivm_vm::ListedAccess`]). An index too large for a block (over
/// `u32::MAX`) is kept as `u32::MAX`, past every block's last step, which
/// checking the list then reports.
pub fn block_access(list: &[AccountChanges]) -> BlockAccess {
    BlockAccess::from_accounts(list.iter().map(account_access))
}

/// The list in the form a block is executed from or checked against
/// ([`defivm_vm::ListedAccess`]), made as [`block_access`] makes its
/// content, one account at a time: each account's entry is dropped once
/// taken in, so a large list is not held in two forms at once.
pub fn listed_access(list: BlockAccessList) -> ListedAccess {
    ListedAccess::from_accounts(list.into_iter().map(|account| account_access(&account)))
}

/// One account's entry of a list, as its accesses.
fn account_access(account: &AccountChanges) -> (Address, AccountAccess) {
    let index = |at: BlockAccessIndex| u32::try_from(at.get()).unwrap_or(u32::MAX);
    let mut access = AccountAccess {
        balance: account.balance_changes.iter().map(|c| (index(c.block_access_index), c.post_balance)).collect(),
        nonce: account.nonce_changes.iter().map(|c| (index(c.block_access_index), c.new_nonce)).collect(),
        code: account.code_changes.iter().map(|c| (index(c.block_access_index), c.new_code.clone())).collect(),
        ..AccountAccess::default()
    };
    for slot in &account.storage_changes {
        let changes = slot.changes.iter().map(|c| (index(c.block_access_index), c.new_value));
        access.storage.entry(slot.slot).or_default().extend(changes);
    }
    for slot in &account.storage_reads {
        access.storage.entry(*slot).or_default();
    }
    (account.address, access)
}

/// Where `list` departs from the EIP's form, if it does: accounts sorted by
/// address and each given once, and in each, changes sorted by index with
/// one per index, slots sorted and each given once, no slot both read and
/// changed. A list in another form may hash to what a header says and
/// still say what a list in the EIP's form does not (an account given
/// twice, say), so it is refused rather than read.
///
/// The first account where `list` and the list in the EIP's form differ:
/// where the addresses leave their sorted order (each once), or, before
/// that, the first account whose entry is not what its own accesses give
/// back ([`block_access`] and [`block_access_list`] of that account alone).
/// One account is converted at a time, so a large block's list is never
/// held twice.
pub fn noncanonical(list: &BlockAccessList) -> Option<String> {
    let mut addresses: Vec<Address> = list.iter().map(|account| account.address).collect();
    addresses.sort_unstable();
    addresses.dedup();
    let order = list.iter().zip(&addresses).position(|(account, address)| account.address != *address);
    let order = order.or((addresses.len() != list.len()).then_some(addresses.len()));
    drop(addresses);
    let form = list[..order.unwrap_or(list.len())].iter().position(|account| {
        let alone = block_access_list(&block_access(core::slice::from_ref(account)));
        alone.as_slice() != core::slice::from_ref(account)
    });
    let at = form.or(order)?;
    let address = list.get(at).map(|a| a.address.to_string()).unwrap_or_default();
    Some(format!(
        "not in the EIP's order and form from account {at} ({address}): sorted, each account, slot and index once"
    ))
}

/// One account's entry.
fn account_changes(address: Address, access: &AccountAccess) -> AccountChanges {
    let index = |at: u32| BlockAccessIndex::new(u64::from(at));
    let mut storage_changes = Vec::new();
    let mut storage_reads = Vec::new();
    for (slot, changes) in &access.storage {
        if changes.is_empty() {
            storage_reads.push(*slot);
        } else {
            let changes = changes.iter().map(|&(at, value)| StorageChange::new(index(at), value)).collect();
            storage_changes.push(SlotChanges::new(*slot, changes));
        }
    }
    storage_changes.sort_unstable_by_key(|slot: &SlotChanges| slot.slot);
    storage_reads.sort_unstable();
    AccountChanges {
        address,
        storage_changes,
        storage_reads,
        balance_changes: access.balance.iter().map(|&(at, value)| BalanceChange::new(index(at), value)).collect(),
        nonce_changes: access.nonce.iter().map(|&(at, value)| NonceChange::new(index(at), value)).collect(),
        code_changes: access.code.iter().map(|(at, code)| CodeChange::new(index(*at), code.clone())).collect(),
    }
}

/// One account of a block access list as JSON, with the field names of
/// the execution-spec-tests fixtures; numbers are hex quantities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BalAccountJson {
    /// The account.
    pub address: Address,
    /// Its nonce after each step that changed it.
    #[serde(default)]
    pub nonce_changes: Vec<BalNonceJson>,
    /// Its balance after each step that changed it.
    #[serde(default)]
    pub balance_changes: Vec<BalBalanceJson>,
    /// Its code after each step that changed it.
    #[serde(default)]
    pub code_changes: Vec<BalCodeJson>,
    /// The slots some step changed, with their values.
    #[serde(default)]
    pub storage_changes: Vec<BalSlotJson>,
    /// The slots only read.
    #[serde(default)]
    pub storage_reads: Vec<U256>,
}

/// A nonce after a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BalNonceJson {
    /// The step's block access index.
    pub block_access_index: U64,
    /// The nonce after it.
    pub post_nonce: U64,
}

/// A balance after a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BalBalanceJson {
    /// The step's block access index.
    pub block_access_index: U64,
    /// The balance after it.
    pub post_balance: U256,
}

/// Code after a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BalCodeJson {
    /// The step's block access index.
    pub block_access_index: U64,
    /// The code after it.
    pub new_code: Bytes,
}

/// A changed slot and its values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BalSlotJson {
    /// The slot.
    pub slot: U256,
    /// Its value after each step that changed it.
    pub slot_changes: Vec<BalSlotChangeJson>,
}

/// A slot's value after a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BalSlotChangeJson {
    /// The step's block access index.
    pub block_access_index: U64,
    /// The value after it.
    pub post_value: U256,
}

/// `list` as JSON.
pub fn bal_to_json(list: &BlockAccessList) -> Vec<BalAccountJson> {
    let index = |i: BlockAccessIndex| U64::from(i.get());
    list.iter()
        .map(|a| BalAccountJson {
            address: a.address,
            nonce_changes: a
                .nonce_changes
                .iter()
                .map(|c| BalNonceJson {
                    block_access_index: index(c.block_access_index),
                    post_nonce: U64::from(c.new_nonce),
                })
                .collect(),
            balance_changes: a
                .balance_changes
                .iter()
                .map(|c| BalBalanceJson {
                    block_access_index: index(c.block_access_index),
                    post_balance: c.post_balance,
                })
                .collect(),
            code_changes: a
                .code_changes
                .iter()
                .map(|c| BalCodeJson { block_access_index: index(c.block_access_index), new_code: c.new_code.clone() })
                .collect(),
            storage_changes: a
                .storage_changes
                .iter()
                .map(|s| BalSlotJson {
                    slot: s.slot,
                    slot_changes: s
                        .changes
                        .iter()
                        .map(|c| BalSlotChangeJson {
                            block_access_index: index(c.block_access_index),
                            post_value: c.new_value,
                        })
                        .collect(),
                })
                .collect(),
            storage_reads: a.storage_reads.clone(),
        })
        .collect()
}

/// The list `json` writes, as it writes it (its order is not checked here:
/// a list out of order hashes differently). Each account's JSON is freed as
/// it is converted, so a large block's list is not held twice.
pub fn bal_from_json(json: Vec<BalAccountJson>) -> BlockAccessList {
    let index = |i: U64| BlockAccessIndex::new(i.to::<u64>());
    json.into_iter()
        .map(|a| AccountChanges {
            address: a.address,
            storage_changes: a
                .storage_changes
                .into_iter()
                .map(|s| {
                    let changes =
                        s.slot_changes.iter().map(|c| StorageChange::new(index(c.block_access_index), c.post_value));
                    SlotChanges::new(s.slot, changes.collect())
                })
                .collect(),
            storage_reads: a.storage_reads,
            balance_changes: a
                .balance_changes
                .iter()
                .map(|c| BalanceChange::new(index(c.block_access_index), c.post_balance))
                .collect(),
            nonce_changes: a
                .nonce_changes
                .iter()
                .map(|c| NonceChange::new(index(c.block_access_index), c.post_nonce.to::<u64>()))
                .collect(),
            code_changes: a
                .code_changes
                .into_iter()
                .map(|c| CodeChange::new(index(c.block_access_index), c.new_code))
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_hashes_to_the_eips_value() {
        let list = block_access_list(&BlockAccess::default());
        assert!(list.is_empty());
        assert_eq!(bal_hash(&list), EMPTY_BAL_HASH);
        assert_eq!(EMPTY_BAL_HASH, alloy_primitives::keccak256([0xc0]));
    }

    #[test]
    fn json_round_trips_with_the_fixture_field_names() {
        let mut account = AccountChanges::new(Address::repeat_byte(7));
        account.balance_changes.push(BalanceChange::new(BlockAccessIndex::new(1), U256::from(5)));
        account.nonce_changes.push(NonceChange::new(BlockAccessIndex::new(1), 3));
        account.code_changes.push(CodeChange::new(BlockAccessIndex::new(2), Bytes::from_static(&[0x60, 0x00])));
        let change = StorageChange::new(BlockAccessIndex::new(2), U256::from(9));
        account.storage_changes.push(SlotChanges::new(U256::from(1), vec![change]));
        account.storage_reads.push(U256::from(4));
        let list = vec![account];
        let json = serde_json::to_value(bal_to_json(&list)).unwrap();
        let text = json.to_string();
        for name in
            ["blockAccessIndex", "postNonce", "postBalance", "newCode", "slotChanges", "postValue", "storageReads"]
        {
            assert!(text.contains(name), "{name} in {text}");
        }
        let back: Vec<BalAccountJson> = serde_json::from_value(json).unwrap();
        assert_eq!(bal_from_json(back), list);
    }
}

#[cfg(test)]
mod canonical_tests {
    use super::*;

    fn two_accounts() -> BlockAccessList {
        let account = |byte: u8, index: u64| AccountChanges {
            address: Address::repeat_byte(byte),
            balance_changes: vec![BalanceChange::new(BlockAccessIndex::new(index), U256::from(index))],
            ..AccountChanges::default()
        };
        vec![account(1, 1), account(2, 2)]
    }

    #[test]
    fn the_first_difference_is_where_the_lists_part() {
        let list = two_accounts();
        let access = block_access(&list);
        assert_eq!(first_difference(&access, &list), None);
        let mut other = list.clone();
        other[1].nonce_changes = vec![NonceChange::new(BlockAccessIndex::new(1), 1)];
        assert_eq!(first_difference(&access, &other), Some(1));
        assert_eq!(first_difference(&access, &list[..1]), Some(1));
        assert_eq!(first_difference(&block_access(&list[1..]), &list), Some(0));
        assert_eq!(first_difference(&BlockAccess::default(), &list), Some(0));
    }

    #[test]
    fn the_hash_account_by_account_is_alloys_of_the_whole_encoding() {
        let index = BlockAccessIndex::new;
        let mut list = two_accounts();
        list[0].storage_changes = vec![
            SlotChanges::new(U256::from(1), vec![StorageChange::new(index(1), U256::from(7))]),
            SlotChanges::new(
                U256::MAX,
                vec![StorageChange::new(index(0), U256::ZERO), StorageChange::new(index(3), U256::MAX)],
            ),
        ];
        list[0].storage_reads = vec![U256::from(2), U256::from(1u64 << 40)];
        list[1].nonce_changes = vec![NonceChange::new(index(2), 9)];
        list[1].code_changes = vec![CodeChange::new(index(2), Bytes::from_static(&[0x60, 0x00, 0xf3]))];
        for list in [Vec::new(), two_accounts(), list] {
            assert_eq!(bal_hash(&list), alloy_eip7928::compute_block_access_list_hash(&list));
        }
    }

    #[test]
    fn an_account_out_of_the_eips_form_is_named_before_a_later_disorder() {
        let mut list = two_accounts();
        // Balance changes out of index order, in the first account.
        let change = |at| BalanceChange::new(BlockAccessIndex::new(at), U256::from(at));
        list[0].balance_changes = vec![change(3), change(1)];
        assert!(noncanonical(&list).is_some_and(|m| m.contains("account 0")));
        // The same, in the second account, of three out of order.
        let mut list = two_accounts();
        list[1].balance_changes = vec![change(3), change(1)];
        list.push(list[0].clone());
        assert!(noncanonical(&list).is_some_and(|m| m.contains("account 1")), "{:?}", noncanonical(&list));
    }

    #[test]
    fn a_list_out_of_the_eips_order_or_with_an_account_twice_is_named() {
        assert_eq!(noncanonical(&two_accounts()), None);
        let mut reversed = two_accounts();
        reversed.reverse();
        assert!(noncanonical(&reversed).is_some_and(|m| m.contains("account 0")));
        let mut twice = two_accounts();
        twice.push(twice[1].clone());
        assert!(noncanonical(&twice).is_some_and(|m| m.contains("account 2")), "{:?}", noncanonical(&twice));
    }
}
