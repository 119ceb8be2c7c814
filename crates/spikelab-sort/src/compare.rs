//! Ground-truth comparison of a spike sorting: the SpikeForest / SpikeInterface accuracy, SimSort's
//! own variant, and a detection-level score.
//!
//! # SpikeInterface metric ([`compare_to_ground_truth`])
//!
//! Equal to `spikeinterface.comparison.compare_sorter_to_ground_truth` (version 0.105.3) with
//! `agreement_method="count"`, the definition of Magland et al., "SpikeForest, reproducible
//! web-facing ground-truth validation of automated neural spike sorters", eLife 9:e55167 (2020)
//! and Buccino et al., "SpikeInterface, a unified framework for spike sorting", eLife 9:e61834
//! (2020). Ground-truth (GT) unit `i` has `nᵢ` spikes, tested unit `j` has `nⱼ`.
//!
//! 1. **Tolerance** `Δ = trunc(delta_time_ms / 1000 · fs)` frames (12 at 30 kHz for 0.4 ms).
//! 2. **Match counts** `M[i, j]`. Both sortings are pooled into spike vectors sorted by frame,
//!    then unit index. A pointer `k₀` into the tested vector starts at 0; for each GT spike `a`
//!    (frame `f`, unit `i`) in order, tested spikes `b` from `k₀` on are scanned: a frame
//!    `< f − Δ` moves `k₀` past it, a frame `> f + Δ` ends the scan, and a frame within `±Δ` (unit
//!    `j`) adds 1 to `M[i, j]` unless `a` or `b` is the spike of the last pair counted for
//!    `(i, j)`; the counted pair becomes the last one. A GT spike may so count once for each
//!    tested unit near it, and bursts within `Δ` may count one tested spike twice, which the
//!    final clip `M[i, j] ≤ nⱼ` bounds.
//! 3. **Agreement** `A[i, j] = M[i, j] / (nᵢ + nⱼ − M[i, j])`, 0 when the denominator is 0.
//! 4. **Hungarian match**: entries of `A` below `match_score` are set to 0 and the assignment
//!    maximising the total is found ([`crate::assignment`], SciPy's tie rules); a pair is kept
//!    only if its `A ≥ match_score`. The **best match** of a unit is its first arg-max in `A`,
//!    kept if `≥ chance_score`.
//! 5. **Counts per GT unit** (with the Hungarian match, or the best match in
//!    [`MatchMode::Best`]): matched to `j`, `tp = M[i, j]`, `fn = nᵢ − tp`, `fp = nⱼ − tp`,
//!    `num_tested = nⱼ`; unmatched, `tp = fp = num_tested = 0`, `fn = nᵢ`.
//! 6. **Performance** (0 unless `num_gt > 0` and `tp > 0`): accuracy `tp/(tp+fn+fp)`, recall
//!    `tp/(tp+fn)`, precision `tp/(tp+fp)`, false discovery rate `fp/(tp+fp)`, miss rate
//!    `fn/num_gt`; `pooled_with_average` is their plain mean over GT units.
//! 7. **Tested-unit classes**: *well detected* = Hungarian-matched with `A ≥ well_detected_score`.
//!    With `exhaustive_gt`: *bad* = not Hungarian-matched; *false positive* = bad and either no
//!    best GT match or its `A < redundant_score`; *redundant* = bad, has a best GT match `i` whose
//!    own best match is another unit, and `A ≥ redundant_score`; *overmerged* = `A >
//!    overmerged_score` with two or more GT units.
//!
//! Unit classes are computed on unit indices; SpikeInterface compares ids with its `-1`
//! "no match" marker, so for a sorting whose unit ids include `-1` the two can differ.
//!
//! # SimSort variant ([`simsort_accuracy`])
//!
//! The score of Zhang et al., SimSort (NeurIPS 2025), as the spec describes it: the recording is
//! cut into chunks of `chunk_samples` frames (a partial tail is dropped). Per chunk, for each pair
//! (GT unit, tested unit) present in the chunk, matches are counted greedily: tested spikes in
//! time order each take the earliest not-yet-matched GT spike within `±Δ` (`delta_ms`, default
//! 1 ms, inclusive). The assignment maximising the total count (no minimum) pairs units; a
//! matched GT unit scores `m / (m + miss + fp)`, an unmatched one 0; the chunk's score is the mean
//! over its GT units (those with a spike in the chunk) and the result the mean over chunks with
//! GT spikes.
//!
//! # Detection score ([`detection_score`])
//!
//! Detected frames against all GT spikes (any unit), greedy as above with `±Δ` (1 ms):
//! `tp` matches, `fp = n_detected − tp`, `fn = n_gt − tp`; precision, recall and
//! `F1 = 2PR/(P+R)` (0 when undefined).
//!
//! # Example
//! ```
//! use spikelab_data::Sorting;
//! use spikelab_sort::compare::{compare_to_ground_truth, CompareParams};
//! let gt = Sorting::from_samples_and_labels(&[100, 1000, 2000, 3000], &[0, 0, 1, 1], 30_000.0, 4000)?;
//! let tested =
//!     Sorting::from_samples_and_labels(&[105, 1003, 2990, 3500], &[7, 7, 8, 8], 30_000.0, 4000)?;
//! let cmp = compare_to_ground_truth(&gt, &tested, &CompareParams::default())?;
//! assert_eq!(cmp.delta_frames, 12);
//! assert_eq!(cmp.hungarian_match_ids(), vec![Some(7), None]);
//! assert_eq!(cmp.counts[0].tp, 2);
//! assert_eq!(cmp.performance[0].accuracy, 1.0);
//! assert_eq!(cmp.agreement_scores[1][1], 1.0 / 3.0); // below match_score 0.5
//! assert_eq!(cmp.performance[1].accuracy, 0.0);
//! # Ok::<(), spikelab_sort::SortError>(())
//! ```

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use spikelab_data::Sorting;

