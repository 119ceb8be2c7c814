//! `spikelab.convseq`: `spikelab_convseq::ConvSeq::fit_with` and `ConvSeqFit::detect`.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikelab_convseq as cs;
use spikelab_data::{BinnedRaster, SparseRaster};

use crate::errors;
use crate::observe::{Interruptible, as_f64, shaped};
use crate::params;

/// A `[neuron, bin]` count array (any numeric dtype; whole non-negative numbers) as the
/// library's sparse raster.
fn raster(obj: &Bound<'_, PyAny>, bin_s: f64) -> PyResult<SparseRaster> {
    let arr = as_f64(obj)?;
    let view = shaped::<ndarray::Ix2>(&arr, "raster", "[neuron, bin]")?;
    Ok(BinnedRaster::from_f64(view, bin_s)
        .map_err(errors::data)?
        .to_sparse())
}

fn json_to_py<'py>(py: Python<'py>, json: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (json,))
}

/// The library's defaults of every convSeq parameter, as JSON.
#[pyfunction]
pub fn convseq_default_params() -> String {
    params::defaults_json::<cs::ConvSeqParams>()
}

/// Fits convSeq on a `[neuron, bin]` raster; `params_json` overrides the library defaults.
#[pyfunction]
#[pyo3(signature = (raster_counts, bin_s, params_json, progress=None))]
pub fn convseq_fit(
    py: Python<'_>,
    raster_counts: &Bound<'_, PyAny>,
    bin_s: f64,
    params_json: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<ConvSeqFit> {
    let p: cs::ConvSeqParams =
        params::overlay(params_json).map_err(errors::ConvSeqError::new_err)?;
    let raster = raster(raster_counts, bin_s)?;
    let model = cs::ConvSeq::new(p).map_err(errors::convseq)?;
    let mut observer = Interruptible::new(progress);
    let fit = py.detach(|| model.fit_with(&raster, &mut observer));
    // Ctrl-C (or a raising callback) wins over the partial fit the library returns.
    let fit = observer.finish(fit)?.map_err(errors::convseq)?;
    Ok(ConvSeqFit { inner: fit })
}

/// A trained convSeq model (`spikelab_convseq::ConvSeqFit`). Arrays are returned as new
/// NumPy arrays on each access.
#[pyclass(module = "spikelab.convseq", frozen)]
pub struct ConvSeqFit {
    inner: cs::ConvSeqFit,
}

#[pymethods]
impl ConvSeqFit {
    /// Softmaxed filters `[filter, neuron, tap]`; each row sums to 1.
    #[getter]
    fn filters<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray3<f64>> {
        self.inner.filters.clone().into_pyarray(py)
    }

    /// Learned logits `[filter, neuron, tap]`.
    #[getter]
    fn logits<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray3<f64>> {
        self.inner.logits.clone().into_pyarray(py)
    }

    /// Per filter, each neuron's learned lag (argmax tap) `[filter, neuron]`.
    #[getter]
    fn lags<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<u64>> {
        self.inner.lags.mapv(|l| l as u64).into_pyarray(py)
    }

    /// Per filter, the neurons sorted by learned lag: the sequence order.
    #[getter]
    fn orders<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyArray1<u64>>> {
        self.inner
            .orders
            .iter()
            .map(|o| {
                o.iter()
                    .map(|&n| n as u64)
                    .collect::<Vec<_>>()
                    .into_pyarray(py)
            })
            .collect()
    }

    /// Total training loss per epoch.
    #[getter]
    fn loss<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        let l: Vec<f64> = self.inner.loss_history.iter().map(|t| t.total).collect();
        l.into_pyarray(py)
    }

    /// Bin width of the training raster, s.
    #[getter]
    fn bin_s(&self) -> f64 {
        self.inner.bin_s
    }

    /// The parameters used (every field, defaults included).
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = serde_json::to_string(&self.inner.params)
            .map_err(|e| errors::ConvSeqError::new_err(e.to_string()))?;
        json_to_py(py, &s)
    }

    /// What the filters detect on the training raster.
    #[getter]
    fn detection(&self) -> Detection {
        Detection {
            inner: self.inner.detection.clone(),
        }
    }

    /// Events on the training raster (`detection.events`).
    #[getter]
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        events_dict(py, &self.inner.detection)
    }

    /// Applies the filters to another `[neuron, bin]` raster of the same neurons (α
    /// re-estimated there). `bin_s` defaults to the training raster's.
    #[pyo3(signature = (raster_counts, bin_s=None))]
    fn detect(
        &self,
        py: Python<'_>,
        raster_counts: &Bound<'_, PyAny>,
        bin_s: Option<f64>,
    ) -> PyResult<Detection> {
        let raster = raster(raster_counts, bin_s.unwrap_or(self.inner.bin_s))?;
        let d = py
            .detach(|| self.inner.detect(&raster))
            .map_err(errors::convseq)?;
        Ok(Detection { inner: d })
    }

    fn __repr__(&self) -> String {
        format!(
            "ConvSeqFit(filters={}, neurons={}, width_bins={}, epochs={}, events={})",
            self.inner.filters.dim().0,
            self.inner.filters.dim().1,
            self.inner.filters.dim().2,
            self.inner.loss_history.len(),
            self.inner.detection.events.len()
        )
    }
}

