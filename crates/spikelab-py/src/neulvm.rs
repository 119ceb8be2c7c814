//! `spikelab.neulvm`: `spikelab_neulvm::fit::fit` and `simulate::simulate` on NumPy spikes
//! `[population, bin, neuron]` (0/1), the model given as a `ModelSpec` in JSON.

use numpy::{IntoPyArray, PyArray2, PyArray3};
use pyo3::prelude::*;
use spikelab_neulvm::{
    FitOptions, ModelSpec, NeuLvm, Params, Recording, SimOptions, fit, simulate,
};

use crate::errors;
use crate::observe::{Interruptible, as_f64, shaped};
use crate::params;

fn spec(spec_json: Option<&str>) -> PyResult<ModelSpec> {
    let spec = match spec_json {
        None => ModelSpec::winner_take_all(),
        Some(s) => serde_json::from_str(s)
            .map_err(|e| errors::NeulvmError::new_err(format!("bad model: {e}")))?,
    };
    spec.validate().map_err(errors::neulvm)?;
    Ok(spec)
}

/// The paper's winner-take-all network (`ModelSpec::winner_take_all`) as JSON.
#[pyfunction]
pub fn neulvm_preset() -> String {
    serde_json::to_string(&ModelSpec::winner_take_all()).expect("the preset serialises")
}

/// The fit options of `spec_json` (None: the preset) with the fields of `options_json`
/// replaced, as JSON.
#[pyfunction]
#[pyo3(signature = (spec_json=None, options_json="{}"))]
pub fn neulvm_options(spec_json: Option<&str>, options_json: &str) -> PyResult<String> {
    let o = options(&spec(spec_json)?, options_json)?;
    serde_json::to_string(&o).map_err(|e| errors::NeulvmError::new_err(e.to_string()))
}

fn options(spec: &ModelSpec, options_json: &str) -> PyResult<FitOptions> {
    let base = FitOptions::new(spec.bounds().map_err(errors::neulvm)?);
    let o: FitOptions =
        params::overlay_on(&base, options_json).map_err(errors::NeulvmError::new_err)?;
    o.validate().map_err(errors::neulvm)?;
    Ok(o)
}

/// Fits the model to `spikes` `[population, bin, neuron]` by EM with restarts; the
/// `FitResult` as JSON and the chosen restart's latent `[population, bin]`.
#[pyfunction]
#[pyo3(signature = (spikes, spec_json=None, options_json="{}", progress=None))]
pub fn neulvm_fit<'py>(
    py: Python<'py>,
    spikes: &Bound<'py, PyAny>,
    spec_json: Option<&str>,
    options_json: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<(String, Bound<'py, PyArray2<f64>>)> {
    let spec = spec(spec_json)?;
    let opts = options(&spec, options_json)?;
    let arr = as_f64(spikes)?;
    let view = shaped::<ndarray::Ix3>(&arr, "spikes", "[population, bin, neuron]")?;
    let rec = Recording::from_f64(view).map_err(errors::neulvm)?;
    let model = NeuLvm::new(spec.model, rec).map_err(errors::neulvm)?;
    let mut observer = Interruptible::new(progress);
    let out = py.detach(|| fit::fit(&model, &opts, &mut observer));
    let res = observer.finish(out)?.map_err(errors::neulvm)?;
    let z = res.best().state.z.clone();
    let json = res.to_json().map_err(errors::neulvm)?;
    Ok((json, z.into_pyarray(py)))
}

/// A simulation: latent `[population, bin]`, its mean, recorded spikes
/// `[population, bin, neuron]`, and the bin width (s).
type SimOut<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray3<u8>>,
    f64,
);

/// Free simulation of `spec_json`'s network (None: the preset) with `params_json` (None: the
/// spec's own `params`) for `n_bins` bins.
#[pyfunction]
#[pyo3(signature = (n_bins, seed, n_recorded=3, spec_json=None, params_json=None))]
pub fn neulvm_simulate<'py>(
    py: Python<'py>,
    n_bins: usize,
    seed: u64,
    n_recorded: usize,
    spec_json: Option<&str>,
    params_json: Option<&str>,
) -> PyResult<SimOut<'py>> {
    let spec = spec(spec_json)?;
    let params: Params = match params_json {
        Some(s) => serde_json::from_str(s)
            .map_err(|e| errors::NeulvmError::new_err(format!("bad params: {e}")))?,
        None => spec.params.clone().ok_or_else(|| {
            errors::NeulvmError::new_err("the model has no params to simulate; pass params")
        })?,
    };
    let mut opts = SimOptions::new(n_bins, seed);
    opts.n_recorded = n_recorded;
    let sim = py
        .detach(|| simulate::simulate(&spec.model, &params, &opts))
        .map_err(errors::neulvm)?;
    Ok((
        sim.z.into_pyarray(py),
        sim.z_mean.into_pyarray(py),
        sim.spikes.into_pyarray(py),
        sim.dt_s,
    ))
}