use crate::assignment::linear_sum_assignment;
use crate::error::{Result, SortError};

/// Relative difference of sampling rates accepted between two sortings (SpikeInterface's 0.1 %).
pub const SAMPLING_RATE_TOLERANCE: f64 = 1e-3;

/// Which match decides the per-GT-unit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MatchMode {
    /// The Hungarian assignment on the thresholded agreement (SpikeInterface's default).
    #[default]
    Hungarian,
    /// Each GT unit's best match (arg-max agreement `≥ chance_score`), not one-to-one.
    Best,
}

/// Parameters of [`compare_to_ground_truth`]; the defaults are SpikeInterface's with
/// `exhaustive_gt = true` (the ground truth holds every unit of the recording).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompareParams {
    /// Matching tolerance in ms (`delta_time`, 0.4).
    pub delta_time_ms: f64,
    /// Minimum agreement of a Hungarian match (0.5).
    pub match_score: f64,
    /// Agreement from which a matched tested unit is well detected (0.8).
    pub well_detected_score: f64,
    /// Agreement below which an unmatched tested unit is a false positive, not redundant (0.2).
    pub redundant_score: f64,
    /// Agreement above which a tested unit counts for a GT unit when finding overmerged units (0.2).
    pub overmerged_score: f64,
    /// Minimum agreement of a best match (0.1).
    pub chance_score: f64,
    /// Whether the ground truth is exhaustive; the false-positive, redundant, overmerged and bad
    /// unit lists are computed only then (true).
    pub exhaustive_gt: bool,
    /// Which match gives the counts (Hungarian).
    pub match_mode: MatchMode,
}

impl Default for CompareParams {
    fn default() -> Self {
        Self {
            delta_time_ms: 0.4,
            match_score: 0.5,
            well_detected_score: 0.8,
            redundant_score: 0.2,
            overmerged_score: 0.2,
            chance_score: 0.1,
            exhaustive_gt: true,
            match_mode: MatchMode::Hungarian,
        }
    }
}

impl CompareParams {
    /// Checks every field.
    ///
    /// Errors: [`SortError::InvalidParameter`] for a negative or non-finite `delta_time_ms`, or a
    /// score outside `[0, 1]`.
    ///
    /// # Example
    /// ```
    /// use spikelab_sort::compare::CompareParams;
    /// assert!(CompareParams::default().validate().is_ok());
    /// let bad = CompareParams { match_score: 1.5, ..CompareParams::default() };
    /// assert!(bad.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        if !(self.delta_time_ms.is_finite() && self.delta_time_ms >= 0.0) {
            return Err(SortError::InvalidParameter {
                name: "delta_time_ms",
                reason: format!(
                    "must be finite and ≥ 0 (0.4 ms is usual), got {}",
                    self.delta_time_ms
                ),
            });
        }
        for (name, v) in [
            ("match_score", self.match_score),
            ("well_detected_score", self.well_detected_score),
            ("redundant_score", self.redundant_score),
            ("overmerged_score", self.overmerged_score),
            ("chance_score", self.chance_score),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(SortError::InvalidParameter {
                    name,
                    reason: format!("an agreement score must lie in [0, 1], got {v}"),
                });
            }
        }
        Ok(())
    }
}

/// Raw counts of one GT unit (SpikeInterface's `raw_count` row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitCounts {
    /// GT unit id.
    pub gt_unit_id: i64,
    /// Matched tested unit id, `None` if unmatched.
    pub tested_unit_id: Option<i64>,
    /// True positives: matched spikes.
    pub tp: u64,
    /// False negatives: GT spikes not matched.
    #[serde(rename = "fn")]
    pub fn_: u64,
    /// False positives: spikes of the matched tested unit not matched.
    pub fp: u64,
    /// Spikes of the GT unit.
    pub num_gt: u64,
    /// Spikes of the matched tested unit (0 if unmatched).
    pub num_tested: u64,
}

/// Rates of one GT unit, or their mean (`pooled_with_average`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Performance {
    /// `tp / (tp + fn + fp)`.
    pub accuracy: f64,
    /// `tp / (tp + fn)`.
    pub recall: f64,
    /// `tp / (tp + fp)`.
    pub precision: f64,
    /// `fp / (tp + fp)`.
    pub false_discovery_rate: f64,
    /// `fn / num_gt`.
    pub miss_rate: f64,
}

