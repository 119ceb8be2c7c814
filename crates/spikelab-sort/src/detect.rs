//! Threshold spike detection on preprocessed `[sample, channel]` traces.
//!
//! Two detectors:
//!
//! * [`SimSortThreshold`], SimSort's baseline `utils/detect.py: detect_spikes` as the
//!   specification (§4.4) describes it, for reproducing SimSort. Per channel, a sample `t` is a
//!   peak if `|x[t]| > threshold` and `|x[t]|` is the largest `|x|` within `±loc_range` (5)
//!   samples (ties: every tied sample is a peak); a peak is kept only if no other peak of that
//!   channel lies within `±long_range` (10) samples, and if it is at least `edge` (61) samples
//!   from both ends (`edge ≤ t ≤ n − 1 − edge`). The kept frames of all channels are pooled
//!   (a set, sorted); runs whose consecutive gaps are ≤ `merge_window` (15) samples collapse to
//!   one frame, the member with the largest `|x|` **on the last channel** (the channel the
//!   original loop processed last, whatever channel the peak came from: a quirk, kept as the
//!   default [`MergeOn::LastChannel`]; [`MergeOn::MaxOverChannels`] uses `max_c |x[t, c]|`
//!   instead). Ties go to the earliest member. The isolation rule drops *both* peaks of a close
//!   pair on a channel, so bursts are missed by design.
//!   The reading of the description (inclusive windows, strict threshold, ties) is ours; the
//!   fixture's Python reference (`scripts/sort_fixtures_filter.py`) implements the same reading.
//! * [`ThresholdDetector`], a standard detector (the scheme of spikeinterface's
//!   `detect_peaks(method="locally_exclusive")` and MountainSort): per-channel noise
//!   `σ_c = MAD_c / 0.6745` (median absolute deviation from the median; 0.6745 is the normal
//!   distribution's third quartile, so σ is the standard deviation for Gaussian noise); a
//!   sample is a candidate where `x < −k·σ_c` (negative peaks, the usual extracellular spike
//!   polarity; positive or both signs on request); a candidate is kept if it is the extremum
//!   over `±exclude_sweep` samples on every channel within `radius_um` of its channel (ties
//!   to the earliest sample, then the lowest channel); then, in time order, a peak within
//!   `dead_time` samples of an already kept peak of a neighbouring channel is dropped. It
//!   keeps close pairs on different channels, uses a noise-scaled threshold, and finds the peak
//!   channel, so it is the sorting default.
//!
//! # Example
//! ```
//! use ndarray::Array2;
//! use spikelab_sort::detect::{SimSortThreshold, ThresholdDetector};
//! let mut x = Array2::from_shape_fn((400, 2), |(t, c)| 0.3 * ((t * (c + 5)) as f32).sin());
//! x[(200, 0)] = -8.0;
//! let simsort = SimSortThreshold { threshold: 6.0, ..Default::default() };
//! assert_eq!(simsort.detect(x.view())?, vec![200]);
//! let peaks = ThresholdDetector::default().detect(x.view(), None)?;
//! assert_eq!((peaks[0].frame, peaks[0].channel), (200, 0));
//! # Ok::<(), spikelab_sort::SortError>(())
//! ```

use ndarray::{ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use spikelab_data::Probe;

use crate::error::{Result, SortError};

/// Samples per block of the parallel candidate search.
const DETECT_BLOCK: usize = 65_536;

/// Which channel's `|x|` picks the survivor of a merged group in [`SimSortThreshold`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MergeOn {
    /// The last channel (SimSort's behaviour).
    LastChannel,
    /// The largest `|x|` over all channels at each sample (corrected variant).
    MaxOverChannels,
}

/// SimSort's threshold detector (see the module docs), all lengths in samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SimSortThreshold {
    /// Threshold on `|x|` (SimSort's sorting uses 6.0 on z-scored data; its function default
    /// is 9).
    pub threshold: f64,
    /// Half-width of the local-maximum window (5).
    pub loc_range: usize,
    /// Half-width of the isolation window (10).
    pub long_range: usize,
    /// Samples excluded at each end (61).
    pub edge: usize,
    /// Largest gap inside a merged group (15).
    pub merge_window: usize,
    /// Channel used to pick a group's survivor.
    pub merge_on: MergeOn,
}

