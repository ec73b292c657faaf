//! What a person reads to see why a block does or does not parallelise:
//! the waves, the critical path, the speedup bound, and the keys most
//! transactions contend on, named as contract and variable where the code
//! is one of ours.

use crate::contracts::{Artifact, address_slot, artifacts};
use crate::scheduler::{Limits, LockGraph, ScheduleError, ScheduleStats};
use crate::vm::{Address, State, StateKey, Transaction, U256};
use std::collections::HashMap;

/// A key many transactions touch, at least one of them writing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotSpot {
    /// The key.
    pub key: StateKey,
    /// `Contract@address.variable[key]` where known, else the raw key.
    pub label: String,
    /// Transactions declaring it.
    pub txs: usize,
    /// Of those, how many write it.
    pub writers: usize,
}

/// The schedule of one block.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleReport {
    /// Waves, critical path and costs (gas used if recorded, else gas limits).
    pub stats: ScheduleStats,
    /// The keys shared by the most transactions, most shared first.
    pub hot_spots: Vec<HotSpot>,
}

/// Schedules `txs` (with `costs` per transaction) and ranks the `top` hot spots.
pub fn report(
    state: &State,
    txs: &[Transaction],
    costs: &[u64],
    top: usize,
) -> Result<ScheduleReport, ScheduleError<u32>> {
    let sets: Vec<_> = txs.iter().map(Transaction::full_access).collect();
    let graph = LockGraph::from_access_sets(&sets, Limits::default())?;
    let stats = ScheduleStats::new(&graph, costs);
    let mut counts: HashMap<StateKey, (usize, usize)> = HashMap::new();
    for set in &sets {
        let mut seen: Vec<(StateKey, bool)> = set.writes().iter().map(|k| (*k, true)).collect();
        seen.extend(set.reads().iter().filter(|k| !set.writes_key(k)).map(|k| (*k, false)));
        seen.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        seen.dedup_by_key(|k| k.0);
        for (key, write) in seen {
            let entry = counts.entry(key).or_default();
            entry.0 += 1;
            entry.1 += usize::from(write);
        }
    }
    let mut hot: Vec<(StateKey, usize, usize)> =
        counts.into_iter().filter(|(_, (n, w))| *w > 0 && *n > 1).map(|(k, (n, w))| (k, n, w)).collect();
    hot.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    hot.truncate(top);
    let labeler = Labeler::new(state, txs);
    let hot_spots =
        hot.into_iter().map(|(key, txs, writers)| HotSpot { label: labeler.label(&key), key, txs, writers }).collect();
    Ok(ScheduleReport { stats, hot_spots })
}

/// Names keys after the compiled contracts whose code sits at their address.
struct Labeler {
    contracts: HashMap<Address, &'static Artifact>,
    /// Addresses that may key a mapping: every account and sender.
    known: Vec<Address>,
}

impl Labeler {
    fn new(state: &State, txs: &[Transaction]) -> Self {
        let artifacts = artifacts().unwrap_or_default();
        let contracts = state
            .accounts()
            .filter_map(|(address, account)| {
                let code = account.code.as_ref()?.original_bytes();
                artifacts.iter().find(|a| a.deployed_bytecode == code).map(|a| (*address, *a))
            })
            .collect();
        // Addresses in calldata words (12 zero bytes, then 20) key mappings too.
        let in_calldata = txs.iter().flat_map(|t| {
            t.input
                .get(4..)
                .unwrap_or_default()
                .chunks_exact(32)
                .filter(|w| w[..12] == [0; 12])
                .map(|w| Address::from_slice(&w[12..]))
        });
        let mut known: Vec<Address> =
            state.accounts().map(|(a, _)| *a).chain(txs.iter().map(|t| t.from)).chain(in_calldata).collect();
        known.sort_unstable();
        known.dedup();
        Self { contracts, known }
    }

    fn label(&self, key: &StateKey) -> String {
        let address = key.address();
        let Some(artifact) = self.contracts.get(&address) else { return key.to_string() };
        let contract = format!("{}@{address}", artifact.contract_name);
        let StateKey::Storage(_, slot) = key else { return format!("{contract} (account)") };
        let plain: Vec<&str> = artifact
            .storage_layout
            .iter()
            .filter(|v| !v.ty.starts_with("mapping") && v.slot.parse::<U256>().ok() == Some(*slot))
            .map(|v| v.label.as_str())
            .collect();
        if !plain.is_empty() {
            return format!("{contract}.{}", plain.join("/"));
        }
        for variable in artifact.storage_layout.iter().filter(|v| v.ty.starts_with("mapping")) {
            let Ok(base) = variable.slot.parse::<U256>() else { continue };
            for &a in &self.known {
                let start = address_slot(a, base);
                if let Some(offset) = slot.checked_sub(start).filter(|o| *o < U256::from(8)) {
                    let member = struct_member(artifact, &variable.ty, offset)
                        .map(|m| format!(".{m}"))
                        .unwrap_or_else(|| if offset.is_zero() { String::new() } else { format!("+{offset}") });
                    return format!("{contract}.{}[{a}]{member}", variable.label);
                }
            }
        }
        format!("{contract} slot {slot:#x}")
    }
}

/// The member at `offset` of the struct a mapping of type `ty` holds, if any.
fn struct_member<'a>(artifact: &'a Artifact, ty: &str, offset: U256) -> Option<&'a str> {
    let name = ty.split("=> ").last()?.trim_end_matches(')');
    let members = artifact.structs.get(name)?;
    members.iter().find(|m| m.slot.parse::<U256>().ok() == Some(offset)).map(|m| m.label.as_str())
}

/// The speedup bound of a block whose transactions, of `costs`, need not
/// wait for one another (executed from its block access list): on
/// `threads` threads, `min(threads, total / the largest)`, as the lock
/// graph's bound is `min(threads, total / critical path)`.
pub fn independent_bound(costs: &[u64], threads: usize) -> f64 {
    let total: u64 = costs.iter().sum();
    let largest = costs.iter().copied().max().unwrap_or(0);
    if largest == 0 { 1.0 } else { (total as f64 / largest as f64).min(threads.max(1) as f64) }
}