impl Performance {
    fn from_counts(c: &UnitCounts) -> Self {
        if c.num_gt == 0 || c.tp == 0 {
            return Self {
                accuracy: 0.0,
                recall: 0.0,
                precision: 0.0,
                false_discovery_rate: 0.0,
                miss_rate: 0.0,
            };
        }
        let (tp, fn_, fp, n) = (c.tp as f64, c.fn_ as f64, c.fp as f64, c.num_gt as f64);
        Self {
            accuracy: tp / (tp + fn_ + fp),
            recall: tp / (tp + fn_),
            precision: tp / (tp + fp),
            false_discovery_rate: fp / (tp + fp),
            miss_rate: fn_ / n,
        }
    }
}

/// Tested units sorted into SpikeInterface's classes (ids, in tested-unit order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitClasses {
    /// Hungarian-matched with agreement `≥ well_detected_score`.
    pub well_detected: Vec<i64>,
    /// Not matched, no best GT match or its agreement `< redundant_score` (exhaustive GT only).
    pub false_positive: Option<Vec<i64>>,
    /// Not matched, best GT match prefers another unit, agreement `≥ redundant_score`
    /// (exhaustive GT only).
    pub redundant: Option<Vec<i64>>,
    /// Agreement `> overmerged_score` with two or more GT units (exhaustive GT only).
    pub overmerged: Option<Vec<i64>>,
    /// Not Hungarian-matched (exhaustive GT only).
    pub bad: Option<Vec<i64>>,
}

/// The result of [`compare_to_ground_truth`] (SpikeInterface's `GroundTruthComparison`).
///
/// Matrices are `[gt unit, tested unit]` in the sortings' unit order; matches hold unit indices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruthComparison {
    /// The parameters used.
    pub params: CompareParams,
    /// Sampling rate (the ground truth's) in Hz.
    pub sampling_rate_hz: f64,
    /// Tolerance `Δ` in frames.
    pub delta_frames: i64,
    /// GT unit ids.
    pub gt_unit_ids: Vec<i64>,
    /// Tested unit ids.
    pub tested_unit_ids: Vec<i64>,
    /// Spikes per GT unit.
    pub gt_counts: Vec<u64>,
    /// Spikes per tested unit.
    pub tested_counts: Vec<u64>,
    /// Match counts `M[i, j]` (clipped to the tested unit's spike count).
    pub match_event_count: Vec<Vec<u64>>,
    /// Agreement `A[i, j]`.
    pub agreement_scores: Vec<Vec<f64>>,
    /// Hungarian match: tested unit index of each GT unit.
    pub hungarian_match_12: Vec<Option<usize>>,
    /// Hungarian match: GT unit index of each tested unit.
    pub hungarian_match_21: Vec<Option<usize>>,
    /// Best match (first arg-max, `≥ chance_score`) of each GT unit.
    pub best_match_12: Vec<Option<usize>>,
    /// Best match of each tested unit.
    pub best_match_21: Vec<Option<usize>>,
    /// Raw counts per GT unit (`raw_count`).
    pub counts: Vec<UnitCounts>,
    /// Rates per GT unit (`by_unit`).
    pub performance: Vec<Performance>,
    /// Tested-unit classes.
    pub unit_classes: UnitClasses,
}

impl GroundTruthComparison {
    /// Raw counts per GT unit (SpikeInterface's `get_performance(method="raw_count")`).
    pub fn raw_count(&self) -> &[UnitCounts] {
        &self.counts
    }

    /// Rates per GT unit (`method="by_unit"`).
    pub fn by_unit(&self) -> &[Performance] {
        &self.performance
    }

    /// Mean of the per-unit rates over GT units (`method="pooled_with_average"`); `None`
    /// without GT units.
    pub fn pooled_with_average(&self) -> Option<Performance> {
        let n = self.performance.len();
        if n == 0 {
            return None;
        }
        let mean =
            |f: fn(&Performance) -> f64| self.performance.iter().map(f).sum::<f64>() / n as f64;
        Some(Performance {
            accuracy: mean(|p| p.accuracy),
            recall: mean(|p| p.recall),
            precision: mean(|p| p.precision),
            false_discovery_rate: mean(|p| p.false_discovery_rate),
            miss_rate: mean(|p| p.miss_rate),
        })
    }

    /// Mean accuracy over GT units (SpikeForest's summary number); `None` without GT units.
    pub fn mean_accuracy(&self) -> Option<f64> {
        self.pooled_with_average().map(|p| p.accuracy)
    }

    /// Hungarian match as ids: the tested unit id matched to each GT unit.
    pub fn hungarian_match_ids(&self) -> Vec<Option<i64>> {
        self.hungarian_match_12
            .iter()
            .map(|m| m.map(|j| self.tested_unit_ids[j]))
            .collect()
    }
}

/// Checks that two sampling rates agree within [`SAMPLING_RATE_TOLERANCE`].
fn check_rates(gt_hz: f64, tested_hz: f64) -> Result<()> {
    if (tested_hz - gt_hz).abs() / gt_hz >= SAMPLING_RATE_TOLERANCE {
        return Err(SortError::SamplingRateMismatch { gt_hz, tested_hz });
    }
    Ok(())
}

