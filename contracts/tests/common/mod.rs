//! What every contract test does: run calls as one block.

use alloy_primitives::Address;
use defivm_contracts::Call;
use defivm_vm::{BlockEnv, Fee, Receipt, SequentialExecutor, State};
use std::collections::HashMap;

/// Runs `calls` in order as one block at `timestamp` through the sequential
/// executor (which enforces every declaration), each sender's nonces
/// continuing from `state`; returns the receipts and the post-state.
pub(crate) fn block(state: &State, calls: Vec<(Address, Call)>, timestamp: u64) -> (Vec<Receipt>, State) {
    let mut nonces = HashMap::new();
    let txs: Vec<_> = calls
        .into_iter()
        .map(|(from, call)| {
            let nonce = nonces.entry(from).or_insert_with(|| state.account(&from).map_or(0, |a| a.nonce));
            *nonce += 1;
            call.into_tx(from, *nonce - 1, 1_000_000, Fee::Dynamic { max_fee_per_gas: 10, max_priority_fee_per_gas: 1 })
        })
        .collect();
    let env = BlockEnv { basefee: 1, timestamp, ..BlockEnv::default() };
    let outcome = SequentialExecutor::new().execute(state, &env, &txs).expect("a valid block");
    let post = outcome.post_state(state);
    (outcome.receipts, post)
}