impl Default for SimSortThreshold {
    fn default() -> Self {
        Self {
            threshold: 6.0,
            loc_range: 5,
            long_range: 10,
            edge: 61,
            merge_window: 15,
            merge_on: MergeOn::LastChannel,
        }
    }
}

fn check_traces<T: Copy + Into<f64>>(traces: &ArrayView2<T>) -> Result<()> {
    if traces.ncols() == 0 {
        return Err(SortError::InvalidParameter {
            name: "traces",
            reason: "need at least one channel".into(),
        });
    }
    if let Some(((t, c), _)) = traces
        .indexed_iter()
        .find(|(_, v)| !(**v).into().is_finite())
    {
        return Err(SortError::NonFinite(format!(
            "traces at sample {t}, channel {c}"
        )));
    }
    Ok(())
}

impl SimSortThreshold {
    /// Checks the threshold (finite, > 0).
    pub fn validate(&self) -> Result<()> {
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(SortError::InvalidParameter {
                name: "threshold",
                reason: format!("must be finite and > 0, got {}", self.threshold),
            });
        }
        Ok(())
    }

    /// Spike frames (sorted, unique) in `traces` (`[sample, channel]`, f32 or f64).
    ///
    /// Errors: invalid parameters; no channel; NaN or infinite samples.
    pub fn detect<T: Copy + Into<f64>>(&self, traces: ArrayView2<T>) -> Result<Vec<i64>> {
        self.validate()?;
        check_traces(&traces)?;
        let (n, n_channels) = traces.dim();
        let mut found = Vec::new();
        for col in traces.axis_iter(Axis(1)) {
            let a: Vec<f64> = col.iter().map(|&v| v.into().abs()).collect();
            let peaks: Vec<usize> = (0..n)
                .filter(|&t| {
                    a[t] > self.threshold && {
                        let lo = t.saturating_sub(self.loc_range);
                        let hi = (t + self.loc_range + 1).min(n);
                        a[lo..hi].iter().all(|&v| v <= a[t])
                    }
                })
                .collect();
            for (i, &t) in peaks.iter().enumerate() {
                let close_before = i > 0 && t - peaks[i - 1] <= self.long_range;
                let close_after = i + 1 < peaks.len() && peaks[i + 1] - t <= self.long_range;
                if !close_before && !close_after && t >= self.edge && n - 1 - t >= self.edge {
                    found.push(t);
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        let score = |t: usize| -> f64 {
            match self.merge_on {
                MergeOn::LastChannel => traces[(t, n_channels - 1)].into().abs(),
                MergeOn::MaxOverChannels => traces
                    .row(t)
                    .iter()
                    .map(|&v| v.into().abs())
                    .fold(0.0, f64::max),
            }
        };
        let mut out = Vec::new();
        let mut i = 0;
        while i < found.len() {
            let mut j = i;
            while j + 1 < found.len() && found[j + 1] - found[j] <= self.merge_window {
                j += 1;
            }
            let mut best = found[i];
            for &t in &found[i + 1..=j] {
                if score(t) > score(best) {
                    best = t;
                }
            }
            out.push(best as i64);
            i = j + 1;
        }
        Ok(out)
    }
}

/// Which polarity [`ThresholdDetector`] looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeakSign {
    /// Troughs below `−k·σ` (extracellular spikes).
    Negative,
    /// Peaks above `k·σ`.
    Positive,
    /// Either (`|x| > k·σ`).
    Both,
}

/// A detected peak.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    /// Sample index.
    pub frame: i64,
    /// Channel of the extremum.
    pub channel: usize,
    /// Trace value there.
    pub amplitude: f64,
}

