#!/usr/bin/env bash
# The Python package (crates/spikelab-py, issue #21): builds the abi3 wheel with maturin
# for manylinux2014 (glibc 2.17: maturin links with zig from PyPI's `ziglang`, no Docker),
# checks its symbols with auditwheel and that no libhdf5 is linked into it, installs it into
# a fresh venv (import smoke test) and into the tool venv, then runs the pytest suite and
# `mypy --strict` on the package and a usage file. Everything it writes is under target/.
# SPIKELAB_WHEEL_NATIVE=1 builds for this machine's glibc instead (no zig).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1
start=$(date +%s)
tools=target/py-venv
[ -x "$tools/bin/python" ] || python3 -m venv "$tools"
"$tools/bin/pip" install -q --disable-pip-version-check maturin numpy pytest mypy tqdm pandas \
    "dask[distributed]" ziglang auditwheel h5py

out=target/wheels-py
rm -rf "$out"
if [ "${SPIKELAB_WHEEL_NATIVE:-0}" = 1 ]; then
    "$tools/bin/maturin" build --release -m crates/spikelab-py/Cargo.toml --out "$out"
else
    # maturin finds `python -m ziglang` of the tool venv on PATH.
    PATH="$PWD/$tools/bin:$PATH" "$tools/bin/maturin" build --release --zig \
        --compatibility manylinux2014 -m crates/spikelab-py/Cargo.toml --out "$out"
fi
wheel=$(ls "$out"/spikelab-*.whl)
echo "wheel: $wheel ($(stat -c %s "$wheel") bytes)"
if [ "${SPIKELAB_WHEEL_NATIVE:-0}" != 1 ]; then
    # auditwheel reads the glibc symbol versions the native module needs.
    "$tools/bin/auditwheel" show "$wheel" | tee target/wheel-audit.txt
    grep -q '"manylinux_2_17_' target/wheel-audit.txt || {
        echo "the wheel needs a newer glibc than manylinux2014's 2.17"; exit 1; }
fi

# A fresh venv: pip install of the wheel alone (numpy from the index) and an import.
fresh=target/py-venv-fresh
rm -rf "$fresh"
python3 -m venv "$fresh"
"$fresh/bin/pip" install -q --disable-pip-version-check "$wheel"
so=$("$fresh/bin/python" -c 'import spikelab, spikelab._native as m; print(m.__file__)')
if ldd "$so" | grep -i hdf5; then
    echo "libhdf5 is linked into the wheel's native module"; exit 1
fi
echo "fresh venv: spikelab imports; $(basename "$so") links no libhdf5"

"$tools/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
# From the crate folder: `import spikelab` is the installed wheel, not python/spikelab; the
# docstring examples of the installed package run too (--doctest-modules --pyargs).
(cd crates/spikelab-py && "../../$tools/bin/python" -m pytest -p no:cacheprovider -q --doctest-modules --pyargs spikelab tests "$@")
MYPYPATH=crates/spikelab-py/python "$tools/bin/mypy" --strict --cache-dir target/mypy-cache \
    crates/spikelab-py/python/spikelab crates/spikelab-py/tests/typing_usage.py
echo "python_package.sh: $(( $(date +%s) - start )) s"
