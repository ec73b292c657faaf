//! Every Ethereum transaction type, by hand, in every mode: legacy with and
//! without a chain id (EIP-155), EIP-2930 access lists (gas, not
//! declarations), EIP-1559 fees, EIP-4844 blobs and EIP-7702 delegations.

mod common;

use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_eips::eip7702::Authorization;
use alloy_primitives::{Address, B256, U256};
use common::ethereum::{SENDER, block_of, call, every_mode, every_mode_fails, slot, state_with, typed};
use defivm_vm::{
    AccessSet, BlockEnv, Envelope, Fee, SequentialExecutor, SpecId, StateKey, Status, Transaction, TxType, VmError,
};
use revm::context_interface::block::calc_blob_gasprice;
use revm::primitives::eip4844::{BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE};

/// `SLOAD(0)`, then stop.
const SLOADER: &[u8] = &[0x60, 0x00, 0x54, 0x50, 0x00];
const SLOADER_ADDRESS: Address = Address::new([0x51; 20]);

/// Stores `BLOBHASH(0)` in slot 0 and `BLOBBASEFEE` in slot 1.
const BLOB_PROBE: &[u8] = &[0x60, 0x00, 0x49, 0x60, 0x00, 0x55, 0x4a, 0x60, 0x01, 0x55, 0x00];
const BLOB_PROBE_ADDRESS: Address = Address::new([0xb1; 20]);

/// `SSTORE(0, 1)`: the code an EOA delegates to.
const DELEGATE: &[u8] = &[0x60, 0x01, 0x60, 0x00, 0x55, 0x00];
const DELEGATE_ADDRESS: Address = Address::new([0xde; 20]);

fn dynamic(tx: Transaction, tx_type: TxType) -> Transaction {
    let fee = Fee::Dynamic { max_fee_per_gas: 100, max_priority_fee_per_gas: 3 };
    typed(Transaction { fee, ..tx }, tx_type)
}

fn with_envelope(tx: Transaction, edit: impl FnOnce(&mut Envelope)) -> Transaction {
    let mut tx = tx;
    edit(tx.envelope.as_mut().expect("a typed transaction"));
    tx
}

#[test]
fn legacy_transactions_run_with_and_without_a_chain_id_and_are_refused_for_another_chain() {
    let state = state_with(&[]);
    let block = block_of(SpecId::CANCUN);
    let to = Address::repeat_byte(0x77);
    let protected = typed(call(0, to, &[], 5), TxType::Legacy);
    let unprotected = with_envelope(typed(call(1, to, &[], 6), TxType::Legacy), |e| e.chain_id = None);
    let outcome = every_mode(&state, &block, &[protected.clone(), unprotected]);
    assert!(outcome.receipts.iter().all(|r| r.is_success()));
    assert_eq!(outcome.changes[&StateKey::Account(to)].account().unwrap().balance, U256::from(11));

    let elsewhere = with_envelope(protected, |e| e.chain_id = Some(5));
    let error = every_mode_fails(&state, &block, &[elsewhere]);
    assert!(matches!(&error, VmError::InvalidTransaction { index: 0, reason } if reason.contains("chain")), "{error}");
}

#[test]
fn an_eip2930_access_list_changes_gas_and_grants_no_access() {
    let state = state_with(&[(SLOADER_ADDRESS, SLOADER)]);
    let block = block_of(SpecId::CANCUN);
    let plain = typed(call(0, SLOADER_ADDRESS, &[], 0), TxType::Eip2930);
    let list = AccessList(vec![AccessListItem { address: SLOADER_ADDRESS, storage_keys: vec![B256::ZERO] }]);
    let listed = with_envelope(plain.clone(), |e| e.access_list = list);
    let without = every_mode(&state, &block, std::slice::from_ref(&plain)).receipts[0].gas_used;
    let with = every_mode(&state, &block, &[listed]).receipts[0].gas_used;
    // The list costs 2,400 for the address (warm already, as the callee)
    // and 1,900 for the slot, whose SLOAD then costs 100 instead of 2,100.
    assert_eq!(with, without + 2_400 + 1_900 - 2_000);

    // A slot and an account the list names but the code never touches are
    // not read: a declaration without them is enough.
    let far = Address::repeat_byte(0xfa);
    let list = AccessList(vec![
        AccessListItem { address: SLOADER_ADDRESS, storage_keys: vec![B256::with_last_byte(5)] },
        AccessListItem { address: far, storage_keys: vec![B256::ZERO] },
    ]);
    let declared = Transaction {
        access: AccessSet::new(vec![StateKey::Storage(SLOADER_ADDRESS, U256::ZERO)], vec![]),
        ..with_envelope(plain, |e| e.access_list = list)
    };
    let outcome = SequentialExecutor::new().execute(&state, &block, std::slice::from_ref(&declared)).unwrap();
    assert_eq!(outcome.receipts[0].status, Status::Success);
    let recorded = common::ethereum::declared(&state, &block, &[declared]);
    assert!(!recorded[0].access.declares(&StateKey::Storage(SLOADER_ADDRESS, U256::from(5))));
    assert!(!recorded[0].access.declares(&StateKey::Account(far)));
}

