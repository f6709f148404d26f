"""Reading runs for the analyses: one source type per input form, one read path.

A run reaches the analyses as a :class:`StoreSource` (a store directory or bucket
prefix, read through
:mod:`opsnn_lake.store`: verified, :class:`~opsnn_lake.errors.CorruptStoreError` on
damage) or a :class:`TreeSource` (a ``lake.open()`` DataTree, read from its own
variables). Both give the same two things, so everything above them — the group
metadata (:mod:`opsnn_lake.analysis.groups`), the read tasks, the statistics — has one
code path:

* :meth:`metadata`: the store's root ``zarr.json`` document (attributes plus the
  consolidated metadata of every group and array), built once from the tree's
  attributes and variables for a DataTree;
* :meth:`read`: parts of arrays of one group, as stored (packed integers stay packed;
  :func:`decode` applies the CF attributes the metadata names).

Inside a task the spikes are the store's contiguous ragged layout (``spike_time`` sorted
by unit then time, ``spike_count`` per unit): :class:`Spikes`. Statistics reduce it with
vectorised numpy (offsets, ``bincount``, ``diff``), never one Python call per unit.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from opsnn_lake import store as _store
from opsnn_lake.schema import SPIKE_COUNT, SPIKE_TIME
from opsnn_lake.storage.objects import ObjectLocation

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "RunSource",
    "Spikes",
    "StoreSource",
    "TreeSource",
    "decode",
    "read_signal",
    "read_spikes",
    "read_spikes_zarr",
    "source_of",
]

# CF packing keys: a DataTree's values are already decoded, so its metadata omits them.
_PACKING = ("scale_factor", "add_offset", "_FillValue", "dtype")


class RunSource(Protocol):
    """What the analyses read a run from (see the module docstring)."""

    @property
    def token(self) -> str: ...  # identity of the data, for task keys shared by statistics

    def metadata(self) -> dict[str, Any]: ...  # the root zarr.json document

    def read(self, gpath: str, selections: Mapping[str, Any]) -> dict[str, np.ndarray]: ...

    def handle(self, gpath: str) -> Any: ...  # a group's store path or Dataset


class StoreSource:
    """A run store (a directory, or a prefix in a bucket), read through
    :mod:`opsnn_lake.store` (verified).

    Pickles as its location: tasks carry it to worker processes for nothing (a bucket's
    client is opened once per worker process).
    """

    __slots__ = ("path",)

    def __init__(self, path: str | ObjectLocation) -> None:
        self.path: str | ObjectLocation = path if isinstance(path, ObjectLocation) else str(path)

    @property
    def token(self) -> str:
        """The store path (or URL)."""
        return str(self.path)

    def metadata(self) -> dict[str, Any]:
        """The root ``zarr.json``, verified against the store's manifest."""
        return _store.read_metadata(self.path)

    def read(self, gpath: str, selections: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Raw values of ``selections`` (array name → index) of group ``gpath``."""
        return _store.read_arrays(self.path, gpath, selections)

    def handle(self, gpath: str) -> str | ObjectLocation:
        """The store location (what :attr:`GroupInfo.source` holds for a store)."""
        return self.path

    def __reduce__(self) -> tuple[Any, tuple[str | ObjectLocation]]:
        return (StoreSource, (self.path,))

    def __repr__(self) -> str:
        return f"StoreSource({self.path!r})"


class TreeSource:
    """A run as a DataTree (``lake.open()``), read from its variables.

    Its lazy arrays are computed inside the read task with the synchronous scheduler,
    so a read never waits on the scheduler that runs it.
    """

    def __init__(self, tree: xr.DataTree) -> None:
        self.tree = tree

    @functools.cached_property
    def token(self) -> str:
        """A digest of the tree's variables (dask names, or the values when in memory)."""
        import dask.base

        parts = [
            (node.path, name, var.data)
            for node in self.tree.subtree
            for name, var in node.dataset.variables.items()
        ]
        return dask.base.tokenize(*parts)

    def metadata(self) -> dict[str, Any]:
        """A ``zarr.json``-shaped document of the tree's attributes and variables."""
        nodes: dict[str, Any] = {}
        for node in self.tree.subtree:
            path = node.relative_to(self.tree)
            if path != ".":
                nodes[path] = {"node_type": "group", "attributes": dict(node.attrs)}
            for name, var in node.dataset.variables.items():
                attrs = {**var.encoding, **var.attrs}
                key = name if path == "." else f"{path}/{name}"
                nodes[str(key)] = {
                    "node_type": "array",
                    "shape": list(var.shape),
                    "dimension_names": list(var.dims),
                    "attributes": {k: v for k, v in attrs.items() if k not in _PACKING},
                }
        return {
            "attributes": dict(self.tree.attrs),
            "consolidated_metadata": {"metadata": nodes},
        }

    def read(self, gpath: str, selections: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Values of ``selections`` of group ``gpath`` (decoded, as xarray reads them)."""
        import dask

        ds = self.tree[gpath].dataset if gpath else self.tree.dataset
        parts = {name: ds[name].variable[sel].data for name, sel in selections.items()}
        (values,) = dask.compute(parts, scheduler="sync")
        return {name: np.asarray(value) for name, value in values.items()}

    def handle(self, gpath: str) -> Any:
        """The group's Dataset (what :attr:`GroupInfo.source` holds for a tree)."""
        return self.tree[gpath].to_dataset()

    def __repr__(self) -> str:
        return f"TreeSource(run {self.tree.attrs.get('run_id')!r})"


def source_of(source: Any) -> RunSource:
    """The :class:`RunSource` of a store path or a DataTree (a source is kept)."""
    import os

    if isinstance(source, StoreSource | TreeSource):
        return source
    if isinstance(source, ObjectLocation):
        return StoreSource(source)
    if isinstance(source, str | os.PathLike):
        return StoreSource(str(source))
    return TreeSource(source)


def decode(raw: np.ndarray, attrs: Mapping[str, Any]) -> np.ndarray:
    """CF decoding exactly as xarray (and the store reader) apply it, as float64."""
    scale = attrs.get("scale_factor")
    offset = attrs.get("add_offset")
    data = np.asarray(raw)
    if scale is not None:
        data = data.astype(np.float64) * scale
        if offset is not None:
            data += offset
    return np.asarray(data, dtype=np.float64)


@dataclass
class Spikes:
    """Spikes of a block of units of one group, in the store's ragged layout.

    ``times`` are the units' spike times one unit after the other (float64, in the
    trains' time unit), ``counts`` the number of spikes of each unit.
    """

    times: np.ndarray
    counts: np.ndarray
    coords: dict[str, np.ndarray] = field(default_factory=dict)

    @functools.cached_property
    def offsets(self) -> np.ndarray:
        """Index of each unit's first spike, plus the total (length ``n + 1``)."""
        out = np.zeros(self.counts.size + 1, dtype=np.int64)
        np.cumsum(self.counts, out=out[1:])
        return out

    @functools.cached_property
    def unit_of_spike(self) -> np.ndarray:
        """Unit (0-based, in this block) of each spike."""
        return np.repeat(np.arange(self.counts.size), self.counts)

    @property
    def n_units(self) -> int:
        """Number of units in the block."""
        return int(self.counts.size)


def read_spikes(
    source: RunSource,
    gpath: str,
    lo: int,
    hi: int,
    n_units: int,
    coords: Sequence[str],
    attrs: Mapping[str, Any],
    weight: int = 0,
) -> Spikes:
    """Read units ``[lo, hi)`` of a group of ``n_units`` units (a dask task).

    ``attrs`` are the ``spike_time`` attributes (its CF packing); ``weight`` is the
    block's expected number of spikes, read by the batching (see
    :mod:`opsnn_lake.analysis.plan`), not here.
    """
    units = slice(lo, hi)
    named = dict.fromkeys(coords, units)
    if lo == 0 and hi == n_units:  # the whole group: one trip, no offsets needed first
        got = source.read(gpath, {SPIKE_COUNT: slice(None), SPIKE_TIME: slice(None), **named})
        counts = np.asarray(got[SPIKE_COUNT], dtype=np.int64)
    else:
        head = source.read(gpath, {SPIKE_COUNT: slice(0, hi)})[SPIKE_COUNT]
        head = np.asarray(head, dtype=np.int64)
        counts = head[lo:hi]
        first = int(head[:lo].sum())
        got = source.read(gpath, {SPIKE_TIME: slice(first, first + int(counts.sum())), **named})
    extra = {n: np.asarray(got[n]) for n in coords}
    return Spikes(times=decode(got[SPIKE_TIME], attrs), counts=counts, coords=extra)


def read_spikes_zarr(
    path: str,
    gpath: str,
    lo: int,
    hi: int,
    n_units: int,
    coords: Sequence[str],
    attrs: Mapping[str, Any],
    meta: Mapping[str, Any] | None = None,
) -> Spikes:
    """:func:`read_spikes` of a store path (the signature tasks of older graphs use).

    ``meta`` is accepted for those graphs and unused.
    """
    return read_spikes(StoreSource(path), gpath, lo, hi, n_units, coords, attrs)


def read_signal(
    source: RunSource,
    gpath: str,
    name: str,
    lo: int,
    hi: int,
    attrs: Mapping[str, Any],
    weight: int = 0,
) -> np.ndarray:
    """Read channels ``[lo, hi)`` of an analog signal (time, channel), as float64."""
    raw = source.read(gpath, {name: (slice(None), slice(lo, hi))})[name]
    return decode(raw, attrs)
