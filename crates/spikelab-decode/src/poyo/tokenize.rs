//! POYO's tokenization: one token per spike, START/END tokens per unit, latent and output
//! queries, padding with masks, random training windows and half-overlapping evaluation
//! windows whose predictions are averaged ("stitching").
//!
//! Token types: 0 spike, 1 START (t = 0), 2 END (t = L); times are relative to the window
//! start. Padded token slots hold unit 0 (`"NA"`), type 0, time 0 and mask 0.

use ndarray::Array2;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use spikelab_data::SpikeTrains;

use super::vocab::Vocab;
use crate::error::{DecodeError, Result};

/// Token type of a spike.
pub const TOKEN_SPIKE: u32 = 0;
/// Token type of a unit's START token (t = 0).
pub const TOKEN_START: u32 = 1;
/// Token type of a unit's END token (t = L).
pub const TOKEN_END: u32 = 2;

/// One recording (session) to decode: spike trains with string unit ids, and targets sampled
/// at `target_times_s`, axis order `[time, output]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    /// Recording (session) id: the word of the session vocabulary.
    pub id: String,
    /// Spike trains (seconds).
    pub spikes: SpikeTrains,
    /// One string id per train: the words of the unit vocabulary (unique across recordings).
    pub unit_ids: Vec<String>,
    /// Target times (s), strictly increasing.
    pub target_times_s: Vec<f64>,
    /// Targets `[time, output]` (raw units; the model normalises them).
    pub targets: Array2<f64>,
    /// Loss weight per target time (default 1).
    pub weights: Vec<f64>,
}

