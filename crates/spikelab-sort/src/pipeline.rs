//! The sorting pipeline: a recording in, sorted units out.
//!
//! ```text
//! traces (µV) → band-pass, z-score, whitening        (preprocess)
//!             → negative peaks below −k·σ_MAD         (detect)
//!             → snippets [−before, +after) per peak   (snippets)
//!             → per channel group: PCA → standardise → mean shift   (features, cluster)
//!             → merge units with the same template, drop tiny units (features)
//!             → Sorting + templates + amplitudes
//! ```
//!
//! Channel groups: with `group_radius_um = None` (tetrodes, small probes) all channels form one
//! group and every spike is described by all of them. With a radius, each spike joins the group
//! of its peak channel, described by the channels within the radius of that channel (at most
//! `max_group_channels`, nearest first), and groups are clustered independently, as
//! MountainSort 5's scheme 2 does with its neighbourhoods.
//!
//! Everything is deterministic for a given seed (the PCA subset and the bandwidth subset are
//! drawn from seeded ChaCha8 streams); the result does not depend on the number of threads.

use ndarray::{Array3, ArrayView2, s};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use spikelab_core::{Flow, Observer, Progress};
use spikelab_data::{Recording, Sorting};

use crate::cluster::{MeanShiftParams, mean_shift};
use crate::detect::{Peak, ThresholdDetector};
use crate::error::{Result, SortError};
use crate::features::{merge_similar_where, pca_features, templates};
use crate::preprocess::Preprocess;
use crate::snippets::{SnippetWindow, extract_snippets_on};

/// Parameters of [`sort`].
///
/// # Example
/// ```
/// let p = spikelab_sort::pipeline::SortParams::default();
/// assert_eq!(p.n_pca, 4);
/// p.validate(30_000.0)?;
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SortParams {
    /// Preprocessing (default: band-pass 300–6 000 Hz, z-score, whitening; no common-median
    /// reference).
    pub preprocess: Preprocess,
    /// Spike detection on the preprocessed traces (negative peaks below −4.5 σ).
    pub detector: ThresholdDetector,
    /// Snippet start before the peak, ms (0.67 ms = 20 samples at 30 kHz).
    pub before_ms: f64,
    /// Snippet end after the peak, ms (1.33 ms = 40 samples at 30 kHz).
    pub after_ms: f64,
    /// PCA components per group.
    pub n_pca: usize,
    /// Snippets the PCA is fitted on, at most.
    pub pca_fit_max: usize,
    /// Mean shift on the standardised PCA scores.
    pub mean_shift: MeanShiftParams,
    /// Use bin seeding when a group has more spikes than this (exact seeding below).
    pub bin_seeding_above: usize,
    /// Template similarity at or above which two units merge.
    pub merge_similarity: f64,
    /// Largest template shift tried by the merge, ms.
    pub merge_max_lag_ms: f64,
    /// Largest peak-amplitude ratio of two units that may merge.
    pub merge_max_amplitude_ratio: f64,
    /// Units with fewer spikes are dropped (their spikes are left unsorted).
    pub min_unit_spikes: usize,
    /// Channel-group radius in µm (`None`: one group of all channels).
    pub group_radius_um: Option<f64>,
    /// Channels per group at most (nearest to the peak channel first).
    pub max_group_channels: usize,
    /// Seed of the PCA and bandwidth subsets.
    pub seed: u64,
    /// Where the whitening's O(C²·T) covariance and product run (CPU: f64; a GPU: f32 matrix
    /// products, see [`crate::preprocess`]); everything else runs on the CPU threads.
    #[serde(default)]
    pub device: spikelab_core::Device,
}

