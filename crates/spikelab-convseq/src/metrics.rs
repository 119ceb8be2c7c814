//! Evaluation against ground truth (spec §1.8): [`score`] (event F1, order ρ, member
//! precision) built on event matching and the Spearman correlation of orders, and the
//! original's zone metric.

use serde::{Deserialize, Serialize};

use crate::error::{ConvSeqError, Result};
use crate::fit::Detection;

/// Result of one-to-one event matching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchScores {
    /// Matched detections.
    pub true_positives: usize,
    /// Unmatched detections.
    pub false_positives: usize,
    /// Unmatched ground-truth events.
    pub false_negatives: usize,
    /// TP / detections (1 if there are none).
    pub precision: f64,
    /// TP / ground-truth events.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// `(detection index, ground-truth index)` pairs.
    pub pairs: Vec<(usize, usize)>,
}

/// Greedy one-to-one matching of detections to ground-truth times within `tolerance`
/// (same units): all pairs closer than or at the tolerance, closest first, each side used
/// once.
///
/// # Example
/// ```
/// use spikelab_convseq::metrics::match_events;
/// let m = match_events(&[10.0, 55.0, 300.0], &[12.0, 50.0, 100.0], 8.0);
/// assert_eq!((m.true_positives, m.false_positives, m.false_negatives), (2, 1, 1));
/// assert!((m.f1 - 2.0 / 3.0).abs() < 1e-12);
/// ```
pub fn match_events(detected: &[f64], truth: &[f64], tolerance: f64) -> MatchScores {
    let mut cand = Vec::new();
    for (i, &d) in detected.iter().enumerate() {
        for (j, &g) in truth.iter().enumerate() {
            let dist = (d - g).abs();
            if dist <= tolerance {
                cand.push((dist, i, j));
            }
        }
    }
    cand.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut used_d = vec![false; detected.len()];
    let mut used_g = vec![false; truth.len()];
    let mut pairs = Vec::new();
    for (_, i, j) in cand {
        if !used_d[i] && !used_g[j] {
            used_d[i] = true;
            used_g[j] = true;
            pairs.push((i, j));
        }
    }
    pairs.sort_unstable();
    let tp = pairs.len();
    let precision = if detected.is_empty() {
        1.0
    } else {
        tp as f64 / detected.len() as f64
    };
    let recall = if truth.is_empty() {
        1.0
    } else {
        tp as f64 / truth.len() as f64
    };
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    MatchScores {
        true_positives: tp,
        false_positives: detected.len() - tp,
        false_negatives: truth.len() - tp,
        precision,
        recall,
        f1,
        pairs,
    }
}

/// The original zone metric (`NewMetrics` / `PPSeqMetrics`), kept for parity, including its
/// quirks: TP zones `[c − W, c + W)` around each ground-truth centre; FP zones are the gap
/// before the first zone, the gaps between zones i−1 and i for 1 ≤ i ≤ n−2 and the gap
/// after the last zone (the gap between zones n−2 and n−1 is never built); a zone is hit
/// if a peak falls inside it. FPR divides by n (not by the number of FP zones built).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneScores {
    /// TP zones hit.
    pub true_positives: usize,
    /// TP zones not hit.
    pub false_negatives: usize,
    /// FP zones hit.
    pub false_positives: usize,
    /// FP zones not hit.
    pub true_negatives: usize,
    /// TP / n.
    pub tpr: f64,
    /// FP / n.
    pub fpr: f64,
}

/// Computes the original's zone metric for peak indices `peaks` and sorted ground-truth
/// centres `centres` (bins), with zone half-width `w` (bins) and recording length `t`.
///
/// # Example
/// ```
/// use spikelab_convseq::metrics::zone_metric;
/// let z = zone_metric(&[100, 520, 2000], &[100.0, 500.0, 900.0], 200, 3000);
/// assert_eq!((z.true_positives, z.false_negatives, z.false_positives), (2, 1, 1));
/// ```
pub fn zone_metric(peaks: &[usize], centres: &[f64], w: usize, t: usize) -> ZoneScores {
    let n = centres.len();
    let w = w as f64;
    let tp_zones: Vec<(f64, f64)> = centres.iter().map(|&c| (c - w, c + w)).collect();
    let mut fp_zones: Vec<(f64, f64)> = Vec::new();
    if n > 0 {
        fp_zones.push((0.0, tp_zones[0].0));
        for i in 1..n.saturating_sub(1) {
            fp_zones.push((tp_zones[i - 1].1, tp_zones[i].0));
        }
        fp_zones.push((tp_zones[n - 1].1, t as f64));
    }
    let hit = |z: &(f64, f64)| peaks.iter().any(|&p| (p as f64) >= z.0 && (p as f64) < z.1);
    let tp = tp_zones.iter().filter(|z| hit(z)).count();
    let fp = fp_zones.iter().filter(|z| hit(z)).count();
    let nn = n.max(1) as f64;
    ZoneScores {
        true_positives: tp,
        false_negatives: n - tp,
        false_positives: fp,
        true_negatives: fp_zones.len() - fp,
        tpr: tp as f64 / nn,
        fpr: fp as f64 / nn,
    }
}

