"""Which calls copy: float64 input of any order is read in place by the bindings, and results
are NumPy arrays over the buffers Rust computed (moved to NumPy, not copied)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import spikelab
from spikelab import _native


def rust_owned(a: np.ndarray) -> bool:
    """`a` is a view of a buffer handed over by Rust (rust-numpy's container is its base)."""
    return not a.flags.owndata and type(a.base).__name__ == "PySliceContainer"


def test_float64_input_is_read_in_place_in_any_order() -> None:
    x = np.arange(24.0).reshape(6, 4)
    for given in (x, np.asfortranarray(x), x[::2, 1:], x.T):
        seen = _native._input_f64(given)
        assert np.shares_memory(seen, given)
        np.testing.assert_array_equal(seen, given)


def test_other_dtypes_are_converted_once() -> None:
    x = np.arange(24).reshape(6, 4)
    for given in (x, x.astype(np.float32), x.astype(">f8")):
        seen = _native._input_f64(given)
        assert seen.dtype == np.float64 and seen.dtype.isnative
        assert not np.shares_memory(seen, given)
        np.testing.assert_array_equal(seen, given)
    np.testing.assert_array_equal(_native._input_f64([[1, 2], [3, 4]]), [[1.0, 2.0], [3.0, 4.0]])


def test_calcium_results_are_rust_buffers() -> None:
    x = np.exp(np.sin(np.arange(600) / 20.0))[:, None] - 1.0
    out = spikelab.calcium.predict(x, 100.0)
    assert rust_owned(out) and out.flags.c_contiguous and out.flags.writeable
    again = spikelab.calcium.predict(x, 100.0)
    assert not np.shares_memory(out, again)


def test_cascade_results_are_the_prediction_buffer(datasets: Path) -> None:
    pytest.importorskip("h5py")
    m = spikelab.calcium.CascadeModel(
        datasets / "models/cascade/Global_EXC_30Hz_smoothing50ms_causalkernel"
    )
    x = np.exp(np.sin(np.arange(300) / 10.0))[:, None].repeat(3, axis=1) - 1.0
    out = m.predict(x, 30.0)
    assert rust_owned(out) and out.flags.c_contiguous and out.shape == (300, 3)
