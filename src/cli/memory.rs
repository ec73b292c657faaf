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
//! The one-shot commands also turn off transparent huge pages for the
//! process (Linux), which mimalloc otherwise asks the kernel for: a 2 MiB
//! page stays resident whole while any of it is in use. The README's results
//! give what that saves on the million-transaction replay.

/// mimalloc's `mi_option_purge_delay` (milliseconds; 0 at once, -1 never),
/// the 16th entry of `mi_option_t` in v3's `mimalloc.h`. `libmimalloc-sys`
/// names neither option.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// mimalloc's `mi_option_allow_thp` (0: do not advise huge pages), the
/// 44th entry.
const ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// What to do with freed memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freed {
    /// Hand it back as soon as a page is empty, in small pages.
    Return,
    /// Keep it for the next allocation (huge pages left as configured).
    Keep,
}

/// Applies `freed` to the whole process, from now on.
pub(crate) fn set(freed: Freed) {
    match freed {
        Freed::Return => {
            // SAFETY: setting an option is plain data, allowed at any time.
            unsafe {
                libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
                // Memory mapped from now on is not advised for huge pages...
                libmimalloc_sys::mi_option_set(ALLOW_THP, 0);
            }
            // ...and from now on no fault is served with one, in what
            // mimalloc mapped and advised before `main` too. Best effort: an
            // older kernel refuses, which costs only memory.
            #[cfg(target_os = "linux")]
            // SAFETY: a prctl that only sets a flag of this process. Its
            // arguments are read as unsigned longs.
            unsafe {
                let (on, unused): (libc::c_ulong, libc::c_ulong) = (1, 0);
                libc::prctl(libc::PR_SET_THP_DISABLE, on, unused, unused, unused);
            }
        }
        // SAFETY: as above.
        Freed::Keep => unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) },
    }
}
