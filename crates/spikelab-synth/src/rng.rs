//! The random-number generator every generator uses.
//!
//! All generators draw from [`ChaCha8Rng`] (the ChaCha stream cipher with 8 rounds, from
//! `rand_chacha` 0.9), seeded with [`SeedableRng::seed_from_u64`]. ChaCha's output is defined
//! bit-for-bit by its specification and does not depend on the platform, the endianness or
//! the number of threads, so **for a given version of this crate a seed gives the same data on
//! every machine**. Independent parts of a generator (each neuron's background, the
//! occurrence schedule, the permutation, …) use separate ChaCha *streams* of the same seed
//! ([`stream`]), so that, e.g., adding a neuron does not change the others' spikes.

use rand::SeedableRng;
pub use rand_chacha::ChaCha8Rng;

/// Stream ids below this value are per-neuron streams; named streams sit above it.
pub(crate) const NAMED: u64 = 1 << 62;
/// Named stream: permutations and member choice.
pub(crate) const S_PERM: u64 = NAMED;
/// Named stream: per-neuron rates.
pub(crate) const S_RATES: u64 = NAMED + 1;
/// Named stream: occurrences of sequence type `k` use `S_OCC + k`.
pub(crate) const S_OCC: u64 = NAMED + 1024;
/// Named stream: noise (calcium) of neuron `j` uses `S_NOISE + j`.
pub(crate) const S_NOISE: u64 = NAMED + (1 << 40);
/// Named stream: drift (calcium) of neuron `j` uses `S_DRIFT + j`.
pub(crate) const S_DRIFT: u64 = NAMED + (1 << 41);
/// Named stream: extracellular recordings, per-seed draws (unit count, rates, SNRs).
pub(crate) const S_REC_DRAWS: u64 = NAMED + (1 << 42);
/// Named stream: extracellular recordings, unit locations.
pub(crate) const S_REC_LOC: u64 = S_REC_DRAWS + 1;
/// Named stream: extracellular recordings, template parameters.
pub(crate) const S_REC_TEMPLATES: u64 = S_REC_DRAWS + 2;
/// Named stream: extracellular recordings, per-spike amplitude factors.
pub(crate) const S_REC_JITTER: u64 = S_REC_DRAWS + 3;
/// Named stream: extracellular recordings, spikes of unit `u` use `S_REC_SPIKES + u`.
pub(crate) const S_REC_SPIKES: u64 = NAMED + (1 << 43);
/// Named stream: extracellular recordings, noise block `b` uses `S_REC_NOISE + b`.
pub(crate) const S_REC_NOISE: u64 = NAMED + (1 << 44);

/// The generator for stream `stream` of seed `seed`.
///
/// # Example
/// ```
/// use rand::Rng;
/// let a: u64 = spikelab_synth::rng::stream(7, 3).random();
/// let b: u64 = spikelab_synth::rng::stream(7, 3).random();
/// let c: u64 = spikelab_synth::rng::stream(7, 4).random();
/// assert_eq!(a, b);
/// assert_ne!(a, c);
/// ```
pub fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// NumPy's `round` (halves to even), used where the original rounds.
pub(crate) fn round_half_even(x: f64) -> f64 {
    x.round_ties_even()
}
