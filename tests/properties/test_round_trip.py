"""Round-trip properties through a real lake: lake.add → lake.to_neo equals the Block given.

The Blocks come from :func:`opsnn_lake.testing.blocks`: empty trains, zero and one unit,
several (hostile, interleaved) populations, NaN in signals, sampling rates from 1e-9 Hz
to 1 GHz, float32 values, spike times on and off a grid, typed and tagged annotations,
array_annotations, segments named None, twice or with hostile names.
"""

from __future__ import annotations

import gc
import itertools

import neo
import numpy as np
import pytest
import quantities as pq
import xarray as xr
from hypothesis import HealthCheck, given, settings

from opsnn_lake import Lake
from opsnn_lake.neo_convert import LazySpikeTrains
from opsnn_lake.testing import assert_blocks_equal, blocks

# Each example writes and reads a real store (~30 ms): modest counts keep the suite fast.
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    # Generation-speed checks only: Blocks are big examples by nature.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
)
_example = itertools.count()


@pytest.fixture(scope="module")
def shared_lake(tmp_path_factory) -> Lake:
    """One lake for all examples (module-scoped: hypothesis reruns the test body)."""
    return Lake(tmp_path_factory.mktemp("properties") / "lake")


def _add(lake: Lake, block: neo.Block) -> str:
    # A distinct parameter per example: the content-derived id of a Block added without a
    # model does not cover variable attributes (see the report on lake.content_sha256),
    # so two examples differing only there would share one run.
    return lake.add(block, model="hypothesis", parameters={"example": next(_example)})


@PROPERTY
@given(block=blocks())
def test_lake_round_trip_is_lossless(shared_lake, block):
    run_id = _add(shared_lake, block)
    assert_blocks_equal(block, shared_lake.to_neo(run_id))
    # xarray reads every group too: names and dims never clash, no object dtypes.
    tree = xr.open_datatree(shared_lake.store_path(run_id), engine="zarr")
    for node in tree.subtree:
        for name, var in node.dataset.variables.items():
            assert var.dtype.kind in "biuf", f"{node.path}/{name}: {var.dtype}"


@PROPERTY
@given(block=blocks(max_signals=0))
def test_to_neo_is_lazy_and_multiplexed_matches_neo(shared_lake, block):
    back = shared_lake.to_neo(_add(shared_lake, block))
    for original, seg in zip(block.segments, back.segments, strict=True):
        trains = seg.spiketrains
        assert len(trains) == len(original.spiketrains)
        if not len(trains):
            continue
        assert isinstance(trains, LazySpikeTrains) and not trains.is_materialised
        ids, times = trains.multiplexed
        want_ids, want_times = original.spiketrains.multiplexed
        assert ids.dtype == want_ids.dtype and np.array_equal(ids, want_ids)
        assert times.dimensionality.string == want_times.dimensionality.string
        assert times.dtype == want_times.dtype
        assert times.magnitude.tobytes() == want_times.magnitude.tobytes()
    assert_blocks_equal(block, back)


def _many_units(n: int, rng: np.random.Generator) -> tuple[neo.Block, np.ndarray, np.ndarray]:
    """One population of ``n`` cells, 0-2 spikes each on a 0.1 ms grid, as PyNN annotates.

    Returns the Block and the (unit index, time) of every spike, in unit order.
    """
    counts = rng.integers(0, 3, size=n)
    ticks = np.sort(rng.integers(0, 10_000, size=(n, 2)), axis=1)
    times = np.concatenate([ticks[i, : counts[i]] for i in range(n)]) * 0.1
    units = np.repeat(np.arange(n), counts)
    # The trains are slices of one SpikeTrain, as neo derives trains itself: building
    # 10^5 through the constructor would take most of the suite's time budget.
    whole = neo.SpikeTrain(times, units=pq.ms, t_start=0.0 * pq.ms, t_stop=1000.0 * pq.ms)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    trains = []
    gc.disable()  # 10^5 objects: the collector's full passes would triple the time
    try:
        for i in range(n):
            st = whole[bounds[i] : bounds[i + 1]]
            st.annotations = {
                "source_population": "cells",
                "channel_id": np.int64(i + 1),
                "source_index": np.int64(i),
            }
            trains.append(st)
    finally:
        gc.enable()
    block = neo.Block(name="big")
    seg = neo.Segment(name="run")
    seg.spiketrains.extend(trains)
    block.segments.append(seg)
    seg.block = block
    return block, units, times


def test_hundred_thousand_units_lazy_then_lossless(lake):
    block, want_units, want_times = _many_units(100_000, np.random.default_rng(5))
    back = lake.to_neo(lake.add(block))
    trains = back.segments[0].spiketrains
    assert isinstance(trains, LazySpikeTrains)
    assert trains._items is None  # no SpikeTrain built by to_neo
    assert len(trains) == 100_000
    ids, times = trains.multiplexed
    assert trains._items is None  # len() and multiplexed answer from the arrays
    assert np.array_equal(ids, want_units)
    assert times.dimensionality.string == "ms"
    assert times.magnitude.tobytes() == want_times.tobytes()
    assert trains[99_999].annotations["channel_id"] == np.int64(100_000)  # builds them all
    assert trains._items is not None
    assert_blocks_equal(block, back)