impl Recording {
    /// Checks and bundles a recording. Errors: unit id count ≠ trains, duplicate unit ids,
    /// unsorted or non-finite target times, targets with another number of rows, NaN/∞
    /// targets, no targets, no spikes.
    pub fn new(
        id: impl Into<String>,
        spikes: SpikeTrains,
        unit_ids: Vec<String>,
        target_times_s: Vec<f64>,
        targets: Array2<f64>,
    ) -> Result<Self> {
        let id = id.into();
        if unit_ids.len() != spikes.n_units() {
            return Err(DecodeError::Shape(format!(
                "recording {id}: {} unit ids for {} spike trains",
                unit_ids.len(),
                spikes.n_units()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = unit_ids.iter().find(|u| !seen.insert(u.as_str())) {
            return Err(DecodeError::InvalidData(format!(
                "recording {id}: unit id {dup:?} appears twice"
            )));
        }
        if target_times_s.is_empty() || targets.ncols() == 0 {
            return Err(DecodeError::InvalidData(format!(
                "recording {id} has no targets"
            )));
        }
        if targets.nrows() != target_times_s.len() {
            return Err(DecodeError::Shape(format!(
                "recording {id}: {} target rows for {} target times",
                targets.nrows(),
                target_times_s.len()
            )));
        }
        if target_times_s.iter().any(|t| !t.is_finite())
            || target_times_s.windows(2).any(|w| w[1] <= w[0])
        {
            return Err(DecodeError::InvalidData(format!(
                "recording {id}: target times must be finite and strictly increasing"
            )));
        }
        if let Some(((r, c), v)) = targets.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(DecodeError::InvalidData(format!(
                "recording {id}: target [{r}, {c}] is {v}"
            )));
        }
        if spikes.total_spikes() == 0 {
            return Err(DecodeError::InvalidData(format!(
                "recording {id} has no spikes"
            )));
        }
        let weights = vec![1.0; target_times_s.len()];
        Ok(Self {
            id,
            spikes,
            unit_ids,
            target_times_s,
            targets,
            weights,
        })
    }

    /// Sets the loss weight of every target time (finite, ≥ 0).
    pub fn with_weights(mut self, weights: Vec<f64>) -> Result<Self> {
        if weights.len() != self.target_times_s.len()
            || weights.iter().any(|w| !(w.is_finite() && *w >= 0.0))
        {
            return Err(DecodeError::InvalidData(format!(
                "recording {}: need {} finite weights ≥ 0",
                self.id,
                self.target_times_s.len()
            )));
        }
        self.weights = weights;
        Ok(self)
    }

    /// Number of outputs (target columns).
    pub fn dim_out(&self) -> usize {
        self.targets.ncols()
    }
}

/// Window geometry: context length and latent grid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowGrid {
    /// Context length L (s).
    pub context_s: f64,
    /// Latent step (s).
    pub latent_step_s: f64,
    /// Latent queries per latent step.
    pub latents_per_step: usize,
}

impl WindowGrid {
    /// Latent times `arange(0, L, step) + step/2`, each repeated `latents_per_step` times, and
    /// the latent index `tile(0..latents_per_step, n_steps)`.
    ///
    /// ```
    /// use spikelab_decode::poyo::WindowGrid;
    /// let g = WindowGrid { context_s: 1.0, latent_step_s: 0.125, latents_per_step: 16 };
    /// let (t, i) = g.latents();
    /// assert_eq!((t.len(), t[0], t[16], t[127]), (128, 0.0625, 0.1875, 0.9375));
    /// assert_eq!((i[0], i[15], i[16]), (0, 15, 0));
    /// ```
    pub fn latents(&self) -> (Vec<f64>, Vec<u32>) {
        let n_steps = (self.context_s / self.latent_step_s - 1e-9).ceil().max(1.0) as usize;
        let mut t = Vec::with_capacity(n_steps * self.latents_per_step);
        let mut idx = Vec::with_capacity(n_steps * self.latents_per_step);
        for s in 0..n_steps {
            for k in 0..self.latents_per_step {
                t.push(s as f64 * self.latent_step_s + self.latent_step_s / 2.0);
                idx.push(k as u32);
            }
        }
        (t, idx)
    }
}

/// Per-output normalisation (v − mean)/std applied to targets before the loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetNorm {
    /// Mean per output.
    pub mean: Vec<f64>,
    /// Standard deviation per output (> 0).
    pub std: Vec<f64>,
}

impl TargetNorm {
    /// Mean and standard deviation of the targets inside `intervals` (one list per recording).
    pub fn fit(recordings: &[&Recording], intervals: &[Vec<(f64, f64)>]) -> Result<Self> {
        let d = recordings.first().map_or(0, |r| r.dim_out());
        let (mut n, mut s, mut s2) = (0usize, vec![0.0; d], vec![0.0; d]);
        for (rec, iv) in recordings.iter().zip(intervals) {
            if rec.dim_out() != d {
                return Err(DecodeError::Shape(format!(
                    "recording {} has {} outputs, the others {d}",
                    rec.id,
                    rec.dim_out()
                )));
            }
            for (i, &t) in rec.target_times_s.iter().enumerate() {
                if iv.iter().any(|&(a, b)| t >= a && t < b) {
                    n += 1;
                    for j in 0..d {
                        let v = rec.targets[[i, j]];
                        s[j] += v;
                        s2[j] += v * v;
                    }
                }
            }
        }
        if n < 2 {
            return Err(DecodeError::InvalidData(
                "fewer than 2 target samples inside the training intervals".into(),
            ));
        }
        let mean: Vec<f64> = s.iter().map(|v| v / n as f64).collect();
        let std: Vec<f64> = (0..d)
            .map(|j| (s2[j] / n as f64 - mean[j] * mean[j]).max(0.0).sqrt())
            .map(|v| if v > 0.0 { v } else { 1.0 })
            .collect();
        Ok(Self { mean, std })
    }
}

/// A recording resolved against the vocabularies: global index of each unit and the session.
#[derive(Debug, Clone)]
pub struct Prepared<'a> {
    /// The recording.
    pub rec: &'a Recording,
    /// Unit-vocabulary index of each train.
    pub unit_index: Vec<u32>,
    /// Session-vocabulary index.
    pub session: u32,
}

