//! `spikelab.sort`: `spikelab_sort::pipeline::sort` on a `[sample, channel]` array,
//! `spikelab_sort::compare::compare_to_ground_truth`, and the ground-truth recordings of
//! `spikelab_synth::recording` (axis order `[sample, channel]`, as the library's).

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3};
use pyo3::prelude::*;
use spikelab_data::{Probe, Recording, Sorting};
use spikelab_sort::compare::{CompareParams, compare_to_ground_truth};
use spikelab_sort::pipeline::{SortParams, SortResult, sort};
use spikelab_synth::recording::GroundTruthParams;

use crate::errors;
use crate::observe::{Interruptible, as_numeric, matrix};
use crate::params;

/// `obj` as an owned `[sample, channel]` float32 array (one conversion by NumPy, then one
/// copy into the library's recording).
fn traces_f32(obj: &Bound<'_, PyAny>) -> PyResult<ndarray::Array2<f32>> {
    let arr: numpy::PyReadonlyArrayDyn<'_, f32> = as_numeric(obj, "float32")?.extract()?;
    let view = arr.as_array();
    let ndim = view.ndim();
    let view = view.into_dimensionality::<ndarray::Ix2>().map_err(|_| {
        errors::DataError::new_err(format!(
            "traces must be 2-D [sample, channel], got {ndim} dimensions"
        ))
    })?;
    Ok(view.to_owned())
}

/// The probe from `[channel, 2]` contact positions (µm).
fn probe(positions_um: &Bound<'_, PyAny>, contact_radius_um: f64) -> PyResult<Probe> {
    let p = matrix(positions_um, "positions_um", "[channel, 2] (x, y in µm)")?;
    if p.ncols() != 2 {
        return Err(errors::DataError::new_err(format!(
            "positions_um must be [channel, 2], got shape {:?}",
            p.dim()
        )));
    }
    let positions = p.rows().into_iter().map(|r| [r[0], r[1]]).collect();
    Probe::new(positions, contact_radius_um).map_err(errors::data)
}

/// The library's defaults of every sorting parameter, as JSON.
#[pyfunction]
pub fn sort_default_params() -> String {
    params::defaults_json::<SortParams>()
}

/// Sorts `traces` `[sample, channel]` recorded at `sampling_rate_hz` on the contacts at
/// `positions_um` `[channel, 2]` (or the probeinterface JSON file `probe_path`);
/// `params_json` overrides the library defaults.
#[pyfunction]
#[pyo3(signature = (traces, sampling_rate_hz, positions_um=None, probe_path=None, contact_radius_um=6.0, params_json="{}", progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn sort_run(
    py: Python<'_>,
    traces: &Bound<'_, PyAny>,
    sampling_rate_hz: f64,
    positions_um: Option<&Bound<'_, PyAny>>,
    probe_path: Option<std::path::PathBuf>,
    contact_radius_um: f64,
    params_json: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<SortOutput> {
    let p: SortParams = params::overlay(params_json).map_err(errors::SortError::new_err)?;
    let probe = match (positions_um, probe_path) {
        (Some(pos), None) => probe(pos, contact_radius_um)?,
        (None, Some(path)) => spikelab_data::io::probe::read_probe(&path).map_err(errors::data)?,
        _ => {
            return Err(errors::SortError::new_err(
                "give exactly one of positions_um and probe_path",
            ));
        }
    };
    let data = traces_f32(traces)?;
    let mut observer = Interruptible::new(progress);
    let out = py.detach(|| {
        let recording = Recording::new(data, sampling_rate_hz, probe)?;
        sort(&recording, &p, &mut observer)
    });
    let result = observer.finish(out)?.map_err(errors::sort)?;
    let summary = serde_json::to_string(&result.summary(&p))
        .map_err(|e| errors::SortError::new_err(e.to_string()))?;
    Ok(SortOutput {
        inner: result,
        summary,
    })
}

/// A sorting (`spikelab_sort::pipeline::SortResult`). Arrays are returned as new NumPy
/// arrays on each access.
#[pyclass(module = "spikelab.sort", frozen)]
pub struct SortOutput {
    inner: SortResult,
    summary: String,
}

#[pymethods]
impl SortOutput {
    /// Peak frame of every sorted spike, in time order `[spike]`.
    #[getter]
    fn frames<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        let v: Vec<i64> = self
            .inner
            .sorting
            .spike_vector()
            .iter()
            .map(|s| s.0)
            .collect();
        v.into_pyarray(py)
    }

    /// Unit of every sorted spike (ids `0..n_units`), aligned with `frames`.
    #[getter]
    fn labels<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        let ids = self.inner.sorting.unit_ids();
        let v: Vec<i64> = self
            .inner
            .sorting
            .spike_vector()
            .iter()
            .map(|s| ids[s.1])
            .collect();
        v.into_pyarray(py)
    }

    /// Preprocessed trace value at each spike's peak, aligned with `frames`.
    #[getter]
    fn amplitudes<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        self.inner.amplitudes.clone().into_pyarray(py)
    }

    /// Mean preprocessed waveform per unit `[unit, sample, channel]`.
    #[getter]
    fn templates<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray3<f32>> {
        self.inner.templates.clone().into_pyarray(py)
    }

    /// Channel of each unit's largest |template| value `[unit]`.
    #[getter]
    fn peak_channels<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        let v: Vec<u64> = self.inner.peak_channels.iter().map(|&c| c as u64).collect();
        v.into_pyarray(py)
    }

    /// Number of units.
    #[getter]
    fn n_units(&self) -> usize {
        self.inner.sorting.n_units()
    }

    /// The run summary (`sort.json` of the CLI) as JSON.
    #[getter]
    fn summary_json(&self) -> &str {
        &self.summary
    }

    fn __repr__(&self) -> String {
        format!(
            "SortOutput(n_units={}, n_spikes={}, n_detected={})",
            self.inner.sorting.n_units(),
            self.inner.sorting.counts().iter().sum::<usize>(),
            self.inner.n_detected
        )
    }
}

