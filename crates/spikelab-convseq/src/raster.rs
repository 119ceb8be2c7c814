//! The binary spike raster convSeq works on, stored sparsely (CSR by neuron).

use std::path::Path;

use spikelab_data::{BinnedRaster, SparseRaster, SpikeTrains};

use crate::error::{ConvSeqError, Result};

/// What to do with bins that hold more than one spike of a neuron. The original method
/// works on a binary (uint8 0/1) raster, so several spikes in one bin cannot be represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum CountPolicy {
    /// Clip every count to 1 (what the original's binary raster implies). The number of
    /// clipped bins is reported by [`SpikeRaster::n_clipped`] so callers can warn.
    #[default]
    Binarize,
    /// Refuse counts > 1 with [`ConvSeqError::InvalidRaster`].
    Error,
}

/// A binary `[neuron, bin]` spike raster in compressed sparse rows: for each neuron the
/// strictly increasing list of bins that hold a spike. Memory is proportional to the
/// number of spikes, so 10⁴ neurons × 10⁷ bins is fine.
///
/// **Axis order: `[neuron, bin]`**, bins of `bin_s` seconds, bin indices `< 2³²`.
///
/// # Example
/// ```
/// use spikelab_convseq::SpikeRaster;
/// let r = SpikeRaster::from_events(3, 100, 0.05, &[(0, 10), (2, 99), (0, 3)])?;
/// assert_eq!((r.n_neurons(), r.n_bins(), r.n_spikes()), (3, 100, 3));
/// assert_eq!(r.neuron(0), &[3, 10]);
/// # Ok::<(), spikelab_convseq::ConvSeqError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeRaster {
    n_neurons: usize,
    n_bins: usize,
    bin_s: f64,
    /// CSR row pointers, length `n_neurons + 1`.
    ptr: Vec<usize>,
    /// Spike bins, grouped by neuron, increasing within a neuron.
    bins: Vec<u32>,
    n_clipped: usize,
}

impl SpikeRaster {
    fn check_dims(n_neurons: usize, n_bins: usize, bin_s: f64) -> Result<()> {
        if n_neurons == 0 {
            return Err(ConvSeqError::InvalidRaster(
                "the raster has no neurons".into(),
            ));
        }
        if n_bins < 2 {
            return Err(ConvSeqError::InvalidRaster(format!(
                "the raster needs at least 2 bins, got {n_bins}"
            )));
        }
        if n_bins > u32::MAX as usize {
            return Err(ConvSeqError::InvalidRaster(format!(
                "{n_bins} bins exceed the supported 2^32"
            )));
        }
        if !(bin_s.is_finite() && bin_s > 0.0) {
            return Err(ConvSeqError::param(
                "bin_s",
                format!("must be > 0 s, got {bin_s}"),
            ));
        }
        Ok(())
    }

    /// Builds from `(neuron, bin)` events in any order. Repeated events are merged
    /// (binarised); their number is kept in [`SpikeRaster::n_clipped`].
    pub fn from_events(
        n_neurons: usize,
        n_bins: usize,
        bin_s: f64,
        events: &[(usize, usize)],
    ) -> Result<Self> {
        Self::from_events_with(n_neurons, n_bins, bin_s, events, CountPolicy::Binarize)
    }

    /// As [`SpikeRaster::from_events`] with an explicit [`CountPolicy`] for repeated events.
    pub fn from_events_with(
        n_neurons: usize,
        n_bins: usize,
        bin_s: f64,
        events: &[(usize, usize)],
        policy: CountPolicy,
    ) -> Result<Self> {
        Self::check_dims(n_neurons, n_bins, bin_s)?;
        let mut per: Vec<Vec<u32>> = vec![Vec::new(); n_neurons];
        for &(n, b) in events {
            if n >= n_neurons || b >= n_bins {
                return Err(ConvSeqError::Shape {
                    what: "spike event".into(),
                    expected: format!("neuron < {n_neurons}, bin < {n_bins}"),
                    got: format!("({n}, {b})"),
                });
            }
            per[n].push(b as u32);
        }
        let mut n_clipped = 0;
        let mut ptr = Vec::with_capacity(n_neurons + 1);
        let mut bins = Vec::with_capacity(events.len());
        ptr.push(0);
        for (n, mut v) in per.into_iter().enumerate() {
            v.sort_unstable();
            let before = v.len();
            v.dedup();
            let dup = before - v.len();
            if dup > 0 && policy == CountPolicy::Error {
                return Err(ConvSeqError::InvalidRaster(format!(
                    "neuron {n} has {dup} bins with more than one spike (CountPolicy::Error)"
                )));
            }
            n_clipped += dup;
            bins.extend_from_slice(&v);
            ptr.push(bins.len());
        }
        Ok(SpikeRaster {
            n_neurons,
            n_bins,
            bin_s,
            ptr,
            bins,
            n_clipped,
        })
    }

