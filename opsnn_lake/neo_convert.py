"""Lossless conversion between neo Blocks and run-store nodes.

:func:`block_to_nodes` validates a Block and lays it out as :class:`~opsnn_lake.schema.Node`
objects (one per segment and population); :func:`nodes_to_block` inverts it, so
``nodes_to_block(block_to_nodes(b))`` equals ``b``: spike times and signal values bitwise,
units, t_start/t_stop, sampling rates, names, descriptions, annotations and
array_annotations, and the order of trains and signals in each segment.

Spike trains come back as a :class:`LazySpikeTrains` list that holds the flat arrays and
builds per-train ``SpikeTrain`` objects only when they are used (in O(spikes), where
neo's own ``from_spike_time_array`` masks once per channel).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import neo
import numpy as np
import quantities as pq

from opsnn_lake import jsonable
from opsnn_lake.errors import SchemaError
from opsnn_lake.schema import (
    DIM_SPIKE,
    DIM_TIME,
    DIM_UNIT,
    SPIKE_COUNT,
    SPIKE_TIME,
    Node,
    Variable,
    sanitize_label,
    unique_names,
)

__all__ = ["LazySpikeTrains", "block_to_nodes", "merge_blocks", "nodes_to_block", "time_scale"]

POPULATION_KEY = "source_population"  # PyNN's annotation naming a train's population
_MISSING = {"__missing__": True}
_CONTAINER_ATTRS = ("name", "description", "file_origin", "file_datetime", "rec_datetime", "index")
_TRAIN_ATTRS = ("name", "description", "file_origin", "sampling_rate", "left_sweep")
_RESERVED = {SPIKE_TIME, SPIKE_COUNT, "t_start", "t_stop", DIM_UNIT, DIM_TIME, DIM_SPIKE}
# Candidate resolutions (in the trains' units) tried for packing spike times as integers:
# NEST's tic (0.001 ms) first, as NEST computes times as tics * 0.001.
_SCALES = (0.001, 0.1, 0.01, 0.025, 0.05, 1.0, 0.0001, 1e-6)


def time_scale(times: np.ndarray, candidates: Sequence[float] = _SCALES) -> float | None:
    """Return a scale ``s`` with ``rint(times / s) * s == times`` bitwise, or None.

    Spike times of time-driven simulators lie on a grid; stored as integer multiples
    of ``s`` (CF ``scale_factor``) they delta-compress to about 1.3 bytes a spike, while
    staying bitwise equal on decoding. Times off every grid are stored as float64.
    """
    if times.dtype != np.float64 or times.size == 0:
        return None
    for scale in candidates:
        k = np.rint(times / scale)
        if np.abs(k).max() < 2**52 and np.array_equal(k * scale, times):
            return scale
    return None


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
        out-of-range or unsorted spike times, mixed time units in one population,
        waveforms, events/epochs/irregular signals, or annotations with no JSON form.
        The message names the segment, the object and the problem.
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
    # Populations in order of first appearance; None for objects that name none.
    labels: list[str | None] = []
    for obj in trains + signals:
        label = _population_of(obj)
        if label not in labels:
            labels.append(label)
    pop_names = unique_names(labels, prefix="population")
    seg_node = Node(attrs={"segment": _container_meta(seg, where=where), "populations": pop_names})
    nodes = {seg_name: seg_node}
    train_pos: list[list[int]] = []
    signal_pos: list[list[int]] = []
    for label, pop_name in zip(labels, pop_names, strict=True):
        t_idx = [i for i, st in enumerate(trains) if _population_of(st) == label]
        s_idx = [i for i, sig in enumerate(signals) if _population_of(sig) == label]
        train_pos.append(t_idx)
        signal_pos.append(s_idx)
        pop_where = f"{where}, population {label!r}"
        node = Node(attrs={"label": label, "label_from_annotation": label is not None})
        _add_spikes(node, [trains[i] for i in t_idx], t_idx, where=pop_where)
        for i in s_idx:
            _add_signal(node, signals[i], where=f"{pop_where}, analog signal {i}")
        for scratch in ("_unit_ids", "_time_axis"):  # axis bookkeeping, not stored
            node.attrs.pop(scratch, None)
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


def _is_number(value: Any) -> bool:
    if isinstance(value, pq.Quantity):
        return False
    return isinstance(value, bool | int | float | np.bool_ | np.integer | np.floating)


def _split(
    records: Sequence[Mapping[str, Any]], *, arrays_ok: bool, where: str
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, list[Any]]]:
    """Split per-object metadata into common values, numeric arrays and JSON lists."""
    common: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    lists: dict[str, list[Any]] = {}
    keys = list(dict.fromkeys(k for rec in records for k in rec))
    for key in keys:
        everywhere = all(key in rec for rec in records)
        values = [rec.get(key) for rec in records]
        if arrays_ok and everywhere and all(_is_number(v) for v in values):
            arrays[key] = np.asarray(values)
            continue
        encoded = [
            jsonable.encode(rec[key], where=f"{where}[{key!r}]") if key in rec else _MISSING
            for rec in records
        ]
        if everywhere and all(e == encoded[0] for e in encoded):
            common[key] = encoded[0]
        else:
            lists[key] = encoded
    return common, arrays, lists


def _var_name(key: str, taken: Mapping[str, Any], prefix: str = "") -> str:
    name = prefix + sanitize_label(key, fallback="annotation")
    if name in _RESERVED or name in taken:
        name = f"ann_{name}"
    while name in taken:
        name += "_"
    return name


def _add_spikes(node: Node, trains: list[neo.SpikeTrain], positions: list[int], *, where: str):
    if not trains:
        return
    units = {st.units.dimensionality.string for st in trains}
    if len(units) > 1:
        raise SchemaError(
            f"{where}: spike trains use different time units {sorted(units)}; "
            "rescale them to one unit before storing"
        )
    dtypes = {st.dtype.str for st in trains}
    if len(dtypes) > 1:
        raise SchemaError(f"{where}: spike trains have different dtypes {sorted(dtypes)}")
    for pos, st in zip(positions, trains, strict=True):
        _check_train(st, where=f"{where}, spike train {pos} ({st.name!r})")
    counts = np.fromiter((st.size for st in trains), dtype=np.int64, count=len(trains))
    times = np.concatenate([st.magnitude.ravel() for st in trains]).astype(np.float64, copy=False)
    attrs: dict[str, Any] = {"units": units.pop(), "dtype": dtypes.pop()}
    node.variables[SPIKE_TIME] = Variable(
        dims=(DIM_SPIKE,), data=times, attrs=attrs, scale_factor=time_scale(times)
    )
    node.variables[SPIKE_COUNT] = Variable(
        dims=(DIM_UNIT,), data=counts, attrs={"sample_dimension": DIM_SPIKE}
    )
    meta: dict[str, Any] = {}
    for bound in ("t_start", "t_stop"):
        values = np.array([float(getattr(st, bound).magnitude) for st in trains])
        if (values == values[0]).all():
            meta[bound] = float(values[0])
        else:
            node.variables[bound] = Variable(
                dims=(DIM_UNIT,), data=values, attrs={"units": attrs["units"]}
            )
            node.coords.append(bound)
    # Per-train annotations: numbers become unit coordinates, the rest JSON.
    common, arrays, lists = _split(
        [st.annotations for st in trains], arrays_ok=True, where=f"{where} annotations"
    )
    if node.attrs.get("label_from_annotation"):
        common.pop(POPULATION_KEY, None)  # restored from the group's label
    ann_vars: dict[str, str] = {}
    if "channel_id" in arrays:  # lets signals of the same cells share the unit dim
        node.attrs["_unit_ids"] = arrays["channel_id"]
    for key, values in arrays.items():
        name = _var_name(key, node.variables)
        node.variables[name] = Variable(dims=(DIM_UNIT,), data=values)
        node.coords.append(name)
        ann_vars[key] = name
    train_common, _, train_lists = _split(
        [{k: getattr(st, k) for k in _TRAIN_ATTRS} for st in trains],
        arrays_ok=False,
        where=f"{where} spike train attributes",
    )
    # Per-spike array_annotations: one variable on the spike dimension per key.
    spike_vars: dict[str, str] = {}
    keys = list(dict.fromkeys(k for st in trains for k in st.array_annotations))
    for key in keys:
        parts = [st.array_annotations.get(key) for st in trains]
        if any(p is None for p in parts) or any(p.dtype.kind not in "biuf" for p in parts):
            lists.setdefault("__array_annotations__", [dict() for _ in trains])
            for rec, st in zip(lists["__array_annotations__"], trains, strict=True):
                if key in st.array_annotations:
                    rec[key] = jsonable.encode(st.array_annotations[key], where=f"{where}[{key!r}]")
            continue
        name = _var_name(key, node.variables, prefix="spike_")
        node.variables[name] = Variable(dims=(DIM_SPIKE,), data=np.concatenate(parts))
        spike_vars[key] = name
    meta.update(
        annotations=common,
        annotation_vars=ann_vars,
        annotation_lists=lists,
        attributes=train_common,
        attribute_lists=train_lists,
        array_annotation_vars=spike_vars,
    )
    node.attrs["spiketrains"] = meta


def _check_train(st: neo.SpikeTrain, *, where: str) -> None:
    if st.waveforms is not None and np.size(st.waveforms):
        raise SchemaError(f"{where}: has waveforms; schema v1 does not store waveforms")
    t = st.magnitude.ravel()
    if t.size == 0:
        return
    if not np.isfinite(t).all():
        raise SchemaError(f"{where}: spike times contain NaN or inf")
    if (np.diff(t) < 0).any():
        raise SchemaError(f"{where}: spike times are not sorted; sort the train before storing")
    t_start = float(st.t_start.rescale(st.units).magnitude)
    t_stop = float(st.t_stop.rescale(st.units).magnitude)
    if t[0] < t_start or t[-1] > t_stop:
        raise SchemaError(
            f"{where}: spike times span [{t[0]}, {t[-1]}] {st.units.dimensionality}, "
            f"outside [t_start, t_stop] = [{t_start}, {t_stop}]"
        )


def _signal_ids(sig: neo.AnalogSignal) -> np.ndarray | None:
    ids = sig.annotations.get("channel_ids")
    return np.asarray(ids) if isinstance(ids, np.ndarray) else None


def _add_signal(node: Node, sig: neo.AnalogSignal, *, where: str) -> None:
    if not isinstance(sig, neo.AnalogSignal):
        raise SchemaError(f"{where}: expected an AnalogSignal, got {type(sig).__name__}")
    name = sanitize_label(sig.name, fallback="signal")
    if name in _RESERVED or name in node.variables or name.startswith("spike_"):
        name = f"signal_{name}"
    while name in node.variables:
        name += "_"
    data = np.asarray(sig.magnitude)
    if data.ndim != 2:
        raise SchemaError(f"{where}: expected a 2-D (time, channel) signal, got shape {data.shape}")
    n_time, n_chan = data.shape
    sizes = node.dim_sizes()
    # Share (time, unit) with the spikes and earlier signals when the axes agree.
    unit_dim = DIM_UNIT
    if DIM_UNIT in sizes:
        ids, unit_ids = _signal_ids(sig), node.attrs.get("_unit_ids")
        same_ids = ids is None or unit_ids is None or np.array_equal(ids, unit_ids)
        if sizes[DIM_UNIT] != n_chan or not same_ids:
            unit_dim = f"{DIM_UNIT}_{name}"
    elif _signal_ids(sig) is not None:
        node.attrs["_unit_ids"] = _signal_ids(sig)
    t_start = sig.t_start
    rate = sig.sampling_rate
    axis = (
        float(t_start.magnitude),
        t_start.dimensionality.string,
        float(rate.magnitude),
        rate.dimensionality.string,
        n_time,
    )
    time_dim = DIM_TIME
    if node.attrs.setdefault("_time_axis", axis) != axis:
        time_dim = f"{DIM_TIME}_{name}"
    if time_dim not in node.variables:
        period = float((1.0 / rate).rescale(t_start.units).magnitude)
        node.variables[time_dim] = Variable(
            dims=(time_dim,),
            data=np.arange(n_time) * period + float(t_start.magnitude),
            attrs={"units": t_start.dimensionality.string},
            scale_factor=period,
            add_offset=float(t_start.magnitude),
        )
    annotations = dict(sig.annotations)
    if node.attrs.get("label_from_annotation"):
        annotations.pop(POPULATION_KEY, None)
    chan_vars: dict[str, str] = {}
    for key, value in list(annotations.items()):
        if (
            isinstance(value, np.ndarray)
            and not isinstance(value, pq.Quantity)
            and value.shape == (n_chan,)
            and value.dtype.kind in "biuf"
        ):
            var = _var_name(key, node.variables, prefix=f"{name}_")
            node.variables[var] = Variable(dims=(unit_dim,), data=value)
            node.coords.append(var)
            chan_vars[key] = var
            del annotations[key]
    arr_vars: dict[str, str] = {}
    arr_json: dict[str, Any] = {}
    for key, value in sig.array_annotations.items():
        if value.dtype.kind in "biuf":
            var = _var_name(key, node.variables, prefix=f"{name}_")
            node.variables[var] = Variable(dims=(unit_dim,), data=np.asarray(value))
            node.coords.append(var)
            arr_vars[key] = var
        else:
            arr_json[key] = jsonable.encode(value, where=f"{where} array_annotations[{key!r}]")
    attrs = {
        "units": sig.units.dimensionality.string,
        "long_name": sig.name,
        "dtype": data.dtype.str,
        "t_start": jsonable.encode(t_start),
        "sampling_rate": jsonable.encode(rate),
        "sampling_period": float((1.0 / rate).rescale(t_start.units).magnitude),
        "neo": jsonable.encode_mapping(
            {
                "name": sig.name,
                "description": sig.description,
                "file_origin": sig.file_origin,
                "annotations": annotations,
                "array_annotations": arr_json,
                "channel_annotation_vars": chan_vars,
                "array_annotation_vars": arr_vars,
            },
            where=where,
        ),
    }
    node.variables[name] = Variable(dims=(time_dim, unit_dim), data=data, attrs=attrs)
    node.attrs.setdefault("signals", []).append(name)


# --------------------------------------------------------------------------- reading


class LazySpikeTrains(neo.core.spiketrainlist.SpikeTrainList):
    """A segment's spike trains kept as flat arrays until a train is used.

    ``multiplexed`` answers from the arrays directly; iterating or indexing builds all
    ``SpikeTrain`` objects once, splitting the sorted spike array at the unit offsets.
    """

    def __init__(self, items: Any = None, parent: Any = None) -> None:
        super().__init__(items=items, parent=parent)
        self._factory: Callable[[], list[neo.SpikeTrain]] | None = None

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
        """Build the lazy list from a function that creates the trains when needed."""
        obj = cls()
        obj._factory = factory
        obj._all_channel_ids = list(range(n_trains))
        if multiplexed is not None:
            obj._channel_id_array, obj._spike_time_array = multiplexed
        if t_start is not None:
            obj._spiketrain_metadata["t_start"] = t_start
        if t_stop is not None:
            obj._spiketrain_metadata["t_stop"] = t_stop
        return obj

    def _spiketrains_from_array(self) -> None:
        if self._factory is None:
            super()._spiketrains_from_array()
            return
        self._items = self._factory()
        for st in self._items:
            st.segment = self.segment
        # The arrays no longer describe the list once callers may edit the trains.
        self._spike_time_array = self._channel_id_array = None
        self._factory = None


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
    """
    root = nodes[""]
    try:
        block = neo.Block(**_container_kwargs(root.attrs["block"]))
        seg_names = root.attrs["segments"]
    except KeyError as err:
        raise SchemaError(f"{where}: root attribute {err} is missing") from None
    for seg_name in seg_names:
        seg_node = _node(nodes, seg_name, where)
        seg = neo.Segment(**_container_kwargs(seg_node.attrs["segment"]))
        pops = [_node(nodes, f"{seg_name}/{p}", where) for p in seg_node.attrs["populations"]]
        parts = [_train_factory(pop) for pop in pops]
        order = seg_node.attrs.get("spiketrain_positions")
        _attach_trains(seg, parts, order)
        signals = [_read_signals(pop) for pop in pops]
        flat = [sig for group in signals for sig in group]
        sig_order = seg_node.attrs.get("analogsignal_positions")
        if sig_order is not None:
            positions = [i for group in sig_order for i in group]
            flat = [flat[positions.index(i)] for i in range(len(flat))]
        seg.analogsignals = flat
        for sig in flat:
            sig.segment = seg
        block.segments.append(seg)
        seg.block = block
    return block


