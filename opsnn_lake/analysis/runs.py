"""The runs an analysis reads: selection, store metadata, lazy reads, result coordinates.

Every statistic in :mod:`opsnn_lake.analysis` starts from a :class:`RunSet`: the runs
(a ``lake.search`` result with its lake, an intake catalog search, lazily opened
DataTrees…) and, for each run, its spike groups (``<segment>/<population>``) as read
from the store's consolidated metadata — sizes, time bounds and units, known before any
array is read. A statistic builds one dask task per group, or per block of units when a
group holds more than ``opsnn_lake.analysis.spikes-per-task`` spikes (dask config,
default 2,000,000), so each task holds one run's group and memory stays bounded however
many runs are analysed. Spike arrays are read by tasks whose keys depend only on the
store, group and unit block, so statistics computed together (``dask.compute(a, b)``,
:func:`opsnn_lake.analysis.analyse`) read each array once.

Inside a task the spikes are the store's contiguous ragged layout (``spike_time`` sorted
by unit then time, ``spike_count`` per unit): statistics reduce it with vectorised numpy
(offsets, ``bincount``, ``diff``), never one Python call per unit.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask
import numpy as np
import pandas as pd
import quantities as pq

from opsnn_lake import store as _store
from opsnn_lake.errors import CorruptStoreError, RunNotFoundError, SchemaError
from opsnn_lake.index import FIXED_COLUMNS, PARAM_PREFIX, row_from_attrs
from opsnn_lake.schema import SPIKE_COUNT, SPIKE_TIME, check_root_attrs

if TYPE_CHECKING:
    import xarray as xr

    from opsnn_lake.lake import Lake

__all__ = ["GroupInfo", "Plan", "RunSet", "SignalInfo", "Spikes", "as_runset"]

CONFIG_KEY = "opsnn_lake.analysis.spikes-per-task"
DEFAULT_SPIKES_PER_TASK = 2_000_000
RUN_COLUMNS = ("model", "simulator", "seed")  # index columns kept as coordinates
RESERVED = {
    "unit",
    "group",
    "channel",
    "run",
    "segment",
    "population",
    "unit_index",
    "channel_index",
    "signal",
    "time",
    "frequency",
    "unit_i",
    "unit_j",
    "channel_id",
    "channel_id_i",
    "channel_id_j",
    # the statistics' own names: a parameter called "rate" must not become a coordinate
    # named like the DataArray it labels (xarray refuses to make a Dataset of that)
    "rate",
    "cv",
    "fano",
    "correlation",
    "population_rate",
    "psd",
    "psth",
    "mean",
    "std",
    "min",
    "max",
}


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class SignalInfo:
    """One analog signal of a group: ``name`` on dims (time, channel)."""

    name: str
    shape: tuple[int, int]
    time_dim: str
    channel_dim: str
    units: str
    channel_ids: str | None  # name of the coordinate holding the channels' global ids


@dataclass(frozen=True, eq=False)
class GroupInfo:
    """One ``<segment>/<population>`` group of one run, from the store's metadata.

    ``t_start``/``t_stop`` are floats when uniform, else per-unit arrays, in
    ``time_units`` (the spike trains' own unit, normally ms); ``ms`` converts them to ms.
    """

    run: str
    segment: str
    population: str
    label: str | None
    n_units: int
    n_spikes: int
    t_start: float | np.ndarray | None
    t_stop: float | np.ndarray | None
    time_units: str
    unit_coords: tuple[str, ...]
    signals: tuple[SignalInfo, ...]
    source: Any  # str (store path) or xarray.Dataset
    spike_attrs: dict[str, Any] = field(default_factory=dict)
    counts: np.ndarray | None = None  # spike counts, read up front for DataTree sources
    array_meta: dict[str, Any] = field(default_factory=dict)  # zarr metadata of the arrays read

    @property
    def path(self) -> str:
        """Group path inside the store."""
        return f"{self.segment}/{self.population}"

    @property
    def has_spikes(self) -> bool:
        """True if the group holds spike trains."""
        return self.t_start is not None

    @property
    def ms(self) -> float:
        """Factor from the group's time unit to ms."""
        return _to_ms(self.time_units)

    def native(self, value_ms: float) -> float:
        """A time in ms in the group's unit, rescaled as ``quantities`` does (so bin
        edges fall exactly where elephant puts them)."""
        return value_ms * _from_ms(self.time_units)

    def where(self) -> str:
        """Name for error messages."""
        return f"run {self.run!r}, group {self.path!r}"

    def bounds(
        self, t_start: float | None, t_stop: float | None
    ) -> tuple[float | np.ndarray, float | np.ndarray]:
        """Analysis window in the group's time unit: overrides (ms) or the trains' bounds."""
        lo = self.t_start if t_start is None else self.native(t_start)
        hi = self.t_stop if t_stop is None else self.native(t_stop)
        return lo, hi  # type: ignore[return-value]

    def covered(self, t_start: float | None, t_stop: float | None) -> None:
        """Check that a window given in ms lies within every train's range, as
        elephant's binning requires (within its tolerance, 1e-8).

        Raises
        ------
        SchemaError
            If the window reaches outside some train's ``[t_start, t_stop]``.
        """
        if t_start is None and t_stop is None:
            return
        lo, hi = self.bounds(t_start, t_stop)
        shared_lo = float(np.max(self.t_start)) if np.size(self.t_start) else 0.0
        shared_hi = float(np.min(self.t_stop)) if np.size(self.t_stop) else 0.0
        if np.min(lo) < shared_lo - 1e-8 or np.max(hi) > shared_hi + 1e-8:
            raise SchemaError(
                f"{self.where()}: the window [{np.min(lo)}, {np.max(hi)}] {self.time_units} "
                f"reaches outside the spike trains' shared range [{shared_lo}, {shared_hi}]; "
                "choose t_start/t_stop inside it"
            )

    def common_bounds(self, t_start: float | None, t_stop: float | None) -> tuple[float, float]:
        """One window for all units, as elephant's binning requires.

        Raises
        ------
        SchemaError
            If the trains have different bounds and no window was given.
        """
        lo, hi = self.bounds(t_start, t_stop)
        for name, value in (("t_start", lo), ("t_stop", hi)):
            if isinstance(value, np.ndarray):
                if value.size and not (value == value[0]).all():
                    raise SchemaError(
                        f"{self.where()}: spike trains have different {name} values; pass "
                        f"{name}= (ms) to analyse a common window"
                    )
                value = float(value[0]) if value.size else 0.0
                lo, hi = (value, hi) if name == "t_start" else (lo, value)
        if not hi > lo:
            raise SchemaError(f"{self.where()}: empty window [{lo}, {hi}] {self.time_units}")
        return float(lo), float(hi)

    def unit_blocks(self) -> list[tuple[int, int]]:
        """``[lo, hi)`` unit ranges, each holding about ``spikes-per-task`` spikes or fewer."""
        limit = int(dask.config.get(CONFIG_KEY, DEFAULT_SPIKES_PER_TASK))
        n_blocks = max(1, -(-self.n_spikes // max(1, limit)))
        n_blocks = min(n_blocks, max(1, self.n_units))
        edges = np.linspace(0, self.n_units, n_blocks + 1).round().astype(int)
        return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


@functools.cache
def _from_ms(units: str) -> float:
    return float(pq.Quantity(1.0, pq.ms).rescale(units).magnitude)


@functools.cache
def _to_ms(units: str) -> float:
    try:
        return float(pq.Quantity(1.0, units).rescale(pq.ms).magnitude)
    except (LookupError, ValueError) as err:
        raise SchemaError(f"spike times in {units!r}, which is not a time unit: {err}") from None


def _group_meta_from_json(run: str, path: str, meta: Mapping[str, Any]) -> list[GroupInfo]:
    """Groups of one store from its consolidated metadata (root ``zarr.json``)."""
    nodes = meta.get("consolidated_metadata", {}).get("metadata")
    if not isinstance(nodes, Mapping):
        raise SchemaError(f"{path}: no consolidated metadata in zarr.json; run `opsnn-lake check`")
    attrs = meta.get("attributes", {})
    check_root_attrs(attrs, where=path)
    groups = []
    for segment in attrs.get("segments", []):
        seg = nodes.get(segment, {})
        for population in seg.get("attributes", {}).get("populations", []):
            gpath = f"{segment}/{population}"
            gattrs = nodes.get(gpath, {}).get("attributes", {})
            arrays = {
                key[len(gpath) + 1 :]: value
                for key, value in nodes.items()
                if key.startswith(gpath + "/") and value.get("node_type") == "array"
            }
            groups.append(_group_info(run, segment, population, gattrs, arrays, source=path))
    return groups


def _group_info(
    run: str,
    segment: str,
    population: str,
    gattrs: Mapping[str, Any],
    arrays: Mapping[str, Mapping[str, Any]],
    *,
    source: Any,
) -> GroupInfo:
    """A GroupInfo from a group's attrs and its arrays' metadata (shape, dims, attrs)."""
    trains = gattrs.get("spiketrains")
    n_units = n_spikes = 0
    t_start = t_stop = None
    time_units = "ms"
    spike_attrs: dict[str, Any] = {}
    unit_coords: tuple[str, ...] = ()
    if trains is not None and SPIKE_TIME in arrays:
        n_units = int(arrays[SPIKE_COUNT]["shape"][0])
        n_spikes = int(arrays[SPIKE_TIME]["shape"][0])
        spike_attrs = dict(arrays[SPIKE_TIME].get("attributes", {}))
        time_units = spike_attrs.get("units", "ms")
        t_start, t_stop = trains.get("t_start"), trains.get("t_stop")
        unit_coords = tuple(
            name
            for name in ("channel_id", "source_index")
            if name in arrays and list(arrays[name].get("dimension_names") or []) == ["unit"]
        )
    signals = []
    for name in gattrs.get("signals", []):
        meta = arrays.get(name)
        if meta is None:
            continue
        dims = list(meta.get("dimension_names") or [])
        chan_dim = dims[1]
        ids = None
        sig_attrs = meta.get("attributes", {})
        for key, var in (sig_attrs.get("neo", {}).get("channel_annotation_vars") or {}).items():
            if key == "channel_ids":
                ids = var
        signals.append(
            SignalInfo(
                name=name,
                shape=(int(meta["shape"][0]), int(meta["shape"][1])),
                time_dim=dims[0],
                channel_dim=chan_dim,
                units=str(sig_attrs.get("units", "")),
                channel_ids=ids,
            )
        )
    return GroupInfo(
        run=run,
        segment=segment,
        population=population,
        label=gattrs.get("label"),
        n_units=n_units,
        n_spikes=n_spikes,
        t_start=t_start,
        t_stop=t_stop,
        time_units=time_units,
        unit_coords=unit_coords,
        signals=tuple(signals),
        source=source,
        spike_attrs=spike_attrs,
        array_meta={
            name: dict(arrays[name])
            for name in (SPIKE_COUNT, SPIKE_TIME, *unit_coords)
            if isinstance(source, str) and name in arrays
        },
    )


def _per_unit_bounds(info: GroupInfo) -> GroupInfo:
    """Read per-unit t_start/t_stop (stored when trains differ) into the GroupInfo."""
    if info.t_start is not None and info.t_stop is not None:
        return info
    values = {}
    for bound in ("t_start", "t_stop"):
        value = getattr(info, bound)
        if value is None:
            if isinstance(info.source, str):
                raw = _store.read_arrays(info.source, info.path, {bound: Ellipsis})[bound]
                value = np.asarray(raw, dtype=float)
            else:
                value = np.asarray(info.source[bound].values, dtype=float)
        values[bound] = value
    return GroupInfo(**{**info.__dict__, **values})


# --------------------------------------------------------------------------- reading


def _decode(raw: np.ndarray, attrs: Mapping[str, Any]) -> np.ndarray:
    """CF decoding exactly as xarray (and the store reader) apply it."""
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

    @cached_property
    def offsets(self) -> np.ndarray:
        """Index of each unit's first spike, plus the total (length ``n + 1``)."""
        out = np.zeros(self.counts.size + 1, dtype=np.int64)
        np.cumsum(self.counts, out=out[1:])
        return out

    @cached_property
    def unit_of_spike(self) -> np.ndarray:
        """Unit (0-based, in this block) of each spike."""
        return np.repeat(np.arange(self.counts.size), self.counts)

    @property
    def n_units(self) -> int:
        """Number of units in the block."""
        return int(self.counts.size)


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
    """Read units ``[lo, hi)`` of a group from its store (a dask task), verified.

    Reads go through :func:`opsnn_lake.store.read_arrays`: a missing or damaged chunk
    raises :class:`~opsnn_lake.errors.CorruptStoreError` naming run, array and chunk.
    ``meta`` is accepted for graphs built by older versions and unused.
    """
    units = slice(lo, hi)
    if lo == 0 and hi == n_units:  # the whole group: no need for the offsets first
        got = _store.read_arrays(
            path,
            gpath,
            {SPIKE_COUNT: slice(None), SPIKE_TIME: slice(None), **dict.fromkeys(coords, units)},
        )
        counts = np.asarray(got[SPIKE_COUNT], dtype=np.int64)
    else:
        head = _store.read_arrays(path, gpath, {SPIKE_COUNT: slice(0, hi)})[SPIKE_COUNT]
        head = np.asarray(head, dtype=np.int64)
        counts = head[lo:hi]
        first = int(head[:lo].sum())
        last = first + int(counts.sum())
        got = _store.read_arrays(
            path, gpath, {SPIKE_TIME: slice(first, last), **dict.fromkeys(coords, units)}
        )
    extra = {n: np.asarray(got[n]) for n in coords}
    return Spikes(times=_decode(got[SPIKE_TIME], attrs), counts=counts, coords=extra)


def signal_block(path: str, gpath: str, name: str, lo: int, hi: int) -> np.ndarray:
    """Read channels ``[lo, hi)`` of an analog signal (time, channel) from its store."""
    raw = _store.read_arrays(path, gpath, {name: (slice(None), slice(lo, hi))})[name]
    return _decode(raw, _store.array_attrs(path, gpath, name))


def signal_ids(info: GroupInfo, signal: SignalInfo) -> np.ndarray | None:
    """Global ids of a signal's channels (small; read when the result is assembled)."""
    if signal.channel_ids is None:
        return None
    if isinstance(info.source, str):
        ids = signal.channel_ids
        return np.asarray(_store.read_arrays(info.source, info.path, {ids: Ellipsis})[ids])
    return np.asarray(info.source[signal.channel_ids].values)


def _digest(*parts: Any) -> str:
    return hashlib.sha1(repr(parts).encode(), usedforsecurity=False).hexdigest()[:20]


def _source_id(info: GroupInfo) -> str:
    if isinstance(info.source, str):
        return info.source
    return str(info.source[SPIKE_TIME].data.name) if SPIKE_TIME in info.source else info.run


class Plan:
    """The dask graph of one statistic, written out as plain tasks.

    Building it by hand costs microseconds a task, where ``dask.delayed`` tokenises
    every argument (more time than the statistics themselves for 100 runs). Keys are
    deterministic: a read task's key depends only on the store, group and unit block,
    so two statistics computed together share it and each array is read once.

    Parameters
    ----------
    stat : str
        Name of the statistic (key prefix).
    params : object
        Everything the tasks depend on besides the groups (repr-able).
    groups : sequence of GroupInfo
        The groups analysed.
    """

    def __init__(self, stat: str, params: Any, groups: Sequence[GroupInfo]) -> None:
        self.stat = stat
        self.token = _digest(
            stat, params, [(_source_id(g), g.path, g.n_units, g.n_spikes) for g in groups]
        )
        self.layer: dict[Any, Any] = {}
        self.collections: list[Any] = []

    def key(self, label: str) -> str:
        """A key for an intermediate task of this plan."""
        return f"{self.stat}-{label}-{self.token}"

    def spikes(self, info: GroupInfo, lo: int, hi: int) -> str:
        """Key of the task that reads units ``[lo, hi)`` of ``info`` (a :class:`Spikes`)."""
        if isinstance(info.source, str):
            key = "opsnn-spikes-" + _digest(info.source, info.path, lo, hi)
            self.layer[key] = (
                read_spikes_zarr,
                info.source,
                info.path,
                lo,
                hi,
                info.n_units,
                list(info.unit_coords),
                dict(info.spike_attrs),
                info.array_meta or None,
            )
            return key
        ds = info.source
        counts = info.counts if info.counts is not None else np.zeros(0, dtype=np.int64)
        first, last = int(counts[:lo].sum()), int(counts[:hi].sum())
        arrays = [ds[SPIKE_TIME].data[first:last]]
        arrays += [ds[name].data[lo:hi] for name in info.unit_coords]
        arrays = [a.rechunk(-1) for a in arrays]  # one chunk each: (name, 0)
        self.collections.extend(arrays)
        key = "opsnn-spikes-" + _digest(*(a.name for a in arrays))
        self.layer[key] = (
            spikes_from_arrays,
            (arrays[0].name, 0),
            counts[lo:hi],
            list(info.unit_coords),
            [(a.name, 0) for a in arrays[1:]],
        )
        return key

    def signal(self, info: GroupInfo, signal: SignalInfo, lo: int, hi: int) -> str:
        """Key of the task that reads channels ``[lo, hi)`` of a signal (float64)."""
        if isinstance(info.source, str):
            key = "opsnn-signal-" + _digest(info.source, info.path, signal.name, lo, hi)
            self.layer[key] = (signal_block, info.source, info.path, signal.name, lo, hi)
            return key
        array = info.source[signal.name].data[:, lo:hi].rechunk(-1)
        self.collections.append(array)
        key = "opsnn-signal-" + _digest(array.name)
        self.layer[key] = (np.asarray, (array.name, 0, 0), np.float64)
        return key

    def task(self, label: str, *task: Any) -> str:
        """Add an intermediate task ``(func, *args)``; returns its key."""
        key = self.key(label)
        self.layer[key] = task
        return key

    def array(
        self,
        label: str,
        blocks: Sequence[tuple[Any, ...]],
        chunks: tuple[tuple[int, ...], ...],
        dtype: Any = np.float64,
        *,
        name: str | None = None,
    ) -> Any:
        """A dask array whose block ``i`` (along the first axis) is computed by ``blocks[i]``.

        Every block spans the whole of the other axes. ``name`` (default: from the
        plan's token) lets statistics share an array, e.g. a coordinate.
        """
        import dask.array as da
        from dask.highlevelgraph import HighLevelGraph

        name = name or self.key(label)
        tail = (0,) * (len(chunks) - 1)
        for i, task in enumerate(blocks):
            self.layer[(name, i, *tail)] = task
        if not blocks:
            return da.zeros(tuple(sum(c) for c in chunks), dtype=dtype)
        graph = HighLevelGraph.from_collections(name, self.layer, dependencies=self.collections)
        return da.Array(graph, name, chunks=chunks, dtype=dtype)


def load_spikes(info: GroupInfo) -> Spikes:
    """All spikes of a group, read now (for plots of one run)."""
    import dask

    plan = Plan("load", (), [info])
    key = plan.spikes(info, 0, info.n_units)
    array = plan.array("load", [(_wrap, key)], ((1,),), object)
    return dask.compute(array)[0][0]


def _wrap(value: Any) -> np.ndarray:
    out = np.empty(1, dtype=object)
    out[0] = value
    return out


def spikes_from_arrays(
    times: np.ndarray, counts: np.ndarray, names: Sequence[str], coords: Sequence[np.ndarray]
) -> Spikes:
    """Spikes from arrays already read (the task of a DataTree source)."""
    return Spikes(
        times=np.asarray(times, dtype=np.float64),
        counts=np.asarray(counts, dtype=np.int64),
        coords={k: np.asarray(v) for k, v in zip(names, coords, strict=True)},
    )


# --------------------------------------------------------------------------- run sets


class RunSet:
    """The runs one or more statistics read.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per run, indexed by run id; ``model``, ``simulator``, ``seed`` and the
        parameter columns become coordinates of the results.
    sources : Mapping[str, str or xarray.DataTree]
        Each run's store directory (read with zarr inside the tasks: the fast path) or
        its lazily opened DataTree.

    Build one with :func:`as_runset`, which accepts everything the statistics accept.
    """

    def __init__(self, table: pd.DataFrame, sources: Mapping[str, Any]) -> None:
        missing = [r for r in table.index if r not in sources]
        if missing:
            raise SchemaError(f"RunSet: no store or tree for runs {missing[:5]}")
        self.table = table
        self.sources = dict(sources)
        self._groups: list[GroupInfo] | None = None
        self._units: dict[str, str] | None = None

    def parameter_units(self) -> dict[str, str]:
        """Units the runs' model files declare (``UNITS``), by coordinate name."""
        if self._units is None:
            from opsnn_lake.display import units_of_sources

            models = self.table["model"] if "model" in self.table.columns else None
            firsts = (
                self.table.groupby(models, dropna=False).head(1)
                if models is not None
                else self.table.head(1)
            )
            units = units_of_sources(self.sources[r] for r in firsts.index)
            names = set(self.parameter_names())
            self._units = {_coord_name(k): u for k, u in units.items() if k in names}
        return self._units

    def with_units(self, result: Any) -> Any:
        """``result`` with a ``units`` attribute on its parameter coordinates (for axes)."""
        for name, unit in self.parameter_units().items():
            if name in result.coords:
                result[name].attrs["units"] = unit
        return result

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return f"RunSet({len(self)} runs, parameters {self.parameter_names()})"

    @property
    def run_ids(self) -> list[str]:
        """Run ids, in the order of the results."""
        return list(self.table.index)

    def parameter_names(self) -> list[str]:
        """Columns that become coordinates: model, simulator, seed and the parameters."""
        return [
            c
            for c in self.table.columns
            if c in RUN_COLUMNS or (c not in FIXED_COLUMNS and not c.startswith("_"))
        ]

    def groups(self) -> list[GroupInfo]:
        """Every group of every run, from the stores' metadata (read once and kept)."""
        if self._groups is None:
            self._groups = [g for run in self.run_ids for g in self._run_groups(run)]
        return self._groups

    def _run_groups(self, run: str) -> list[GroupInfo]:
        source = self.sources[run]
        if isinstance(source, str):
            return _read_meta(run, source)
        return _tree_groups(run, source)

    def select(
        self,
        *,
        segments: str | Sequence[str] | None = None,
        populations: str | Sequence[str] | None = None,
        spikes: bool = True,
    ) -> list[GroupInfo]:
        """Groups matching the segment and population names (or original labels).

        Raises
        ------
        SchemaError
            If a name given matches no group of any run (the message lists the names).
        """
        groups = self.groups()
        if spikes:
            groups = [g for g in groups if g.has_spikes]
        for key, wanted in (("segment", segments), ("population", populations)):
            if wanted is None:
                continue
            names = {wanted} if isinstance(wanted, str) else set(wanted)
            known = {getattr(g, key) for g in groups} | (
                {g.label for g in groups if g.label} if key == "population" else set()
            )
            unknown = names - known
            if unknown:
                raise SchemaError(
                    f"no {key} named {sorted(unknown)} in the selected runs; "
                    f"known: {sorted(str(k) for k in known)}"
                )
            groups = [
                g
                for g in groups
                if getattr(g, key) in names or (key == "population" and g.label in names)
            ]
        return groups

    def parameter_coords(
        self, runs: Sequence[str], repeats: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Parameter columns as coordinate values: one per entry of ``runs``, each
        repeated ``repeats`` times if given (one per unit of a group).

        A parameter constant across the run set becomes a zero-stride broadcast, so a
        per-unit coordinate of a constant parameter costs no memory.
        """
        position = pd.Index(self.table.index).get_indexer(list(runs))
        size = len(position) if repeats is None else int(np.sum(repeats))
        out: dict[str, np.ndarray] = {}
        for name in self.parameter_names():
            column = self.table[name]
            values = column.to_numpy()
            if values.dtype.kind not in "biufcmM":
                values = values.astype(object)
            if len(values) and column.nunique(dropna=False) <= 1:
                coord = np.broadcast_to(values[:1], (size,))
            else:
                coord = values[position]
                if repeats is not None:
                    coord = np.repeat(coord, repeats)
            out[_coord_name(name)] = coord
        return out


def _coord_name(name: str) -> str:
    return f"param_{name}" if name in RESERVED else name


def _read_meta(run: str, path: str) -> list[GroupInfo]:
    meta = _store.read_metadata(path)  # verified against the store's manifest
    groups = _group_meta_from_json(run, path, meta)
    return [_per_unit_bounds(g) for g in groups]


def _tree_groups(run: str, tree: xr.DataTree) -> list[GroupInfo]:
    attrs = dict(tree.attrs)
    check_root_attrs(attrs, where=f"DataTree of run {run!r}")
    groups = []
    for segment in attrs.get("segments", []):
        for population in tree[segment].attrs.get("populations", []):
            node = tree[f"{segment}/{population}"]
            ds = node.to_dataset()
            arrays = {
                name: {
                    "shape": list(var.shape),
                    "dimension_names": list(var.dims),
                    "attributes": {**var.attrs, **var.encoding},
                    "node_type": "array",
                }
                for name, var in ds.variables.items()
            }
            info = _group_info(run, segment, population, dict(node.attrs), arrays, source=ds)
            if info.has_spikes or SPIKE_COUNT in ds:
                # Unit blocks need offsets before the graph is built: the counts are small.
                counts = np.asarray(ds[SPIKE_COUNT].values, dtype=np.int64)
                info = GroupInfo(**{**info.__dict__, "counts": counts})
            groups.append(_per_unit_bounds(info))
    return groups


def _table_from_attrs(attrs_by_run: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    rows = [row_from_attrs(attrs, path="", nbytes=0) for attrs in attrs_by_run.values()]
    frame = pd.DataFrame(rows).set_index("run_id")
    renames = {
        c: c[len(PARAM_PREFIX) :]
        for c in frame.columns
        if c.startswith(PARAM_PREFIX) and c[len(PARAM_PREFIX) :] not in FIXED_COLUMNS
    }
    return frame.rename(columns=renames)


def as_runset(runs: Any, lake: Lake | None = None) -> RunSet:
    """Normalise what the statistics accept into a :class:`RunSet`.

    Parameters
    ----------
    runs : RunSet, Lake, DataFrame, run id(s), DataTree(s) or intake catalog
        * a ``lake.search(...)`` DataFrame (with ``lake``), run ids (with ``lake``), or a
          Lake (all its runs): stores are read directly with zarr;
        * an intake catalog from ``intake.open_catalog("catalogs/lake.yaml")["lake"]``
          or its ``.search(...)``: its lake and runs;
        * one ``lake.open(run_id)`` DataTree, or several (a sequence or a mapping by
          run id): their dask arrays are read.
    lake : Lake, optional
        The lake of a DataFrame or of run ids.

    Raises
    ------
    SchemaError
        If a DataFrame or run ids come without their lake, or the input is of a type
        the analyses do not read.
    """
    import xarray as xr

    from opsnn_lake.lake import Lake

    if isinstance(runs, RunSet):
        return runs
    catalog = _from_catalog(runs)
    if catalog is not None:
        return catalog
    if isinstance(runs, Lake):
        return _from_frame(runs.search(), runs)
    if isinstance(runs, str | os.PathLike) and lake is None and Path(runs, "lake.json").is_file():
        found = Lake(runs, mode="r")
        return _from_frame(found.search(), found)
    if isinstance(runs, str):
        runs = [runs]
    if isinstance(runs, xr.DataTree):
        return _from_trees([runs])
    if (
        isinstance(runs, Mapping)
        and runs
        and all(isinstance(v, xr.DataTree) for v in runs.values())
    ):
        return _from_trees(list(runs.values()))
    if isinstance(runs, pd.DataFrame | pd.Index):
        if lake is None:
            raise SchemaError("a lake.search() result needs its lake: pass lake=Lake(...) as well")
        if isinstance(runs, pd.DataFrame) and "path" in runs.columns:
            return _from_frame(runs, lake)
        ids = list(runs.index if isinstance(runs, pd.DataFrame) else runs)
        return _from_ids(ids, lake)
    if isinstance(runs, Iterable):
        items = list(runs)
        if items and all(isinstance(i, xr.DataTree) for i in items):
            return _from_trees(items)
        if all(isinstance(i, str) for i in items):
            if lake is None:
                raise SchemaError("run ids need their lake: pass lake=Lake(...) as well")
            return _from_ids(items, lake)
    raise SchemaError(
        f"cannot analyse a {type(runs).__name__}: pass a lake.search() DataFrame with "
        "lake=, run ids with lake=, a Lake, an intake catalog (search result), or "
        "lake.open() DataTrees"
    )


def _from_ids(ids: Sequence[str], lake: Lake) -> RunSet:
    ids = [lake.resolve_run_id(i) if isinstance(i, str) else i for i in ids]  # prefixes
    frame = lake.search(run_id=list(ids)) if ids else lake.search().iloc[:0]
    missing = [i for i in ids if i not in frame.index]
    if missing:
        raise RunNotFoundError(f"{lake.path}: no run {', '.join(map(repr, missing[:5]))}; "
                               "see lake.search() or `opsnn-lake ls`")  # fmt: skip
    return _from_frame(frame.loc[list(dict.fromkeys(ids))], lake)


def _from_frame(frame: pd.DataFrame, lake: Lake | Path) -> RunSet:
    if "path" not in frame.columns:
        raise SchemaError("the DataFrame has no 'path' column: pass a lake.search() result")
    lake_dir = Path(lake if isinstance(lake, Path) else lake.path)
    sources = {run: str(lake_dir / path) for run, path in frame["path"].items()}
    for run, rel in frame["path"].items():
        # A run's store is always runs/<id>.zarr: an edited path must not serve another
        # run's data (or a store outside the lake) under this run's id.
        if Path(str(rel)) != Path("runs", f"{run}.zarr"):
            raise CorruptStoreError(
                f"{lake_dir}: the index row of run {run!r} points to {rel!r}, not to its "
                "store; the index was changed by hand — run `opsnn-lake check --repair` "
                "to rewrite it"
            )
    for run, path in sources.items():
        if not Path(path).is_dir():
            raise SchemaError(
                f"{lake_dir}: the store of run {run!r} is missing ({path}); run `opsnn-lake check`"
            )
    return RunSet(frame, sources)


def _from_trees(trees: Sequence[xr.DataTree]) -> RunSet:
    attrs = {}
    sources = {}
    for tree in trees:
        run = tree.attrs.get("run_id")
        if not isinstance(run, str):
            raise SchemaError("a DataTree without a run_id attribute: open runs with lake.open()")
        attrs[run] = dict(tree.attrs)
        sources[run] = tree
    return RunSet(_table_from_attrs(attrs), sources)


def _from_catalog(obj: Any) -> RunSet | None:
    """A RunSet from the lake's intake catalog (or a search of it, or one of its runs)."""
    import sys

    if "opsnn_lake.catalog" not in sys.modules:  # no catalog object can exist yet
        return None
    from opsnn_lake.catalog import LakeCatalog, RunEntry, RunSource

    if isinstance(obj, LakeCatalog):
        return _from_frame(obj.to_dataframe(), obj.lake_dir)
    if isinstance(obj, RunEntry):
        obj = obj.get()
    if isinstance(obj, RunSource):
        return _from_frame(pd.DataFrame([obj.metadata]).set_index("run_id"), obj.path.parent.parent)
    return None


# --------------------------------------------------------------------------- results


def _multiindex(
    levels: Sequence[tuple[str, Sequence[Any]]], repeats: np.ndarray | None = None
) -> pd.MultiIndex:
    """A MultiIndex from per-entry level values (optionally repeated), built from codes."""
    arrays, codes, names = [], [], []
    for name, values in levels:
        uniques, inverse = np.unique(np.asarray(values, dtype=object), return_inverse=True)
        if repeats is not None:
            inverse = np.repeat(inverse, repeats)
        arrays.append(pd.Index(uniques, dtype=object, name=name))
        codes.append(inverse)
        names.append(name)
    return pd.MultiIndex(levels=arrays, codes=codes, names=names, verify_integrity=False)


def unit_result(
    runset: RunSet,
    groups: Sequence[GroupInfo],
    data: Any,
    *,
    name: str,
    attrs: Mapping[str, Any],
    dim: str = "unit",
    sizes: Sequence[int] | None = None,
    extra_dims: Mapping[str, Any] | None = None,
    coords: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Wrap a per-unit (or per-channel) dask array into a DataArray with coordinates.

    ``data`` has one entry per unit of every group along ``dim`` (``sizes``: entries
    per group, default ``n_units``), then ``extra_dims``. The dim gets a MultiIndex
    (run, segment, population, ``<dim>_index``), the runs' parameters as coordinates,
    and ``coords`` (arrays along ``dim``).
    """
    import xarray as xr

    counts = np.asarray([g.n_units for g in groups] if sizes is None else sizes, dtype=np.int64)
    extra = dict(extra_dims or {})
    index = _multiindex(
        [
            ("run", [g.run for g in groups]),
            ("segment", [g.segment for g in groups]),
            ("population", [g.population for g in groups]),
        ],
        repeats=counts,
    )
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    index = pd.MultiIndex(
        levels=[*index.levels, pd.Index(np.arange(int(counts.max(initial=0))))],
        codes=[*index.codes, within],
        names=[*index.names, f"{dim}_index"],
        verify_integrity=False,
    )
    result = xr.DataArray(
        data,
        dims=(dim, *extra),
        coords=xr.Coordinates.from_pandas_multiindex(index, dim),
        name=name,
        attrs=dict(attrs),
    )
    params = runset.parameter_coords([g.run for g in groups], repeats=counts)
    other = {k: (dim, v) for k, v in (coords or {}).items()}
    result = result.assign_coords({**{k: (dim, v) for k, v in params.items()}, **other, **extra})
    return runset.with_units(result)


def group_result(
    runset: RunSet,
    keys: Sequence[tuple[str, ...]],
    data: Any,
    *,
    name: str,
    attrs: Mapping[str, Any],
    levels: Sequence[str] = ("run", "segment", "population"),
    extra_dims: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Wrap a per-group dask array (groups along the first axis) into a DataArray.

    ``keys`` name each group by ``levels`` (run first); the dim ``group`` gets a
    MultiIndex of them and the runs' parameters as coordinates.
    """
    import xarray as xr

    extra = dict(extra_dims or {})
    index = _multiindex([(level, [k[i] for k in keys]) for i, level in enumerate(levels)])
    result = xr.DataArray(
        data,
        dims=("group", *extra),
        coords=xr.Coordinates.from_pandas_multiindex(index, "group"),
        name=name,
        attrs=dict(attrs),
    )
    params = runset.parameter_coords([k[0] for k in keys])
    result = result.assign_coords({**{k: ("group", v) for k, v in params.items()}, **extra})
    return runset.with_units(result)


def per_unit(plan: Plan, groups: Sequence[GroupInfo], make: Any) -> tuple[Any, dict[str, Any]]:
    """A per-unit statistic: one task per group and unit block, ``make(g, lo, hi, key)``
    giving the task from the key of the block's spikes; plus ``channel_id`` from the
    same reads when every group has it."""
    blocks, ids, sizes, keys = [], [], [], []
    for g in groups:
        for lo, hi in g.unit_blocks():
            key = plan.spikes(g, lo, hi)
            blocks.append(make(g, lo, hi, key))
            ids.append((unit_coord, key, "channel_id"))
            sizes.append(hi - lo)
            keys.append(key)
    chunks = (tuple(sizes),)
    data = plan.array(plan.stat, blocks, chunks)
    coords = {}
    if groups and all("channel_id" in g.unit_coords for g in groups):
        # Named after the reads alone: rate, CV and Fano computed together share it.
        name = "opsnn-channel_id-" + _digest(*keys)
        coords["channel_id"] = plan.array("channel_id", ids, chunks, np.int64, name=name)
    return data, coords


def unit_coord(spikes: Spikes, name: str) -> np.ndarray:
    """A unit coordinate read with the spikes (a task)."""
    return np.asarray(spikes.coords[name], dtype=np.int64)


def as_ms(value: Any, name: str) -> float | None:
    """A time given as a float (ms) or a ``quantities`` Quantity, in ms."""
    if value is None:
        return None
    if isinstance(value, pq.Quantity):
        try:
            return float(value.rescale(pq.ms).magnitude)
        except ValueError as err:
            raise SchemaError(f"{name}={value!r} is not a time: {err}") from None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SchemaError(f"{name}={value!r}: expected a number of ms or a Quantity") from None
