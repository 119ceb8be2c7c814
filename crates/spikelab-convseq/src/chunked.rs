//! Data parallelism over time: the raster is cut into overlapping time chunks, one per
//! shard (a GPU rank, a process, a thread), and an epoch needs only two sums over shards.
//!
//! The loss of filter k is `−var(x_k) + TV_l·TV(x_k) + filt_TV_l·fTV(S_k)` over the L
//! projection outputs `x_k(t) = Σ_n Σ_j S_k[n, j]·spike(n, t − P + j)`. Output t reads the
//! bins `t − P … t − P + W − 1`, so a shard that owns the outputs `a..b` needs the bins
//! `a − P … b − P + W` (one output beyond `b` for the first difference that crosses
//! into the next shard): consecutive chunks overlap by W bins. Per epoch:
//!
//! 1. every shard projects its chunk and returns `Σ_t x_k(t)` over the outputs it owns;
//!    **sum over shards** (K numbers) gives the global means `μ_k`;
//! 2. every shard returns, over its outputs, `Σ (x_k − μ_k)²`, `Σ (x_k(t+1) − x_k(t))²` and
//!    its part of `∂(−var + TV_l·TV)/∂S` (the gradient gather of its outputs'
//!    `∂/∂x_k(t) = −2(x_k(t) − μ_k)/(L − 1) + TV terms`); **sum over shards** (2K + K·N·W
//!    numbers) gives the global variance, TV and gradient;
//! 3. every shard's [`Replica`] adds the filter-TV term and the softmax Jacobian and takes
//!    the same Adam step, so the logits stay identical on every shard.
//!
//! The sums are an all-reduce between processes (NCCL between GPUs) or a plain sum in one
//! process ([`ChunkedEngine`], the CPU backend, which equals [`SparseEngine`] up to the
//! summation order). The K > 1 pair terms need whole projections and are refused.
//!
//! [`SparseEngine`]: crate::SparseEngine
//!
//! ```
//! use spikelab_convseq::chunked::{Replica, Shard, plan_time_chunks};
//! use spikelab_convseq::{ConvSeqParams, SparseRaster, init_logits};
//! let ev: Vec<(usize, u64)> = (0..600u64).map(|i| ((i % 5) as usize, (i * 37) % 3000)).collect();
//! let raster = SparseRaster::from_events(5, 3000, 0.01, &ev)?;
//! let params = ConvSeqParams { width_bins: 40, ..Default::default() };
//! let logits = init_logits(1, 5, 40, 0);
//! // Two shards, as two processes would hold them; each process also holds a replica.
//! let mut shards: Vec<Shard> = plan_time_chunks(3000, &params, 2)?
//!     .into_iter()
//!     .map(|c| Shard::new(&raster, &params, c))
//!     .collect::<Result<_, _>>()?;
//! let mut replica = Replica::new(params.clone(), 3000, logits)?;
//! for _ in 0..5 {
//!     let s = replica.filters().to_vec();
//!     let sums = all_reduce(shards.iter_mut().map(|sh| sh.forward(&s)).collect());
//!     let means = replica.means(&sums);
//!     let reduced = all_reduce(shards.iter().map(|sh| sh.backward(&means)).collect());
//!     let loss = replica.step(&reduced)?;
//!     assert!(loss.total.is_finite());
//! }
//! /// Stands in for NCCL's all-reduce (sum).
//! fn all_reduce(parts: Vec<Vec<f64>>) -> Vec<f64> {
//!     let mut out = vec![0.0; parts[0].len()];
//!     for p in parts { for (o, v) in out.iter_mut().zip(p) { *o += v; } }
//!     out
//! }
//! # Ok::<(), spikelab_convseq::ConvSeqError>(())
//! ```

use std::ops::Range;

use ndarray::{Array2, Array3};
use spikelab_data::SparseRaster;

use crate::engine::{Engine, adam_step, check_logits};
use crate::error::{ConvSeqError, Result};
use crate::loss::{LossTerms, filter_tv, softmax_backward, softmax_rows};
use crate::params::ConvSeqParams;
use crate::sparse::{self, Csr};

