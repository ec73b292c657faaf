//! EIP-7928 block access lists: what an executor recorded of a block
//! ([`BlockAccess`]), in the order and encoding the EIP gives.
//!
//! Accounts are sorted by address; in each, the changed slots by slot with
//! their changes by block access index, the slots only read by slot, and
//! the balance, nonce and code changes by index. The list's hash is
//! `keccak256(rlp(list))`; an empty list hashes to [`EMPTY_BAL_HASH`].

use alloy_eip7928::{
    AccountChanges, BalanceChange, BlockAccessIndex, BlockAccessList, CodeChange, NonceChange, SlotChanges,
    StorageChange, compute_block_access_list_hash,
};
use alloy_primitives::{B256, b256};
use defivm_vm::{AccountAccess, BlockAccess};

/// The hash of an empty block access list: `keccak256(rlp([]))`.
pub const EMPTY_BAL_HASH: B256 = b256!("0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347");

/// The block access list of a block whose accesses are `access`.
pub fn block_access_list(access: &BlockAccess) -> BlockAccessList {
    let mut list: BlockAccessList = access.accounts().map(|(address, a)| account_changes(*address, a)).collect();
    list.sort_unstable_by_key(|account| account.address);
    list
}

/// `keccak256(rlp(list))`.
pub fn bal_hash(list: &BlockAccessList) -> B256 {
    compute_block_access_list_hash(list)
}

/// One account's entry.
fn account_changes(address: alloy_primitives::Address, access: &AccountAccess) -> AccountChanges {
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
}
