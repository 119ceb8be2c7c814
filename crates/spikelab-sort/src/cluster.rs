//! Mean-shift clustering of spike features, as scikit-learn's `MeanShift` with
//! `estimate_bandwidth`.
//!
//! **Mean shift** (Fukunaga & Hostetler 1975; Comaniciu & Meer, IEEE TPAMI 2002) with a flat
//! kernel of radius `h` (the bandwidth) moves a point `m` to the mean of the data within `h`,
//!
//! ```text
//! m ← mean{ xᵢ : ‖xᵢ − m‖ ≤ h },
//! ```
//!
//! until the step is at most `10⁻³·h` or 300 iterations. Every data point (or, with bin seeding,
//! every occupied grid cell of side `h`) is a seed. The converged modes are sorted by the number
//! of points within `h` (then by their coordinates, both descending); a mode closer than `h` to a
//! mode kept before it is dropped; every point is labelled with its nearest kept mode. All of this
//! is scikit-learn 1.x's `MeanShift(bandwidth, cluster_all=True)`.
//!
//! **Bandwidth** (`estimate_bandwidth`): over a random subset of `n_samples` points, the mean
//! distance from each point to its `k`-th nearest neighbour within the subset, the point itself
//! counted as the first, `k = max(1, ⌊quantile · subset size⌋)`. scikit-learn draws the subset
//! with NumPy's Mersenne Twister; ours is drawn from a seeded ChaCha8 stream, so with
//! `n_samples < n` the subset (not the rule) differs. SimSort uses `quantile = 0.04,
//! n_samples = 500` on standardised 2-D UMAP coordinates.
//!
//! Radius queries use a uniform grid of cell side `h` over the first (up to) three coordinates;
//! the exact distance on all coordinates decides membership, so the result does not depend on
//! the grid.

use std::collections::HashMap;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SortError};

/// Parameters of [`mean_shift`].
///
/// # Example
/// ```
/// use ndarray::array;
/// use spikelab_sort::cluster::{MeanShiftParams, mean_shift};
/// let x = array![[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [5.0, 5.0], [5.1, 5.0]];
/// let fit = mean_shift(x.view(), &MeanShiftParams::default().bandwidth(1.0))?;
/// assert_eq!(fit.n_clusters(), 2);
/// assert_eq!(fit.labels, vec![0, 0, 0, 1, 1]);
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeanShiftParams {
    /// Kernel radius; `None` estimates it with [`estimate_bandwidth`].
    pub bandwidth: Option<f64>,
    /// Quantile of [`estimate_bandwidth`] (scikit-learn's default 0.3; SimSort 0.04).
    pub quantile: f64,
    /// Subset size of [`estimate_bandwidth`] (`None`: all points; SimSort 500).
    pub bandwidth_samples: Option<usize>,
    /// Seed for the bandwidth subset.
    pub seed: u64,
    /// Seeds from occupied grid cells of side `bandwidth` instead of every point.
    pub bin_seeding: bool,
    /// Minimum points in a cell for it to seed (with `bin_seeding`).
    pub min_bin_freq: usize,
    /// Maximum mean-shift iterations per seed.
    pub max_iter: usize,
}

impl Default for MeanShiftParams {
    fn default() -> Self {
        Self {
            bandwidth: None,
            quantile: 0.3,
            bandwidth_samples: None,
            seed: 0,
            bin_seeding: false,
            min_bin_freq: 1,
            max_iter: 300,
        }
    }
}

impl MeanShiftParams {
    /// SimSort's clustering settings: quantile 0.04 over 500 points.
    pub fn simsort() -> Self {
        Self {
            quantile: 0.04,
            bandwidth_samples: Some(500),
            ..Self::default()
        }
    }

    /// Sets a fixed bandwidth.
    pub fn bandwidth(mut self, h: f64) -> Self {
        self.bandwidth = Some(h);
        self
    }

    fn validate(&self) -> Result<()> {
        if let Some(h) = self.bandwidth
            && !(h.is_finite() && h > 0.0)
        {
            return Err(SortError::InvalidParameter {
                name: "bandwidth",
                reason: format!("must be positive and finite, got {h}"),
            });
        }
        if !(self.quantile > 0.0 && self.quantile <= 1.0) {
            return Err(SortError::InvalidParameter {
                name: "quantile",
                reason: format!("must be in (0, 1], got {}", self.quantile),
            });
        }
        if self.bandwidth_samples == Some(0) || self.max_iter == 0 || self.min_bin_freq == 0 {
            return Err(SortError::InvalidParameter {
                name: "bandwidth_samples/max_iter/min_bin_freq",
                reason: "must be ≥ 1".into(),
            });
        }
        Ok(())
    }
}

