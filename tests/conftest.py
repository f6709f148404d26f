"""Shared fixtures: temporary lakes and real NEST runs (simulated once per session)."""

from __future__ import annotations

import os

import neo
import pytest

os.environ.setdefault("PYNEST_QUIET", "1")  # NEST prints a banner to stdout otherwise

from opsnn_lake import Lake
from opsnn_lake.testing import nest_network_block


@pytest.fixture
def lake(tmp_path) -> Lake:
    """An empty lake in a temporary directory."""
    return Lake(tmp_path / "lake")


@pytest.fixture(scope="session")
def nest_block() -> neo.Block:
    """A real NEST run: 4 populations (one recorded through a PopulationView), 1 segment."""
    return nest_network_block(segments=1)


@pytest.fixture(scope="session")
def nest_block_two_segments() -> neo.Block:
    """A real NEST run with ``sim.reset()`` between two segments."""
    return nest_network_block(segments=2, seed=11)
