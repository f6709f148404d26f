"""Write and read one run store (a zarr v3 hierarchy); all zarr-specific code lives here.

Writing goes to a fresh directory that nobody reads yet; :func:`publish` then makes it
visible with one ``rename``, so a store is seen complete or not at all, whatever
happens to the writing process.

Encoding (see ``docs/format.md``): every array is Blosc/zstd-compressed with bit
shuffling and ends in a CRC-32C; spike times on a simulator's time grid are stored as
int64 multiples of a CF ``scale_factor`` with a delta filter (about 1.3 bytes a spike
instead of 8), verified bitwise before writing; the time coordinate of signals likewise.

The writer follows the zarr v3 spec directly: it writes each metadata document and
encodes each chunk with the codecs zarr-python itself runs. Going through zarr-python's
per-array machinery cost five times the compression itself, on the path every
simulation run pays; ``tests/test_store_writer.py`` checks that the files equal those
zarr-python writes for the same arrays. Reading goes through zarr and xarray.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterator, Mapping
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
_BLOSC = {"cname": "zstd", "clevel": 1, "shuffle": "bitshuffle", "blocksize": 0}


# zarr warns that numcodecs' filters and consolidated metadata are not in the v3 core
# spec; both are deliberate and documented in docs/format.md, so the warnings are noise.
warnings.filterwarnings("ignore", message=".*not part in the Zarr format 3.*")
warnings.filterwarnings("ignore", message=".*Numcodecs codecs are not in the Zarr.*")


@contextlib.contextmanager
def quiet_zarr() -> Iterator[None]:
    """The filters above, again, for one read: a library imported later (elephant's
    ``spade`` calls ``warnings.simplefilter("once", UserWarning)``) puts its own
    filters in front of them, and users would see zarr's notes again."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not part in the Zarr format 3.*")
        warnings.filterwarnings("ignore", message=".*Numcodecs codecs are not in the Zarr.*")
        yield


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


def _int_filters(k: np.ndarray) -> list[tuple[Any, dict[str, Any]]]:
    """Filters for packed integers, as (numcodecs codec, zarr metadata) pairs.

    Divide by the integers' common divisor, then delta-encode. NEST's spike times are
    tics (0.001 ms) that are multiples of 100 (one 0.1 ms step); storing ``k / 100``
    before the delta saves a third of the bytes. numcodecs decodes the division as
    ``q / 0.01`` rounded to nearest, exact for integers below 2**52; checked anyway.
    """
    from numcodecs import Delta, FixedScaleOffset

    filters: list[tuple[Any, dict[str, Any]]] = []
    divisor = int(np.gcd.reduce(k)) if k.size else 0
    if divisor > 1:
        config = {"offset": 0, "scale": 1.0 / divisor, "dtype": "<i8", "astype": "<i8"}
        codec = FixedScaleOffset(**config)
        if np.array_equal(codec.decode(codec.encode(k)), k):
            filters.append((codec, {"name": "numcodecs.fixedscaleoffset", "configuration": config}))
    delta = {"name": "numcodecs.delta", "configuration": {"dtype": "<i8"}}
    filters.append((Delta(dtype="<i8"), delta))
    return filters