impl Default for SortParams {
    fn default() -> Self {
        Self {
            // No common-median reference: on a tetrode every spike reaches every channel, and
            // the median across channels removes it (mean accuracy 0.49 with it, 0.97 without
            // on spikeinterface's 60-s recording, seed 42).
            preprocess: Preprocess {
                common_median_reference: false,
                ..Preprocess::spikeinterface_like()
            },
            detector: ThresholdDetector {
                threshold_sigma: 4.5,
                ..ThresholdDetector::default()
            },
            before_ms: 2.0 / 3.0,
            after_ms: 4.0 / 3.0,
            n_pca: 4,
            pca_fit_max: 20_000,
            mean_shift: MeanShiftParams {
                quantile: 0.1,
                bandwidth_samples: Some(2_000),
                ..MeanShiftParams::default()
            },
            bin_seeding_above: 20_000,
            merge_similarity: 0.97,
            merge_max_lag_ms: 0.1,
            merge_max_amplitude_ratio: 1.5,
            min_unit_spikes: 20,
            group_radius_um: None,
            max_group_channels: 8,
            seed: 0,
            device: spikelab_core::Device::Cpu,
        }
    }
}

impl SortParams {
    /// Checks every parameter against the sampling rate.
    ///
    /// Errors: [`SortError::InvalidParameter`] naming the first bad one.
    pub fn validate(&self, sampling_rate_hz: f64) -> Result<()> {
        self.preprocess.validate(sampling_rate_hz)?;
        self.detector.validate()?;
        let bad =
            |name: &'static str, reason: String| Err(SortError::InvalidParameter { name, reason });
        if !(self.before_ms >= 0.0 && self.after_ms > 0.0 && self.before_ms.is_finite()) {
            return bad(
                "before_ms/after_ms",
                "need before ≥ 0 and after > 0 ms".into(),
            );
        }
        if self.n_pca == 0 || self.pca_fit_max < 2 {
            return bad(
                "n_pca/pca_fit_max",
                "need n_pca ≥ 1 and pca_fit_max ≥ 2".into(),
            );
        }
        if !(self.merge_similarity > 0.0 && self.merge_similarity <= 1.0) {
            return bad(
                "merge_similarity",
                format!("must be in (0, 1], got {}", self.merge_similarity),
            );
        }
        if !(self.merge_max_amplitude_ratio >= 1.0 && self.merge_max_lag_ms >= 0.0) {
            return bad(
                "merge_max_amplitude_ratio/merge_max_lag_ms",
                "need ratio ≥ 1 and lag ≥ 0".into(),
            );
        }
        if let Some(r) = self.group_radius_um
            && !(r.is_finite() && r >= 0.0)
        {
            return bad("group_radius_um", format!("must be ≥ 0, got {r}"));
        }
        if self.max_group_channels == 0 {
            return bad("max_group_channels", "must be ≥ 1".into());
        }
        Ok(())
    }

    /// The snippet window in samples at `fs` Hz (`before_ms`, `after_ms` rounded; ≥ 1 after).
    ///
    /// ```
    /// let w = spikelab_sort::pipeline::SortParams::default().window(30_000.0);
    /// assert_eq!((w.before, w.after), (20, 40));
    /// ```
    pub fn window(&self, fs: f64) -> SnippetWindow {
        SnippetWindow {
            before: (self.before_ms * 1e-3 * fs).round() as usize,
            after: ((self.after_ms * 1e-3 * fs).round() as usize).max(1),
        }
    }
}

/// The result of [`sort`].
#[derive(Debug, Clone)]
pub struct SortResult {
    /// Sorted units, ids `0..n_units`, in frames of the input recording.
    pub sorting: Sorting,
    /// Mean preprocessed waveform per unit, `[unit, sample, channel]` (all channels).
    pub templates: Array3<f32>,
    /// Channel of each unit's largest |template| value.
    pub peak_channels: Vec<usize>,
    /// Preprocessed trace value at each spike's peak, in [`Sorting::spike_vector`] order.
    pub amplitudes: Vec<f32>,
    /// Peaks detected.
    pub n_detected: usize,
    /// Clusters found by mean shift, summed over groups, before merging and dropping.
    pub n_clusters: usize,
    /// Channels that were flat (zero variance) after filtering.
    pub flat_channels: Vec<usize>,
}

