"""spikelab: fast, exact methods for analysing neural recordings, NumPy in and out.

Submodules: :mod:`spikelab.calcium` (calcium → spike rates), :mod:`spikelab.convseq`
(sequence detection), :mod:`spikelab.decode` (ridge, Wiener, reduced-rank and Kalman-filter
decoders, the BrainBits audit), :mod:`spikelab.lds` (Kalman filter, RTS smoother, LDS-EM),
:mod:`spikelab.neulvm` (the neuLVM mesoscopic model: EM fit and simulation),
:mod:`spikelab.sort` (spike sorting, ground-truth comparison, generated recordings),
:mod:`spikelab.synth` (seeded synthetic data with ground truth) and :mod:`spikelab.io` (the
file readers); :mod:`spikelab.batch` runs one of them over many files,
here or on a Dask cluster. Every error spikelab raises for bad input or a failed
computation is a :class:`SpikelabError`; each method has its subclass.

Axis orders: calcium traces are ``[time, neuron]``, rasters ``[neuron, bin]``; decoding and
state-space arrays are time-major (``counts[frame, neuron]``, ``y[time, output]``);
voltage traces are ``[sample, channel]``.
"""

from spikelab._native import (
    CalciumError,
    ConvSeqError,
    DataError,
    DecodeError,
    LdsError,
    NeulvmError,
    SortError,
    SpikelabError,
    SynthError,
    __version__,
)
from spikelab import batch, calcium, convseq, decode, io, lds, neulvm, sort, synth

__all__ = [
    "CalciumError",
    "ConvSeqError",
    "DataError",
    "DecodeError",
    "LdsError",
    "NeulvmError",
    "SortError",
    "SpikelabError",
    "SynthError",
    "__version__",
    "batch",
    "calcium",
    "convseq",
    "decode",
    "io",
    "lds",
    "neulvm",
    "sort",
    "synth",
]