def _node(nodes: Mapping[str, Node], path: str, where: str) -> Node:
    try:
        return nodes[path]
    except KeyError:
        raise SchemaError(f"{where}: group {path!r} is listed but missing") from None


def _container_kwargs(meta: Mapping[str, Any]) -> dict[str, Any]:
    decoded = jsonable.decode(dict(meta))
    annotations = decoded.pop("annotations", {}) or {}
    return {**decoded, **annotations}


def _attach_trains(seg: neo.Segment, parts: list[Any], order: list[list[int]] | None) -> None:
    counts = [p.n for p in parts]
    n_total = sum(counts)
    mux = None
    t_start = t_stop = None
    if parts and all(p.mux is not None for p in parts):
        units = {str(p.mux[1].dimensionality) for p in parts}
        if len(units) == 1 and order is None:
            offsets = np.cumsum([0, *counts])
            ids = np.concatenate([p.mux[0] + off for p, off in zip(parts, offsets, strict=False)])
            times = np.concatenate([p.mux[1].magnitude for p in parts])
            mux = (ids, pq.Quantity(times, units.pop(), copy=False))
        starts = {p.t_start for p in parts}
        stops = {p.t_stop for p in parts}
        if len(starts) == 1 and len(stops) == 1 and None not in starts | stops:
            unit = parts[0].units
            t_start = pq.Quantity(starts.pop(), unit)
            t_stop = pq.Quantity(stops.pop(), unit)

    def build() -> list[neo.SpikeTrain]:
        trains = [st for p in parts for st in p.build()]
        if order is None:
            return trains
        positions = [i for group in order for i in group]
        out: list[neo.SpikeTrain | None] = [None] * n_total
        for pos, st in zip(positions, trains, strict=True):
            out[pos] = st
        return out  # type: ignore[return-value]

    lazy = LazySpikeTrains.from_factory(
        build, n_trains=n_total, multiplexed=mux, t_start=t_start, t_stop=t_stop
    )
    lazy.segment = seg
    seg.spiketrains = lazy


