#!/usr/bin/env bash
# The test command (README, CI): the Python venv for the NWB interop tests, then every test
# of the workspace (unit, integration, doctests) in release mode (the numeric golden tests run
# the real networks and fits on bundled data; debug builds of candle are ~30× slower).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_python.sh
export SPIKELAB_PYTHON="$PWD/.venv/bin/python"
# spikelab-neulvm/candle: the autograd cross-check of the hand-written gradient (a test that
# needs the feature; named here so it is never skipped).
# Every NWB file spikelab writes in the tests is copied to target/nwb-collected and checked
# with nwbinspector's DANDI configuration afterwards (scripts/nwb_check_collected.sh).
export SPIKELAB_NWB_COLLECT="$PWD/target/nwb-collected"
rm -rf "$SPIKELAB_NWB_COLLECT"
cargo test --workspace --release --features spikelab-neulvm/candle "$@"
if [ $# -eq 0 ]; then
    bash scripts/nwb_check_collected.sh "$SPIKELAB_NWB_COLLECT"
else
    echo "test.sh: arguments given ($*), so the NWB files of a partial run are not inspected"
fi
