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
//! Both modes return a [`SparseRaster`] (**axis order `[neuron, bin]`**) and a
//! [`SequenceTruth`].

use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, Exp1, StandardNormal};
use serde::{Deserialize, Serialize};
use spikelab_data::{BinnedRaster, SparseRaster};

use crate::error::{Result, SynthError, non_negative, param, positive, probability};
use crate::poisson::UnitInterval;
use crate::rng::{self, ChaCha8Rng, round_half_even};

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

// ----------------------------------------------------------------------------------------
// Parity mode
// ----------------------------------------------------------------------------------------

/// Parameters of the original convSeq generator. The defaults are the README's
/// (`--seqlen 120 --p_drop 0.1 --gap_ts 400 --jitter_std 10`).
///
/// # Example
/// ```
/// use ndarray::Array2;
/// use spikelab_data::BinnedRaster;
/// use spikelab_synth::{ParityParams, PoissonParams};
/// // A small binary background: 60 neurons × 3000 bins at ~5 % occupancy.
/// let bg = PoissonParams::constant(vec![1.0; 60], 150.0).generate(0)?.0.bin(0.05)?.binarized();
/// let p = ParityParams { seqlen: 20, gap_bins: 200, ..ParityParams::default() };
/// let (raster, truth) = p.generate(&bg, 42)?;
/// assert_eq!(raster.n_neurons(), 60);
/// assert_eq!(truth.types[0].members.len(), 20);
/// assert_eq!(truth.occurrences.len(), 14); // onsets 0, 200, …, 2600 (< 3000 − 200)
/// # Ok::<(), spikelab_synth::SynthError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParityParams {
    /// Number of sequence members (rows `0..seqlen` after the first permutation).
    pub seqlen: usize,
    /// Probability that a member's spike is skipped in one occurrence.
    pub p_drop: f64,
    /// Onset spacing in bins; must be ≥ the sequence span `(seqlen − 1)·lag_bins`.
    pub gap_bins: u64,
    /// Spike-time jitter standard deviation in bins.
    pub jitter_std_bins: f64,
    /// Lag between consecutive members in bins (the original: 1).
    pub lag_bins: u64,
}

impl Default for ParityParams {
    fn default() -> Self {
        ParityParams {
            seqlen: 120,
            p_drop: 0.1,
            gap_bins: 400,
            jitter_std_bins: 10.0,
            lag_bins: 1,
        }
    }
}

impl ParityParams {
    /// Checks the parameters against a background of `n_neurons × n_bins`.
    pub fn validate(&self, n_neurons: usize, n_bins: usize) -> Result<()> {
        probability("p_drop", self.p_drop)?;
        non_negative("jitter_std_bins", self.jitter_std_bins)?;
        if self.seqlen == 0 || self.seqlen > n_neurons {
            return Err(param(
                "seqlen",
                format!(
                    "must be in 1..={n_neurons} (the number of neurons), got {}",
                    self.seqlen
                ),
            ));
        }
        if self.lag_bins == 0 {
            return Err(param("lag_bins", "must be ≥ 1"));
        }
        let span = (self.seqlen as u64 - 1) * self.lag_bins;
        if self.gap_bins < span.max(1) {
            return Err(param(
                "gap_bins",
                format!(
                    "gap {} bins is shorter than the sequence span {span} bins: occurrences would overlap",
                    self.gap_bins
                ),
            ));
        }
        if (n_bins as u64) <= self.gap_bins {
            return Err(param(
                "gap_bins",
                format!(
                    "no occurrence fits: the original places onsets at 0, gap, … while onset < T − gap, with T = {n_bins}"
                ),
            ));
        }
        Ok(())
    }

