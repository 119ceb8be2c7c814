//! Chunked generation of a clean-mode raster.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, Exp1, StandardNormal};
use spikelab_data::SparseRaster;

use super::clean::{Background, Occurrences, RateModel, SequenceParams};
use super::{Occurrence, SequenceMode, SequenceTruth, TypeTruth};
use crate::error::{Result, SynthError};
use crate::poisson::UnitInterval;
use crate::rng::{self, ChaCha8Rng, round_half_even};

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
    pub(super) fn next_rows(&mut self) -> Option<(u64, u64, Rows)> {
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
