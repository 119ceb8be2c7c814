//! The loss in closed form (f64), with its gradient with respect to the projections and
//! the softmaxed filters. The candle head ([`crate::dense`]) computes the same quantities
//! with autograd; a test checks one against the other.

use serde::{Deserialize, Serialize};

/// The loss of one epoch, term by term (logged per filter, unlike the original, which logs
/// the last filter only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LossTerms {
    /// Total loss Σ_k (−var_k + TV_l·TV_k + filt_TV_l·fTV_k) + K>1 terms.
    pub total: f64,
    /// Unbiased variance of each projection.
    pub var: Vec<f64>,
    /// Mean squared first difference of each projection.
    pub tv: Vec<f64>,
    /// Mean squared first difference of each softmaxed filter along taps.
    pub filt_tv: Vec<f64>,
    /// The K > 1 terms (weighted sum), 0 for K = 1.
    pub pair_terms: f64,
}

/// Core per-filter terms of projection `x` (length L ≥ 2): returns (var, TV) and writes
/// `∂(−var + tv_l·TV)/∂x` into `g`.
pub(crate) fn projection_terms(x: &[f64], tv_l: f64, g: &mut [f64]) -> (f64, f64) {
    let l = x.len();
    let lm1 = (l - 1) as f64;
    let mean = x.iter().sum::<f64>() / l as f64;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / lm1;
    let tv = x
        .windows(2)
        .map(|d| (d[1] - d[0]) * (d[1] - d[0]))
        .sum::<f64>()
        / lm1;
    let cv = -2.0 / lm1;
    let ct = tv_l * 2.0 / lm1;
    for t in 0..l {
        let left = if t > 0 { x[t] - x[t - 1] } else { 0.0 };
        let right = if t + 1 < l { x[t + 1] - x[t] } else { 0.0 };
        g[t] = cv * (x[t] - mean) + ct * (left - right);
    }
    (var, tv)
}

/// Filter TV of one softmaxed filter `s` (`[N, W]`): returns fTV and adds
/// `filt_tv_l·∂fTV/∂S` to `gs`.
pub(crate) fn filter_tv(s: &[f64], w: usize, filt_tv_l: f64, gs: &mut [f64]) -> f64 {
    let n = s.len() / w;
    let denom = (n * (w - 1)) as f64;
    let mut acc = 0.0;
    for row in s.chunks(w) {
        acc += row
            .windows(2)
            .map(|d| (d[1] - d[0]) * (d[1] - d[0]))
            .sum::<f64>();
    }
    if filt_tv_l != 0.0 {
        let c = filt_tv_l * 2.0 / denom;
        for (row, grow) in s.chunks(w).zip(gs.chunks_mut(w)) {
            for j in 0..w {
                let left = if j > 0 { row[j] - row[j - 1] } else { 0.0 };
                let right = if j + 1 < w { row[j + 1] - row[j] } else { 0.0 };
                grow[j] += c * (left - right);
            }
        }
    }
    acc / denom
}

/// Row-wise softmax of `[rows, w]` logits.
pub(crate) fn softmax_rows(logits: &[f64], w: usize, out: &mut [f64]) {
    for (z, s) in logits.chunks(w).zip(out.chunks_mut(w)) {
        let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for (o, &v) in s.iter_mut().zip(z) {
            *o = (v - m).exp();
            sum += *o;
        }
        for o in s.iter_mut() {
            *o /= sum;
        }
    }
}

/// Softmax Jacobian: `gz[w] = S[w]·(gs[w] − Σ_w' S[w']·gs[w'])`, row by row.
pub(crate) fn softmax_backward(s: &[f64], gs: &[f64], w: usize, gz: &mut [f64]) {
    for ((srow, grow), zrow) in s.chunks(w).zip(gs.chunks(w)).zip(gz.chunks_mut(w)) {
        let dot: f64 = srow.iter().zip(grow).map(|(a, b)| a * b).sum();
        for j in 0..w {
            zrow[j] = srow[j] * (grow[j] - dot);
        }
    }
}
