//! Parity mode: the original convSeq generator's recipe on a given background raster.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use spikelab_data::{BinnedRaster, SparseRaster};

use super::{Occurrence, SequenceMode, SequenceTruth, TypeTruth};
use crate::error::{Result, SynthError, non_negative, param, probability};
use crate::rng::{self, round_half_even};

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
    /// The hard regime of the robust convSeq mode (spikelab-convseq `tests/robust.rs`) for
    /// `seed`: seqlen 60–80, p_drop 0.2–0.3, jitter std 20–30 bins, gap 600–800 bins (each
    /// drawn uniformly, bounds included, in that order from a [`rng::ChaCha8Rng`] seeded with
    /// `seed`), lag 1 bin. `null` sets p_drop to 1 (every member spike dropped) without
    /// drawing it, so jitter and gap then come from the next draws.
    ///
    /// ```
    /// use spikelab_synth::ParityParams;
    /// let p = ParityParams::hard_regime(3, false);
    /// assert!((60..=80).contains(&p.seqlen) && (600..=800).contains(&p.gap_bins));
    /// assert!((0.2..=0.3).contains(&p.p_drop) && (20.0..=30.0).contains(&p.jitter_std_bins));
    /// assert_eq!((p.lag_bins, p.clone()), (1, ParityParams::hard_regime(3, false)));
    /// assert_eq!(ParityParams::hard_regime(3, true).p_drop, 1.0);
    /// ```
    pub fn hard_regime(seed: u64, null: bool) -> Self {
        let mut r = rng::ChaCha8Rng::seed_from_u64(seed);
        ParityParams {
            seqlen: r.random_range(60..=80),
            p_drop: if null { 1.0 } else { r.random_range(0.2..=0.3) },
            jitter_std_bins: r.random_range(20.0..=30.0),
            gap_bins: r.random_range(600..=800),
            lag_bins: 1,
        }
    }

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
