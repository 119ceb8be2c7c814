//! Spike trains: per-unit sorted spike times in seconds.

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::raster::{BinnedRaster, SparseRaster};

/// Spike times of several units (neurons or sorted clusters) over one recording interval.
///
/// * Times are in **seconds** (f64), relative to the same clock as `t_start_s` / `t_stop_s`.
/// * Each unit's times are sorted ascending and lie in `[t_start_s, t_stop_s]`; every time is
///   finite. Both are checked at construction.
/// * Units are identified by `unit_ids` (for example Kilosort cluster ids or NWB unit ids), in
///   the same order as the trains.
///
/// # Example
/// ```
/// use spikelab_data::SpikeTrains;
/// let st = SpikeTrains::new(vec![vec![0.1, 0.5], vec![0.2]], 0.0, 1.0)?;
/// assert_eq!(st.n_units(), 2);
/// assert_eq!(st.total_spikes(), 3);
/// assert_eq!(st.rates_hz(), vec![2.0, 1.0]);
/// let raster = st.bin(0.25)?; // neurons × bins, 4 bins of 250 ms
/// assert_eq!(raster.counts().row(0).to_vec(), vec![1, 0, 1, 0]);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpikeTrains {
    trains: Vec<Vec<f64>>,
    unit_ids: Vec<i64>,
    t_start_s: f64,
    t_stop_s: f64,
}

impl SpikeTrains {
    /// Builds spike trains with unit ids `0..n`. Every train must already be sorted.
    ///
    /// Errors: [`DataError::InvalidSpikeTimes`] for non-finite, unsorted or out-of-interval
    /// times; [`DataError::InvalidParameter`] if `t_stop_s < t_start_s` or either is not finite.
    pub fn new(trains: Vec<Vec<f64>>, t_start_s: f64, t_stop_s: f64) -> Result<Self> {
        let ids = (0..trains.len() as i64).collect();
        Self::with_ids(trains, ids, t_start_s, t_stop_s)
    }

    /// Builds spike trains with explicit unit ids (one per train). Every train must be sorted.
    pub fn with_ids(
        trains: Vec<Vec<f64>>,
        unit_ids: Vec<i64>,
        t_start_s: f64,
        t_stop_s: f64,
    ) -> Result<Self> {
        let st = SpikeTrains {
            trains,
            unit_ids,
            t_start_s,
            t_stop_s,
        };
        st.validate(false)?;
        Ok(st)
    }

    /// Like [`SpikeTrains::with_ids`] but sorts each train first (times must still be finite
    /// and inside the interval).
    pub fn sorted_from(
        mut trains: Vec<Vec<f64>>,
        unit_ids: Vec<i64>,
        t_start_s: f64,
        t_stop_s: f64,
    ) -> Result<Self> {
        for (u, t) in trains.iter_mut().enumerate() {
            if let Some(bad) = t.iter().find(|x| !x.is_finite()) {
                return Err(DataError::InvalidSpikeTimes {
                    unit: u,
                    reason: format!("non-finite spike time {bad}"),
                });
            }
            t.sort_by(|a, b| a.total_cmp(b));
        }
        Self::with_ids(trains, unit_ids, t_start_s, t_stop_s)
    }

    /// Builds spike trains spanning `[0, max spike time]` (or `[0, 0]` if empty), useful when
    /// a format does not store the recording length.
    pub fn from_trains_infer_stop(trains: Vec<Vec<f64>>, unit_ids: Vec<i64>) -> Result<Self> {
        let t_stop = trains
            .iter()
            .filter_map(|t| t.iter().copied().filter(|x| x.is_finite()).reduce(f64::max))
            .fold(0.0f64, f64::max);
        Self::sorted_from(trains, unit_ids, 0.0, t_stop)
    }

    fn validate(&self, _sorted_on_request: bool) -> Result<()> {
        if !self.t_start_s.is_finite() || !self.t_stop_s.is_finite() {
            return Err(DataError::param("t_start_s/t_stop_s", "must be finite"));
        }
        if self.t_stop_s < self.t_start_s {
            return Err(DataError::param(
                "t_stop_s",
                format!(
                    "t_stop_s ({}) is before t_start_s ({})",
                    self.t_stop_s, self.t_start_s
                ),
            ));
        }
        if self.unit_ids.len() != self.trains.len() {
            return Err(DataError::Shape {
                what: "unit_ids".into(),
                expected: format!("{} ids (one per train)", self.trains.len()),
                got: format!("{} ids", self.unit_ids.len()),
            });
        }
        for (u, t) in self.trains.iter().enumerate() {
            let mut prev = f64::NEG_INFINITY;
            for (i, &x) in t.iter().enumerate() {
                if !x.is_finite() {
                    return Err(DataError::InvalidSpikeTimes {
                        unit: u,
                        reason: format!("spike {i} is {x}"),
                    });
                }
                if x < prev {
                    return Err(DataError::InvalidSpikeTimes {
                        unit: u,
                        reason: format!("unsorted: spike {i} at {x} s comes after {prev} s"),
                    });
                }
                if x < self.t_start_s || x > self.t_stop_s {
                    return Err(DataError::InvalidSpikeTimes {
                        unit: u,
                        reason: format!(
                            "spike {i} at {x} s is outside [{}, {}] s",
                            self.t_start_s, self.t_stop_s
                        ),
                    });
                }
                prev = x;
            }
        }
        Ok(())
    }