class _TrainPart:
    """The spike trains of one population group, built on demand."""

    def __init__(self, node: Node) -> None:
        meta = node.attrs.get("spiketrains")
        self.node = node
        self.meta = meta
        self.n = 0 if meta is None else int(node.variables[SPIKE_COUNT].data.size)
        self.mux = None
        self.t_start = self.t_stop = None
        if meta is None:
            return
        var = node.variables[SPIKE_TIME]
        self.units = var.attrs["units"]
        self.times = var.data.astype(var.attrs.get("dtype", "<f8"), copy=False)
        self.counts = node.variables[SPIKE_COUNT].data
        self.t_start = meta.get("t_start")
        self.t_stop = meta.get("t_stop")
        ids = np.repeat(np.arange(self.n), self.counts)
        self.mux = (ids, pq.Quantity(self.times, self.units, copy=False))

    def build(self) -> list[neo.SpikeTrain]:
        if self.meta is None:
            return []
        meta, node, n = self.meta, self.node, self.n
        per_unit_bounds = {
            b: (node.variables[b].data if b in node.variables else np.full(n, meta[b]))
            for b in ("t_start", "t_stop")
        }
        common = jsonable.decode(meta["annotations"])
        if node.attrs.get("label_from_annotation"):
            common[POPULATION_KEY] = node.attrs["label"]
        arrays = {k: node.variables[v].data for k, v in meta["annotation_vars"].items()}
        lists = {k: v for k, v in meta["annotation_lists"].items() if k != "__array_annotations__"}
        arr_lists = meta["annotation_lists"].get("__array_annotations__")
        attrs_common = jsonable.decode(meta["attributes"])
        attr_lists = meta["attribute_lists"]
        spike_arrays = {k: node.variables[v].data for k, v in meta["array_annotation_vars"].items()}
        bounds = np.cumsum(np.concatenate([[0], self.counts]))
        trains = []
        for i in range(n):
            lo, hi = bounds[i], bounds[i + 1]
            kwargs = dict(attrs_common)
            for key, values in attr_lists.items():
                if values[i] != _MISSING:
                    kwargs[key] = jsonable.decode(values[i])
            annotations = dict(common)
            for key, values in lists.items():
                if values[i] != _MISSING:
                    annotations[key] = jsonable.decode(values[i])
            annotations.update({key: values[i] for key, values in arrays.items()})
            array_annotations = {key: values[lo:hi] for key, values in spike_arrays.items()}
            if arr_lists is not None:
                array_annotations.update(jsonable.decode(arr_lists[i]))
            st = neo.SpikeTrain(
                self.times[lo:hi],
                units=self.units,
                t_start=per_unit_bounds["t_start"][i],
                t_stop=per_unit_bounds["t_stop"][i],
                array_annotations=array_annotations or None,
                **kwargs,
            )
            st.annotations.update(annotations)
            trains.append(st)
        return trains


def _train_factory(node: Node) -> _TrainPart:
    return _TrainPart(node)


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