/// The result of [`mean_shift`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeanShiftFit {
    /// Kept modes, `[cluster, feature]`, in decreasing order of support.
    pub centers: Array2<f64>,
    /// Cluster index of every point (nearest kept mode).
    pub labels: Vec<usize>,
    /// The bandwidth used.
    pub bandwidth: f64,
    /// Largest number of iterations any seed took.
    pub n_iter: usize,
}

impl MeanShiftFit {
    /// Number of clusters.
    pub fn n_clusters(&self) -> usize {
        self.centers.nrows()
    }
}

fn check_points(x: ArrayView2<'_, f64>) -> Result<()> {
    if x.nrows() == 0 || x.ncols() == 0 {
        return Err(SortError::Dimension {
            what: "clustering input".into(),
            expected: "≥ 1 point with ≥ 1 feature".into(),
            got: format!("{}×{}", x.nrows(), x.ncols()),
        });
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(SortError::NonFinite("clustering input".into()));
    }
    Ok(())
}

fn dist2(a: ArrayView1<'_, f64>, b: ArrayView1<'_, f64>) -> f64 {
    a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum()
}

/// scikit-learn's `estimate_bandwidth(x, quantile, n_samples)` with a seeded subset (see the
/// module docs). `x` is `[point, feature]`.
///
/// Errors: [`SortError::Dimension`] for an empty input, [`SortError::NonFinite`],
/// [`SortError::InvalidParameter`] for a quantile outside (0, 1] or `n_samples == Some(0)`.
///
/// ```
/// use ndarray::array;
/// use spikelab_sort::cluster::estimate_bandwidth;
/// let x = array![[0.0], [1.0], [3.0]];
/// // k = max(1, ⌊0.5·3⌋) = 1: each point's nearest neighbour is itself.
/// assert_eq!(estimate_bandwidth(x.view(), 0.5, None, 0)?, 0.0);
/// // k = 2: distances 1, 1, 2.
/// assert_eq!(estimate_bandwidth(x.view(), 0.9, None, 0)?, 4.0 / 3.0);
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
pub fn estimate_bandwidth(
    x: ArrayView2<'_, f64>,
    quantile: f64,
    n_samples: Option<usize>,
    seed: u64,
) -> Result<f64> {
    check_points(x)?;
    MeanShiftParams {
        quantile,
        bandwidth_samples: n_samples,
        ..MeanShiftParams::default()
    }
    .validate()?;
    let n = x.nrows();
    let rows: Vec<usize> = match n_samples {
        Some(m) if m < n => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            sample(&mut rng, n, m).into_vec()
        }
        _ => (0..n).collect(),
    };
    let m = rows.len();
    let k = ((m as f64 * quantile) as usize).max(1).min(m);
    let total: f64 = rows
        .par_iter()
        .map(|&i| {
            let mut d: Vec<f64> = rows
                .iter()
                .map(|&j| dist2(x.row(i), x.row(j)).sqrt())
                .collect();
            d.select_nth_unstable_by(k - 1, f64::total_cmp);
            d[k - 1]
        })
        .collect::<Vec<_>>()
        .iter()
        .sum();
    Ok(total / m as f64)
}

/// Points bucketed by a grid of side `h` over the first `min(3, d)` coordinates.
struct Grid<'a> {
    x: ArrayView2<'a, f64>,
    h: f64,
    dims: usize,
    cells: HashMap<[i64; 3], Vec<usize>>,
}

impl<'a> Grid<'a> {
    fn new(x: ArrayView2<'a, f64>, h: f64) -> Self {
        let dims = x.ncols().min(3);
        let mut cells: HashMap<[i64; 3], Vec<usize>> = HashMap::new();
        let mut g = Self {
            x,
            h,
            dims,
            cells: HashMap::new(),
        };
        for i in 0..x.nrows() {
            cells.entry(g.cell(x.row(i))).or_default().push(i);
        }
        g.cells = cells;
        g
    }

    fn cell(&self, p: ArrayView1<'_, f64>) -> [i64; 3] {
        let mut c = [0i64; 3];
        for (d, cd) in c.iter_mut().enumerate().take(self.dims) {
            *cd = (p[d] / self.h).floor() as i64;
        }
        c
    }

