//! How soon the allocator hands freed memory back to the system, and in
//! what page size: a trade between peak memory and page faults.
//!
//! mimalloc (v3, as built here) hands a freed page back a second after it
//! empties. A one-shot command (replay, generate) wants it back at once: a
//! large block is freed and rebuilt between modes, and memory kept meanwhile
//! only raises the peak (the million-transaction replay's by about 390 MB).
//! A throughput measurement runs the same block round after round, like a
//! node executing block after block: there, handing pages back only to
//! fault them in again (the kernel clears each one) costs time in every
//! round, most of it in the executors' finish phase (measured against a
//! 10 ms delay in the README's results).
//!
//! The one-shot commands also turn off transparent huge pages, which
//! mimalloc asks the kernel for by default: a 2 MiB page stays resident
//! whole while any of it is in use. The million-transaction replay in DAG
//! mode peaked at 3,167,404 KiB with them and 3,094,480 KiB without.

/// mimalloc's `mi_option_purge_delay` (milliseconds; 0 at once, -1 never).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// mimalloc's `mi_option_allow_thp` (1: ask for transparent huge pages).
const ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// What to do with freed memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freed {
    /// Hand it back as soon as a page is empty, in small pages.
    Return,
    /// Keep it for the next allocation, in huge pages where the kernel can.
    Keep,
}

/// Applies `freed` to the whole process, from now on.
pub(crate) fn set(freed: Freed) {
    let (delay, huge_pages) = match freed {
        Freed::Return => (0, 0),
        Freed::Keep => (-1, 1),
    };
    // SAFETY: setting an option is plain data, allowed at any time.
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, delay);
        libmimalloc_sys::mi_option_set(ALLOW_THP, huge_pages);
    }
}
