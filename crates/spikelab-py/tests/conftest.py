"""Shared fixtures: the repository's bundled datasets, found relative to this file."""

from __future__ import annotations

from pathlib import Path

import pytest

# crates/spikelab-py/tests → the repository root.
REPO = Path(__file__).resolve().parents[3]
DATASETS = REPO / "datasets"


@pytest.fixture(scope="session")
def datasets() -> Path:
    assert (DATASETS / "README.md").is_file(), f"bundled datasets not found at {DATASETS}"
    return DATASETS
