"""The store writer writes exactly what zarr-python writes for the same arrays.

``opsnn_lake.store`` encodes metadata documents and chunks itself (zarr's per-array
machinery cost 5x the compression); here zarr's own API writes the same nodes with the
same codecs as the reference, and every file must agree: metadata as JSON, chunks bytewise.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
import zarr
import zarr.api.asynchronous as azarr
from zarr.codecs import BloscCodec, Crc32cCodec

from opsnn_lake.neo_convert import block_to_nodes
from opsnn_lake.schema import Node, Variable
from opsnn_lake.store import MANIFEST, _blosc_config, _chunks, _packed, write_store

ATTRS = {"schema": "opsnn-lake-run", "schema_version": 2, "run_id": "x", "kind": "input"}


async def _zarr_write(store, nodes):
    root_node = nodes.get("", Node())
    groups = {"": await azarr.create_group(store=store, zarr_format=3, attributes=root_node.attrs)}
    for gpath in sorted(nodes, key=lambda p: (p.count("/"), p)):
        if gpath:
            parent, _, name = gpath.rpartition("/")
            groups[gpath] = await groups[parent].create_group(name, attributes=nodes[gpath].attrs)
    for gpath, node in nodes.items():
        for name, var in node.variables.items():
            await _zarr_array(groups[gpath], name, var, node)
    await groups[""].update_attributes({**root_node.attrs, **ATTRS})
    await azarr.consolidate_metadata(store)


async def _zarr_array(group, name, var, node):
    data, attrs = var.data, dict(var.attrs)
    packed = _packed(var)
    if packed is not None:
        data, packing = packed
        attrs.update(packing)
    blosc = _blosc_config(data.dtype, packed is not None)
    if name not in node.coords and var.dims != (name,) and node.coords:
        attrs["coordinates"] = " ".join(node.coords)
    array = await group.create_array(
        name,
        shape=data.shape,
        dtype=data.dtype,
        chunks=_chunks(data.shape, data.dtype.itemsize),
        dimension_names=var.dims,
        compressors=[
            BloscCodec(cname="zstd", clevel=blosc["clevel"], shuffle=blosc["shuffle"]),
            Crc32cCodec(),
        ],
        attributes=attrs,
        config={"write_empty_chunks": True},
    )
    if data.size:
        await array.setitem(Ellipsis, data)


def _files(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def _assert_same_files(nodes, tmp_path):
    ours, ref = tmp_path / "ours.zarr", tmp_path / "ref.zarr"
    write_store(ours, nodes, ATTRS)
    asyncio.run(_zarr_write(zarr.storage.LocalStore(ref), nodes))
    mine, theirs = _files(ours), _files(ref)
    assert MANIFEST in mine  # beside the hierarchy: zarr-python has no such file
    del mine[MANIFEST]
    assert sorted(mine) == sorted(theirs)
    for key in theirs:
        if key.endswith("zarr.json"):
            assert json.loads(mine[key]) == json.loads(theirs[key]), key
        else:
            assert mine[key] == theirs[key], key


def test_real_nest_store_equals_zarr_python(nest_block_two_segments, tmp_path):
    _assert_same_files(block_to_nodes(nest_block_two_segments), tmp_path)


@pytest.mark.parametrize(
    "data",
    [
        np.arange(10, dtype=np.int8),
        np.array([True, False, True]),
        np.zeros(0),
        np.linspace(-1, 1, 7, dtype=np.float32),
        np.arange(12.0).reshape(3, 4).astype(">f8"),  # big-endian input
        np.random.default_rng(1).normal(size=(3_000_000,)),  # several chunks, a padded last one
        np.random.default_rng(2).normal(size=(40_000, 30)),  # chunked along units
    ],
    ids=["int8", "bool", "empty", "float32", "big-endian", "multi-chunk", "2d-chunked"],
)
def test_dtypes_and_chunk_grids_equal_zarr_python(data, tmp_path):
    dims = ("time", "unit")[: data.ndim]
    nodes = {"": Node(attrs={"a": 1}), "g": Node(variables={"x": Variable(dims=dims, data=data)})}
    _assert_same_files(nodes, tmp_path)


def test_packed_times_equal_zarr_python(tmp_path):
    k = np.sort(np.random.default_rng(3).integers(0, 10_000, 5000)) * 100
    times = k * 0.001
    node = Node(variables={"spike_time": Variable(dims=("spike",), data=times, scale_factor=0.001)})
    _assert_same_files({"": Node(), "s/p": node, "s": Node()}, tmp_path)


def test_packed_times_use_core_codecs_and_the_smallest_dtype(tmp_path):
    """NEST tics (multiples of 100 x 0.001 ms) become uint16 multiples of 0.02 ms."""
    k = np.sort(np.random.default_rng(4).integers(0, 10_000, 2000)) * 100
    times = k * 0.001
    node = Node(variables={"spike_time": Variable(dims=("spike",), data=times, scale_factor=0.001)})
    write_store(tmp_path / "s.zarr", {"": Node(), "p": node}, ATTRS)
    meta = json.loads((tmp_path / "s.zarr/p/spike_time/zarr.json").read_text())
    assert meta["data_type"] == "uint16" and meta["attributes"]["scale_factor"] == 0.02
    assert [c["name"] for c in meta["codecs"]] == ["bytes", "blosc", "crc32c"]
    q = zarr.open_array(tmp_path / "s.zarr/p/spike_time", mode="r")[...]
    assert (q.astype(np.float64) * 0.02).tobytes() == times.tobytes()
