//! Event-driven kernels of the sparse path.
//!
//! With `R[n, j] = S[n, W − 1 − j]` (a filter row reversed), the projection is
//! `x̂[s + P − W + 1 + j] += R[n, j]` for every spike `(n, s)` and `j < W` (clipped to
//! `[0, L)`): one contiguous W-long vector add per spike. The gradient of the filter is the
//! same walk in reverse: `∂L/∂R[n, j] = Σ_spikes g[s + P − W + 1 + j]`.

use std::ops::AddAssign;

use rayon::prelude::*;

use spikelab_core::simd::SimdLevel;
use spikelab_data::SparseRaster;

/// The spike bins of every neuron in one flat array (compressed sparse rows, 4 bytes per
/// spike): the layout the hot loops read. Built once per call from a [`SparseRaster`], whose
/// `(bin, count)` lists it reduces to the binary raster convSeq works on.
#[derive(Debug, Clone)]
pub(crate) struct Csr {
    /// Row pointers, length `n_neurons + 1`.
    ptr: Vec<usize>,
    /// Spike bins, grouped by neuron, increasing within a neuron.
    bins: Vec<u32>,
}

impl Csr {
    /// The binary view of `raster` (bins must fit in `u32`: checked by
    /// [`check_raster`](crate::input::check_raster)).
    pub(crate) fn new(raster: &SparseRaster) -> Self {
        let mut ptr = Vec::with_capacity(raster.n_neurons() + 1);
        let mut bins = Vec::with_capacity(raster.nnz());
        ptr.push(0);
        for row in raster.rows() {
            bins.extend(row.iter().map(|&(b, _)| b as u32));
            ptr.push(bins.len());
        }
        Csr { ptr, bins }
    }

    /// `raster`'s binary view with row n circularly shifted by `shifts[n]` bins (mod `t`);
    /// rotating a sorted row keeps it sorted, so no sort is needed.
    pub(crate) fn shifted(&self, t: usize, shifts: &[usize]) -> Self {
        let mut bins = Vec::with_capacity(self.bins.len());
        for (n, &sh) in shifts.iter().enumerate() {
            let row = self.row(n);
            let k = row.partition_point(|&b| (b as usize) < t - sh);
            bins.extend(row[k..].iter().map(|&b| (b as usize + sh - t) as u32));
            bins.extend(row[..k].iter().map(|&b| (b as usize + sh) as u32));
        }
        Csr {
            ptr: self.ptr.clone(),
            bins,
        }
    }

    /// Number of neurons.
    pub(crate) fn n_neurons(&self) -> usize {
        self.ptr.len() - 1
    }

    /// Number of spikes.
    pub(crate) fn n_spikes(&self) -> usize {
        self.bins.len()
    }

    /// Row pointers (length `n_neurons + 1`) and the spike bins they index.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub(crate) fn parts(&self) -> (&[usize], &[u32]) {
        (&self.ptr, &self.bins)
    }

    /// The sorted spike bins of neuron `n`.
    pub(crate) fn row(&self, n: usize) -> &[u32] {
        &self.bins[self.ptr[n]..self.ptr[n + 1]]
    }
}

/// Output range of spike bin `s`: (first output index, first tap j, number of taps).
#[inline]
fn span(s: u32, p: usize, w: usize, l: usize) -> Option<(usize, usize, usize)> {
    let start = s as isize + p as isize - w as isize + 1;
    let j0 = if start < 0 { (-start) as usize } else { 0 };
    let t0 = start.max(0) as usize;
    if t0 >= l || j0 >= w {
        return None;
    }
    let len = (w - j0).min(l - t0);
    Some((t0, j0, len))
}

/// Adds the projection of one filter (`rev`: reversed softmax rows, `[N, W]` row-major) to
/// `out` (length L) over the neurons `n0..n1`.
pub(crate) fn scatter_range<T: Copy + AddAssign>(
    raster: &Csr,
    rev: &[T],
    w: usize,
    p: usize,
    n0: usize,
    n1: usize,
    out: &mut [T],
) {
    let l = out.len();
    for n in n0..n1 {
        let row = &rev[n * w..(n + 1) * w];
        for &s in raster.row(n) {
            if let Some((t0, j0, len)) = span(s, p, w, l) {
                for (o, &r) in out[t0..t0 + len].iter_mut().zip(&row[j0..j0 + len]) {
                    *o += r;
                }
            }
        }
    }
}

