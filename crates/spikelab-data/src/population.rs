//! Population activity: one rate-like signal per population.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// Activity of several neural populations in time bins.
///
/// * **Axis order: `[population, bin]`**.
/// * `bin_s` is the bin width in seconds.
/// * Values are what the producer documents (for neuLVM: `Z = A·Δ`, the expected fraction of
///   the population that fires in the bin; for simulators, `A` in Hz). All values must be
///   finite.
///
/// # Example
/// ```
/// use ndarray::array;
/// use spikelab_data::PopulationActivity;
/// let a = PopulationActivity::new(array![[0.01, 0.02], [0.0, 0.1]], 0.004)?;
/// assert_eq!((a.n_populations(), a.n_bins()), (2, 2));
/// assert!((a.duration_s() - 0.008).abs() < 1e-15);
/// # Ok::<(), spikelab_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PopulationActivity {
    activity: Array2<f64>,
    bin_s: f64,
}

impl PopulationActivity {
    /// Wraps a `[population, bin]` array with its bin width in seconds.
    pub fn new(activity: Array2<f64>, bin_s: f64) -> Result<Self> {
        if !(bin_s.is_finite() && bin_s > 0.0) {
            return Err(DataError::param(
                "bin_s",
                format!("bin width must be > 0 s, got {bin_s}"),
            ));
        }
        if let Some(((p, b), v)) = activity.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(DataError::Shape {
                what: "population activity".into(),
                expected: "finite values".into(),
                got: format!("{v} at [{p}, {b}]"),
            });
        }
        Ok(PopulationActivity { activity, bin_s })
    }
    /// The `[population, bin]` values.
    pub fn activity(&self) -> &Array2<f64> {
        &self.activity
    }
    /// Bin width in seconds.
    pub fn bin_s(&self) -> f64 {
        self.bin_s
    }
    /// Number of populations.
    pub fn n_populations(&self) -> usize {
        self.activity.nrows()
    }
    /// Number of bins.
    pub fn n_bins(&self) -> usize {
        self.activity.ncols()
    }
    /// `n_bins · bin_s` seconds.
    pub fn duration_s(&self) -> f64 {
        self.n_bins() as f64 * self.bin_s
    }
}
