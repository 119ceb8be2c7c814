//! Binned rasters: neurons × bins spike counts, dense and sparse.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

fn check_bin(bin_s: f64) -> Result<()> {
    if bin_s.is_finite() && bin_s > 0.0 {
        Ok(())
    } else {
        Err(DataError::param(
            "bin_s",
            format!("bin width must be > 0 s, got {bin_s}"),
        ))
    }
}

/// A dense spike-count raster.
///
/// **Axis order: `[neuron, bin]`** (rows are neurons, columns are time bins of `bin_s`
/// seconds). Counts are `u32`. Use [`SparseRaster`] for long, sparse recordings.
///
/// # Example
/// ```
/// use ndarray::array;
/// use spikelab_data::BinnedRaster;
/// let r = BinnedRaster::new(array![[0u32, 2, 0], [1, 0, 0]], 0.05)?;
/// assert_eq!((r.n_neurons(), r.n_bins()), (2, 3));
/// assert_eq!(r.total_spikes(), 3);
/// assert!((r.duration_s() - 0.15).abs() < 1e-12);
/// assert_eq!(r.binarized().counts()[[0, 1]], 1);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinnedRaster {
    counts: Array2<u32>,
    bin_s: f64,
}

impl BinnedRaster {
    /// Wraps a `[neuron, bin]` count array with its bin width in seconds.
    pub fn new(counts: Array2<u32>, bin_s: f64) -> Result<Self> {
        check_bin(bin_s)?;
        Ok(BinnedRaster { counts, bin_s })
    }

    /// Builds a raster from a `[neuron, bin]` array of any numeric type; values must be
    /// non-negative whole numbers.
    pub fn from_f64(values: ArrayView2<'_, f64>, bin_s: f64) -> Result<Self> {
        let mut counts = Array2::<u32>::zeros(values.raw_dim());
        for ((i, j), &v) in values.indexed_iter() {
            if !(v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64) {
                return Err(DataError::Shape {
                    what: "raster counts".into(),
                    expected: "non-negative whole numbers".into(),
                    got: format!("{v} at [{i}, {j}]"),
                });
            }
            counts[[i, j]] = v as u32;
        }
        Self::new(counts, bin_s)
    }

    /// The `[neuron, bin]` counts.
    pub fn counts(&self) -> &Array2<u32> {
        &self.counts
    }
    /// Consumes the raster, returning the `[neuron, bin]` counts.
    pub fn into_counts(self) -> Array2<u32> {
        self.counts
    }
    /// Bin width in seconds.
    pub fn bin_s(&self) -> f64 {
        self.bin_s
    }
    /// Number of neurons (rows).
    pub fn n_neurons(&self) -> usize {
        self.counts.nrows()
    }
    /// Number of bins (columns).
    pub fn n_bins(&self) -> usize {
        self.counts.ncols()
    }
    /// Duration covered, `n_bins · bin_s` seconds.
    pub fn duration_s(&self) -> f64 {
        self.n_bins() as f64 * self.bin_s
    }
    /// Sum of all counts.
    pub fn total_spikes(&self) -> u64 {
        self.counts.iter().map(|&c| c as u64).sum()
    }
    /// Largest count in any bin.
    pub fn max_count(&self) -> u32 {
        self.counts.iter().copied().max().unwrap_or(0)
    }
    /// Mean rate of each neuron in Hz.
    pub fn rates_hz(&self) -> Vec<f64> {
        let d = self.duration_s();
        self.counts
            .rows()
            .into_iter()
            .map(|r| r.iter().map(|&c| c as f64).sum::<f64>() / d)
            .collect()
    }
    /// A copy with every count above 1 clipped to 1.
    pub fn binarized(&self) -> BinnedRaster {
        BinnedRaster {
            counts: self.counts.mapv(|c| c.min(1)),
            bin_s: self.bin_s,
        }
    }
    /// Converts to the sparse form.
    pub fn to_sparse(&self) -> SparseRaster {
        let rows = self
            .counts
            .rows()
            .into_iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .filter(|&(_, &c)| c > 0)
                    .map(|(b, &c)| (b as u64, c))
                    .collect()
            })
            .collect();
        SparseRaster {
            rows,
            n_bins: self.n_bins() as u64,
            bin_s: self.bin_s,
        }
    }
}

/// A sparse spike-count raster for long recordings: for each neuron, the sorted list of
/// non-empty bins with their counts. Memory is proportional to the number of non-empty bins,
/// so 10⁴ neurons × 10⁷ bins at a few Hz needs megabytes, not the 100 GB of a dense array.
///
/// **Axis order: `[neuron, bin]`**, as for [`BinnedRaster`]; bins are `u64`.
///
/// # Example
/// ```
/// use spikelab_data::SparseRaster;
/// let r = SparseRaster::from_events(3, 1_000_000, 0.001, &[(0, 10), (2, 999_999), (0, 10)])?;
/// assert_eq!(r.total_spikes(), 3);
/// // Dense blocks of 500 000 bins that overlap by 100 bins:
/// let blocks: Vec<_> = r.windows(500_000, 100)?.collect();
/// assert_eq!(blocks.len(), 3);
/// assert_eq!(blocks[0].counts()[[0, 10]], 2);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SparseRaster {
    rows: Vec<Vec<(u64, u32)>>,
    n_bins: u64,
    bin_s: f64,
}