def _encode_array(
    var: Variable, coordinates: str | None
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The zarr v3 metadata document and encoded chunk files of one variable.

    The codecs are those zarr-python itself runs (numcodecs Blosc, google_crc32c);
    ``tests/test_store_writer.py`` checks the files equal zarr-python's.
    """
    import google_crc32c
    from numcodecs import Blosc

    data, attrs, filters = var.data, dict(var.attrs), []
    packed = _packed(var)
    if packed is not None:
        data, packing = packed
        attrs.update(packing)
        filters = _int_filters(data)
    if data.dtype.kind not in "biuf":
        raise SchemaError(f"variable on dims {var.dims}: dtype {data.dtype} cannot be stored")
    if coordinates:
        attrs["coordinates"] = coordinates  # CF: tells xarray what is a coordinate
    dtype = data.dtype.newbyteorder("<") if data.dtype.itemsize > 1 else data.dtype
    chunks = _chunks(data.shape, dtype.itemsize)
    serializer: dict[str, Any] = {"name": "bytes"}
    if dtype.itemsize > 1:
        serializer["configuration"] = {"endian": "little"}
    blosc = {"typesize": dtype.itemsize, **_BLOSC}
    # crc32c (a core v3 codec) makes a truncated or damaged chunk an error instead of
    # wrong numbers: blosc stores incompressible chunks raw, with no check of its own.
    codecs = [
        *(meta for _, meta in filters),
        serializer,
        {"name": "blosc", "configuration": blosc},
        {"name": "crc32c"},
    ]
    metadata = {
        "shape": list(data.shape),
        "data_type": dtype.name,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": False if dtype.kind == "b" else (0.0 if dtype.kind == "f" else 0),
        "codecs": codecs,
        "attributes": attrs,
        "dimension_names": list(var.dims),
        "zarr_format": 3,
        "node_type": "array",
        "storage_transformers": [],
    }
    compressor = Blosc.from_config({**blosc, "shuffle": Blosc.BITSHUFFLE})
    files = {}
    grid = [-(-size // chunk) for size, chunk in zip(data.shape, chunks, strict=True)]
    # Every chunk is written, even one equal to the fill value, so a missing chunk file
    # is damage rather than "all zeros".
    for index in itertools.product(*(range(n) for n in grid)):
        block = data[tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, chunks, strict=True))]
        if block.shape != chunks:  # edge chunks are padded with the fill value, as zarr does
            full = np.zeros(chunks, dtype=dtype)
            full[tuple(slice(0, n) for n in block.shape)] = block
            block = full
        encoded = np.ascontiguousarray(block, dtype=dtype)
        for codec, _ in filters:
            encoded = codec.encode(encoded)
        raw = np.frombuffer(encoded.astype(encoded.dtype.newbyteorder("<"), copy=False), np.uint8)
        chunk = compressor.encode(raw)
        crc = np.uint32(google_crc32c.value(chunk)).astype("<u4").tobytes()
        files["c/" + "/".join(map(str, index))] = bytes(chunk) + crc
    return metadata, files


def _encode_store(
    nodes: Mapping[str, Node], attrs: Mapping[str, Any] | Callable[[], Mapping[str, Any]]
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Every file of a store (consolidated metadata in the root document), and its attrs."""
    files: dict[str, bytes] = {}
    consolidated: dict[str, Any] = {}
    for gpath in sorted(nodes, key=lambda p: (p.count("/"), p)):
        node = nodes[gpath]
        if gpath:
            group = {"attributes": node.attrs, "zarr_format": 3, "node_type": "group"}
            files[f"{gpath}/zarr.json"] = _json(group)
            consolidated[gpath] = {**group, "consolidated_metadata": _inline({})}
        coordinates = " ".join(node.coords) or None
        for name, var in node.variables.items():
            is_data_var = name not in node.coords and var.dims != (name,)
            metadata, chunks = _encode_array(var, coordinates if is_data_var else None)
            path = f"{gpath}/{name}" if gpath else name
            consolidated[path] = metadata
            files[f"{path}/zarr.json"] = _json(metadata)
            files.update({f"{path}/{key}": chunk for key, chunk in chunks.items()})
    final = dict(attrs() if callable(attrs) else attrs)  # after encoding: may record timings
    root_attrs = {**nodes.get("", Node()).attrs, **final}
    root = {
        "attributes": root_attrs,
        "zarr_format": 3,
        "consolidated_metadata": _inline(consolidated),
        "node_type": "group",
    }
    files["zarr.json"] = _json(root)
    return files, final


def _inline(metadata: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "inline", "must_understand": False, "metadata": metadata}


def _json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, allow_nan=True, indent=2).encode()  # as zarr-python writes


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
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path}: store directory exists already; refusing to overwrite")
    files, final = _encode_store(nodes, attrs)
    for key, content in files.items():
        target = path / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return final


def warm_up() -> None:
    """Pay the one-off cost of the first write (imports, codec set-up) now.

    A simulation run calls this before ``sim.run`` so that the cost never lands on
    the write of its results.
    """
    node = Node(variables={"x": Variable(dims=("x",), data=np.arange(4.0), scale_factor=1.0)})
    _encode_store({"": node}, {})


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
    """Read a whole store into memory as nodes (see :func:`_read_nodes`), quietly."""
    with quiet_zarr():
        return _read_nodes(path)


def _read_nodes(path: str | os.PathLike[str]) -> dict[str, Node]:
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
    with quiet_zarr():
        return xr.open_datatree(
            path, engine="zarr", chunks={} if chunks is None else chunks, consolidated=True
        )