/// One shard's part of the time axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeChunk {
    /// The projection outputs the shard owns (its moments and gradient terms).
    pub outputs: Range<usize>,
    /// The raster bins it reads (the outputs `outputs.start ..= outputs.end`, the last only
    /// when it exists, need `outputs.start − P … outputs.end − P + W`, clipped to the
    /// recording).
    pub bins: Range<usize>,
}

/// Cuts the L outputs of a `n_bins`-bin recording into `n_shards` contiguous chunks of
/// nearly equal length (each at least W outputs).
///
/// ```
/// use spikelab_convseq::{ConvSeqParams, chunked::plan_time_chunks};
/// let p = ConvSeqParams { width_bins: 100, ..Default::default() };
/// let c = plan_time_chunks(10_000, &p, 3)?;
/// assert_eq!((c[0].outputs.start, c[2].outputs.end), (0, 10_001)); // L = T + 2·(W/2) + 1 − W
/// assert_eq!(c[1].bins.start, c[1].outputs.start - 50);
/// assert!(c[0].bins.end - c[1].bins.start >= 100); // overlap ≥ W
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
pub fn plan_time_chunks(
    n_bins: usize,
    params: &ConvSeqParams,
    n_shards: usize,
) -> Result<Vec<TimeChunk>> {
    let (w, p) = (params.width_bins, params.padding());
    if n_shards == 0 {
        return Err(ConvSeqError::param("n_shards", "need at least one shard"));
    }
    if n_bins < w {
        return Err(ConvSeqError::InvalidRaster(format!(
            "{n_bins} bins are fewer than the filter width W = {w}"
        )));
    }
    let l = params.output_len(n_bins);
    if l < n_shards * w {
        return Err(ConvSeqError::param(
            "n_shards",
            format!("{n_shards} shards of ≥ W = {w} outputs do not fit in L = {l} outputs"),
        ));
    }
    Ok((0..n_shards)
        .map(|r| {
            let outputs = r * l / n_shards..(r + 1) * l / n_shards;
            TimeChunk {
                bins: bins_for(&outputs, l, w, p, n_bins),
                outputs,
            }
        })
        .collect())
}

/// The bins that the outputs `a..b` and output `b` (when `b < l`) read.
fn bins_for(outputs: &Range<usize>, l: usize, w: usize, p: usize, n_bins: usize) -> Range<usize> {
    let last = outputs.end.min(l - 1);
    outputs.start.saturating_sub(p)..(last + w - p).min(n_bins)
}

/// Number of values in a shard's reduction buffer ([`Shard::backward`]): 2K + K·N·W.
pub fn reduced_len(params: &ConvSeqParams, n_neurons: usize) -> usize {
    let k = params.n_filters;
    2 * k + k * n_neurons * params.width_bins
}

/// One shard: its time chunk of the raster and its projections.
pub struct Shard {
    chunk: TimeChunk,
    csr: Csr,
    by_time: Vec<(u32, u32)>,
    k: usize,
    w: usize,
    p: usize,
    tv_l: f64,
    /// Output length of the whole recording.
    l_total: usize,
    /// Local output index of the first owned output.
    off: usize,
    /// Local outputs 0..len of every filter, `[K, len]`.
    proj: Vec<f64>,
    len: usize,
}

impl Shard {
    /// The shard of `raster` for `chunk` (from [`plan_time_chunks`]).
    pub fn new(raster: &SparseRaster, params: &ConvSeqParams, chunk: TimeChunk) -> Result<Self> {
        params.validate_for(raster)?;
        refuse_pair_terms(params)?;
        let t = raster.n_bins() as usize;
        let (w, p) = (params.width_bins, params.padding());
        let l_total = params.output_len(t);
        let (a, b) = (chunk.outputs.start, chunk.outputs.end);
        let want = bins_for(&chunk.outputs, l_total, w, p, t);
        if a >= b || b > l_total || chunk.bins != want {
            return Err(ConvSeqError::param(
                "chunk",
                format!(
                    "outputs {:?} with bins {:?} do not fit a recording of {t} bins (L = {l_total}; bins should be {want:?})",
                    chunk.outputs, chunk.bins
                ),
            ));
        }
        let slice = raster.slice_bins(chunk.bins.start as u64, chunk.bins.end as u64)?;
        let csr = Csr::new(&slice);
        let off = a - chunk.bins.start;
        let len = b.min(l_total - 1) + 1 - chunk.bins.start;
        Ok(Shard {
            by_time: sparse::time_ordered(&csr),
            csr,
            k: params.n_filters,
            w,
            p,
            tv_l: params.tv_l,
            l_total,
            off,
            proj: vec![0.0; params.n_filters * len],
            len,
            chunk,
        })
    }

