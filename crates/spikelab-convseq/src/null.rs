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

use crate::error::{ConvSeqError, Result};
use crate::params::{AlphaOptions, NullKind, ThresholdRule};
use crate::raster::SpikeRaster;
use crate::sparse::scatter_range;

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

/// α from random softmax filters on the same data (the original's null), on the CPU.
///
/// # Example
/// ```
/// use spikelab_convseq::{AlphaOptions, SpikeRaster, null::alpha_random_filters};
/// let ev: Vec<(usize, usize)> = (0..400).map(|i| (i % 7, (i * 37) % 1000)).collect();
/// let r = SpikeRaster::from_events(7, 1000, 0.05, &ev)?;
/// let opts = AlphaOptions { n_samples: 64, ..Default::default() };
/// let s = alpha_random_filters(&r, 20, &opts, 1)?;
/// assert!(s.alpha > s.mean && s.std > 0.0);
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
pub fn alpha_random_filters(
    raster: &SpikeRaster,
    width_bins: usize,
    opts: &AlphaOptions,
    seed: u64,
) -> Result<NullStats> {
    raster.require_spikes()?;
    let (n, w) = (raster.n_neurons(), width_bins);
    if w < 2 || w > raster.n_bins() {
        return Err(ConvSeqError::param("width_bins", "need 2 ≤ W ≤ T"));
    }
    let p = w / 2;
    let l = raster.n_bins() + 2 * p + 1 - w;
    let pool_rows = POOL_ROWS.max(n);
    // Pool of softmax rows, drawn in parallel chunks with one ChaCha stream per chunk
    // (deterministic for any thread count).
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
    let per: Vec<(f64, f64, f64)> = (0..opts.n_samples)
        .into_par_iter()
        .map_init(
            || (vec![0f32; n * w], vec![0f32; l]),
            |(rev, buf), i| {
                let mut r = ChaCha8Rng::seed_from_u64(seed);
                r.set_stream(i as u64 + 1);
                let rows = sample_indices(&mut r, pool_rows, n);
                for (dst, src) in rev.chunks_mut(w).zip(rows.iter()) {
                    let shift = r.random_range(0..w);
                    let src = &pool[src * w..(src + 1) * w];
                    dst[..w - shift].copy_from_slice(&src[shift..]);
                    dst[w - shift..].copy_from_slice(&src[..shift]);
                }
                buf.iter_mut().for_each(|v| *v = 0.0);
                scatter_range(raster, rev, w, p, 0, n, buf);
                moments(buf)
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
/// use spikelab_convseq::{AlphaOptions, SpikeRaster, null::alpha_circular_shift};
/// let ev: Vec<(usize, usize)> = (0..400).map(|i| (i % 7, (i * 37) % 1000)).collect();
/// let r = SpikeRaster::from_events(7, 1000, 0.05, &ev)?;
/// let filt = vec![1.0 / 20.0; 7 * 20];
/// let opts = AlphaOptions { n_samples: 32, ..Default::default() };
/// let s = alpha_circular_shift(&r, &filt, 20, &opts, 3)?;
/// assert!(s.alpha > s.mean);
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
pub fn alpha_circular_shift(
    raster: &SpikeRaster,
    filter: &[f64],
    width_bins: usize,
    opts: &AlphaOptions,
    seed: u64,
) -> Result<NullStats> {
    raster.require_spikes()?;
    let (n, w, t) = (raster.n_neurons(), width_bins, raster.n_bins());
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
                let mut ev = Vec::with_capacity(raster.n_spikes());
                for nn in 0..n {
                    let sh = r.random_range(0..t);
                    ev.extend(
                        raster
                            .neuron(nn)
                            .iter()
                            .map(|&b| (nn, (b as usize + sh) % t)),
                    );
                }
                let sur = SpikeRaster::from_events(n, t, raster.bin_s(), &ev)?;
                buf.iter_mut().for_each(|v| *v = 0.0);
                scatter_range(&sur, &rev, w, p, 0, n, buf);
                Ok(moments(buf))
            },
        )
        .collect::<Result<_>>()?;
    finish(NullKind::CircularShift, opts.rule, &per)
}

/// α from random softmax filters computed with the dense path on a candle device (meant
/// for GPUs; on the CPU use [`alpha_random_filters`]). Logits are drawn on the device
/// (i.i.d. N(0, 1), seeded with `device.set_seed`), `batch` filters per GEMM, all in
/// `dtype`; per-filter mean/std/max are reduced on the device and only `3 × batch`
/// numbers come back per batch.
pub fn alpha_random_filters_dense(
    raster: &SpikeRaster,
    width_bins: usize,
    opts: &AlphaOptions,
    seed: u64,
    device: &candle_core::Device,
    dtype: candle_core::DType,
    batch: usize,
) -> Result<NullStats> {
    raster.require_spikes()?;
    let w = width_bins;
    if w < 2 || w > raster.n_bins() {
        return Err(ConvSeqError::param("width_bins", "need 2 ≤ W ≤ T"));
    }
    if batch == 0 {
        return Err(ConvSeqError::param("batch", "must be ≥ 1"));
    }
    let n = raster.n_neurons();
    device.set_seed(seed)?;
    let xp = crate::dense::padded_raster(raster, w / 2, dtype, device)?;
    let mut per = Vec::with_capacity(opts.n_samples);
    let mut done = 0;
    while done < opts.n_samples {
        let b = batch.min(opts.n_samples - done);
        let z = candle_core::Tensor::randn(0f32, 1f32, (b, n, w), device)?.to_dtype(dtype)?;
        let s = candle_nn::ops::softmax_last_dim(&z)?;
        let proj = crate::dense::project_dense(&s, &xp, false)?; // [b, L]
        let mean = proj.mean_keepdim(1)?;
        let sd = proj.var_keepdim(1)?.sqrt()?;
        let mx = proj.max_keepdim(1)?;
        let all = candle_core::Tensor::cat(&[&mean, &sd, &mx], 1)?
            .to_dtype(candle_core::DType::F64)?
            .to_vec2::<f64>()?;
        per.extend(all.into_iter().map(|r| (r[0], r[1], r[2])));
        done += b;
    }
    finish(NullKind::RandomFilters, opts.rule, &per)
}