/// The spike bins `s_lo..s_hi` whose windows (outputs `s + P − W + 1 … s + P`) meet the
/// outputs `a..b`.
fn spike_range(a: usize, b: usize, w: usize, p: usize) -> (usize, usize) {
    (a.saturating_sub(p), b + w - 1 - p)
}

/// Adds the part of filter row `row` that spike bin `s` puts on the outputs
/// `a..a + out.len()`.
#[inline]
fn add_span<T: Copy + AddAssign>(s: usize, row: &[T], w: usize, p: usize, a: usize, out: &mut [T]) {
    let b = a + out.len();
    let start = s as isize + p as isize - w as isize + 1;
    let t0 = start.max(a as isize) as usize;
    let t1 = ((start + w as isize) as usize).min(b);
    if t0 >= t1 {
        return;
    }
    let j0 = (t0 as isize - start) as usize;
    for (o, &r) in out[t0 - a..t1 - a].iter_mut().zip(&row[j0..j0 + (t1 - t0)]) {
        *o += r;
    }
}

/// [`project`] restricted to the outputs `a..a + out.len()`, with the spikes gathered from
/// the raster's rows into `spikes` (scratch) instead of a time-ordered copy of the whole
/// raster: the same values, with memory for the window only.
pub(crate) fn project_window(
    raster: &SparseRaster,
    rev: &[f64],
    w: usize,
    p: usize,
    a: usize,
    out: &mut [f64],
    spikes: &mut Vec<(u32, u32)>,
) {
    out.iter_mut().for_each(|v| *v = 0.0);
    window_spikes(raster, w, p, a, a + out.len(), spikes);
    for &(s, n) in spikes.iter() {
        let n = n as usize;
        add_span(s as usize, &rev[n * w..(n + 1) * w], w, p, a, out);
    }
}

/// The spikes `(bin, neuron)` whose windows meet the outputs `a..b`, gathered from the
/// raster's rows into `spikes` and sorted by bin then neuron (the order of [`time_ordered`]).
pub(crate) fn window_spikes(
    raster: &SparseRaster,
    w: usize,
    p: usize,
    a: usize,
    b: usize,
    spikes: &mut Vec<(u32, u32)>,
) {
    let (s_lo, s_hi) = spike_range(a, b, w, p);
    spikes.clear();
    for (n, row) in raster.rows().iter().enumerate() {
        let i0 = row.partition_point(|&(s, _)| (s as usize) < s_lo);
        spikes.extend(
            row[i0..]
                .iter()
                .take_while(|&&(s, _)| (s as usize) < s_hi)
                .map(|&(s, _)| (s as u32, n as u32)),
        );
    }
    spikes.sort_unstable();
}

/// The filter `[N, W]` with each row reversed (the layout of the scatters).
pub(crate) fn reversed(filter: &[f64], w: usize) -> Vec<f64> {
    let mut rev = vec![0.0; filter.len()];
    for (dst, src) in rev.chunks_mut(w).zip(filter.chunks(w)) {
        for j in 0..w {
            dst[j] = src[w - 1 - j];
        }
    }
    rev
}

/// All spikes as `(bin, neuron)`, sorted by bin then neuron: the layout of the forward
/// scatter, whose writes then sweep the projection once in time order (cache friendly for
/// any T) and need no per-thread buffers.
pub(crate) fn time_ordered(raster: &Csr) -> Vec<(u32, u32)> {
    let mut v = Vec::with_capacity(raster.n_spikes());
    for n in 0..raster.n_neurons() {
        v.extend(raster.row(n).iter().map(|&b| (b, n as u32)));
    }
    v.sort_unstable();
    v
}