/// Channel groups: for each channel, the channels describing spikes that peak on it.
fn neighbourhoods(rec: &Recording, params: &SortParams) -> Vec<Vec<usize>> {
    let c = rec.n_channels();
    match params.group_radius_um {
        None => vec![(0..c).collect(); c],
        Some(r) => (0..c)
            .map(|i| {
                let a = rec.probe().position_um(i);
                let mut near: Vec<(f64, usize)> = (0..c)
                    .map(|j| {
                        let b = rec.probe().position_um(j);
                        ((a[0] - b[0]).hypot(a[1] - b[1]), j)
                    })
                    .filter(|(d, _)| *d <= r)
                    .collect();
                near.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
                near.truncate(params.max_group_channels);
                let mut ch: Vec<usize> = near.into_iter().map(|(_, j)| j).collect();
                ch.sort_unstable();
                ch
            })
            .collect(),
    }
}

fn step(observer: &mut dyn Observer, stage: &str, k: usize, total: usize) -> Result<()> {
    match observer.observe(&Progress::new(stage, k).with_total(total)) {
        Flow::Continue => Ok(()),
        Flow::Stop => Err(SortError::InvalidParameter {
            name: "observer",
            reason: format!("the sort was stopped by its observer at stage {stage}"),
        }),
    }
}