fn sorting(
    frames: &Bound<'_, PyAny>,
    labels: &Bound<'_, PyAny>,
    sampling_rate_hz: f64,
    n_samples: i64,
    what: &str,
) -> PyResult<Sorting> {
    let whole = |obj: &Bound<'_, PyAny>, name: &str| -> PyResult<Vec<i64>> {
        let arr = crate::observe::as_f64(obj)?;
        let v = crate::observe::shaped::<ndarray::Ix1>(&arr, name, "[spike]")?;
        v.iter()
            .map(|&x| {
                if x.is_finite() && x.fract() == 0.0 {
                    Ok(x as i64)
                } else {
                    Err(errors::DataError::new_err(format!(
                        "{name} holds {x}, expected whole numbers"
                    )))
                }
            })
            .collect()
    };
    let f = whole(frames, &format!("{what} frames"))?;
    let l = whole(labels, &format!("{what} labels"))?;
    Sorting::from_samples_and_labels(&f, &l, sampling_rate_hz, n_samples).map_err(errors::data)
}

/// SpikeInterface's ground-truth comparison of a tested sorting (frames and labels) with the
/// ground truth; the `GroundTruthComparison` as JSON.
#[pyfunction]
#[pyo3(signature = (gt_frames, gt_labels, frames, labels, sampling_rate_hz, n_samples, params_json="{}"))]
#[allow(clippy::too_many_arguments)]
pub fn sort_compare(
    py: Python<'_>,
    gt_frames: &Bound<'_, PyAny>,
    gt_labels: &Bound<'_, PyAny>,
    frames: &Bound<'_, PyAny>,
    labels: &Bound<'_, PyAny>,
    sampling_rate_hz: f64,
    n_samples: i64,
    params_json: &str,
) -> PyResult<String> {
    let p: CompareParams = params::overlay(params_json).map_err(errors::SortError::new_err)?;
    let gt = sorting(
        gt_frames,
        gt_labels,
        sampling_rate_hz,
        n_samples,
        "ground-truth",
    )?;
    let tested = sorting(frames, labels, sampling_rate_hz, n_samples, "tested")?;
    let cmp = py
        .detach(|| compare_to_ground_truth(&gt, &tested, &p))
        .map_err(errors::sort)?;
    serde_json::to_string(&cmp).map_err(|e| errors::SortError::new_err(e.to_string()))
}

/// A generated ground-truth recording: traces `[sample, channel]`, contact positions
/// `[channel, 2]`, ground-truth frames and labels in time order, and the truth as JSON.
type GroundTruthOut<'py> = (
    Bound<'py, PyArray2<f32>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    String,
);

fn preset(name: &str, n_units: Option<usize>) -> PyResult<GroundTruthParams> {
    match (name, n_units) {
        ("default", None) => Ok(GroundTruthParams::default()),
        ("tetrode_benchmark", None) => Ok(GroundTruthParams::tetrode_benchmark()),
        ("probe_benchmark", Some(n)) => Ok(GroundTruthParams::probe_benchmark(n)),
        (p, _) => Err(errors::SynthError::new_err(format!(
            "no preset {p:?} with n_units={n_units:?} (default, tetrode_benchmark; \
             probe_benchmark with n_units)"
        ))),
    }
}

/// The parameters of a preset (`default`, `tetrode_benchmark`, or `probe_benchmark` with
/// `n_units`) as JSON.
#[pyfunction]
#[pyo3(signature = (name, n_units=None))]
pub fn synth_ground_truth_params(name: &str, n_units: Option<usize>) -> PyResult<String> {
    serde_json::to_string(&preset(name, n_units)?)
        .map_err(|e| errors::SynthError::new_err(e.to_string()))
}

/// Generates a ground-truth recording: the preset's parameters with the fields of
/// `params_json` replaced.
#[pyfunction]
#[pyo3(signature = (seed, name, n_units=None, params_json="{}"))]
pub fn synth_ground_truth<'py>(
    py: Python<'py>,
    seed: u64,
    name: &str,
    n_units: Option<usize>,
    params_json: &str,
) -> PyResult<GroundTruthOut<'py>> {
    let p = params::overlay_on(&preset(name, n_units)?, params_json)
        .map_err(errors::SynthError::new_err)?;
    let gt = py.detach(|| p.generate(seed)).map_err(errors::synth)?;
    let positions = gt.recording.probe().positions_um();
    let pos = ndarray::Array2::from_shape_fn((positions.len(), 2), |(c, k)| positions[c][k]);
    let ids = gt.sorting.unit_ids().to_vec();
    let (frames, labels): (Vec<i64>, Vec<i64>) = gt
        .sorting
        .spike_vector()
        .iter()
        .map(|&(f, u)| (f, ids[u]))
        .unzip();
    let truth =
        serde_json::to_string(&gt.truth).map_err(|e| errors::SynthError::new_err(e.to_string()))?;
    Ok((
        gt.recording.into_traces().into_pyarray(py),
        pos.into_pyarray(py),
        frames.into_pyarray(py),
        labels.into_pyarray(py),
        truth,
    ))
}