    /// The shard's time chunk.
    pub fn chunk(&self) -> &TimeChunk {
        &self.chunk
    }

    /// Phase 1: projects the softmaxed filters `s` (`[K, N, W]` row-major, e.g.
    /// [`Replica::filters`]) and returns `Σ_t x_k(t)` over the owned outputs, per filter.
    pub fn forward(&mut self, s: &[f64]) -> Vec<f64> {
        let mut proj = std::mem::take(&mut self.proj);
        self.project_into(s, &mut proj);
        let owned = self.chunk.outputs.len();
        let sums = proj
            .chunks(self.len)
            .map(|x| x[self.off..self.off + owned].iter().sum())
            .collect();
        self.proj = proj;
        sums
    }

    /// The local outputs `0..len` of every filter into `proj` (`[K, len]`).
    fn project_into(&self, s: &[f64], proj: &mut [f64]) {
        let (w, n) = (self.w, self.csr.n_neurons());
        let mut rev = vec![0.0; n * w];
        for (f, out) in proj.chunks_mut(self.len).enumerate() {
            for (dst, src) in rev
                .chunks_mut(w)
                .zip(s[f * n * w..(f + 1) * n * w].chunks(w))
            {
                for j in 0..w {
                    dst[j] = src[w - 1 - j];
                }
            }
            sparse::project(&self.by_time, &rev, w, self.p, out);
        }
    }

    /// The owned outputs of `proj` (`[K, len]`), `[K, outputs.len()]` row-major.
    fn owned(&self, proj: &[f64]) -> Vec<f64> {
        let owned = self.chunk.outputs.len();
        proj.chunks(self.len)
            .flat_map(|x| x[self.off..self.off + owned].iter().copied())
            .collect()
    }

    /// Phase 2, after [`Shard::forward`]: with the global means (`Σ` of every shard's
    /// phase-1 sums / L, [`Replica::means`]), this shard's reduction buffer
    /// ([`reduced_len`] values): per filter `Σ (x − μ)²` over the owned outputs, per filter
    /// `Σ (x(t+1) − x(t))²` over the owned t with t + 1 < L, then the shard's part of
    /// `∂(−var + TV_l·TV)/∂S` (`[K, N, W]`).
    pub fn backward(&self, means: &[f64]) -> Vec<f64> {
        let (k, w, n) = (self.k, self.w, self.csr.n_neurons());
        let lm1 = (self.l_total - 1) as f64;
        let (cv, ct) = (-2.0 / lm1, self.tv_l * 2.0 / lm1);
        let owned = self.chunk.outputs.len();
        let pairs = owned.min(self.len - 1 - self.off);
        let mut out = vec![0.0; 2 * k + k * n * w];
        let mut g = vec![0.0; self.len];
        let mut grev = vec![0.0; n * w];
        for f in 0..k {
            let x = &self.proj[f * self.len..(f + 1) * self.len];
            g.iter_mut().for_each(|v| *v = 0.0);
            let (mut ss, mut tv) = (0.0, 0.0);
            for t in self.off..self.off + owned {
                let d = x[t] - means[f];
                ss += d * d;
                g[t] += cv * d;
            }
            for t in self.off..self.off + pairs {
                let d = x[t + 1] - x[t];
                tv += d * d;
                g[t] -= ct * d;
                g[t + 1] += ct * d;
            }
            out[f] = ss;
            out[k + f] = tv;
            sparse::gather(&self.csr, &g, w, self.p, &mut grev);
            let dst = &mut out[2 * k + f * n * w..2 * k + (f + 1) * n * w];
            for (drow, grow) in dst.chunks_mut(w).zip(grev.chunks(w)) {
                for j in 0..w {
                    drow[j] = grow[w - 1 - j];
                }
            }
        }
        out
    }

