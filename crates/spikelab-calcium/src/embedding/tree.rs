//! Depth-limited regression trees with the mean-absolute-error criterion, and the averaged
//! ensemble that maps the statistics embedding onto the predictive embedding.
//!
//! scikit-learn's `DecisionTreeRegressor(criterion='mae')` is reproduced split by split:
//! best split = the largest proxy improvement `−(Σ|y−med|_left + Σ|y−med|_right)`, thresholds
//! at the midpoint of consecutive distinct (f32) feature values, leaf value = median, leaves
//! when `depth == max_depth`, fewer than 2 samples or zero impurity. The **only randomness** is
//! the order in which features are visited at each node: when two features give the same best
//! improvement, the first visited wins. The original averages 150 fits to smooth this; here the
//! average can also be computed **exactly** (the limit of infinitely many fits), by weighting
//! each tied feature with probability 1/k at every node on the query's path.
//!
//! smartcore's tree has no MAE criterion, hence this small implementation (it is meant for the
//! 10-point, 2-feature map of the embedding, not for large data).

use crate::error::{CalciumError, Result};

/// sklearn's `FEATURE_THRESHOLD`: consecutive feature values closer than this are not split.
const FEATURE_THRESHOLD: f64 = 1e-7;
/// Relative tolerance under which two split scores count as tied. scikit-learn versions sum the
/// absolute errors in different orders, so exact float ties are version noise; ties within this
/// tolerance are resolved by the random feature order, as they are mathematically.
const TIE_RTOL: f64 = 1e-12;

/// How the tree-ensemble average is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TreeEnsemble {
    /// The exact expectation over the random feature order (the limit of infinitely many fits).
    /// Deterministic; the default.
    #[default]
    Expected,
    /// Average of `fits` trees with feature orders drawn from a seeded generator, like the
    /// original's 150 refits (which used an unseeded generator).
    Sampled {
        /// Number of fitted trees per output (the original: 150).
        fits: usize,
        /// Seed of the feature-order generator.
        seed: u64,
    },
}

/// Small SplitMix64 generator for the sampled ensemble (no external dependency needed).
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, k: usize) -> usize {
        (self.next_u64() % k as u64) as usize
    }
}

/// A candidate split of one node.
#[derive(Debug, Clone)]
struct Split {
    feature: usize,
    threshold: f64,
    proxy: f64,
}

/// Training data of the MAE regression-tree ensemble: `x` is `[sample][feature]`, `y` is
/// `[sample][output]`; one independent tree per output column, as the original fits one
/// `DecisionTreeRegressor` per predicted coordinate.
///
/// ```
/// use spikelab_calcium::embedding::{MaeTreeMap, TreeEnsemble};
/// // Two clusters along feature 0; output = cluster id.
/// let x = vec![vec![0.0, 5.0], vec![0.1, 1.0], vec![1.0, 3.0], vec![1.1, 2.0]];
/// let y = vec![vec![0.0], vec![0.0], vec![1.0], vec![1.0]];
/// let map = MaeTreeMap::new(x, y, 7)?;
/// assert_eq!(map.predict(&[0.05, 4.0], TreeEnsemble::Expected)?, vec![0.0]);
/// assert_eq!(map.predict(&[1.05, 4.0], TreeEnsemble::Sampled { fits: 150, seed: 1 })?, vec![1.0]);
/// # Ok::<(), spikelab_calcium::CalciumError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MaeTreeMap {
    /// Features as f32, as scikit-learn stores them.
    x: Vec<Vec<f32>>,
    y: Vec<Vec<f64>>,
    max_depth: usize,
}

