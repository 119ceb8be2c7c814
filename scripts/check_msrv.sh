#!/usr/bin/env bash
# MSRV check of the workspace's `rust-version`:
# 1. it is not below the rust-version of any dependency in Cargo.lock (the floor they impose);
# 2. std APIs newer than it are caught by clippy's `incompatible_msrv` lint (the clippy step);
# 3. when rustup can install that toolchain, the workspace is checked with it. If it cannot
#    (offline machine), this step says so and does not claim the build was checked.
set -euo pipefail
cd "$(dirname "$0")/.."
msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
cargo metadata --format-version 1 --locked -q | python3 -c '
import json, sys
msrv = tuple(int(x) for x in sys.argv[1].split("."))
need = [(tuple(int(x) for x in p["rust_version"].split(".")[:2]), p["name"])
        for p in json.load(sys.stdin)["packages"] if p.get("rust_version")]
top = max(need)
print(f"rust-version {sys.argv[1]}; highest dependency rust-version {top[0][0]}.{top[0][1]} ({top[1]})")
sys.exit(0 if top[0] <= msrv[:2] else f"rust-version {sys.argv[1]} is below what {top[1]} needs")
' "$msrv"
if rustup toolchain install "$msrv" --profile minimal > /dev/null 2>&1; then
    cargo +"$msrv" check --workspace --all-targets --locked
    echo "workspace checks with Rust $msrv"
else
    echo "NOT CHECKED: rustup cannot install Rust $msrv here; only steps 1-2 above ran"
fi