/// A standard noise-scaled threshold detector (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdDetector {
    /// Threshold in units of the MAD-based noise σ (5).
    pub threshold_sigma: f64,
    /// Polarity (negative).
    pub sign: PeakSign,
    /// Half-width in samples of the local-extremum window (10, ≈ 0.33 ms at 30 kHz).
    pub exclude_sweep: usize,
    /// Neighbourhood radius in µm for the extremum and the dead time; `None` or no probe means
    /// all channels are neighbours (tetrodes).
    pub radius_um: Option<f64>,
    /// Dead time in samples after a kept peak on neighbouring channels (30, 1 ms at 30 kHz).
    pub dead_time: usize,
}

impl Default for ThresholdDetector {
    fn default() -> Self {
        Self {
            threshold_sigma: 5.0,
            sign: PeakSign::Negative,
            exclude_sweep: 10,
            radius_um: None,
            dead_time: 30,
        }
    }
}

/// Per-channel noise level `median(|x − median(x)|) / 0.6745` (spikeinterface's
/// `get_noise_levels(method="mad")`, here over all samples), in f64.
///
/// ```
/// use ndarray::array;
/// let s = spikelab_sort::detect::noise_levels_mad(array![[1.0f32], [2.0], [4.0]].view());
/// assert!((s[0] - 1.0 / 0.6745).abs() < 1e-12);
/// ```
pub fn noise_levels_mad<T: Copy + Into<f64> + Sync>(traces: ArrayView2<T>) -> Vec<f64> {
    (0..traces.ncols())
        .into_par_iter()
        .map(|c| {
            let col = traces.column(c);
            let mut v: Vec<f64> = col.iter().map(|&x| x.into()).collect();
            if v.is_empty() {
                return 0.0;
            }
            let med = crate::preprocess::median_in_place(&mut v);
            let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
            crate::preprocess::median_in_place(&mut dev) / 0.6745
        })
        .collect()
}