/// Spearman rank correlation (`spikelab_core::stats::spearman`: Pearson correlation of average
/// ranks, as SciPy's `spearmanr`). NaN if either side is constant or the lengths differ or
/// are < 2.
///
/// # Example
/// ```
/// use spikelab_convseq::metrics::spearman;
/// assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 25.0, 100.0]) - 1.0).abs() < 1e-12);
/// assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
/// ```
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    spikelab_core::stats::spearman(a, b).unwrap_or(f64::NAN)
}

/// Ground truth of one planted sequence type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// Occurrence centres, in bins (the index convention of [`Event::bin`](crate::Event::bin): window centre).
    pub centres_bins: Vec<f64>,
    /// Raster rows of the member neurons in sequence order (position 0 first).
    pub members: Vec<usize>,
}

/// How well one learned filter recovers a planted sequence ([`score`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// One-to-one matching of the filter's events to the true centres within ± the window.
    pub events: MatchScores,
    /// The matching tolerance, bins.
    pub window_bins: f64,
    /// Spearman ρ between the true positions of the members and their learned lags.
    pub order_spearman: f64,
    /// Neurons called members of the filter.
    pub called_members: usize,
    /// Called members that are true members.
    pub called_members_true: usize,
    /// `called_members_true / called_members` (1 if none are called).
    pub member_precision: f64,
    /// `called_members_true / true members`.
    pub member_recall: f64,
}

/// Scores filter `filter` of `detection` against `truth`: event F1 with one-to-one matching
/// within ±`window_bins`, the neuron-order Spearman ρ (true position vs learned argmax lag of
/// the true members) and the precision/recall of the called members.
///
/// Errors: [`ConvSeqError::InvalidParameter`] for a filter that the detection does not have,
/// a member row out of range, or a negative or non-finite window.
///
/// # Example
/// ```
/// use spikelab_convseq::{ConvSeq, ConvSeqParams, AlphaOptions, metrics::{Truth, score}};
/// use spikelab_data::SparseRaster;
/// let mut ev = Vec::new();
/// for onset in (20..1900).step_by(100) {
///     for n in 0..8 { ev.push((n, onset + 3 * n as u64)); }
/// }
/// let r = SparseRaster::from_events(8, 2000, 0.01, &ev)?;
/// let p = ConvSeqParams {
///     width_bins: 40, tv_l: 1.0, epochs: 200, seed: 1,
///     alpha: AlphaOptions { n_samples: 100, ..Default::default() },
///     ..Default::default()
/// };
/// let fit = ConvSeq::new(p)?.fit(&r)?;
/// let truth = Truth {
///     centres_bins: (20..1900).step_by(100).map(|o| o as f64 + 10.5).collect(),
///     members: (0..8).collect(),
/// };
/// let s = score(&fit.detection, 0, &truth, 20.0)?;
/// assert!(s.events.f1 > 0.9 && s.order_spearman > 0.9, "{s:?}");
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
pub fn score(
    detection: &Detection,
    filter: usize,
    truth: &Truth,
    window_bins: f64,
) -> Result<Score> {
    let members = detection.members.get(filter).ok_or_else(|| {
        ConvSeqError::param(
            "filter",
            format!("the detection has {} filters", detection.members.len()),
        )
    })?;
    if !(window_bins.is_finite() && window_bins >= 0.0) {
        return Err(ConvSeqError::param(
            "window_bins",
            format!("must be finite and ≥ 0, got {window_bins}"),
        ));
    }
    if let Some(&bad) = truth.members.iter().find(|&&m| m >= members.len()) {
        return Err(ConvSeqError::param(
            "truth.members",
            format!(
                "row {bad} is outside the raster's {} neurons",
                members.len()
            ),
        ));
    }
    let det: Vec<f64> = detection
        .event_bins(filter)
        .into_iter()
        .map(|b| b as f64)
        .collect();
    let events = match_events(&det, &truth.centres_bins, window_bins);
    let pos: Vec<f64> = (0..truth.members.len()).map(|i| i as f64).collect();
    let lag: Vec<f64> = truth
        .members
        .iter()
        .map(|&m| members[m].lag_bins as f64)
        .collect();
    let called = detection.member_neurons(filter);
    let called_true = called.iter().filter(|n| truth.members.contains(n)).count();
    Ok(Score {
        events,
        window_bins,
        order_spearman: spearman(&pos, &lag),
        called_members: called.len(),
        called_members_true: called_true,
        member_precision: if called.is_empty() {
            1.0
        } else {
            called_true as f64 / called.len() as f64
        },
        member_recall: called_true as f64 / truth.members.len().max(1) as f64,
    })
}
