"""Calcium → spike rates: the Spikefinder-Elephant CNN (Rupprecht & Gerhard 2017) with its
embedded pretrained weights, and CASCADE (Rupprecht et al. 2021) model folders, as
``spikelab calcium deconvolve`` runs them."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from spikelab import _native

__all__ = ["CascadeModel", "Deconvolver", "predict", "predict_with_report"]

Units = Literal["network", "rates_hz"]
Threshold = Literal["clip", "none", "single-spike"]

_H5PY_MISSING = (
    "CASCADE model folders are read with h5py (the wheel links no libhdf5): pip install h5py"
)


def _read_keras_layers(
    path: str | os.PathLike[str],
) -> list[tuple[str, list[tuple[str, npt.NDArray[np.float32]]]]]:
    """The layers of a Keras HDF5 weight file as h5py reads them: ``[(layer name, [(weight
    name, float32 array)])]`` in the file's ``layer_names`` / ``weight_names`` order (root
    attributes of a ``save_weights`` file, or its ``model_weights`` group). Which arrays make
    up the network is decided by the native library."""
    import h5py  # type: ignore[import-untyped,import-not-found,unused-ignore]

    def names(value: Any) -> list[str]:
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in value]

    with h5py.File(path, "r") as f:
        root = f if "layer_names" in f.attrs else f.get("model_weights")
        if root is None or "layer_names" not in root.attrs:
            raise ValueError(
                "no `layer_names` attribute and no `model_weights` group: "
                "not a Keras HDF5 weight file"
            )
        layers = []
        for lname in names(root.attrs["layer_names"]):
            g = root[lname]
            wnames = names(g.attrs["weight_names"]) if "weight_names" in g.attrs else []
            layers.append((lname, [(w, np.asarray(g[w], dtype=np.float32)) for w in wnames]))
    return layers


class CascadeModel:
    """A CASCADE pretrained-model folder (``config.yaml`` and
    ``Model_NoiseLevel_<L>_Ensemble_<k>.h5`` files), loaded once and run on any number of
    recordings. The Keras files are read with h5py (``pip install h5py``); the folder checks,
    the layer mapping, the frame-rate check (within 5 % of the model's rate) and the
    noise-level choice per neuron are the Rust library's. A folder may lack some noise levels
    (as the bundled OGB model); a neuron that needs a missing one is a ``CalciumError``.

    Raises:
        ImportError: h5py is not installed.
        CalciumError: no such folder, no ``config.yaml``, a bad config, a missing ensemble
            member, an unreadable weight file or one of another architecture.

    Example:
        >>> import numpy as np, spikelab
        >>> from pathlib import Path
        >>> # The models bundled in the repository's datasets/ (run from inside the checkout).
        >>> root = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "datasets").is_dir())
        >>> m = spikelab.calcium.CascadeModel(
        ...     root / "datasets/models/cascade/Global_EXC_30Hz_smoothing50ms_causalkernel")
        >>> m.frame_rate_hz, m.noise_levels[:3]
        (30.0, [2.0, 3.0, 4.0])
        >>> dff = np.exp(np.sin(np.arange(900) / 30.0))[:, None] - 1.0
        >>> spikes = m.predict(dff, 30.0)  # expected spikes per frame, [time, neuron]
        >>> spikes.shape, bool(np.isnan(spikes[:32]).all()), bool((spikes[32:-32] >= 0).all())
        ((900, 1), True, True)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            import h5py  # type: ignore[import-untyped,import-not-found,unused-ignore]
        except ImportError as e:
            raise ImportError(_H5PY_MISSING) from e
        self._inner = _native.CascadeModel(Path(path), _read_keras_layers)
        self._deconvolvers: dict[tuple[Units, Threshold, bool], _native.Deconvolver] = {}

    @property
    def dir(self) -> Path:
        """The folder."""
        return Path(self._inner.dir)

    @property
    def name(self) -> str:
        """``config.yaml``'s ``model_name``."""
        return self._inner.name

    @property
    def frame_rate_hz(self) -> float:
        """The frame rate the model was trained for (Hz)."""
        return self._inner.frame_rate_hz

    @property
    def noise_levels(self) -> list[float]:
        """The configured noise levels (% · Hz^-1/2), one ensemble each."""
        return self._inner.noise_levels

    @property
    def levels_present(self) -> list[bool]:
        """Per configured noise level: whether the folder holds its ensemble."""
        return self._inner.levels_present

    def predict_with_report(
        self,
        traces: npt.ArrayLike,
        frame_rate_hz: float,
        *,
        units: Units = "network",
        threshold: Threshold = "clip",
        resample: bool = False,
    ) -> tuple[npt.NDArray[np.float64], dict[str, Any]]:
        """:meth:`predict` and the library's report (noise level per neuron, the ensemble's
        level in ``report["cascade"]["model_noise_level"]``, skipped neurons) as a dict."""
        d = self._deconvolver(units, threshold, resample)
        values, report = d.run(traces, float(frame_rate_hz))
        parsed: dict[str, Any] = json.loads(report)
        return values, parsed

    def predict(
        self,
        traces: npt.ArrayLike,
        frame_rate_hz: float,
        *,
        units: Units = "network",
        threshold: Threshold = "clip",
        resample: bool = False,
    ) -> npt.NDArray[np.float64]:
        """CASCADE's ``predict`` on ``[time, neuron]`` ΔF/F (as a fraction).

        Args:
            traces: ``[time, neuron]``, any numeric dtype, C or Fortran order.
            frame_rate_hz: the recording's rate; more than 5 % from the model's is a
                ``CalciumError`` naming the closest known models, unless ``resample``.
            units: ``"network"`` (expected spikes per input frame) or ``"rates_hz"``.
            threshold: ``"clip"`` (negatives → 0, CASCADE's default), ``"none"`` (raw
                ensemble mean) or ``"single-spike"`` (CASCADE's ``threshold=1``).
            resample: Fourier-resample to the model's rate and bring the result back.

        Returns:
            ``[time, neuron]`` float64, NaN where no complete window exists (the first and
            last 32 frames).
        """
        return self.predict_with_report(
            traces, frame_rate_hz, units=units, threshold=threshold, resample=resample
        )[0]

    def _deconvolver(
        self, units: Units, threshold: Threshold, resample: bool
    ) -> _native.Deconvolver:
        """The native deconvolver of these options, built once."""
        _check_units(units)
        key = (units, threshold, bool(resample))
        d = self._deconvolvers.get(key)
        if d is None:
            d = _native.Deconvolver.cascade(
                self._inner, units == "rates_hz", threshold, bool(resample)
            )
            self._deconvolvers[key] = d
        return d

    def __repr__(self) -> str:
        return repr(self._inner)