/// `trunc(delta_ms / 1000 · fs)`, as SpikeInterface computes `delta_frames`.
fn delta_frames(delta_ms: f64, fs: f64) -> i64 {
    (delta_ms / 1000.0 * fs) as i64
}

/// Match-count matrix `M[i, j]` (step 2 of the module docs), clipped to the tested counts.
///
/// Errors: [`SortError::SamplingRateMismatch`] if the rates differ by 0.1 % or more.
///
/// # Example
/// ```
/// use spikelab_data::Sorting;
/// use spikelab_sort::compare::match_count_matrix;
/// // A GT burst within Δ = 12 frames counts the one tested spike twice, the clip brings it to 1.
/// let gt = Sorting::from_samples_and_labels(&[100, 105, 110], &[0, 0, 0], 30_000.0, 200)?;
/// let tested = Sorting::from_samples_and_labels(&[104, 107], &[3, 4], 30_000.0, 200)?;
/// assert_eq!(match_count_matrix(&gt, &tested, 12)?, ndarray::array![[1_u64, 1]]);
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
pub fn match_count_matrix(
    gt: &Sorting,
    tested: &Sorting,
    delta_frames: i64,
) -> Result<Array2<u64>> {
    check_rates(gt.sampling_rate_hz(), tested.sampling_rate_hz())?;
    let (n1, n2) = (gt.n_units(), tested.n_units());
    let v1 = gt.spike_vector();
    let v2 = tested.spike_vector();
    let mut m = Array2::<u64>::zeros((n1, n2));
    let mut last1 = Array2::<i64>::from_elem((n1, n2), -1);
    let mut last2 = Array2::<i64>::from_elem((n1, n2), -1);
    let mut start = 0_usize;
    for (a, &(f1, i)) in v1.iter().enumerate() {
        let mut b = start;
        while b < v2.len() {
            let (f2, j) = v2[b];
            if f2 < f1 - delta_frames {
                start += 1;
            } else if f2 > f1 + delta_frames {
                break;
            } else if a as i64 != last1[[i, j]] && b as i64 != last2[[i, j]] {
                last1[[i, j]] = a as i64;
                last2[[i, j]] = b as i64;
                m[[i, j]] += 1;
            }
            b += 1;
        }
    }
    for (j, &n) in tested.counts().iter().enumerate() {
        m.column_mut(j).mapv_inplace(|x| x.min(n as u64));
    }
    Ok(m)
}

/// First arg-max of each row of `a` (`axis_rows`) or column, kept if `≥ min_score`.
fn best_matches(a: &Array2<f64>, min_score: f64, by_row: bool) -> Vec<Option<usize>> {
    let lanes = if by_row { a.rows() } else { a.columns() };
    lanes
        .into_iter()
        .map(|lane| {
            let mut best: Option<(usize, f64)> = None;
            for (k, &x) in lane.iter().enumerate() {
                if best.is_none_or(|(_, b)| x > b) {
                    best = Some((k, x));
                }
            }
            best.filter(|&(_, x)| x >= min_score).map(|(k, _)| k)
        })
        .collect()
}

