//! `spikelab.calcium`: `spikelab_calcium::deconvolve::Deconvolver`, built and run as
//! `spikelab calcium deconvolve` does (the Python side caches one per embedded model), and
//! CASCADE model folders loaded with a Python reader of their Keras files (h5py: the wheel
//! links no libhdf5).

use std::path::{Path, PathBuf};

use numpy::{IntoPyArray, PyArray2, PyReadonlyArrayDyn};
use pyo3::prelude::*;
use spikelab_calcium::CalciumError;
use spikelab_calcium::cascade::{CascadeModel, Threshold};
use spikelab_calcium::deconvolve::{Deconvolver, DeconvolverParams, ModelChoice, Units};
use spikelab_calcium::spikenet::{KerasLayer, KerasWeight, SpikeNetArch, SpikeNetWeights};
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

    /// A deconvolver running a loaded CASCADE model (`threshold`: `clip`, `none` or
    /// `single-spike`; `resample`: Fourier-resample a recording more than 5 % off the model's
    /// rate instead of refusing it).
    #[staticmethod]
    fn cascade(
        model: &PyCascadeModel,
        rates_hz: bool,
        threshold: &str,
        resample: bool,
    ) -> PyResult<Self> {
        let threshold: Threshold = threshold.parse().map_err(errors::calcium)?;
        let params = DeconvolverParams {
            units: if rates_hz {
                Units::RatesHz
            } else {
                Units::Network
            },
            threshold,
            resample,
            ..Default::default()
        };
        let inner = params
            .build_with_cascade(model.inner.clone())
            .map_err(errors::calcium)?;
        Ok(PyDeconvolver {
            inner,
            model: format!("cascade:{}", model.inner.dir().display()),
        })
    }

    fn __repr__(&self) -> String {
        format!("Deconvolver(model={:?})", self.model)
    }
}

/// The layers `reader(path)` returns (`[(layer name, [(weight name, float32 array)])]` in the
/// file's `layer_names` / `weight_names` order) as the library's [`KerasLayer`]s.
fn read_layers(reader: &Bound<'_, PyAny>, path: &Path) -> PyResult<Vec<KerasLayer>> {
    type Weights<'py> = Vec<(String, PyReadonlyArrayDyn<'py, f32>)>;
    let layers: Vec<(String, Weights<'_>)> = reader.call1((path,))?.extract()?;
    Ok(layers
        .into_iter()
        .map(|(name, weights)| KerasLayer {
            name,
            weights: weights
                .into_iter()
                .map(|(name, arr)| {
                    let a = arr.as_array();
                    KerasWeight {
                        name,
                        shape: a.shape().to_vec(),
                        values: a.iter().copied().collect(),
                    }
                })
                .collect(),
        })
        .collect())
}

/// A CASCADE model folder (`spikelab_calcium::cascade::CascadeModel::load_partial_with`): the
/// library checks the folder and `config.yaml` and maps each weight file's layers to the
/// network; `reader(path)` only reads a Keras file's arrays.
#[pyclass(module = "spikelab.calcium", frozen, name = "CascadeModel")]
pub struct PyCascadeModel {
    inner: CascadeModel,
}

#[pymethods]
impl PyCascadeModel {
    /// Loads the folder; an exception of `reader` becomes a `CalciumError` (its cause kept).
    #[new]
    fn new(py: Python<'_>, dir: PathBuf, reader: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut raised: Option<PyErr> = None;
        let loaded = CascadeModel::load_partial_with(&dir, |path, arch: &SpikeNetArch| {
            let source = path.display().to_string();
            let layers = read_layers(reader, path).map_err(|e| {
                let reason = e.to_string();
                raised.get_or_insert(e);
                CalciumError::Weights {
                    source_name: source.clone(),
                    reason,
                }
            })?;
            SpikeNetWeights::from_keras_layers(layers, arch, &source)
        });
        match loaded {
            Ok(inner) => Ok(PyCascadeModel { inner }),
            Err(e) => {
                let err = errors::calcium(e);
                if let Some(cause) = raised {
                    if cause.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
                        return Err(cause);
                    }
                    err.set_cause(py, Some(cause));
                }
                Err(err)
            }
        }
    }

    /// The folder.
    #[getter]
    fn dir(&self) -> PathBuf {
        self.inner.dir().to_path_buf()
    }

    /// `config.yaml`'s `model_name`.
    #[getter]
    fn name(&self) -> String {
        self.inner.config().model_name.clone()
    }

    /// The frame rate the model was trained for (Hz).
    #[getter]
    fn frame_rate_hz(&self) -> f64 {
        self.inner.config().sampling_rate_hz
    }

    /// The configured noise levels, one ensemble each.
    #[getter]
    fn noise_levels(&self) -> Vec<f64> {
        self.inner.config().noise_levels.clone()
    }

    /// Whether the folder holds the ensemble of each configured noise level.
    #[getter]
    fn levels_present(&self) -> Vec<bool> {
        (0..self.inner.config().noise_levels.len())
            .map(|i| self.inner.ensemble(i).is_some())
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "CascadeModel({:?}, {} Hz)",
            self.inner.config().model_name,
            self.inner.config().sampling_rate_hz
        )
    }
}