impl MaeTreeMap {
    /// Stores validated training data (`x`: `[sample][feature]`, `y`: `[sample][output]`).
    pub fn new(x: Vec<Vec<f64>>, y: Vec<Vec<f64>>, max_depth: usize) -> Result<Self> {
        let bad = |reason: String| CalciumError::InvalidInput {
            what: "tree training data".into(),
            reason,
        };
        if x.is_empty() || x.len() != y.len() {
            return Err(bad(format!(
                "need the same non-zero number of x and y rows, got {} and {}",
                x.len(),
                y.len()
            )));
        }
        let p = x[0].len();
        let o = y[0].len();
        if p == 0 || o == 0 || x.iter().any(|r| r.len() != p) || y.iter().any(|r| r.len() != o) {
            return Err(bad("rows must be non-empty and of equal length".into()));
        }
        if x.iter()
            .flatten()
            .chain(y.iter().flatten())
            .any(|v| !v.is_finite())
        {
            return Err(bad("contains a non-finite value".into()));
        }
        if max_depth == 0 {
            return Err(CalciumError::InvalidParameter {
                name: "max_depth",
                reason: "must be ≥ 1".into(),
            });
        }
        let x = x
            .into_iter()
            .map(|r| r.into_iter().map(|v| v as f32).collect())
            .collect();
        Ok(MaeTreeMap { x, y, max_depth })
    }

    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.x[0].len()
    }

    /// Number of outputs (one tree each).
    pub fn n_outputs(&self) -> usize {
        self.y[0].len()
    }

    /// Ensemble prediction at `point` (one value per output).
    pub fn predict(&self, point: &[f64], ensemble: TreeEnsemble) -> Result<Vec<f64>> {
        if point.len() != self.n_features() || point.iter().any(|v| !v.is_finite()) {
            return Err(CalciumError::InvalidInput {
                what: "tree query point".into(),
                reason: format!(
                    "needs {} finite coordinates, got {:?}",
                    self.n_features(),
                    point
                ),
            });
        }
        // scikit-learn casts queries to float32 before comparing with the thresholds.
        let q: Vec<f64> = point.iter().map(|&v| f64::from(v as f32)).collect();
        let all: Vec<usize> = (0..self.x.len()).collect();
        (0..self.n_outputs())
            .map(|o| match ensemble {
                TreeEnsemble::Expected => Ok(self.expected(&all, 0, o, &q)),
                TreeEnsemble::Sampled { fits, seed } => {
                    if fits == 0 {
                        return Err(CalciumError::InvalidParameter {
                            name: "fits",
                            reason: "must be ≥ 1".into(),
                        });
                    }
                    let mut rng = SplitMix64(seed ^ (o as u64).wrapping_mul(0xA24B_AED4_963E_E407));
                    let s: f64 = (0..fits)
                        .map(|_| self.sampled(&all, 0, o, &q, &mut rng))
                        .sum();
                    Ok(s / fits as f64)
                }
            })
            .collect()
    }

    fn ys(&self, idx: &[usize], o: usize) -> Vec<f64> {
        idx.iter().map(|&i| self.y[i][o]).collect()
    }

    /// Best split of each feature (None for constant features), in feature order.
    fn best_splits(&self, idx: &[usize], o: usize) -> Vec<Split> {
        let mut out = Vec::new();
        for f in 0..self.n_features() {
            let mut s = idx.to_vec();
            s.sort_by(|&a, &b| self.x[a][f].total_cmp(&self.x[b][f]));
            let xf: Vec<f64> = s.iter().map(|&i| f64::from(self.x[i][f])).collect();
            if xf[xf.len() - 1] <= xf[0] + FEATURE_THRESHOLD {
                continue; // constant feature in this node
            }
            let y = self.ys(&s, o);
            let n = y.len();
            let mut best: Option<Split> = None;
            for p in 1..n {
                if xf[p] <= xf[p - 1] + FEATURE_THRESHOLD {
                    continue;
                }
                let (nl, nr) = (p as f64, (n - p) as f64);
                let il = abs_dev_sum(&y[..p]) / nl;
                let ir = abs_dev_sum(&y[p..]) / nr;
                let proxy = -nr * ir - nl * il;
                if best
                    .as_ref()
                    .is_none_or(|b| proxy > b.proxy && !tied(proxy, b.proxy))
                {
                    let mut threshold = xf[p - 1] / 2.0 + xf[p] / 2.0;
                    if threshold == xf[p] || threshold.is_infinite() {
                        threshold = xf[p - 1];
                    }
                    best = Some(Split {
                        feature: f,
                        threshold,
                        proxy,
                    });
                }
            }
            out.extend(best);
        }
        out
    }

    /// Leaf value if the node is a leaf.
    fn leaf_value(&self, idx: &[usize], depth: usize, o: usize) -> Option<f64> {
        let y = self.ys(idx, o);
        let med = median(&y);
        let impurity = y.iter().map(|v| (v - med).abs()).sum::<f64>() / y.len() as f64;
        if depth >= self.max_depth || idx.len() < 2 || impurity <= f64::EPSILON {
            Some(med)
        } else {
            None
        }
    }

    /// The splits among which the random feature order chooses (all tied with the best).
    fn tied_best(&self, idx: &[usize], o: usize) -> Vec<Split> {
        let splits = self.best_splits(idx, o);
        let Some(top) = splits.iter().map(|s| s.proxy).reduce(f64::max) else {
            return splits;
        };
        splits.into_iter().filter(|s| tied(s.proxy, top)).collect()
    }

    fn child(&self, idx: &[usize], s: &Split, q: &[f64]) -> Vec<usize> {
        let go_left = q[s.feature] <= s.threshold;
        idx.iter()
            .copied()
            .filter(|&i| (f64::from(self.x[i][s.feature]) <= s.threshold) == go_left)
            .collect()
    }

    fn expected(&self, idx: &[usize], depth: usize, o: usize, q: &[f64]) -> f64 {
        if let Some(v) = self.leaf_value(idx, depth, o) {
            return v;
        }
        let cands = self.tied_best(idx, o);
        if cands.is_empty() {
            return median(&self.ys(idx, o));
        }
        let k = cands.len() as f64;
        cands
            .iter()
            .map(|s| self.expected(&self.child(idx, s, q), depth + 1, o, q))
            .sum::<f64>()
            / k
    }

    fn sampled(
        &self,
        idx: &[usize],
        depth: usize,
        o: usize,
        q: &[f64],
        rng: &mut SplitMix64,
    ) -> f64 {
        if let Some(v) = self.leaf_value(idx, depth, o) {
            return v;
        }
        let cands = self.tied_best(idx, o);
        if cands.is_empty() {
            return median(&self.ys(idx, o));
        }
        let s = &cands[rng.below(cands.len())];
        self.sampled(&self.child(idx, s, q), depth + 1, o, q, rng)
    }
}

