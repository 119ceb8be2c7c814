//! `spikelab.decode`: the linear decoders (`LinearDecoderParams::fit`: ridge, Wiener filter,
//! reduced-rank), the Kalman-filter decoder (`KalmanDecoderParams::fit`) and the BrainBits
//! audit (`Audit::run_recording`), as `spikelab decode fit|audit` run them.
//!
//! Axes here are time-major, as in scikit-learn: counts `[frame, neuron]`, targets
//! `[frame, output]` (the library's rasters are `[neuron, frame]`: transposed on the way in).

use ndarray::{Array2, Array3};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use spikelab_decode::{
    AuditParams, DEFAULT_ALPHAS, KalmanDecoderFit, KalmanDecoderParams, Lags, LinearDecoderFit,
    LinearDecoderParams, lagged_features_sparse, one_hot,
};

use crate::errors;
use crate::observe::{Interruptible, matrix};

/// `"zero"`, `"causal:N"`, `"centred:PAST,FUTURE"` or a list of offsets ℓ (feature block ℓ =
/// counts at t − ℓ).
fn parse_lags(obj: &Bound<'_, PyAny>) -> PyResult<Lags> {
    if let Ok(s) = obj.extract::<String>() {
        return s.parse().map_err(errors::decode);
    }
    obj.extract::<Vec<i64>>().map(Lags::Custom).map_err(|_| {
        PyTypeError::new_err(
            "lags must be 'zero', 'causal:N', 'centred:PAST,FUTURE' or a list of integer offsets",
        )
    })
}

/// Time-major counts `[frame, neuron]` (finite) as the library's `[neuron, frame]`.
fn counts(obj: &Bound<'_, PyAny>) -> PyResult<Array2<f64>> {
    let c = matrix(obj, "counts", "[frame, neuron]")?;
    if c.iter().any(|v| !v.is_finite()) {
        return Err(errors::DecodeError::new_err(
            "invalid data: counts contain NaN or ∞",
        ));
    }
    Ok(c.reversed_axes())
}

fn target(obj: &Bound<'_, PyAny>) -> PyResult<Array2<f64>> {
    matrix(obj, "target", "[frame, output]")
}

fn to_json<T: serde::Serialize>(value: &T) -> PyResult<String> {
    serde_json::to_string_pretty(value).map_err(|e| errors::DecodeError::new_err(e.to_string()))
}

/// Fits a linear decoder (ridge; Wiener = causal lags; reduced-rank with `rank`).
#[pyfunction]
#[pyo3(signature = (counts_tn, target_to, lags, alphas, train_fraction, val_fraction, rank))]
#[allow(clippy::too_many_arguments)]
pub fn decode_fit_linear(
    py: Python<'_>,
    counts_tn: &Bound<'_, PyAny>,
    target_to: &Bound<'_, PyAny>,
    lags: &Bound<'_, PyAny>,
    alphas: Option<Vec<f64>>,
    train_fraction: f64,
    val_fraction: f64,
    rank: Option<usize>,
) -> PyResult<LinearFit> {
    let params = LinearDecoderParams {
        lags: parse_lags(lags)?,
        alphas: alphas.unwrap_or_else(|| DEFAULT_ALPHAS.to_vec()),
        train_fraction,
        val_fraction,
        rank,
        ..Default::default()
    };
    let (x, y) = (counts(counts_tn)?, target(target_to)?);
    let fit = py
        .detach(|| params.check()?.fit(x.view(), y.view()))
        .map_err(errors::decode)?;
    Ok(LinearFit { inner: fit })
}

/// A fitted linear decoder (`spikelab_decode::LinearDecoderFit`).
#[pyclass(module = "spikelab.decode", frozen)]
pub struct LinearFit {
    inner: LinearDecoderFit,
}

#[pymethods]
impl LinearFit {
    /// Test R² (uniform average over the outputs).
    #[getter]
    fn test_r2(&self) -> f64 {
        self.inner.test_r2
    }

