//! The significance threshold α (spec §1.6), with running sums instead of stored
//! projections.
//!
//! **Random-filter null (the original's).** Draw random filters whose rows are softmaxes of
//! i.i.d. N(0, 1) logits, project the *same* data, and record each projection's mean,
//! unbiased std and maximum. The original keeps all projections (1.09 GB for the demo);
//! here each worker keeps one L-long buffer. Rows are drawn from a pool of pre-drawn
//! softmax rows (65 536 rows, each used at a random circular shift of its taps and chosen
//! without replacement within a filter), which keeps every row an exact softmax of i.i.d.
//! normals and the rows of one filter independent; only different filters share rows,
//! which affects the Monte-Carlo spread of the averages, not their expectation. This makes
//! the cost the scatter itself (samples × spikes × W, in f32) instead of drawing
//! 15 000 × N × W normals.
//!
//! **Circular-shift null (seqNMF style).** The *learned* filter on surrogate rasters whose
//! neurons are circularly shifted by independent uniform offsets, which destroys the
//! cross-neuron timing and keeps every spike train's statistics: it tests the data rather
//! than the filter.

use rand::seq::index::sample as sample_indices;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use spikelab_core::Tf32Guard;

use crate::error::{ConvSeqError, Result};
use crate::input::check_raster;
use crate::params::{AlphaOptions, NullKind, ThresholdRule};
use crate::sparse::{
    Csr, TILE, padded_stride, project_tiles, scatter_range, time_ordered, window_spikes,
};
use spikelab_core::simd::{self, SimdLevel};
use spikelab_data::SparseRaster;

/// Summary of a null distribution and the threshold derived from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NullStats {
    /// Which null.
    pub null: NullKind,
    /// The rule applied.
    pub rule: ThresholdRule,
    /// Number of null samples.
    pub n_samples: usize,
    /// Mean over samples of the projection mean.
    pub mean: f64,
    /// Mean over samples of the projection's unbiased std.
    pub std: f64,
    /// The threshold α.
    pub alpha: f64,
}

const POOL_ROWS: usize = 1 << 16;

fn finish(null: NullKind, rule: ThresholdRule, per: &[(f64, f64, f64)]) -> Result<NullStats> {
    let ns = per.len() as f64;
    let mean = per.iter().map(|p| p.0).sum::<f64>() / ns;
    let std = per.iter().map(|p| p.1).sum::<f64>() / ns;
    let alpha = match rule {
        ThresholdRule::MeanSigma { sigmas } => mean + sigmas * std,
        ThresholdRule::MaxQuantile { q } => {
            let mut mx: Vec<f64> = per.iter().map(|p| p.2).collect();
            mx.sort_by(f64::total_cmp);
            quantile_sorted(&mx, q)
        }
    };
    if !alpha.is_finite() {
        return Err(ConvSeqError::NonFinite {
            what: "alpha",
            epoch: 0,
        });
    }
    Ok(NullStats {
        null,
        rule,
        n_samples: per.len(),
        mean,
        std,
        alpha,
    })
}

/// Linear-interpolation quantile (NumPy's default) of sorted data.
pub(crate) fn quantile_sorted(x: &[f64], q: f64) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    let pos = q * (x.len() - 1) as f64;
    let i = pos.floor() as usize;
    let f = pos - i as f64;
    if i + 1 < x.len() {
        x[i] * (1.0 - f) + x[i + 1] * f
    } else {
        x[i]
    }
}

fn moments(buf: &[f32]) -> (f64, f64, f64) {
    let l = buf.len() as f64;
    let mean = buf.iter().map(|&v| v as f64).sum::<f64>() / l;
    let var = buf
        .iter()
        .map(|&v| (v as f64 - mean) * (v as f64 - mean))
        .sum::<f64>()
        / (l - 1.0);
    let mx = buf.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    (mean, var.sqrt(), mx)
}

/// Running Σx̂, Σx̂² (f64) and max x̂ of a projection fed in pieces, with 8 partial sums
/// indexed by the output's position modulo 8 (so the additions vectorise and their order
/// does not depend on how the projection is cut into pieces).
struct MomentLanes {
    sum: [f64; 8],
    sq: [f64; 8],
    max: f32,
}

impl MomentLanes {
    fn new() -> Self {
        MomentLanes {
            sum: [0.0; 8],
            sq: [0.0; 8],
            max: f32::NEG_INFINITY,
        }
    }

    /// Adds the outputs `t0..t0 + vals.len()`.
    fn add(&mut self, t0: usize, vals: &[f32]) {
        let head = ((8 - t0 % 8) % 8).min(vals.len());
        let (first, rest) = vals.split_at(head);
        for (i, &v) in first.iter().enumerate() {
            self.one((t0 + i) % 8, v);
        }
        let mut chunks = rest.chunks_exact(8);
        let (mut sum, mut sq, mut mx) = (self.sum, self.sq, [self.max; 8]);
        for c in &mut chunks {
            for k in 0..8 {
                let v = c[k] as f64;
                sum[k] += v;
                sq[k] += v * v;
                mx[k] = mx[k].max(c[k]);
            }
        }
        (self.sum, self.sq) = (sum, sq);
        self.max = mx.iter().copied().fold(self.max, f32::max);
        for (k, &v) in chunks.remainder().iter().enumerate() {
            self.one(k, v);
        }
    }

    #[inline]
    fn one(&mut self, k: usize, v: f32) {
        self.sum[k] += v as f64;
        self.sq[k] += v as f64 * v as f64;
        self.max = self.max.max(v);
    }

    /// (mean, unbiased std, max) of the `l` outputs fed.
    fn finish(&self, l: usize) -> (f64, f64, f64) {
        let sum: f64 = self.sum.iter().sum();
        let sq: f64 = self.sq.iter().sum();
        finish_moments((sum, sq, self.max as f64), l)
    }
}

