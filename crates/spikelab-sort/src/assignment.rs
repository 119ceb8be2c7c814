//! Linear sum assignment on rectangular cost matrices, with SciPy's choices among optimal
//! solutions.
//!
//! Given an `n_rows × n_cols` cost matrix `C`, find `k = min(n_rows, n_cols)` pairs `(i, j)`,
//! each row and each column used at most once, minimising `Σ C[i, j]`.
//!
//! The solver is the shortest augmenting path method of Jonker & Volgenant as described by
//! Crouse, "On implementing 2D rectangular assignment algorithms", IEEE Trans. Aerospace and
//! Electronic Systems 52(4), 2016, in the variant that `scipy.optimize.linear_sum_assignment`
//! implements. When several assignments are optimal, the one returned is fixed by the order in
//! which the search visits columns; this module follows SciPy's order so that ties resolve the
//! same way (which decides, for instance, which of two identical sorted units is matched):
//!
//! * a tall matrix (`n_rows > n_cols`) is solved transposed;
//! * rows are added one at a time, in order; for each, a Dijkstra search over the columns not yet
//!   reached, scanned from a list that starts as `[n_cols − 1, …, 0]` and from which a reached
//!   column is removed by moving the list's last entry into its place;
//! * the next column reached is the one with the smallest reduced path cost; among equal costs, the
//!   first in list order, unless a later one is still unassigned (an unassigned column ends the
//!   search sooner);
//! * the dual variables `u` (rows) and `v` (columns) are updated as in Crouse's Algorithm 4.
//!
//! Pairs are returned sorted by row.

use ndarray::ArrayView2;

use crate::error::{Result, SortError};

/// Minimum-cost assignment of rows to columns of `cost` (`[row, column]`).
///
/// Returns `min(n_rows, n_cols)` pairs `(row, column)` sorted by row, equal to what
/// `scipy.optimize.linear_sum_assignment(cost)` returns, ties included. Maximise by passing
/// `-cost`. An empty matrix gives no pairs.
///
/// Errors: [`SortError::NonFinite`] if an entry is NaN or ±inf.
///
/// # Example
/// ```
/// use ndarray::array;
/// use spikelab_sort::assignment::linear_sum_assignment;
/// let cost = array![[4.0, 1.0, 3.0], [2.0, 0.0, 5.0]];
/// assert_eq!(linear_sum_assignment(cost.view())?, vec![(0, 1), (1, 0)]);
/// # Ok::<(), spikelab_sort::SortError>(())
/// ```
pub fn linear_sum_assignment(cost: ArrayView2<'_, f64>) -> Result<Vec<(usize, usize)>> {
    if cost.iter().any(|c| !c.is_finite()) {
        return Err(SortError::NonFinite(
            "assignment cost matrix (replace NaN/inf entries by finite costs)".into(),
        ));
    }
    let (n_rows, n_cols) = cost.dim();
    if n_rows == 0 || n_cols == 0 {
        return Ok(Vec::new());
    }
    let transpose = n_cols < n_rows;
    let c = if transpose { cost.t() } else { cost };
    let (nr, nc) = c.dim();
    let col4row = solve_wide(c);
    let mut pairs: Vec<(usize, usize)> = if transpose {
        // Row r of the transposed problem is original column r.
        col4row.iter().enumerate().map(|(r, &j)| (j, r)).collect()
    } else {
        col4row.iter().enumerate().map(|(i, &j)| (i, j)).collect()
    };
    debug_assert_eq!(pairs.len(), nr.min(nc));
    pairs.sort_unstable();
    Ok(pairs)
}