fn tied(a: f64, b: f64) -> bool {
    (a - b).abs() <= TIE_RTOL * a.abs().max(b.abs()).max(f64::MIN_POSITIVE)
}

fn median(y: &[f64]) -> f64 {
    super::numeric::median(y)
}

fn abs_dev_sum(y: &[f64]) -> f64 {
    let m = median(y);
    y.iter().map(|v| (v - m).abs()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two points separated equally well by either feature: the query (left on feature 0,
    /// right on feature 1) gets each side's value with probability 1/2.
    fn tied_map() -> MaeTreeMap {
        MaeTreeMap::new(
            vec![vec![0.0, 0.0], vec![1.0, 1.0]],
            vec![vec![0.0], vec![10.0]],
            7,
        )
        .unwrap()
    }

    #[test]
    fn ties_between_features_average_exactly() {
        let m = tied_map();
        assert_eq!(
            m.predict(&[0.2, 0.8], TreeEnsemble::Expected).unwrap(),
            vec![5.0]
        );
        // Unambiguous queries are unaffected.
        assert_eq!(
            m.predict(&[0.2, 0.2], TreeEnsemble::Expected).unwrap(),
            vec![0.0]
        );
        let s = m
            .predict(
                &[0.2, 0.8],
                TreeEnsemble::Sampled {
                    fits: 20_000,
                    seed: 3,
                },
            )
            .unwrap()[0];
        assert!((s - 5.0).abs() < 0.2, "{s}");
    }

    #[test]
    fn leaf_is_median_at_max_depth_and_threshold_is_midpoint() {
        let x: Vec<Vec<f64>> = (0..4).map(|i| vec![f64::from(i)]).collect();
        let y = vec![vec![0.0], vec![1.0], vec![5.0], vec![10.0]];
        let m = MaeTreeMap::new(x, y, 1).unwrap();
        // Depth 1: root split at 2.5 ({0,1,5} | {10}); the left leaf's median is 1.
        assert_eq!(
            m.predict(&[2.49], TreeEnsemble::Expected).unwrap(),
            vec![1.0]
        );
        assert_eq!(
            m.predict(&[2.51], TreeEnsemble::Expected).unwrap(),
            vec![10.0]
        );
    }

    #[test]
    fn invalid_inputs_are_errors() {
        assert!(MaeTreeMap::new(vec![], vec![], 7).is_err());
        assert!(MaeTreeMap::new(vec![vec![0.0]], vec![vec![f64::NAN]], 7).is_err());
        assert!(MaeTreeMap::new(vec![vec![0.0]], vec![vec![1.0]], 0).is_err());
        assert!(tied_map().predict(&[0.0], TreeEnsemble::Expected).is_err());
    }
}
