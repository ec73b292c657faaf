//! The barrier between two waves: workers spin for the last one to arrive
//! instead of sleeping. Waves of real blocks are short (a block of a few
//! hundred transactions has hundreds of waves), and putting a thread to
//! sleep and waking it costs tens of microseconds, more than a wave.

use crossbeam_utils::{Backoff, CachePadded};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A reusable barrier for a fixed number of threads that spins (then
/// yields) while it waits.
#[derive(Debug)]
pub(crate) struct SpinBarrier {
    threads: usize,
    /// Threads arrived at the current generation.
    arrived: CachePadded<AtomicUsize>,
    /// How many times the barrier opened.
    generation: CachePadded<AtomicUsize>,
}

impl SpinBarrier {
    pub(crate) fn new(threads: usize) -> Self {
        Self {
            threads: threads.max(1),
            arrived: CachePadded::new(AtomicUsize::new(0)),
            generation: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    /// Waits until every thread has called `wait` for this generation.
    ///
    /// Ordering: the last thread to arrive resets the count before it
    /// publishes the new generation (`Release`), and waiters read the
    /// generation with `Acquire`, so whatever any thread wrote before
    /// arriving happens-before every thread leaves.
    pub(crate) fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let backoff = Backoff::new();
        while self.generation.load(Ordering::Acquire) == generation {
            backoff.snooze();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn no_thread_passes_a_generation_before_all_arrive() {
        let threads = 4;
        let barrier = SpinBarrier::new(threads);
        let counter = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for round in 1..=200u64 {
                        counter.fetch_add(1, Ordering::Relaxed);
                        barrier.wait();
                        // Every thread counted this round before anyone left.
                        assert!(counter.load(Ordering::Relaxed) >= round * threads as u64);
                        barrier.wait();
                    }
                });
            }
        });
        assert_eq!(counter.into_inner(), 200 * threads as u64);
    }
}
