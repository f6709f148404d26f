"""The lake: add, idempotence, search, open, to_neo on real NEST runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from opsnn_lake import Lake, NotALakeError, RunNotFoundError, SchemaError
from opsnn_lake.testing import assert_blocks_equal


def test_nest_round_trip_is_lossless(lake, nest_block):
    run_id = lake.add(nest_block, model="net", parameters={"g": 1.0}, seed=7, simulator="nest")
    assert_blocks_equal(nest_block, lake.to_neo(run_id))


def test_two_segment_round_trip_is_lossless(lake, nest_block_two_segments):
    run_id = lake.add(nest_block_two_segments)
    back = lake.to_neo(run_id)
    assert len(back.segments) == 2
    assert_blocks_equal(nest_block_two_segments, back)


def test_same_run_twice_gives_one_run(lake, nest_block):
    first = lake.add(nest_block, model="net", parameters={"g": 1.0}, seed=7)
    second = lake.add(nest_block, model="net", parameters={"g": 1.0}, seed=7)
    other = lake.add(nest_block, model="net", parameters={"g": 2.0}, seed=7)
    assert first == second != other
    assert len(lake) == 2
    assert len(list(lake.runs_dir.iterdir())) == 2


def test_search_equality_range_list_and_nested(lake, nest_block):
    ids = {
        g: lake.add(
            nest_block, model="net", parameters={"g_inh": g, "stim": {"rate": g / 10}}, seed=1
        )
        for g in (30.0, 45.0, 51.0, 70.0)
    }
    assert set(lake.search(g_inh=(40, 60)).index) == {ids[45.0], ids[51.0]}
    assert set(lake.search(g_inh=[30.0, 70.0]).index) == {ids[30.0], ids[70.0]}
    assert list(lake.search(stim__rate=5.1).index) == [ids[51.0]]
    assert list(lake.search(**{"stim.rate": (None, 3.0)}).index) == [ids[30.0]]
    with pytest.raises(SchemaError, match="no column or parameter 'g_exc'"):
        lake.search(g_exc=1)


def test_open_is_lazy_and_matches_neo(lake, nest_block):
    run_id = lake.add(nest_block)
    tree = lake.open(run_id)
    exc = tree["segment000/exc"].dataset
    assert exc["spike_time"].chunks is not None  # dask-backed, nothing read yet
    trains = nest_block.segments[0].spiketrains
    n_exc = sum(st.annotations["source_population"] == "exc" for st in trains)
    assert exc.sizes["unit"] == n_exc
    expected = np.concatenate([st.magnitude for st in trains[:n_exc]])
    assert exc["spike_time"].values.tobytes() == expected.tobytes()
    assert isinstance(tree, xr.DataTree)


def test_unknown_run_and_unknown_provenance_key(lake, nest_block):
    with pytest.raises(RunNotFoundError, match="no run 'nope'"):
        lake.to_neo("nope")
    with pytest.raises(SchemaError, match="unknown provenance keys"):
        lake.add(nest_block, modle="typo")


def test_directory_that_is_not_a_lake_is_refused(tmp_path):
    (tmp_path / "data.txt").write_text("precious")
    with pytest.raises(NotALakeError, match="not an OpSNN lake"):
        Lake(tmp_path)
    assert (tmp_path / "data.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.txt"]


def test_nodes_read_back_are_written_again_identically(lake, nest_block, tmp_path):
    from opsnn_lake.store import read_nodes, write_store

    run_id = lake.add(nest_block)
    source = lake.store_path(run_id)
    copy = tmp_path / "copy.zarr"
    nodes = read_nodes(source)
    write_store(copy, nodes, {})
    for name in ("segment000/exc/spike_time", "segment000/exc/v"):
        original = sorted((source / name).rglob("*"))
        again = sorted((copy / name).rglob("*"))
        assert [p.relative_to(source) for p in original] == [p.relative_to(copy) for p in again]
        for a, b in zip(original, again, strict=True):
            if a.name == "zarr.json":  # same metadata; attribute order may differ
                assert json.loads(a.read_text()) == json.loads(b.read_text()), a
            elif a.is_file():
                assert a.read_bytes() == b.read_bytes(), a