impl SparseRaster {
    /// Builds from per-neuron `(bin, count)` lists; each must be strictly increasing in bin,
    /// below `n_bins`, with counts > 0.
    pub fn from_rows(rows: Vec<Vec<(u64, u32)>>, n_bins: u64, bin_s: f64) -> Result<Self> {
        check_bin(bin_s)?;
        for (n, row) in rows.iter().enumerate() {
            let mut prev: Option<u64> = None;
            for &(b, c) in row {
                if b >= n_bins || c == 0 || prev.is_some_and(|p| p >= b) {
                    return Err(DataError::Shape {
                        what: format!("sparse raster row {n}"),
                        expected: format!("strictly increasing bins < {n_bins} with counts > 0"),
                        got: format!("bin {b} count {c} after {prev:?}"),
                    });
                }
                prev = Some(b);
            }
        }
        Ok(SparseRaster {
            rows,
            n_bins,
            bin_s,
        })
    }

    /// Builds from `(neuron, bin)` events in any order; repeated events add up.
    pub fn from_events(
        n_neurons: usize,
        n_bins: u64,
        bin_s: f64,
        events: &[(usize, u64)],
    ) -> Result<Self> {
        check_bin(bin_s)?;
        let mut per: Vec<Vec<u64>> = vec![Vec::new(); n_neurons];
        for &(n, b) in events {
            if n >= n_neurons || b >= n_bins {
                return Err(DataError::Shape {
                    what: "sparse raster event".into(),
                    expected: format!("neuron < {n_neurons}, bin < {n_bins}"),
                    got: format!("({n}, {b})"),
                });
            }
            per[n].push(b);
        }
        let rows = per
            .into_iter()
            .map(|mut v| {
                v.sort_unstable();
                let mut row: Vec<(u64, u32)> = Vec::with_capacity(v.len());
                for b in v {
                    match row.last_mut() {
                        Some((lb, c)) if *lb == b => *c += 1,
                        _ => row.push((b, 1)),
                    }
                }
                row
            })
            .collect();
        Ok(SparseRaster {
            rows,
            n_bins,
            bin_s,
        })
    }

    /// Number of neurons.
    pub fn n_neurons(&self) -> usize {
        self.rows.len()
    }
    /// Number of bins.
    pub fn n_bins(&self) -> u64 {
        self.n_bins
    }
    /// Bin width in seconds.
    pub fn bin_s(&self) -> f64 {
        self.bin_s
    }
    /// Per-neuron sorted `(bin, count)` lists.
    pub fn rows(&self) -> &[Vec<(u64, u32)>] {
        &self.rows
    }
    /// Sum of all counts.
    pub fn total_spikes(&self) -> u64 {
        self.rows
            .iter()
            .flat_map(|r| r.iter().map(|&(_, c)| c as u64))
            .sum()
    }
    /// Number of non-empty bins over all neurons.
    pub fn nnz(&self) -> usize {
        self.rows.iter().map(Vec::len).sum()
    }
    /// Largest count in any bin (0 for an empty raster).
    pub fn max_count(&self) -> u32 {
        self.rows
            .iter()
            .flat_map(|r| r.iter().map(|&(_, c)| c))
            .max()
            .unwrap_or(0)
    }
    /// A copy with every count above 1 clipped to 1.
    pub fn binarized(&self) -> SparseRaster {
        SparseRaster {
            rows: self
                .rows
                .iter()
                .map(|r| r.iter().map(|&(b, _)| (b, 1)).collect())
                .collect(),
            n_bins: self.n_bins,
            bin_s: self.bin_s,
        }
    }
    /// The sub-raster of bins `start..end`, renumbered from 0.
    ///
    /// ```
    /// use spikelab_data::SparseRaster;
    /// let r = SparseRaster::from_events(2, 100, 0.01, &[(0, 5), (1, 50), (1, 70)])?;
    /// let s = r.slice_bins(40, 100)?;
    /// assert_eq!((s.n_bins(), s.rows()[1].clone()), (60, vec![(10, 1), (30, 1)]));
    /// # Ok::<(), spikelab_data::DataError>(())
    /// ```
    pub fn slice_bins(&self, start: u64, end: u64) -> Result<SparseRaster> {
        if start >= end || end > self.n_bins {
            return Err(DataError::param(
                "start/end",
                format!("need start < end ≤ {}, got {start}..{end}", self.n_bins),
            ));
        }
        let rows = self
            .rows
            .iter()
            .map(|row| {
                let i0 = row.partition_point(|&(b, _)| b < start);
                let i1 = row.partition_point(|&(b, _)| b < end);
                row[i0..i1].iter().map(|&(b, c)| (b - start, c)).collect()
            })
            .collect();
        Ok(SparseRaster {
            rows,
            n_bins: end - start,
            bin_s: self.bin_s,
        })
    }
    /// Densifies the whole raster. Refuses above 2³¹ cells; use [`SparseRaster::windows`].
    pub fn to_dense(&self) -> Result<BinnedRaster> {
        let cells = self.n_neurons() as u128 * self.n_bins as u128;
        if cells > (1u128 << 31) {
            return Err(DataError::param(
                "SparseRaster::to_dense",
                format!(
                    "{} × {} = {cells} cells is too large to densify; iterate with windows()",
                    self.n_neurons(),
                    self.n_bins
                ),
            ));
        }
        self.dense_block(0, self.n_bins)
    }

