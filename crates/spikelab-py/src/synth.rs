//! `spikelab.synth`: the recipes of `spikelab synth` (`spikelab_synth::recipes`), seeded, with
//! their ground truth.

use numpy::{IntoPyArray, PyArray1, PyArray2};
use pyo3::prelude::*;
use spikelab_synth::recipes::{PoissonRecipe, SequencesRecipe};

use crate::errors;
use crate::params;

/// The library's defaults of recipe `name` (`sequences`, `poisson`) as JSON.
#[pyfunction]
pub fn synth_default_params(name: &str) -> PyResult<String> {
    match name {
        "sequences" => Ok(params::defaults_json::<SequencesRecipe>()),
        "poisson" => Ok(params::defaults_json::<PoissonRecipe>()),
        other => Err(errors::SynthError::new_err(format!(
            "no recipe {other:?} (sequences, poisson)"
        ))),
    }
}

fn recipe<T: serde::Serialize + serde::de::DeserializeOwned + Default>(
    params_json: &str,
) -> PyResult<T> {
    params::overlay(params_json).map_err(errors::SynthError::new_err)
}

fn to_json<T: serde::Serialize>(truth: &T) -> PyResult<String> {
    serde_json::to_string(truth).map_err(|e| errors::SynthError::new_err(e.to_string()))
}

/// Spike sequences in a background: the `[neuron, bin]` counts, bin width and truth (JSON).
#[pyfunction]
pub fn synth_sequences<'py>(
    py: Python<'py>,
    seed: u64,
    params_json: &str,
) -> PyResult<(Bound<'py, PyArray2<u32>>, f64, String)> {
    let r: SequencesRecipe = recipe(params_json)?;
    let (raster, truth) = py.detach(|| r.generate(seed)).map_err(errors::synth)?;
    let dense = raster.to_dense().map_err(errors::data)?;
    let bin_s = dense.bin_s();
    Ok((
        dense.into_counts().into_pyarray(py),
        bin_s,
        to_json(&truth)?,
    ))
}

/// Spike times per neuron, start and stop (s), truth (JSON).
type PoissonOut<'py> = (Vec<Bound<'py, PyArray1<f64>>>, f64, f64, String);

/// Poisson/gamma spike trains: one array of spike times (s) per neuron, the duration and the
/// truth (JSON).
#[pyfunction]
pub fn synth_poisson<'py>(
    py: Python<'py>,
    seed: u64,
    params_json: &str,
) -> PyResult<PoissonOut<'py>> {
    let r: PoissonRecipe = recipe(params_json)?;
    let (trains, truth) = py.detach(|| r.generate(seed)).map_err(errors::synth)?;
    let out = (0..trains.n_units())
        .map(|i| trains.train(i).to_vec().into_pyarray(py))
        .collect();
    Ok((out, trains.t_start_s(), trains.t_stop_s(), to_json(&truth)?))
}