    /// The owned outputs of the last [`Shard::forward`], `[K, outputs.len()]` row-major.
    pub fn owned_projections(&self) -> Vec<f64> {
        self.owned(&self.proj)
    }
}

/// The state every shard holds identically: logits, Adam moments, the step count.
pub struct Replica {
    params: ConvSeqParams,
    n: usize,
    l_total: usize,
    theta: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
    s: Vec<f64>,
    step: usize,
}

impl Replica {
    /// A replica at `logits` (`[K, N, W]` row-major) for a recording of `n_bins` bins.
    pub fn new(params: ConvSeqParams, n_bins: usize, logits: Vec<f64>) -> Result<Self> {
        params.validate()?;
        refuse_pair_terms(&params)?;
        let kw = params.n_filters * params.width_bins;
        if logits.is_empty() || !logits.len().is_multiple_of(kw) {
            return Err(ConvSeqError::Shape {
                what: "logits".into(),
                expected: format!("a multiple of K·W = {kw} values"),
                got: format!("{}", logits.len()),
            });
        }
        if n_bins < params.width_bins {
            return Err(ConvSeqError::InvalidRaster(format!(
                "{n_bins} bins are fewer than the filter width W = {}",
                params.width_bins
            )));
        }
        let n = logits.len() / kw;
        let mut s = vec![0.0; logits.len()];
        softmax_rows(&logits, params.width_bins, &mut s);
        Ok(Replica {
            l_total: params.output_len(n_bins),
            n,
            m: vec![0.0; logits.len()],
            v: vec![0.0; logits.len()],
            theta: logits,
            s,
            step: 0,
            params,
        })
    }

    /// Softmaxed filters `[K, N, W]` at the current logits.
    pub fn filters(&self) -> &[f64] {
        &self.s
    }

    /// Current logits `[K, N, W]`.
    pub fn logits(&self) -> &[f64] {
        &self.theta
    }

    /// Global means from the summed phase-1 values.
    pub fn means(&self, sums: &[f64]) -> Vec<f64> {
        sums.iter().map(|v| v / self.l_total as f64).collect()
    }

    /// Loss terms and `∂loss/∂θ` (`[K, N, W]`) from the summed phase-2 buffers.
    pub fn loss_and_grad(&self, reduced: &[f64]) -> Result<(LossTerms, Vec<f64>)> {
        let (k, n, w) = (self.params.n_filters, self.n, self.params.width_bins);
        if reduced.len() != 2 * k + k * n * w {
            return Err(ConvSeqError::Shape {
                what: "reduced buffer".into(),
                expected: format!("2K + K·N·W = {} values", 2 * k + k * n * w),
                got: format!("{}", reduced.len()),
            });
        }
        let lm1 = (self.l_total - 1) as f64;
        let mut gs = reduced[2 * k..].to_vec();
        let mut terms = LossTerms::default();
        for f in 0..k {
            let (var, tv) = (reduced[f] / lm1, reduced[k + f] / lm1);
            let ftv = filter_tv(
                &self.s[f * n * w..(f + 1) * n * w],
                w,
                self.params.filt_tv_l,
                &mut gs[f * n * w..(f + 1) * n * w],
            );
            terms.total += -var + self.params.tv_l * tv + self.params.filt_tv_l * ftv;
            terms.var.push(var);
            terms.tv.push(tv);
            terms.filt_tv.push(ftv);
        }
        if !terms.total.is_finite() {
            return Err(ConvSeqError::NonFinite {
                what: "loss",
                epoch: self.step,
            });
        }
        let mut gz = vec![0.0; gs.len()];
        softmax_backward(&self.s, &gs, w, &mut gz);
        Ok((terms, gz))
    }