/// Compares a tested sorting with the ground truth, as SpikeInterface's
/// `compare_sorter_to_ground_truth` (see the module docs for every step).
///
/// Errors: [`SortError::InvalidParameter`] from [`CompareParams::validate`];
/// [`SortError::SamplingRateMismatch`] if the two sampling rates differ by 0.1 % or more (the
/// ground truth's rate is used otherwise).
pub fn compare_to_ground_truth(
    gt: &Sorting,
    tested: &Sorting,
    params: &CompareParams,
) -> Result<GroundTruthComparison> {
    params.validate()?;
    let fs = gt.sampling_rate_hz();
    check_rates(fs, tested.sampling_rate_hz())?;
    let delta = delta_frames(params.delta_time_ms, fs);
    let n_gt: Vec<u64> = gt.counts().iter().map(|&n| n as u64).collect();
    let n_t: Vec<u64> = tested.counts().iter().map(|&n| n as u64).collect();
    let (n1, n2) = (n_gt.len(), n_t.len());

    let m = match_count_matrix(gt, tested, delta)?;
    let a = Array2::from_shape_fn((n1, n2), |(i, j)| {
        let denom = n_gt[i] + n_t[j] - m[[i, j]];
        if denom == 0 {
            0.0
        } else {
            m[[i, j]] as f64 / denom as f64
        }
    });

    // Hungarian match on the thresholded agreement.
    let cost = a.mapv(|x| if x < params.match_score { 0.0 } else { -x });
    let mut hung12 = vec![None; n1];
    let mut hung21 = vec![None; n2];
    for (i, j) in linear_sum_assignment(cost.view())? {
        if a[[i, j]] >= params.match_score {
            hung12[i] = Some(j);
            hung21[j] = Some(i);
        }
    }
    let best12 = best_matches(&a, params.chance_score, true);
    let best21 = best_matches(&a, params.chance_score, false);

    let match_12 = match params.match_mode {
        MatchMode::Hungarian => &hung12,
        MatchMode::Best => &best12,
    };
    let counts: Vec<UnitCounts> = (0..n1)
        .map(|i| match match_12[i] {
            Some(j) => UnitCounts {
                gt_unit_id: gt.unit_ids()[i],
                tested_unit_id: Some(tested.unit_ids()[j]),
                tp: m[[i, j]],
                fn_: n_gt[i] - m[[i, j]],
                fp: n_t[j] - m[[i, j]],
                num_gt: n_gt[i],
                num_tested: n_t[j],
            },
            None => UnitCounts {
                gt_unit_id: gt.unit_ids()[i],
                tested_unit_id: None,
                tp: 0,
                fn_: n_gt[i],
                fp: 0,
                num_gt: n_gt[i],
                num_tested: 0,
            },
        })
        .collect();
    let performance = counts.iter().map(Performance::from_counts).collect();

    let ids2 = tested.unit_ids();
    let well_detected = (0..n2)
        .filter(|&j| hung21[j].is_some_and(|i| a[[i, j]] >= params.well_detected_score))
        .map(|j| ids2[j])
        .collect();
    let unit_classes = if params.exhaustive_gt {
        let unmatched = || (0..n2).filter(|&j| hung21[j].is_none());
        let false_positive = unmatched()
            .filter(|&j| best21[j].is_none_or(|i| a[[i, j]] < params.redundant_score))
            .map(|j| ids2[j])
            .collect();
        let redundant = unmatched()
            .filter(|&j| {
                best21[j]
                    .is_some_and(|i| best12[i] != Some(j) && a[[i, j]] >= params.redundant_score)
            })
            .map(|j| ids2[j])
            .collect();
        let overmerged = (0..n2)
            .filter(|&j| {
                a.column(j)
                    .iter()
                    .filter(|&&x| x > params.overmerged_score)
                    .count()
                    > 1
            })
            .map(|j| ids2[j])
            .collect();
        let bad = unmatched().map(|j| ids2[j]).collect();
        UnitClasses {
            well_detected,
            false_positive: Some(false_positive),
            redundant: Some(redundant),
            overmerged: Some(overmerged),
            bad: Some(bad),
        }
    } else {
        UnitClasses {
            well_detected,
            false_positive: None,
            redundant: None,
            overmerged: None,
            bad: None,
        }
    };

    Ok(GroundTruthComparison {
        params: params.clone(),
        sampling_rate_hz: fs,
        delta_frames: delta,
        gt_unit_ids: gt.unit_ids().to_vec(),
        tested_unit_ids: ids2.to_vec(),
        gt_counts: n_gt,
        tested_counts: n_t,
        match_event_count: m.outer_iter().map(|r| r.to_vec()).collect(),
        agreement_scores: a.outer_iter().map(|r| r.to_vec()).collect(),
        hungarian_match_12: hung12,
        hungarian_match_21: hung21,
        best_match_12: best12,
        best_match_21: best21,
        counts,
        performance,
        unit_classes,
    })
}

/// Greedy matching of two sorted frame lists: each `test` frame, in order, takes the earliest
/// not-yet-matched `gt` frame within `±delta`. Returns the number of matches.
fn greedy_matches(gt: &[i64], test: &[i64], delta: i64) -> u64 {
    // Matched GT frames in the window of the current test frame always form a prefix of it, so
    // one pointer past the last matched (or passed) GT frame suffices.
    let mut p = 0;
    let mut n = 0;
    for &t in test {
        while p < gt.len() && gt[p] < t - delta {
            p += 1;
        }
        if p < gt.len() && gt[p] <= t + delta {
            n += 1;
            p += 1;
        }
    }
    n
}

/// Parameters of [`simsort_accuracy`] (SimSort's defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimSortParams {
    /// Chunk length in frames (3 000 000); a partial last chunk is dropped.
    pub chunk_samples: i64,
    /// Matching tolerance in ms (1.0), inclusive.
    pub delta_ms: f64,
}

impl Default for SimSortParams {
    fn default() -> Self {
        Self {
            chunk_samples: 3_000_000,
            delta_ms: 1.0,
        }
    }
}

impl SimSortParams {
    /// Checks every field.
    ///
    /// Errors: [`SortError::InvalidParameter`] for `chunk_samples < 1` or a negative or
    /// non-finite `delta_ms`.
    pub fn validate(&self) -> Result<()> {
        if self.chunk_samples < 1 {
            return Err(SortError::InvalidParameter {
                name: "chunk_samples",
                reason: format!(
                    "must be ≥ 1 (SimSort uses 3 000 000), got {}",
                    self.chunk_samples
                ),
            });
        }
        check_delta_ms(self.delta_ms)
    }
}

fn check_delta_ms(delta_ms: f64) -> Result<()> {
    if !(delta_ms.is_finite() && delta_ms >= 0.0) {
        return Err(SortError::InvalidParameter {
            name: "delta_ms",
            reason: format!("must be finite and ≥ 0 (1 ms is usual), got {delta_ms}"),
        });
    }
    Ok(())
}

/// Scores of one chunk in [`SimSortScore`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkScore {
    /// First frame of the chunk.
    pub start_frame: i64,
    /// GT unit ids with a spike in the chunk.
    pub gt_unit_ids: Vec<i64>,
    /// Accuracy of each of those units (0 if unmatched).
    pub accuracy: Vec<f64>,
    /// Mean of `accuracy`.
    pub mean_accuracy: f64,
}