/// Solves a problem with `n_rows ≤ n_cols` and finite costs; returns the column of each row.
fn solve_wide(c: ArrayView2<'_, f64>) -> Vec<usize> {
    let (nr, nc) = c.dim();
    const NONE: usize = usize::MAX;
    let mut u = vec![0.0_f64; nr];
    let mut v = vec![0.0_f64; nc];
    let mut dist = vec![f64::INFINITY; nc];
    let mut pred = vec![NONE; nc];
    let mut col4row = vec![NONE; nr];
    let mut row4col = vec![NONE; nc];
    let mut row_seen = vec![false; nr];
    let mut col_seen = vec![false; nc];
    let mut todo = vec![0_usize; nc];

    for start in 0..nr {
        // Shortest augmenting path from `start` to an unassigned column.
        for (k, t) in todo.iter_mut().enumerate() {
            *t = nc - 1 - k;
        }
        let mut n_todo = nc;
        row_seen.fill(false);
        col_seen.fill(false);
        dist.fill(f64::INFINITY);
        let mut reached = 0.0_f64;
        let mut i = start;
        let sink = loop {
            row_seen[i] = true;
            let mut best = NONE;
            let mut best_cost = f64::INFINITY;
            for (k, &j) in todo[..n_todo].iter().enumerate() {
                let reduced = reached + c[[i, j]] - u[i] - v[j];
                if reduced < dist[j] {
                    pred[j] = i;
                    dist[j] = reduced;
                }
                if dist[j] < best_cost || (dist[j] == best_cost && row4col[j] == NONE) {
                    best_cost = dist[j];
                    best = k;
                }
            }
            // Finite costs: every column has a finite distance once one row was scanned.
            reached = best_cost;
            let j = todo[best];
            col_seen[j] = true;
            n_todo -= 1;
            todo[best] = todo[n_todo];
            if row4col[j] == NONE {
                break j;
            }
            i = row4col[j];
        };

        // Dual update.
        u[start] += reached;
        for r in 0..nr {
            if row_seen[r] && r != start {
                u[r] += reached - dist[col4row[r]];
            }
        }
        for (j, vj) in v.iter_mut().enumerate() {
            if col_seen[j] {
                *vj -= reached - dist[j];
            }
        }

        // Augment along the predecessor chain.
        let mut j = sink;
        loop {
            let r = pred[j];
            row4col[j] = r;
            std::mem::swap(&mut col4row[r], &mut j);
            if r == start {
                break;
            }
        }
    }
    col4row
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    fn brute_force(c: &Array2<f64>) -> f64 {
        // Best total over all injective maps of the smaller side.
        let (nr, nc) = c.dim();
        let t = if nr <= nc {
            c.clone()
        } else {
            c.t().to_owned()
        };
        let (nr, nc) = t.dim();
        fn rec(t: &Array2<f64>, r: usize, used: &mut Vec<bool>, nr: usize, nc: usize) -> f64 {
            if r == nr {
                return 0.0;
            }
            let mut best = f64::INFINITY;
            for j in 0..nc {
                if !used[j] {
                    used[j] = true;
                    best = best.min(t[[r, j]] + rec(t, r + 1, used, nr, nc));
                    used[j] = false;
                }
            }
            best
        }
        rec(&t, 0, &mut vec![false; nc], nr, nc)
    }

    #[test]
    fn optimal_on_small_random_matrices() {
        let mut state = 12345_u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 7) as f64
        };
        for nr in 1..5 {
            for nc in 1..5 {
                for _ in 0..20 {
                    let c = Array2::from_shape_fn((nr, nc), |_| next());
                    let pairs = linear_sum_assignment(c.view()).unwrap();
                    assert_eq!(pairs.len(), nr.min(nc));
                    let total: f64 = pairs.iter().map(|&(i, j)| c[[i, j]]).sum();
                    assert_eq!(total, brute_force(&c));
                }
            }
        }
    }

    #[test]
    fn constant_matrix_gives_identity_like_scipy() {
        let c = Array2::<f64>::zeros((3, 3));
        assert_eq!(
            linear_sum_assignment(c.view()).unwrap(),
            vec![(0, 0), (1, 1), (2, 2)]
        );
    }

    #[test]
    fn rejects_non_finite_and_accepts_empty() {
        assert!(linear_sum_assignment(array![[f64::NAN]].view()).is_err());
        assert!(
            linear_sum_assignment(Array2::<f64>::zeros((0, 3)).view())
                .unwrap()
                .is_empty()
        );
    }
}
