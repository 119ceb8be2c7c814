//! The exact fully-convolutional evaluation of the Elephant network on CPU (f32), built on the
//! `gemm` crate's kernels with strided, overlapping left-hand rows ("free" im2col).
//!
//! For a z-scored trace `z` of `n` samples and window start `j` (output for window
//! `z[j..j+128]`), with `h1`/`h2` the conv1/conv2 outputs over the whole trace:
//!
//! * `h1[t] = relu(b1 + Σ_k z[t+k]·W1[k])` — a Toeplitz matrix (row stride 1) times `W1 (41×50)`;
//! * `h2[t] = b2 + Σ_k h1[t+k]·W2[k]` — row `t` of the im2col matrix is the contiguous slice
//!   `h1[t..t+21]` (1050 floats), so `h1` itself with row stride 50 is the im2col matrix;
//! * pooling 1: `m1[u] = relu(max(h2[u], h2[u+1]))` (ReLU and max commute);
//! * conv3 on the pooled grid is a dilation-2 convolution of `m1`; splitting `m1` into even and
//!   odd rows (two *phases*) makes each phase an ordinary convolution with contiguous im2col rows;
//! * pooling 2: `m2[u] = relu(max(c3[u], c3[u+2]))`, i.e. neighbours within a phase;
//! * `D[u] = relu(b4 + m2[u]·W4)` (Dense per time step);
//! * output `y[j] = b5 + Σ_{s<14} D[j+4s]·W5[s]`, i.e. `P = D·W5ᵀ` then `y[j] = Σ_s P[j+4s, s]`.
//!
//! Every multiply-add is the same as in the per-window network; only the summation order inside
//! the dot products differs (f32 rounding, ≲1e-5 on real traces).

use gemm::Parallelism;
use rayon::prelude::*;

use crate::weights::{ElephantWeights, WINDOW};

/// Outputs per chunk; each chunk re-reads `WINDOW − 1` extra input samples (≈3 % overhead),
/// and its intermediates (≈1.3 MB) stay in a core's L2 cache.
pub const CHUNK_OUTPUTS: usize = 4096;

