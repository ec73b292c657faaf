//! Synthetic blocks of declared access with a chosen conflict shape, for the
//! scheduler's benchmarks and tests (feature `synthetic`).

use crate::access::AccessSet;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};

/// How the keys of a synthetic block collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Every transaction has keys of its own: one wave.
    NoConflict,
    /// Every transaction writes one shared key: a single chain.
    OneKey,
    /// Keys drawn uniformly from as many keys as there are transactions.
    Random,
    /// Keys drawn Zipf-distributed (exponent 1) from as many keys as there
    /// are transactions: a few very hot keys and a long tail, like the
    /// tokens and pools of a real DeFi block.
    Zipf,
}

impl Shape {
    /// Every shape, for sweeps.
    pub const ALL: [Shape; 4] = [Shape::NoConflict, Shape::OneKey, Shape::Random, Shape::Zipf];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Shape::NoConflict => "no_conflict",
            Shape::OneKey => "one_key",
            Shape::Random => "random",
            Shape::Zipf => "zipf",
        }
    }
}

/// A block of `txs` access sets of `keys_per_tx` keys each: the first half of
/// each set's keys are reads, the rest writes. Same arguments, same block.
pub fn block(shape: Shape, txs: usize, keys_per_tx: usize, seed: u64) -> Vec<AccessSet<u64>> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let universe = txs.max(1) as u64;
    let zipf = Zipf::new(universe as f64, 1.0).expect("a universe of at least one key and exponent 1 are valid");
    let reads = keys_per_tx / 2;
    (0..txs as u64)
        .map(|i| {
            let mut keys = (0..keys_per_tx as u64).map(|k| match shape {
                Shape::NoConflict => i * keys_per_tx as u64 + k,
                Shape::OneKey if k + 1 == keys_per_tx as u64 => u64::MAX,
                Shape::OneKey => i * keys_per_tx as u64 + k,
                Shape::Random => rng.random_range(0..universe),
                // Zipf draws ranks in 1..=universe.
                Shape::Zipf => zipf.sample(&mut rng) as u64 - 1,
            });
            let read: Vec<u64> = keys.by_ref().take(reads).collect();
            AccessSet::new(read, keys.collect())
        })
        .collect()
}