/// Sorts `recording` (see the module docs). Progress is reported per stage (`preprocess`,
/// `detect`, `cluster` with `step` = the first channel group of each parallel batch of
/// 4 × threads groups and `total` = the number of groups, `merge`); an observer returning
/// [`Flow::Stop`] ends the sort with an error. The whitening runs on `params.device`.
///
/// Errors: invalid parameters; a recording shorter than the filter padding or than one
/// snippet; NaN samples; [`SortError::InvalidParameter`] when no spike is detected.
pub fn sort(
    recording: &Recording,
    params: &SortParams,
    observer: &mut dyn Observer,
) -> Result<SortResult> {
    let fs = recording.sampling_rate_hz();
    params.validate(fs)?;
    let window = params.window(fs);
    if recording.n_samples() < window.len() {
        return Err(SortError::InvalidParameter {
            name: "recording",
            reason: format!(
                "{} samples is shorter than one {}-sample snippet",
                recording.n_samples(),
                window.len()
            ),
        });
    }
    step(observer, "preprocess", 0, 1)?;
    let plan = params.preprocess.validate(fs)?;
    let device = params
        .device
        .to_candle()
        .map_err(|e| SortError::InvalidParameter {
            name: "device",
            reason: e.to_string(),
        })?;
    let info = plan.apply_on(recording.traces_uv().view(), &device)?;
    let traces = info.traces.view();
    step(observer, "detect", 0, 1)?;
    let peaks: Vec<Peak> = params.detector.detect(traces, Some(recording.probe()))?;
    if peaks.is_empty() {
        return Err(SortError::InvalidParameter {
            name: "detector",
            reason: "no spike crosses the detection threshold; lower `threshold_sigma` or check the recording".into(),
        });
    }
    let hoods = neighbourhoods(recording, params);
    // Group key: the channel set of the peak channel's neighbourhood.
    let mut keys: Vec<&Vec<usize>> = hoods.iter().collect();
    keys.sort();
    keys.dedup();
    let key_of_channel: Vec<usize> = hoods
        .iter()
        .map(|h| keys.binary_search(&h).unwrap_or(0))
        .collect();
    let mut members_of_key: Vec<Vec<usize>> = vec![Vec::new(); keys.len()];
    for (i, p) in peaks.iter().enumerate() {
        members_of_key[key_of_channel[p.channel]].push(i);
    }
    // Groups are clustered in parallel, a batch at a time so progress is reported.
    let cluster_group = |key: &[usize], members: &[usize]| -> Result<Option<(Vec<usize>, usize)>> {
        if members.len() < params.min_unit_spikes.max(2) {
            return Ok(None);
        }
        let frames: Vec<i64> = members.iter().map(|&i| peaks[i].frame).collect();
        let snip = extract_snippets_on(traces, &frames, window, key)?;
        let n_pca = params
            .n_pca
            .min(snip.dim().1 * snip.dim().2)
            .min(members.len());
        let features = pca_features(snip.view(), n_pca, params.pca_fit_max, params.seed)?;
        let mut ms = params.mean_shift.clone();
        ms.seed = params.seed;
        ms.bin_seeding = ms.bin_seeding || members.len() > params.bin_seeding_above;
        let fit = mean_shift(features.view(), &ms)?;
        let n = fit.n_clusters();
        Ok(Some((fit.labels, n)))
    };
    // Cluster label per peak: (group, cluster in group) flattened to a global index, in group
    // order.
    let mut label: Vec<Option<usize>> = vec![None; peaks.len()];
    let mut n_clusters = 0;
    let batch = 4 * rayon::current_num_threads().max(1);
    for first in (0..keys.len()).step_by(batch) {
        step(observer, "cluster", first, keys.len())?;
        let last = (first + batch).min(keys.len());
        let fits: Vec<Option<(Vec<usize>, usize)>> = (first..last)
            .into_par_iter()
            .map(|g| cluster_group(keys[g], &members_of_key[g]))
            .collect::<Result<_>>()?;
        for (g, fit) in (first..last).zip(fits) {
            if let Some((labels, n)) = fit {
                for (&i, &l) in members_of_key[g].iter().zip(&labels) {
                    label[i] = Some(n_clusters + l);
                }
                n_clusters += n;
            }
        }
    }
    step(observer, "merge", 0, 1)?;
    let labelled: Vec<usize> = (0..peaks.len()).filter(|&i| label[i].is_some()).collect();
    let labels: Vec<usize> = labelled.iter().map(|&i| label[i].unwrap_or(0)).collect();
    let labelled_frames: Vec<i64> = labelled.iter().map(|&i| peaks[i].frame).collect();
    let t = templates(traces, &labelled_frames, &labels, n_clusters, window)?;
    let max_lag = (params.merge_max_lag_ms * 1e-3 * fs).round() as usize;
    // On a probe, only units whose peak channels are neighbours can be one neuron, and they
    // are compared on the union of their neighbourhoods.
    let cluster_peak: Vec<usize> = t.outer_iter().map(|u| peak_channel(u.view())).collect();
    let all_channels: Vec<usize> = (0..recording.n_channels()).collect();
    let (map, n_merged) = merge_similar_where(
        t.view(),
        params.merge_similarity,
        max_lag,
        params.merge_max_amplitude_ratio,
        |a, b| {
            if params.group_radius_um.is_none() {
                return Some(all_channels.clone());
            }
            let (ha, hb) = (&hoods[cluster_peak[a]], &hoods[cluster_peak[b]]);
            ha.contains(&cluster_peak[b]).then(|| {
                let mut ch: Vec<usize> = ha.iter().chain(hb).copied().collect();
                ch.sort_unstable();
                ch.dedup();
                ch
            })
        },
    );
    let merged: Vec<usize> = labels.iter().map(|&l| map[l]).collect();
    let mut counts = vec![0usize; n_merged];
    for &m in &merged {
        counts[m] += 1;
    }
    // Units kept, renumbered by first spike time.
    let mut first = vec![i64::MAX; n_merged];
    for (&i, &m) in labelled.iter().zip(&merged) {
        first[m] = first[m].min(peaks[i].frame);
    }
    let mut kept: Vec<usize> = (0..n_merged)
        .filter(|&m| counts[m] >= params.min_unit_spikes)
        .collect();
    kept.sort_by_key(|&m| (first[m], m));
    let mut unit_of = vec![None; n_merged];
    for (u, &m) in kept.iter().enumerate() {
        unit_of[m] = Some(u);
    }
    let mut trains: Vec<Vec<i64>> = vec![Vec::new(); kept.len()];
    let mut unit_labels = Vec::new();
    let mut unit_frames = Vec::new();
    for (&i, &m) in labelled.iter().zip(&merged) {
        if let Some(u) = unit_of[m] {
            trains[u].push(peaks[i].frame);
            unit_labels.push(u);
            unit_frames.push(peaks[i].frame);
        }
    }
    for tr in &mut trains {
        tr.sort_unstable();
        tr.dedup();
    }
    let sorting = Sorting::new(
        (0..kept.len() as i64).collect(),
        trains,
        fs,
        recording.n_samples() as i64,
    )?;
    let t = templates(traces, &unit_frames, &unit_labels, kept.len(), window)?.mapv(|v| v as f32);
    let peak_channels = t
        .outer_iter()
        .map(|u| peak_channel(u.view()))
        .collect::<Vec<_>>();
    let amplitudes = sorting
        .spike_vector()
        .iter()
        .map(|&(f, u)| traces[[f as usize, peak_channels[u]]])
        .collect();
    step(observer, "merge", 1, 1)?;
    Ok(SortResult {
        sorting,
        templates: t,
        peak_channels,
        amplitudes,
        n_detected: peaks.len(),
        n_clusters,
        flat_channels: info.zero_std_channels.clone(),
    })
}