class Deconvolver:
    """A deconvolver built once (model loaded, parameters validated) and run on any number
    of recordings: what :func:`predict` uses, cached per parameter set. Arguments as in
    :func:`predict` (``"cascade:DIR"`` loads the folder once; :class:`CascadeModel` has
    CASCADE's own options)."""

    def __init__(
        self, model: str = "model1", *, units: Units = "network", preprocess: bool = False
    ) -> None:
        _check_units(units)
        if model.startswith("cascade:"):
            self._inner = CascadeModel(model.removeprefix("cascade:"))._deconvolver(
                units, "clip", False
            )
        else:
            self._inner = _native.Deconvolver(model, units == "rates_hz", preprocess)

    def predict_with_report(
        self, traces: npt.ArrayLike, frame_rate_hz: float
    ) -> tuple[npt.NDArray[np.float64], dict[str, Any]]:
        """:meth:`predict` and the library's report as a dict."""
        values, report = self._inner.run(traces, float(frame_rate_hz))
        parsed: dict[str, Any] = json.loads(report)
        return values, parsed

    def predict(self, traces: npt.ArrayLike, frame_rate_hz: float) -> npt.NDArray[np.float64]:
        """``[time, neuron]`` traces → ``[time, neuron]`` values (see :func:`predict`)."""
        return self._inner.run(traces, float(frame_rate_hz))[0]

    def __repr__(self) -> str:
        return repr(self._inner)


