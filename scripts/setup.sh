#!/usr/bin/env bash
# Installs what spikelab needs on a fresh Debian 12 machine (idempotent):
# system libraries (HDF5 for NWB, fontconfig/freetype for plots) and, if missing, a Rust
# toolchain via rustup. Run as root or with sudo available.
set -euo pipefail
pkgs=(libhdf5-dev pkg-config zlib1g-dev libfontconfig1-dev libfreetype-dev fonts-dejavu-core python3-venv ca-certificates curl)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "[setup] apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "[setup] installing Rust with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi
cargo --version