    /// Runs the original recipe on `background` (**axis order `[neuron, bin]`**; counts > 0
    /// are treated as 1, as the original raster is binary):
    ///
    /// 1. each row's inter-spike intervals, the first measured from bin 0, are shuffled and
    ///    the spikes re-placed at their cumulative sums (spike count and last spike kept; a
    ///    zero first interval can merge two spikes, as in the original);
    /// 2. the rows are permuted at random; rows `0..seqlen` become the members;
    /// 3. for each onset `st = 0, gap, 2·gap, …` while `st < T − gap`, member `i` is placed at
    ///    `j = st + i·lag + round(N(0,1)·jitter)`; a negative `j` wraps to `T + j` (NumPy
    ///    negative indexing, a quirk of the original). If `j < T`, the spike is kept with
    ///    probability `1 − p_drop`, and written **only if** some non-member row spikes in bin
    ///    `j`; then the spike of the lowest-index such row is deleted (the population count
    ///    per bin is conserved);
    /// 4. the centre is `round((st + j_last)/2)` with `j_last` the last member's jittered bin;
    /// 5. the rows are permuted again ([`SequenceTruth::permutation`]).
    ///
    /// Errors: [`SynthError::EmptyBackground`] for a raster with no neurons, bins or spikes;
    /// [`SynthError::InvalidParameter`] for bad parameters (see [`ParityParams::validate`]).
    pub fn generate(
        &self,
        background: &BinnedRaster,
        seed: u64,
    ) -> Result<(SparseRaster, SequenceTruth)> {
        let (n, t) = background.counts().dim();
        if n == 0 || t == 0 {
            return Err(SynthError::EmptyBackground {
                reason: format!("{n} neurons × {t} bins"),
            });
        }
        if background.total_spikes() == 0 {
            return Err(SynthError::EmptyBackground {
                reason: "no spikes".into(),
            });
        }
        if (n as u128) * (t as u128) > (1u128 << 32) {
            return Err(param(
                "background",
                format!(
                    "parity mode works on a dense {n} × {t} raster, which is too large; use SequenceParams"
                ),
            ));
        }
        self.validate(n, t)?;
        let counts = background.counts();
        // 1. Interval shuffle per row.
        let mut shuffled: Vec<Vec<usize>> = Vec::with_capacity(n);
        let mut rates = Vec::with_capacity(n);
        for (row_i, row) in counts.rows().into_iter().enumerate() {
            let spikes: Vec<usize> = row
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(b, _)| b)
                .collect();
            rates.push(spikes.len() as f64 / t as f64);
            let mut d: Vec<usize> = Vec::with_capacity(spikes.len());
            let mut prev = 0usize;
            for &s in &spikes {
                d.push(s - prev);
                prev = s;
            }
            let mut g = rng::stream(seed, row_i as u64);
            d.shuffle(&mut g);
            let mut pos = Vec::with_capacity(d.len());
            let mut acc = 0usize;
            for x in d {
                acc += x;
                if pos.last() != Some(&acc) {
                    pos.push(acc);
                }
            }
            shuffled.push(pos);
        }
        // 2. Row permutation.
        let mut gp = rng::stream(seed, rng::S_PERM);
        let mut perm1: Vec<usize> = (0..n).collect();
        perm1.shuffle(&mut gp);
        let mut x = vec![0u8; n * t];
        for (r, &src) in perm1.iter().enumerate() {
            for &b in &shuffled[src] {
                x[r * t + b] = 1;
            }
        }
        // 3-4. Embedding.
        let mut go = rng::stream(seed, rng::S_OCC);
        let mut occurrences = Vec::new();
        let mut n_deleted = 0usize;
        let seqlen = self.seqlen;
        let mut st = 0u64;
        while st < t as u64 - self.gap_bins {
            let mut n_inserted = 0usize;
            let mut j_last = 0i64;
            for i in 0..seqlen {
                let z: f64 = StandardNormal.sample(&mut go);
                let mut j = st as i64
                    + (i as u64 * self.lag_bins) as i64
                    + round_half_even(z * self.jitter_std_bins) as i64;
                if i + 1 == seqlen {
                    j_last = j;
                }
                if j < 0 {
                    j += t as i64; // NumPy negative indexing.
                }
                if j < 0 || j >= t as i64 {
                    continue;
                }
                let keep = go.random::<f64>() >= self.p_drop;
                if !keep {
                    continue;
                }
                let j = j as usize;
                if let Some(k) = (seqlen..n).find(|&k| x[k * t + j] != 0) {
                    x[i * t + j] = 1;
                    x[k * t + j] = 0;
                    n_deleted += 1;
                    n_inserted += 1;
                }
            }
            let centre = round_half_even((st as i64 + j_last) as f64 / 2.0) as i64;
            occurrences.push(Occurrence {
                type_index: 0,
                onset_bin: st as i64,
                centre_bin: centre,
                warp: 1.0,
                n_inserted,
            });
            st += self.gap_bins;
        }
        // 5. Final permutation.
        let mut perm2: Vec<usize> = (0..n).collect();
        perm2.shuffle(&mut gp);
        let mut inv = vec![0usize; n];
        for (r, &c) in perm2.iter().enumerate() {
            inv[c] = r;
        }
        let rows: Vec<Vec<(u64, u32)>> = perm2
            .iter()
            .map(|&c| {
                x[c * t..(c + 1) * t]
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v != 0)
                    .map(|(b, _)| (b as u64, 1u32))
                    .collect()
            })
            .collect();
        let raster = SparseRaster::from_rows(rows, t as u64, background.bin_s())?;
        let truth = SequenceTruth {
            seed,
            mode: SequenceMode::Parity,
            source_rows: Some(perm2.iter().map(|&c| perm1[c]).collect()),
            background_rate_per_bin: perm2.iter().map(|&c| rates[perm1[c]]).collect(),
            permutation: perm2,
            types: vec![TypeTruth {
                members: (0..seqlen).map(|i| inv[i]).collect(),
                offsets_bins: (0..seqlen)
                    .map(|i| (i as u64 * self.lag_bins) as f64)
                    .collect(),
                jitter_std_bins: self.jitter_std_bins,
                p_drop: self.p_drop,
            }],
            occurrences,
            n_deleted,
        };
        Ok((raster, truth))
    }
}

