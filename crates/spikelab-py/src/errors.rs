//! The exception hierarchy: `SpikelabError` and one subclass per library error enum.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    spikelab,
    SpikelabError,
    PyException,
    "Base class of every error spikelab raises for bad input or a failed computation."
);
create_exception!(
    spikelab,
    DataError,
    SpikelabError,
    "Bad data or a file that cannot be read (spikelab-data's `DataError`)."
);
create_exception!(
    spikelab,
    CalciumError,
    SpikelabError,
    "Calcium deconvolution failed (spikelab-calcium's `CalciumError`)."
);
create_exception!(
    spikelab,
    ConvSeqError,
    SpikelabError,
    "convSeq failed (spikelab-convseq's `ConvSeqError`)."
);
create_exception!(
    spikelab,
    SynthError,
    SpikelabError,
    "A synthetic-data generator failed (spikelab-synth's `SynthError`)."
);
create_exception!(
    spikelab,
    DecodeError,
    SpikelabError,
    "A decoder or the BrainBits audit failed (spikelab-decode's `DecodeError`)."
);
create_exception!(
    spikelab,
    SortError,
    SpikelabError,
    "Spike sorting or its ground-truth comparison failed (spikelab-sort's `SortError`)."
);
create_exception!(
    spikelab,
    NeulvmError,
    SpikelabError,
    "A neuLVM fit or simulation failed (spikelab-neulvm's `NeulvmError`)."
);
create_exception!(
    spikelab,
    LdsError,
    SpikelabError,
    "A linear dynamical system computation failed (spikelab-lds's `LdsError`)."
);

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SpikelabError", py.get_type::<SpikelabError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("CalciumError", py.get_type::<CalciumError>())?;
    m.add("ConvSeqError", py.get_type::<ConvSeqError>())?;
    m.add("SynthError", py.get_type::<SynthError>())?;
    m.add("DecodeError", py.get_type::<DecodeError>())?;
    m.add("LdsError", py.get_type::<LdsError>())?;
    m.add("SortError", py.get_type::<SortError>())?;
    m.add("NeulvmError", py.get_type::<NeulvmError>())?;
    Ok(())
}

/// `spikelab.DataError`.
pub fn data(e: spikelab_data::DataError) -> PyErr {
    DataError::new_err(e.to_string())
}

/// `spikelab.CalciumError`, or `DataError` for the data errors it wraps.
pub fn calcium(e: spikelab_calcium::CalciumError) -> PyErr {
    match e {
        spikelab_calcium::CalciumError::Data(d) => data(d),
        e => CalciumError::new_err(e.to_string()),
    }
}

/// `spikelab.ConvSeqError`, or `DataError` for the data errors it wraps.
pub fn convseq(e: spikelab_convseq::ConvSeqError) -> PyErr {
    match e {
        spikelab_convseq::ConvSeqError::Data(d) => data(d),
        e => ConvSeqError::new_err(e.to_string()),
    }
}

/// `spikelab.SynthError`, or `DataError` for the data errors it wraps.
pub fn synth(e: spikelab_synth::SynthError) -> PyErr {
    match e {
        spikelab_synth::SynthError::Data(d) => data(d),
        e => SynthError::new_err(e.to_string()),
    }
}

/// `spikelab.DecodeError`, or `DataError` for the data errors it wraps (the Kalman decoder's
/// `LdsError`s are decoder failures: `DecodeError`).
pub fn decode(e: spikelab_decode::DecodeError) -> PyErr {
    match e {
        spikelab_decode::DecodeError::Data(d) => data(d),
        e => DecodeError::new_err(e.to_string()),
    }
}

/// `spikelab.LdsError`, or `DataError` for the data errors it wraps.
pub fn lds(e: spikelab_lds::LdsError) -> PyErr {
    match e {
        spikelab_lds::LdsError::Data(d) => data(d),
        e => LdsError::new_err(e.to_string()),
    }
}

/// `spikelab.SortError`, or `DataError` for the data errors it wraps.
pub fn sort(e: spikelab_sort::SortError) -> PyErr {
    match e {
        spikelab_sort::SortError::Data(d) => data(d),
        e => SortError::new_err(e.to_string()),
    }
}

/// `spikelab.NeulvmError`, or `DataError` for the data errors it wraps.
pub fn neulvm(e: spikelab_neulvm::NeulvmError) -> PyErr {
    match e {
        spikelab_neulvm::NeulvmError::Data(d) => data(d),
        e => NeulvmError::new_err(e.to_string()),
    }
}