    /// Indices of the points within `h` of `p` (distance ≤ h), ascending.
    fn within(&self, p: ArrayView1<'_, f64>, out: &mut Vec<usize>) {
        out.clear();
        let c = self.cell(p);
        let h2 = self.h * self.h;
        let span = |d: usize| if d < self.dims { -1..=1 } else { 0..=0 };
        for a in span(0) {
            for b in span(1) {
                for e in span(2) {
                    if let Some(v) = self.cells.get(&[c[0] + a, c[1] + b, c[2] + e]) {
                        out.extend(v.iter().copied().filter(|&i| dist2(self.x.row(i), p) <= h2));
                    }
                }
            }
        }
        out.sort_unstable();
    }
}

/// Climbs from `seed` (flat kernel); returns the mode, its support and the iterations taken.
fn climb(grid: &Grid<'_>, seed: Array1<f64>, max_iter: usize) -> (Array1<f64>, usize, usize) {
    let stop = 1e-3 * grid.h;
    let mut mean = seed;
    let mut idx = Vec::new();
    let mut iter = 0;
    loop {
        grid.within(mean.view(), &mut idx);
        if idx.is_empty() {
            return (mean, 0, iter);
        }
        let mut next = Array1::<f64>::zeros(mean.len());
        for &i in &idx {
            next += &grid.x.row(i);
        }
        next /= idx.len() as f64;
        let step = dist2(next.view(), mean.view()).sqrt();
        mean = next;
        if step <= stop || iter == max_iter {
            return (mean, idx.len(), iter);
        }
        iter += 1;
    }
}

/// Mean-shift clustering of `x` (`[point, feature]`), as scikit-learn's `MeanShift` (see the
/// module docs). Features should be on comparable scales (standardise first).
///
/// Errors: [`SortError::Dimension`] for an empty input, [`SortError::NonFinite`],
/// [`SortError::InvalidParameter`] for bad parameters or an estimated bandwidth of 0 (all
/// points in the subset coincide with their `k` nearest neighbours: raise the quantile).
pub fn mean_shift(x: ArrayView2<'_, f64>, params: &MeanShiftParams) -> Result<MeanShiftFit> {
    params.validate()?;
    check_points(x)?;
    let h = match params.bandwidth {
        Some(h) => h,
        None => estimate_bandwidth(x, params.quantile, params.bandwidth_samples, params.seed)?,
    };
    if h <= 0.0 {
        return Err(SortError::InvalidParameter {
            name: "bandwidth",
            reason: "the estimated bandwidth is 0 (duplicate points); raise `quantile` or set a bandwidth".into(),
        });
    }
    let grid = Grid::new(x, h);
    let seeds: Vec<Array1<f64>> = if params.bin_seeding {
        bin_seeds(x, h, params.min_bin_freq)
    } else {
        x.rows().into_iter().map(|r| r.to_owned()).collect()
    };
    let climbed: Vec<(Array1<f64>, usize, usize)> = seeds
        .into_par_iter()
        .map(|s| climb(&grid, s, params.max_iter))
        .collect();
    let n_iter = climbed.iter().map(|c| c.2).max().unwrap_or(0);
    // Identical modes collapse to one entry (the last seed's support wins, as a dict keyed by
    // the mode would).
    let mut modes: Vec<(Array1<f64>, usize)> = Vec::new();
    let mut index: HashMap<Vec<u64>, usize> = HashMap::new();
    for (m, support, _) in climbed {
        if support == 0 {
            continue;
        }
        let key: Vec<u64> = m.iter().map(|v| v.to_bits()).collect();
        match index.get(&key) {
            Some(&k) => modes[k].1 = support,
            None => {
                index.insert(key, modes.len());
                modes.push((m, support));
            }
        }
    }
    // Decreasing support, then decreasing coordinates (lexicographic), as Python's
    // `sorted(..., key=(support, mode), reverse=True)`.
    modes.sort_by(|a, b| {
        b.1.cmp(&a.1).then_with(|| {
            b.0.iter()
                .zip(a.0.iter())
                .map(|(p, q)| p.total_cmp(q))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        })
    });
    let h2 = h * h;
    let mut keep = vec![true; modes.len()];
    for i in 0..modes.len() {
        if keep[i] {
            for j in 0..modes.len() {
                if j != i && dist2(modes[i].0.view(), modes[j].0.view()) <= h2 {
                    keep[j] = false;
                }
            }
        }
    }
    let kept: Vec<&Array1<f64>> = modes
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(m, _)| &m.0)
        .collect();
    let d = x.ncols();
    let centers = Array2::from_shape_fn((kept.len(), d), |(c, j)| kept[c][j]);
    let labels = x
        .rows()
        .into_iter()
        .collect::<Vec<_>>()
        .par_iter()
        .map(|r| {
            (0..centers.nrows())
                .min_by(|&a, &b| {
                    dist2(centers.row(a), r.view()).total_cmp(&dist2(centers.row(b), r.view()))
                })
                .expect("at least one mode: every seed has support ≥ 1 at its start")
        })
        .collect();
    Ok(MeanShiftFit {
        centers,
        labels,
        bandwidth: h,
        n_iter,
    })
}