    /// Dense `[neuron, bin]` block of bins `start..end`.
    pub fn dense_block(&self, start: u64, end: u64) -> Result<BinnedRaster> {
        if start > end || end > self.n_bins {
            return Err(DataError::param(
                "start/end",
                format!("bins {start}..{end} are outside 0..{}", self.n_bins),
            ));
        }
        let mut a = Array2::<u32>::zeros((self.n_neurons(), (end - start) as usize));
        for (n, row) in self.rows.iter().enumerate() {
            let i0 = row.partition_point(|&(b, _)| b < start);
            for &(b, c) in &row[i0..] {
                if b >= end {
                    break;
                }
                a[[n, (b - start) as usize]] = c;
            }
        }
        BinnedRaster::new(a, self.bin_s)
    }

    /// Iterates over dense time windows of `window_bins` bins, consecutive windows sharing
    /// `overlap_bins` bins (window k starts at `k·(window_bins − overlap_bins)`). The last
    /// window is shorter if the raster ends first. Yields [`DenseWindow`]s.
    pub fn windows(&self, window_bins: u64, overlap_bins: u64) -> Result<Windows<'_>> {
        if window_bins == 0 || overlap_bins >= window_bins {
            return Err(DataError::param(
                "window_bins/overlap_bins",
                format!(
                    "need window_bins > overlap_bins ≥ 0, got {window_bins} and {overlap_bins}"
                ),
            ));
        }
        Ok(Windows {
            raster: self,
            window: window_bins,
            step: window_bins - overlap_bins,
            next_start: 0,
            done: false,
        })
    }
}

/// One dense window produced by [`SparseRaster::windows`].
#[derive(Debug, Clone)]
pub struct DenseWindow {
    /// First bin of the window in the whole raster.
    pub start_bin: u64,
    /// The `[neuron, bin]` block.
    pub raster: BinnedRaster,
}

impl DenseWindow {
    /// The window's counts, `[neuron, bin - start_bin]`.
    pub fn counts(&self) -> &Array2<u32> {
        self.raster.counts()
    }
}

/// Iterator over dense windows of a [`SparseRaster`].
#[derive(Debug)]
pub struct Windows<'a> {
    raster: &'a SparseRaster,
    window: u64,
    step: u64,
    next_start: u64,
    done: bool,
}

impl Iterator for Windows<'_> {
    type Item = DenseWindow;
    fn next(&mut self) -> Option<DenseWindow> {
        if self.done || self.raster.n_bins == 0 {
            return None;
        }
        let start = self.next_start;
        let end = (start + self.window).min(self.raster.n_bins);
        if end >= self.raster.n_bins {
            self.done = true;
        }
        self.next_start += self.step;
        let raster = self.raster.dense_block(start, end).ok()?;
        Some(DenseWindow {
            start_bin: start,
            raster,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_everything_with_overlap() {
        let ev: Vec<(usize, u64)> = (0..1000u64).map(|b| ((b % 3) as usize, b)).collect();
        let r = SparseRaster::from_events(3, 1000, 0.01, &ev).unwrap();
        let w: Vec<_> = r.windows(300, 50).unwrap().collect();
        assert_eq!(
            w.iter().map(|w| w.start_bin).collect::<Vec<_>>(),
            vec![0, 250, 500, 750]
        );
        assert_eq!(w[3].raster.n_bins(), 250);
        // Overlapping bins agree.
        assert_eq!(
            w[0].counts().slice(ndarray::s![.., 250..300]),
            w[1].counts().slice(ndarray::s![.., 0..50])
        );
        let dense = r.to_dense().unwrap();
        assert_eq!(dense.to_sparse(), r);
        assert!(r.windows(10, 10).is_err());
    }

    #[test]
    fn bad_rows_rejected() {
        assert!(SparseRaster::from_rows(vec![vec![(5, 1), (3, 1)]], 10, 0.1).is_err());
        assert!(SparseRaster::from_rows(vec![vec![(10, 1)]], 10, 0.1).is_err());
        assert!(BinnedRaster::new(Array2::zeros((1, 1)), 0.0).is_err());
    }
}
