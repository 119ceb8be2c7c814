//! Per-neuron participation: *which* neurons form the detected sequence (beyond the
//! original, whose filters give an order but no membership; spec §1.7).
//!
//! For neuron n with learned lag `λ_n = argmax_w S[n, w]`, a detection centred at output
//! index t predicts a spike near bin `t + λ_n − P`. The score counts the detections that
//! have at least one spike of n within ±h bins of that prediction and compares it with the
//! same count at shuffled (uniformly random) event times: `z = (hits − mean) / std` over
//! the shuffles. Neurons with z above the threshold are members.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use ndarray::{Array2, Array3};
use spikelab_data::SparseRaster;

/// Participation of one neuron in one filter's detections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Neuron (raster row).
    pub neuron: usize,
    /// Learned lag `argmax_w S[n, w]` in taps (bins).
    pub lag_bins: usize,
    /// Detections with ≥ 1 spike of this neuron near the predicted time.
    pub hits: usize,
    /// `hits / n_events`.
    pub participation: f64,
    /// Mean hits at shuffled event times.
    pub baseline_mean: f64,
    /// Std of hits at shuffled event times.
    pub baseline_std: f64,
    /// `(hits − baseline_mean) / baseline_std` (std floored at 0.5 hits).
    pub z: f64,
    /// `z ≥ z_threshold` and hits > 0.
    pub is_member: bool,
}

fn has_spike(bins: &[(u64, u32)], lo: i64, hi: i64) -> bool {
    if hi < 0 {
        return false;
    }
    let lo = lo.max(0) as u64;
    let i = bins.partition_point(|&(b, _)| b < lo);
    i < bins.len() && (bins[i].0 as i64) <= hi
}

/// Index of the first maximum of `row` (the learned lag of one filter row).
fn argmax(row: impl IntoIterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (j, v) in row.into_iter().enumerate() {
        if j == 0 || v > best.1 {
            best = (j, v);
        }
    }
    best.0
}

/// Learned lags `argmax_w S[k, n, w]` of softmaxed filters `[K, N, W]`, as `[K, N]`.
pub fn argmax_lags(filters: &Array3<f64>) -> Array2<usize> {
    let (k, n, _) = filters.dim();
    Array2::from_shape_fn((k, n), |(f, i)| {
        argmax(filters.slice(ndarray::s![f, i, ..]).iter().copied())
    })
}

/// Scores every neuron's participation in the events `event_bins` (output indices t) of
/// one softmaxed filter `filter` (`[N, W]` row-major). `out_len` is the projection length
/// (event times for the shuffles are drawn from `0..out_len`).
///
/// # Example
/// ```
/// use spikelab_convseq::members::participation;
/// // Neuron 0 fires 5 bins after each event at 100, 300, 500; neuron 1 fires at random.
/// let ev = vec![(0, 105), (0, 305), (0, 505), (1, 50), (1, 222), (1, 411)];
/// let r = spikelab_data::SparseRaster::from_events(2, 600, 0.01, &ev)?;
/// let w = 20; // P = 10: lag 15 ↔ +5 bins
/// let mut f = vec![0.0; 2 * w];
/// f[15] = 1.0;
/// f[w + 3] = 1.0;
/// let m = participation(&r, &f, w, &[100, 300, 500], 601, 2, 100, 3.0, 7);
/// assert!(m[0].is_member && m[0].hits == 3);
/// assert!(!m[1].is_member);
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn participation(
    raster: &SparseRaster,
    filter: &[f64],
    width_bins: usize,
    event_bins: &[usize],
    out_len: usize,
    half_window_bins: usize,
    n_shuffles: usize,
    z_threshold: f64,
    seed: u64,
) -> Vec<Member> {
    let n = raster.n_neurons();
    let w = width_bins;
    let p = (w / 2) as i64;
    let h = half_window_bins as i64;
    let lags: Vec<usize> = (0..n)
        .map(|i| argmax(filter[i * w..(i + 1) * w].iter().copied()))
        .collect();
    let hit = |i: usize, t: usize| -> bool {
        let c = t as i64 + lags[i] as i64 - p;
        has_spike(&raster.rows()[i], c - h, c + h)
    };
    let ne = event_bins.len();
    // Hits of every neuron in every shuffle, counted as the shuffled times are drawn, so no
    // shuffle is stored (memory N × shuffles, whatever the number of events).
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6d65_6d62);
    let mut base = vec![0usize; n * n_shuffles];
    for sh in 0..n_shuffles {
        for _ in 0..ne {
            let t = rng.random_range(0..out_len.max(1));
            for i in 0..n {
                if hit(i, t) {
                    base[i * n_shuffles + sh] += 1;
                }
            }
        }
    }
    (0..n)
        .map(|i| {
            let hits = event_bins.iter().filter(|&&t| hit(i, t)).count();
            let base: Vec<f64> = base[i * n_shuffles..(i + 1) * n_shuffles]
                .iter()
                .map(|&c| c as f64)
                .collect();
            let nb = base.len().max(1) as f64;
            let mean = base.iter().sum::<f64>() / nb;
            let var = if base.len() > 1 {
                base.iter().map(|b| (b - mean) * (b - mean)).sum::<f64>() / (nb - 1.0)
            } else {
                0.0
            };
            let sd = var.sqrt();
            let z = (hits as f64 - mean) / sd.max(0.5);
            Member {
                neuron: i,
                lag_bins: lags[i],
                hits,
                participation: if ne > 0 { hits as f64 / ne as f64 } else { 0.0 },
                baseline_mean: mean,
                baseline_std: sd,
                z,
                is_member: ne > 0 && hits > 0 && z >= z_threshold,
            }
        })
        .collect()
}