/// The result of [`simsort_accuracy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimSortScore {
    /// The parameters used.
    pub params: SimSortParams,
    /// Tolerance in frames.
    pub delta_frames: i64,
    /// Chunks holding GT spikes, in time order.
    pub chunks: Vec<ChunkScore>,
    /// Mean of the chunk means; `None` if no full chunk holds a GT spike.
    pub mean_accuracy: Option<f64>,
}

/// SimSort's accuracy (module docs, "SimSort variant").
///
/// Errors: [`SortError::InvalidParameter`] from [`SimSortParams::validate`], or if the
/// ground truth's `n_samples` is shorter than one chunk (lower `chunk_samples`);
/// [`SortError::SamplingRateMismatch`] as in [`compare_to_ground_truth`].
///
/// # Example
/// ```
/// use spikelab_data::Sorting;
/// use spikelab_sort::compare::{simsort_accuracy, SimSortParams};
/// let gt = Sorting::from_samples_and_labels(&[100, 1000, 2000], &[0, 0, 1], 30_000.0, 3000)?;
/// let tested = Sorting::from_samples_and_labels(&[120, 1030, 1500], &[5, 5, 5], 30_000.0, 3000)?;
/// let p = SimSortParams { chunk_samples: 3000, delta_ms: 1.0 };
/// let s = simsort_accuracy(&gt, &tested, &p)?;
/// // GT 0 ↔ tested 5: 2 matches, 0 misses, 1 false positive; GT 1 unmatched.
/// assert_eq!(s.mean_accuracy, Some((2.0 / 3.0 + 0.0) / 2.0));
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
pub fn simsort_accuracy(
    gt: &Sorting,
    tested: &Sorting,
    params: &SimSortParams,
) -> Result<SimSortScore> {
    params.validate()?;
    let fs = gt.sampling_rate_hz();
    check_rates(fs, tested.sampling_rate_hz())?;
    let n_chunks = gt.n_samples() / params.chunk_samples;
    if n_chunks == 0 {
        return Err(SortError::InvalidParameter {
            name: "chunk_samples",
            reason: format!(
                "the recording ({} samples) is shorter than one chunk ({}): lower chunk_samples",
                gt.n_samples(),
                params.chunk_samples
            ),
        });
    }
    let delta = delta_frames(params.delta_ms, fs);
    let within = |train: &[i64], lo: i64, hi: i64| -> Vec<i64> {
        let a = train.partition_point(|&f| f < lo);
        let b = train.partition_point(|&f| f < hi);
        train[a..b].to_vec()
    };
    let mut chunks = Vec::new();
    for c in 0..n_chunks {
        let (lo, hi) = (c * params.chunk_samples, (c + 1) * params.chunk_samples);
        let g: Vec<(i64, Vec<i64>)> = gt
            .unit_ids()
            .iter()
            .zip(gt.trains())
            .map(|(&id, t)| (id, within(t, lo, hi)))
            .filter(|(_, t)| !t.is_empty())
            .collect();
        if g.is_empty() {
            continue;
        }
        let t: Vec<Vec<i64>> = tested
            .trains()
            .iter()
            .map(|t| within(t, lo, hi))
            .filter(|t| !t.is_empty())
            .collect();
        let counts = Array2::from_shape_fn((g.len(), t.len()), |(i, j)| {
            greedy_matches(&g[i].1, &t[j], delta) as f64
        });
        let mut accuracy = vec![0.0; g.len()];
        for (i, j) in linear_sum_assignment((-&counts).view())? {
            let m = counts[[i, j]];
            let miss = g[i].1.len() as f64 - m;
            let fp = t[j].len() as f64 - m;
            accuracy[i] = m / (m + miss + fp);
        }
        let mean_accuracy = accuracy.iter().sum::<f64>() / accuracy.len() as f64;
        chunks.push(ChunkScore {
            start_frame: lo,
            gt_unit_ids: g.iter().map(|(id, _)| *id).collect(),
            accuracy,
            mean_accuracy,
        });
    }
    let mean_accuracy = (!chunks.is_empty())
        .then(|| chunks.iter().map(|c| c.mean_accuracy).sum::<f64>() / chunks.len() as f64);
    Ok(SimSortScore {
        params: params.clone(),
        delta_frames: delta,
        chunks,
        mean_accuracy,
    })
}

/// The result of [`detection_score`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectionScore {
    /// Tolerance in ms.
    pub delta_ms: f64,
    /// Tolerance in frames.
    pub delta_frames: i64,
    /// Detections matched to a GT spike.
    pub tp: u64,
    /// Detections not matched.
    pub fp: u64,
    /// GT spikes not matched.
    #[serde(rename = "fn")]
    pub fn_: u64,
    /// `tp / (tp + fp)` (0 without detections).
    pub precision: f64,
    /// `tp / (tp + fn)` (0 without GT spikes).
    pub recall: f64,
    /// `2·precision·recall / (precision + recall)` (0 if both are 0).
    pub f1: f64,
}

