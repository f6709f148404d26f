"""The store layout of DESIGN.md and docs/format.md, read back with xarray and plain zarr.

A real NEST run (conftest ``nest_block``) is stored once per module; the tests open the
store as another program would and check names, dims, dtypes, units, encodings and
values against the neo Block.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import neo
import numpy as np
import pytest
import quantities as pq
import xarray as xr
import zarr

from opsnn_lake import Lake
from opsnn_lake.jsonable import decode

POPULATIONS = ("exc", "inh", "noise", "pulses")


@pytest.fixture(scope="module")
def stored(nest_block, tmp_path_factory) -> tuple[neo.Block, Path]:
    lake = Lake(tmp_path_factory.mktemp("layout") / "lake")
    run_id = lake.add(nest_block, model="layout-test", parameters={"n": 1}, seed=7)
    return nest_block, lake.store_path(run_id)


def _trains(block: neo.Block, label: str) -> list[neo.SpikeTrain]:
    seg = block.segments[0]
    return [st for st in seg.spiketrains if st.annotations["source_population"] == label]


def _signals(block: neo.Block, label: str) -> dict[str, neo.AnalogSignal]:
    seg = block.segments[0]
    return {
        sig.name: sig for sig in seg.analogsignals if sig.annotations["source_population"] == label
    }


def test_root_and_group_attributes_with_plain_zarr(stored):
    block, path = stored
    root = zarr.open_group(path, mode="r")
    assert root.attrs["schema"] == "opsnn-lake-run"
    assert root.attrs["schema_version"] == 2
    assert root.attrs["kind"] == "simulation"
    assert root.attrs["run_id"] == path.name.removesuffix(".zarr")
    assert root.attrs["provenance"]["model"] == "layout-test"
    assert root.attrs["segments"] == ["segment000"]
    assert decode(root.attrs["block"])["name"] == block.name
    seg = root["segment000"]
    assert seg.attrs["populations"] == list(POPULATIONS)
    assert decode(seg.attrs["segment"])["name"] == block.segments[0].name
    for label in POPULATIONS:
        group = seg[label]
        assert group.attrs["label"] == label
        assert group.attrs["label_from_annotation"] is True


def test_ragged_spikes_with_xarray(stored):
    block, path = stored
    tree = xr.open_datatree(path, engine="zarr")
    for label in POPULATIONS:
        ds = tree[f"segment000/{label}"].dataset
        trains = _trains(block, label)
        times, counts = ds["spike_time"], ds["spike_count"]
        assert times.dims == ("spike",) and counts.dims == ("unit",)
        assert times.dtype == np.float64 and times.attrs["units"] == "ms"
        assert counts.dtype == np.int64
        assert counts.attrs["sample_dimension"] == "spike"  # CF contiguous ragged array
        assert counts.values.tolist() == [st.size for st in trains]
        assert ds.sizes["spike"] == sum(st.size for st in trains)
        # Bitwise the neo spike times, in unit order then time order.
        expected = np.concatenate([st.magnitude for st in trains])
        assert times.values.tobytes() == expected.tobytes(), label
        offsets = np.concatenate([[0], np.cumsum(counts.values)])
        for lo, hi in itertools.pairwise(offsets):
            assert (np.diff(times.values[lo:hi]) >= 0).all()
        # Global ids and indices as unit coordinates.
        for coord in ("channel_id", "source_index"):
            assert coord in ds.coords and ds[coord].dims == ("unit",)
            assert ds[coord].values.tolist() == [int(st.annotations[coord]) for st in trains]
        meta = ds.attrs["spiketrains"]
        assert meta["t_start"] == float(trains[0].t_start.rescale("ms").magnitude)
        assert meta["t_stop"] == float(trains[0].t_stop.rescale("ms").magnitude)


def test_spike_time_is_cf_packed_on_the_grid_and_float_off_it(stored):
    """exc cells spike on NEST's 0.1 ms grid; PyNN's Poisson sources on NEST do not."""
    block, path = stored
    root = zarr.open_group(path, mode="r")
    tree = xr.open_datatree(path, engine="zarr")
    on_grid = root["segment000/exc/spike_time"]
    off_grid = root["segment000/noise/spike_time"]
    assert on_grid.dtype == np.uint16 and on_grid.size > 0  # the smallest that holds them
    assert on_grid.attrs["scale_factor"] == 0.02  # 0.001 ms tics, folded in: docs/format.md
    assert off_grid.dtype == np.float64 and "scale_factor" not in off_grid.attrs
    assert off_grid.size > 0
    for label, raw in (("exc", on_grid), ("noise", off_grid)):
        expected = np.concatenate([st.magnitude for st in _trains(block, label)])
        # xarray applies the CF decoding ...
        decoded = tree[f"segment000/{label}"].dataset["spike_time"].values
        assert decoded.dtype == np.float64
        assert decoded.tobytes() == expected.tobytes()
        # ... and so can any reader by hand: k * scale_factor, in float64.
        by_hand = raw[...].astype(np.float64) * raw.attrs.get("scale_factor", 1.0)
        assert by_hand.tobytes() == expected.tobytes()


def test_signals_on_time_and_unit_with_units(stored):
    block, path = stored
    tree = xr.open_datatree(path, engine="zarr")
    exc = tree["segment000/exc"].dataset
    for name, sig in _signals(block, "exc").items():
        var = exc[name]
        assert var.dims == ("time", "unit")  # the same cells as the spikes
        assert var.dtype == sig.dtype
        assert var.values.tobytes() == sig.magnitude.tobytes()
        assert var.attrs["units"] == sig.units.dimensionality.string
        period = float(sig.sampling_period.rescale(sig.t_start.units).magnitude)
        assert var.attrs["sampling_period"] == period
        assert decode(var.attrs["t_start"]) == sig.t_start
        assert decode(var.attrs["sampling_rate"]) == sig.sampling_rate
        np.testing.assert_allclose(exc["time"].values, sig.times.rescale(pq.ms).magnitude)
        assert exc[f"{name}_channel_ids"].values.tolist() == sig.annotations["channel_ids"].tolist()
    # A PopulationView recorded v of 5 of the 20 inhibitory cells: its own unit dim.
    inh = tree["segment000/inh"].dataset
    v = _signals(block, "inh")["v"]
    assert inh["v"].dims == ("time", "unit_v")
    assert inh.sizes["unit_v"] == v.shape[1] == 5
    assert inh.sizes["unit"] == len(_trains(block, "inh"))
    assert inh["v"].values.tobytes() == v.magnitude.tobytes()


def test_no_object_dtypes_and_every_array_compressed(stored):
    _, path = stored
    tree = xr.open_datatree(path, engine="zarr")
    for node in tree.subtree:
        for name, var in node.dataset.variables.items():
            assert var.dtype.kind in "biuf", f"{node.path}/{name} has dtype {var.dtype}"
    n_arrays = 0
    for meta_file in path.rglob("zarr.json"):
        meta = json.loads(meta_file.read_text())
        if meta["node_type"] != "array":
            continue
        n_arrays += 1
        where = meta_file.parent.relative_to(path)
        assert np.dtype(meta["data_type"]).kind in "biuf", where
        codecs = [codec["name"] for codec in meta["codecs"]]
        assert codecs[-2:] == ["blosc", "crc32c"], f"{where}: codecs {codecs}"
        assert meta["dimension_names"], where
    assert n_arrays >= 4 * 4  # four populations, each with spikes and two coordinates
    root = zarr.open_group(path, mode="r")
    for _, array in _all_arrays(root):
        assert array.dtype.kind in "biuf"
        assert array.compressors and type(array.compressors[0]).__name__ == "BloscCodec"


def _all_arrays(group: zarr.Group):
    for name, member in group.members(max_depth=None):
        if isinstance(member, zarr.Array):
            yield name, member


def test_spike_time_uses_core_codecs_only(stored):
    """Schema 2: no filters, scaling only as CF attributes (docs/format.md §1.1, §1.3)."""
    _, path = stored
    for array_path in Path(path).rglob("zarr.json"):
        meta = json.loads(array_path.read_text())
        if meta["node_type"] == "array":
            assert [c["name"] for c in meta["codecs"]] == ["bytes", "blosc", "crc32c"]


def test_layout_finds_a_stores_lake_and_peeks_without_raising(stored, tmp_path):
    from opsnn_lake.storage.layout import LocalLayout, ObjectLayout, peek_node_document
    from opsnn_lake.storage.objects import parse_url

    _, store = stored
    lake = LocalLayout(store.parent.parent)
    assert lake.marker.is_file() and LocalLayout.lake_of(store) == lake.path
    attempt = parse_url("s3://bucket/some/lake/data/va-1/" + "0" * 32)
    assert ObjectLayout.lake_of(attempt).key == "some/lake"
    root = peek_node_document(store)
    assert root["zarr_format"] == 3 and "provenance" in root["attributes"]
    assert peek_node_document(tmp_path) is None  # no zarr.json: None, never an error
    (tmp_path / "zarr.json").write_text("{not json")
    assert peek_node_document(tmp_path) is None