/// scikit-learn's `get_bin_seeds`: centres of grid cells of side `h` (rounded coordinates)
/// holding at least `min_freq` points; all points if every cell qualifies and there are as many
/// cells as points.
fn bin_seeds(x: ArrayView2<'_, f64>, h: f64, min_freq: usize) -> Vec<Array1<f64>> {
    let mut counts: HashMap<Vec<i64>, usize> = HashMap::new();
    let mut order: Vec<Vec<i64>> = Vec::new();
    for r in x.rows() {
        let key: Vec<i64> = r.iter().map(|v| (v / h).round() as i64).collect();
        let e = counts.entry(key.clone()).or_insert(0);
        if *e == 0 {
            order.push(key);
        }
        *e += 1;
    }
    let seeds: Vec<Array1<f64>> = order
        .into_iter()
        .filter(|k| counts[k] >= min_freq)
        .map(|k| k.iter().map(|&c| c as f64 * h).collect())
        .collect();
    if seeds.len() == x.nrows() {
        return x.rows().into_iter().map(|r| r.to_owned()).collect();
    }
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::Rng;
    use rand_distr::{Distribution, StandardNormal};

    fn blobs(n_per: usize, centres: &[[f64; 2]], sd: f64, seed: u64) -> (Array2<f64>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = Array2::zeros((n_per * centres.len(), 2));
        let mut truth = Vec::new();
        for (c, centre) in centres.iter().enumerate() {
            for i in 0..n_per {
                for d in 0..2 {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    x[[c * n_per + i, d]] = centre[d] + sd * z;
                }
                truth.push(c);
            }
        }
        (x, truth)
    }

    #[test]
    fn separates_gaussian_blobs_with_estimated_bandwidth() {
        let (x, truth) = blobs(200, &[[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]], 0.7, 1);
        let fit = mean_shift(x.view(), &MeanShiftParams::default()).unwrap();
        assert_eq!(fit.n_clusters(), 3, "bandwidth {}", fit.bandwidth);
        // Each true blob maps to one cluster.
        for c in 0..3 {
            let l = fit.labels[c * 200];
            assert!(
                truth
                    .iter()
                    .zip(&fit.labels)
                    .filter(|(t, _)| **t == c)
                    .all(|(_, f)| *f == l)
            );
        }
    }

    #[test]
    fn bin_seeding_finds_the_same_clusters() {
        let (x, _) = blobs(300, &[[0.0, 0.0], [8.0, 8.0]], 1.0, 2);
        let a = mean_shift(x.view(), &MeanShiftParams::default().bandwidth(2.5)).unwrap();
        let mut p = MeanShiftParams::default().bandwidth(2.5);
        p.bin_seeding = true;
        let b = mean_shift(x.view(), &p).unwrap();
        assert_eq!(a.labels, b.labels);
        assert!((&a.centers - &b.centers).iter().all(|v| v.abs() < 0.05));
    }

    #[test]
    fn grid_query_equals_brute_force() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let x = Array2::from_shape_fn((400, 5), |_| rng.random::<f64>() * 4.0 - 2.0);
        let g = Grid::new(x.view(), 0.9);
        let mut out = Vec::new();
        for i in (0..400).step_by(37) {
            g.within(x.row(i), &mut out);
            let brute: Vec<usize> = (0..400)
                .filter(|&j| dist2(x.row(i), x.row(j)) <= 0.81)
                .collect();
            assert_eq!(out, brute);
        }
    }

    #[test]
    fn subset_bandwidth_is_seeded() {
        let (x, _) = blobs(500, &[[0.0, 0.0]], 1.0, 4);
        let a = estimate_bandwidth(x.view(), 0.04, Some(100), 7).unwrap();
        let b = estimate_bandwidth(x.view(), 0.04, Some(100), 7).unwrap();
        assert_eq!(a, b);
        assert!(a > 0.0);
    }

    #[test]
    fn bad_input_is_an_error() {
        let x = array![[0.0, f64::NAN]];
        assert!(matches!(
            mean_shift(x.view(), &MeanShiftParams::default()),
            Err(SortError::NonFinite(_))
        ));
        let x = array![[1.0, 1.0], [1.0, 1.0]];
        assert!(mean_shift(x.view(), &MeanShiftParams::default()).is_err());
        assert!(mean_shift(x.view(), &MeanShiftParams::default().bandwidth(-1.0)).is_err());
    }
}