def _check_units(units: str) -> None:
    if units not in ("network", "rates_hz"):
        raise _native.CalciumError(f"units must be 'network' or 'rates_hz', got {units!r}")


_EMBEDDED = {"elephant", "ensemble"} | {f"model{i}" for i in range(1, 6)}


# The embedded models are built once per process (building is most of a small call's time).
@lru_cache(maxsize=8)
def _deconvolver(model: str, units: Units, preprocess: bool) -> Deconvolver:
    return Deconvolver(model, units=units, preprocess=preprocess)


def predict_with_report(
    traces: npt.ArrayLike,
    frame_rate_hz: float,
    *,
    model: str = "model1",
    units: Units = "network",
    preprocess: bool = False,
) -> tuple[npt.NDArray[np.float64], dict[str, Any]]:
    """:func:`predict`, plus the library's report (model, rates, noise level per neuron,
    skipped neurons) as a dict."""
    if model in _EMBEDDED:
        d = _deconvolver(model, units, preprocess)
    else:  # a weights file or CASCADE folder is read on every call (it may have changed)
        d = Deconvolver(model, units=units, preprocess=preprocess)
    return d.predict_with_report(traces, frame_rate_hz)


def predict(
    traces: npt.ArrayLike,
    frame_rate_hz: float,
    *,
    model: str = "model1",
    units: Units = "network",
    preprocess: bool = False,
) -> npt.NDArray[np.float64]:
    """Deconvolves calcium traces into spike rates.

    Args:
        traces: ``[time, neuron]`` ΔF/F, any numeric dtype (converted to float64; C or
            Fortran order). Trailing NaNs pad shorter neurons; one neuron is
            ``trace[:, None]``.
        frame_rate_hz: the recording's frame rate. Elephant runs at 100 Hz: other rates are
            c2s-preprocessed and resampled to 100 Hz and the result is brought back. A
            CASCADE model refuses a rate more than 5 % from its own (``CalciumError``).
        model: ``"model1"`` … ``"model5"`` (``"elephant"`` = ``"model1"``), ``"ensemble"``
            (mean of the five), a ``.safetensors`` weights file, or ``"cascade:DIR"``: a
            CASCADE model folder, read with h5py on every call (:class:`CascadeModel` loads
            once; it also has CASCADE's threshold and resampling options).
        units: ``"network"`` (Elephant: the network's z-scored output; CASCADE: expected
            spikes per frame) or ``"rates_hz"`` (spike rates in Hz).
        preprocess: also run the c2s preprocessing on 100 Hz input (Elephant only).

    Returns:
        ``[time, neuron]`` float64 at the input's rate and length, NaN where undefined (the
        first and last frames of the network's window).

    Raises:
        DataError: traces not 2-D, infinite values, a frame rate ≤ 0.
        CalciumError: an unknown model, a CASCADE folder that cannot be used, a frame rate
            CASCADE refuses, or a failed run.
        TypeError: a non-numeric dtype.
        ImportError: ``"cascade:DIR"`` without h5py installed.

    Example:
        >>> import numpy as np, spikelab
        >>> t = np.arange(3000) / 100.0
        >>> dff = np.exp(np.sin(t)[:, None])
        >>> spikelab.calcium.predict(dff, 100.0).shape
        (3000, 1)
    """
    if model in _EMBEDDED:
        return _deconvolver(model, units, preprocess).predict(traces, frame_rate_hz)
    return predict_with_report(
        traces, frame_rate_hz, model=model, units=units, preprocess=preprocess
    )[0]
