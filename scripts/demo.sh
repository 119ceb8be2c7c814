#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is needed, build, and run
# `spikelab demo` on the bundled data. Extra arguments go to `spikelab demo`
# (e.g. --quick, --out DIR, --force).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --bin spikelab
exec ./target/release/spikelab demo "$@"