    /// One Adam step from the summed phase-2 buffers; returns the loss before the step.
    pub fn step(&mut self, reduced: &[f64]) -> Result<LossTerms> {
        let (terms, gz) = self.loss_and_grad(reduced)?;
        self.step += 1;
        adam_step(
            &self.params,
            self.step,
            &gz,
            (&mut self.theta, &mut self.m, &mut self.v),
        );
        softmax_rows(&self.theta, self.params.width_bins, &mut self.s);
        Ok(terms)
    }
}

fn refuse_pair_terms(params: &ConvSeqParams) -> Result<()> {
    if params.has_pair_terms() {
        return Err(ConvSeqError::param(
            "n_filters",
            "the K > 1 pair terms need whole projections: time-chunked training runs them at 0",
        ));
    }
    Ok(())
}

/// Time-chunked training in one process: the shards' sums are plain sums in shard order
/// (the CPU backend of the scheme in the module docs; equal to [`crate::SparseEngine`] up
/// to the summation order).
pub struct ChunkedEngine {
    replica: Replica,
    shards: Vec<Shard>,
}

impl ChunkedEngine {
    /// `n_shards` chunks of `raster`, starting from `logits` (`[K, N, W]` row-major).
    pub fn new(
        raster: &SparseRaster,
        params: ConvSeqParams,
        logits: Vec<f64>,
        n_shards: usize,
    ) -> Result<Self> {
        params.validate_for(raster)?;
        check_logits(&params, raster, logits.len())?;
        let t = raster.n_bins() as usize;
        let shards = plan_time_chunks(t, &params, n_shards)?
            .into_iter()
            .map(|c| Shard::new(raster, &params, c))
            .collect::<Result<Vec<_>>>()?;
        Ok(ChunkedEngine {
            replica: Replica::new(params, t, logits)?,
            shards,
        })
    }

    /// The shards, in time order.
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    fn reduced(&mut self) -> Vec<f64> {
        let s = self.replica.filters().to_vec();
        let sums = sum_parts(self.shards.iter_mut().map(|sh| sh.forward(&s)));
        let means = self.replica.means(&sums);
        sum_parts(self.shards.iter().map(|sh| sh.backward(&means)))
    }
}

/// Element-wise sum of equally long parts, in order.
fn sum_parts(parts: impl Iterator<Item = Vec<f64>>) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::new();
    for p in parts {
        if out.is_empty() {
            out = p;
        } else {
            out.iter_mut().zip(p).for_each(|(o, v)| *o += v);
        }
    }
    out
}

impl Engine for ChunkedEngine {
    fn loss_and_grad(&mut self) -> Result<(LossTerms, Array3<f64>)> {
        let reduced = self.reduced();
        let (t, g) = self.replica.loss_and_grad(&reduced)?;
        let (k, w) = (
            self.replica.params.n_filters,
            self.replica.params.width_bins,
        );
        let n = self.replica.n;
        let g = Array3::from_shape_vec((k, n, w), g)
            .map_err(|e| ConvSeqError::param("grad", e.to_string()))?;
        Ok((t, g))
    }

    fn step(&mut self) -> Result<LossTerms> {
        let reduced = self.reduced();
        self.replica.step(&reduced)
    }

    fn logits(&self) -> Result<Array3<f64>> {
        let (k, w) = (
            self.replica.params.n_filters,
            self.replica.params.width_bins,
        );
        Array3::from_shape_vec((k, self.replica.n, w), self.replica.theta.clone())
            .map_err(|e| ConvSeqError::param("logits", e.to_string()))
    }

    fn projections(&self) -> Result<Array2<f64>> {
        let k = self.replica.params.n_filters;
        let l = self.replica.l_total;
        let s = self.replica.filters().to_vec();
        let mut out = Array2::<f64>::zeros((k, l));
        for sh in &self.shards {
            let mut proj = vec![0.0; sh.proj.len()];
            sh.project_into(&s, &mut proj);
            let owned = sh.owned(&proj);
            let m = sh.chunk.outputs.len();
            for f in 0..k {
                out.row_mut(f)
                    .slice_mut(ndarray::s![sh.chunk.outputs.clone()])
                    .assign(&ndarray::ArrayView1::from(&owned[f * m..(f + 1) * m]));
            }
        }
        Ok(out)
    }
}
