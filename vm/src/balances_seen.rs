//! Which accounts' balances a transaction's run depended on.
//!
//! The repair of strays (see [`crate::repair`]) needs to know, of an
//! account whose balance its first pass got wrong, whether a transaction
//! that read the account depended on the balance, or only on its code and
//! nonce. A run that never *saw* a balance depends on it only by adding to
//! it or taking from it: its control flow, gas and logs are the same for
//! any balance, and the balance it leaves is the one it found plus what it
//! moved in or out (as long as the account is not empty either way; see
//! [`crate::repair`]).
//!
//! A run sees an account's balance ([`Seen::Balance`]):
//! - with `BALANCE` on it, or `SELFBALANCE` in its code;
//! - when its code self-destructs, which moves the whole balance; the
//!   recipient is counted too.
//!
//! It only compares the balance with an amount ([`Seen::AtLeast`]):
//! - when its code sends value (`CALL` or `CALLCODE` with a value, `CREATE`
//!   or `CREATE2` with an endowment): the send goes through if the balance
//!   is at least the value (if it is not, the balance counts as seen);
//! - as the transaction's sender, which the repair checks itself: the
//!   transaction is valid if the balance covers its gas and value.
//!
//! Under hints, the parallel executor's first-pass EVM runs these opcodes
//! through wrappers ([`install`]) that note what they saw in a per-thread
//! list and then run revm's own instruction; the executor empties the list
//! ([`clear`]) before each transaction and takes it ([`take`]) after. No
//! other EVM has the wrappers, and they change nothing else: these opcodes
//! are a small share of any run, and a note is one push (and, for a send,
//! a look at the running account, which is loaded and warm).

use alloy_primitives::Address;
use core::cell::RefCell;
use revm::bytecode::opcode::{BALANCE, CALL, CALLCODE, CREATE, CREATE2, SELFBALANCE, SELFDESTRUCT};
use revm::context_interface::Host;
use revm::handler::instructions::EthInstructions;
use revm::interpreter::instructions::{contract, host};
use revm::interpreter::interpreter_types::{InputsTr, StackTr};
use revm::interpreter::{Instruction, InstructionContext, InstructionExecResult, InterpreterTypes};
use revm::primitives::U256;

/// What a run made of an account's balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// It saw the balance.
    Balance(Address),
    /// It went on because the balance was at least the value it sent: by
    /// this much, at the time.
    AtLeast(Address, U256),
}

impl Seen {
    /// The account.
    pub(crate) fn address(&self) -> Address {
        match self {
            Seen::Balance(address) | Seen::AtLeast(address, _) => *address,
        }
    }

    /// Whether the run does the same on a balance moved by `by` (modulo
    /// 2^256, so a move down is a large number).
    pub(crate) fn holds(&self, by: U256) -> bool {
        match self {
            Seen::Balance(_) => by.is_zero(),
            // A move up keeps the balance above the value; a move down must
            // fit in the margin.
            Seen::AtLeast(_, margin) => !by.bit(255) || by.wrapping_neg() <= *margin,
        }
    }
}

thread_local! {
    /// What the running transaction made of balances, in the order seen.
    static SEEN: RefCell<Vec<Seen>> = const { RefCell::new(Vec::new()) };
}

/// Forgets what the last transaction on this thread saw.
pub(crate) fn clear() {
    SEEN.with_borrow_mut(|seen| {
        if !seen.is_empty() {
            seen.clear();
        }
    });
}

/// What the last transaction on this thread made of balances, leaving
/// none.
pub(crate) fn take() -> Vec<Seen> {
    SEEN.with_borrow_mut(core::mem::take)
}

fn note(seen: Seen) {
    SEEN.with_borrow_mut(|list| list.push(seen));
}

/// The running code's account sends `value`: notes how far its balance
/// covers it, or, where it does not, that the balance was seen.
fn sends<W: InterpreterTypes, H: Host + ?Sized>(ctx: &mut InstructionContext<'_, H, W>, value: U256) {
    let address = ctx.interpreter.input.target_address();
    // The running account is loaded and warm: this costs no gas.
    let balance = ctx.host.balance(address).map(|load| load.data);
    note(match balance.and_then(|balance| balance.checked_sub(value)) {
        Some(margin) => Seen::AtLeast(address, margin),
        None => Seen::Balance(address),
    });
}

/// Puts the wrappers in `instructions`, each with the static gas of the
/// instruction it wraps.
pub(crate) fn install<W: InterpreterTypes, H: Host>(instructions: &mut EthInstructions<W, H>) {
    let mut wrap = |opcode: u8, instruction: fn(InstructionContext<'_, H, W>) -> InstructionExecResult| {
        let gas = instructions.gas_table()[opcode as usize];
        instructions.insert_instruction(opcode, Instruction::new(instruction), gas);
    };
    wrap(BALANCE, balance);
    wrap(SELFBALANCE, selfbalance);
    wrap(CALL, call::<CALL, _, _>);
    wrap(CALLCODE, call::<CALLCODE, _, _>);
    wrap(CREATE, create::<false, _, _>);
    wrap(CREATE2, create::<true, _, _>);
    wrap(SELFDESTRUCT, selfdestruct);
}

/// The stack item `depth` below the top (0: the top), if there is one.
fn operand<W: InterpreterTypes>(stack: &W::Stack, depth: usize) -> Option<U256> {
    let data = stack.data();
    data.len().checked_sub(depth + 1).map(|at| data[at])
}

fn balance<W: InterpreterTypes, H: Host + ?Sized>(ctx: InstructionContext<'_, H, W>) -> InstructionExecResult {
    if let Some(address) = operand::<W>(&ctx.interpreter.stack, 0) {
        note(Seen::Balance(Address::from_word(address.into())));
    }
    host::balance(ctx)
}

fn selfbalance<W: InterpreterTypes, H: Host + ?Sized>(ctx: InstructionContext<'_, H, W>) -> InstructionExecResult {
    note(Seen::Balance(ctx.interpreter.input.target_address()));
    host::selfbalance(ctx)
}

/// `CALL` and `CALLCODE` take the value third from the top.
fn call<const KIND: u8, W: InterpreterTypes, H: Host + ?Sized>(
    mut ctx: InstructionContext<'_, H, W>,
) -> InstructionExecResult {
    if let Some(value) = operand::<W>(&ctx.interpreter.stack, 2).filter(|value| !value.is_zero()) {
        sends(&mut ctx, value);
    }
    contract::call::<KIND, W, H>(ctx)
}

/// `CREATE` and `CREATE2` take the endowment on top.
fn create<const CREATE2: bool, W: InterpreterTypes, H: Host + ?Sized>(
    mut ctx: InstructionContext<'_, H, W>,
) -> InstructionExecResult {
    if let Some(value) = operand::<W>(&ctx.interpreter.stack, 0).filter(|value| !value.is_zero()) {
        sends(&mut ctx, value);
    }
    contract::create::<CREATE2, W, H>(ctx)
}

fn selfdestruct<W: InterpreterTypes, H: Host + ?Sized>(ctx: InstructionContext<'_, H, W>) -> InstructionExecResult {
    note(Seen::Balance(ctx.interpreter.input.target_address()));
    if let Some(target) = operand::<W>(&ctx.interpreter.stack, 0) {
        note(Seen::Balance(Address::from_word(target.into())));
    }
    host::selfdestruct(ctx)
}
