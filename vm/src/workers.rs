//! The parallel executor's threads: the calling thread works, and helper
//! threads join it when they are awake.
//!
//! A job is a closure that every worker calls with its number: 0 for the
//! caller, `1..threads` for the helpers. The caller starts on its share at
//! once; a helper that is asleep when a job is published wakes up, and
//! joins only if the job is still open. So a job is written to be finished
//! by *any* subset of its workers that includes the caller: work is claimed
//! from shared counters, never dealt to a worker that might not come.
//!
//! Why not hand the block to a thread pool: a pool's caller sleeps while
//! the pool works, so each block pays for waking a pool thread and then for
//! waking the caller again, tens of microseconds each on a virtual machine,
//! as long as a whole small block. Here the caller never waits for a thread
//! to wake: a helper that comes late only means less help.
//!
//! The protocol, kept in one atomic word (`state`): its top bit says the
//! job is open, the rest count the helpers inside it.
//! - The caller stores the job, then opens it (`Release`).
//! - A helper enters by incrementing the count while the open bit is set
//!   (one compare-and-swap); after that the job stays valid until it leaves.
//! - The caller closes the job when its own share returns (clearing the
//!   bit), then waits for the count to reach zero: a helper inside is about
//!   to leave, since a job's work is done when the caller's share returns.
//!   No helper enters a closed job, so the caller's closure, borrowed for
//!   the call only, is never used after [`Workers::run`] returns.
//!
//! After a job a helper spins for a short while ([`SPIN`]) watching for the
//! next one, since the executor publishes several per block, then sleeps.

use crossbeam_utils::{Backoff, CachePadded};
use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle helper watches for the next job before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

/// The open bit of [`Shared::state`]; the bits below count helpers inside.
const OPEN: u64 = 1 << 63;

/// A job as helpers see it: the caller's closures, their lifetime erased.
/// Valid while the job is open or a helper is inside it (module docs).
#[derive(Clone, Copy)]
struct Job {
    work: *const (dyn Fn(usize) + Sync),
    abort: *const (dyn Fn() + Sync),
}

struct Shared {
    /// Open bit and helpers inside (module docs).
    state: CachePadded<AtomicU64>,
    /// Bumped for every job published; idle helpers watch it.
    epoch: CachePadded<AtomicU64>,
    /// The current job: written by the caller before it opens the job.
    job: UnsafeCell<Option<Job>>,
    /// Helpers asleep on `wake` (or about to be).
    sleeping: AtomicUsize,
    shutdown: AtomicBool,
    /// Guards sleeping on `wake`.
    lock: Mutex<()>,
    wake: Condvar,
    /// What a helper's share of a job panicked with, if it did.
    panicked: Mutex<Option<String>>,
}

// SAFETY: `job` is written only by the one caller that holds `Workers::owner`
// and only while no helper can read it (the job is closed and no helper is
// inside); helpers read it only between entering and leaving (module docs).
unsafe impl Sync for Shared {}
// SAFETY: the raw pointers in `job` point to `Sync` closures, used as `&`.
unsafe impl Send for Shared {}

/// The calling thread plus `threads - 1` helper threads (see the module docs).
pub(crate) struct Workers {
    shared: Arc<Shared>,
    helpers: Vec<JoinHandle<()>>,
    /// Held by the caller of the running job: a second caller that finds it
    /// taken (another thread using the same executor) runs alone.
    owner: Mutex<()>,
}

impl core::fmt::Debug for Workers {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Workers").field("threads", &self.threads()).finish()
    }
}

impl Workers {
    /// The calling thread and `threads - 1` helpers named `{name}-{i}`.
    pub(crate) fn new(threads: usize, name: &str) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: CachePadded::new(AtomicU64::new(0)),
            epoch: CachePadded::new(AtomicU64::new(0)),
            job: UnsafeCell::new(None),
            sleeping: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            panicked: Mutex::new(None),
        });
        let mut workers = Self { shared, helpers: Vec::new(), owner: Mutex::new(()) };
        for index in 1..threads.max(1) {
            let shared = Arc::clone(&workers.shared);
            let helper =
                std::thread::Builder::new().name(format!("{name}-{index}")).spawn(move || help(&shared, index))?;
            workers.helpers.push(helper);
        }
        Ok(workers)
    }

    /// How many workers a job can have, the caller included.
    pub(crate) fn threads(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Runs `work(0)` on the calling thread, and `work(i)` on every helper
    /// that wakes while the job is open; returns once the caller's share is
    /// done and no helper is inside. If a share panics, `abort` is called
    /// (so that the other shares stop waiting for work it held) and the
    /// panic is reported: the caller's own is resumed, a helper's returned
    /// as its message.
    pub(crate) fn run(&self, work: &(dyn Fn(usize) + Sync), abort: &(dyn Fn() + Sync)) -> Result<(), String> {
        let owner = if self.helpers.is_empty() { None } else { self.owner.try_lock().ok() };
        let Some(_owner) = owner else {
            work(0);
            return Ok(());
        };
        let shared = &*self.shared;
        // SAFETY: we hold `owner`, and the previous job was closed with no
        // helper inside, so nothing reads `job` now. The pointers' lifetimes
        // are erased; the closures outlive every use (module docs).
        unsafe {
            *shared.job.get() = Some(Job {
                work: core::mem::transmute::<&(dyn Fn(usize) + Sync), *const (dyn Fn(usize) + Sync)>(work),
                abort: core::mem::transmute::<&(dyn Fn() + Sync), *const (dyn Fn() + Sync)>(abort),
            });
        }
        shared.state.store(OPEN, Ordering::Release);
        shared.epoch.fetch_add(1, Ordering::SeqCst);
        if shared.sleeping.load(Ordering::SeqCst) > 0 {
            let _lock = lock(&shared.lock);
            shared.wake.notify_all();
        }
        // Closes the job on every way out, a panic in `work` included.
        struct Close<'a>(&'a Shared, &'a (dyn Fn() + Sync));
        impl Drop for Close<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    (self.1)();
                }
                self.0.state.fetch_and(!OPEN, Ordering::AcqRel);
                let backoff = Backoff::new();
                while self.0.state.load(Ordering::Acquire) != 0 {
                    backoff.snooze();
                }
            }
        }
        let close = Close(shared, abort);
        work(0);
        drop(close);
        match lock(&shared.panicked).take() {
            Some(message) => Err(message),
            None => Ok(()),
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        {
            let _lock = lock(&self.shared.lock);
            self.shared.wake.notify_all();
        }
        for helper in self.helpers.drain(..) {
            let _ = helper.join();
        }
    }
}