    /// Test R² per output.
    #[getter]
    fn test_r2_per_output<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.test_r2_per_output.clone().into_pyarray(py)
    }

    /// R² on the training frames.
    #[getter]
    fn train_r2(&self) -> f64 {
        self.inner.train_r2
    }

    /// Predictions on the test frames `[test frame, output]`.
    #[getter]
    fn test_prediction<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        self.inner.test_prediction.clone().into_pyarray(py)
    }

    /// The test frames: `(start, stop)`.
    #[getter]
    fn test_frames(&self) -> (usize, usize) {
        (self.inner.split.test.start, self.inner.split.test.end)
    }

    /// The ridge penalty chosen on the validation frames.
    #[getter]
    fn alpha(&self) -> f64 {
        self.inner.model.alpha
    }

    /// `(α, validation R²)` for every α of the grid.
    #[getter]
    fn validation(&self) -> Vec<(f64, f64)> {
        self.inner.validation.clone()
    }

    /// Rank of a reduced-rank decoder (`None`: full-rank ridge).
    #[getter]
    fn rank(&self) -> Option<usize> {
        self.inner.model.rank
    }

    /// The lag offsets ℓ, in the order of the weights' first axis.
    #[getter]
    fn lags(&self) -> Vec<i64> {
        self.inner.params.lags.offsets()
    }

    /// Weights `[lag, neuron, output]`: `weights[k, j]` multiplies counts of neuron j at
    /// frame t − lags[k].
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray3<f64>>> {
        let w = &self.inner.model.weights;
        let n_lags = self.inner.params.lags.offsets().len();
        let (rows, q) = w.dim();
        let n = rows / n_lags.max(1);
        let w3 = Array3::from_shape_fn((n_lags, n, q), |(k, j, o)| w[[k * n + j, o]]);
        Ok(w3.into_pyarray(py))
    }

    /// Intercept per output.
    #[getter]
    fn intercept<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.model.intercept.clone().into_pyarray(py)
    }

    /// Predictions `[frame, output]` for the counts `[frame, neuron]` of a recording of the
    /// same neurons (frames outside it read as 0, as in training).
    fn predict<'py>(
        &self,
        py: Python<'py>,
        counts_tn: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let x = counts(counts_tn)?;
        let out = py
            .detach(|| {
                let f = lagged_features_sparse(x.view(), &self.inner.params.lags)?;
                self.inner.model.predict(&f)
            })
            .map_err(errors::decode)?;
        Ok(out.into_pyarray(py))
    }

    /// The fit as the CLI's `fit.json` holds it.
    fn to_json(&self) -> PyResult<String> {
        to_json(&self.inner)
    }

    fn __repr__(&self) -> String {
        format!(
            "LinearFit(lags={}, alpha={}, rank={:?}, test_r2={:.4})",
            self.inner.params.lags.offsets().len(),
            self.inner.model.alpha,
            self.inner.model.rank,
            self.inner.test_r2
        )
    }
}

/// Fits the Kalman-filter decoder.
#[pyfunction]
#[pyo3(signature = (counts_tn, target_to, window, n_components, velocity, train_fraction))]
pub fn decode_fit_kalman(
    py: Python<'_>,
    counts_tn: &Bound<'_, PyAny>,
    target_to: &Bound<'_, PyAny>,
    window: Option<&Bound<'_, PyAny>>,
    n_components: Option<usize>,
    velocity: bool,
    train_fraction: f64,
) -> PyResult<KalmanFit> {
    let params = KalmanDecoderParams {
        window: match window {
            Some(w) => parse_lags(w)?,
            None => KalmanDecoderParams::default().window,
        },
        n_components,
        velocity,
        train_fraction,
    };
    let (x, y) = (counts(counts_tn)?, target(target_to)?);
    let fit = py
        .detach(|| params.check()?.fit(x.view(), y.view()))
        .map_err(errors::decode)?;
    Ok(KalmanFit { inner: fit })
}

/// A Kalman-filter decoder read back from its JSON (`KalmanFit.to_json`, the CLI's
/// `fit.json`); `test_prediction` is not stored there and comes back empty.
#[pyfunction]
pub fn decode_kalman_from_json(json: &str) -> PyResult<KalmanFit> {
    let inner: KalmanDecoderFit = serde_json::from_str(json)
        .map_err(|e| errors::DecodeError::new_err(format!("not a Kalman decoder fit: {e}")))?;
    Ok(KalmanFit { inner })
}

/// A fitted Kalman-filter decoder (`spikelab_decode::KalmanDecoderFit`).
#[pyclass(module = "spikelab.decode", frozen)]
pub struct KalmanFit {
    inner: KalmanDecoderFit,
}