#[test]
fn eip1559_fees_burn_the_base_fee_and_pay_the_tip() {
    let state = state_with(&[]);
    let block = BlockEnv { basefee: 7, ..block_of(SpecId::CANCUN) };
    let to = Address::repeat_byte(0x77);
    let outcome = every_mode(&state, &block, &[dynamic(call(0, to, &[], 1), TxType::Eip1559)]);
    let gas = U256::from(outcome.receipts[0].gas_used);
    let balance = |a| outcome.changes[&StateKey::Account(a)].account().unwrap().balance;
    // The price is min(100, 7 + 3) = 10: 7 burned, 3 to the beneficiary.
    assert_eq!(balance(block.beneficiary), gas * U256::from(3));
    let start = state.account(&SENDER).unwrap().balance;
    assert_eq!(balance(SENDER), start - gas * U256::from(10) - U256::from(1));
}

#[test]
fn a_blob_transaction_pays_blob_gas_and_sees_its_hashes_and_the_blob_base_fee() {
    let state = state_with(&[(BLOB_PROBE_ADDRESS, BLOB_PROBE)]);
    let mut versioned = [0x42u8; 32];
    versioned[0] = 0x01; // the KZG version byte
    let versioned = B256::from(versioned);
    let blob_tx = with_envelope(dynamic(call(0, BLOB_PROBE_ADDRESS, &[], 0), TxType::Eip4844), |e| {
        e.blob_hashes = vec![versioned];
        e.max_fee_per_blob_gas = 1_000_000;
    });
    for (spec, fraction) in
        [(SpecId::CANCUN, BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN), (SpecId::PRAGUE, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE)]
    {
        let block = BlockEnv { excess_blob_gas: 10_000_000, ..block_of(spec) };
        let blob_fee = calc_blob_gasprice(10_000_000, fraction);
        assert!(blob_fee > 1, "an excess that moves the fee");
        let outcome = every_mode(&state, &block, std::slice::from_ref(&blob_tx));
        assert!(outcome.receipts[0].is_success(), "{:?}", outcome.receipts[0]);
        assert_eq!(slot(&outcome.changes, BLOB_PROBE_ADDRESS, 0), Some(versioned.into()));
        assert_eq!(slot(&outcome.changes, BLOB_PROBE_ADDRESS, 1), Some(U256::from(blob_fee)));
        // Gas at min(100, 1 + 3) = 4, plus one blob's gas at the blob base fee.
        let gas = U256::from(outcome.receipts[0].gas_used);
        let paid = state.account(&SENDER).unwrap().balance
            - outcome.changes[&StateKey::Account(SENDER)].account().unwrap().balance;
        assert_eq!(paid, gas * U256::from(4) + U256::from(131_072u64) * U256::from(blob_fee), "{spec:?}");
    }
}

#[test]
fn an_eip7702_authorization_delegates_an_accounts_code() {
    let key = k256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
    let authority = Address::from_private_key(&key);
    let state = state_with(&[(DELEGATE_ADDRESS, DELEGATE)]);
    let authorization = Authorization { chain_id: U256::from(1), address: DELEGATE_ADDRESS, nonce: 0 };
    let (signature, recovery) = key.sign_prehash_recoverable(authorization.signature_hash().as_slice()).unwrap();
    let signed = authorization.into_signed((signature, recovery).into());
    assert_eq!(signed.recover_authority().unwrap(), authority);
    let tx = with_envelope(dynamic(call(0, authority, &[], 0), TxType::Eip7702), |e| {
        e.authorization_list = vec![signed];
    });
    let block = block_of(SpecId::PRAGUE);
    let outcome = every_mode(&state, &block, &[tx]);
    assert!(outcome.receipts[0].is_success(), "{:?}", outcome.receipts[0]);
    // The authority now points at the delegate (0xef0100 ‖ address), its
    // nonce bumped, and the delegate's code ran in the authority's storage.
    let account = outcome.changes[&StateKey::Account(authority)].account().expect("the authority exists").clone();
    let code = account.code.as_ref().unwrap().original_bytes();
    assert_eq!(&code[..3], &[0xef, 0x01, 0x00]);
    assert_eq!(&code[3..], DELEGATE_ADDRESS.as_slice());
    assert_eq!(account.nonce, 1);
    assert_eq!(slot(&outcome.changes, authority, 0), Some(U256::from(1)));
}
