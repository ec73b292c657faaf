//! # defivm-scheduler
//!
//! Turns the read and write sets that transactions declare up front into
//! conflict-free work. It knows nothing of the EVM: keys and transaction ids
//! are type parameters ([`ResourceKey`], [`TxId`]) with blanket impls.
//!
//! ## The model
//!
//! Two transactions **conflict** when one writes a key the other reads or
//! writes; block order decides who goes first. The [`LockGraph`] has an edge
//! `i -> j` when `i` is `j`'s nearest conflicting predecessor on some key: a
//! read depends on the key's last writer, a write on every reader since the
//! last write or else on the last writer. Every other conflict is implied
//! through those edges, so there are O(declared keys) of them, and building
//! the graph is linear: [`LockGraphBuilder`] partitions the accesses by key
//! hash so each partition's lock table stays in cache, runs the partitions on
//! the rayon pool, then groups the edges by waiter.
//!
//! An executor whose keys are already small integers builds the same graph
//! with [`DenseBuilder`]: an array for the lock table, one pass in block
//! order, no hashing and no thread pool.
//!
//! From the graph come:
//! - [`Waves`], its levels: `wave(j) = 1 + max(wave(p))` over `j`'s
//!   predecessors. Nothing inside a wave conflicts; waves run in order.
//! - [`ReadySet`], for barrier-free execution: a transaction becomes ready the
//!   moment its last predecessor completes; workers take the highest-ranked
//!   ready transaction ([`Priority`], by default [`LongestRemainingPath`]).
//! - [`ScheduleStats`]: waves, critical path, and the speedup bound
//!   `min(threads, T1 / Tcp)` that no executor can beat.
//!
//! ```
//! use defivm_scheduler::{AccessSet, Limits, LockGraph};
//!
//! // 0 writes A; 1 reads A; 2 reads B; 3 writes A and B.
//! //   0 -> 1 -> 3 <- 2
//! let sets = [
//!     AccessSet::new(vec![], vec!['A']),
//!     AccessSet::new(vec!['A'], vec![]),
//!     AccessSet::new(vec!['B'], vec![]),
//!     AccessSet::new(vec![], vec!['A', 'B']),
//! ];
//! let graph = LockGraph::from_access_sets(&sets, Limits::default())?;
//! let waves: Vec<&[u32]> = graph.waves().iter().collect();
//! assert_eq!(waves, [&[0, 2][..], &[1], &[3]]);
//! # Ok::<(), defivm_scheduler::ScheduleError<u32>>(())
//! ```
//!
//! Files: `access.rs` (keys, ids, [`AccessSet`]), `lock_table.rs` (the
//! per-key lock rules), `builder.rs` ([`LockGraphBuilder`]: record,
//! partition, lock, group), `dense.rs` ([`DenseBuilder`]), `graph.rs` ([`LockGraph`]), `waves.rs`,
//! `priority.rs`, `ready.rs` ([`ReadySet`]), `stats.rs`, `error.rs`, and
//! `synthetic.rs` (benchmark blocks, feature `synthetic`).

mod access;
mod builder;
mod dense;
mod error;
mod graph;
mod lock_table;
mod priority;
mod ready;
mod stats;
#[cfg(feature = "synthetic")]
pub mod synthetic;
mod waves;

pub use access::{AccessSet, Declaration, ResourceKey, TxId, TxIndex};
pub use builder::LockGraphBuilder;
pub use dense::DenseBuilder;
pub use error::ScheduleError;
pub use graph::{Limits, LockGraph};
pub use priority::{BlockOrder, LongestRemainingPath, Priority};
pub use ready::{ReadySet, Worker, dealt_run};
pub use stats::ScheduleStats;
pub use waves::Waves;