/// Projection of one filter from time-ordered spikes, parallel over disjoint chunks of the
/// output. Every output sample receives its spikes' contributions in the same (time,
/// neuron) order whatever the chunking, so results are bit-identical on any thread count.
pub(crate) fn project(by_time: &[(u32, u32)], rev: &[f64], w: usize, p: usize, out: &mut [f64]) {
    let l = out.len();
    let chunk = l.div_ceil(64).max(4096);
    out.par_chunks_mut(chunk).enumerate().for_each(|(c, oc)| {
        oc.iter_mut().for_each(|v| *v = 0.0);
        let a = c * chunk;
        let b = a + oc.len();
        // Window of spike s: outputs s + P − W + 1 … s + P; it meets [a, b) iff
        // s + P ≥ a and s + P − W + 1 < b.
        let s_lo = a.saturating_sub(p);
        let s_hi = b + w - 1 - p;
        let i0 = by_time.partition_point(|&(s, _)| (s as usize) < s_lo);
        for &(s, n) in &by_time[i0..] {
            let s = s as usize;
            if s >= s_hi {
                break;
            }
            let start = s as isize + p as isize - w as isize + 1;
            let t0 = start.max(a as isize) as usize;
            let t1 = ((start + w as isize) as usize).min(b);
            if t0 >= t1 {
                continue;
            }
            let j0 = (t0 as isize - start) as usize;
            let row = &rev[n as usize * w + j0..n as usize * w + j0 + (t1 - t0)];
            for (o, &r) in oc[t0 - a..t1 - a].iter_mut().zip(row) {
                *o += r;
            }
        }
    });
}

/// Number of neuron blocks of the neuron-ordered scatter. Fixed (not the thread count) so
/// that the summation order, and hence every result bit, is the same on every machine.
const BLOCKS: usize = 4;

/// Neuron-ordered projection: the neurons are split into 4 blocks of about equal spike
/// counts, each scattered into its own buffer (filter rows stay hot in cache), summed in
/// block order. Better than [`project`] when the filter (N·W) is larger than the
/// projection (L).
pub(crate) fn project_blocks(raster: &Csr, rev: &[f64], w: usize, p: usize, out: &mut [f64]) {
    let n = raster.n_neurons();
    let l = out.len();
    out.iter_mut().for_each(|v| *v = 0.0);
    let ptr = &raster.ptr;
    let total = raster.n_spikes();
    let mut bounds = vec![0usize];
    for b in 1..BLOCKS {
        let target = total * b / BLOCKS;
        bounds.push(ptr.partition_point(|&x| x < target).min(n));
    }
    bounds.push(n);
    let parts: Vec<Vec<f64>> = (0..BLOCKS)
        .into_par_iter()
        .map(|c| {
            let mut buf = vec![0.0; l];
            scatter_range(
                raster,
                rev,
                w,
                p,
                bounds[c],
                bounds[c + 1].max(bounds[c]),
                &mut buf,
            );
            buf
        })
        .collect();
    for part in parts {
        for (o, v) in out.iter_mut().zip(part) {
            *o += v;
        }
    }
}

/// Gradient gather: `grev[n, j] = Σ_{spikes s of n} g[s + P − W + 1 + j]`, parallel over
/// neurons. `grev` is `[N, W]` row-major and is overwritten.
pub(crate) fn gather(raster: &Csr, g: &[f64], w: usize, p: usize, grev: &mut [f64]) {
    let l = g.len();
    grev.par_chunks_mut(w).enumerate().for_each(|(n, row)| {
        row.iter_mut().for_each(|v| *v = 0.0);
        for &s in raster.row(n) {
            if let Some((t0, j0, len)) = span(s, p, w, l) {
                for (r, &gv) in row[j0..j0 + len].iter_mut().zip(&g[t0..t0 + len]) {
                    *r += gv;
                }
            }
        }
    });
}

/// Output tile of [`project_tiles`]: 64 f32 accumulators (4 AVX-512 or 8 AVX2 registers).
pub(crate) const TILE: usize = 64;

/// Row stride of a padded filter: `TILE` zeros, the W reversed taps, `TILE` zeros.
pub(crate) fn padded_stride(w: usize) -> usize {
    w + 2 * TILE
}

