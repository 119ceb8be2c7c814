#!/usr/bin/env bash
# Builds and runs examples/outside-user the way a user's own project is built: a copy in a
# temporary folder (no datasets/ above it, SPIKELAB_DATASETS unset) whose path dependencies
# point at this checkout's crates, with the workspace's Cargo.lock (same dependency versions)
# and target folder (shared build artefacts). The inputs are files the user names.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$repo/examples/outside-user" "$tmp/"
proj="$tmp/outside-user"
rm -rf "$proj/target" "$proj/Cargo.lock"
sed -i "s|path = \"../../crates/|path = \"$repo/crates/|" "$proj/Cargo.toml"
if grep -q '\.\./' "$proj/Cargo.toml"; then
    echo "outside-user: a relative path is left in Cargo.toml"; exit 1
fi
cp "$repo/Cargo.lock" "$proj/Cargo.lock"
unset SPIKELAB_DATASETS
export CARGO_TARGET_DIR="$repo/target"
cd "$proj"
cargo run -q --release -- \
    "$repo/datasets/spikefinder/test/4.test.calcium.csv.gz" \
    "$repo/datasets/readers/nwb/units_pynwb.nwb" \
    "$repo/datasets/readers/kilosort"