/// α from random softmax filters on the same data (the original's null), on the CPU, with
/// the tiled projection at the CPU's SIMD level ([`spikelab_core::simd::active`]).
///
/// Each filter's projection is made by output tiles held in registers (see
/// [`alpha_random_filters_at`]); the filters, their order and the statistics are those of
/// [`alpha_random_filters_reference`], and only the order in which each output's f32 sum is
/// accumulated differs (time order instead of neuron order), so α agrees with it to f32
/// rounding (≈1e-7 relative), and is the same on every thread count and SIMD level.
///
/// # Example
/// ```
/// use spikelab_convseq::{AlphaOptions, null::alpha_random_filters};
/// let ev: Vec<(usize, u64)> = (0..400u64).map(|i| ((i % 7) as usize, (i * 37) % 1000)).collect();
/// let r = spikelab_data::SparseRaster::from_events(7, 1000, 0.05, &ev)?;
/// let opts = AlphaOptions { n_samples: 64, ..Default::default() };
/// let s = alpha_random_filters(&r, 20, &opts, 1)?;
/// assert!(s.alpha > s.mean && s.std > 0.0);
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
pub fn alpha_random_filters(
    raster: &SparseRaster,
    width_bins: usize,
    opts: &AlphaOptions,
    seed: u64,
) -> Result<NullStats> {
    alpha_random_filters_at(raster, width_bins, opts, seed, simd::active())
}

/// [`alpha_random_filters`] at a given SIMD level (a level this CPU lacks runs the portable
/// build). Every level gives the same bits: the kernel only adds, in the same order.
///
/// The projection of a filter is made in tiles of 64 outputs: the tile's accumulators stay
/// in registers while every spike whose window meets the tile, taken in (bin, neuron)
/// order, adds 64 consecutive taps of its reversed filter row padded with 64 zeros on
/// each side. This does spikes × (W + 63) adds instead of spikes × W, but without a
/// store per add, which is what bounds the plain scatter.
///
/// # Example
/// ```
/// use spikelab_convseq::{AlphaOptions, null::{alpha_random_filters, alpha_random_filters_at}};
/// use spikelab_core::simd::SimdLevel;
/// let ev: Vec<(usize, u64)> = (0..400u64).map(|i| ((i % 7) as usize, (i * 37) % 1000)).collect();
/// let r = spikelab_data::SparseRaster::from_events(7, 1000, 0.05, &ev)?;
/// let opts = AlphaOptions { n_samples: 16, ..Default::default() };
/// let best = alpha_random_filters(&r, 20, &opts, 1)?;
/// let portable = alpha_random_filters_at(&r, 20, &opts, 1, SimdLevel::Scalar)?;
/// assert_eq!(best, portable);
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
pub fn alpha_random_filters_at(
    raster: &SparseRaster,
    width_bins: usize,
    opts: &AlphaOptions,
    seed: u64,
    level: SimdLevel,
) -> Result<NullStats> {
    let per = tiled_per_filter(raster, width_bins, opts.n_samples, seed, level)?;
    finish(NullKind::RandomFilters, opts.rule, &per)
}

/// Per-filter (mean, unbiased std, max) of the projections of random filters `0..n_samples`
/// by the tiled kernel.
fn tiled_per_filter(
    raster: &SparseRaster,
    width_bins: usize,
    n_samples: usize,
    seed: u64,
    level: SimdLevel,
) -> Result<Vec<(f64, f64, f64)>> {
    let (n, w, p, l) = null_geometry(raster, width_bins)?;
    let pool_rows = POOL_ROWS.max(n);
    let by_time = time_ordered(&Csr::new(raster));
    let pool = softmax_pool(pool_rows, w, seed);
    let stride = padded_stride(w);
    Ok((0..n_samples)
        .into_par_iter()
        .map_init(
            || (vec![0f32; n * stride], vec![0f32; l]),
            |(padded, buf), i| {
                draw_filter(&pool, pool_rows, w, seed, i, padded, stride, TILE);
                project_tiles(level, &by_time, padded, w, p, 0, buf);
                let mut m = MomentLanes::new();
                m.add(0, buf);
                m.finish(l)
            },
        )
        .collect())
}

/// [`alpha_random_filters`] with the plain neuron-ordered scatter (one W-long vector add
/// per spike into the L-long projection): the same filters, each output summed in neuron
/// order. Slower; kept as the reference the tiled kernel is tested and timed against.
///
/// # Example
/// ```
/// use spikelab_convseq::{AlphaOptions, null::{alpha_random_filters, alpha_random_filters_reference}};
/// let ev: Vec<(usize, u64)> = (0..400u64).map(|i| ((i % 7) as usize, (i * 37) % 1000)).collect();
/// let r = spikelab_data::SparseRaster::from_events(7, 1000, 0.05, &ev)?;
/// let opts = AlphaOptions { n_samples: 16, ..Default::default() };
/// let a = alpha_random_filters(&r, 20, &opts, 1)?.alpha;
/// let b = alpha_random_filters_reference(&r, 20, &opts, 1)?.alpha;
/// assert!((a - b).abs() < 1e-5 * b);
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
pub fn alpha_random_filters_reference(
    raster: &SparseRaster,
    width_bins: usize,
    opts: &AlphaOptions,
    seed: u64,
) -> Result<NullStats> {
    let (n, w, p, l) = null_geometry(raster, width_bins)?;
    let pool_rows = POOL_ROWS.max(n);
    let csr = Csr::new(raster);
    let pool = softmax_pool(pool_rows, w, seed);
    let per: Vec<(f64, f64, f64)> = (0..opts.n_samples)
        .into_par_iter()
        .map_init(
            || (vec![0f32; n * w], vec![0f32; l]),
            |(rev, buf), i| {
                draw_filter(&pool, pool_rows, w, seed, i, rev, w, 0);
                buf.iter_mut().for_each(|v| *v = 0.0);
                scatter_range(&csr, rev, w, p, 0, n, buf);
                moments(buf)
            },
        )
        .collect();
    finish(NullKind::RandomFilters, opts.rule, &per)
}