// ----------------------------------------------------------------------------------------
// Clean mode
// ----------------------------------------------------------------------------------------

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

/// Per-neuron `(bin, count)` lists.
type Rows = Vec<Vec<(u64, u32)>>;

/// One time chunk of a streamed clean-mode raster.
#[derive(Debug, Clone)]
pub struct SequenceChunk {
    /// First bin of the chunk in the whole raster.
    pub start_bin: u64,
    /// The chunk, `[neuron, bin − start_bin]`.
    pub raster: SparseRaster,
}

/// Iterator over the chunks of a clean-mode raster (see [`SequenceParams::stream`]).
pub struct SequenceStream {
    n_bins: u64,
    chunk: u64,
    next_start: u64,
    bin_s: f64,
    binary: bool,
    perm: Vec<usize>,
    rates: Vec<f64>,
    unit: UnitInterval,
    next_spike: Vec<f64>,
    rngs: Vec<ChaCha8Rng>,
    /// `(bin, unpermuted row)`, sorted by bin.
    insertions: Vec<(u64, u32)>,
    ins_pos: usize,
    bucket: Vec<Vec<u64>>,
}

impl std::fmt::Debug for SequenceStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SequenceStream")
            .field("n_bins", &self.n_bins)
            .field("chunk", &self.chunk)
            .field("next_start", &self.next_start)
            .finish_non_exhaustive()
    }
}

