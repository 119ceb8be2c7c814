//! Readable JSON for nalgebra matrices: a matrix is a list of rows, a vector a list.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `DMatrix` as a list of rows.
pub mod mat {
    use super::*;

    /// Serialises row by row.
    pub fn serialize<S: Serializer>(m: &DMatrix<f64>, s: S) -> Result<S::Ok, S::Error> {
        let rows: Vec<Vec<f64>> = m.row_iter().map(|r| r.iter().copied().collect()).collect();
        rows.serialize(s)
    }

    /// Reads a list of equally long rows.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DMatrix<f64>, D::Error> {
        let rows: Vec<Vec<f64>> = Vec::deserialize(d)?;
        let ncols = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|r| r.len() != ncols) {
            return Err(serde::de::Error::custom("matrix rows of different lengths"));
        }
        Ok(DMatrix::from_fn(rows.len(), ncols, |i, j| rows[i][j]))
    }
}

/// `DVector` as a list.
pub mod vec {
    use super::*;

    /// Serialises as a list.
    pub fn serialize<S: Serializer>(v: &DVector<f64>, s: S) -> Result<S::Ok, S::Error> {
        v.as_slice().serialize(s)
    }

    /// Reads a list.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DVector<f64>, D::Error> {
        Ok(DVector::from_vec(Vec::deserialize(d)?))
    }
}