#[pymethods]
impl KalmanFit {
    /// Test R² (uniform average over the outputs).
    #[getter]
    fn test_r2(&self) -> f64 {
        self.inner.test_r2
    }

    /// Test R² per output.
    #[getter]
    fn test_r2_per_output<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.test_r2_per_output.clone().into_pyarray(py)
    }

    /// R² on the training frames (filtered, as on the test frames).
    #[getter]
    fn train_r2(&self) -> f64 {
        self.inner.train_r2
    }

    /// Filtered means on the test frames `[test frame, output]`.
    #[getter]
    fn test_prediction<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        self.inner.test_prediction.clone().into_pyarray(py)
    }

    /// The test frames: `(start, stop)`.
    #[getter]
    fn test_frames(&self) -> (usize, usize) {
        (self.inner.split.test.start, self.inner.split.test.end)
    }

    /// Number of observation components (principal components, or the kept neurons).
    #[getter]
    fn n_components(&self) -> usize {
        self.inner.model.projection.ncols()
    }

    /// The neurons kept (those firing in the training frames).
    #[getter]
    fn neurons(&self) -> Vec<usize> {
        self.inner.model.neurons.clone()
    }

    /// The summation window's offsets ℓ.
    #[getter]
    fn window(&self) -> Vec<i64> {
        self.inner.model.window.offsets()
    }

    /// Decodes the counts `[frame, neuron]` of a recording of the same neurons into
    /// `[frame, output]` (filtered means from the training prior).
    fn decode<'py>(
        &self,
        py: Python<'py>,
        counts_tn: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let x = counts(counts_tn)?;
        let out = py
            .detach(|| self.inner.model.decode(x.view()))
            .map_err(errors::decode)?;
        Ok(out.into_pyarray(py))
    }

    /// [`KalmanFit::decode`] (the name scikit-learn users look for).
    fn predict<'py>(
        &self,
        py: Python<'py>,
        counts_tn: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        self.decode(py, counts_tn)
    }

    /// The observations the filter reads `[frame, component]`.
    fn features<'py>(
        &self,
        py: Python<'py>,
        counts_tn: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let x = counts(counts_tn)?;
        let out = py
            .detach(|| self.inner.model.features(x.view()))
            .map_err(errors::decode)?;
        Ok(out.into_pyarray(py))
    }

    /// The state-space model: a dict of `A`, `Q`, `C`, `R`, `mu0`, `Sigma0`, `b`, `d` (the
    /// state is `[output, velocity]`; the observations are [`KalmanFit::features`]).
    fn lds<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        crate::lds::model_dict(py, &self.inner.model.lds)
    }

    /// The fit as the CLI's `fit.json` holds it.
    fn to_json(&self) -> PyResult<String> {
        to_json(&self.inner)
    }

    fn __repr__(&self) -> String {
        format!(
            "KalmanFit(components={}, outputs={}, test_r2={:.4})",
            self.inner.model.projection.ncols(),
            self.inner.model.n_outputs,
            self.inner.test_r2
        )
    }
}

/// The BrainBits audit of a recording; the report as JSON.
#[pyfunction]
#[pyo3(signature = (counts_tn, target_to, lags, bottlenecks, bootstrap, block_len, seed, one_hot_target, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn decode_audit(
    py: Python<'_>,
    counts_tn: &Bound<'_, PyAny>,
    target_to: &Bound<'_, PyAny>,
    lags: &Bound<'_, PyAny>,
    bottlenecks: Vec<usize>,
    bootstrap: usize,
    block_len: usize,
    seed: u64,
    one_hot_target: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let lags = parse_lags(lags)?;
    let (x, y) = (counts(counts_tn)?, target(target_to)?);
    let audit = AuditParams {
        bottlenecks,
        bootstrap,
        block_len,
        seed,
        ..Default::default()
    }
    .check()
    .map_err(errors::decode)?;
    let mut observer = Interruptible::new(progress);
    let report = py.detach(|| {
        let y = if one_hot_target {
            one_hot(y.view())?
        } else {
            y
        };
        audit.run_recording(x.view(), y.view(), &lags, &mut observer)
    });
    let report = observer.finish(report)?.map_err(errors::decode)?;
    to_json(&report)
}