/// Detection-level score of spike frames against every GT spike, any unit (module docs).
///
/// `detected_frames` are at the ground truth's sampling rate, in any order.
///
/// Errors: [`SortError::InvalidParameter`] for a negative or non-finite `delta_ms`.
///
/// # Example
/// ```
/// use spikelab_data::Sorting;
/// use spikelab_sort::compare::detection_score;
/// let gt = Sorting::from_samples_and_labels(&[100, 1000, 2000], &[0, 0, 1], 30_000.0, 3000)?;
/// let s = detection_score(&gt, &[1010, 95, 2500], 1.0)?;
/// assert_eq!((s.tp, s.fp, s.fn_), (2, 1, 1));
/// assert!((s.f1 - 2.0 / 3.0).abs() < 1e-15);
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
pub fn detection_score(
    gt: &Sorting,
    detected_frames: &[i64],
    delta_ms: f64,
) -> Result<DetectionScore> {
    check_delta_ms(delta_ms)?;
    let delta = delta_frames(delta_ms, gt.sampling_rate_hz());
    let g: Vec<i64> = gt.spike_vector().into_iter().map(|(f, _)| f).collect();
    let mut d = detected_frames.to_vec();
    d.sort_unstable();
    let tp = greedy_matches(&g, &d, delta);
    let fp = d.len() as u64 - tp;
    let fn_ = g.len() as u64 - tp;
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Ok(DetectionScore {
        delta_ms,
        delta_frames: delta,
        tp,
        fp,
        fn_,
        precision,
        recall,
        f1,
    })
}

/// Which ground-truth score to compute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "metric", rename_all = "snake_case")]
pub enum Metric {
    /// SpikeForest / SpikeInterface ([`compare_to_ground_truth`]).
    SpikeInterface(CompareParams),
    /// SimSort's own variant ([`simsort_accuracy`]).
    SimSort(SimSortParams),
}

impl Default for Metric {
    fn default() -> Self {
        Self::SpikeInterface(CompareParams::default())
    }
}

/// The result of [`Metric::evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "metric", rename_all = "snake_case")]
pub enum Score {
    /// From [`Metric::SpikeInterface`].
    SpikeInterface(Box<GroundTruthComparison>),
    /// From [`Metric::SimSort`].
    SimSort(SimSortScore),
}

impl Score {
    /// Mean accuracy over GT units (over chunks too for SimSort); `None` when there is no GT unit
    /// to average over.
    pub fn mean_accuracy(&self) -> Option<f64> {
        match self {
            Score::SpikeInterface(c) => c.mean_accuracy(),
            Score::SimSort(s) => s.mean_accuracy,
        }
    }
}