/// Pool of softmax rows, drawn in parallel chunks with one ChaCha stream per chunk
/// (deterministic for any thread count).
fn softmax_pool(pool_rows: usize, w: usize, seed: u64) -> Vec<f32> {
    let mut pool = vec![0f32; pool_rows * w];
    pool.par_chunks_mut(1024 * w)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6e75_6c6c);
            rng.set_stream(c as u64);
            let mut z = vec![0f64; w];
            for row in chunk.chunks_mut(w) {
                z.iter_mut()
                    .for_each(|v| *v = StandardNormal.sample(&mut rng));
                let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = z.iter().map(|v| (v - m).exp()).sum();
                for (o, v) in row.iter_mut().zip(&z) {
                    *o = ((v - m).exp() / s) as f32;
                }
            }
        });
    pool
}

/// Random filter `i` (reversed rows) into `rev`, row n at `rev[n·stride + offset..][..W]`
/// (the rest untouched): N pool rows without replacement, each at a random circular shift.
#[allow(clippy::too_many_arguments)]
fn draw_filter(
    pool: &[f32],
    pool_rows: usize,
    w: usize,
    seed: u64,
    i: usize,
    rev: &mut [f32],
    stride: usize,
    offset: usize,
) {
    let n = rev.len() / stride;
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(i as u64 + 1);
    let rows = sample_indices(&mut r, pool_rows, n).into_vec();
    for (k, (dst, &src)) in rev.chunks_mut(stride).zip(&rows).enumerate() {
        // The pool is larger than the caches: fetch a few rows ahead.
        if let Some(&ahead) = rows.get(k + 8) {
            prefetch(&pool[ahead * w..(ahead + 1) * w]);
        }
        let dst = &mut dst[offset..offset + w];
        let shift = r.random_range(0..w);
        let src = &pool[src * w..(src + 1) * w];
        dst[..w - shift].copy_from_slice(&src[shift..]);
        dst[w - shift..].copy_from_slice(&src[..shift]);
    }
}

/// The random-filter null's expectations computed exactly instead of sampled: the mean over
/// filters of the projection mean, and the square root of the mean over filters of the
/// projection's unbiased variance, for filters whose rows are independent softmaxes of
/// W i.i.d. N(0, 1) logits (the distribution [`alpha_random_filters`] samples). No filter
/// is drawn; the cost is O(spikes · W + L + same-neuron spike pairs), milliseconds at demo size.
///
/// **What it computes.** With `c_t` the number of spike windows covering output t, `S₁` the
/// number of (spike, covered output) pairs, `P` the number of (output, ordered pair of
/// different spikes of one neuron covering it), A = E\[F_w²\] and B = E\[F_w F_v\] (w ≠ v)
/// = (1 − W·A)/(W(W − 1)) of one softmax row F (taps are exchangeable and sum to 1):
/// E\[Σ_t x̂\] = S₁/W; E\[Σ_t x̂²\] = (Σ_t c_t² − S₁ − P)/W² + A·S₁ + B·P (different neurons:
/// independent rows, 1/W² per pair; one spike: A; two spikes of one neuron: B);
/// E\[(Σ_t x̂)²\] = (S₁/W)² + Σ_n [A·Σ_w m_nw² + B·((Σ_w m_nw)² − Σ_w m_nw²) − (Σ_w m_nw/W)²]
/// with `m_nw` the number of spikes of neuron n whose tap w lands inside the projection;
/// E\[var\] = (E\[Σx̂²\] − E\[(Σx̂)²\]/L)/(L − 1). A is a 1-D integral
/// (1/x² = ∫₀^∞ u e^{−ux} du turns E\[e^{2z₀}/(Σ e^{z})²\] into
/// ∫₀^∞ u ψ(u) φ(u)^{W−1} du with φ(u) = E\[e^{−u e^z}\], ψ(u) = E\[e^{2z} e^{−u e^z}\]),
/// evaluated by the trapezoid rule in log u and z (see [`softmax_second_moment`]).
///
/// The returned `mean` is exact; `std` is sqrt(E\[var\]), which is ≥ E\[std\] (Jensen), so α is
/// **not** the Monte-Carlo α: on the demo raster it is 1.531637 against 1.531618 from
/// 15 000 filters (+1.9e-5, half the Monte-Carlo standard error). `n_samples` is 0. Only the
/// mean + k·σ rule has a moment form.
///
/// # Example
/// ```
/// use spikelab_convseq::{AlphaOptions, null::{alpha_random_filters, alpha_moments}};
/// let ev: Vec<(usize, u64)> = (0..400u64).map(|i| ((i % 7) as usize, (i * 37) % 1000)).collect();
/// let r = spikelab_data::SparseRaster::from_events(7, 1000, 0.05, &ev)?;
/// let exact = alpha_moments(&r, 20, &AlphaOptions::default())?;
/// let mc = alpha_random_filters(&r, 20, &AlphaOptions { n_samples: 2000, ..Default::default() }, 1)?;
/// assert!((exact.mean - mc.mean).abs() < 1e-3 * mc.mean);
/// assert!((exact.alpha - mc.alpha).abs() < 1e-2 * mc.alpha);
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
pub fn alpha_moments(
    raster: &SparseRaster,
    width_bins: usize,
    opts: &AlphaOptions,
) -> Result<NullStats> {
    let (n, w, p, l) = null_geometry(raster, width_bins)?;
    let sigmas = mean_sigma(opts.rule)?;
    let csr = Csr::new(raster);
    let a_sq = softmax_second_moment(w);
    let (wf, lf) = (w as f64, l as f64);
    let b_cross = (1.0 - wf * a_sq) / (wf * (wf - 1.0));
    // Window of spike s, clipped to the projection: [start, start + W) ∩ [0, L).
    let window = |s: u32| -> (isize, isize) {
        let start = s as isize + p as isize - w as isize + 1;
        (start.max(0), (start + w as isize).min(l as isize))
    };
    let mut diff = vec![0i64; l + 1];
    let (mut s1, mut pairs) = (0f64, 0f64);
    let mut var_sum = 0f64;
    let mut m = vec![0f64; w];
    for nn in 0..n {
        let row = csr.row(nn);
        m.iter_mut().for_each(|v| *v = 0.0);
        for (i, &s) in row.iter().enumerate() {
            let (t0, t1) = window(s);
            if t1 <= t0 {
                continue;
            }
            diff[t0 as usize] += 1;
            diff[t1 as usize] -= 1;
            s1 += (t1 - t0) as f64;
            let start = s as isize + p as isize - w as isize + 1;
            for v in &mut m[(t0 - start) as usize..(t1 - start) as usize] {
                *v += 1.0;
            }
            for &s2 in &row[i + 1..] {
                let (u0, u1) = window(s2);
                if u0 >= t1 {
                    break;
                }
                pairs += 2.0 * (t1.min(u1) - t0.max(u0)).max(0) as f64;
            }
        }
        let tot: f64 = m.iter().sum();
        let sq: f64 = m.iter().map(|v| v * v).sum();
        var_sum += a_sq * sq + b_cross * (tot * tot - sq) - (tot / wf) * (tot / wf);
    }
    let mut c = 0i64;
    let mut sum_c2 = 0f64;
    for d in &diff[..l] {
        c += d;
        sum_c2 += (c * c) as f64;
    }
    let e_sum = s1 / wf;
    let e_sq = (sum_c2 - s1 - pairs) / (wf * wf) + a_sq * s1 + b_cross * pairs;
    let e_sum_sq = e_sum * e_sum + var_sum;
    let mean = e_sum / lf;
    let std = ((e_sq - e_sum_sq / lf) / (lf - 1.0)).max(0.0).sqrt();
    let alpha = mean + sigmas * std;
    if !alpha.is_finite() {
        return Err(ConvSeqError::NonFinite {
            what: "alpha",
            epoch: 0,
        });
    }
    Ok(NullStats {
        null: NullKind::RandomFilters,
        rule: opts.rule,
        n_samples: 0,
        mean,
        std,
        alpha,
    })
}

