//! Design matrices `[sample, feature]`: dense views or compressed sparse rows.
//!
//! Lagged spike counts are mostly zero (the CA1 raster has 16 982 events in 452 × 18 137
//! bins), so the iterative ridge solver works on [`SparseRows`], whose products with a dense
//! matrix cost O(non-zeros). [`Design`] lets the linear models take either form.

use std::ops::Range;

use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::error::{DecodeError, Result};

/// A `[row, column]` matrix in compressed sparse row (CSR) form.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseRows {
    ncols: usize,
    /// Row r holds `indices[indptr[r]..indptr[r + 1]]` (columns) and the same range of `values`.
    indptr: Vec<usize>,
    indices: Vec<usize>,
    values: Vec<f64>,
}

impl SparseRows {
    /// An empty matrix of `ncols` columns; rows are appended with [`SparseRows::push_row`].
    pub fn new(ncols: usize) -> Self {
        Self {
            ncols,
            indptr: vec![0],
            indices: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Appends a row from `(column, value)` pairs; zeros are skipped and repeated columns add
    /// up.
    pub fn push_row(&mut self, entries: impl IntoIterator<Item = (usize, f64)>) -> Result<()> {
        for (j, v) in entries {
            if j >= self.ncols {
                return Err(DecodeError::Shape(format!(
                    "column {j} in a matrix of {} columns",
                    self.ncols
                )));
            }
            if v != 0.0 {
                self.indices.push(j);
                self.values.push(v);
            }
        }
        self.indptr.push(self.indices.len());
        Ok(())
    }

    /// The non-zero entries of a dense matrix.
    pub fn from_dense(a: ArrayView2<'_, f64>) -> Self {
        let mut m = Self::new(a.ncols());
        for row in a.rows() {
            m.push_row(row.iter().copied().enumerate())
                .expect("columns come from the same matrix");
        }
        m
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.ncols
    }

    /// Number of stored (non-zero) entries.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    fn row(&self, r: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let span = self.indptr[r]..self.indptr[r + 1];
        self.indices[span.clone()]
            .iter()
            .copied()
            .zip(self.values[span].iter().copied())
    }

    /// Rows `range`, copied.
    pub fn rows(&self, range: Range<usize>) -> Result<Self> {
        if range.start > range.end || range.end > self.nrows() {
            return Err(DecodeError::Shape(format!(
                "rows {range:?} of a {}-row matrix",
                self.nrows()
            )));
        }
        let span = self.indptr[range.start]..self.indptr[range.end];
        Ok(Self {
            ncols: self.ncols,
            indptr: self.indptr[range.start..=range.end]
                .iter()
                .map(|&i| i - span.start)
                .collect(),
            indices: self.indices[span.clone()].to_vec(),
            values: self.values[span].to_vec(),
        })
    }

    /// The dense matrix.
    pub fn to_dense(&self) -> Array2<f64> {
        let mut a = Array2::zeros((self.nrows(), self.ncols));
        for r in 0..self.nrows() {
            for (j, v) in self.row(r) {
                a[[r, j]] += v;
            }
        }
        a
    }

    /// Σ_r x_rj² for every column j.
    pub fn col_sq_sums(&self) -> Array1<f64> {
        let mut m = Array1::zeros(self.ncols);
        for (&j, &v) in self.indices.iter().zip(&self.values) {
            m[j] += v * v;
        }
        m
    }

    /// Xᵀ U for `u` `[row, k]`; the result is `[column, k]`.
    pub fn t_dot(&self, u: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        if u.nrows() != self.nrows() {
            return Err(DecodeError::Shape(format!(
                "Xᵀ U with X of {} rows and U of {}",
                self.nrows(),
                u.nrows()
            )));
        }
        let mut out = Array2::zeros((self.ncols, u.ncols()));
        for (r, ur) in u.rows().into_iter().enumerate() {
            for (j, v) in self.row(r) {
                out.row_mut(j).scaled_add(v, &ur);
            }
        }
        Ok(out)
    }
}

/// A design matrix `[sample, feature]` that the linear models accept: a dense
/// `ArrayView2<f64>` or a [`SparseRows`].
pub trait Design {
    /// `(samples, features)`.
    fn size(&self) -> (usize, usize);
    /// X W for `w` `[feature, k]`; the result is `[sample, k]`.
    fn times(&self, w: ArrayView2<'_, f64>) -> Result<Array2<f64>>;
    /// Number of non-zero entries.
    fn nnz(&self) -> usize;
    /// The mean of every feature over the samples (zeros when there are no samples).
    fn col_means(&self) -> Array1<f64>;
    /// Whether every entry is finite.
    fn all_finite(&self) -> bool;
    /// The dense matrix.
    fn to_dense(&self) -> Array2<f64>;
    /// The matrix in compressed sparse rows.
    fn to_sparse(&self) -> SparseRows;
}

fn check_inner(ncols: usize, w: ArrayView2<'_, f64>) -> Result<()> {
    if w.nrows() != ncols {
        return Err(DecodeError::Shape(format!(
            "X W with X of {ncols} columns and W of {} rows",
            w.nrows()
        )));
    }
    Ok(())
}

impl Design for ArrayView2<'_, f64> {
    fn size(&self) -> (usize, usize) {
        ArrayView2::dim(self)
    }
    fn times(&self, w: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        check_inner(self.ncols(), w)?;
        Ok(self.dot(&w))
    }
    fn nnz(&self) -> usize {
        self.iter().filter(|&&v| v != 0.0).count()
    }
    fn col_means(&self) -> Array1<f64> {
        self.mean_axis(Axis(0))
            .unwrap_or_else(|| Array1::zeros(self.ncols()))
    }
    fn all_finite(&self) -> bool {
        self.iter().all(|v| v.is_finite())
    }
    fn to_dense(&self) -> Array2<f64> {
        self.to_owned()
    }
    fn to_sparse(&self) -> SparseRows {
        SparseRows::from_dense(self.view())
    }
}

impl Design for SparseRows {
    fn size(&self) -> (usize, usize) {
        (self.nrows(), self.ncols)
    }
    fn times(&self, w: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        check_inner(self.ncols, w)?;
        let mut out = Array2::zeros((self.nrows(), w.ncols()));
        for (r, mut o) in out.rows_mut().into_iter().enumerate() {
            for (j, v) in self.row(r) {
                o.scaled_add(v, &w.row(j));
            }
        }
        Ok(out)
    }
    fn nnz(&self) -> usize {
        SparseRows::nnz(self)
    }
    fn col_means(&self) -> Array1<f64> {
        let mut m = Array1::zeros(self.ncols);
        for (&j, &v) in self.indices.iter().zip(&self.values) {
            m[j] += v;
        }
        if self.nrows() > 0 {
            m /= self.nrows() as f64;
        }
        m
    }
    fn all_finite(&self) -> bool {
        self.values.iter().all(|v| v.is_finite())
    }
    fn to_dense(&self) -> Array2<f64> {
        SparseRows::to_dense(self)
    }
    fn to_sparse(&self) -> SparseRows {
        self.clone()
    }
}

impl<T: Design + ?Sized> Design for &T {
    fn size(&self) -> (usize, usize) {
        (**self).size()
    }
    fn times(&self, w: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        (**self).times(w)
    }
    fn nnz(&self) -> usize {
        (**self).nnz()
    }
    fn col_means(&self) -> Array1<f64> {
        (**self).col_means()
    }
    fn all_finite(&self) -> bool {
        (**self).all_finite()
    }
    fn to_dense(&self) -> Array2<f64> {
        (**self).to_dense()
    }
    fn to_sparse(&self) -> SparseRows {
        (**self).to_sparse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn sparse_products_match_dense() {
        let a = array![
            [0.0, 2.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0],
            [3.0, 0.0, -1.0]
        ];
        let s = SparseRows::from_dense(a.view());
        assert_eq!((s.nrows(), s.ncols(), s.nnz()), (4, 3, 4));
        assert_eq!(s.to_dense(), a);
        let w = array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
        assert_eq!(s.times(w.view()).unwrap(), a.dot(&w));
        assert!(s.times(w.t()).is_err() && a.view().times(w.t()).is_err());
        let u = array![[1.0], [2.0], [3.0], [4.0]];
        assert_eq!(s.t_dot(u.view()).unwrap(), a.t().dot(&u));
        assert!(s.t_dot(w.view()).is_err());
        assert_eq!(s.col_means(), Design::col_means(&a.view()));
        let mid = s.rows(1..4).unwrap();
        assert_eq!(mid.to_dense(), a.slice(ndarray::s![1..4, ..]));
        assert!(s.rows(2..5).is_err());
        assert!(SparseRows::new(2).push_row([(2, 1.0)]).is_err());
    }
}
