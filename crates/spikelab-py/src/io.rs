//! `spikelab.io.read`: `spikelab_data::io::open`, the reader facade (every format this wheel
//! has: no HDF5, so not NWB or CaImAn).

use std::path::PathBuf;

use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spikelab_data::io::{self, Content, Loaded, ReadOptions};

use crate::errors;

fn content(name: Option<&str>) -> PyResult<Option<Content>> {
    Ok(match name {
        None => None,
        Some("traces") => Some(Content::Traces),
        Some("raster") => Some(Content::Raster),
        Some("spike_trains") => Some(Content::SpikeTrains),
        Some("array") => Some(Content::Array),
        Some(other) => {
            return Err(errors::DataError::new_err(format!(
                "content must be traces, raster, spike_trains or array, got {other:?}"
            )));
        }
    })
}

/// Reads `path`; returns a dict whose `kind` says which of the other keys it has.
#[pyfunction]
#[pyo3(signature = (path, content_name=None, frame_rate_hz=None, bin_s=None, variable=None, neurons_first=false, force_frame_rate=false))]
#[allow(clippy::too_many_arguments)]
pub fn io_read<'py>(
    py: Python<'py>,
    path: PathBuf,
    content_name: Option<&str>,
    frame_rate_hz: Option<f64>,
    bin_s: Option<f64>,
    variable: Option<String>,
    neurons_first: bool,
    force_frame_rate: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let options = ReadOptions {
        content: content(content_name)?,
        frame_rate_hz,
        force_frame_rate,
        bin_s,
        variable,
        neurons_first,
        ..ReadOptions::default()
    };
    let loaded = py
        .detach(|| io::open(&path, &options))
        .map_err(errors::data)?;
    let out = PyDict::new(py);
    out.set_item("kind", loaded.kind())?;
    match loaded {
        Loaded::Traces(t) => {
            out.set_item("frame_rate_hz", t.frame_rate_hz())?;
            out.set_item("data", t.data().clone().into_pyarray(py))?;
        }
        Loaded::Raster(r) => {
            out.set_item("bin_s", r.bin_s())?;
            out.set_item("counts", r.into_counts().into_pyarray(py))?;
        }
        Loaded::SpikeTrains(s) => {
            let trains: Vec<_> = (0..s.n_units())
                .map(|i| s.train(i).to_vec().into_pyarray(py))
                .collect();
            out.set_item("trains", trains)?;
            out.set_item("unit_ids", s.unit_ids().to_vec().into_pyarray(py))?;
            out.set_item("t_start_s", s.t_start_s())?;
            out.set_item("t_stop_s", s.t_stop_s())?;
        }
        Loaded::Array(a) => {
            out.set_item("dtype", a.dtype)?;
            out.set_item("data", a.data.into_pyarray(py))?;
        }
    }
    Ok(out)
}

/// Spike times (s) per unit → `[unit, bin]` counts in bins of `bin_s` from `t_start_s`
/// (`spikelab_data::SpikeTrains::sorted_from` then `bin`: ⌈duration / bin_s⌉ bins, a spike
/// at `t_stop_s` in the last bin). Times are sorted here; NaN or times outside the span are a
/// `DataError`.
#[pyfunction]
pub fn io_bin_trains<'py>(
    py: Python<'py>,
    trains: Vec<Vec<f64>>,
    unit_ids: Vec<i64>,
    t_start_s: f64,
    t_stop_s: f64,
    bin_s: f64,
) -> PyResult<Bound<'py, numpy::PyArray2<u32>>> {
    let raster = py
        .detach(|| {
            spikelab_data::SpikeTrains::sorted_from(trains, unit_ids, t_start_s, t_stop_s)?
                .bin(bin_s)
        })
        .map_err(errors::data)?;
    Ok(raster.into_counts().into_pyarray(py))
}
