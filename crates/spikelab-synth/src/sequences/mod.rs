//! Spike sequences embedded in a background raster (the convSeq generator and extensions).
//!
//! Two modes:
//!
//! * **Parity mode** ([`ParityParams`]): the recipe of the original convSeq generator
//!   (Koshkin & Fukai 2024, `demo/make_dataset.py`) applied to a given
//!   binary background raster such as the bundled CA1 raster. Not RNG-exact with NumPy, but the
//!   same algorithm, quirks included (see [`ParityParams::generate`]).
//! * **Clean mode** ([`SequenceParams`]): a Poisson or gamma background with heterogeneous
//!   per-neuron rates (log-normal by default, matched to the CA1 raster), any number of
//!   sequence types with their own members, lags, jitter, drop probability, time warping and
//!   occurrence schedule (regular, or Poisson so that occurrences overlap). Spikes are
//!   inserted with probability `1 − p_drop` and nothing is deleted. Generation streams in time
//!   chunks ([`SequenceParams::stream`]), so memory grows with the number of spikes, not with
//!   `neurons × bins`.
//!
//! Both modes return a [`SparseRaster`](spikelab_data::SparseRaster) (**axis order `[neuron, bin]`**) and a
//! [`SequenceTruth`].

use serde::{Deserialize, Serialize};

mod clean;
mod parity;
mod stream;

pub use clean::{Background, Occurrences, RateModel, SequenceParams, SequenceType};
pub use parity::ParityParams;
pub use stream::{SequenceChunk, SequenceStream};

/// Which generator produced a [`SequenceTruth`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SequenceMode {
    /// The original convSeq recipe on a given background ([`ParityParams`]).
    Parity,
    /// Generated background, insertion without deletion ([`SequenceParams`]).
    Clean,
}

/// Ground truth of one sequence type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeTruth {
    /// Raster rows of the members **in sequence order** (member `i` fires at
    /// `offsets_bins[i]` bins after the onset).
    pub members: Vec<usize>,
    /// Nominal lag of each member after the onset, in bins (before warping and jitter).
    pub offsets_bins: Vec<f64>,
    /// Jitter standard deviation in bins.
    pub jitter_std_bins: f64,
    /// Drop probability of each member spike.
    pub p_drop: f64,
}

/// One occurrence of a sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Occurrence {
    /// Index into [`SequenceTruth::types`].
    pub type_index: usize,
    /// Onset bin (member 0's nominal time).
    pub onset_bin: i64,
    /// The original's centre: `round((onset + jittered bin of the last member) / 2)`, with
    /// NumPy's half-to-even rounding.
    pub centre_bin: i64,
    /// Time-warp factor applied to the offsets (1 = unwarped).
    pub warp: f64,
    /// Number of member spikes actually written into the raster.
    pub n_inserted: usize,
}

/// Ground truth of an embedded-sequence raster. Serialisable (serde).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceTruth {
    /// The seed.
    pub seed: u64,
    /// Which generator.
    pub mode: SequenceMode,
    /// The final row permutation: output row `r` holds the row `permutation[r]` of the
    /// unpermuted raster (in which members of type 0 are rows `0..n₀`, then type 1, …).
    pub permutation: Vec<usize>,
    /// Parity mode: the background row each output row's spikes came from. `None` in clean mode.
    pub source_rows: Option<Vec<usize>>,
    /// Per sequence type.
    pub types: Vec<TypeTruth>,
    /// All occurrences, sorted by onset.
    pub occurrences: Vec<Occurrence>,
    /// Background rate of each output row, spikes per bin (clean mode: the Poisson/gamma
    /// intensity; parity mode: the input row's spike count / bins).
    pub background_rate_per_bin: Vec<f64>,
    /// Parity mode: number of background spikes deleted by the insertion rule.
    pub n_deleted: usize,
}

impl SequenceTruth {
    /// Occurrence centres of type `type_index` (bins), in time order.
    pub fn centres(&self, type_index: usize) -> Vec<i64> {
        self.occurrences
            .iter()
            .filter(|o| o.type_index == type_index)
            .map(|o| o.centre_bin)
            .collect()
    }
    /// Occurrence onsets of type `type_index` (bins), in time order.
    pub fn onsets(&self, type_index: usize) -> Vec<i64> {
        self.occurrences
            .iter()
            .filter(|o| o.type_index == type_index)
            .map(|o| o.onset_bin)
            .collect()
    }
    /// Sequence-type label of every output row: `Some(type)` for members, `None` otherwise.
    pub fn row_labels(&self) -> Vec<Option<usize>> {
        let mut lab = vec![None; self.permutation.len()];
        for (t, ty) in self.types.iter().enumerate() {
            for &m in &ty.members {
                lab[m] = Some(t);
            }
        }
        lab
    }
}