/// The original's α statistic (mean over filters of the projection mean, plus k × the mean
/// over filters of the projection's unbiased std) estimated from `opts.n_samples` random
/// filters with the exact moments of [`alpha_moments`] as control variates: the mean is the
/// exact E\[mean\], and the mean of the stds is corrected by the sampled filters' excess
/// variance, `mean(stdᵢ) − β·(mean(varᵢ) − E[var])` with β the least-squares slope of stdᵢ on
/// varᵢ. std is a smooth function of var over the narrow range the filters span (0.8 % at demo
/// size), so the correction removes nearly all of the Monte-Carlo spread and keeps the
/// Jensen gap that separates E\[std\] from sqrt(E\[var\]): a few hundred filters give what plain
/// sampling gives with 15 000 (measured in `docs/convseq.md`). Same filters as
/// [`alpha_random_filters`] (filters `0..n_samples`, tiled kernel), so seeded and the same on
/// any thread count. Needs ≥ 3 filters and the mean + k·σ rule.
///
/// # Example
/// ```
/// use spikelab_convseq::{AlphaOptions, null::{alpha_control_variate, alpha_random_filters}};
/// let ev: Vec<(usize, u64)> = (0..400u64).map(|i| ((i % 7) as usize, (i * 37) % 1000)).collect();
/// let r = spikelab_data::SparseRaster::from_events(7, 1000, 0.05, &ev)?;
/// let cv = alpha_control_variate(&r, 20, &AlphaOptions { n_samples: 200, ..Default::default() }, 1)?;
/// let mc = alpha_random_filters(&r, 20, &AlphaOptions { n_samples: 2000, ..Default::default() }, 1)?;
/// assert!((cv.alpha - mc.alpha).abs() < 1e-2 * mc.alpha);
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
pub fn alpha_control_variate(
    raster: &SparseRaster,
    width_bins: usize,
    opts: &AlphaOptions,
    seed: u64,
) -> Result<NullStats> {
    if opts.n_samples < 3 {
        return Err(ConvSeqError::param(
            "n_samples",
            "the control-variate null needs at least 3 filters",
        ));
    }
    let sigmas = mean_sigma(opts.rule)?;
    let exact = alpha_moments(raster, width_bins, opts)?;
    let per = tiled_per_filter(raster, width_bins, opts.n_samples, seed, simd::active())?;
    let k = per.len() as f64;
    let std_mean = per.iter().map(|x| x.1).sum::<f64>() / k;
    let var_mean = per.iter().map(|x| x.1 * x.1).sum::<f64>() / k;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for &(_, sd, _) in &per {
        let dv = sd * sd - var_mean;
        sxy += dv * (sd - std_mean);
        sxx += dv * dv;
    }
    let beta = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let std = std_mean - beta * (var_mean - exact.std * exact.std);
    let alpha = exact.mean + sigmas * std;
    if !alpha.is_finite() {
        return Err(ConvSeqError::NonFinite {
            what: "alpha",
            epoch: 0,
        });
    }
    Ok(NullStats {
        null: NullKind::RandomFiltersControlVariate,
        rule: opts.rule,
        n_samples: opts.n_samples,
        mean: exact.mean,
        std,
        alpha,
    })
}

/// k of the mean + k·σ rule; the max-quantile rule has no moment form.
fn mean_sigma(rule: ThresholdRule) -> Result<f64> {
    match rule {
        ThresholdRule::MeanSigma { sigmas } => Ok(sigmas),
        ThresholdRule::MaxQuantile { .. } => Err(ConvSeqError::param(
            "rule",
            "the moment nulls have no maximum; use ThresholdRule::MeanSigma or alpha_random_filters",
        )),
    }
}

/// E\[F₀²\] for F the softmax of `w` i.i.d. N(0, 1) logits:
/// ∫₀^∞ u ψ(u) φ(u)^{w−1} du with φ(u) = E\[e^{−u e^z}\] and ψ(u) = E\[e^{2z} e^{−u e^z}\],
/// by the trapezoid rule over z ∈ [−9, 9] (1 201 points) inside and v = ln u ∈ [−30, 12]
/// (2 101 points) outside (smooth, fast-decaying integrands: the rule converges
/// geometrically; tested against a direct integral at w = 2 and against sampling).
pub fn softmax_second_moment(w: usize) -> f64 {
    let (nz, zmax) = (1201usize, 9.0f64);
    let dz = 2.0 * zmax / (nz - 1) as f64;
    let zs: Vec<(f64, f64)> = (0..nz)
        .map(|i| {
            let z = -zmax + i as f64 * dz;
            let wt = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt() * dz;
            (z.exp(), wt)
        })
        .collect();
    let (nv, v0, v1) = (2101usize, -30.0f64, 12.0f64);
    let dv = (v1 - v0) / (nv - 1) as f64;
    let terms: Vec<f64> = (0..nv)
        .into_par_iter()
        .map(|i| {
            let u = (v0 + i as f64 * dv).exp();
            let (mut phi, mut psi) = (0.0, 0.0);
            for &(ez, wt) in &zs {
                let e = (-u * ez).exp() * wt;
                phi += e;
                psi += e * ez * ez;
            }
            // du = u dv.
            u * u * psi * phi.powi(w as i32 - 1) * dv
        })
        .collect();
    // Summed in order: the same bits on any thread count.
    terms.iter().sum()
}