fn events_dict<'py>(py: Python<'py>, d: &cs::Detection) -> PyResult<Bound<'py, PyDict>> {
    let ev = &d.events;
    let out = PyDict::new(py);
    let col_u =
        |f: &dyn Fn(&cs::Event) -> usize| -> Vec<u64> { ev.iter().map(|e| f(e) as u64).collect() };
    out.set_item("filter", col_u(&|e| e.filter).into_pyarray(py))?;
    out.set_item("bin", col_u(&|e| e.bin).into_pyarray(py))?;
    let t: Vec<f64> = ev.iter().map(|e| e.time_s).collect();
    out.set_item("time_s", t.into_pyarray(py))?;
    let h: Vec<f64> = ev.iter().map(|e| e.height).collect();
    out.set_item("height", h.into_pyarray(py))?;
    Ok(out)
}

/// What learned filters find in one recording (`spikelab_convseq::Detection`).
#[pyclass(module = "spikelab.convseq", frozen)]
pub struct Detection {
    inner: cs::Detection,
}

#[pymethods]
impl Detection {
    /// Events as columns: `filter`, `bin` (window-centre bin), `time_s`, `height`
    /// (projection at the peak), sorted by filter then bin.
    #[getter]
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        events_dict(py, &self.inner)
    }

    /// Significance threshold α per filter.
    #[getter]
    fn alpha<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.alpha.clone().into_pyarray(py)
    }

    /// Projections `[filter, bin]` (index = window-centre bin).
    #[getter]
    fn projections<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        self.inner.projections.clone().into_pyarray(py)
    }

    /// Bin width, s.
    #[getter]
    fn bin_s(&self) -> f64 {
        self.inner.bin_s
    }

    /// Per filter, the neurons called members of the sequence.
    #[getter]
    fn members<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyArray1<u64>>> {
        (0..self.inner.members.len())
            .map(|k| {
                let m: Vec<u64> = self
                    .inner
                    .member_neurons(k)
                    .iter()
                    .map(|&n| n as u64)
                    .collect();
                m.into_pyarray(py)
            })
            .collect()
    }

    /// Per filter, each neuron's participation z-score (hits above shuffled event times),
    /// indexed by neuron.
    #[getter]
    fn member_z<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyArray1<f64>>> {
        self.inner
            .members
            .iter()
            .map(|ms| {
                let mut z = vec![f64::NAN; ms.len()];
                for m in ms {
                    if let Some(slot) = z.get_mut(m.neuron) {
                        *slot = m.z;
                    }
                }
                z.into_pyarray(py)
            })
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "Detection(events={}, alpha={:?})",
            self.inner.events.len(),
            self.inner.alpha
        )
    }
}
