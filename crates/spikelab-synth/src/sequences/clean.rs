//! Clean mode: Poisson or gamma background, any number of sequence types.

use serde::{Deserialize, Serialize};
use spikelab_data::SparseRaster;

use super::SequenceTruth;
use crate::error::{Result, non_negative, param, positive, probability};

/// Background spike process of each neuron in clean mode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Background {
    /// Poisson process (exponential intervals).
    Poisson,
    /// Gamma renewal process of the given shape (intervals of mean `1/rate`).
    Gamma {
        /// Shape `k` (> 0; `k > 1` is more regular than Poisson).
        shape: f64,
    },
}

/// How per-neuron background rates are drawn (spikes per bin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RateModel {
    /// Log-normal rates with the given **mean** (per bin) and standard deviation of `ln rate`.
    /// [`RateModel::ca1`] matches the bundled CA1 raster.
    LogNormal {
        /// Mean rate across neurons, spikes per bin.
        mean_per_bin: f64,
        /// Standard deviation of the log-rate.
        sigma: f64,
    },
    /// The same rate for every neuron, spikes per bin.
    Constant {
        /// Rate, spikes per bin.
        per_bin: f64,
    },
    /// Explicit rates per (unpermuted) row, spikes per bin: members of type 0 first, then type
    /// 1, …, then the non-members.
    PerNeuron(Vec<f64>),
}

impl RateModel {
    /// Log-normal rates matched to the CA1 raster of Rubin et al. shipped with convSeq
    /// (452 × 18 137 bins, 16 982 events): mean 0.0021 spikes per 50-ms bin, standard
    /// deviation of the log-rate 0.745 (measured on the bundled file).
    pub fn ca1() -> Self {
        RateModel::LogNormal {
            mean_per_bin: 0.0021,
            sigma: 0.745,
        }
    }
}

/// When the occurrences of a sequence type start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Occurrences {
    /// Onsets `first_onset_bin, first + gap, …` while `onset < T − gap` (the original's rule).
    /// `gap_bins` must be ≥ the span of the sequence (otherwise occurrences of the same type
    /// would overlap; that is an error).
    Regular {
        /// Onset spacing in bins.
        gap_bins: u64,
        /// First onset.
        first_onset_bin: u64,
    },
    /// Onsets form a Poisson process with the given mean spacing (bins); occurrences may
    /// overlap each other and those of other types. Onsets are kept while the whole
    /// (nominal, maximally warped) sequence fits before the end.
    Poisson {
        /// Mean spacing of onsets in bins.
        mean_gap_bins: f64,
    },
}

/// One sequence type of a clean-mode raster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceType {
    /// Number of member neurons.
    pub n_members: usize,
    /// Lag between consecutive members in bins (member `i` at `i·lag_bins`); ignored when
    /// `offsets_bins` is set.
    pub lag_bins: f64,
    /// Explicit per-member offsets after the onset, in bins (any order, ≥ 0).
    pub offsets_bins: Option<Vec<f64>>,
    /// Jitter standard deviation in bins.
    pub jitter_std_bins: f64,
    /// Probability that a member spike is dropped in an occurrence.
    pub p_drop: f64,
    /// Time-warp factors are drawn uniformly from `[warp_min, warp_max]` per occurrence and
    /// multiply the offsets (`(1, 1)`: no warping).
    pub warp_range: (f64, f64),
    /// Occurrence schedule.
    pub occurrences: Occurrences,
}

impl Default for SequenceType {
    /// The convSeq README sequence: 120 members, 1-bin lags, jitter 10 bins, `p_drop` 0.1,
    /// one occurrence every 400 bins from bin 0.
    fn default() -> Self {
        SequenceType {
            n_members: 120,
            lag_bins: 1.0,
            offsets_bins: None,
            jitter_std_bins: 10.0,
            p_drop: 0.1,
            warp_range: (1.0, 1.0),
            occurrences: Occurrences::Regular {
                gap_bins: 400,
                first_onset_bin: 0,
            },
        }
    }
}

impl SequenceType {
    /// Nominal offsets of the members (bins).
    pub fn offsets(&self) -> Vec<f64> {
        match &self.offsets_bins {
            Some(o) => o.clone(),
            None => (0..self.n_members)
                .map(|i| i as f64 * self.lag_bins)
                .collect(),
        }
    }
    /// Largest offset times the largest warp factor (bins).
    pub fn span_bins(&self) -> f64 {
        self.offsets().iter().cloned().fold(0.0, f64::max) * self.warp_range.1
    }

    fn validate(&self) -> Result<()> {
        if self.n_members == 0 {
            return Err(param("n_members", "a sequence needs at least one member"));
        }
        probability("p_drop", self.p_drop)?;
        non_negative("jitter_std_bins", self.jitter_std_bins)?;
        match &self.offsets_bins {
            Some(o) => {
                if o.len() != self.n_members {
                    return Err(param(
                        "offsets_bins",
                        format!("{} offsets for {} members", o.len(), self.n_members),
                    ));
                }
                for &x in o {
                    non_negative("offsets_bins", x)?;
                }
            }
            None => positive("lag_bins", self.lag_bins)?,
        }
        let (lo, hi) = self.warp_range;
        positive("warp_range.0", lo)?;
        positive("warp_range.1", hi)?;
        if lo > hi {
            return Err(param("warp_range", format!("min {lo} > max {hi}")));
        }
        match self.occurrences {
            Occurrences::Regular { gap_bins, .. } => {
                let span = self.span_bins();
                if (gap_bins as f64) < span || gap_bins == 0 {
                    return Err(param(
                        "gap_bins",
                        format!(
                            "gap {gap_bins} bins is shorter than the sequence span {span} bins; use Occurrences::Poisson for overlapping occurrences"
                        ),
                    ));
                }
            }
            Occurrences::Poisson { mean_gap_bins } => positive("mean_gap_bins", mean_gap_bins)?,
        }
        Ok(())
    }
}

