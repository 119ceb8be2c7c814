#!/usr/bin/env bash
# Creates <repo>/.venv with pynwb for the NWB interop tests
# (crates/spikelab-data/tests/nwb_pynwb.rs), nwbinspector for the DANDI checks of every NWB
# file spikelab writes (tests/nwb_inspector.rs, tests/cli_nwb.rs) and pykalman for the spikelab-lds fixture re-run. Idempotent: when .venv already imports pynwb
# it returns at once. Needs python3 with the venv module (Debian: python3-venv) and access
# to PyPI (about 15 s the first time).
#
#   bash scripts/setup_python.sh            # uses python3 on PATH
#   PYTHON=/usr/bin/python3.11 bash scripts/setup_python.sh
#
# The tests look for $SPIKELAB_PYTHON first, then <repo>/.venv/bin/python.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
python="${PYTHON:-python3}"
# Versions the interop layout was verified with (docs/formats.md); raise deliberately.
pynwb_spec="${PYNWB_SPEC:-pynwb>=3,<5}"

# pykalman for the spikelab-lds fixture re-run test (crates/spikelab-lds/tests/rerun_fixtures.rs).
pykalman_spec="${PYKALMAN_SPEC:-pykalman==0.11.2}"
# nwbinspector with DANDI's configuration (its checks change between minor versions).
nwbinspector_spec="${NWBINSPECTOR_SPEC:-nwbinspector==0.7.2}"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import pynwb, pykalman, nwbinspector" >/dev/null 2>&1; then
    echo "setup_python: $venv already has pynwb $("$venv/bin/python" -c 'import pynwb; print(pynwb.__version__)'), nwbinspector and pykalman"
    exit 0
fi

if ! "$venv/bin/python" -c "" >/dev/null 2>&1; then
    # Missing, or left behind by an interpreter that no longer exists: (re)create it.
    echo "setup_python: creating $venv with $("$python" --version 2>&1)"
    "$python" -m venv --clear "$venv"
fi
if ! "$venv/bin/python" -c "import pynwb" >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$pynwb_spec"
fi
if ! "$venv/bin/python" -c "import nwbinspector" >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$nwbinspector_spec"
fi
if ! "$venv/bin/python" -c "import pykalman" >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$pykalman_spec"
fi
echo "setup_python: $venv has pynwb $("$venv/bin/python" -c 'import pynwb; print(pynwb.__version__)') and pykalman $("$venv/bin/python" -c 'import pykalman; print(pykalman.__version__)')"