impl Metric {
    /// Scores `tested` against `gt` with this metric.
    ///
    /// Errors: those of [`compare_to_ground_truth`] or [`simsort_accuracy`].
    ///
    /// # Example
    /// ```
    /// use spikelab_data::Sorting;
    /// use spikelab_sort::compare::Metric;
    /// let gt = Sorting::from_samples_and_labels(&[100, 1000], &[0, 0], 30_000.0, 2000)?;
    /// let score = Metric::default().evaluate(&gt, &gt)?;
    /// assert_eq!(score.mean_accuracy(), Some(1.0));
    /// # Ok::<(), spikelab_sort::SortError>(())
    /// ```
    pub fn evaluate(&self, gt: &Sorting, tested: &Sorting) -> Result<Score> {
        Ok(match self {
            Metric::SpikeInterface(p) => {
                Score::SpikeInterface(Box::new(compare_to_ground_truth(gt, tested, p)?))
            }
            Metric::SimSort(p) => Score::SimSort(simsort_accuracy(gt, tested, p)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorting(frames: &[i64], labels: &[i64], fs: f64) -> Sorting {
        Sorting::from_samples_and_labels(frames, labels, fs, 10_000).unwrap()
    }

    #[test]
    fn empty_sortings() {
        let empty = sorting(&[], &[], 30e3);
        let gt = sorting(&[10, 20], &[0, 1], 30e3);
        let c = compare_to_ground_truth(&gt, &empty, &CompareParams::default()).unwrap();
        assert_eq!(c.hungarian_match_12, vec![None, None]);
        assert_eq!(c.counts[1].fn_, 1);
        assert_eq!(c.mean_accuracy(), Some(0.0));
        let c = compare_to_ground_truth(&empty, &gt, &CompareParams::default()).unwrap();
        assert_eq!(c.mean_accuracy(), None);
        assert_eq!(c.unit_classes.false_positive, Some(vec![0, 1]));
        assert_eq!(c.unit_classes.bad, Some(vec![0, 1]));
        let d = detection_score(&empty, &[], 1.0).unwrap();
        assert_eq!((d.tp, d.fp, d.fn_, d.f1), (0, 0, 0, 0.0));
    }

    #[test]
    fn unit_without_spikes() {
        let gt = Sorting::new(vec![0, 1], vec![vec![10, 500], vec![]], 30e3, 1000).unwrap();
        let tested = Sorting::new(vec![4, 5], vec![vec![], vec![12, 502]], 30e3, 1000).unwrap();
        let c = compare_to_ground_truth(&gt, &tested, &CompareParams::default()).unwrap();
        assert_eq!(c.agreement_scores, vec![vec![0.0, 1.0], vec![0.0, 0.0]]);
        assert_eq!(c.hungarian_match_ids(), vec![Some(5), None]);
        assert_eq!(c.performance[1].accuracy, 0.0);
        assert_eq!(c.unit_classes.false_positive, Some(vec![4]));
    }

    #[test]
    fn mismatched_rates_are_an_error() {
        let a = sorting(&[10], &[0], 30e3);
        let b = sorting(&[10], &[0], 25e3);
        assert!(matches!(
            compare_to_ground_truth(&a, &b, &CompareParams::default()),
            Err(SortError::SamplingRateMismatch { .. })
        ));
        assert!(matches!(
            simsort_accuracy(
                &a,
                &b,
                &SimSortParams {
                    chunk_samples: 100,
                    delta_ms: 1.0
                }
            ),
            Err(SortError::SamplingRateMismatch { .. })
        ));
        // Within 0.1 %: accepted, the GT rate is used.
        let c = sorting(&[10], &[0], 30_010.0);
        assert!(compare_to_ground_truth(&a, &c, &CompareParams::default()).is_ok());
    }

    #[test]
    fn bad_parameters_are_errors() {
        let a = sorting(&[10], &[0], 30e3);
        let p = CompareParams {
            delta_time_ms: f64::NAN,
            ..Default::default()
        };
        assert!(compare_to_ground_truth(&a, &a, &p).is_err());
        let p = SimSortParams {
            chunk_samples: 0,
            delta_ms: 1.0,
        };
        assert!(simsort_accuracy(&a, &a, &p).is_err());
        // Shorter than one chunk.
        assert!(simsort_accuracy(&a, &a, &SimSortParams::default()).is_err());
        assert!(detection_score(&a, &[1], -1.0).is_err());
    }

    #[test]
    fn greedy_takes_earliest_unmatched() {
        // Test 10 takes GT 5 (earliest within ±5), test 11 takes GT 15, test 30 none.
        assert_eq!(greedy_matches(&[5, 15, 16], &[10, 11, 30], 5), 2);
        assert_eq!(greedy_matches(&[5, 5, 5], &[5, 5], 0), 2);
        assert_eq!(greedy_matches(&[], &[5], 3), 0);
    }

    #[test]
    fn results_serialise_to_json() {
        let gt = sorting(&[10, 20], &[0, 1], 30e3);
        let s = Metric::default().evaluate(&gt, &gt).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"metric\":\"spike_interface\""));
        assert!(json.contains("\"fn\":0"));
        let back: Score = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}

/// Both scores of a sorting against its ground truth, as `spikelab sort compare` prints them:
/// spikeinterface's comparison (`exhaustive_gt = true`) and SimSort's variant (3 000 000-sample
/// chunks, or one chunk for a shorter recording).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    /// spikeinterface's comparison.
    pub spikeinterface: GroundTruthComparison,
    /// SimSort's variant.
    pub simsort: SimSortScore,
}

impl CompareReport {
    /// Scores `tested` against `gt` with a matching tolerance of `delta_time_ms`.
    ///
    /// Errors: as [`compare_to_ground_truth`] and [`simsort_accuracy`].
    pub fn new(gt: &Sorting, tested: &Sorting, delta_time_ms: f64) -> Result<Self> {
        let params = CompareParams {
            delta_time_ms,
            exhaustive_gt: true,
            ..CompareParams::default()
        };
        let spikeinterface = compare_to_ground_truth(gt, tested, &params)?;
        let chunk_samples = SimSortParams::default().chunk_samples.min(gt.n_samples());
        let simsort = simsort_accuracy(
            gt,
            tested,
            &SimSortParams {
                chunk_samples,
                ..SimSortParams::default()
            },
        )?;
        Ok(Self {
            spikeinterface,
            simsort,
        })
    }

    /// A markdown table per ground-truth unit and a summary line.
    pub fn markdown(&self) -> String {
        let c = &self.spikeinterface;
        let n = |v: &Option<Vec<i64>>| v.as_ref().map_or(0, Vec::len);
        let mut s = String::from(
            "| GT unit | spikes | matched unit | accuracy | recall | precision |\n| --- | --- | --- | --- | --- | --- |\n",
        );
        for (i, p) in c.by_unit().iter().enumerate() {
            let m = c.hungarian_match_12[i]
                .map_or("-".to_string(), |j| c.tested_unit_ids[j].to_string());
            s.push_str(&format!(
                "| {} | {} | {m} | {:.3} | {:.3} | {:.3} |\n",
                c.gt_unit_ids[i], c.gt_counts[i], p.accuracy, p.recall, p.precision
            ));
        }
        s.push_str(&format!(
            "mean accuracy {:.3} over {} GT units; {} tested units, {} well detected (≥ {}), {} false positive, {} redundant, {} overmerged; SimSort-variant accuracy {:.3}\n",
            c.mean_accuracy().unwrap_or(0.0),
            c.gt_unit_ids.len(),
            c.tested_unit_ids.len(),
            c.unit_classes.well_detected.len(),
            c.params.well_detected_score,
            n(&c.unit_classes.false_positive),
            n(&c.unit_classes.redundant),
            n(&c.unit_classes.overmerged),
            self.simsort.mean_accuracy.unwrap_or(0.0),
        ));
        s
    }
}
