//! The recorded spikes (and optional external input) a model is bound to.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3};
use serde::{Deserialize, Serialize};

use crate::error::{NeulvmError, Result};

/// Spikes of the recorded neurons and the optional external input.
///
/// `spikes` has axes `[population, bin, neuron]` (the layout of the original pickle and of
/// `spikes_4ms.npy`), values 0/1, over the whole data window: the first `A` bins are the
/// history, the remaining `T` bins are modelled. `i_ext` (if any) has axes `[population, bin]`
/// over the `T` modelled bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    pub(super) spikes: Array3<u8>,
    pub(super) i_ext: Option<Array2<f64>>,
}

impl Recording {
    /// Builds from 0/1 spikes `[population, bin, neuron]` without external input.
    ///
    /// ```
    /// use ndarray::Array3;
    /// let rec = spikelab_neulvm::Recording::new(Array3::<u8>::zeros((3, 10, 2)))?;
    /// assert_eq!(rec.n_bins(), 10);
    /// assert!(spikelab_neulvm::Recording::new(Array3::<u8>::from_elem((1, 4, 1), 2)).is_err());
    /// # Ok::<(), spikelab_neulvm::NeulvmError>(())
    /// ```
    pub fn new(spikes: Array3<u8>) -> Result<Self> {
        let (m, b, k) = spikes.dim();
        if m == 0 || b == 0 || k == 0 {
            return Err(NeulvmError::Spikes(format!(
                "spikes [population, bin, neuron] must be non-empty, got shape ({m}, {b}, {k})"
            )));
        }
        if let Some(v) = spikes.iter().find(|v| **v > 1) {
            return Err(NeulvmError::Spikes(format!(
                "values must be 0 or 1, found {v}"
            )));
        }
        Ok(Self {
            spikes,
            i_ext: None,
        })
    }

    /// Builds from any numeric array (e.g. read with `spikelab_data::io::npy::read_any`),
    /// which must be 3-D and hold only 0 and 1.
    pub fn from_f64(spikes: ArrayView3<'_, f64>) -> Result<Self> {
        if let Some(v) = spikes.iter().find(|v| !(**v == 0.0 || **v == 1.0)) {
            return Err(NeulvmError::Spikes(format!(
                "values must be 0 or 1, found {v}"
            )));
        }
        Self::new(spikes.mapv(|v| v as u8))
    }

    /// Reads a `.npy` file of shape `[population, bin, neuron]` with 0/1 values.
    pub fn from_npy(path: &std::path::Path) -> Result<Self> {
        let a = spikelab_data::io::npy::read_any(path)?;
        let shape = a.data.shape().to_vec();
        let a3 = a.data.into_dimensionality::<ndarray::Ix3>().map_err(|_| {
            NeulvmError::Spikes(format!(
                "spikes must be 3-D [population, bin, neuron], got shape {shape:?}"
            ))
        })?;
        Self::from_f64(a3.view())
    }

    /// Adds an external input `[population, bin]` over the modelled bins (checked against the
    /// model in [`NeuLvm::new`](crate::NeuLvm::new)).
    pub fn with_input(mut self, i_ext: Array2<f64>) -> Result<Self> {
        if i_ext.iter().any(|v| !v.is_finite()) {
            return Err(NeulvmError::Spikes("external input must be finite".into()));
        }
        self.i_ext = Some(i_ext);
        Ok(self)
    }

    /// Spikes `[population, bin, neuron]`.
    pub fn spikes(&self) -> ArrayView3<'_, u8> {
        self.spikes.view()
    }

    /// External input `[population, modelled bin]`, if any.
    pub fn input(&self) -> Option<ArrayView2<'_, f64>> {
        self.i_ext.as_ref().map(|a| a.view())
    }

    /// Number of populations.
    pub fn n_populations(&self) -> usize {
        self.spikes.dim().0
    }

    /// Number of bins (history + modelled).
    pub fn n_bins(&self) -> usize {
        self.spikes.dim().1
    }

    /// Recorded neurons per population.
    pub fn n_recorded(&self) -> usize {
        self.spikes.dim().2
    }
}
