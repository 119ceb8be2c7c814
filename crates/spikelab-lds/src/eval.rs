//! Evaluation of mixture fits: Hungarian matching, Markov-parameter error, weight error,
//! clustering accuracy and the adjusted Rand index.

use nalgebra::DMatrix;

use crate::model::Lds;

/// Minimum-cost assignment of rows to columns of a square cost matrix (Hungarian algorithm,
/// O(K³)). Returns `assign[row] = column`.
///
/// ```
/// use nalgebra::DMatrix;
/// let cost = DMatrix::from_row_slice(3, 3, &[4.0, 1.0, 3.0, 2.0, 0.0, 5.0, 3.0, 2.0, 2.0]);
/// assert_eq!(spikelab_lds::eval::hungarian(&cost), vec![1, 0, 2]);
/// ```
pub fn hungarian(cost: &DMatrix<f64>) -> Vec<usize> {
    let n = cost.nrows();
    assert_eq!(n, cost.ncols(), "hungarian: square cost matrix");
    // Potentials u (rows), v (columns); p[j] = row matched to column j (1-based, 0 = none).
    let inf = f64::INFINITY;
    let mut u = vec![0.0; n + 1];
    let mut v = vec![0.0; n + 1];
    let mut p = vec![0usize; n + 1];
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![inf; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = inf;
            let mut j1 = 0;
            for j in 1..=n {
                if !used[j] {
                    let cur = cost[(i0 - 1, j - 1)] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut assign = vec![0; n];
    for j in 1..=n {
        if p[j] > 0 {
            assign[p[j] - 1] = j - 1;
        }
    }
    assign
}

/// Relative Markov-parameter error `√(Σ_{j<lags} ‖Ĝ_j − G_j‖²_F) / √(Σ_{j<lags} ‖G_j‖²_F)`
/// (control convention; invariant to the similarity ambiguity of the state).
pub fn markov_error(est: &Lds, truth: &Lds, lags: usize) -> f64 {
    let ge = est.markov_parameters(lags);
    let gt = truth.markov_parameters(lags);
    let num: f64 = ge
        .iter()
        .zip(&gt)
        .map(|(a, b)| (a - b).norm_squared())
        .sum();
    let den: f64 = gt.iter().map(|b| b.norm_squared()).sum();
    (num / den.max(1e-300)).sqrt()
}

/// Matches estimated to true components by minimum total Markov error; returns
/// `perm[true] = estimated` and the per-true-component errors. Needs as many estimated
/// components as true ones (extra estimated components are left out of the cost; missing ones
/// get error 1 for the unmatched true components).
pub fn match_components(est: &[Lds], truth: &[Lds], lags: usize) -> (Vec<Option<usize>>, Vec<f64>) {
    let k = est.len().max(truth.len());
    let mut cost = DMatrix::from_element(k, k, 1.0);
    for (i, t) in truth.iter().enumerate() {
        for (j, e) in est.iter().enumerate() {
            cost[(i, j)] = markov_error(e, t, lags);
        }
    }
    let assign = hungarian(&cost);
    let mut perm = Vec::with_capacity(truth.len());
    let mut errs = Vec::with_capacity(truth.len());
    for i in 0..truth.len() {
        let j = assign[i];
        if j < est.len() {
            perm.push(Some(j));
            errs.push(cost[(i, j)]);
        } else {
            perm.push(None);
            errs.push(1.0);
        }
    }
    (perm, errs)
}

/// `Σ_k |p̂_{perm[k]} − p_k|` (an unmatched true component counts its full weight).
pub fn weight_error(est: &[f64], truth: &[f64], perm: &[Option<usize>]) -> f64 {
    truth
        .iter()
        .zip(perm)
        .map(|(&p, j)| (j.map_or(0.0, |j| est[j]) - p).abs())
        .sum()
}

/// Fraction of items whose estimated label is the one matched to their true label.
pub fn clustering_accuracy(
    est_labels: &[usize],
    true_labels: &[usize],
    perm: &[Option<usize>],
) -> f64 {
    let hits = est_labels
        .iter()
        .zip(true_labels)
        .filter(|&(&e, &t)| perm[t] == Some(e))
        .count();
    hits as f64 / true_labels.len().max(1) as f64
}

/// Adjusted Rand index of two labelings (Hubert & Arabie 1985); 1 for identical partitions.
pub fn adjusted_rand_index(a: &[usize], b: &[usize]) -> f64 {
    let ka = a.iter().max().map_or(0, |m| m + 1);
    let kb = b.iter().max().map_or(0, |m| m + 1);
    let mut table = vec![vec![0u64; kb]; ka];
    for (&x, &y) in a.iter().zip(b) {
        table[x][y] += 1;
    }
    let c2 = |n: u64| (n * n.saturating_sub(1)) as f64 / 2.0;
    let sum_ij: f64 = table.iter().flatten().map(|&n| c2(n)).sum();
    let sum_a: f64 = table.iter().map(|r| c2(r.iter().sum())).sum();
    let sum_b: f64 = (0..kb).map(|j| c2(table.iter().map(|r| r[j]).sum())).sum();
    let total = c2(a.len() as u64);
    let expected = sum_a * sum_b / total.max(1.0);
    let max = 0.5 * (sum_a + sum_b);
    if (max - expected).abs() < 1e-300 {
        return 1.0;
    }
    (sum_ij - expected) / (max - expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hungarian_matches_exhaustive_search() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..50 {
            let c = DMatrix::from_fn(4, 4, |_, _| rng.random::<f64>());
            let a = hungarian(&c);
            let cost = |p: &[usize]| (0..4).map(|i| c[(i, p[i])]).sum::<f64>();
            let mut best = f64::INFINITY;
            let mut perm = [0, 1, 2, 3];
            permute(&mut perm, 0, &mut |p| best = best.min(cost(p)));
            assert!((cost(&a) - best).abs() < 1e-12);
        }
    }

    fn permute(p: &mut [usize; 4], k: usize, f: &mut dyn FnMut(&[usize])) {
        if k == p.len() {
            f(p);
            return;
        }
        for i in k..p.len() {
            p.swap(k, i);
            permute(p, k + 1, f);
            p.swap(k, i);
        }
    }

    #[test]
    fn ari_known_values() {
        assert!((adjusted_rand_index(&[0, 0, 1, 1], &[1, 1, 0, 0]) - 1.0).abs() < 1e-12);
        // sklearn: adjusted_rand_score([0,0,1,1],[0,0,1,2]) = 0.5714285714285715
        assert!(
            (adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 2]) - 0.5714285714285715).abs() < 1e-12
        );
        assert!(adjusted_rand_index(&[0, 1, 0, 1, 0, 1], &[0, 0, 0, 1, 1, 1]) < 0.0);
    }
}