/// Clean-mode parameters: generated background plus embedded sequences.
///
/// [`SequenceParams::default`] reproduces the size and statistics of the convSeq README
/// dataset (452 neurons × 18 137 bins of 50 ms, CA1-matched log-normal rates, one sequence
/// type of 120 members every 400 bins) with a Poisson background.
///
/// # Example
/// ```
/// use spikelab_synth::{SequenceParams, SequenceType, Occurrences};
/// let mut p = SequenceParams { n_neurons: 200, n_bins: 20_000, ..SequenceParams::default() };
/// // Two types: the default one and a time-warped one with 2-bin lags whose occurrences
/// // come at random times (and may overlap the first type's).
/// p.types[0].n_members = 50;
/// p.types.push(SequenceType {
///     n_members: 30,
///     lag_bins: 2.0,
///     warp_range: (0.8, 1.25),
///     occurrences: Occurrences::Poisson { mean_gap_bins: 500.0 },
///     ..SequenceType::default()
/// });
/// let (raster, truth) = p.generate(7)?;
/// assert_eq!(raster.n_neurons(), 200);
/// assert_eq!(truth.types[1].members.len(), 30);
/// assert_eq!(truth.centres(0).len(), 49); // onsets 0, 400, …, 19 200
/// // Same seed, same data.
/// assert_eq!(p.generate(7)?.0, raster);
/// # Ok::<(), spikelab_synth::SynthError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceParams {
    /// Number of neurons (rows).
    pub n_neurons: usize,
    /// Number of bins.
    pub n_bins: u64,
    /// Bin width in seconds.
    pub bin_s: f64,
    /// Background rates.
    pub rates: RateModel,
    /// Background process.
    pub background: Background,
    /// Cap counts at 1 (a binary raster, as convSeq expects). The probability of a background
    /// spike in a bin is then `1 − e^{−rate}` ≈ rate.
    pub binary: bool,
    /// The sequence types (members of different types are different neurons).
    pub types: Vec<SequenceType>,
    /// Bins generated per chunk by [`SequenceParams::stream`].
    pub chunk_bins: u64,
}

impl Default for SequenceParams {
    fn default() -> Self {
        SequenceParams {
            n_neurons: 452,
            n_bins: 18_137,
            bin_s: 0.05,
            rates: RateModel::ca1(),
            background: Background::Poisson,
            binary: true,
            types: vec![SequenceType::default()],
            chunk_bins: 1 << 16,
        }
    }
}

impl SequenceParams {
    /// Checks every parameter; [`SequenceParams::generate`] and [`SequenceParams::stream`]
    /// call it.
    pub fn validate(&self) -> Result<()> {
        if self.n_neurons == 0 {
            return Err(param("n_neurons", "must be ≥ 1"));
        }
        if self.n_bins == 0 {
            return Err(param("n_bins", "must be ≥ 1"));
        }
        if self.chunk_bins == 0 {
            return Err(param("chunk_bins", "must be ≥ 1"));
        }
        positive("bin_s", self.bin_s)?;
        if let Background::Gamma { shape } = self.background {
            positive("background shape", shape)?;
        }
        match &self.rates {
            RateModel::LogNormal {
                mean_per_bin,
                sigma,
            } => {
                positive("mean_per_bin", *mean_per_bin)?;
                non_negative("sigma", *sigma)?;
            }
            RateModel::Constant { per_bin } => positive("per_bin", *per_bin)?,
            RateModel::PerNeuron(r) => {
                if r.len() != self.n_neurons {
                    return Err(param(
                        "rates",
                        format!("{} rates for {} neurons", r.len(), self.n_neurons),
                    ));
                }
                for &x in r {
                    positive("rates", x)?;
                }
            }
        }
        let members: usize = self.types.iter().map(|t| t.n_members).sum();
        if members > self.n_neurons {
            return Err(param(
                "n_members",
                format!(
                    "{members} sequence members in all, but only {} neurons",
                    self.n_neurons
                ),
            ));
        }
        for t in &self.types {
            t.validate()?;
        }
        Ok(())
    }

    /// Generates the whole raster (bins `0..n_bins`) and its ground truth.
    pub fn generate(&self, seed: u64) -> Result<(SparseRaster, SequenceTruth)> {
        let (mut stream, truth) = self.stream(seed)?;
        let mut rows: Vec<Vec<(u64, u32)>> = vec![Vec::new(); self.n_neurons];
        while let Some((_, _, chunk)) = stream.next_rows() {
            for (r, c) in rows.iter_mut().zip(chunk) {
                r.extend(c);
            }
        }
        let raster = SparseRaster::from_rows(rows, self.n_bins, self.bin_s)?;
        Ok((raster, truth))
    }
}