    /// From a dense `[neuron, bin]` count raster.
    pub fn from_binned(r: &BinnedRaster, policy: CountPolicy) -> Result<Self> {
        Self::from_sparse(&r.to_sparse(), policy)
    }

    /// From a sparse count raster.
    pub fn from_sparse(r: &SparseRaster, policy: CountPolicy) -> Result<Self> {
        let n_bins = usize::try_from(r.n_bins())
            .map_err(|_| ConvSeqError::InvalidRaster("too many bins".into()))?;
        Self::check_dims(r.n_neurons(), n_bins, r.bin_s())?;
        let mut ptr = vec![0];
        let mut bins = Vec::with_capacity(r.nnz());
        let mut n_clipped = 0;
        for (n, row) in r.rows().iter().enumerate() {
            for &(b, c) in row {
                if c > 1 {
                    if policy == CountPolicy::Error {
                        return Err(ConvSeqError::InvalidRaster(format!(
                            "neuron {n} has {c} spikes in bin {b} (CountPolicy::Error)"
                        )));
                    }
                    n_clipped += (c - 1) as usize;
                }
                bins.push(b as u32);
            }
            ptr.push(bins.len());
        }
        Ok(SpikeRaster {
            n_neurons: r.n_neurons(),
            n_bins,
            bin_s: r.bin_s(),
            ptr,
            bins,
            n_clipped,
        })
    }

    /// Bins spike trains at `bin_s` seconds (from `t_start_s`) and binarises.
    pub fn from_spike_trains(st: &SpikeTrains, bin_s: f64, policy: CountPolicy) -> Result<Self> {
        Self::from_sparse(&st.bin_sparse(bin_s)?, policy)
    }