/// Asks the CPU to bring `data` into the cache (a hint; no effect on results).
#[inline]
fn prefetch(data: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for line in data.chunks(16) {
        // SAFETY: prefetching is a hint that never faults; SSE is part of x86-64.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// [`alpha_random_filters`] with memory independent of the recording's length: each
/// projection is made in windows of `window` outputs by the same tiled kernel, from the
/// spikes of the window gathered straight from the raster, and its moments are accumulated
/// in the same lanes, so every output and the statistics are the same numbers.
pub(crate) fn alpha_random_filters_bounded(
    raster: &SparseRaster,
    width_bins: usize,
    opts: &AlphaOptions,
    seed: u64,
    window: usize,
) -> Result<NullStats> {
    let (n, w, p, l) = null_geometry(raster, width_bins)?;
    let window = window.min(l);
    let pool_rows = POOL_ROWS.max(n);
    let pool = softmax_pool(pool_rows, w, seed);
    let stride = padded_stride(w);
    let level = simd::active();
    let per: Vec<(f64, f64, f64)> = (0..opts.n_samples)
        .into_par_iter()
        .map_init(
            || (vec![0f32; n * stride], vec![0f32; window], Vec::new()),
            |(padded, buf, spikes), i| {
                draw_filter(&pool, pool_rows, w, seed, i, padded, stride, TILE);
                let mut m = MomentLanes::new();
                for a in (0..l).step_by(window) {
                    let out = &mut buf[..window.min(l - a)];
                    window_spikes(raster, w, p, a, a + out.len(), spikes);
                    project_tiles(level, spikes, padded, w, p, a, out);
                    m.add(a, out);
                }
                m.finish(l)
            },
        )
        .collect();
    finish(NullKind::RandomFilters, opts.rule, &per)
}

/// α for one learned filter from circularly shifted surrogate data (seqNMF-style null).
/// `filter` is the softmaxed filter `[N, W]` row-major.
///
/// # Example
/// ```
/// use spikelab_convseq::{AlphaOptions, null::alpha_circular_shift};
/// let ev: Vec<(usize, u64)> = (0..400u64).map(|i| ((i % 7) as usize, (i * 37) % 1000)).collect();
/// let r = spikelab_data::SparseRaster::from_events(7, 1000, 0.05, &ev)?;
/// let filt = vec![1.0 / 20.0; 7 * 20];
/// let opts = AlphaOptions { n_samples: 32, ..Default::default() };
/// let s = alpha_circular_shift(&r, &filt, 20, &opts, 3)?;
/// assert!(s.alpha > s.mean);
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
pub fn alpha_circular_shift(
    raster: &SparseRaster,
    filter: &[f64],
    width_bins: usize,
    opts: &AlphaOptions,
    seed: u64,
) -> Result<NullStats> {
    check_raster(raster)?;
    let (n, w, t) = (raster.n_neurons(), width_bins, raster.n_bins() as usize);
    if w < 2 || w > t {
        return Err(ConvSeqError::param("width_bins", "need 2 ≤ W ≤ T"));
    }
    if filter.len() != n * w {
        return Err(ConvSeqError::Shape {
            what: "filter".into(),
            expected: format!("N·W = {}", n * w),
            got: format!("{}", filter.len()),
        });
    }
    let p = w / 2;
    let l = t + 2 * p + 1 - w;
    let csr = Csr::new(raster);
    let mut rev = vec![0f32; n * w];
    for (dst, src) in rev.chunks_mut(w).zip(filter.chunks(w)) {
        for j in 0..w {
            dst[j] = src[w - 1 - j] as f32;
        }
    }
    let per: Vec<(f64, f64, f64)> = (0..opts.n_samples)
        .into_par_iter()
        .map_init(
            || vec![0f32; l],
            |buf, i| -> Result<(f64, f64, f64)> {
                let mut r = ChaCha8Rng::seed_from_u64(seed ^ 0x7368_6966);
                r.set_stream(i as u64 + 1);
                let shifts: Vec<usize> = (0..n).map(|_| r.random_range(0..t)).collect();
                let sur = csr.shifted(t, &shifts);
                buf.iter_mut().for_each(|v| *v = 0.0);
                scatter_range(&sur, &rev, w, p, 0, n, buf);
                Ok(moments(buf))
            },
        )
        .collect::<Result<_>>()?;
    finish(NullKind::CircularShift, opts.rule, &per)
}

/// Settings of [`alpha_random_filters_dense`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenseAlphaOptions {
    /// Element type of the filters, the unfolded raster and the GEMM (the raster is 0/1, so
    /// exact in any type). Per-filter sums are reduced in f64 either way.
    pub dtype: candle_core::DType,
    /// Filters per GEMM.
    pub batch: usize,
    /// On CUDA with `dtype` f32, let cuBLAS use TF32 tensor cores for the GEMM (inputs
    /// rounded to a 10-bit mantissa, f32 accumulation; PyTorch does the same by default for
    /// cuDNN convolutions). The filters' rounding error is ≤ 2⁻¹¹ relative, which moves α by
    /// ~1e-5 relative (measured in `docs/convseq.md`). Ignored on other devices.
    pub tf32: bool,
    /// Upper bound, in bytes, of the unfolded raster held on the device at once; longer
    /// recordings are processed in time chunks (the filters of each batch are re-drawn
    /// identically for every chunk).
    pub unfold_bytes: usize,
}

impl Default for DenseAlphaOptions {
    fn default() -> Self {
        DenseAlphaOptions {
            dtype: candle_core::DType::F32,
            batch: 500,
            tf32: true,
            unfold_bytes: 2 << 30,
        }
    }
}

/// Per-filter (Σ x̂, Σ x̂², max x̂) of the projections of the softmaxed filters `s`
/// (`[B, N, W]`, natural tap order: x̂[t] = Σₙ Σ_w s[n, w] · Xp[n, t + w]) on the padded
/// raster `xp` (`[N, R]`), as an unfold + GEMM in time chunks: for the chunk of outputs
/// `t0..t0 + Lc`, `U[w·N + n, j] = Xp[n, t0 + j + w]` (`[W·N, Lc]`) and
/// `x̂[t0 + j] = (s transposed to [B, W·N]) · U`. Sums are in f64.
fn unfold_stats(
    s: &candle_core::Tensor,
    unfolded: &[candle_core::Tensor],
) -> Result<Vec<(f64, f64, f64)>> {
    use candle_core::{DType, Tensor};
    let (b, n, w) = s.dims3()?;
    let s2 = s.transpose(1, 2)?.contiguous()?.reshape((b, w * n))?;
    let mut acc = vec![(0f64, 0f64, f64::NEG_INFINITY); b];
    for u in unfolded {
        let proj = s2.matmul(u)?.to_dtype(DType::F64)?; // [B, Lc]
        let sum = proj.sum_keepdim(1)?;
        let sq = proj.sqr()?.sum_keepdim(1)?;
        let mx = proj.max_keepdim(1)?;
        let all = Tensor::cat(&[&sum, &sq, &mx], 1)?.to_vec2::<f64>()?;
        for (a, r) in acc.iter_mut().zip(all) {
            a.0 += r[0];
            a.1 += r[1];
            a.2 = a.2.max(r[2]);
        }
    }
    Ok(acc)
}

/// The padded raster of `raster` unfolded on `device` in time chunks (`U` as in
/// [`unfold_stats`], each at most `opts.unfold_bytes`), and the projection length L.
fn unfold_raster(
    raster: &SparseRaster,
    w: usize,
    device: &candle_core::Device,
    opts: &DenseAlphaOptions,
) -> Result<(Vec<candle_core::Tensor>, usize)> {
    let n = raster.n_neurons();
    if w < 2 || w as u64 > raster.n_bins() {
        return Err(ConvSeqError::param("width_bins", "need 2 ≤ W ≤ T"));
    }
    let max_cols = max_cols(opts, n, w)?;
    let xp = crate::dense::padded_raster(raster, w / 2, opts.dtype, device)?;
    let l = raster.n_bins() as usize + 2 * (w / 2) + 1 - w;
    let mut out = Vec::new();
    let mut t0 = 0;
    while t0 < l {
        let lc = max_cols.min(l - t0);
        let taps = (0..w)
            .map(|v| xp.narrow(1, t0 + v, lc))
            .collect::<candle_core::Result<Vec<_>>>()?;
        out.push(candle_core::Tensor::cat(&taps, 0)?);
        t0 += lc;
    }
    Ok((out, l))
}

/// Per-filter moments `(mean, unbiased std, max)` of the projections of host-given
/// softmaxed filters (`[B, N, W]` row-major, natural tap order) computed by the dense
/// unfold + GEMM path of [`alpha_random_filters_dense`] on `device`. Exposed so that the
/// dense null can be checked against the sparse scatter on any device.
///
/// # Example
/// ```
/// use spikelab_convseq::null::{DenseAlphaOptions, dense_projection_moments};
/// let r = spikelab_data::SparseRaster::from_events(2, 50, 0.05, &[(0, 10), (1, 12), (0, 30)])?;
/// let filt = vec![0.25f32; 2 * 4]; // one filter, 2 neurons × 4 taps
/// let m = dense_projection_moments(&r, &filt, 4, &candle_core::Device::Cpu,
///                                  &DenseAlphaOptions::default())?;
/// assert_eq!(m.len(), 1);
/// assert!((m[0].2 - 0.5).abs() < 1e-6); // two spikes within one window
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
pub fn dense_projection_moments(
    raster: &SparseRaster,
    filters: &[f32],
    width_bins: usize,
    device: &candle_core::Device,
    opts: &DenseAlphaOptions,
) -> Result<Vec<(f64, f64, f64)>> {
    let (n, w) = (raster.n_neurons(), width_bins);
    if filters.is_empty() || n * w == 0 || !filters.len().is_multiple_of(n * w) {
        return Err(ConvSeqError::Shape {
            what: "filters".into(),
            expected: format!("a positive multiple of N·W = {}", n * w),
            got: format!("{}", filters.len()),
        });
    }
    let b = filters.len() / (n * w);
    let (chunks, l) = unfold_raster(raster, w, device, opts)?;
    let s = candle_core::Tensor::from_slice(filters, (b, n, w), &candle_core::Device::Cpu)?
        .to_dtype(opts.dtype)?
        .to_device(device)?;
    let _tf32 = Tf32Guard::set(opts.tf32);
    Ok(unfold_stats(&s, &chunks)?
        .into_iter()
        .map(|a| finish_moments(a, l))
        .collect())
}

fn max_cols(opts: &DenseAlphaOptions, n: usize, w: usize) -> Result<usize> {
    if opts.batch == 0 {
        return Err(ConvSeqError::param("batch", "must be ≥ 1"));
    }
    let per_col = n * w * opts.dtype.size_in_bytes();
    let cols = opts.unfold_bytes / per_col;
    if cols == 0 {
        return Err(ConvSeqError::param(
            "unfold_bytes",
            "smaller than one unfolded column (N·W elements)",
        ));
    }
    Ok(cols)
}

fn finish_moments((sum, sq, mx): (f64, f64, f64), l: usize) -> (f64, f64, f64) {
    let lf = l as f64;
    let mean = sum / lf;
    let var = ((sq - sum * mean) / (lf - 1.0)).max(0.0);
    (mean, var.sqrt(), mx)
}

/// α from random softmax filters computed with the dense path on a candle device (meant
/// for GPUs; on the CPU [`alpha_random_filters`] is faster). Per batch of filters, the
/// logits are drawn i.i.d. N(0, 1) (on CUDA with the device generator re-seeded per batch
/// from `seed`, elsewhere with a seeded ChaCha stream per batch), softmaxed over taps, and
/// projected by one GEMM against the unfolded raster (see [`DenseAlphaOptions`]); only
/// `3 × batch` numbers per batch and time chunk come back to the host. The draws differ
/// from the CPU null's, so α agrees with [`alpha_random_filters`] to Monte-Carlo precision
/// (~1e-3 relative at 15 000 filters), not bit for bit.
pub fn alpha_random_filters_dense(
    raster: &SparseRaster,
    width_bins: usize,
    opts: &AlphaOptions,
    seed: u64,
    device: &candle_core::Device,
    dense: &DenseAlphaOptions,
) -> Result<NullStats> {
    check_raster(raster)?;
    let (n, w) = (raster.n_neurons(), width_bins);
    let (chunks, l) = unfold_raster(raster, w, device, dense)?;
    let _tf32 = Tf32Guard::set(dense.tf32);
    let mut per = Vec::with_capacity(opts.n_samples);
    let mut done = 0;
    let mut batch_idx = 0u64;
    while done < opts.n_samples {
        let b = dense.batch.min(opts.n_samples - done);
        let bseed = seed ^ 0x6465_6e73_0000_0000 ^ batch_idx;
        let z = if device.is_cpu() {
            let mut rng = ChaCha8Rng::seed_from_u64(bseed);
            let v: Vec<f32> = (0..b * n * w)
                .map(|_| StandardNormal.sample(&mut rng))
                .collect();
            candle_core::Tensor::from_vec(v, (b, n, w), device)?
        } else {
            device.set_seed(bseed)?;
            candle_core::Tensor::randn(0f32, 1f32, (b, n, w), device)?
        };
        let s = candle_nn::ops::softmax_last_dim(&z.to_dtype(dense.dtype)?)?;
        per.extend(
            unfold_stats(&s, &chunks)?
                .into_iter()
                .map(|a| finish_moments(a, l)),
        );
        done += b;
        batch_idx += 1;
    }
    finish(NullKind::RandomFilters, opts.rule, &per)
}

/// Checks the raster and filter width of a null and returns (N, W, P = W/2, L = T + 2P + 1 − W).
fn null_geometry(raster: &SparseRaster, width_bins: usize) -> Result<(usize, usize, usize, usize)> {
    check_raster(raster)?;
    let (n, w) = (raster.n_neurons(), width_bins);
    if w < 2 || w as u64 > raster.n_bins() {
        return Err(ConvSeqError::param("width_bins", "need 2 ≤ W ≤ T"));
    }
    let p = w / 2;
    Ok((n, w, p, raster.n_bins() as usize + 2 * p + 1 - w))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small raster with spikes on the first and last bins, bursts (several spikes of one
    /// neuron within W) and coincident spikes of different neurons.
    fn raster(n: usize, t: u64) -> SparseRaster {
        let mut ev = vec![(0, 0), (n - 1, t - 1), (1, 0), (2, t - 1)];
        for i in 0..(t * n as u64 / 9) {
            ev.push(((i as usize * 7) % n, (i * 7919 + i * i) % t));
        }
        for k in 0..6 {
            ev.push((3, 100 + k));
        }
        SparseRaster::from_events(n, t, 0.01, &ev).unwrap()
    }

    /// Every output of the tiled kernel, at every SIMD level, equals the plain scatter's to
    /// f32 rounding of sums of ≤ a few dozen positive terms (only the order differs), and all
    /// levels give the same bits; geometries with W below, at and above the tile, odd W, and
    /// a last tile cut short.
    #[test]
    fn tiled_projection_matches_the_plain_scatter_at_every_level() {
        for (n, t, w) in [
            (9usize, 700u64, 20usize),
            (5, 333, 64),
            (12, 1000, 131),
            (4, 260, 200),
        ] {
            let r = raster(n, t);
            let (_, _, p, l) = null_geometry(&r, w).unwrap();
            let csr = Csr::new(&r);
            let by_time = time_ordered(&csr);
            let pool_rows = 64usize.max(n);
            let pool = softmax_pool(pool_rows, w, 5);
            let stride = padded_stride(w);
            for i in 0..3 {
                let mut rev = vec![0f32; n * w];
                draw_filter(&pool, pool_rows, w, 5, i, &mut rev, w, 0);
                let mut padded = vec![0f32; n * stride];
                draw_filter(&pool, pool_rows, w, 5, i, &mut padded, stride, TILE);
                let mut want = vec![0f32; l];
                scatter_range(&csr, &rev, w, p, 0, n, &mut want);
                let mut first: Option<Vec<f32>> = None;
                for level in SimdLevel::supported() {
                    let mut got = vec![f32::NAN; l];
                    project_tiles(level, &by_time, &padded, w, p, 0, &mut got);
                    for (k, (&g, &e)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (g - e).abs() <= 2e-6 * e.max(1.0),
                            "{level} n {n} w {w} filter {i} output {k}: {g} vs {e}"
                        );
                    }
                    match &first {
                        None => first = Some(got),
                        Some(f) => assert!(
                            f.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()),
                            "{level} differs from the portable build"
                        ),
                    }
                }
            }
        }
    }

    /// A = E\[F₀²\] at w = 2 is E\[σ(z₀ − z₁)²\] = E\[σ(√2·x)²\], x ~ N(0, 1): a direct integral.
    #[test]
    fn softmax_second_moment_at_two_taps_matches_a_direct_integral() {
        let (nx, xmax) = (20_001usize, 12.0f64);
        let dx = 2.0 * xmax / (nx - 1) as f64;
        let direct: f64 = (0..nx)
            .map(|i| {
                let x = -xmax + i as f64 * dx;
                let sig = 1.0 / (1.0 + (-(2f64.sqrt()) * x).exp());
                sig * sig * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt() * dx
            })
            .sum();
        let a = softmax_second_moment(2);
        assert!((a - direct).abs() < 1e-9, "{a} vs {direct}");
    }

    /// A at the demo's W = 200 against the mean of F² over the 65 536 × 200 sampled taps of the
    /// pool (standard error from the sample, 4 σ).
    #[test]
    fn softmax_second_moment_matches_sampling() {
        let w = 200;
        let pool = softmax_pool(POOL_ROWS, w, 11);
        let sq: Vec<f64> = pool.iter().map(|&v| v as f64 * v as f64).collect();
        let k = sq.len() as f64;
        let mean = sq.iter().sum::<f64>() / k;
        let sd = (sq.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (k - 1.0)).sqrt();
        let a = softmax_second_moment(w);
        assert!(
            (a - mean).abs() < 4.0 * sd / k.sqrt(),
            "{a} vs {mean} ± {}",
            sd / k.sqrt()
        );
    }

    /// The exact moments against the per-filter Monte-Carlo moments of the same null on a
    /// small raster: E\[mean\] and E\[var\] within 4 standard errors of the sample means, and
    /// sqrt(E\[var\]) ≥ the mean of the stds.
    #[test]
    fn exact_moments_match_the_monte_carlo_null() {
        let (n, w) = (10usize, 30usize);
        let r = raster(n, 900);
        let (_, _, p, l) = null_geometry(&r, w).unwrap();
        let by_time = time_ordered(&Csr::new(&r));
        let pool_rows = POOL_ROWS.max(n);
        let pool = softmax_pool(pool_rows, w, 4);
        let stride = padded_stride(w);
        let ns = 4000usize;
        let per: Vec<(f64, f64)> = (0..ns)
            .map(|i| {
                let mut padded = vec![0f32; n * stride];
                draw_filter(&pool, pool_rows, w, 4, i, &mut padded, stride, TILE);
                let mut buf = vec![0f32; l];
                project_tiles(SimdLevel::Scalar, &by_time, &padded, w, p, 0, &mut buf);
                let mut m = MomentLanes::new();
                m.add(0, &buf);
                let (mean, std, _) = m.finish(l);
                (mean, std * std)
            })
            .collect();
        let exact = alpha_moments(&r, w, &AlphaOptions::default()).unwrap();
        let stats = |f: &dyn Fn(&(f64, f64)) -> f64| {
            let v: Vec<f64> = per.iter().map(f).collect();
            let m = v.iter().sum::<f64>() / ns as f64;
            let sd = (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (ns - 1) as f64).sqrt();
            (m, sd / (ns as f64).sqrt())
        };
        let (mc_mean, se_mean) = stats(&|x| x.0);
        let (mc_var, se_var) = stats(&|x| x.1);
        assert!(
            (exact.mean - mc_mean).abs() < 4.0 * se_mean + 1e-12,
            "mean {} vs {mc_mean} ± {se_mean}",
            exact.mean
        );
        let e_var = exact.std * exact.std;
        assert!(
            (e_var - mc_var).abs() < 4.0 * se_var,
            "var {e_var} vs {mc_var} ± {se_var}"
        );
        let mean_std = per.iter().map(|x| x.1.sqrt()).sum::<f64>() / ns as f64;
        assert!(exact.std >= mean_std - 4.0 * se_var / (2.0 * exact.std));
        assert!(matches!(
            alpha_moments(
                &r,
                w,
                &AlphaOptions {
                    rule: ThresholdRule::MaxQuantile { q: 0.99 },
                    ..Default::default()
                }
            ),
            Err(ConvSeqError::InvalidParameter { .. })
        ));
    }

    /// The control-variate α from 200 filters against plain sampling of 4 000 filters on a
    /// small raster: within 4 standard errors of the latter (its per-filter spread / √4000);
    /// bad settings are typed errors.
    #[test]
    fn control_variate_matches_plain_sampling() {
        let (n, w) = (10usize, 30usize);
        let r = raster(n, 900);
        let per = tiled_per_filter(&r, w, 4000, 6, SimdLevel::Scalar).unwrap();
        let k = per.len() as f64;
        let a: Vec<f64> = per.iter().map(|x| x.0 + 5.0 * x.1).collect();
        let m = a.iter().sum::<f64>() / k;
        let se = (a.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (k - 1.0)).sqrt() / k.sqrt();
        let opts = AlphaOptions {
            n_samples: 200,
            ..Default::default()
        };
        let cv = alpha_control_variate(&r, w, &opts, 7).unwrap();
        assert!(
            (cv.alpha - m).abs() < 4.0 * se,
            "{} vs {m} ± {se}",
            cv.alpha
        );
        assert_eq!(cv.n_samples, 200);
        for bad in [
            AlphaOptions {
                n_samples: 2,
                ..Default::default()
            },
            AlphaOptions {
                rule: ThresholdRule::MaxQuantile { q: 0.99 },
                ..opts
            },
        ] {
            assert!(matches!(
                alpha_control_variate(&r, w, &bad, 7),
                Err(ConvSeqError::InvalidParameter { .. })
            ));
        }
    }

    /// α of the tiled kernel agrees with the plain scatter's to f32 rounding, at every level,
    /// bit for bit across levels, and the windowed version gives the same bits for any window.
    #[test]
    fn tiled_alpha_matches_reference_levels_and_windows() {
        let r = raster(10, 900);
        let opts = AlphaOptions {
            n_samples: 40,
            ..Default::default()
        };
        let reference = alpha_random_filters_reference(&r, 30, &opts, 2).unwrap();
        let best = alpha_random_filters(&r, 30, &opts, 2).unwrap();
        for (a, b) in [
            (best.mean, reference.mean),
            (best.std, reference.std),
            (best.alpha, reference.alpha),
        ] {
            assert!((a - b).abs() < 1e-6 * b.abs(), "{a} vs {b}");
        }
        for level in SimdLevel::supported() {
            assert_eq!(
                alpha_random_filters_at(&r, 30, &opts, 2, level).unwrap(),
                best,
                "{level}"
            );
        }
        for window in [1usize, 7, 63, 64, 65, 500, 10_000] {
            assert_eq!(
                alpha_random_filters_bounded(&r, 30, &opts, 2, window).unwrap(),
                best,
                "window {window}"
            );
        }
    }
}
