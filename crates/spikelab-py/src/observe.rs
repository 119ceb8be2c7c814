//! The observer the long calls run with: Ctrl-C (and an optional Python progress callback)
//! checked with the GIL re-acquired, between steps of a call that otherwise runs without it.

use pyo3::prelude::*;
use spikelab_core::{Flow, Observer, Progress};

/// Stops the call at the next step when a signal handler raised (Ctrl-C:
/// `KeyboardInterrupt`) or the callback raised; the error is kept for the caller to raise.
pub struct Interruptible {
    callback: Option<Py<PyAny>>,
    /// What stopped the call.
    pub error: Option<PyErr>,
}

impl Interruptible {
    /// `callback(step, total, metric)` after each step, if given: the step's `loss`, or else
    /// its first metric (EM's `loglik`), or `None`.
    pub fn new(callback: Option<Py<PyAny>>) -> Self {
        Interruptible {
            callback,
            error: None,
        }
    }

    /// `Err` with what stopped the call, else `Ok(value)`.
    pub fn finish<T>(self, value: T) -> PyResult<T> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }
}

impl Observer for Interruptible {
    fn observe(&mut self, p: &Progress<'_>) -> Flow {
        Python::attach(|py| {
            let result = py.check_signals().and_then(|()| match &self.callback {
                Some(cb) => {
                    let metric = p.metric("loss").or_else(|| p.metrics.first().map(|m| m.1));
                    cb.call1(py, (p.step, p.total, metric)).map(drop)
                }
                None => Ok(()),
            });
            match result {
                Ok(()) => Flow::Continue,
                Err(e) => {
                    self.error = Some(e);
                    Flow::Stop
                }
            }
        })
    }
}

/// `obj` as a NumPy array of `dtype` (`"float64"`, `"float32"`; no copy when it already is
/// one); a non-numeric dtype is a `TypeError`.
pub fn as_numeric<'py>(obj: &Bound<'py, PyAny>, dtype: &str) -> PyResult<Bound<'py, PyAny>> {
    let np = obj.py().import("numpy")?;
    let arr = np.call_method1("asarray", (obj,))?;
    let kind: String = arr.getattr("dtype")?.getattr("kind")?.extract()?;
    if !"biuf".contains(kind.as_str()) {
        let given = arr.getattr("dtype")?.str()?.to_string();
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "expected a numeric array (bool, int or float), got dtype {given}"
        )));
    }
    np.call_method1("asarray", (arr, dtype))
}

/// `obj` as a float64 NumPy array (see [`as_numeric`]): a native-endian float64 array of any
/// order and strides is read in place without calling into NumPy.
pub fn as_f64<'py>(obj: &Bound<'py, PyAny>) -> PyResult<numpy::PyReadonlyArrayDyn<'py, f64>> {
    if let Ok(arr) = obj.extract::<numpy::PyReadonlyArrayDyn<'py, f64>>() {
        return Ok(arr);
    }
    Ok(as_numeric(obj, "float64")?.extract()?)
}

/// Test aid (`spikelab._native._input_f64`): the float64 array the bindings read for `obj`
/// ([`as_f64`]); `np.shares_memory` with `obj` tells whether it is read in place.
#[pyfunction]
pub fn _input_f64<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    Ok(as_f64(obj)?.as_any().clone())
}

/// `arr` as a `D`-dimensional view, or a `DataError` naming the array `name` and its axes
/// (e.g. `"[frame, neuron]"`): the one check of the number of dimensions.
pub fn shaped<'a, D: ndarray::Dimension>(
    arr: &'a numpy::PyReadonlyArrayDyn<'_, f64>,
    name: &str,
    axes: &str,
) -> PyResult<ndarray::ArrayView<'a, f64, D>> {
    let view = arr.as_array();
    let (ndim, shape) = (view.ndim(), view.shape().to_vec());
    view.into_dimensionality::<D>().map_err(|_| {
        crate::errors::DataError::new_err(format!(
            "{name} must be {}-D {axes}, got {ndim} dimensions (shape {shape:?})",
            D::NDIM.unwrap_or(ndim)
        ))
    })
}

/// `obj` as an owned 2-D float64 array (see [`as_f64`] and [`shaped`]).
pub fn matrix(obj: &Bound<'_, PyAny>, name: &str, axes: &str) -> PyResult<ndarray::Array2<f64>> {
    let arr = as_f64(obj)?;
    Ok(shaped::<ndarray::Ix2>(&arr, name, axes)?.to_owned())
}
