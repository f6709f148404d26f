"""Lossless conversion between neo Blocks and run-store nodes.

:func:`block_to_nodes` validates a Block and lays it out as :class:`~opsnn_lake.schema.Node`
objects (one per segment and population); :func:`nodes_to_block` inverts it, so
``nodes_to_block(block_to_nodes(b))`` equals ``b``: spike times and signal values bitwise,
units, t_start/t_stop, sampling rates, names, descriptions, annotations (with their
Python or numpy types) and array_annotations, and the order of trains and signals in
each segment.

Spike trains come back as a :class:`LazySpikeTrains` list that holds the flat arrays and
builds per-train ``SpikeTrain`` objects only when they are used (in O(spikes), where
neo's own ``from_spike_time_array`` masks once per channel).
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, cast

import neo
import numpy as np
import quantities as pq

from opsnn_lake import _versions, jsonable
from opsnn_lake.errors import SchemaError
from opsnn_lake.schema import (
    DIM_SPIKE,
    DIM_TIME,
    DIM_UNIT,
    SPIKE_COUNT,
    SPIKE_TIME,
    Node,
    SpikeLayout,
    Variable,
    sanitize_label,
    unique_names,
)

__all__ = [
    "DEFAULT_TRAIN_ATTRIBUTES",
    "LazySpikeTrains",
    "SignalAxes",
    "SpikeGroup",
    "add_signal",
    "block_to_nodes",
    "merge_blocks",
    "nodes_to_block",
    "spike_group",
    "time_scale",
]

POPULATION_KEY = "source_population"  # PyNN's annotation naming a train's population
_MISSING = {"__missing__": True}
_CONTAINER_ATTRS = ("name", "description", "file_origin", "file_datetime", "rec_datetime", "index")
_TRAIN_ATTRS = ("name", "description", "file_origin", "sampling_rate", "left_sweep")
_RESERVED = {SPIKE_TIME, SPIKE_COUNT, "t_start", "t_stop", DIM_UNIT, DIM_TIME, DIM_SPIKE}
# Python scalar types of per-train annotations stored as unit coordinates; restored on
# reading so that an ``int`` annotation does not come back as ``numpy.int64``.
_PYTHON_SCALARS = {bool: "bool", int: "int", float: "float"}
# Candidate resolutions (in the trains' units) tried for packing spike times as integers:
# NEST's tic (0.001 ms) first, as NEST computes times as tics * 0.001.
_SCALES = (0.001, 0.1, 0.01, 0.025, 0.05, 1.0, 0.0001, 1e-6)
# What neo gives every SpikeTrain made without them (its defaults), encoded once: the
# attributes of trains built from flat arrays (the fast path, the tonic view).
DEFAULT_TRAIN_ATTRIBUTES = {
    "name": None,
    "description": None,
    "file_origin": None,
    "sampling_rate": jsonable.encode(1.0 * pq.Hz),
    "left_sweep": None,
}
_TIME = pq.s.dimensionality.string
_FREQUENCY = pq.Hz.simplified.dimensionality.string


def time_scale(times: np.ndarray, candidates: Sequence[float] = _SCALES) -> float | None:
    """Return a scale ``s`` with ``rint(times / s) * s == times`` bitwise, or None.

    Spike times of time-driven simulators lie on a grid; stored as integer multiples
    of ``s`` (CF ``scale_factor``) they delta-compress to about 1.3 bytes a spike, while
    staying bitwise equal on decoding. Times off every grid are stored as float64.

    Parameters
    ----------
    times : numpy.ndarray
        Spike times (float64; any other dtype gives None).
    candidates : sequence of float
        Scales to try, in order.

    Returns
    -------
    float or None
        The first candidate that reproduces every time bitwise.
    """
    if times.dtype != np.float64 or times.size == 0 or not np.isfinite(times).all():
        return None
    for scale in candidates:
        k = np.rint(times / scale)
        if np.abs(k).max() < 2**52 and np.array_equal(
            (k * scale).view(np.int64), times.view(np.int64)
        ):
            return scale
    return None


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many objects.

    Creating 10^5 SpikeTrains triggers repeated full collections that walk every live
    object: three quarters of the time, for no garbage (nothing is freed meanwhile).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@functools.cache
def _dims_of(units: str) -> str:
    """Simplified dimensionality of a unit string (``"ms"`` → ``"s"``), cached: slow in pq."""
    return pq.Quantity(1.0, units).simplified.dimensionality.string


@functools.cache
def _unit(units: str) -> pq.Quantity:
    """A unit object for a unit string; neo builds objects far faster from these."""
    return pq.Quantity(1.0, units).units


# --------------------------------------------------------------------------- writing


def merge_blocks(blocks: Mapping[str, neo.Block], *, name: str | None = None) -> neo.Block:
    """Merge the per-population Blocks of one PyNN run (``pop.get_data()`` each) into one.

    Segment ``i`` of the result holds segment ``i`` of every Block; each Block's own
    annotations (PyNN's population size, ids, label…) are kept under
    ``annotations["populations"][label]``.

    Parameters
    ----------
    blocks : Mapping[str, neo.Block]
        Blocks by population label, all with the same number of segments.
    name : str, optional
        Name of the merged Block.

    Returns
    -------
    neo.Block
        One Block holding every population's trains and signals.

    Raises
    ------
    SchemaError
        If the Blocks have different numbers of segments.
    """
    merged = neo.Block(name=name, populations={k: dict(b.annotations) for k, b in blocks.items()})
    counts = {label: len(b.segments) for label, b in blocks.items()}
    if len(set(counts.values())) > 1:
        raise SchemaError(f"merge_blocks: populations have different segment counts {counts}")
    for i in range(max(counts.values(), default=0)):
        first = next(iter(blocks.values())).segments[i]
        seg = neo.Segment(name=first.name, description=first.description, index=i)
        seg.rec_datetime = first.rec_datetime
        for block in blocks.values():
            part = block.segments[i]
            seg.spiketrains.extend(part.spiketrains)
            seg.analogsignals.extend(part.analogsignals)
        merged.segments.append(seg)
        seg.block = merged
    return merged


def block_to_nodes(block: neo.Block, *, where: str = "block") -> dict[str, Node]:
    """Lay out a neo Block as store nodes (root metadata excluded).

    Parameters
    ----------
    block : neo.Block
        The Block to store. Each segment may hold spike trains and analog signals;
        they are grouped by population (PyNN's ``source_population`` annotation).
    where : str
        Name of the Block's origin (file name, run) used in error messages.

    Returns
    -------
    dict[str, Node]
        Nodes keyed by group path: ``""`` (root: block metadata), ``"<segment>"``, and
        ``"<segment>/<population>"``.

    Raises
    ------
    SchemaError
        If the Block holds something the store cannot keep losslessly: NaN or
        out-of-range or unsorted spike times, time units that are not times or differ
        within one population, waveforms, events/epochs/irregular signals, or
        annotations with no JSON form. The message names the segment, the object and
        the problem.
    """
    if not isinstance(block, neo.Block):
        raise SchemaError(f"{where}: expected a neo.Block, got {type(block).__name__}")
    if block.groups:
        raise SchemaError(
            f"{where}: the Block has {len(block.groups)} neo Groups; schema v1 keeps segments, "
            "spike trains and analog signals only (remove the groups or store them separately)"
        )
    root = Node(attrs={"block": _container_meta(block, where=where)})
    nodes: dict[str, Node] = {"": root}
    seg_names = unique_names([seg.name for seg in block.segments], prefix="segment")
    root.attrs["segments"] = seg_names
    for i, (seg, seg_name) in enumerate(zip(block.segments, seg_names, strict=True)):
        nodes.update(_segment_nodes(seg, seg_name, where=f"{where}, segment {i} ({seg.name!r})"))
    return nodes


def _segment_nodes(seg: neo.Segment, seg_name: str, *, where: str) -> dict[str, Node]:
    for kind in ("irregularlysampledsignals", "events", "epochs", "imagesequences"):
        if getattr(seg, kind, None):
            raise SchemaError(
                f"{where}: holds {len(getattr(seg, kind))} {kind}; schema v1 stores spike "
                "trains and analog signals only"
            )
    trains = list(seg.spiketrains)
    signals = list(seg.analogsignals)
    for i, obj in enumerate(trains):
        if not isinstance(obj, neo.SpikeTrain):
            raise SchemaError(f"{where}, spike train {i}: is a {type(obj).__name__}")
    # Populations in order of first appearance; None for objects that name none.
    train_labels = [_population_of(st) for st in trains]
    signal_labels = [_population_of(sig) for sig in signals]
    labels = list(dict.fromkeys(train_labels + signal_labels))
    pop_names = unique_names(labels, prefix="population")
    seg_node = Node(attrs={"segment": _container_meta(seg, where=where), "populations": pop_names})
    nodes = {seg_name: seg_node}
    train_pos: list[list[int]] = []
    signal_pos: list[list[int]] = []
    for label, pop_name in zip(labels, pop_names, strict=True):
        t_idx = [i for i, lab in enumerate(train_labels) if lab == label]
        s_idx = [i for i, lab in enumerate(signal_labels) if lab == label]
        train_pos.append(t_idx)
        signal_pos.append(s_idx)
        pop_where = f"{where}, population {label!r}"
        node = Node(attrs={"label": label, "label_from_annotation": label is not None})
        axes = SignalAxes(
            unit_ids=_add_spikes(node, [trains[i] for i in t_idx], t_idx, where=pop_where)
        )
        for i in s_idx:
            add_signal(node, signals[i], axes, where=f"{pop_where}, analog signal {i}")
        nodes[f"{seg_name}/{pop_name}"] = node
    # Order within the segment, kept only when it is not populations one after another.
    if [i for idx in train_pos for i in idx] != list(range(len(trains))):
        seg_node.attrs["spiketrain_positions"] = train_pos
    if [i for idx in signal_pos for i in idx] != list(range(len(signals))):
        seg_node.attrs["analogsignal_positions"] = signal_pos
    return nodes


def _population_of(obj: Any) -> str | None:
    label = obj.annotations.get(POPULATION_KEY)
    return label if isinstance(label, str) else None


def _container_meta(obj: Any, *, where: str) -> dict[str, Any]:
    meta = {key: getattr(obj, key, None) for key in _CONTAINER_ATTRS}
    meta["annotations"] = obj.annotations
    return jsonable.encode_mapping(meta, where=f"{where} metadata")


def _scalar_kind(value: Any) -> str | None:
    """``"python"``/``"numpy"`` for a real number or bool that fits a numeric array."""
    if isinstance(value, np.bool_ | np.integer | np.floating):  # np.float64 is a float too
        return "numpy"
    if type(value) in _PYTHON_SCALARS:
        return "python"
    return None


def _split(
    records: Sequence[Mapping[str, Any]],
    *,
    arrays_ok: bool,
    where: Sequence[str],
    what: str,
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, list[Any]], dict[str, str]]:
    """Split per-object metadata into common values, numeric arrays and JSON lists.

    A key becomes an array only if every record has it with the same scalar type (so
    types come back as given); Python scalars are listed in the fourth result.
    ``where`` names each record's object and ``what`` the metadata, for errors.
    """
    common: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    lists: dict[str, list[Any]] = {}
    types: dict[str, str] = {}
    keys = list(dict.fromkeys(k for rec in records for k in rec))
    for key in keys:
        if not isinstance(key, str):
            i = next(i for i, rec in enumerate(records) if key in rec)
            raise SchemaError(
                f"{where[i]} {what}: key {key!r} is not a string; annotation keys must be str"
            )
        everywhere = all(key in rec for rec in records)
        values = [rec.get(key) for rec in records]
        if arrays_ok and everywhere:
            kinds = {type(v) for v in values}
            kind = _scalar_kind(values[0]) if len(kinds) == 1 else None
            array = np.asarray(values) if kind is not None else None
            if array is not None and array.dtype.kind in "biuf":  # huge ints give object
                arrays[key] = array
                if kind == "python":
                    types[key] = _PYTHON_SCALARS[next(iter(kinds))]
                continue
        # Encode each distinct object once: neo's trains share default objects such as
        # their sampling rate, and encoding a quantity costs more than the rest of a train.
        cache: dict[int, Any] = {}
        encoded = []
        for i, rec in enumerate(records):
            if key not in rec:
                encoded.append(_MISSING)
                continue
            value = rec[key]
            if id(value) not in cache:
                cache[id(value)] = jsonable.encode(value, where=f"{where[i]} {what}[{key!r}]")
            encoded.append(cache[id(value)])
        if everywhere and all(e == encoded[0] for e in encoded):
            common[key] = encoded[0]
        else:
            lists[key] = encoded
    return common, arrays, lists, types


def _var_name(key: str, node: Node, prefix: str = "") -> str:
    """A variable name for an annotation key: sanitised, clear of every name in use."""
    taken = set(node.variables) | set(node.dim_sizes())
    name = prefix + sanitize_label(key, fallback="annotation")
    if name in _RESERVED or name in taken:
        name = f"ann_{name}"
    while name in taken:
        name += "_"
    return name


def _time_units(units: str, *, where: str) -> None:
    if _dims_of(units) != _TIME:
        raise SchemaError(
            f"{where}: units {units!r} are not a time; spike times need time units (e.g. ms)"
        )


class SpikeGroup(NamedTuple):
    """What :func:`spike_group` laid out: the layout record and the units' ids."""

    layout: SpikeLayout
    #: The ``channel_id`` unit annotation (cell ids), which analog signals of the same
    #: cells match to share the ``unit`` dimension; None when the trains name none.
    unit_ids: np.ndarray | None


@dataclass
class SignalAxes:
    """The (time, unit) axes laid out so far in one population group.

    Bookkeeping while one group is built, never stored: a signal shares the ``unit``
    dimension with the spikes (and earlier signals) when it covers the same cells,
    and the ``time`` dimension with the first signal when it has the same sampling.
    """

    unit_ids: np.ndarray | None = None
    time_axis: tuple[float, str, float, str, int] | None = None


def _check_trains(
    trains: list[neo.SpikeTrain], positions: list[int], *, where: str
) -> tuple[str, str]:
    """The one time unit and dtype of a population's trains; refuses waveforms."""
    units = {jsonable.units_string(st) for st in trains}
    if len(units) > 1:
        raise SchemaError(
            f"{where}: spike trains use different time units {sorted(units)}; "
            "rescale them to one unit before storing"
        )
    unit = units.pop()
    _time_units(unit, where=f"{where}, spike train {positions[0]} ({trains[0].name!r})")
    dtypes = {st.dtype.str for st in trains}
    if len(dtypes) > 1:
        raise SchemaError(
            f"{where}: spike trains have different dtypes {sorted(dtypes)}; "
            "convert them to one dtype before storing"
        )
    for pos, st in zip(positions, trains, strict=True):
        if st.waveforms is not None and np.size(st.waveforms):
            raise SchemaError(
                f"{where}, spike train {pos} ({st.name!r}): has waveforms; "
                "schema v1 does not store waveforms"
            )
    return unit, dtypes.pop()


def _flat_times(trains: list[neo.SpikeTrain], *, where: str) -> tuple[np.ndarray, np.ndarray]:
    """All spike times (float64, train after train) and the spikes per train."""
    counts = np.fromiter((st.size for st in trains), dtype=np.int64, count=len(trains))
    raw = np.concatenate([np.asarray(st.magnitude).ravel() for st in trains])
    times = raw.astype(np.float64)
    if raw.dtype.kind in "iu" and not np.array_equal(times.astype(raw.dtype), raw):
        raise SchemaError(
            f"{where}: integer spike times beyond 2**53 cannot be stored exactly as float64"
        )
    return times, counts


def _add_spikes(
    node: Node, trains: list[neo.SpikeTrain], positions: list[int], *, where: str
) -> np.ndarray | None:
    """Lay out a population's trains in ``node``; the units' ids (see :class:`SpikeGroup`)."""
    if not trains:
        return None
    unit, dtype = _check_trains(trains, positions, where=where)
    times, counts = _flat_times(trains, where=where)
    bounds = {b: _bounds(trains, b, unit, where=where) for b in ("t_start", "t_stop")}
    _check_times(times, counts, bounds["t_start"], bounds["t_stop"], trains, positions, where)
    # Per-train annotations: numbers become unit coordinates, the rest JSON.
    names = [
        f"{where}, spike train {pos} ({st.name!r})"
        for pos, st in zip(positions, trains, strict=True)
    ]
    common, arrays, lists, types = _split(
        [st.annotations for st in trains], arrays_ok=True, where=names, what="annotations"
    )
    if node.attrs.get("label_from_annotation"):
        common.pop(POPULATION_KEY, None)  # restored from the group's label
    train_common, _, train_lists, _ = _split(
        [{k: getattr(st, k, None) for k in _TRAIN_ATTRS} for st in trains],
        arrays_ok=False,
        where=names,
        what="attribute",
    )
    group = spike_group(
        node,
        times=times,
        counts=counts,
        units=unit,
        dtype=dtype,
        t_start=bounds["t_start"],
        t_stop=bounds["t_stop"],
        unit_annotations=arrays,
        annotations=common,
        annotation_lists=lists,
        annotation_types=types,
        attributes=train_common,
        attribute_lists=train_lists,
    )
    spike_vars, per_train = _spike_annotations(node, trains, names)
    lists = group.layout.annotation_lists
    if per_train is not None:
        lists = {**lists, "__array_annotations__": per_train}
    layout = replace(group.layout, array_annotation_vars=spike_vars, annotation_lists=lists)
    node.attrs["spiketrains"] = layout.to_dict()
    return group.unit_ids


def _spike_annotations(
    node: Node, trains: list[neo.SpikeTrain], names: list[str]
) -> tuple[dict[str, str], list[Any] | None]:
    """Per-spike array_annotations: variables on the spike dimension, or JSON per train.

    A key numeric with one dtype in every train becomes a variable (its name is
    returned by key); anything else is JSON-encoded per train (None: nothing is).
    """
    spike_vars: dict[str, str] = {}
    json_arrays: list[dict[str, Any]] = [{} for _ in trains]
    keys = list(dict.fromkeys(k for st in trains for k in st.array_annotations))
    for key in keys:
        parts = [st.array_annotations.get(key) for st in trains]
        dtypes = {p.dtype.str for p in parts if p is not None}
        if any(p is None or p.dtype.kind not in "biuf" for p in parts) or len(dtypes) > 1:
            for rec, st in zip(json_arrays, trains, strict=True):
                if key in st.array_annotations:
                    rec[key] = st.array_annotations[key]
            continue
        name = _var_name(key, node, prefix="spike_")
        node.variables[name] = Variable(dims=(DIM_SPIKE,), data=np.concatenate(parts))
        spike_vars[key] = name
    if not any(json_arrays):
        return spike_vars, None
    return spike_vars, [
        jsonable.encode(rec, where=f"{name} array_annotations")
        for rec, name in zip(json_arrays, names, strict=True)
    ]


def spike_group(
    node: Node,
    *,
    times: np.ndarray,
    counts: np.ndarray,
    units: str,
    dtype: str,
    t_start: np.ndarray,
    t_stop: np.ndarray,
    unit_annotations: Mapping[str, np.ndarray],
    annotations: Mapping[str, Any],
    attributes: Mapping[str, Any],
    annotation_lists: Mapping[str, list[Any]] | None = None,
    annotation_types: Mapping[str, Any] | None = None,
    attribute_lists: Mapping[str, list[Any]] | None = None,
) -> SpikeGroup:
    """Lay out one population's spike trains, given as flat arrays, in ``node``.

    The one place that decides the spike layout: the neo route (after splitting
    per-train metadata), the NEST fast path and the tonic view use it.

    Parameters
    ----------
    node : Node
        The group; gets the spike arrays, unit coordinates and ``attrs["spiketrains"]``.
    times, counts : numpy.ndarray
        All spike times (float64, in ``units``, sorted by unit then time); spikes per unit.
    units, dtype : str
        Time unit of the trains (e.g. ``"ms"``) and their original dtype string.
    t_start, t_stop : numpy.ndarray
        Per-unit bounds (in ``units``); stored as scalars when all equal.
    unit_annotations : Mapping[str, numpy.ndarray]
        Numeric per-unit annotations: unit coordinates (e.g. ``channel_id``).
    annotations, attributes : Mapping
        Annotations and SpikeTrain attributes common to every train (JSON-encoded).
    annotation_lists, annotation_types, attribute_lists : Mapping, optional
        Per-train JSON metadata (neo route only), as :class:`SpikeLayout` keeps them.

    Returns
    -------
    SpikeGroup
        The layout written to the node's attrs, and the ``channel_id`` annotation.
    """
    _spike_variables(node, times, counts, units=units, dtype=dtype)
    common = {
        b: _common_bound(node, b, values, units)
        for b, values in (("t_start", t_start), ("t_stop", t_stop))
    }
    layout = SpikeLayout(
        t_start=common["t_start"],
        t_stop=common["t_stop"],
        annotations=jsonable.wrap_encoded(dict(annotations)),
        annotation_vars=_unit_coordinates(node, unit_annotations),
        annotation_lists=dict(annotation_lists or {}),
        attributes=dict(attributes),
        attribute_lists=dict(attribute_lists or {}),
        annotation_types=dict(annotation_types or {}),
    )
    node.attrs["spiketrains"] = layout.to_dict()
    return SpikeGroup(layout=layout, unit_ids=unit_annotations.get("channel_id"))


def _spike_variables(
    node: Node, times: np.ndarray, counts: np.ndarray, *, units: str, dtype: str
) -> None:
    """The contiguous ragged array: ``spike_time`` (CF-packed when on a grid), ``spike_count``."""
    node.variables[SPIKE_TIME] = Variable(
        dims=(DIM_SPIKE,),
        data=times,
        attrs={"units": units, "dtype": dtype},
        scale_factor=time_scale(times),
    )
    node.variables[SPIKE_COUNT] = Variable(
        dims=(DIM_UNIT,), data=counts, attrs={"sample_dimension": DIM_SPIKE}
    )


def _common_bound(node: Node, bound: str, values: np.ndarray, units: str) -> float | None:
    """The bound shared by every unit, or None after adding it as a unit coordinate."""
    if (values == values[0]).all():
        return float(values[0])
    node.variables[bound] = Variable(dims=(DIM_UNIT,), data=values, attrs={"units": units})
    node.coords.append(bound)
    return None


def _unit_coordinates(node: Node, unit_annotations: Mapping[str, np.ndarray]) -> dict[str, str]:
    """Numeric per-unit annotations as unit coordinates; their variable names by key."""
    names: dict[str, str] = {}
    for key, values in unit_annotations.items():
        name = _var_name(key, node)
        node.variables[name] = Variable(dims=(DIM_UNIT,), data=values)
        node.coords.append(name)
        names[key] = name
    return names


def _bounds(trains: list[neo.SpikeTrain], bound: str, unit: str, *, where: str) -> np.ndarray:
    """Per-train t_start or t_stop as float64 magnitudes in the trains' own unit."""
    values = np.empty(len(trains))
    for i, st in enumerate(trains):
        q = getattr(st, bound)
        if jsonable.units_string(q) != unit:  # reassigned after construction, say
            try:
                q = q.rescale(unit)
            except ValueError as err:
                raise SchemaError(
                    f"{where}, spike train {i} ({st.name!r}): {bound} {err}"
                ) from None
        values[i] = float(q.magnitude)
    return values


def _check_times(
    times: np.ndarray,
    counts: np.ndarray,
    t_start: np.ndarray,
    t_stop: np.ndarray,
    trains: list[neo.SpikeTrain],
    positions: list[int],
    where: str,
) -> None:
    """NaN, order and range checks for all trains of a population at once (O(spikes))."""
    train_of = np.repeat(np.arange(len(trains)), counts)

    def fail(i: int, problem: str) -> None:
        st = trains[i]
        raise SchemaError(f"{where}, spike train {positions[i]} ({st.name!r}): {problem}")

    for bound, values in (("t_start", t_start), ("t_stop", t_stop)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            fail(int(bad[0]), f"{bound} is {values[bad[0]]}; it must be finite")
    bad = np.flatnonzero(~np.isfinite(times))
    if bad.size:
        fail(int(train_of[bad[0]]), "spike times contain NaN or inf")
    if times.size > 1:
        within = train_of[1:] == train_of[:-1]
        bad = np.flatnonzero((times[1:] < times[:-1]) & within)
        if bad.size:
            fail(int(train_of[bad[0]]), "spike times are not sorted; sort the train before storing")
    outside = (times < t_start[train_of]) | (times > t_stop[train_of])
    if outside.any():
        i = int(train_of[np.flatnonzero(outside)[0]])
        t = times[train_of == i]
        fail(
            i,
            f"spike times span [{t.min()}, {t.max()}] {trains[i].dimensionality.string}, "
            f"outside [t_start, t_stop] = [{t_start[i]}, {t_stop[i]}]",
        )


def _signal_ids(sig: neo.AnalogSignal) -> np.ndarray | None:
    ids = sig.annotations.get("channel_ids")
    return np.asarray(ids) if isinstance(ids, np.ndarray) else None


def _free_name(base: str, node: Node) -> str:
    """A variable/dimension name used by nothing in the node yet."""
    taken = set(node.variables) | set(node.dim_sizes())
    name = base
    while name in taken:
        name += "_"
    return name


def _check_signal_units(sig: neo.AnalogSignal, *, where: str) -> None:
    rate, t_start = sig.sampling_rate, sig.t_start
    if _dims_of(rate.dimensionality.string) != _FREQUENCY:
        raise SchemaError(
            f"{where}: sampling rate {rate} is not a frequency; give it in Hz (or 1/time)"
        )
    if _dims_of(t_start.dimensionality.string) != _TIME:
        raise SchemaError(f"{where}: t_start {t_start} is not a time; give it in ms or s")
    if not (np.isfinite(rate.magnitude) and rate.magnitude > 0):
        raise SchemaError(f"{where}: sampling rate {rate} must be finite and positive")
    if not np.isfinite(t_start.magnitude):
        raise SchemaError(f"{where}: t_start {t_start} must be finite")


def add_signal(node: Node, sig: neo.AnalogSignal, axes: SignalAxes, *, where: str) -> None:
    """Lay out one analog signal in a population group (both routes use this).

    Parameters
    ----------
    node : Node
        The population group (its spikes, if any, laid out first).
    sig : neo.AnalogSignal
        A (time, channel) signal.
    axes : SignalAxes
        The group's axes so far (updated): the signal shares ``time`` and ``unit``
        with earlier arrays where they agree, else gets dimensions of its own.
    where : str
        The signal, for error messages.

    Raises
    ------
    SchemaError
        If it is not an AnalogSignal, is not 2-D and numeric, or its sampling rate or
        t_start are not a frequency and a time.
    """
    if not isinstance(sig, neo.AnalogSignal):
        raise SchemaError(f"{where}: expected an AnalogSignal, got {type(sig).__name__}")
    _check_signal_units(sig, where=where)
    name = _signal_name(node, sig)
    data = np.asarray(sig.magnitude)
    if data.ndim != 2:
        raise SchemaError(f"{where}: expected a 2-D (time, channel) signal, got shape {data.shape}")
    if data.dtype.kind not in "biuf":
        raise SchemaError(f"{where}: values of dtype {data.dtype} cannot be stored; use numbers")
    unit_dim = _unit_dim(node, sig, axes, name, n_chan=data.shape[1])
    time_dim, period = _time_dim(node, sig, axes, name, n_time=data.shape[0])
    annotations, chan_vars = _channel_annotations(node, sig, name, unit_dim, n_chan=data.shape[1])
    arr_vars, arr_json = _channel_array_annotations(node, sig, name, unit_dim, n_chan=data.shape[1])
    neo_meta = {
        "name": sig.name,
        "description": sig.description,
        "file_origin": sig.file_origin,
        "annotations": annotations,
        "array_annotations": arr_json,
        "channel_annotation_vars": chan_vars,
        "array_annotation_vars": arr_vars,
    }
    attrs = {
        "units": sig.units.dimensionality.string,
        "long_name": sig.name,
        "dtype": data.dtype.str,
        "t_start": jsonable.encode(sig.t_start),
        "sampling_rate": jsonable.encode(sig.sampling_rate),
        "sampling_period": period,
        "neo": jsonable.encode_mapping(neo_meta, where=where),
    }
    node.variables[name] = Variable(dims=(time_dim, unit_dim), data=data, attrs=attrs)
    node.attrs.setdefault("signals", []).append(name)


def _signal_name(node: Node, sig: neo.AnalogSignal) -> str:
    """The signal's variable name: its sanitised name, clear of spike and reserved names."""
    name = sanitize_label(sig.name, fallback="signal")
    if name in _RESERVED or name.startswith("spike_"):
        name = f"signal_{name}"
    return _free_name(name, node)


def _unit_dim(
    node: Node, sig: neo.AnalogSignal, axes: SignalAxes, name: str, *, n_chan: int
) -> str:
    """``unit`` when the signal covers the group's units (same count, same ids), else its own."""
    ids = _signal_ids(sig)
    sizes = node.dim_sizes()
    if DIM_UNIT not in sizes:
        if ids is not None:
            axes.unit_ids = ids
        return DIM_UNIT
    same_ids = ids is None or axes.unit_ids is None or np.array_equal(ids, axes.unit_ids)
    if sizes[DIM_UNIT] != n_chan or not same_ids:
        return _free_name(f"{DIM_UNIT}_{name}", node)
    return DIM_UNIT


def _time_dim(
    node: Node, sig: neo.AnalogSignal, axes: SignalAxes, name: str, *, n_time: int
) -> tuple[str, float]:
    """The signal's time dimension (shared when sampled as the first) and its period.

    Adds the time coordinate (CF-packed: start + k * period, exact) when it is new.
    """
    t_start, rate = sig.t_start, sig.sampling_rate
    axis = (
        float(t_start.magnitude),
        t_start.dimensionality.string,
        float(rate.magnitude),
        rate.dimensionality.string,
        n_time,
    )
    if axes.time_axis is None:
        axes.time_axis = axis
    time_dim = DIM_TIME if axes.time_axis == axis else _free_name(f"{DIM_TIME}_{name}", node)
    period = float((1.0 / rate).rescale(t_start.units).magnitude)
    if time_dim not in node.variables:
        node.variables[time_dim] = Variable(
            dims=(time_dim,),
            data=np.arange(n_time) * period + float(t_start.magnitude),
            attrs={"units": t_start.dimensionality.string},
            scale_factor=period,
            add_offset=float(t_start.magnitude),
        )
    return time_dim, period


def _channel_annotations(
    node: Node, sig: neo.AnalogSignal, name: str, unit_dim: str, *, n_chan: int
) -> tuple[dict[str, Any], dict[str, str]]:
    """The signal's annotations: numeric per-channel arrays become unit coordinates.

    Returns the remaining annotations and the coordinates' names by key.
    """
    annotations = dict(sig.annotations)
    if node.attrs.get("label_from_annotation"):
        annotations.pop(POPULATION_KEY, None)
    chan_vars: dict[str, str] = {}
    for key, value in list(annotations.items()):
        if (
            isinstance(key, str)
            and isinstance(value, np.ndarray)
            and not isinstance(value, pq.Quantity)
            and value.shape == (n_chan,)
            and value.dtype.kind in "biuf"
        ):
            chan_vars[key] = _add_channel_coordinate(node, key, value, name, unit_dim)
            del annotations[key]
    return annotations, chan_vars


def _channel_array_annotations(
    node: Node, sig: neo.AnalogSignal, name: str, unit_dim: str, *, n_chan: int
) -> tuple[dict[str, str], dict[str, Any]]:
    """array_annotations: numeric ones as unit coordinates (names by key), the rest kept."""
    arr_vars: dict[str, str] = {}
    arr_json: dict[str, Any] = {}
    for key, value in sig.array_annotations.items():
        if value.dtype.kind in "biuf" and value.shape == (n_chan,):
            arr_vars[key] = _add_channel_coordinate(node, key, np.asarray(value), name, unit_dim)
        else:
            arr_json[key] = value  # JSON-encoded with the rest of the signal's metadata
    return arr_vars, arr_json


def _add_channel_coordinate(
    node: Node, key: str, value: np.ndarray, name: str, unit_dim: str
) -> str:
    var = _var_name(key, node, prefix=f"{name}_")
    node.variables[var] = Variable(dims=(unit_dim,), data=value)
    node.coords.append(var)
    return var


# --------------------------------------------------------------------------- reading


class LazySpikeTrains(neo.core.spiketrainlist.SpikeTrainList):
    """A segment's spike trains kept as flat arrays until a train is used.

    ``len()`` and ``multiplexed`` answer from the arrays directly; iterating,
    indexing or editing builds all ``SpikeTrain`` objects once, splitting the sorted
    spike array at the unit offsets. After that it is an ordinary ``SpikeTrainList``.
    """

    # SpikeTrainList's own state (neo is untyped), as this class sets it.
    _all_channel_ids: list[int] | None
    _channel_id_array: np.ndarray | None
    _spike_time_array: Any  # a Quantity array, or None
    _spiketrain_metadata: dict[str, Any]

    def __init__(self, items: Any = None, parent: Any = None) -> None:
        super().__init__(items=items, parent=parent)
        self._factory: Callable[[], list[neo.SpikeTrain]] | None = None
        self._n_trains = 0

    @classmethod
    def from_factory(
        cls,
        factory: Callable[[], list[neo.SpikeTrain]],
        *,
        n_trains: int,
        multiplexed: tuple[np.ndarray, pq.Quantity] | None,
        t_start: pq.Quantity | None,
        t_stop: pq.Quantity | None,
    ) -> LazySpikeTrains:
        """Build the lazy list from a function that creates the trains when needed.

        Parameters
        ----------
        factory : callable
            Returns the list of ``SpikeTrain`` objects, in order.
        n_trains : int
            How many trains ``factory`` returns.
        multiplexed : (ids, times) or None
            What ``SpikeTrainList.multiplexed`` gives for those trains, if known
            without building them (``None``: built on first use).
        t_start, t_stop : Quantity or None
            Common bounds of the trains, if they share them.
        """
        _versions.require_verified("neo", "LazySpikeTrains (overrides SpikeTrainList internals)")
        obj = cls()
        obj._factory = factory
        obj._n_trains = n_trains
        if multiplexed is not None:
            obj._all_channel_ids = list(range(n_trains))
            obj._channel_id_array, obj._spike_time_array = multiplexed
        if t_start is not None:
            obj._spiketrain_metadata["t_start"] = t_start
        if t_stop is not None:
            obj._spiketrain_metadata["t_stop"] = t_stop
        return obj

    @property
    def is_materialised(self) -> bool:
        """True once the ``SpikeTrain`` objects exist."""
        return self._items is not None

    def __getstate__(self) -> dict[str, Any]:
        # Pickling or deep-copying a Block (neo's PickleIO, copy.deepcopy) needs the
        # trains themselves: the factory is a closure over the store's arrays.
        self._materialise()
        return {**self.__dict__, "_factory": None}

    def _materialise(self) -> None:
        if self._items is None:
            self._spiketrains_from_array()

    def _spiketrains_from_array(self) -> None:
        if self._factory is None:
            super()._spiketrains_from_array()
            return
        with _no_gc():
            self._items = self._factory()
        for st in self._items:
            st.segment = self.segment
        # The arrays no longer describe the list once callers may edit the trains.
        self._spike_time_array = self._channel_id_array = None
        self._all_channel_ids = None
        self._factory = None

    def __len__(self) -> int:
        if self._items is None and self._factory is not None:
            return self._n_trains
        return super().__len__()

    @property
    def multiplexed(self) -> tuple[np.ndarray, Any]:
        """(channel ids, spike times) of all spikes, as ``SpikeTrainList.multiplexed``."""
        if self._spike_time_array is None and self._factory is not None:
            self._materialise()
        if self._items is not None and not self._items and self._spike_time_array is None:
            return np.array([]), np.array([])  # neo fails on an empty materialised list
        return super().multiplexed

    @property
    def t_start(self) -> Any:
        """Earliest t_start of the trains (as ``SpikeTrainList.t_start``)."""
        if "t_start" not in self._spiketrain_metadata:
            self._materialise()
        return super().t_start

    @property
    def t_stop(self) -> Any:
        """Latest t_stop of the trains (as ``SpikeTrainList.t_stop``)."""
        if "t_stop" not in self._spiketrain_metadata:
            self._materialise()
        return super().t_stop

    @property
    def all_channel_ids(self) -> Any:
        """Channel ids, as ``SpikeTrainList.all_channel_ids``."""
        if self._all_channel_ids is None:
            self._materialise()
        return super().all_channel_ids

    def _add_spiketrainlists(self, other: Any, in_place: bool = False) -> Any:
        self._materialise()
        return super()._add_spiketrainlists(other, in_place=in_place)

    def clear(self) -> None:
        """Remove all trains."""
        self._factory = None
        self._spike_time_array = self._channel_id_array = self._all_channel_ids = None
        self._spiketrain_metadata = {}
        self._items = []

    # neo's ObjectList reads ``_items`` directly in these: build the trains first.
    def __contains__(self, key: Any) -> bool:
        self._materialise()
        return super().__contains__(key)

    def count(self, value: Any) -> int:
        """Number of occurrences of ``value``."""
        self._materialise()
        return super().count(value)

    def index(self, value: Any, *args: Any) -> int:
        """Position of ``value``."""
        self._materialise()
        return super().index(value, *args)

    def insert(self, index: int, obj: Any) -> None:
        """Insert a train before ``index``."""
        self._materialise()
        super().insert(index, obj)

    def pop(self, index: int = -1) -> Any:
        """Remove and return the train at ``index``."""
        self._materialise()
        return super().pop(index)

    def remove(self, value: Any) -> None:
        """Remove a train."""
        self._materialise()
        super().remove(value)

    def sort(self, *args: Any, **kwargs: Any) -> None:
        """Sort the trains in place."""
        self._materialise()
        super().sort(*args, **kwargs)

    def reverse(self) -> None:
        """Reverse the trains in place."""
        self._materialise()
        self._items.reverse()  # neo's ObjectList.reverse raises by mistake


def nodes_to_block(nodes: Mapping[str, Node], *, where: str = "store") -> neo.Block:
    """Rebuild the neo Block laid out by :func:`block_to_nodes`.

    Parameters
    ----------
    nodes : Mapping[str, Node]
        Nodes keyed by group path, as read by :func:`opsnn_lake.store.read_nodes`.
    where : str
        Name of the store, for error messages.

    Returns
    -------
    neo.Block
        The Block, with lazy spike-train lists (see :class:`LazySpikeTrains`).

    Raises
    ------
    SchemaError
        If a group or attribute the layout needs is missing or malformed; the message
        names the store and the group.
    """
    root = _node(nodes, "", where)
    try:
        block = _container(neo.Block, root.attrs["block"])
        seg_names = root.attrs["segments"]
    except KeyError as err:
        raise SchemaError(f"{where}: root attribute {err} is missing") from None
    for seg_name in seg_names:
        seg_node = _node(nodes, seg_name, where)
        try:
            seg = _read_segment(nodes, seg_name, seg_node, where)
        except (KeyError, TypeError, ValueError, IndexError) as err:
            if isinstance(err, SchemaError):
                raise
            raise SchemaError(
                f"{where}: group {seg_name!r} does not follow the run-store layout "
                f"({type(err).__name__}: {err})"
            ) from err
        block.segments.append(seg)
        seg.block = block
    return block


def _read_segment(
    nodes: Mapping[str, Node], seg_name: str, seg_node: Node, where: str
) -> neo.Segment:
    seg = _container(neo.Segment, seg_node.attrs["segment"])
    pops = [_node(nodes, f"{seg_name}/{p}", where) for p in seg_node.attrs["populations"]]
    parts = [
        _TrainPart(pop, where=f"{where}: group {seg_name}/{name}")
        for pop, name in zip(pops, seg_node.attrs["populations"], strict=True)
    ]
    order = seg_node.attrs.get("spiketrain_positions")
    _attach_trains(seg, parts, order)
    signals = [_read_signals(pop) for pop in pops]
    flat = [sig for group in signals for sig in group]
    sig_order = seg_node.attrs.get("analogsignal_positions")
    if sig_order is not None:
        positions = [i for group in sig_order for i in group]
        ordered: list[Any] = [None] * len(flat)
        for pos, sig in zip(positions, flat, strict=True):
            ordered[pos] = sig
        flat = ordered
    seg.analogsignals = flat
    for sig in flat:
        sig.segment = seg
    return seg


def _node(nodes: Mapping[str, Node], path: str, where: str) -> Node:
    try:
        return nodes[path]
    except KeyError:
        raise SchemaError(f"{where}: group {path!r} is listed but missing") from None


def _container(cls: type, meta: Mapping[str, Any]) -> Any:
    decoded = jsonable.decode(dict(meta))
    annotations = decoded.pop("annotations", {}) or {}
    obj = cls(**decoded)
    # Set directly: neo's constructor refuses some values it accepts by assignment
    # (numpy datetimes, say), and the store gives back what it was given.
    obj.annotations.update(annotations)
    return obj


def _attach_trains(
    seg: neo.Segment, parts: list[_TrainPart], order: list[list[int]] | None
) -> None:
    counts = [p.n for p in parts]
    n_total = sum(counts)
    if n_total == 0:
        return  # neo's own empty list
    positions = [i for group in order for i in group] if order is not None else None
    mux = None
    t_start = t_stop = None
    live = [p for p in parts if p.n]
    units = {p.units for p in live}
    if len(units) == 1:
        unit = units.pop()
        if not any(p.int_channel_id for p in live):
            global_ids = np.arange(n_total) if positions is None else np.asarray(positions)
            offsets = np.cumsum([0, *counts])
            ids = np.concatenate(
                [
                    global_ids[off + cast("tuple[np.ndarray, np.ndarray]", p.mux)[0]]
                    for p, off in zip(parts, offsets, strict=False)
                    if p.n
                ]
            )
            times = np.concatenate([p.times for p in live])
            if positions is not None:  # neo lists spikes in train order
                by_train = np.argsort(ids, kind="stable")
                ids, times = ids[by_train], times[by_train]
            mux = (ids, times * _unit(unit))
        starts = {p.t_start for p in live}
        stops = {p.t_stop for p in live}
        dtypes = {p.times.dtype for p in live}
        if len(starts) == 1 and len(stops) == 1 and len(dtypes) == 1 and None not in starts | stops:
            dtype = dtypes.pop()
            t_start = pq.Quantity(np.array(starts.pop(), dtype=dtype), unit)
            t_stop = pq.Quantity(np.array(stops.pop(), dtype=dtype), unit)

    def build() -> list[neo.SpikeTrain]:
        trains = [st for p in parts for st in p.build()]
        if positions is None:
            return trains
        out: list[neo.SpikeTrain | None] = [None] * n_total
        for pos, st in zip(positions, trains, strict=True):
            out[pos] = st
        return out

    lazy = LazySpikeTrains.from_factory(
        build, n_trains=n_total, multiplexed=mux, t_start=t_start, t_stop=t_stop
    )
    lazy.segment = seg
    seg.spiketrains = lazy


class _TrainPart:
    """The spike trains of one population group, built on demand."""

    def __init__(self, node: Node, *, where: str) -> None:
        raw = node.attrs.get("spiketrains")
        self.node = node
        self.layout = None if raw is None else SpikeLayout.from_dict(raw, where=where)
        self.n = 0 if raw is None else int(node.variables[SPIKE_COUNT].data.size)
        self.mux: tuple[np.ndarray, np.ndarray] | None = None
        self.units = ""
        self.times = np.empty(0)
        self.t_start: float | None = None
        self.t_stop: float | None = None
        self.int_channel_id = False
        if self.layout is None:
            return
        var = node.variables[SPIKE_TIME]
        self.units = var.attrs["units"]
        self.times = var.data.astype(var.attrs.get("dtype", "<f8"), copy=False)
        self.counts = node.variables[SPIKE_COUNT].data
        self.t_start, self.t_stop = self.layout.t_start, self.layout.t_stop
        self.mux = (np.repeat(np.arange(self.n), self.counts), self.times)
        # neo's SpikeTrainList numbers spikes by a Python-int channel_id annotation
        # when there is one: then ``multiplexed`` is left to neo (after building).
        common = jsonable.decode(self.layout.annotations)
        self.int_channel_id = (
            self.layout.annotation_types.get("channel_id") in ("int", "bool")
            or isinstance(common.get("channel_id"), int)
            or "channel_id" in self.layout.annotation_lists
        )

    def build(self) -> list[neo.SpikeTrain]:
        if self.layout is None:
            return []
        unit = _unit(self.units)
        per_unit = {
            b: pq.Quantity(self._bound(b).astype(self.times.dtype), unit)
            for b in ("t_start", "t_stop")
        }
        metadata = _TrainMetadata(self.node, self.layout)
        # One SpikeTrain over all spikes (validated by neo once), then a slice per unit:
        # slicing is how neo itself derives trains, ~20x faster than the constructor.
        n = self.n
        whole = neo.SpikeTrain(
            self.times,
            units=unit,
            t_start=per_unit["t_start"].min() if n else 0.0 * unit,
            t_stop=per_unit["t_stop"].max() if n else 0.0 * unit,
            array_annotations=metadata.spike_arrays or None,
        )
        offsets = np.concatenate([[0], np.cumsum(self.counts)])
        trains = []
        for i in range(n):
            st = whole[offsets[i] : offsets[i + 1]]
            st.t_start = per_unit["t_start"][i]
            st.t_stop = per_unit["t_stop"][i]
            metadata.apply(st, i)
            trains.append(st)
        return trains

    def _bound(self, name: str) -> np.ndarray:
        """Per-unit t_start or t_stop, however the layout keeps it."""
        if name in self.node.variables:
            return self.node.variables[name].data
        assert self.layout is not None
        return np.full(self.n, self.layout.bound(name))


class _TrainMetadata:
    """The per-train metadata of a group's layout, decoded once for all its trains."""

    def __init__(self, node: Node, layout: SpikeLayout) -> None:
        self.common = jsonable.decode(layout.annotations)
        if node.attrs.get("label_from_annotation"):
            self.common[POPULATION_KEY] = node.attrs["label"]
        # Containers must not be shared between trains (editing one would edit all):
        # decode them afresh per train; immutable values are shared, as neo does.
        self.fresh = [
            k for k, v in self.common.items() if isinstance(v, list | dict | set | np.ndarray)
        ]
        encoded = layout.annotations
        self.encoded = encoded.get("__dict__", encoded)  # unwrap jsonable.wrap_encoded()
        types = layout.annotation_types
        self.arrays = {
            k: node.variables[v].data.tolist() if k in types else node.variables[v].data
            for k, v in layout.annotation_vars.items()
        }
        self.lists = {
            k: _decode_list(values)
            for k, values in layout.annotation_lists.items()
            if k != "__array_annotations__"
        }
        self.arr_lists = layout.annotation_lists.get("__array_annotations__")
        self.attrs_common = jsonable.decode(layout.attributes)
        self.attr_lists = {k: _decode_list(v) for k, v in layout.attribute_lists.items()}
        self.spike_arrays = {
            k: node.variables[v].data for k, v in layout.array_annotation_vars.items()
        }

    def apply(self, st: neo.SpikeTrain, i: int) -> None:
        """Give train ``i`` its attributes, annotations and array annotations."""
        for key in _TRAIN_ATTRS:
            per_train = self.attr_lists.get(key)
            value = per_train[i] if per_train is not None else _MISSING
            setattr(st, key, self.attrs_common.get(key) if value is _MISSING else value)
        annotations = dict(self.common)
        for key in self.fresh:
            annotations[key] = jsonable.decode(self.encoded[key])
        for key, values in self.lists.items():
            if values[i] is not _MISSING:
                annotations[key] = values[i]
        for key, column in self.arrays.items():
            annotations[key] = column[i]
        st.annotations = annotations  # a dict of its own (a slice shares the parent's)
        if self.arr_lists is not None:
            st.array_annotate(**jsonable.decode(self.arr_lists[i]))


def _decode_list(values: list[Any]) -> list[Any]:
    """Decode per-train JSON values, keeping the ``_MISSING`` marker as is."""
    return [_MISSING if v == _MISSING else jsonable.decode(v) for v in values]


def _read_signals(node: Node) -> list[neo.AnalogSignal]:
    signals = []
    label = node.attrs.get("label") if node.attrs.get("label_from_annotation") else None
    for name in node.attrs.get("signals", []):
        var = node.variables[name]
        neo_meta = jsonable.decode(var.attrs["neo"])
        annotations = neo_meta["annotations"]
        if label is not None:
            annotations[POPULATION_KEY] = label
        for key, vname in neo_meta["channel_annotation_vars"].items():
            annotations[key] = node.variables[vname].data
        array_annotations = {
            key: node.variables[vname].data
            for key, vname in neo_meta["array_annotation_vars"].items()
        }
        array_annotations.update(neo_meta["array_annotations"])
        sig = neo.AnalogSignal(
            var.data.astype(var.attrs["dtype"], copy=False),
            units=var.attrs["units"],
            t_start=jsonable.decode(var.attrs["t_start"]),
            sampling_rate=jsonable.decode(var.attrs["sampling_rate"]),
            name=neo_meta["name"],
            description=neo_meta["description"],
            file_origin=neo_meta["file_origin"],
            array_annotations=array_annotations or None,
        )
        sig.annotations.update(annotations)
        signals.append(sig)
    return signals
