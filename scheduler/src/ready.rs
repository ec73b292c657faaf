//! The ready-set behind barrier-free (DAG) execution.
//!
//! Each transaction holds a counter of predecessors not yet completed. A
//! worker takes a ready transaction, runs it, and completes it: every
//! successor whose counter drops to zero is released to that worker. The
//! worker keeps the highest-ranked release for itself, so a chain on one hot
//! key runs back to back on one warm thread, and shares the rest through its
//! own queue, from which idle workers steal.
//!
//! There is no global lock: counters are atomics, and each worker owns one
//! queue (mutex-guarded, touched by other workers only when stealing). A
//! queue is the worker's share of the roots, sorted once and read from a
//! cursor, beside a heap for what completions release: a block of
//! independent transactions costs one sort, not a heap operation per
//! transaction.
//!
//! Memory ordering: a counter is decremented with `AcqRel`, so whatever a
//! predecessor's worker wrote before [`ReadySet::complete`] happens-before
//! the released transaction starts on any thread.

use crate::access::{TxId, TxIndex};
use crate::graph::LockGraph;
use crate::priority::Priority;
use core::cmp::Reverse;
use crossbeam_utils::{Backoff, CachePadded};
use std::collections::BinaryHeap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

/// The longest run of consecutive transactions handed to one worker at a
/// time ([`dealt_run`]).
const MAX_RUN: usize = 16;

/// How many consecutive transactions of `count` still to share out one
/// worker of `workers` takes at a time: up to [`MAX_RUN`], fewer as the
/// count falls, one by one for the last 64 per worker. Handed one by one,
/// neighbouring transactions would run on different workers, and what each
/// leaves beside the other's (results, receipts, counters) would share
/// cache lines that move between the workers; handed in long runs at the
/// end, one worker would run alone while the others wait, and a small
/// block's best transactions would all go to one worker. The ready-set
/// deals its roots this way; an executor's waves can claim their
/// transactions this way.
pub fn dealt_run(count: usize, workers: usize) -> usize {
    (count / (workers.max(1) * MAX_RUN * 4)).clamp(1, MAX_RUN)
}

/// A ready transaction in a queue: highest rank first, then block order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Ready {
    rank: u64,
    tx: Reverse<TxIndex>,
}

/// One worker's queue: the roots dealt to it, best first, and a heap of
/// released transactions. Pops take the better of the two heads.
#[derive(Debug, Default)]
struct Queue {
    roots: Vec<Ready>,
    next_root: usize,
    released: BinaryHeap<Ready>,
}

impl Queue {
    fn pop(&mut self) -> Option<Ready> {
        match (self.roots.get(self.next_root), self.released.peek()) {
            (Some(root), Some(released)) if released > root => self.released.pop(),
            (Some(&root), _) => {
                self.next_root += 1;
                Some(root)
            }
            (None, _) => self.released.pop(),
        }
    }
}

/// Thread-safe tracker of which transactions may start. See the module docs.
#[derive(Debug)]
pub struct ReadySet<'g, Id> {
    graph: &'g LockGraph<Id>,
    ranks: Vec<u64>,
    pending: Vec<AtomicU32>,
    queues: Box<[CachePadded<Mutex<Queue>>]>,
    /// Transactions completed, counted per worker so that no two workers
    /// write one counter (a counter shared by every worker would move
    /// between their caches on every transaction).
    completed: Box<[CachePadded<AtomicUsize>]>,
    aborted: AtomicBool,
}

impl<'g, Id: TxId> ReadySet<'g, Id> {
    /// A ready-set over `graph` for `workers` workers, ranked by `priority`.
    /// The roots (transactions that wait for nothing) are dealt to the
    /// workers' queues in rank order, in runs ([`dealt_run`]).
    pub fn new(graph: &'g LockGraph<Id>, priority: &impl Priority, workers: usize) -> Self {
        let ranks = priority.ranks(graph);
        if !graph.is_empty() {
            graph.succs(0); // derive the successor lists now, not on a worker's first completion
        }
        let pending = (0..graph.len()).map(|tx| AtomicU32::new(graph.in_degree(tx as TxIndex) as u32)).collect();
        let mut roots: Vec<Ready> = (0..graph.len() as TxIndex)
            .filter(|&tx| graph.in_degree(tx) == 0)
            .map(|tx| Ready { rank: ranks[tx as usize], tx: Reverse(tx) })
            .collect();
        roots.sort_unstable_by(|a, b| b.cmp(a));
        let workers = workers.max(1);
        let mut queues: Vec<Queue> = (0..workers).map(|_| Queue::default()).collect();
        let run = dealt_run(roots.len(), workers);
        for (i, root) in roots.into_iter().enumerate() {
            // Dealt in rank order, so each worker's share stays sorted.
            queues[(i / run) % workers].roots.push(root);
        }
        Self {
            graph,
            ranks,
            pending,
            queues: queues.into_iter().map(|q| CachePadded::new(Mutex::new(q))).collect(),
            completed: (0..workers).map(|_| CachePadded::new(AtomicUsize::new(0))).collect(),
            aborted: AtomicBool::new(false),
        }
    }

    /// Number of worker queues.
    pub fn workers(&self) -> usize {
        self.queues.len()
    }

    /// Takes a ready transaction without waiting: from `worker`'s own queue
    /// first, then by stealing from the others.
    pub fn try_pop(&self, worker: usize) -> Option<TxIndex> {
        let n = self.queues.len();
        (0..n).find_map(|i| lock(&self.queues[(worker + i) % n]).pop().map(|r| r.tx.0))
    }

