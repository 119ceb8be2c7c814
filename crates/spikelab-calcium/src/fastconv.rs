//! The exact fully-convolutional evaluation of a [`crate::spikenet::Conv1dSpikeNet`] (Elephant,
//! CASCADE) on CPU (f32), built on the `gemm` crate's kernels with strided, overlapping
//! left-hand rows ("free" im2col). The formulas below use the Elephant sizes; CASCADE's are
//! the same with its own filter sizes, numbers and number of dense steps.
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

use crate::spikenet::SpikeNetWeights;

/// Outputs per chunk; each chunk re-reads `window − 1` extra input samples (≈3 % overhead),
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

/// ReLU that keeps NaN (as TensorFlow's), so NaN inputs reach the pools like in Keras. An
/// unconditional store of the select vectorises (a conditional store does not).
fn relu_inplace(x: &mut [f32]) {
    for v in x {
        *v = if *v < 0.0 { 0.0 } else { *v };
    }
}

/// `relu(max(a, b))` of a Keras `MaxPooling1D` after a ReLU layer: the max skips NaN (as
/// TensorFlow's pool does), a NaN pair stays NaN.
#[inline]
fn pool_relu(a: f32, b: f32) -> f32 {
    let m = a.max(b);
    if m < 0.0 { 0.0 } else { m }
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
    w: SpikeNetWeights,
}

impl FastNet {
    pub(crate) fn new(w: &SpikeNetWeights) -> Self {
        FastNet { w: w.clone() }
    }

    /// Outputs of all `n − window + 1` windows of `z` (every possible window start), into `out`.
    ///
    /// NaN inputs follow TensorFlow's float32 semantics up to the first pool (NaN-propagating
    /// ReLU, NaN-skipping max); what a window with interior NaN gives afterwards is the
    /// caller's to mask.
    pub(crate) fn forward_chunk(&self, z: &[f32], out: &mut [f32], s: &mut Scratch) {
        let a = &self.w.arch;
        let [k1, k2, k3] = a.filter_sizes;
        let [f1, f2, f3] = a.filter_numbers;
        let de = a.dense_expansion;
        let steps = a.n_steps();
        let n = z.len();
        debug_assert!(n >= a.window);
        let n_out = n - a.window + 1;
        debug_assert_eq!(out.len(), n_out);
        let w = &self.w;
        // conv1: Toeplitz lhs (row stride 1).
        let n1 = n - k1 + 1;
        ensure(&mut s.h1, n1 * f1);
        fill_rows(&mut s.h1, n1, &w.biases[0]);
        gemm_acc(n1, f1, k1, &mut s.h1, f1, z, 1, &w.kernels[0], f1, 1);
        relu_inplace(&mut s.h1[..n1 * f1]);
        // conv2: lhs = h1 with row stride f1, k = k2·f1.
        let n2 = n1 - k2 + 1;
        ensure(&mut s.h2, n2 * f2);
        fill_rows(&mut s.h2, n2, &w.biases[1]);
        gemm_acc(
            n2,
            f2,
            k2 * f1,
            &mut s.h2,
            f2,
            &s.h1,
            f1,
            &w.kernels[1],
            f2,
            1,
        );
        // pool 1 (+ReLU), split into even/odd phases.
        let nm1 = n2 - 1;
        let h2 = &s.h2;
        for p in 0..2 {
            let rows = (nm1 + 1 - p) / 2;
            let m1 = &mut s.m1[p];
            ensure(m1, rows * f2);
            for v in 0..rows {
                let u = 2 * v + p;
                let x = &h2[u * f2..u * f2 + f2];
                let y = &h2[(u + 1) * f2..(u + 1) * f2 + f2];
                let d = &mut m1[v * f2..v * f2 + f2];
                for c in 0..f2 {
                    d[c] = pool_relu(x[c], y[c]);
                }
            }
            // conv3 within the phase: contiguous im2col rows of k3·f2.
            let nc3 = rows - k3 + 1;
            let c3 = &mut s.c3[p];
            ensure(c3, nc3 * f3);
            fill_rows(c3, nc3, &w.biases[2]);
            gemm_acc(nc3, f3, k3 * f2, c3, f3, m1, f2, &w.kernels[2], f3, 1);
            // pool 2 (+ReLU): neighbours within the phase.
            let nm2 = nc3 - 1;
            let m2 = &mut s.m2[p];
            ensure(m2, nm2 * f3);
            for v in 0..nm2 {
                let x = &c3[v * f3..v * f3 + f3];
                let y = &c3[(v + 1) * f3..(v + 1) * f3 + f3];
                let d = &mut m2[v * f3..v * f3 + f3];
                for c in 0..f3 {
                    d[c] = pool_relu(x[c], y[c]);
                }
            }
            // Dense per position.
            let dd = &mut s.d[p];
            ensure(dd, nm2 * de);
            fill_rows(dd, nm2, &w.biases[3]);
            gemm_acc(nm2, de, f3, dd, de, m2, f3, &w.kernels[3], de, 1);
            relu_inplace(&mut dd[..nm2 * de]);
            // P = D · W5ᵀ, W5 viewed as (steps × de): rhs(i, s) = W5[s·de + i].
            let pp = &mut s.p[p];
            ensure(pp, nm2 * steps);
            pp[..nm2 * steps].fill(0.0);
            gemm_acc(nm2, steps, de, pp, steps, dd, de, &w.kernels[4], 1, de);
        }
        let b5 = w.biases[4][0];
        for (j, o) in out.iter_mut().enumerate() {
            let p = &s.p[j & 1];
            let v = j >> 1;
            let mut acc = 0.0f32;
            for t in 0..steps {
                acc += p[(v + 2 * t) * steps + t];
            }
            *o = acc + b5;
        }
    }

    /// Outputs of the first `n_out(n)` windows of each trace (`n_out` given the trace length),
    /// computed in parallel chunks of `chunk` windows over all traces.
    pub(crate) fn forward_many_with(
        &self,
        traces: &[&[f32]],
        chunk: usize,
        n_out: impl Fn(usize) -> usize,
    ) -> Vec<Vec<f32>> {
        let win = self.w.arch.window;
        let mut outs: Vec<Vec<f32>> = traces
            .iter()
            .map(|z| vec![0.0f32; n_out(z.len())])
            .collect();
        let mut jobs: Vec<(&[f32], &mut [f32])> = Vec::new();
        for (z, out) in traces.iter().zip(outs.iter_mut()) {
            for (c, o) in out.chunks_mut(chunk).enumerate() {
                let j0 = c * chunk;
                jobs.push((&z[j0..j0 + o.len() + win - 1], o));
            }
        }
        jobs.into_par_iter()
            .for_each_init(Scratch::default, |s, (z, o)| self.forward_chunk(z, o, s));
        outs
    }
}