/// `dst (m×n, row stride dst_rs, unit column stride) += lhs (m×k) · rhs (k×n)`.
///
/// `lhs` rows start `lhs_rs` apart with unit column stride (rows may overlap); `rhs` element
/// `(i, c)` is at `i·rhs_rs + c·rhs_cs`. All extents are checked, so this is safe to call.
#[allow(clippy::too_many_arguments)]
fn gemm_acc(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    lhs: &[f32],
    lhs_rs: usize,
    rhs: &[f32],
    rhs_rs: usize,
    rhs_cs: usize,
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    assert!(dst.len() >= (m - 1) * dst_rs + n, "gemm dst too short");
    assert!(lhs.len() >= (m - 1) * lhs_rs + k, "gemm lhs too short");
    assert!(
        rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs,
        "gemm rhs too short"
    );
    // SAFETY: the asserts above prove every index the kernel touches — dst (i·dst_rs + c),
    // lhs (i·lhs_rs + p) and rhs (p·rhs_rs + c·rhs_cs) for i < m, c < n, p < k — lies inside
    // the slices; dst is exclusively borrowed and does not alias lhs/rhs (distinct borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            true,
            lhs.as_ptr(),
            1,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

fn fill_rows(dst: &mut [f32], rows: usize, bias: &[f32]) {
    for r in dst[..rows * bias.len()].chunks_exact_mut(bias.len()) {
        r.copy_from_slice(bias);
    }
}

fn relu_inplace(x: &mut [f32]) {
    for v in x {
        *v = v.max(0.0);
    }
}

/// Scratch buffers for one chunk (one per worker thread).
#[derive(Default)]
pub(crate) struct Scratch {
    h1: Vec<f32>,
    h2: Vec<f32>,
    m1: [Vec<f32>; 2],
    c3: [Vec<f32>; 2],
    m2: [Vec<f32>; 2],
    d: [Vec<f32>; 2],
    p: [Vec<f32>; 2],
}

fn ensure(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// The fully-convolutional network (weights in Keras layout, which is already the layout the
/// gemm calls need).
#[derive(Debug, Clone)]
pub(crate) struct FastNet {
    w: ElephantWeights,
}

impl FastNet {
    pub(crate) fn new(w: &ElephantWeights) -> Self {
        FastNet { w: w.clone() }
    }

    /// Outputs of all `n − 127` windows of `z` (every possible window start), into `out`.
    pub(crate) fn forward_chunk(&self, z: &[f32], out: &mut [f32], s: &mut Scratch) {
        let n = z.len();
        debug_assert!(n >= WINDOW);
        let n_out = n - WINDOW + 1;
        debug_assert_eq!(out.len(), n_out);
        let w = &self.w;
        // conv1: Toeplitz lhs (row stride 1), k = 41.
        let n1 = n - 40;
        ensure(&mut s.h1, n1 * 50);
        fill_rows(&mut s.h1, n1, &w.biases[0]);
        gemm_acc(n1, 50, 41, &mut s.h1, 50, z, 1, &w.kernels[0], 50, 1);
        relu_inplace(&mut s.h1[..n1 * 50]);
        // conv2: lhs = h1 with row stride 50, k = 21·50.
        let n2 = n1 - 20;
        ensure(&mut s.h2, n2 * 60);
        fill_rows(&mut s.h2, n2, &w.biases[1]);
        gemm_acc(n2, 60, 1050, &mut s.h2, 60, &s.h1, 50, &w.kernels[1], 60, 1);
        // pool 1 (+ReLU), split into even/odd phases.
        let nm1 = n2 - 1;
        let h2 = &s.h2;
        for p in 0..2 {
            let rows = (nm1 + 1 - p) / 2;
            let m1 = &mut s.m1[p];
            ensure(m1, rows * 60);
            for v in 0..rows {
                let u = 2 * v + p;
                let a = &h2[u * 60..u * 60 + 60];
                let b = &h2[(u + 1) * 60..(u + 1) * 60 + 60];
                let d = &mut m1[v * 60..v * 60 + 60];
                for c in 0..60 {
                    d[c] = a[c].max(b[c]).max(0.0);
                }
            }
            // conv3 within the phase: contiguous im2col rows of 7·60.
            let nc3 = rows - 6;
            let c3 = &mut s.c3[p];
            ensure(c3, nc3 * 70);
            fill_rows(c3, nc3, &w.biases[2]);
            gemm_acc(nc3, 70, 420, c3, 70, m1, 60, &w.kernels[2], 70, 1);
            // pool 2 (+ReLU): neighbours within the phase.
            let nm2 = nc3 - 1;
            let m2 = &mut s.m2[p];
            ensure(m2, nm2 * 70);
            for v in 0..nm2 {
                let a = &c3[v * 70..v * 70 + 70];
                let b = &c3[(v + 1) * 70..(v + 1) * 70 + 70];
                let d = &mut m2[v * 70..v * 70 + 70];
                for c in 0..70 {
                    d[c] = a[c].max(b[c]).max(0.0);
                }
            }
            // Dense(300) per position.
            let dd = &mut s.d[p];
            ensure(dd, nm2 * 300);
            fill_rows(dd, nm2, &w.biases[3]);
            gemm_acc(nm2, 300, 70, dd, 300, m2, 70, &w.kernels[3], 300, 1);
            relu_inplace(&mut dd[..nm2 * 300]);
            // P = D · W5ᵀ, W5 viewed as (14 × 300): rhs(i, s) = W5[s·300 + i].
            let pp = &mut s.p[p];
            ensure(pp, nm2 * 14);
            pp[..nm2 * 14].fill(0.0);
            gemm_acc(nm2, 14, 300, pp, 14, dd, 300, &w.kernels[4], 1, 300);
        }
        let b5 = w.biases[4][0];
        for (j, o) in out.iter_mut().enumerate() {
            let p = &s.p[j & 1];
            let v = j >> 1;
            let mut acc = 0.0f32;
            for t in 0..14 {
                acc += p[(v + 2 * t) * 14 + t];
            }
            *o = acc + b5;
        }
    }

    /// Outputs of windows `0 … n − 129` (the original's `n − 128` windows) for each trace,
    /// computed in parallel chunks of [`CHUNK_OUTPUTS`] windows over all traces.
    pub(crate) fn forward_many(&self, traces: &[&[f32]], chunk: usize) -> Vec<Vec<f32>> {
        let mut outs: Vec<Vec<f32>> = traces
            .iter()
            .map(|z| vec![0.0f32; z.len().saturating_sub(WINDOW)])
            .collect();
        let mut jobs: Vec<(&[f32], &mut [f32])> = Vec::new();
        for (z, out) in traces.iter().zip(outs.iter_mut()) {
            for (c, o) in out.chunks_mut(chunk).enumerate() {
                let j0 = c * chunk;
                jobs.push((&z[j0..j0 + o.len() + WINDOW - 1], o));
            }
        }
        jobs.into_par_iter()
            .for_each_init(Scratch::default, |s, (z, o)| self.forward_chunk(z, o, s));
        outs
    }
}
