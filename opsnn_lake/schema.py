"""The run-store contract: names, dimensions, version, and the in-memory form of a store.

A run store is a zarr v3 hierarchy (``docs/format.md`` is the full specification)::

    /                         attrs: schema, schema_version, run_id, kind, provenance, block
    /<segment>                attrs: neo Segment metadata, populations (child order)
    /<segment>/<population>   spike_time(spike), spike_count(unit), per-unit coordinates,
                              analog signals (time, unit), attrs: label, metadata

Both routes into a store — converting a neo Block (:mod:`opsnn_lake.neo_convert`) and
reading a simulator's recorders directly (:mod:`opsnn_lake.fastpath`) — build the same
:class:`Node` objects, which :mod:`opsnn_lake.store` writes. So the two routes write
identical arrays by construction, and a test compares them array by array.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from opsnn_lake.errors import SchemaError

__all__ = [
    "KINDS",
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "Node",
    "Variable",
    "sanitize_label",
    "unique_names",
]

SCHEMA_NAME = "opsnn-lake-run"
SCHEMA_VERSION = 2  # 2: core zarr v3 codecs only, manifest (1: numcodecs filters)
KINDS = ("simulation", "input")

# Dimension and variable names fixed by the contract.
DIM_SPIKE = "spike"
DIM_UNIT = "unit"
DIM_TIME = "time"
DIM_EVENT = "event"
SPIKE_TIME = "spike_time"
SPIKE_COUNT = "spike_count"

MAX_LABEL_LENGTH = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{d}{i}" for d in ("COM", "LPT") for i in range(10)
}
# Names of a store's own files (zarr's metadata document, store.MANIFEST): a group of
# that name would stand where the file must be written.
STORE_FILE_NAMES = frozenset({"zarr.json", "opsnn-manifest.json"})


def sanitize_label(label: object, *, fallback: str) -> str:
    """Turn a user label into a safe, portable zarr group name.

    Path separators, ``..``, control characters and anything outside ``[A-Za-z0-9_.-]``
    become ``_``; an empty result becomes ``fallback``; very long labels are cut and
    suffixed with a short hash so two long labels stay distinct. The original label is
    always kept verbatim in the group's attrs.

    Parameters
    ----------
    label : object
        The label (``None`` and non-strings are allowed: they give ``fallback``).
    fallback : str
        Name used when nothing usable remains, e.g. ``"segment0"``.

    Returns
    -------
    str
        A name that is safe as a single path component on every platform.

    Examples
    --------
    >>> sanitize_label("../x", fallback="p0")
    'x'
    >>> sanitize_label("exc cells", fallback="p0")
    'exc_cells'
    """
    if not isinstance(label, str):
        return fallback
    text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii")
    name = _UNSAFE.sub("_", text).strip("._-")
    name = re.sub(r"\.{2,}", ".", name)
    if not name:
        return fallback
    if name.split(".")[0].upper() in _WINDOWS_RESERVED:  # "CON", "nul.txt": devices there
        name = f"_{name}"
    if name.lower() in STORE_FILE_NAMES:
        name = f"_{name}"
    if len(name) > MAX_LABEL_LENGTH:
        import hashlib

        digest = hashlib.sha256(label.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        name = f"{name[: MAX_LABEL_LENGTH - 9]}-{digest}"
    return name


def unique_names(labels: Iterable[object], *, prefix: str) -> list[str]:
    """Sanitise labels and make them unique (``exc``, ``exc_1``, …), keeping order."""
    names: list[str] = []
    taken: set[str] = set()
    for i, label in enumerate(labels):
        base = sanitize_label(label, fallback=f"{prefix}{i}")
        name, n = base, 1
        while name.lower() in taken:  # case-insensitive: stores may sit on such filesystems
            name, n = f"{base}_{n}", n + 1
        taken.add(name.lower())
        names.append(name)
    return names


@dataclass(frozen=True, kw_only=True)
class Variable:
    """One array of a store group, as written.

    Parameters
    ----------
    dims : tuple of str
        Dimension names, one per axis of ``data``.
    data : numpy.ndarray
        The values (never object dtype).
    attrs : dict
        JSON-able attributes (``units`` and the like).
    scale_factor : float or None
        If set, ``data`` is float64 and is stored as int64 ``k`` with
        ``k * scale_factor + add_offset == data`` bitwise (CF packing, checked by the
        writer, which falls back to plain float64 if the check fails).
    add_offset : float
        Offset of the CF packing (``0.0``: none).
    """

    dims: tuple[str, ...]
    data: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)
    scale_factor: float | None = None
    add_offset: float = 0.0

    def __post_init__(self) -> None:
        if self.data.ndim != len(self.dims):
            raise SchemaError(
                f"variable on dims {self.dims} has {self.data.ndim} axes; expected {len(self.dims)}"
            )
        if self.data.dtype.kind == "O":
            raise SchemaError(f"variable on dims {self.dims} has object dtype; stores hold none")


@dataclass(kw_only=True)
class Node:
    """One group of a store: attributes and variables (coordinates are variables too)."""

    attrs: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Variable] = field(default_factory=dict)
    coords: list[str] = field(default_factory=list)

    def dim_sizes(self) -> dict[str, int]:
        """Sizes of the dimensions used by this node's variables, checked for consistency."""
        sizes: dict[str, int] = {}
        for name, var in self.variables.items():
            for dim, size in zip(var.dims, var.data.shape, strict=True):
                if sizes.setdefault(dim, size) != size:
                    raise SchemaError(
                        f"variable {name!r}: dimension {dim!r} has length {size}, "
                        f"but another variable gives it length {sizes[dim]}"
                    )
        return sizes


def check_root_attrs(attrs: Mapping[str, Any], *, where: str) -> None:
    """Check the root attributes of a store against this version of the contract.

    Raises
    ------
    SchemaError
        If the schema name is not ours, the version is newer than this library knows,
        or a required attribute is missing.
    """
    if attrs.get("schema") != SCHEMA_NAME:
        raise SchemaError(
            f"{where}: not an OpSNN lake run store (schema attr is {attrs.get('schema')!r}, "
            f"expected {SCHEMA_NAME!r})"
        )
    version = attrs.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise SchemaError(
            f"{where}: store schema version {version!r} is newer than this opsnn_lake reads "
            f"(<= {SCHEMA_VERSION}); upgrade opsnn_lake"
        )
    for key in ("run_id", "kind", "provenance"):
        if key not in attrs:
            raise SchemaError(f"{where}: root attribute {key!r} is missing")
    if attrs["kind"] not in KINDS:
        raise SchemaError(f"{where}: kind {attrs['kind']!r} is not one of {KINDS}")
