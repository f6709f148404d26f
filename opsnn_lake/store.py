"""Write and read one run store (a zarr v3 hierarchy); all zarr-specific code lives here.

Writing goes to a fresh directory that nobody reads yet; :func:`publish` then makes it
visible with one ``rename``, so a store is seen complete or not at all, whatever
happens to the writing process.

Encoding (schema version 2, see ``docs/format.md``): only zarr v3 core codecs. Every
array is Blosc/zstd-compressed and ends in a CRC-32C; spike times on a simulator's time
grid are stored as the smallest integers whose product with a CF ``scale_factor`` gives
them back bitwise (about 1.45 bytes a spike instead of 8), checked before writing; the
time coordinate of signals likewise. A manifest beside the hierarchy records the SHA-256
of every metadata document.

Reading (:class:`VerifiedStore`): every read of this package goes through a zarr store
that raises :class:`~opsnn_lake.errors.CorruptStoreError` for a missing chunk, a failed
checksum or metadata changed since writing, naming run, array and chunk.

The writer follows the zarr v3 spec directly: it writes each metadata document and
encodes each chunk with the codecs zarr-python itself runs. Going through zarr-python's
per-array machinery cost five times the compression itself, on the path every
simulation run pays; ``tests/test_store_writer.py`` checks that the files equal those
zarr-python writes for the same arrays. Reading goes through zarr and xarray.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.storage import LocalStore, ObjectStore

from opsnn_lake import _versions
from opsnn_lake.errors import CorruptStoreError, SchemaError
from opsnn_lake.schema import Node, Variable, check_root_attrs
from opsnn_lake.storage import objects as _objects
from opsnn_lake.storage.layout import committed_manifest
from opsnn_lake.storage.objects import ObjectLocation
from opsnn_lake.storage.verify import (
    CHUNK_KEY as _CHUNK_KEY,
)
from opsnn_lake.storage.verify import (
    MANIFEST,
    Verifying,
    arrays_without_crc,
    parse_manifest,
)
from opsnn_lake.storage.verify import (
    check_chunk as _check_chunk,
)
from opsnn_lake.storage.verify import (
    check_document as _check_document,
)
from opsnn_lake.storage.verify import (
    corrupt as _corrupt,
)
from opsnn_lake.storage.verify import (
    entry_digests as _entry_digests,
)

__all__ = [
    "MANIFEST",
    "Location",
    "StoreWritten",
    "VerifiedObjectStore",
    "VerifiedStore",
    "array_attrs",
    "check_store",
    "has_group",
    "open_dataset",
    "open_tree",
    "publish",
    "read_arrays",
    "read_manifest",
    "read_metadata",
    "read_nodes",
    "read_root_attrs",
    "store_bytes",
    "verified_store",
    "warm_up",
    "write_store",
    "write_store_info",
]

CHUNK_BYTES = 8 * 2**20  # one chunk per run for typical runs; several for long recordings
MANIFEST_FORMAT = "opsnn-lake-manifest"


@contextlib.contextmanager
def quiet_zarr() -> Iterator[None]:
    """Silence zarr's notes on schema-1 codecs and consolidated metadata for one read.

    Scoped rather than process-wide: a library imported later (elephant's ``spade``
    calls ``warnings.simplefilter("once", UserWarning)``) puts its own filters in front
    of process-wide ones, and users would see zarr's notes again.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not part in the Zarr format 3.*")
        warnings.filterwarnings("ignore", message=".*Numcodecs codecs are not in the Zarr.*")
        yield