    /// Number of units.
    pub fn n_units(&self) -> usize {
        self.trains.len()
    }
    /// Start of the recording interval in seconds.
    pub fn t_start_s(&self) -> f64 {
        self.t_start_s
    }
    /// End of the recording interval in seconds.
    pub fn t_stop_s(&self) -> f64 {
        self.t_stop_s
    }
    /// Duration `t_stop_s - t_start_s` in seconds.
    pub fn duration_s(&self) -> f64 {
        self.t_stop_s - self.t_start_s
    }
    /// Unit ids, one per train.
    pub fn unit_ids(&self) -> &[i64] {
        &self.unit_ids
    }
    /// Spike times (s) of unit `i` (by position, not id).
    pub fn train(&self, i: usize) -> &[f64] {
        &self.trains[i]
    }
    /// All trains, in unit order.
    pub fn trains(&self) -> &[Vec<f64>] {
        &self.trains
    }
    /// Iterates over `(unit id, spike times)`.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &[f64])> {
        self.unit_ids
            .iter()
            .copied()
            .zip(self.trains.iter().map(|t| t.as_slice()))
    }
    /// Total number of spikes over all units.
    pub fn total_spikes(&self) -> usize {
        self.trains.iter().map(Vec::len).sum()
    }
    /// Spike count of each unit.
    pub fn counts(&self) -> Vec<usize> {
        self.trains.iter().map(Vec::len).collect()
    }
    /// Mean firing rate of each unit in Hz (count / duration; 0 for a zero-length interval).
    pub fn rates_hz(&self) -> Vec<f64> {
        let d = self.duration_s();
        self.trains
            .iter()
            .map(|t| if d > 0.0 { t.len() as f64 / d } else { 0.0 })
            .collect()
    }

    fn n_bins(&self, bin_s: f64) -> Result<usize> {
        if !(bin_s.is_finite() && bin_s > 0.0) {
            return Err(DataError::param(
                "bin_s",
                format!("bin width must be > 0 s, got {bin_s}"),
            ));
        }
        Ok(((self.duration_s() / bin_s).ceil() as usize).max(1))
    }

    fn bin_index(&self, t: f64, bin_s: f64, n_bins: usize) -> usize {
        // Bin b holds [t_start + b·bin, t_start + (b+1)·bin); a spike exactly at t_stop goes
        // into the last bin.
        (((t - self.t_start_s) / bin_s).floor() as usize).min(n_bins - 1)
    }

    /// Bins the trains into a dense neurons × bins count raster with bin width `bin_s` seconds.
    /// The number of bins is `ceil(duration / bin_s)` (at least 1).
    pub fn bin(&self, bin_s: f64) -> Result<BinnedRaster> {
        let n_bins = self.n_bins(bin_s)?;
        let mut counts = ndarray::Array2::<u32>::zeros((self.n_units(), n_bins));
        for (u, t) in self.trains.iter().enumerate() {
            for &x in t {
                counts[[u, self.bin_index(x, bin_s, n_bins)]] += 1;
            }
        }
        BinnedRaster::new(counts, bin_s)
    }

    /// Bins the trains into a sparse raster (memory ∝ number of non-empty bins).
    pub fn bin_sparse(&self, bin_s: f64) -> Result<SparseRaster> {
        let n_bins = self.n_bins(bin_s)?;
        let rows = self
            .trains
            .iter()
            .map(|t| {
                let mut row: Vec<(u64, u32)> = Vec::with_capacity(t.len());
                for &x in t {
                    let b = self.bin_index(x, bin_s, n_bins) as u64;
                    match row.last_mut() {
                        Some((lb, c)) if *lb == b => *c += 1,
                        _ => row.push((b, 1)),
                    }
                }
                row
            })
            .collect();
        SparseRaster::from_rows(rows, n_bins as u64, bin_s)
    }
}
