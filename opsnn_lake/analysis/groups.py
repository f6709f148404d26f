"""The metadata model: a run's spike groups and signals, known before any array is read.

Each run's groups (``<segment>/<population>``) come from one document, the store's root
``zarr.json`` with its consolidated metadata (a DataTree gives the same document, see
:mod:`opsnn_lake.analysis.reading`): sizes, time bounds and units. A statistic plans its
tasks from them, one per group, or per block of units when a group holds more than
``opsnn_lake.analysis.spikes-per-task`` spikes (dask config, default 2,000,000), so a
task's memory stays bounded however many runs are analysed.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import dask
import numpy as np
import quantities as pq

from opsnn_lake.analysis.reading import RunSource
from opsnn_lake.errors import SchemaError
from opsnn_lake.schema import SPIKE_COUNT, SPIKE_TIME, SpikeLayout, check_root_attrs

__all__ = [
    "CONFIG_KEY",
    "DEFAULT_SPIKES_PER_TASK",
    "GroupInfo",
    "SignalInfo",
    "read_groups",
    "signal_ids",
    "spikes_per_task",
]

CONFIG_KEY = "opsnn_lake.analysis.spikes-per-task"
DEFAULT_SPIKES_PER_TASK = 2_000_000


def spikes_per_task() -> int:
    """The most spikes a task holds (dask config ``opsnn_lake.analysis.spikes-per-task``)."""
    return max(1, int(dask.config.get(CONFIG_KEY, DEFAULT_SPIKES_PER_TASK)))


@dataclass(frozen=True)
class SignalInfo:
    """One analog signal of a group: ``name`` on dims (time, channel).

    ``attrs`` are the array's attributes (units, and the CF packing to decode).
    """

    name: str
    shape: tuple[int, int]
    time_dim: str
    channel_dim: str
    units: str
    channel_ids: str | None  # name of the coordinate holding the channels' global ids
    attrs: Mapping[str, Any] | None = None


@dataclass(frozen=True, eq=False)
class GroupInfo:
    """One ``<segment>/<population>`` group of one run, from the store's metadata.

    ``t_start``/``t_stop`` are floats when uniform, else per-unit arrays, in
    ``time_units`` (the spike trains' own unit, normally ms); ``ms`` converts them to ms.
    ``reader`` reads the group's arrays; ``source`` is the store path (or, for a
    DataTree, the group's Dataset), for callers that look at the group themselves.
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
    reader: RunSource
    source: Any
    spike_attrs: Mapping[str, Any]

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
        own_lo, own_hi = self.train_bounds()
        lo = own_lo if t_start is None else self.native(t_start)
        hi = own_hi if t_stop is None else self.native(t_stop)
        return lo, hi

    def train_bounds(self) -> tuple[float | np.ndarray, float | np.ndarray]:
        """The trains' own ``t_start``/``t_stop`` (group's time unit; per unit if they differ).

        Raises
        ------
        SchemaError
            If the group holds no spike trains (signals only).
        """
        if self.t_start is None or self.t_stop is None:
            raise SchemaError(f"{self.where()}: the group holds no spike trains")
        return self.t_start, self.t_stop

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
        own_lo, own_hi = self.train_bounds()
        shared_lo = float(np.max(own_lo)) if np.size(own_lo) else 0.0
        shared_hi = float(np.min(own_hi)) if np.size(own_hi) else 0.0
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
        if self.n_spikes <= spikes_per_task():
            return [(0, self.n_units)]  # the usual case, without numpy
        n_blocks = max(1, -(-self.n_spikes // spikes_per_task()))
        n_blocks = min(n_blocks, max(1, self.n_units))
        edges = np.linspace(0, self.n_units, n_blocks + 1).round().astype(int)
        return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]

    def block_spikes(self, lo: int, hi: int) -> int:
        """Expected spikes in units ``[lo, hi)`` (the group's mean rate; for batching)."""
        return self.n_spikes * (hi - lo) // max(1, self.n_units)


@functools.cache
def _from_ms(units: str) -> float:
    return float(pq.Quantity(1.0, pq.ms).rescale(units).magnitude)


@functools.cache
def _to_ms(units: str) -> float:
    try:
        return float(pq.Quantity(1.0, units).rescale(pq.ms).magnitude)
    except (LookupError, ValueError) as err:
        raise SchemaError(f"spike times in {units!r}, which is not a time unit: {err}") from None


def read_groups(run: str, reader: RunSource, *, where: str) -> list[GroupInfo]:
    """Every group of one run, from its metadata document (per-unit bounds read now).

    Raises
    ------
    SchemaError
        If the document has no consolidated metadata or its root attributes break the
        contract.
    """
    meta = reader.metadata()
    nodes = meta.get("consolidated_metadata", {}).get("metadata")
    if not isinstance(nodes, Mapping):
        raise SchemaError(f"{where}: no consolidated metadata in zarr.json; run `opsnn-lake check`")
    attrs = meta.get("attributes", {})
    check_root_attrs(attrs, where=where)
    groups = []
    for segment in attrs.get("segments", []):
        seg = nodes.get(segment, {})
        for population in seg.get("attributes", {}).get("populations", []):
            gpath = f"{segment}/{population}"
            arrays = {
                key[len(gpath) + 1 :]: value
                for key, value in nodes.items()
                if key.startswith(gpath + "/") and value.get("node_type") == "array"
            }
            gattrs = nodes.get(gpath, {}).get("attributes", {})
            info = _group_info(run, segment, population, gattrs, arrays, reader)
            trains = gattrs.get("spiketrains") is not None and SPIKE_TIME in arrays
            groups.append(_per_unit_bounds(info) if trains else info)
    return groups


def _spike_fields(
    trains: SpikeLayout | None, arrays: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The GroupInfo fields of a group's spike trains (none: a group of signals only)."""
    if trains is None or SPIKE_TIME not in arrays:
        return {"n_units": 0, "n_spikes": 0, "t_start": None, "t_stop": None,
                "time_units": "ms", "unit_coords": (), "spike_attrs": {}}  # fmt: skip
    spike_attrs = dict(arrays[SPIKE_TIME].get("attributes", {}))
    return {
        "n_units": int(arrays[SPIKE_COUNT]["shape"][0]),
        "n_spikes": int(arrays[SPIKE_TIME]["shape"][0]),
        "t_start": trains.t_start,
        "t_stop": trains.t_stop,
        "time_units": spike_attrs.get("units", "ms"),
        "unit_coords": tuple(
            name
            for name in ("channel_id", "source_index")
            if name in arrays and list(arrays[name].get("dimension_names") or []) == ["unit"]
        ),
        "spike_attrs": spike_attrs,
    }


def _signal_info(name: str, meta: Mapping[str, Any]) -> SignalInfo:
    dims = list(meta.get("dimension_names") or [])
    attrs = dict(meta.get("attributes", {}))
    ids = (attrs.get("neo", {}).get("channel_annotation_vars") or {}).get("channel_ids")
    return SignalInfo(
        name=name,
        shape=(int(meta["shape"][0]), int(meta["shape"][1])),
        time_dim=dims[0],
        channel_dim=dims[1],
        units=str(attrs.get("units", "")),
        channel_ids=ids,
        attrs=attrs,
    )


def _layout(gattrs: Mapping[str, Any], where: str) -> SpikeLayout | None:
    raw = gattrs.get("spiketrains")
    return None if raw is None else SpikeLayout.from_dict(raw, where=where)


def _group_info(
    run: str,
    segment: str,
    population: str,
    gattrs: Mapping[str, Any],
    arrays: Mapping[str, Mapping[str, Any]],
    reader: RunSource,
) -> GroupInfo:
    """A GroupInfo from a group's attrs and its arrays' metadata (shape, dims, attrs)."""
    signals = tuple(
        _signal_info(name, arrays[name]) for name in gattrs.get("signals", []) if name in arrays
    )
    return GroupInfo(
        run=run,
        segment=segment,
        population=population,
        label=gattrs.get("label"),
        signals=signals,
        reader=reader,
        source=reader.handle(f"{segment}/{population}"),
        **_spike_fields(_layout(gattrs, f"run {run!r} group {segment}/{population}"), arrays),
    )


def _per_unit_bounds(info: GroupInfo) -> GroupInfo:
    """Read per-unit t_start/t_stop (stored when trains differ) into the GroupInfo."""
    missing = [b for b in ("t_start", "t_stop") if getattr(info, b) is None]
    if not missing:
        return info
    got = info.reader.read(info.path, dict.fromkeys(missing, Ellipsis))
    lo = np.asarray(got["t_start"], dtype=float) if "t_start" in got else info.t_start
    hi = np.asarray(got["t_stop"], dtype=float) if "t_stop" in got else info.t_stop
    return replace(info, t_start=lo, t_stop=hi)


def signal_ids(info: GroupInfo, signal: SignalInfo) -> np.ndarray | None:
    """Global ids of a signal's channels (small; read when the result is assembled)."""
    if signal.channel_ids is None:
        return None
    name = signal.channel_ids
    return np.asarray(info.reader.read(info.path, {name: Ellipsis})[name])