/// A helper's life: wait for a job, join it if it is still open, repeat.
fn help(shared: &Shared, index: usize) {
    // Epochs start at 0: a helper that starts after the first job was
    // published must still see it as new.
    let mut seen = 0;
    loop {
        seen = wait_for_job(shared, seen);
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        let mut state = shared.state.load(Ordering::Acquire);
        let entered = loop {
            if state & OPEN == 0 {
                break false;
            }
            match shared.state.compare_exchange_weak(state, state + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break true,
                Err(now) => state = now,
            }
        };
        if !entered {
            continue; // the caller finished without us
        }
        // SAFETY: the job is open or we are inside it, so it is the current
        // job and its closures are alive until we leave.
        let job = unsafe { (*shared.job.get()).expect("an open job is stored before it opens") };
        let work = unsafe { &*job.work };
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| work(index))) {
            // SAFETY: still inside the job.
            unsafe { (*job.abort)() };
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a helper thread panicked".into());
            lock(&shared.panicked).get_or_insert(message);
        }
        shared.state.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Waits until a job newer than `seen` is published (or the workers shut
/// down): spinning for [`SPIN`], then asleep. Returns the newest epoch.
fn wait_for_job(shared: &Shared, seen: u64) -> u64 {
    let start = Instant::now();
    let backoff = Backoff::new();
    loop {
        let epoch = shared.epoch.load(Ordering::Acquire);
        if epoch != seen || shared.shutdown.load(Ordering::Acquire) {
            return epoch;
        }
        if start.elapsed() >= SPIN {
            break;
        }
        if backoff.is_completed() {
            std::hint::spin_loop();
        } else {
            backoff.spin();
        }
    }
    let mut guard = lock(&shared.lock);
    shared.sleeping.fetch_add(1, Ordering::SeqCst);
    loop {
        let epoch = shared.epoch.load(Ordering::SeqCst);
        if epoch != seen || shared.shutdown.load(Ordering::SeqCst) {
            shared.sleeping.fetch_sub(1, Ordering::SeqCst);
            return epoch;
        }
        guard = shared.wake.wait(guard).unwrap_or_else(|p| p.into_inner());
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn the_caller_alone_can_finish_a_job() {
        let workers = Workers::new(1, "test").unwrap();
        let count = AtomicU32::new(0);
        workers
            .run(
                &|_| {
                    count.fetch_add(1, Ordering::Relaxed);
                },
                &|| {},
            )
            .unwrap();
        assert_eq!(count.into_inner(), 1);
    }

    #[test]
    fn every_task_runs_once_whoever_joins() {
        let workers = Workers::new(4, "test").unwrap();
        for round in 0..300u32 {
            let tasks = 1 + (round % 50);
            let next = AtomicU32::new(0);
            let done: Vec<AtomicU32> = (0..tasks).map(|_| AtomicU32::new(0)).collect();
            let workers_seen = AtomicU32::new(0);
            let work = |worker: usize| {
                workers_seen.fetch_or(1 << worker, Ordering::Relaxed);
                loop {
                    let task = next.fetch_add(1, Ordering::Relaxed);
                    if task >= tasks {
                        break;
                    }
                    done[task as usize].fetch_add(1, Ordering::Relaxed);
                }
            };
            workers.run(&work, &|| {}).unwrap();
            assert!(done.iter().all(|d| d.load(Ordering::Relaxed) == 1), "round {round}");
            assert!(workers_seen.load(Ordering::Relaxed) & 1 == 1, "the caller always works");
            if round % 100 == 99 {
                std::thread::sleep(Duration::from_millis(2)); // let the helpers fall asleep
            }
        }
    }

    #[test]
    fn helpers_join_a_job_that_waits_for_them() {
        let workers = Workers::new(3, "test").unwrap();
        let joined = AtomicU32::new(0);
        // The caller waits until both helpers came: they must wake up.
        workers
            .run(
                &|worker| {
                    joined.fetch_or(1 << worker, Ordering::AcqRel);
                    if worker == 0 {
                        while joined.load(Ordering::Acquire) != 0b111 {
                            std::hint::spin_loop();
                        }
                    }
                },
                &|| {},
            )
            .unwrap();
    }

    #[test]
    fn a_helper_that_panics_aborts_the_job_and_is_reported() {
        let workers = Workers::new(2, "test").unwrap();
        let aborted = AtomicBool::new(false);
        let result = workers.run(
            &|worker| {
                if worker == 1 {
                    panic!("helper down");
                }
                // The caller waits for the abort: the helper must come and fail.
                while !aborted.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
            },
            &|| aborted.store(true, Ordering::Release),
        );
        assert_eq!(result, Err("helper down".to_string()));
        // The workers are still usable.
        workers.run(&|_| {}, &|| {}).unwrap();
    }
}