impl<'a> Prepared<'a> {
    /// Resolves the ids; an id missing from a vocabulary is [`DecodeError::UnknownId`].
    pub fn new(rec: &'a Recording, units: &Vocab, sessions: &Vocab) -> Result<Self> {
        let unit_index = rec
            .unit_ids
            .iter()
            .map(|u| {
                units
                    .index(u)
                    .map(|i| i as u32)
                    .ok_or_else(|| DecodeError::UnknownId {
                        kind: "unit",
                        id: u.clone(),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let session = sessions
            .index(&rec.id)
            .ok_or_else(|| DecodeError::UnknownId {
                kind: "session",
                id: rec.id.clone(),
            })? as u32;
        Ok(Self {
            rec,
            unit_index,
            session,
        })
    }
}

/// One tokenized window (unpadded).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Unit-vocabulary index per token.
    pub unit_index: Vec<u32>,
    /// Token type per token.
    pub token_type: Vec<u32>,
    /// Time of each token relative to the window start (s).
    pub times_s: Vec<f64>,
    /// Session-vocabulary index.
    pub session: u32,
    /// Output query times relative to the window start (s).
    pub output_times_s: Vec<f64>,
    /// Normalised targets `[n_out · dim_out]`, row-major.
    pub targets: Vec<f64>,
    /// Loss weight per output query.
    pub weights: Vec<f64>,
    /// Row of the recording's targets of each output query (for stitching).
    pub target_rows: Vec<usize>,
}

/// Tokenizes the window `[start_s, start_s + L)` of `prep` with the units `keep` (local train
/// indices; all units when `None`) and the output queries at the target times inside both the
/// window and `[lo_s, hi_s)`. Errors: [`DecodeError::EmptyWindow`] when no kept unit spikes in
/// the window.
pub fn tokenize(
    prep: &Prepared<'_>,
    keep: Option<&[usize]>,
    start_s: f64,
    grid: &WindowGrid,
    range: (f64, f64),
    norm: &TargetNorm,
) -> Result<Sample> {
    tokenize_window(prep, keep, start_s, grid, range, norm, false)
}

/// [`tokenize`]; with `allow_empty`, a window without spikes is its START/END tokens only
/// (what the model sees of a silent stretch) instead of [`DecodeError::EmptyWindow`].
pub(crate) fn tokenize_window(
    prep: &Prepared<'_>,
    keep: Option<&[usize]>,
    start_s: f64,
    grid: &WindowGrid,
    (lo_s, hi_s): (f64, f64),
    norm: &TargetNorm,
    allow_empty: bool,
) -> Result<Sample> {
    let rec = prep.rec;
    let l = grid.context_s;
    let all: Vec<usize>;
    let units = match keep {
        Some(k) => k,
        None => {
            all = (0..rec.spikes.n_units()).collect();
            &all
        }
    };
    let mut spikes: Vec<(f64, u32)> = Vec::new();
    for &u in units {
        let train = rec.spikes.train(u);
        let a = train.partition_point(|&t| t < start_s);
        let b = train.partition_point(|&t| t < start_s + l);
        spikes.extend(
            train[a..b]
                .iter()
                .map(|&t| (t - start_s, prep.unit_index[u])),
        );
    }
    if spikes.is_empty() && !allow_empty {
        return Err(DecodeError::EmptyWindow {
            recording: rec.id.clone(),
            start_s,
        });
    }
    spikes.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = spikes.len() + 2 * units.len();
    let mut s = Sample {
        unit_index: Vec::with_capacity(n),
        token_type: Vec::with_capacity(n),
        times_s: Vec::with_capacity(n),
        session: prep.session,
        output_times_s: Vec::new(),
        targets: Vec::new(),
        weights: Vec::new(),
        target_rows: Vec::new(),
    };
    for (t, u) in spikes {
        s.unit_index.push(u);
        s.token_type.push(TOKEN_SPIKE);
        s.times_s.push(t);
    }
    for (kind, t) in [(TOKEN_START, 0.0), (TOKEN_END, l)] {
        for &u in units {
            s.unit_index.push(prep.unit_index[u]);
            s.token_type.push(kind);
            s.times_s.push(t);
        }
    }
    let lo = start_s.max(lo_s);
    let hi = (start_s + l).min(hi_s);
    let tt = &rec.target_times_s;
    let (a, b) = (
        tt.partition_point(|&t| t < lo),
        tt.partition_point(|&t| t < hi),
    );
    for (row, &t) in tt.iter().enumerate().take(b).skip(a) {
        s.output_times_s.push(t - start_s);
        for j in 0..rec.dim_out() {
            s.targets
                .push((rec.targets[[row, j]] - norm.mean[j]) / norm.std[j]);
        }
        s.weights.push(rec.weights[row]);
        s.target_rows.push(row);
    }
    Ok(s)
}

/// A padded batch (host side), every array row-major over `[sample, slot]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Samples.
    pub b: usize,
    /// Input token slots (a multiple of 8).
    pub n_in: usize,
    /// Latent queries.
    pub n_lat: usize,
    /// Output query slots.
    pub n_out: usize,
    /// Outputs per query.
    pub dim_out: usize,
    /// `[b, n_in]` unit-vocabulary index (0 on padding).
    pub unit_index: Vec<u32>,
    /// `[b, n_in]` token type.
    pub token_type: Vec<u32>,
    /// `[b, n_in]` token time (s).
    pub input_times_s: Vec<f64>,
    /// `[b, n_in]` 1 = real token.
    pub input_mask: Vec<u8>,
    /// `[b, n_lat]` latent index.
    pub latent_index: Vec<u32>,
    /// `[b, n_lat]` latent time (s).
    pub latent_times_s: Vec<f64>,
    /// `[b]` session-vocabulary index.
    pub session: Vec<u32>,
    /// `[b, n_out]` output query time (s).
    pub output_times_s: Vec<f64>,
    /// `[b, n_out]` 1 = real output query.
    pub output_mask: Vec<u8>,
    /// `[b, n_out, dim_out]` normalised targets (0 on padding).
    pub targets: Vec<f64>,
    /// `[b, n_out]` loss weights (0 on padding).
    pub weights: Vec<f64>,
}

/// Pads samples into a batch: input tokens to the longest sample rounded up to a multiple of
/// 8, output queries to the longest sample (at least 1).
pub fn collate(samples: &[Sample], grid: &WindowGrid, dim_out: usize) -> Result<Batch> {
    if samples.is_empty() {
        return Err(DecodeError::InvalidData("empty batch".into()));
    }
    let b = samples.len();
    let n_in = samples
        .iter()
        .map(|s| s.unit_index.len())
        .max()
        .unwrap_or(0)
        .div_ceil(8)
        * 8;
    let n_out = samples
        .iter()
        .map(|s| s.output_times_s.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let (lat_t, lat_i) = grid.latents();
    let n_lat = lat_t.len();
    let mut out = Batch {
        b,
        n_in,
        n_lat,
        n_out,
        dim_out,
        unit_index: vec![0; b * n_in],
        token_type: vec![0; b * n_in],
        input_times_s: vec![0.0; b * n_in],
        input_mask: vec![0; b * n_in],
        latent_index: lat_i.repeat(b),
        latent_times_s: lat_t.repeat(b),
        session: samples.iter().map(|s| s.session).collect(),
        output_times_s: vec![0.0; b * n_out],
        output_mask: vec![0; b * n_out],
        targets: vec![0.0; b * n_out * dim_out],
        weights: vec![0.0; b * n_out],
    };
    for (i, s) in samples.iter().enumerate() {
        if s.targets.len() != s.output_times_s.len() * dim_out {
            return Err(DecodeError::Shape(format!(
                "sample {i}: {} targets for {} queries × {dim_out}",
                s.targets.len(),
                s.output_times_s.len()
            )));
        }
        let o = i * n_in;
        let k = s.unit_index.len();
        out.unit_index[o..o + k].copy_from_slice(&s.unit_index);
        out.token_type[o..o + k].copy_from_slice(&s.token_type);
        out.input_times_s[o..o + k].copy_from_slice(&s.times_s);
        out.input_mask[o..o + k].fill(1);
        let o = i * n_out;
        let k = s.output_times_s.len();
        out.output_times_s[o..o + k].copy_from_slice(&s.output_times_s);
        out.output_mask[o..o + k].fill(1);
        out.weights[o..o + k].copy_from_slice(&s.weights);
        out.targets[o * dim_out..(o + k) * dim_out].copy_from_slice(&s.targets);
    }
    Ok(out)
}

/// Starts of the evaluation windows over `[a, b)`: every L/2 from `a`, plus a last window
/// ending at `b` when the grid does not reach it. Errors if the interval is shorter than L.
///
/// ```
/// let s = spikelab_decode::poyo::eval_starts(0.0, 2.2, 1.0)?;
/// assert_eq!(s, vec![0.0, 0.5, 1.0, 1.2000000000000002]);
/// # Ok::<(), spikelab_decode::DecodeError>(())
/// ```
pub fn eval_starts(a: f64, b: f64, context_s: f64) -> Result<Vec<f64>> {
    if !matches!(
        (b - a).partial_cmp(&(context_s - 1e-12)),
        Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
    ) {
        return Err(DecodeError::InvalidData(format!(
            "interval [{a}, {b}) is shorter than the context {context_s} s"
        )));
    }
    let step = context_s / 2.0;
    let mut starts = Vec::new();
    let mut k = 0usize;
    loop {
        let s = a + k as f64 * step;
        if s + context_s > b + 1e-9 {
            break;
        }
        starts.push(s);
        k += 1;
    }
    if let Some(&last) = starts.last()
        && last + context_s < b - 1e-9
    {
        starts.push(b - context_s);
    }
    Ok(starts)
}

/// Mean of overlapping window predictions per target row.
#[derive(Debug, Clone)]
pub struct Stitcher {
    sum: Array2<f64>,
    count: Vec<usize>,
}

impl Stitcher {
    /// For `n_rows` target rows of `dim_out` outputs.
    pub fn new(n_rows: usize, dim_out: usize) -> Self {
        Self {
            sum: Array2::zeros((n_rows, dim_out)),
            count: vec![0; n_rows],
        }
    }

    /// Adds the prediction `pred` (`dim_out` values) of target row `row`.
    pub fn add(&mut self, row: usize, pred: &[f64]) {
        for (j, p) in pred.iter().enumerate() {
            self.sum[[row, j]] += p;
        }
        self.count[row] += 1;
    }

    /// The covered rows and their mean predictions `[covered, dim_out]`.
    ///
    /// ```
    /// use spikelab_decode::poyo::Stitcher;
    /// let mut s = Stitcher::new(3, 1);
    /// s.add(0, &[1.0]);
    /// s.add(0, &[3.0]);
    /// s.add(2, &[5.0]);
    /// let (rows, mean) = s.finish();
    /// assert_eq!(rows, vec![0, 2]);
    /// assert_eq!(mean.column(0).to_vec(), vec![2.0, 5.0]);
    /// ```
    pub fn finish(self) -> (Vec<usize>, Array2<f64>) {
        let rows: Vec<usize> = (0..self.count.len())
            .filter(|&r| self.count[r] > 0)
            .collect();
        let mut out = Array2::zeros((rows.len(), self.sum.ncols()));
        for (i, &r) in rows.iter().enumerate() {
            for j in 0..self.sum.ncols() {
                out[[i, j]] = self.sum[[r, j]] / self.count[r] as f64;
            }
        }
        (rows, out)
    }
}

/// POYO's UnitDropout: keeps a random subset of units whose size follows a "triangle" density
/// on `[min, max]` (1 at the ends, `peak` at `mode`), drawn by the reference's rejection
/// scheme (x ~ U(min, max), accepted when u ≤ f(x)/(10·u′) with fresh u, u′ ~ U(0, 1); all
/// units after 100 rejections or when there are fewer than `min`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UnitDropout {
    /// Smallest number of kept units.
    pub min: f64,
    /// Mode of the density.
    pub mode: f64,
    /// Largest number of kept units.
    pub max: f64,
    /// Density at the mode (1 at the ends).
    pub peak: f64,
}

impl UnitDropout {
    /// The CA1 / NLB-small setting (60, 300, 1000, peak 4).
    pub fn ca1() -> Self {
        Self {
            min: 60.0,
            mode: 300.0,
            max: 1000.0,
            peak: 4.0,
        }
    }

    /// Checks min < mode < max (finite) and peak ≥ 1.
    pub fn check(&self) -> Result<()> {
        if !(self.min.is_finite()
            && self.max.is_finite()
            && self.min >= 0.0
            && self.min < self.mode
            && self.mode < self.max
            && self.peak >= 1.0)
        {
            return Err(DecodeError::param(
                "unit_dropout",
                "need 0 ≤ min < mode < max and peak ≥ 1",
            ));
        }
        Ok(())
    }

    fn density(&self, x: f64) -> f64 {
        if x < self.mode {
            1.0 + (self.peak - 1.0) * (x - self.min) / (self.mode - self.min)
        } else {
            1.0 + (self.peak - 1.0) * (self.max - x) / (self.max - self.mode)
        }
    }

    /// Local indices of the kept units among `n` (sorted).
    pub fn keep(&self, n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        if (n as f64) < self.min {
            return all;
        }
        for _ in 0..100 {
            let x = rng.random_range(self.min..self.max);
            let (u, u2): (f64, f64) = (rng.random(), rng.random());
            if u <= self.density(x) / (10.0 * u2) {
                let k = x.floor() as usize;
                if k >= n {
                    return all;
                }
                all.shuffle(rng);
                let mut kept = all[..k].to_vec();
                kept.sort_unstable();
                return kept;
            }
        }
        all
    }
}