/// Projection of one filter in f32 by output tiles, for the random-filter null:
/// `out[t − a] = Σ_spikes R[n, t − (s + P − W + 1)]` for `t` in `a..a + out.len()`.
///
/// `by_time` holds the spikes `(bin, neuron)` sorted by bin then neuron (at least every spike
/// whose window meets the outputs); `padded` is the reversed filter `[N, W + 2·TILE]`, each row
/// `TILE` zeros, the W taps, `TILE` zeros (see [`padded_stride`]). Each tile of outputs (64;
/// 32 in the portable build, whose 16 SSE2 registers hold no more)
/// stays in registers while the spikes meeting it add as many consecutive entries of their padded
/// row (a spike meeting the tile only partly adds zeros outside its window), so the inner
/// loop has no stores. Every output receives its spikes' taps in (bin, neuron) order
/// whatever `a` and the tiling, plus exact zeros: the same bits for any window, at every
/// SIMD level (only adds, no fused operations).
pub(crate) fn project_tiles(
    level: SimdLevel,
    by_time: &[(u32, u32)],
    padded: &[f32],
    w: usize,
    p: usize,
    a: usize,
    out: &mut [f32],
) {
    match level {
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512 if level.is_supported() => {
            // SAFETY: the level is supported by this CPU (checked above): AVX-512F is present.
            unsafe { tiles_avx512(by_time, padded, w, p, a, out) }
        }
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2 if level.is_supported() => {
            // SAFETY: as above; Avx2 means AVX2 and FMA are present.
            unsafe { tiles_avx2(by_time, padded, w, p, a, out) }
        }
        // 16 SSE2 registers (x86-64 baseline) hold 32 accumulators, not 64.
        _ => tiles_impl::<PORTABLE_TILE>(by_time, padded, w, p, a, out),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn tiles_avx512(
    by_time: &[(u32, u32)],
    padded: &[f32],
    w: usize,
    p: usize,
    a: usize,
    out: &mut [f32],
) {
    tiles_impl::<TILE>(by_time, padded, w, p, a, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn tiles_avx2(
    by_time: &[(u32, u32)],
    padded: &[f32],
    w: usize,
    p: usize,
    a: usize,
    out: &mut [f32],
) {
    tiles_impl::<TILE>(by_time, padded, w, p, a, out)
}

/// Output tile of the portable build of [`project_tiles`] (≤ [`TILE`]).
const PORTABLE_TILE: usize = 32;

/// The tiled projection with tiles of `T ≤ TILE` outputs (the padded rows serve any such T).
#[inline(always)]
fn tiles_impl<const T: usize>(
    by_time: &[(u32, u32)],
    padded: &[f32],
    w: usize,
    p: usize,
    a: usize,
    out: &mut [f32],
) {
    let stride = padded_stride(w);
    // Spike s covers outputs start..start + W with start = s + P + 1 − W; it meets the tile
    // [ta, ta + T) iff ta − P ≤ s < ta + T + W − 1 − P. Both bounds rise with ta.
    let mut lo = 0usize;
    let mut hi = 0usize;
    for (c, oc) in out.chunks_mut(T).enumerate() {
        let ta = a + c * T;
        let s_lo = ta.saturating_sub(p);
        let s_hi = ta + T + w - 1 - p;
        while lo < by_time.len() && (by_time[lo].0 as usize) < s_lo {
            lo += 1;
        }
        hi = hi.max(lo);
        while hi < by_time.len() && (by_time[hi].0 as usize) < s_hi {
            hi += 1;
        }
        let mut acc = [0f32; T];
        for &(s, n) in &by_time[lo..hi] {
            // Padded index of output ta: TILE + ta − start, in TILE − T + 1..TILE + W.
            let k = TILE + ta + w - 1 - p - s as usize;
            let base = n as usize * stride + k;
            let row: &[f32; T] = padded[base..base + T].try_into().expect("T-long slice");
            for (x, &r) in acc.iter_mut().zip(row) {
                *x += r;
            }
        }
        oc.copy_from_slice(&acc[..oc.len()]);
    }
}
