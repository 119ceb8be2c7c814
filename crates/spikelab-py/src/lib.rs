//! # spikelab-py
//!
//! The native module `spikelab._native` of the `spikelab` Python wheel (built with maturin,
//! `pyproject.toml` beside this crate). Every function here is a thin layer over one library
//! call: NumPy arrays in, the library's typed values built from them (validated there), the
//! call made with the GIL released, NumPy arrays out. The Python package (`python/spikelab`)
//! wraps these functions with keyword arguments, dtype conversion and docstrings.
//!
//! Errors: every library error enum maps to one exception class under
//! `spikelab.SpikelabError`; a `DataError` wrapped in another crate's error is raised as
//! `spikelab.DataError` (the input was bad, whichever method read it).

use pyo3::prelude::*;

mod calcium;
mod convseq;
mod decode;
mod errors;
mod io;
mod lds;
mod neulvm;
mod observe;
mod params;
mod sort;
mod synth;

/// The module `spikelab._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<calcium::PyDeconvolver>()?;
    m.add_class::<calcium::PyCascadeModel>()?;
    m.add_function(wrap_pyfunction!(observe::_input_f64, m)?)?;
    m.add_function(wrap_pyfunction!(convseq::convseq_fit, m)?)?;
    m.add_function(wrap_pyfunction!(convseq::convseq_default_params, m)?)?;
    m.add_class::<convseq::ConvSeqFit>()?;
    m.add_class::<convseq::Detection>()?;
    m.add_function(wrap_pyfunction!(synth::synth_sequences, m)?)?;
    m.add_function(wrap_pyfunction!(synth::synth_poisson, m)?)?;
    m.add_function(wrap_pyfunction!(synth::synth_default_params, m)?)?;
    m.add_function(wrap_pyfunction!(io::io_read, m)?)?;
    m.add_function(wrap_pyfunction!(io::io_bin_trains, m)?)?;
    m.add_function(wrap_pyfunction!(decode::decode_fit_linear, m)?)?;
    m.add_function(wrap_pyfunction!(decode::decode_fit_kalman, m)?)?;
    m.add_function(wrap_pyfunction!(decode::decode_kalman_from_json, m)?)?;
    m.add_function(wrap_pyfunction!(decode::decode_audit, m)?)?;
    m.add_class::<decode::LinearFit>()?;
    m.add_class::<decode::KalmanFit>()?;
    m.add_function(wrap_pyfunction!(lds::lds_posterior, m)?)?;
    m.add_function(wrap_pyfunction!(lds::lds_fit_em, m)?)?;
    m.add_function(wrap_pyfunction!(neulvm::neulvm_preset, m)?)?;
    m.add_function(wrap_pyfunction!(neulvm::neulvm_options, m)?)?;
    m.add_function(wrap_pyfunction!(neulvm::neulvm_fit, m)?)?;
    m.add_function(wrap_pyfunction!(neulvm::neulvm_simulate, m)?)?;
    m.add_function(wrap_pyfunction!(sort::sort_default_params, m)?)?;
    m.add_function(wrap_pyfunction!(sort::sort_run, m)?)?;
    m.add_function(wrap_pyfunction!(sort::sort_compare, m)?)?;
    m.add_class::<sort::SortOutput>()?;
    m.add_function(wrap_pyfunction!(sort::synth_ground_truth_params, m)?)?;
    m.add_function(wrap_pyfunction!(sort::synth_ground_truth, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