def _chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    per_chunk = max(1, CHUNK_BYTES // itemsize)
    if len(shape) == 1:
        return (max(1, min(shape[0], per_chunk)),)
    n_time, n_unit = shape
    if n_time * n_unit <= per_chunk:
        return (max(1, n_time), max(1, n_unit))
    units = max(1, per_chunk // max(1, n_time))
    return (max(1, min(n_time, per_chunk)), min(n_unit, units))


def _int_dtype(low: int, high: int) -> np.dtype:
    """The smallest little-endian integer dtype holding ``[low, high]``."""
    kinds = ("u1", "u2", "u4", "u8") if low >= 0 else ("i1", "i2", "i4", "i8")
    for kind in kinds:
        info = np.iinfo(kind)
        if info.min <= low and high <= info.max:
            return np.dtype(kind).newbyteorder("<")
    return np.dtype("<i8")  # unreachable: |k| < 2**52


def _cf_decode(packed: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """CF decoding as docs/format.md states it: float64 product, then the offset if any."""
    decoded = packed.astype(np.float64) * scale
    if offset:
        decoded = decoded + offset
    return decoded


def _divisors(n: int, tries: int = 16) -> list[int]:
    """Divisors of ``n`` greater than 1, largest first (at most ``tries`` of them)."""
    found = {n // m for m in range(1, min(n, 1000) + 1) if n % m == 0}
    return sorted((d for d in found if d > 1), reverse=True)[:tries]


def _packed(var: Variable) -> tuple[np.ndarray, dict[str, float]] | None:
    """Smallest integers ``q`` with ``q * scale_factor + add_offset`` bitwise equal to the data.

    Schema 2 keeps all scaling in CF attributes (no codec): the integers ``k`` on the
    variable's grid are divided by the largest divisor ``d`` of their common divisor
    for which ``(k / d) * (scale_factor * d)`` still decodes bitwise, then narrowed to
    the smallest integer dtype that holds them. NEST's spike times are 0.001 ms tics,
    multiples of 100; ``q * 0.1`` misses 17 % of them by an ulp, ``q * 0.02`` none, so
    a 1 s run stores ``uint16`` multiples of 0.02 ms (1.8 bytes a spike, measured).
    """
    if var.scale_factor is None or var.data.dtype != np.float64 or var.data.size == 0:
        return None
    scale, offset = var.scale_factor, var.add_offset
    k = np.rint((var.data - offset) / scale)
    if not np.isfinite(k).all() or np.abs(k).max() >= 2**52:
        return None
    k = k.astype(np.int64)
    bits = var.data.view(np.int64)
    if not np.array_equal(_cf_decode(k, scale, offset).view(np.int64), bits):
        return None
    for divisor in _divisors(int(np.gcd.reduce(k))):
        q, coarse = k // divisor, scale * divisor
        if np.array_equal(_cf_decode(q, coarse, offset).view(np.int64), bits):
            k, scale = q, coarse
            break
    k = k.astype(_int_dtype(int(k.min()), int(k.max())))
    attrs = {"scale_factor": scale}
    if offset:
        attrs["add_offset"] = offset
    return k, attrs


def _blosc_config(dtype: np.dtype, packed: bool) -> dict[str, Any]:
    """Blosc settings by kind of data (measured on the VA benchmark run, 93,000 spikes).

    Packed spike times (``uint16`` multiples of 0.02 ms) compress best with byte
    shuffling at zstd level 5 (1.8 bytes a spike; bit shuffling 1.9); float signals
    with byte shuffling; counts and ids, small integers in wide dtypes, with bit
    shuffling.
    """
    if packed:
        return {"typesize": dtype.itemsize, "cname": "zstd", "clevel": 5, "shuffle": "shuffle"}
    shuffle = "shuffle" if dtype.kind == "f" else "bitshuffle"
    return {"typesize": dtype.itemsize, "cname": "zstd", "clevel": 1, "shuffle": shuffle}


def _encode_array(
    var: Variable, coordinates: str | None
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The zarr v3 metadata document and encoded chunk files of one variable.

    Only zarr v3 core codecs: ``bytes``, ``blosc``, ``crc32c``. The codecs are those
    zarr-python itself runs (numcodecs Blosc, google_crc32c);
    ``tests/test_store_writer.py`` checks the files equal zarr-python's.
    """
    import google_crc32c
    from numcodecs import Blosc

    data, attrs = var.data, dict(var.attrs)
    packed = _packed(var)
    if packed is not None:
        data, packing = packed
        attrs.update(packing)
    if data.dtype.kind not in "biuf":
        raise SchemaError(f"variable on dims {var.dims}: dtype {data.dtype} cannot be stored")
    if coordinates:
        attrs["coordinates"] = coordinates  # CF: tells xarray what is a coordinate
    dtype = data.dtype.newbyteorder("<") if data.dtype.itemsize > 1 else data.dtype
    chunks = _chunks(data.shape, dtype.itemsize)
    serializer: dict[str, Any] = {"name": "bytes"}
    if dtype.itemsize > 1:
        serializer["configuration"] = {"endian": "little"}
    blosc = {**_blosc_config(dtype, packed is not None), "blocksize": 0}
    # crc32c (a core v3 codec) makes a truncated or damaged chunk an error instead of
    # wrong numbers: blosc stores incompressible chunks raw, with no check of its own.
    codecs = [serializer, {"name": "blosc", "configuration": blosc}, {"name": "crc32c"}]
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
    shuffle = Blosc.SHUFFLE if blosc["shuffle"] == "shuffle" else Blosc.BITSHUFFLE
    compressor = Blosc.from_config({**blosc, "shuffle": shuffle})
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
        raw = np.frombuffer(np.ascontiguousarray(block, dtype=dtype), np.uint8)
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
    files[MANIFEST] = _manifest(files)
    return files, final


def _manifest(files: Mapping[str, bytes]) -> bytes:
    """The store's manifest: the SHA-256 of every metadata document as written.

    Readers compare each ``zarr.json`` with it, so an edited shape or ``scale_factor``
    is an error instead of silently different numbers (docs/format.md, "Verification").
    The digest of each node's entry in the consolidated metadata is kept too, so that
    an edit of the root document is reported with the array it changed.
    """
    digests = {
        key: hashlib.sha256(content).hexdigest()
        for key, content in sorted(files.items())
        if key.rpartition("/")[2] == "zarr.json"
    }
    root = json.loads(files["zarr.json"])
    document = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "algorithm": "sha256",
        "metadata": digests,
        "consolidated": _entry_digests(root),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _inline(metadata: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "inline", "must_understand": False, "metadata": metadata}


def _json(document: Mapping[str, Any]) -> bytes:
    # Compact: the metadata of a small run weighs as much as its spikes otherwise (zarr
    # itself indents; readers parse JSON, so the layout is free).
    return json.dumps(document, allow_nan=True, separators=(",", ":")).encode()


#: Where a store lives: a local folder (path-like), or a prefix in a bucket.
Location = str | os.PathLike[str] | ObjectLocation


def _root(path: Location) -> Path | ObjectLocation:
    """A store location as a Path or an ObjectLocation (``s3://`` text is parsed)."""
    if isinstance(path, ObjectLocation):
        return path
    if isinstance(path, str) and _objects.is_url(path):
        return _objects.parse_url(path)
    return Path(path)


def _read_bytes(root: Path | ObjectLocation, key: str) -> bytes | None:
    """The bytes of one file of a store, or None if it has none (other errors raise)."""
    if isinstance(root, ObjectLocation):
        return _objects.get(root, key)
    try:
        return (root / key).read_bytes()
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class StoreWritten:
    """What :func:`write_store_info` wrote: root attributes, bytes, manifest digest."""

    attrs: dict[str, Any]
    nbytes: int
    manifest_sha256: str


def write_store(
    path: Location,
    nodes: Mapping[str, Node],
    attrs: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
) -> dict[str, Any]:
    """Write a complete store into ``path``, a directory that must not exist yet.

    Parameters
    ----------
    path : path-like or ObjectLocation
        Target directory (normally inside the lake's staging area), or a fresh prefix
        in a bucket (a write attempt of an object lake; its objects are put
        concurrently).
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
    return write_store_info(path, nodes, attrs).attrs


def write_store_info(
    path: Location,
    nodes: Mapping[str, Node],
    attrs: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
) -> StoreWritten:
    """:func:`write_store`, returning also the bytes written and the manifest's SHA-256."""
    root = _root(path)
    if isinstance(root, Path) and root.exists():
        raise FileExistsError(f"{root}: store directory exists already; refusing to overwrite")
    files, final = _encode_store(nodes, attrs)
    if isinstance(root, ObjectLocation):
        _objects.put_many(root, files)
    else:
        _write_files(root, files)
    return StoreWritten(
        attrs=final,
        nbytes=sum(len(content) for content in files.values()),
        manifest_sha256=hashlib.sha256(files[MANIFEST]).hexdigest(),
    )


def _write_files(root: Path, files: Mapping[str, bytes]) -> None:
    for key, content in files.items():
        target = root / key
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        except OSError as err:  # a failed write() names no file: name it
            if err.filename is None:
                err.filename = str(target)
            raise


def warm_up() -> None:
    """Pay the one-off cost of the first write (imports, codec set-up) now.

    A simulation run calls this before ``sim.run`` so that the cost never lands on
    the write of its results.
    """
    node = Node(variables={"x": Variable(dims=("x",), data=np.arange(4.0), scale_factor=1.0)})
    _encode_store({"": node}, {})


def publish(staged: str | os.PathLike[str], final: str | os.PathLike[str]) -> bool:
    """Make a staged store visible at ``final`` in one atomic rename (local lakes).

    Object lakes have no rename: they commit a run with one conditional create of its
    commit record (:mod:`opsnn_lake.storage.layout`).

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


def store_bytes(path: Location) -> int:
    """Total size of the files (objects) of a store, in bytes."""
    root = _root(path)
    if isinstance(root, ObjectLocation):
        return sum(info.size for info in _objects.list_objects(root).values())
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


# --------------------------------------------------------------------------- verified reads


def read_manifest(path: Location) -> dict[str, str] | None:
    """The SHA-256 of each metadata document recorded when the store was written.

    Returns
    -------
    dict or None
        ``{"<node>/zarr.json": hex digest}``; None for stores of schema version 1,
        which have no manifest.

    Raises
    ------
    CorruptStoreError
        If the manifest exists but is unreadable, or a schema-2 store has none.
    """
    root = _root(path)
    try:
        if isinstance(root, ObjectLocation):
            content, committed = committed_manifest(root)
        else:
            content, committed = _read_bytes(root, MANIFEST), None
    except OSError as err:
        raise _corrupt(root, "/", f"its manifest ({MANIFEST}) is unreadable: {err}") from None
    if committed and content is not None and hashlib.sha256(content).hexdigest() != committed:
        raise _corrupt(
            root,
            "/",
            f"its manifest ({MANIFEST}) is not the one the run was committed with (its "
            "SHA-256 differs from the commit record's)",
        )
    document = None
    if content is None:
        try:
            document = _read_bytes(root, "zarr.json")
        except OSError:
            document = None
    return parse_manifest(root, content, document)


def _linked(root: str, key: str, safe_dirs: set[str]) -> bool:
    """True if ``root/key`` is, or is reached through, a symbolic link inside the store.

    One ``lstat`` per file read: folders found to be no link are remembered in
    ``safe_dirs``.
    """
    parts = key.split("/")
    path = root
    for part in parts[:-1]:
        path = f"{path}/{part}"
        if path not in safe_dirs:
            if os.path.islink(path):
                return True
            safe_dirs.add(path)
    return os.path.islink(f"{path}/{parts[-1]}")


def _links(root: Path) -> list[str]:
    """Keys of the symbolic links inside a store (never followed)."""
    found: list[str] = []
    folders = [root]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_symlink():
                    found.append(os.path.relpath(entry.path, root).replace(os.sep, "/"))
                elif entry.is_dir(follow_symlinks=False):
                    folders.append(Path(entry.path))
    return sorted(found)


def _root_document(root: Path | ObjectLocation) -> bytes | None:
    try:
        return _read_bytes(root, "zarr.json")
    except OSError:
        return None


class VerifiedStore(Verifying, LocalStore):
    """A read-only local zarr store that verifies what it hands to zarr.

    A chunk file that is missing or fails its CRC-32C, and a ``zarr.json`` that differs
    from the store's manifest, raise :class:`~opsnn_lake.errors.CorruptStoreError` naming
    the run, the array and the chunk, when zarr asks for them: lazy reads stay lazy and
    are checked when (and only when) their data is read (see
    :class:`~opsnn_lake.storage.verify.Verifying`).

    Parameters
    ----------
    root : path-like
        The store directory.
    manifest : dict or None
        Metadata digests (:func:`read_manifest`); None skips the metadata check
        (schema-1 stores have no manifest).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        read_only: bool = True,
        manifest: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(Path(root), read_only=True)  # never writes, whatever is asked
        self.where = Path(root)
        self.manifest = dict(manifest) if manifest is not None else None
        self._safe_dirs: set[str] = set()  # folders of the store known to be no link
        # Schema-1 stores written before every chunk carried a CRC-32C (and was written
        # even when equal to the fill value): their arrays are read as zarr reads them.
        self.unchecked = (
            arrays_without_crc(_root_document(self.where)) if manifest is None else frozenset()
        )

    def with_read_only(self, read_only: bool = True) -> VerifiedStore:
        return type(self)(self.root, manifest=self.manifest)

    def reached_through_link(self, key: str) -> bool:
        """True if ``key`` is, or is reached through, a symbolic link."""
        return _linked(str(self.root), key, self._safe_dirs)


class VerifiedObjectStore(Verifying, ObjectStore):  # type: ignore[type-arg]
    """:class:`VerifiedStore` for a store in a bucket (zarr's obstore-backed store).

    dask tasks read chunks straight from the bucket, each verified; it pickles as its
    location, so worker processes open their own client.
    """

    def __init__(
        self,
        location: ObjectLocation,
        *,
        manifest: Mapping[str, str] | None = None,
        unchecked: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(location.store(), read_only=True)
        self.where = location
        self.manifest = dict(manifest) if manifest is not None else None
        self.unchecked = unchecked

    def with_read_only(self, read_only: bool = True) -> VerifiedObjectStore:
        assert isinstance(self.where, ObjectLocation)
        return type(self)(self.where, manifest=self.manifest, unchecked=self.unchecked)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_object_store, (self.where, self.manifest, self.unchecked))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifiedObjectStore) and other.where == self.where

    def __hash__(self) -> int:
        return hash(self.where)


def _object_store(
    location: ObjectLocation, manifest: Mapping[str, str] | None, unchecked: frozenset[str]
) -> VerifiedObjectStore:
    return VerifiedObjectStore(location, manifest=manifest, unchecked=unchecked)


# Off only to measure what verification costs (benchmarks/analyse.py); never in use.
_VERIFY = True


def _set_verification(enabled: bool) -> None:
    """Benchmarks only: read with plain zarr stores (no manifest, no chunk checks)."""
    global _VERIFY
    _VERIFY = bool(enabled)


def verified_store(path: Location) -> Any:
    """A verifying zarr store on a run store (the only way this package reads stores).

    A :class:`VerifiedStore` for a local folder, a :class:`VerifiedObjectStore` for a
    prefix in a bucket.

    Raises
    ------
    SchemaError
        If ``path`` is not a zarr v3 store.
    CorruptStoreError
        If its manifest is unreadable, or missing from a schema-2 store.
    """
    if _VERIFY:  # the verifying stores rely on zarr routing every read through get()
        _versions.require_verified("zarr", "verified reads (opsnn_lake.store.VerifiedStore)")
    root = _root(path)
    if isinstance(root, ObjectLocation):
        manifest = read_manifest(root) if _VERIFY else None
        document = None if manifest is not None else _root_document(root)
        if manifest is None and document is None:
            raise SchemaError(f"{root}: not a zarr v3 store (no zarr.json)")
        if not _VERIFY:
            return ObjectStore(root.store(), read_only=True)
        return VerifiedObjectStore(root, manifest=manifest, unchecked=arrays_without_crc(document))
    if not (root / "zarr.json").is_file():
        raise SchemaError(f"{root}: not a zarr v3 store (no zarr.json)")
    if root.is_symlink():
        raise SchemaError(
            f"{root}: a symbolic link; the lake never follows links. Replace the link by "
            "the store itself"
        )
    if not _VERIFY:
        return LocalStore(root, read_only=True)
    return VerifiedStore(root, manifest=read_manifest(root))


def read_metadata(path: Location) -> dict[str, Any]:
    """The store's root metadata document (with the consolidated metadata), verified.

    Reads one file: enough to plan reads of every array without opening them.
    """
    root = _root(path)
    try:
        content = _read_bytes(root, "zarr.json")
    except OSError as err:
        raise _corrupt(root, "/", f"zarr.json is unreadable: {err}") from None
    if content is None:
        raise SchemaError(f"{root}: not a zarr v3 store (no zarr.json)")
    if _VERIFY:
        _check_document(root, "zarr.json", content, read_manifest(root))
    try:
        document = json.loads(content)
    except ValueError as err:
        raise SchemaError(f"{root}/zarr.json: not JSON: {err}") from None
    if not isinstance(document, dict):
        raise SchemaError(f"{root}/zarr.json: not a zarr metadata document")
    return document


@contextlib.contextmanager
def _quiet_v1(store: Any) -> Iterator[None]:
    """Silence zarr's warning about numcodecs filters, for schema-1 stores only.

    Schema-1 stores carry numcodecs filters (docs/format.md §11); zarr's warning that they
    are not v3 core codecs is expected there. Scoped, not process-wide, and only entered
    for stores without a manifest (schema 1): ``catch_warnings`` is not thread-safe, and
    schema-2 stores, which have nothing to silence, are opened from threads too.
    """
    if getattr(store, "manifest", None) is not None:
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not part in the Zarr format 3.*")
        warnings.filterwarnings("ignore", message=".*Numcodecs codecs are not in the Zarr.*")
        yield


def _open_group(path: Location) -> Any:
    store = verified_store(path)
    try:
        with _quiet_v1(store):
            return zarr.open_group(store, mode="r")
    except CorruptStoreError:
        raise
    except Exception as err:  # zarr raises several types for bad metadata
        raise SchemaError(f"{path}: cannot open the store: {err}") from err


def read_root_attrs(path: Location) -> dict[str, Any]:
    """Root attributes of a store, verified and checked against the contract."""
    attrs = read_metadata(path).get("attributes")
    if not isinstance(attrs, dict):
        raise SchemaError(f"{path}/zarr.json: no attributes")
    check_root_attrs(attrs, where=str(path))
    return attrs


def read_nodes(path: Location) -> dict[str, Node]:
    """Read a whole store into memory as nodes (see :func:`_read_nodes`), quietly."""
    with quiet_zarr():
        return _read_nodes(path)


def _read_nodes(path: Location) -> dict[str, Node]:
    """Read a whole store into memory as nodes (packed arrays decoded exactly).

    Raises
    ------
    SchemaError
        If the store is not ours or is from a newer schema.
    CorruptStoreError
        If a chunk is missing, fails its checksum or cannot be decoded, or metadata
        changed after writing; the message names run, array and chunk.
    """
    where = _root(path)
    root = _open_group(where)
    check_root_attrs(dict(root.attrs), where=str(path))
    nodes: dict[str, Node] = {"": Node(attrs=dict(root.attrs))}
    with _quiet_v1(root.store):
        members = sorted(root.members(max_depth=None), key=lambda m: m[0].count("/"))
    for name, member in members:
        if hasattr(member, "shape"):
            gpath, _, vname = name.rpartition("/")
            nodes[gpath].variables[vname] = _read_array(member, where, name)
        else:
            nodes[name] = Node(attrs=dict(member.attrs))
    for node in nodes.values():  # CF: data variables name their coordinates
        listed = (
            c for v in node.variables.values() for c in v.attrs.get("coordinates", "").split()
        )
        node.coords = [c for c in dict.fromkeys(listed) if c in node.variables]
    return nodes


def _read_raw(array: Any, selection: Any, root: Path | ObjectLocation, name: str) -> np.ndarray:
    try:
        return np.asarray(array[selection])
    except CorruptStoreError:
        raise
    except Exception as err:  # a chunk that passes its CRC yet fails to decode
        raise _corrupt(root, name, f"cannot decode the array: {err}") from err


def _read_array(array: Any, root: Path | ObjectLocation, name: str) -> Variable:
    data = _read_raw(array, Ellipsis, root, name)
    attrs = dict(array.attrs)
    scale = attrs.pop("scale_factor", None)
    offset = attrs.pop("add_offset", None)
    if scale is not None:  # the CF decoding of docs/format.md (xarray's, same order)
        data = _cf_decode(data, scale, offset or 0.0)
    dims = tuple(array.metadata.dimension_names or ())
    # Keep the packing so that writing these nodes again packs them the same way.
    return Variable(
        dims=dims, data=np.asarray(data), attrs=attrs, scale_factor=scale, add_offset=offset or 0.0
    )


@functools.lru_cache(maxsize=64)
def _cached_group(path: Path | ObjectLocation, stamp: tuple[int, int], verify: bool) -> Any:
    return _open_group(path)


def read_arrays(path: Location, gpath: str, selections: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Read parts of arrays of one group, raw (before CF decoding), verified.

    The analyses' read path: a dask task calls it for its block of units. The opened
    group is cached per store (keyed by the root ``zarr.json``'s modification time and
    size, so an edited store is verified again; a committed object store never changes).

    Parameters
    ----------
    path : path-like or ObjectLocation
        The store directory, or its prefix in a bucket.
    gpath : str
        The group's path in the store (``"<segment>/<population>"``).
    selections : Mapping[str, selection]
        Array name → index (a slice, a tuple of slices or ``Ellipsis``).

    Returns
    -------
    dict of numpy.ndarray
        The stored values (packed integers stay packed: apply the CF attributes).
    """
    root = _root(path)
    stamp = (0, 0)
    if isinstance(root, Path):
        try:
            info = (root / "zarr.json").stat()
        except OSError:
            raise SchemaError(f"{root}: not a zarr v3 store (no zarr.json)") from None
        stamp = (info.st_mtime_ns, info.st_size)
    group_root = _cached_group(root, stamp, _VERIFY)
    try:
        group = group_root[gpath] if gpath else group_root
        arrays = {name: group[name] for name in selections}
    except KeyError as err:
        raise SchemaError(f"{root}: no group or array {err} under {gpath!r}") from None
    return {
        name: _read_raw(arrays[name], sel, root, f"{gpath}/{name}" if gpath else name)
        for name, sel in selections.items()
    }


def array_attrs(path: Location, gpath: str, name: str) -> dict[str, Any]:
    """Attributes of one array, from the verified consolidated metadata."""
    meta = read_metadata(path).get("consolidated_metadata", {}).get("metadata", {})
    key = f"{gpath}/{name}" if gpath else name
    if key not in meta:
        raise SchemaError(f"{path}: no array {key!r}")
    return dict(meta[key].get("attributes", {}))


def has_group(path: Location, group: str) -> bool:
    """True if the store has the group ``group`` (its ``zarr.json`` exists)."""
    root = _root(path)
    group = group.strip("/")
    key = f"{group}/zarr.json" if group else "zarr.json"
    if isinstance(root, ObjectLocation):
        return _objects.get_info(root, key) is not None
    return (root / key).is_file()


def open_tree(path: Location, *, chunks: Any = None) -> Any:
    """Open a store lazily as an :class:`xarray.DataTree` (dask arrays, nothing read yet).

    Reads go through :class:`VerifiedStore` (or :class:`VerifiedObjectStore`): damage
    raises :class:`~opsnn_lake.errors.CorruptStoreError` when the data is computed.

    Parameters
    ----------
    path : path-like or ObjectLocation
        The store directory, or its prefix in a bucket.
    chunks : dict or None
        dask chunks; the default ``None`` means the store's own chunks.
    """
    import xarray as xr

    read_root_attrs(path)  # refuse foreign or newer stores with our message, not xarray's
    store = verified_store(path)
    with _quiet_v1(store):
        return xr.open_datatree(
            store,
            engine="zarr",
            chunks={} if chunks is None else chunks,
            consolidated=True,
        )


def open_dataset(path: Location, group: str, *, chunks: Any = None) -> Any:
    """Open one group of a store lazily as an :class:`xarray.Dataset` (verified reads)."""
    import xarray as xr

    store = verified_store(path)
    with _quiet_v1(store):
        return xr.open_dataset(
            store,
            engine="zarr",
            group=group,
            chunks={} if chunks is None else chunks,
            consolidated=True,
        )


class _Files:
    """The files of one store, for :func:`check_store` (a bucket is listed once)."""

    def __init__(self, root: Path | ObjectLocation) -> None:
        self.root = root
        self.listing = _objects.list_objects(root) if isinstance(root, ObjectLocation) else None

    def metadata_keys(self) -> set[str]:
        if self.listing is not None:
            return {k for k in self.listing if k.rpartition("/")[2] == "zarr.json"}
        assert isinstance(self.root, Path)
        return {
            str(p.relative_to(self.root)).replace(os.sep, "/")
            for p in self.root.rglob("zarr.json")
            if p.is_file()
        }

    def exists(self, key: str) -> bool:
        if self.listing is not None:
            return key in self.listing
        assert isinstance(self.root, Path)
        return (self.root / key).is_file()

    def read(self, key: str) -> bytes | None:
        return _read_bytes(self.root, key) if self.exists(key) else None


def check_store(path: Location, *, deep: bool = False) -> list[str]:
    """Problems of one store: metadata against its manifest, chunk files, checksums.

    Parameters
    ----------
    path : path-like or ObjectLocation
        The store directory, or its prefix in a bucket.
    deep : bool
        Also read every chunk file and verify its CRC-32C (reads all the data).

    Returns
    -------
    list of str
        One message per problem (empty: the store is intact).

    Raises
    ------
    SchemaError
        If ``path`` is not a run store at all (nothing of ours to verify).
    """
    root = _root(path)
    try:
        manifest = read_manifest(root)
        document = read_metadata(root)
    except CorruptStoreError as err:
        return [str(err)]
    check_root_attrs(document.get("attributes") or {}, where=str(root))  # not ours: raise
    nodes = (document.get("consolidated_metadata") or {}).get("metadata") or {}
    files = _Files(root)
    problems = _link_problems(root, nodes) if isinstance(root, Path) else []
    if manifest is not None:
        for key in sorted(files.metadata_keys() | {k for k in manifest if ":" not in k}):
            try:
                _check_document(root, key, files.read(key), manifest)
            except CorruptStoreError as err:
                problems.append(str(err))
    for name, meta in sorted(nodes.items()):
        if meta.get("node_type") == "array":
            problems += _array_problems(files, name, meta, manifest, deep)
    return problems


def _link_problems(root: Path, nodes: Mapping[str, Any]) -> list[str]:
    """Links a read would follow: metadata, chunks, their folders."""
    return [
        str(_corrupt(root, key, "a symbolic link inside the store (never followed)"))
        for key in _links(root)
        if key.rpartition("/")[2] == "zarr.json"
        or _CHUNK_KEY.match(key)
        or any(n == key or n.startswith(key + "/") for n in nodes)
    ]


def _array_problems(
    files: _Files, name: str, meta: Mapping[str, Any], manifest: Any, deep: bool
) -> list[str]:
    """Problems of one array: its own metadata (schema 1), then every chunk."""
    root, problems = files.root, []
    if manifest is None:
        own = files.read(f"{name}/zarr.json")
        if own is not None and json.loads(own) != meta:
            problems.append(
                str(_corrupt(root, name, "its zarr.json differs from the consolidated metadata"))
            )
        if not any(c.get("name") == "crc32c" for c in meta["codecs"]):
            return problems  # an early schema-1 array: no checksum, fill chunks not written
    shape = meta.get("shape") or []
    chunk_shape = meta["chunk_grid"]["configuration"]["chunk_shape"]
    grid = [-(-size // chunk) for size, chunk in zip(shape, chunk_shape, strict=True)]
    for index in itertools.product(*(range(n) for n in grid)):
        key = f"{name}/c/" + "/".join(map(str, index))
        try:
            if deep:
                _check_chunk(root, key, files.read(key))
            elif not files.exists(key):
                _check_chunk(root, key, None)
        except CorruptStoreError as err:
            problems.append(str(err))
    return problems
