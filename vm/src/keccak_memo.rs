//! KECCAK256 with a per-thread memo of 64-byte inputs.
//!
//! Solidity finds `mapping[key]` at `keccak256(key . slot)`: 64 bytes. A
//! token transfer hashes two such inputs (the two balances), a swap a dozen,
//! and the same holders come back transaction after transaction. One
//! keccak-f permutation costs about 5,000 instructions, as much as a third
//! of a plain transfer, so each worker thread remembers the hashes of the
//! 64-byte inputs it has seen. Other lengths are hashed as usual.
//!
//! The opcode's semantics are untouched: the same stack effect, the same
//! gas (static from the table, dynamic per word), the same memory expansion
//! and errors. A memo entry is a pure function of its input, so neither the
//! thread that computed it nor the block it came from matters. The memo is
//! bounded: it is emptied when it reaches [`CAPACITY`] entries, and it lives
//! for one block ([`forget`]).

use alloy_primitives::{B256, U256, keccak256};
use core::cell::RefCell;
use hashbrown::HashMap;
use revm::bytecode::opcode::KECCAK256;
use revm::context_interface::Host;
use revm::handler::instructions::EthInstructions;
use revm::interpreter::interpreter_types::{MemoryTr, StackTr};
use revm::interpreter::{Instruction, InstructionContext, InstructionExecResult, InstructionResult, InterpreterTypes};
use revm::primitives::KECCAK_EMPTY;

/// Entries a thread's memo holds before it starts over: 7/8 of 2^18, the
/// most a table of 2^18 buckets holds before it doubles (96 bytes an entry,
/// about 25 MiB per thread). Blocks of 100,000 transactions over 25,000
/// users at the benchmarks' default hotness fill it in no workload; a
/// million-transaction block does, where a memo four times as large held
/// about 100 MiB on each worker.
pub(crate) const CAPACITY: usize = (1 << 18) / 8 * 7;

thread_local! {
    static MEMO: RefCell<HashMap<[u8; 64], B256>> = RefCell::new(HashMap::new());
}

/// Empties the calling thread's memo, keeping its table: the executors
/// call it as a thread starts on a block, so that the memo holds only what
/// the block itself hashed. Nothing carries over from one block to the
/// next, and a block runs no faster the second time than the first (what
/// `defivm bench` relies on when it runs a block round after round).
pub(crate) fn forget() {
    MEMO.with_borrow_mut(|memo| {
        if !memo.is_empty() {
            memo.clear();
        }
    });
}

/// Frees the calling thread's memo: its table of up to [`CAPACITY`]
/// entries goes back to the allocator.
pub(crate) fn release() {
    MEMO.set(HashMap::new());
}

/// Replaces KECCAK256 in `instructions` with the memoizing version, keeping
/// its static gas.
pub(crate) fn install<W: InterpreterTypes, H: Host>(instructions: &mut EthInstructions<W, H>) {
    let gas = instructions.gas_table()[KECCAK256 as usize];
    instructions.insert_instruction(KECCAK256, Instruction::new(keccak256_memo), gas);
}

/// The hash of `data`, from the memo when it is 64 bytes long.
fn hash(data: &[u8]) -> B256 {
    let Ok(key) = <[u8; 64]>::try_from(data) else { return keccak256(data) };
    MEMO.with_borrow_mut(|memo| {
        // Full, it starts over (keeping its table) before it could grow.
        if memo.len() >= CAPACITY && !memo.contains_key(&key) {
            memo.clear();
        }
        *memo.entry(key).or_insert_with(|| keccak256(key))
    })
}

fn usize_or_fail(value: U256) -> Result<usize, InstructionResult> {
    usize::try_from(value).map_err(|_| InstructionResult::InvalidOperandOOG)
}

fn keccak256_memo<W: InterpreterTypes, H: Host + ?Sized>(ctx: InstructionContext<'_, H, W>) -> InstructionExecResult {
    let interpreter = ctx.interpreter;
    let Some([offset, len]) = interpreter.stack.popn::<2>() else {
        return Err(InstructionResult::StackUnderflow);
    };
    let len = usize_or_fail(len)?;
    if !interpreter.gas.record_regular_cost(ctx.host.gas_params().keccak256_cost(len)) {
        return Err(InstructionResult::OutOfGas);
    }
    let hash = if len == 0 {
        KECCAK_EMPTY
    } else {
        let from = usize_or_fail(offset)?;
        interpreter.resize_memory(ctx.host.gas_params(), from, len)?;
        hash(&interpreter.memory.slice_len(from, len))
    };
    // Two values were popped, so one push cannot overflow.
    let _ = interpreter.stack.push(hash.into());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memoized_hashes_equal_fresh_ones() {
        let inputs: Vec<Vec<u8>> = (0u8..40).map(|i| (0..64).map(|j| i.wrapping_mul(31) ^ j).collect()).collect();
        for _ in 0..2 {
            for input in &inputs {
                assert_eq!(hash(input), keccak256(input));
            }
        }
        assert_eq!(hash(&[1, 2, 3]), keccak256([1, 2, 3]));
        MEMO.with_borrow(|memo| assert_eq!(memo.len(), inputs.len()));
    }

    #[test]
    fn a_forgotten_memo_is_empty_and_keeps_its_table() {
        for i in 0u8..20 {
            hash(&[i; 64]);
        }
        let buckets = MEMO.with_borrow(|memo| memo.capacity());
        forget();
        MEMO.with_borrow(|memo| assert_eq!((memo.len(), memo.capacity()), (0, buckets)));
        assert_eq!(hash(&[3; 64]), keccak256([3; 64]));
    }

    #[test]
    fn a_full_memo_starts_over_without_growing() {
        let input = |i: usize| {
            let mut bytes = [0u8; 64];
            bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
            bytes
        };
        for i in 0..CAPACITY {
            hash(&input(i));
        }
        // Exactly full: a table of 2^18 buckets, not doubled.
        let buckets = MEMO.with_borrow(|memo| {
            assert_eq!((memo.len(), memo.capacity()), (CAPACITY, CAPACITY));
            memo.capacity()
        });
        // A known input is answered from the full memo; a new one empties it.
        assert_eq!(hash(&input(7)), keccak256(input(7)));
        MEMO.with_borrow(|memo| assert_eq!(memo.len(), CAPACITY));
        assert_eq!(hash(&input(CAPACITY)), keccak256(input(CAPACITY)));
        MEMO.with_borrow(|memo| assert_eq!((memo.len(), memo.capacity()), (1, buckets)));
        release();
        MEMO.with_borrow(|memo| assert_eq!(memo.capacity(), 0));
    }
}