impl SequenceStream {
    /// Absolute-bin rows of the next chunk, or `None` at the end.
    fn next_rows(&mut self) -> Option<(u64, u64, Rows)> {
        if self.next_start >= self.n_bins {
            return None;
        }
        let c0 = self.next_start;
        let c1 = (c0 + self.chunk).min(self.n_bins);
        self.next_start = c1;
        for b in &mut self.bucket {
            b.clear();
        }
        while self.ins_pos < self.insertions.len() && self.insertions[self.ins_pos].0 < c1 {
            let (b, row) = self.insertions[self.ins_pos];
            self.bucket[row as usize].push(b);
            self.ins_pos += 1;
        }
        let c1f = c1 as f64;
        let mut rows = Vec::with_capacity(self.perm.len());
        let mut tmp: Vec<u64> = Vec::new();
        for &c in &self.perm {
            tmp.clear();
            let inv_rate = 1.0 / self.rates[c];
            let g = &mut self.rngs[c];
            let mut s = self.next_spike[c];
            while s < c1f {
                tmp.push(s as u64);
                s += self.unit.sample(g) * inv_rate;
            }
            self.next_spike[c] = s;
            let ins = &self.bucket[c];
            if !ins.is_empty() {
                tmp.extend_from_slice(ins);
                tmp.sort_unstable();
            }
            let mut row: Vec<(u64, u32)> = Vec::with_capacity(tmp.len());
            for &b in &tmp {
                match row.last_mut() {
                    Some((lb, cnt)) if *lb == b => {
                        if !self.binary {
                            *cnt += 1
                        }
                    }
                    _ => row.push((b, 1)),
                }
            }
            rows.push(row);
        }
        Some((c0, c1, rows))
    }
}