    /// Makes `tx` available to every worker, through `worker`'s queue.
    pub fn push(&self, worker: usize, tx: TxIndex) {
        let ready = Ready { rank: self.ranks[tx as usize], tx: Reverse(tx) };
        lock(&self.queues[worker % self.queues.len()]).released.push(ready);
    }

    /// Reports `tx` complete and appends the transactions it released (those
    /// whose last pending predecessor it was) to `released`. The caller runs
    /// them or [`push`](Self::push)es them. Completing a transaction twice is
    /// a caller bug that corrupts the counters. `worker` names the caller's
    /// counter of completions.
    pub fn complete(&self, worker: usize, tx: TxIndex, released: &mut Vec<TxIndex>) {
        for &s in self.graph.succs(tx) {
            if self.pending[s as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                released.push(s);
            }
        }
        self.completed[worker % self.completed.len()].fetch_add(1, Ordering::AcqRel);
    }

    /// Whether every transaction has completed. (Each counter only grows,
    /// so a sum that reaches the block's length is every counter's last.)
    pub fn is_finished(&self) -> bool {
        self.completed.iter().map(|c| c.load(Ordering::Acquire)).sum::<usize>() == self.graph.len()
    }

    /// Stops the block: every worker's [`Worker::next_ready`] answers `None` from now on.
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::Release);
    }

    /// Whether [`abort`](Self::abort) was called.
    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    /// The rank `tx` was given by the priority policy.
    pub fn rank(&self, tx: TxIndex) -> u64 {
        self.ranks[tx as usize]
    }

    /// A handle for worker number `index` (one per thread).
    pub fn worker(&self, index: usize) -> Worker<'_, 'g, Id> {
        Worker { set: self, index: index % self.queues.len(), local: None, released: Vec::new() }
    }
}

fn lock(queue: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    // A queue of plain integers is never left half-updated, so a poisoned
    // lock (a panicking peer) still guards a consistent queue.
    queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One thread's view of a [`ReadySet`]: `next`, run, `complete`, repeat.
#[derive(Debug)]
pub struct Worker<'s, 'g, Id> {
    set: &'s ReadySet<'g, Id>,
    index: usize,
    /// The best transaction this worker released itself: run next, unshared.
    local: Option<TxIndex>,
    released: Vec<TxIndex>,
}

impl<Id: TxId> Worker<'_, '_, Id> {
    /// The next transaction to run, waiting while others are still running;
    /// `None` once the block is finished or aborted.
    pub fn next_ready(&mut self) -> Option<TxIndex> {
        if let Some(tx) = self.local.take() {
            return Some(tx);
        }
        let backoff = Backoff::new();
        loop {
            if self.set.is_aborted() {
                return None;
            }
            if let Some(tx) = self.set.try_pop(self.index) {
                return Some(tx);
            }
            if self.set.is_finished() {
                return None;
            }
            backoff.snooze();
        }
    }

    /// The next transaction to run if one is ready now, without waiting.
    pub fn try_next_ready(&mut self) -> Option<TxIndex> {
        if self.set.is_aborted() {
            return None;
        }
        self.local.take().or_else(|| self.set.try_pop(self.index))
    }

    /// Shares the transaction this worker kept to run next, if any: the
    /// worker is about to do something else for a while.
    pub fn share_kept(&mut self) {
        if let Some(tx) = self.local.take() {
            self.set.push(self.index, tx);
        }
    }

    /// Reports `tx` complete. Of the transactions it released, this worker
    /// keeps the highest-ranked one to run next and shares the rest.
    pub fn complete(&mut self, tx: TxIndex) {
        self.released.clear();
        self.set.complete(self.index, tx, &mut self.released);
        let best = self.released.iter().copied().max_by_key(|&t| (self.set.rank(t), Reverse(t)));
        if let Some(best) = best {
            for &t in &self.released {
                if t != best {
                    self.set.push(self.index, t);
                }
            }
            if let Some(previous) = self.local.replace(best) {
                self.set.push(self.index, previous);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(rank: u64, tx: TxIndex) -> Ready {
        Ready { rank, tx: Reverse(tx) }
    }

    #[test]
    fn runs_shrink_to_one_as_the_count_falls_and_never_pass_the_most() {
        assert_eq!(dealt_run(0, 2), 1);
        assert_eq!(dealt_run(255, 2), 1);
        assert_eq!(dealt_run(256, 2), 2);
        assert_eq!(dealt_run(100_000, 2), MAX_RUN);
        assert_eq!(dealt_run(100_000, 0), MAX_RUN);
        assert_eq!(dealt_run(64 * 16, 16), 1);
    }

    #[test]
    fn a_queue_pops_the_better_of_its_next_root_and_its_best_release() {
        let mut queue =
            Queue { roots: vec![ready(9, 0), ready(5, 2), ready(1, 4)], next_root: 0, released: BinaryHeap::new() };
        queue.released.extend([ready(7, 6), ready(5, 1), ready(0, 8)]);
        let order: Vec<TxIndex> = std::iter::from_fn(|| queue.pop()).map(|r| r.tx.0).collect();
        // By rank, the earlier transaction first among equal ranks (1 before
        // the root 2); every root and release exactly once.
        assert_eq!(order, [0, 6, 1, 2, 4, 8]);
    }
}
