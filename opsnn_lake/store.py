"""Write and read one run store (a zarr v3 hierarchy); all zarr-specific code lives here.

Writing goes to a fresh directory that nobody reads yet; :func:`publish` then makes it
visible with one ``rename``, so a store is seen complete or not at all, whatever
happens to the writing process.

Encoding (see ``docs/format.md``): every array is Blosc/zstd-compressed with bit
shuffling; spike times on a simulator's time grid are stored as int64 multiples of a
CF ``scale_factor`` with a delta filter (about 1.3 bytes a spike instead of 8),
verified bitwise before writing; the time coordinate of signals likewise.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from opsnn_lake.errors import SchemaError
from opsnn_lake.schema import Node, Variable, check_root_attrs

__all__ = [
    "open_tree",
    "publish",
    "read_nodes",
    "read_root_attrs",
    "store_bytes",
    "warm_up",
    "write_store",
]

CHUNK_BYTES = 8 * 2**20  # one chunk per run for typical runs; several for long recordings
_PACKING_ATTRS = ("scale_factor", "add_offset")


# zarr warns that numcodecs' filters and consolidated metadata are not in the v3 core
# spec; both are deliberate and documented in docs/format.md, so the warnings are noise.
warnings.filterwarnings("ignore", message=".*not part in the Zarr format 3.*")
warnings.filterwarnings("ignore", message=".*Numcodecs codecs are not in the Zarr.*")


def _zarr() -> Any:
    import zarr  # imported on first use: `import opsnn_lake` stays light

    return zarr


def _chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    per_chunk = max(1, CHUNK_BYTES // itemsize)
    if len(shape) == 1:
        return (max(1, min(shape[0], per_chunk)),)
    n_time, n_unit = shape
    if n_time * n_unit <= per_chunk:
        return (max(1, n_time), max(1, n_unit))
    units = max(1, per_chunk // max(1, n_time))
    return (max(1, min(n_time, per_chunk)), min(n_unit, units))


def _packed(var: Variable) -> tuple[np.ndarray, dict[str, float]] | None:
    """Integers ``k`` with ``k * scale + offset`` bitwise equal to the data, if they exist."""
    if var.scale_factor is None or var.data.dtype != np.float64 or var.data.size == 0:
        return None
    scale, offset = var.scale_factor, var.add_offset
    k = np.rint((var.data - offset) / scale)
    if not np.isfinite(k).all() or np.abs(k).max() >= 2**52:
        return None
    k = k.astype(np.int64)
    decoded = k * scale
    if offset:
        decoded = decoded + offset
    if not np.array_equal(decoded.view(np.int64), var.data.view(np.int64)):
        return None
    attrs = {"scale_factor": scale}
    if offset:
        attrs["add_offset"] = offset
    return k, attrs


def _int_filters(k: np.ndarray) -> list[Any]:
    """Filters for packed integers: divide by their common divisor, then delta-encode.

    NEST's spike times are tics (0.001 ms) that are multiples of 100 (one 0.1 ms step);
    storing ``k / 100`` before the delta saves a third of the bytes. numcodecs decodes
    the division as ``round-to-nearest(q / 0.01)``, exact for integers below 2**52;
    the round trip is checked here anyway.
    """
    from numcodecs import FixedScaleOffset as NumcodecsFSO
    from zarr.codecs.numcodecs import Delta, FixedScaleOffset

    filters: list[Any] = [Delta(dtype="<i8")]
    divisor = int(np.gcd.reduce(k)) if k.size else 0
    if divisor > 1:
        config = {"offset": 0, "scale": 1.0 / divisor, "dtype": "<i8", "astype": "<i8"}
        codec = NumcodecsFSO(**config)
        if np.array_equal(codec.decode(codec.encode(k)), k):
            filters.insert(0, FixedScaleOffset(**config))
    return filters


def write_store(
    path: str | os.PathLike[str],
    nodes: Mapping[str, Node],
    attrs: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
) -> dict[str, Any]:
    """Write a complete store into ``path``, a directory that must not exist yet.

    Parameters
    ----------
    path : path-like
        Target directory (normally inside the lake's staging area).
    nodes : Mapping[str, Node]
        Groups keyed by path (``""`` is the root).
    attrs : Mapping or callable
        Root attributes (schema, run id, kind, provenance), merged over ``nodes[""]``;
        a callable is called once the arrays are encoded (so it can record timings).

    Returns
    -------
    dict
        The root attributes written.
    """
    zarr = _zarr()
    from zarr.core.sync import sync

    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path}: store directory exists already; refusing to overwrite")
    # Build the hierarchy in memory as one coroutine, then write its files in one pass:
    # a synchronous zarr call per array costs a round trip to zarr's event-loop thread
    # and a thread hop per file, which together took half the write of a typical run.
    files: dict[str, Any] = {}
    root_attrs = sync(_write_async(zarr.storage.MemoryStore(store_dict=files), nodes, attrs))
    for key, buffer in files.items():
        target = path / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(buffer.to_bytes())
    return root_attrs


async def _write_async(
    store: Any,
    nodes: Mapping[str, Node],
    attrs: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
) -> dict[str, Any]:
    import asyncio

    import zarr.api.asynchronous as azarr

    root_node = nodes.get("", Node())
    groups = {"": await azarr.create_group(store=store, zarr_format=3, attributes=root_node.attrs)}
    for gpath in sorted(nodes, key=lambda p: (p.count("/"), p)):
        if gpath:
            parent, _, name = gpath.rpartition("/")
            groups[gpath] = await groups[parent].create_group(name, attributes=nodes[gpath].attrs)
    await asyncio.gather(
        *(
            _write_array(groups[gpath], name, var, node)
            for gpath, node in nodes.items()
            for name, var in node.variables.items()
        )
    )
    final = dict(attrs() if callable(attrs) else attrs)
    await groups[""].update_attributes({**root_node.attrs, **final})
    await azarr.consolidate_metadata(store)
    return final


async def _write_array(group: Any, name: str, var: Variable, node: Node) -> None:
    from zarr.codecs import BloscCodec, Crc32cCodec

    data, var_attrs, filters = var.data, dict(var.attrs), None
    packed = _packed(var)
    if packed is not None:
        data, packing = packed
        var_attrs.update(packing)
        filters = _int_filters(data)
    is_data_var = name not in node.coords and var.dims != (name,)
    if is_data_var and node.coords:
        var_attrs["coordinates"] = " ".join(node.coords)  # CF: tells xarray what is a coordinate
    array = await group.create_array(
        name,
        shape=data.shape,
        dtype=data.dtype,
        chunks=_chunks(data.shape, data.dtype.itemsize),
        dimension_names=var.dims,
        filters=filters,
        # crc32c (a core v3 codec) makes a truncated or damaged chunk an error instead of
        # wrong numbers: blosc stores incompressible chunks raw, with no check of its own.
        compressors=[BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle"), Crc32cCodec()],
        attributes=var_attrs,
        # Every chunk is written, so a missing chunk file is damage, not "all zeros".
        config={"write_empty_chunks": True},
    )
    if data.size:
        await array.setitem(Ellipsis, data)


def warm_up() -> None:
    """Pay zarr's one-off set-up (imports, event loop, codecs) now, e.g. before ``sim.run``.

    The first store a process writes costs ~0.2 s more than the next; a simulation run
    calls this before simulating so that cost never lands on the write.
    """
    from zarr.core.sync import sync

    node = Node(variables={"x": Variable(dims=("x",), data=np.arange(4.0), scale_factor=1.0)})
    sync(_write_async(_zarr().storage.MemoryStore(store_dict={}), {"": node}, {}))


def publish(staged: str | os.PathLike[str], final: str | os.PathLike[str]) -> bool:
    """Make a staged store visible at ``final`` in one atomic rename.

    Returns
    -------
    bool
        True if published; False if ``final`` existed already (same content-derived
        run id: the staged copy is removed and the existing store is kept untouched).
    """
    try:
        os.rename(staged, final)
    except OSError:
        if not Path(final).exists():
            raise
        shutil.rmtree(staged, ignore_errors=True)
        return False
    return True


def store_bytes(path: str | os.PathLike[str]) -> int:
    """Total size of the files of a store, in bytes."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def _open_group(path: str | os.PathLike[str]) -> Any:
    zarr = _zarr()
    if not (Path(path) / "zarr.json").is_file():
        raise SchemaError(f"{path}: not a zarr v3 store (no zarr.json)")
    try:
        return zarr.open_group(zarr.storage.LocalStore(path, read_only=True), mode="r")
    except Exception as err:  # zarr raises several types for bad metadata
        raise SchemaError(f"{path}: cannot open the store: {err}") from err


def read_root_attrs(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Root attributes of a store, checked against the contract."""
    attrs = dict(_open_group(path).attrs)
    check_root_attrs(attrs, where=str(path))
    return attrs


def read_nodes(path: str | os.PathLike[str]) -> dict[str, Node]:
    """Read a whole store into memory as nodes (packed arrays decoded exactly).

    Raises
    ------
    SchemaError
        If the store is not ours, is from a newer schema, or an array cannot be read
        (truncated or corrupt chunk); the message names the store and the array.
    """
    root = _open_group(path)
    check_root_attrs(dict(root.attrs), where=str(path))
    nodes: dict[str, Node] = {"": Node(attrs=dict(root.attrs))}
    members = sorted(root.members(max_depth=None), key=lambda m: m[0].count("/"))
    for name, member in members:
        if hasattr(member, "shape"):
            gpath, _, vname = name.rpartition("/")
            nodes[gpath].variables[vname] = _read_array(member, where=f"{path}/{name}")
        else:
            nodes[name] = Node(attrs=dict(member.attrs))
    for node in nodes.values():  # CF: data variables name their coordinates
        listed = (
            c for v in node.variables.values() for c in v.attrs.get("coordinates", "").split()
        )
        node.coords = [c for c in dict.fromkeys(listed) if c in node.variables]
    return nodes


def _read_array(array: Any, *, where: str) -> Variable:
    try:
        data = array[...]
        missing = array.nchunks - array.nchunks_initialized
    except Exception as err:  # a damaged chunk surfaces as a codec error of any type
        raise SchemaError(f"{where}: cannot read the array (corrupt or truncated): {err}") from err
    if missing:
        raise SchemaError(f"{where}: {missing} of {array.nchunks} chunk files are missing")
    attrs = dict(array.attrs)
    scale = attrs.pop("scale_factor", None)
    offset = attrs.pop("add_offset", None)
    if scale is not None:  # the CF decoding xarray applies, in the same order
        data = data.astype(np.float64) * scale
        if offset is not None:
            data += offset
    dims = tuple(array.metadata.dimension_names or ())
    # Keep the packing so that writing these nodes again packs them the same way.
    return Variable(
        dims=dims, data=np.asarray(data), attrs=attrs, scale_factor=scale, add_offset=offset or 0.0
    )


def open_tree(path: str | os.PathLike[str], *, chunks: Any = None) -> Any:
    """Open a store lazily as an :class:`xarray.DataTree` (dask arrays, nothing read yet).

    Parameters
    ----------
    path : path-like
        The store directory.
    chunks : dict or None
        dask chunks; the default ``None`` means the store's own chunks.
    """
    import xarray as xr

    read_root_attrs(path)  # refuse foreign or newer stores with our message, not xarray's
    return xr.open_datatree(
        path, engine="zarr", chunks={} if chunks is None else chunks, consolidated=True
    )