impl Iterator for SequenceStream {
    type Item = Result<SequenceChunk>;
    fn next(&mut self) -> Option<Self::Item> {
        let (c0, c1, rows) = self.next_rows()?;
        let rows = rows
            .into_iter()
            .map(|r| r.into_iter().map(|(b, c)| (b - c0, c)).collect())
            .collect();
        Some(
            SparseRaster::from_rows(rows, c1 - c0, self.bin_s)
                .map(|raster| SequenceChunk {
                    start_bin: c0,
                    raster,
                })
                .map_err(SynthError::from),
        )
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

    /// Sets up chunked generation: returns the chunk iterator and the ground truth (which is
    /// decided before any background spike is drawn). Concatenating the chunks gives exactly
    /// the raster of [`SequenceParams::generate`]. Memory: the per-neuron generator states,
    /// the inserted spikes and one chunk.
    ///
    /// # Example
    /// ```
    /// use spikelab_synth::SequenceParams;
    /// let p = SequenceParams { n_bins: 50_000, chunk_bins: 10_000, ..SequenceParams::default() };
    /// let (stream, truth) = p.stream(3)?;
    /// let mut total = 0;
    /// for chunk in stream {
    ///     total += chunk?.raster.total_spikes();
    /// }
    /// assert_eq!(total, p.generate(3)?.0.total_spikes());
    /// assert_eq!(truth.types[0].members.len(), 120);
    /// # Ok::<(), spikelab_synth::SynthError>(())
    /// ```
    pub fn stream(&self, seed: u64) -> Result<(SequenceStream, SequenceTruth)> {
        self.validate()?;
        let n = self.n_neurons;
        let t_bins = self.n_bins;
        // Rates per unpermuted row.
        let mut gr = rng::stream(seed, rng::S_RATES);
        let rates: Vec<f64> = match &self.rates {
            RateModel::LogNormal {
                mean_per_bin,
                sigma,
            } => {
                let mu = mean_per_bin.ln() - 0.5 * sigma * sigma;
                (0..n)
                    .map(|_| {
                        let z: f64 = StandardNormal.sample(&mut gr);
                        (mu + sigma * z).exp()
                    })
                    .collect()
            }
            RateModel::Constant { per_bin } => vec![*per_bin; n],
            RateModel::PerNeuron(r) => r.clone(),
        };
        // Permutation.
        let mut gp = rng::stream(seed, rng::S_PERM);
        let mut perm: Vec<usize> = (0..n).collect();
        perm.shuffle(&mut gp);
        let mut inv = vec![0usize; n];
        for (r, &c) in perm.iter().enumerate() {
            inv[c] = r;
        }
        // Occurrences and insertions.
        let mut insertions: Vec<(u64, u32)> = Vec::new();
        let mut occurrences = Vec::new();
        let mut types = Vec::with_capacity(self.types.len());
        let mut first_row = 0usize;
        for (k, ty) in self.types.iter().enumerate() {
            let mut go = rng::stream(seed, rng::S_OCC + k as u64);
            let offsets = ty.offsets();
            let span = ty.span_bins();
            let mut onsets: Vec<u64> = Vec::new();
            match ty.occurrences {
                Occurrences::Regular {
                    gap_bins,
                    first_onset_bin,
                } => {
                    let mut st = first_onset_bin;
                    while st + gap_bins < t_bins {
                        onsets.push(st);
                        st += gap_bins;
                    }
                }
                Occurrences::Poisson { mean_gap_bins } => {
                    let mut s = 0.0f64;
                    loop {
                        let e: f64 = Exp1.sample(&mut go);
                        s += e * mean_gap_bins;
                        if s + span >= t_bins as f64 {
                            break;
                        }
                        onsets.push(s as u64);
                    }
                }
            }
            let (lo, hi) = ty.warp_range;
            for st in onsets {
                let u: f64 = go.random();
                let warp = lo + (hi - lo) * u;
                let mut n_inserted = 0usize;
                let mut j_last = 0i64;
                for (i, &off) in offsets.iter().enumerate() {
                    let z: f64 = StandardNormal.sample(&mut go);
                    let j = st as i64 + round_half_even(warp * off + z * ty.jitter_std_bins) as i64;
                    if i + 1 == offsets.len() {
                        j_last = j;
                    }
                    let keep = go.random::<f64>() >= ty.p_drop;
                    if keep && j >= 0 && (j as u64) < t_bins {
                        insertions.push((j as u64, (first_row + i) as u32));
                        n_inserted += 1;
                    }
                }
                occurrences.push(Occurrence {
                    type_index: k,
                    onset_bin: st as i64,
                    centre_bin: round_half_even((st as i64 + j_last) as f64 / 2.0) as i64,
                    warp,
                    n_inserted,
                });
            }
            types.push(TypeTruth {
                members: (first_row..first_row + ty.n_members)
                    .map(|c| inv[c])
                    .collect(),
                offsets_bins: offsets,
                jitter_std_bins: ty.jitter_std_bins,
                p_drop: ty.p_drop,
            });
            first_row += ty.n_members;
        }
        insertions.sort_unstable();
        occurrences.sort_by_key(|o| (o.onset_bin, o.type_index));
        // Background generator states, started stationary (10 mean intervals early).
        let unit = UnitInterval::new(match self.background {
            Background::Poisson => 1.0,
            Background::Gamma { shape } => shape,
        })?;
        let mut rngs = Vec::with_capacity(n);
        let mut next_spike = Vec::with_capacity(n);
        for (c, &r) in rates.iter().enumerate() {
            let mut g = rng::stream(seed, c as u64);
            let mut s = -10.0 / r;
            while s < 0.0 {
                s += unit.sample(&mut g) / r;
            }
            next_spike.push(s);
            rngs.push(g);
        }
        let truth = SequenceTruth {
            seed,
            mode: SequenceMode::Clean,
            background_rate_per_bin: perm.iter().map(|&c| rates[c]).collect(),
            permutation: perm.clone(),
            source_rows: None,
            types,
            occurrences,
            n_deleted: 0,
        };
        let stream = SequenceStream {
            n_bins: t_bins,
            chunk: self.chunk_bins,
            next_start: 0,
            bin_s: self.bin_s,
            binary: self.binary,
            perm,
            rates,
            unit,
            next_spike,
            rngs,
            insertions,
            ins_pos: 0,
            bucket: vec![Vec::new(); n],
        };
        Ok((stream, truth))
    }
}