impl ThresholdDetector {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if !(self.threshold_sigma.is_finite() && self.threshold_sigma > 0.0) {
            return Err(SortError::InvalidParameter {
                name: "threshold_sigma",
                reason: format!("must be finite and > 0, got {}", self.threshold_sigma),
            });
        }
        if let Some(r) = self.radius_um
            && !(r.is_finite() && r >= 0.0)
        {
            return Err(SortError::InvalidParameter {
                name: "radius_um",
                reason: format!("must be finite and ≥ 0, got {r}"),
            });
        }
        Ok(())
    }

    /// Peaks in `traces` (`[sample, channel]`), sorted by frame. `probe` gives the channel
    /// positions for `radius_um`. A channel whose noise level is 0 (flat) never triggers.
    ///
    /// Errors: invalid parameters; no channel; NaN or infinite samples; a probe whose channel
    /// count differs from the traces'.
    pub fn detect<T: Copy + Into<f64> + Sync>(
        &self,
        traces: ArrayView2<T>,
        probe: Option<&Probe>,
    ) -> Result<Vec<Peak>> {
        self.validate()?;
        check_traces(&traces)?;
        let (n, c) = traces.dim();
        let neighbours: Vec<Vec<usize>> = match (self.radius_um, probe) {
            (Some(r), Some(p)) => {
                if p.n_channels() != c {
                    return Err(SortError::Dimension {
                        what: "probe channels".into(),
                        expected: c.to_string(),
                        got: p.n_channels().to_string(),
                    });
                }
                (0..c)
                    .map(|i| {
                        let a = p.position_um(i);
                        (0..c)
                            .filter(|&j| {
                                let b = p.position_um(j);
                                (a[0] - b[0]).hypot(a[1] - b[1]) <= r
                            })
                            .collect()
                    })
                    .collect()
            }
            _ => vec![(0..c).collect(); c],
        };
        let sigma = noise_levels_mad(traces);
        // Signed so that larger is "more spike-like".
        let v = |t: usize, ch: usize| -> f64 {
            let x: f64 = traces[(t, ch)].into();
            match self.sign {
                PeakSign::Negative => -x,
                PeakSign::Positive => x,
                PeakSign::Both => x.abs(),
            }
        };
        // Candidates per block of samples in parallel, concatenated in time order.
        let blocks: Vec<Vec<Peak>> = (0..n.div_ceil(DETECT_BLOCK))
            .into_par_iter()
            .map(|b| {
                let mut found = Vec::new();
                for t in b * DETECT_BLOCK..((b + 1) * DETECT_BLOCK).min(n) {
                    for ch in 0..c {
                        let val = v(t, ch);
                        if sigma[ch] == 0.0 || val <= self.threshold_sigma * sigma[ch] {
                            continue;
                        }
                        let lo = t.saturating_sub(self.exclude_sweep);
                        let hi = (t + self.exclude_sweep + 1).min(n);
                        let is_extremum = (lo..hi).all(|t2| {
                            neighbours[ch].iter().all(|&c2| {
                                let w = v(t2, c2);
                                w < val || (w == val && (t2, c2) >= (t, ch))
                            })
                        });
                        if is_extremum {
                            found.push(Peak {
                                frame: t as i64,
                                channel: ch,
                                amplitude: traces[(t, ch)].into(),
                            });
                        }
                    }
                }
                found
            })
            .collect();
        let candidates = blocks.into_iter().flatten();
        let mut kept: Vec<Peak> = Vec::new();
        for p in candidates {
            let blocked = kept
                .iter()
                .rev()
                .take_while(|q| p.frame - q.frame <= self.dead_time as i64)
                .any(|q| neighbours[p.channel].contains(&q.channel));
            if !blocked {
                kept.push(p);
            }
        }
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn simsort_isolation_edges_and_quirk() {
        let mut x = Array2::<f32>::zeros((300, 2));
        // A close pair on channel 0 (both dropped by the isolation rule).
        x[(100, 0)] = 8.0;
        x[(108, 0)] = 9.0;
        // Peaks near the edges.
        x[(60, 1)] = 9.0;
        x[(238, 1)] = 9.0;
        // A group across channels: frame 150 on channel 0, 160 on channel 1; the last channel
        // is larger at 150 than at 160 only through a small value.
        x[(150, 0)] = 20.0;
        x[(150, 1)] = 0.5;
        x[(160, 1)] = 7.0;
        let d = SimSortThreshold::default();
        assert_eq!(d.detect(x.view()).unwrap(), vec![160, 238]);
        let max = SimSortThreshold {
            merge_on: MergeOn::MaxOverChannels,
            ..d
        };
        assert_eq!(max.detect(x.view()).unwrap(), vec![150, 238]);
        assert!(
            SimSortThreshold {
                threshold: 0.0,
                ..d
            }
            .detect(x.view())
            .is_err()
        );
    }

    #[test]
    fn standard_detector_neighbourhood_and_dead_time() {
        let mut x = Array2::<f64>::from_shape_fn((400, 4), |(t, c)| {
            0.5 * ((t as f64) * 0.9 + c as f64).sin()
        });
        x[(100, 0)] = -10.0;
        x[(101, 3)] = -12.0; // same event, stronger on channel 3
        x[(120, 1)] = -9.0; // within the dead time of the event above
        x[(300, 2)] = -9.0;
        let d = ThresholdDetector::default();
        let p = d.detect(x.view(), None).unwrap();
        let got: Vec<(i64, usize)> = p.iter().map(|p| (p.frame, p.channel)).collect();
        assert_eq!(got, vec![(101, 3), (300, 2)]);
        // Channels 0 and 1 only neighbour each other: 1 mm apart from 2 and 3.
        let probe = Probe::new(
            vec![[0.0, 0.0], [0.0, 20.0], [1000.0, 0.0], [1000.0, 20.0]],
            6.0,
        )
        .unwrap();
        let local = ThresholdDetector {
            radius_um: Some(50.0),
            ..d
        };
        let p = local.detect(x.view(), Some(&probe)).unwrap();
        let got: Vec<(i64, usize)> = p.iter().map(|p| (p.frame, p.channel)).collect();
        assert_eq!(got, vec![(100, 0), (101, 3), (300, 2)]);
    }
}