fn peak_channel<T: Copy + Into<f64>>(t: ArrayView2<'_, T>) -> usize {
    let peak = |c: usize| {
        t.slice(s![.., c])
            .iter()
            .fold(0.0f64, |m, &v| m.max(v.into().abs()))
    };
    (0..t.ncols())
        .max_by(|&a, &b| peak(a).total_cmp(&peak(b)).then(b.cmp(&a)))
        .unwrap_or(0)
}

/// What [`SortResult::write_files`] records of the run in `sort.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SortSummary {
    /// spikelab-sort's version.
    pub version: String,
    /// The parameters.
    pub params: SortParams,
    /// Sampling rate (Hz) and length (samples) of the recording.
    pub sampling_rate_hz: f64,
    /// Samples in the recording.
    pub n_samples: i64,
    /// Peaks detected.
    pub n_detected: usize,
    /// Mean-shift clusters before merging.
    pub n_clusters: usize,
    /// Spikes per unit.
    pub unit_spikes: Vec<usize>,
    /// Peak channel per unit.
    pub peak_channels: Vec<usize>,
    /// Flat channels.
    pub flat_channels: Vec<usize>,
}

impl SortResult {
    /// The run summary written as `sort.json`.
    pub fn summary(&self, params: &SortParams) -> SortSummary {
        SortSummary {
            version: env!("CARGO_PKG_VERSION").into(),
            params: params.clone(),
            sampling_rate_hz: self.sorting.sampling_rate_hz(),
            n_samples: self.sorting.n_samples(),
            n_detected: self.n_detected,
            n_clusters: self.n_clusters,
            unit_spikes: self.sorting.counts(),
            peak_channels: self.peak_channels.clone(),
            flat_channels: self.flat_channels.clone(),
        }
    }

    /// Writes the phy template-gui files (`spikelab_data::io::kilosort::write_phy_files`) and
    /// `sort.json` into the existing folder `dir`. `dat` names the voltage file phy should
    /// show (path, NumPy dtype, channels, header bytes); `None` leaves phy without traces.
    ///
    /// Errors: the writers' errors ([`SortError::Data`]).
    pub fn write_files(
        &self,
        dir: &std::path::Path,
        probe: &spikelab_data::Probe,
        dat: Option<(&std::path::Path, &str, usize, u64)>,
        params: &SortParams,
    ) -> Result<()> {
        let export = spikelab_data::io::kilosort::PhyExport {
            sorting: &self.sorting,
            templates: self.templates.view(),
            amplitudes: Some(&self.amplitudes),
            probe,
            dat,
            hp_filtered: false,
        };
        spikelab_data::io::kilosort::write_phy_files(dir, &export)?;
        spikelab_data::io::write_json(&dir.join("sort.json"), &self.summary(params), false)?;
        Ok(())
    }
}
