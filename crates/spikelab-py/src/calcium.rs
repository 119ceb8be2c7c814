//! `spikelab.calcium`: `spikelab_calcium::deconvolve::Deconvolver`, built and run as
//! `spikelab calcium deconvolve` does (the Python side caches one per embedded model).

use numpy::{IntoPyArray, PyArray2};
use pyo3::prelude::*;
use spikelab_calcium::deconvolve::{Deconvolver, DeconvolverParams, ModelChoice, Units};
use spikelab_data::CalciumTraces;

use crate::errors;
use crate::observe::{Interruptible, matrix};

/// `model` → the library's choice: `model1` … `model5` (`elephant` = `model1`), `ensemble`,
/// `cascade:DIR` or a weights file path.
fn model_choice(model: &str) -> ModelChoice {
    match model {
        "elephant" => ModelChoice::Embedded(1),
        "ensemble" => ModelChoice::EmbeddedEnsemble,
        m => match m.strip_prefix("cascade:") {
            Some(dir) => ModelChoice::Cascade(dir.into()),
            None => ModelChoice::embedded_by_name(m)
                .unwrap_or_else(|| ModelChoice::ElephantFile(m.into())),
        },
    }
}

/// A built deconvolver (`spikelab_calcium::deconvolve::Deconvolver`): the model loaded once,
/// run on any number of recordings.
#[pyclass(module = "spikelab.calcium", frozen, name = "Deconvolver")]
pub struct PyDeconvolver {
    inner: Deconvolver,
    model: String,
}

#[pymethods]
impl PyDeconvolver {
    /// Validates the parameters and loads the model.
    #[new]
    #[pyo3(signature = (model, rates_hz, preprocess))]
    fn new(py: Python<'_>, model: &str, rates_hz: bool, preprocess: bool) -> PyResult<Self> {
        let params = DeconvolverParams {
            model: model_choice(model),
            units: if rates_hz {
                Units::RatesHz
            } else {
                Units::Network
            },
            preprocess,
            ..Default::default()
        };
        let inner = py.detach(|| params.build()).map_err(errors::calcium)?;
        Ok(PyDeconvolver {
            inner,
            model: model.to_owned(),
        })
    }

    /// Deconvolves `[time, neuron]` traces; returns `[time, neuron]` values at the input's
    /// rate and the report as JSON.
    fn run<'py>(
        &self,
        py: Python<'py>,
        traces: &Bound<'py, PyAny>,
        frame_rate_hz: f64,
    ) -> PyResult<(Bound<'py, PyArray2<f64>>, String)> {
        let data = matrix(
            traces,
            "traces",
            "[time, neuron] (one neuron is traces[:, None])",
        )?;
        let mut observer = Interruptible::new(None);
        let out = py.detach(|| {
            let traces = CalciumTraces::new(data, frame_rate_hz)?;
            self.inner.run(&traces, &mut observer)
        });
        // A Ctrl-C stop surfaces as the library's `Stopped` error: raise KeyboardInterrupt.
        let out = observer.finish(out)?.map_err(errors::calcium)?;
        let report = serde_json::to_string(&out.report)
            .map_err(|e| errors::CalciumError::new_err(e.to_string()))?;
        Ok((out.values.into_pyarray(py), report))
    }

    fn __repr__(&self) -> String {
        format!("Deconvolver(model={:?})", self.model)
    }
}