    /// Reads a 2-column text file of `neuron_id time_s` rows (whitespace separated,
    /// 1-based neuron ids, as the PP-Seq songbird file) and bins it at `bin_s` seconds from
    /// time 0. The number of neurons is the largest id; the number of bins covers the last
    /// spike.
    pub fn read_id_time_txt(path: &Path, bin_s: f64, policy: CountPolicy) -> Result<Self> {
        if !(bin_s.is_finite() && bin_s > 0.0) {
            return Err(ConvSeqError::param(
                "bin_s",
                format!("must be > 0 s, got {bin_s}"),
            ));
        }
        let bytes = spikelab_data::io::read_bytes_maybe_gz(path)?;
        let text = String::from_utf8_lossy(&bytes);
        let bad = |line: usize, why: &str| {
            ConvSeqError::InvalidRaster(format!("{}:{}: {why}", path.display(), line + 1))
        };
        let mut events = Vec::new();
        let (mut max_id, mut max_bin) = (0usize, 0usize);
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut it = line.split_whitespace();
            let (Some(a), Some(b)) = (it.next(), it.next()) else {
                return Err(bad(i, "expected two columns: neuron id, time in s"));
            };
            let id: f64 = a.parse().map_err(|_| bad(i, "neuron id is not a number"))?;
            let t: f64 = b.parse().map_err(|_| bad(i, "time is not a number"))?;
            if !(id >= 1.0 && id.fract() == 0.0 && id < 1e9) {
                return Err(bad(i, "neuron ids must be whole numbers ≥ 1"));
            }
            if !(t.is_finite() && t >= 0.0) {
                return Err(bad(i, "spike times must be finite and ≥ 0"));
            }
            let bin = (t / bin_s).floor() as usize;
            let n = id as usize - 1;
            max_id = max_id.max(n + 1);
            max_bin = max_bin.max(bin);
            events.push((n, bin));
        }
        if events.is_empty() {
            return Err(ConvSeqError::InvalidRaster(format!(
                "{}: no spikes",
                path.display()
            )));
        }
        Self::from_events_with(max_id, max_bin + 1, bin_s, &events, policy)
    }

    /// Reads an `int [nnz, 2]` NumPy file of `(neuron row, bin)` pairs (the bundled
    /// `synthetic_demo/spikes.npy` format).
    pub fn read_pairs_npy(
        path: &Path,
        n_neurons: usize,
        n_bins: usize,
        bin_s: f64,
    ) -> Result<Self> {
        let arr = spikelab_data::io::npy::read_any(path)?.data;
        let shape = arr.shape().to_vec();
        if shape.len() != 2 || shape[1] != 2 {
            return Err(ConvSeqError::Shape {
                what: format!("{}", path.display()),
                expected: "[nnz, 2] (neuron, bin) pairs".into(),
                got: format!("{shape:?}"),
            });
        }
        let mut ev = Vec::with_capacity(shape[0]);
        for r in 0..shape[0] {
            let (n, b) = (arr[[r, 0]], arr[[r, 1]]);
            if !(n >= 0.0 && b >= 0.0 && n.fract() == 0.0 && b.fract() == 0.0) {
                return Err(ConvSeqError::InvalidRaster(format!(
                    "{}: row {r} is not a pair of non-negative integers",
                    path.display()
                )));
            }
            ev.push((n as usize, b as usize));
        }
        Self::from_events(n_neurons, n_bins, bin_s, &ev)
    }

    /// Number of neurons (rows).
    pub fn n_neurons(&self) -> usize {
        self.n_neurons
    }
    /// Number of time bins (columns).
    pub fn n_bins(&self) -> usize {
        self.n_bins
    }
    /// Bin width in seconds.
    pub fn bin_s(&self) -> f64 {
        self.bin_s
    }
    /// Number of spikes (ones in the binary raster).
    pub fn n_spikes(&self) -> usize {
        self.bins.len()
    }
    /// How many spikes were dropped by binarisation (0 if the input was binary).
    pub fn n_clipped(&self) -> usize {
        self.n_clipped
    }
    /// The sorted spike bins of neuron `n` (empty slice if `n` is out of range).
    pub fn neuron(&self, n: usize) -> &[u32] {
        if n >= self.n_neurons {
            return &[];
        }
        &self.bins[self.ptr[n]..self.ptr[n + 1]]
    }
    /// CSR row pointers (length `n_neurons + 1`) and spike bins.
    pub fn csr(&self) -> (&[usize], &[u32]) {
        (&self.ptr, &self.bins)
    }
    /// Fraction of ones in the raster.
    pub fn density(&self) -> f64 {
        self.n_spikes() as f64 / (self.n_neurons as f64 * self.n_bins as f64)
    }
    /// The sub-raster of bins `start..end` (bins renumbered from 0).
    pub fn slice_bins(&self, start: usize, end: usize) -> Result<Self> {
        if start >= end || end > self.n_bins {
            return Err(ConvSeqError::param(
                "start/end",
                format!("need start < end ≤ {}, got {start}..{end}", self.n_bins),
            ));
        }
        let mut ev = Vec::new();
        for n in 0..self.n_neurons {
            for &b in self.neuron(n) {
                let b = b as usize;
                if b >= start && b < end {
                    ev.push((n, b - start));
                }
            }
        }
        Self::from_events(self.n_neurons, end - start, self.bin_s, &ev)
    }
    /// The raster with its rows reordered: row `i` of the result is row `order[i]` here.
    pub fn permute_rows(&self, order: &[usize]) -> Result<Self> {
        let mut seen = vec![false; self.n_neurons];
        if order.len() != self.n_neurons
            || order
                .iter()
                .any(|&o| o >= self.n_neurons || std::mem::replace(&mut seen[o], true))
        {
            return Err(ConvSeqError::param(
                "order",
                "must be a permutation of 0..n_neurons",
            ));
        }
        let mut ptr = vec![0];
        let mut bins = Vec::with_capacity(self.bins.len());
        for &o in order {
            bins.extend_from_slice(self.neuron(o));
            ptr.push(bins.len());
        }
        Ok(SpikeRaster {
            ptr,
            bins,
            ..self.clone()
        })
    }
    /// Dense `[neuron, bin]` copy as 0/1 values (for the dense path and plots). Refuses
    /// above 2³¹ cells.
    pub fn to_dense_f64(&self) -> Result<ndarray::Array2<f64>> {
        let cells = self.n_neurons as u128 * self.n_bins as u128;
        if cells > (1u128 << 31) {
            return Err(ConvSeqError::InvalidRaster(format!(
                "{} × {} cells are too many to densify",
                self.n_neurons, self.n_bins
            )));
        }
        let mut a = ndarray::Array2::<f64>::zeros((self.n_neurons, self.n_bins));
        for n in 0..self.n_neurons {
            for &b in self.neuron(n) {
                a[[n, b as usize]] = 1.0;
            }
        }
        Ok(a)
    }
    /// Checks that the raster has at least one spike.
    pub(crate) fn require_spikes(&self) -> Result<()> {
        if self.n_spikes() == 0 {
            return Err(ConvSeqError::InvalidRaster(
                "the raster holds no spikes".into(),
            ));
        }
        Ok(())
    }
}
