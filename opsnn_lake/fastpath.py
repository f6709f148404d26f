"""Fast path: PyNN populations recorded on NEST straight into store nodes.

The neo route (``pop.get_data()`` → Block → :func:`~opsnn_lake.neo_convert.block_to_nodes`)
builds one ``SpikeTrain`` per cell, ~0.4 s for 4000 cells, longer than everything else
a write costs. Here spikes come from NEST's spike recorder as two flat arrays
(``senders``, ``times``), are cut at the current time exactly as PyNN's ``get_data``
cuts them (PyNN runs one ``min_delay`` past the requested time), and are grouped by
cell with one stable sort, which keeps the recorder's order within a cell just as the
neo route's per-cell masks do. Analog signals (a few per population) go through PyNN's
own recorder and the neo route's layout code.

The result is the same nodes as the neo route; ``tests/test_fastpath.py`` compares the
two stores array by array.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import neo
import numpy as np
import quantities as pq

from opsnn_lake import _versions, jsonable
from opsnn_lake.errors import SchemaError
from opsnn_lake.neo_convert import (
    DEFAULT_TRAIN_ATTRIBUTES,
    POPULATION_KEY,
    SignalAxes,
    add_signal,
    merge_blocks,
    spike_group,
)
from opsnn_lake.schema import (
    Node,
    unique_names,
)

__all__ = ["POSITION_KEYS", "neo_route_block", "nest_nodes", "population_space"]

#: Per-cell annotations holding a PyNN cell's position (µm), in this order.
POSITION_KEYS = ("x", "y", "z")


def neo_route_block(populations: Mapping[str, Any]) -> neo.Block:
    """The reference route: ``get_data()`` per population, labelled by key, merged.

    Populations (or views) are labelled by their key in ``populations``: a
    PopulationView's ``get_data`` names its parent otherwise.
    """
    blocks = {}
    for label, pop in populations.items():
        block = pop.get_data()
        positions, structure = population_space(pop)
        for seg in block.segments:
            for obj in [*seg.spiketrains, *seg.analogsignals]:
                obj.annotations[POPULATION_KEY] = label
            if positions is not None:
                _annotate_positions(seg, positions)
        if structure is not None:
            block.annotations["structure"] = structure
        blocks[label] = block
    return merge_blocks(blocks)


def population_space(pop: Any) -> tuple[np.ndarray | None, dict[str, Any] | None]:
    """Cell positions and spatial structure of a PyNN population (or view's parent).

    Parameters
    ----------
    pop : Population or PopulationView
        A PyNN population of any back-end.

    Returns
    -------
    positions : numpy.ndarray or None
        Shape (3, size of the parent population): x, y, z in µm as PyNN gives them,
        indexed by the cells' index in the parent (PyNN's ``source_index``); None if the
        back-end gives no positions.
    structure : dict or None
        ``{"type": "Grid2D", "parameters": {...}, "shape": [nx, ny]}`` from PyNN's
        structure (``shape`` for grids only), plus the population's ``extent``
        (``[[x0, x1], [y0, y1]]``, µm) and ``periodic`` annotations when the model gave
        them; None when PyNN knows none of it.
    """
    parent = getattr(pop, "parent", None) or pop
    try:
        raw = parent.positions
    except (AttributeError, NotImplementedError, ValueError):
        # sPyNNaker refuses (ValueError) for a population it was given no structure.
        return None, None
    positions = np.asarray(raw, dtype=np.float64)
    size = len(parent)
    if positions.shape == (size, 3) and size != 3:
        positions = positions.T  # sPyNNaker 7.4 gives positions as (cells, 3), PyNN (3, cells)
    if positions.shape != (3, size):
        return None, None
    structure: dict[str, Any] = {}
    struct = getattr(parent, "structure", None)
    if struct is not None:
        params = {}
        for name in getattr(struct, "parameter_names", ()):
            value = getattr(struct, name, None)
            if isinstance(value, bool | int | float | str) or value is None:
                params[name] = value.item() if isinstance(value, np.generic) else value
        structure.update(type=type(struct).__name__, parameters=params)
        if hasattr(struct, "calculate_size") and type(struct).__name__.startswith("Grid"):
            structure["shape"] = [int(v) for v in struct.calculate_size(positions.shape[1])]
    annotations = getattr(parent, "annotations", None) or {}
    for key in ("extent", "periodic"):
        if key in annotations:
            structure[key] = annotations[key]
    return positions, structure or None


def _annotate_positions(seg: neo.Segment, positions: np.ndarray) -> None:
    """Positions of the cells of a ``get_data`` segment as annotations (neo route).

    A spike train gets ``x``, ``y``, ``z`` scalars (numpy floats: the store keeps them
    as ``unit`` coordinates), an analog signal per-channel array annotations.
    """
    trains = list(seg.spiketrains)
    if all("source_index" in st.annotations for st in trains):  # else no cell to look up
        for st in trains:
            index = int(st.annotations["source_index"])
            for axis, key in enumerate(POSITION_KEYS):
                st.annotations[key] = positions[axis, index]
    for sig in seg.analogsignals:
        channels = np.asarray(sig.array_annotations.get("channel_index", []), dtype=np.int64)
        if channels.size == sig.shape[1]:
            sig.array_annotate(**{k: positions[a, channels] for a, k in enumerate(POSITION_KEYS)})


@dataclass(frozen=True, kw_only=True)
class _PyNNRecording:
    """The private PyNN state the fast path reads for one population.

    Verified for the PyNN versions in :mod:`opsnn_lake._versions` (the fast-path
    equivalence test covers them); :func:`_pynn_recording` is the only code that
    reads them, so a PyNN change breaks in one place.
    """

    record_filter: Any  # the PopulationView's cell filter (None for a Population)
    spike_device: Any  # NEST spike recorder (NodeCollection)
    multimeter_device: Any  # NEST multimeter (NodeCollection)
    multimeter_clean: bool  # True: NEST recorded nothing at the first time step
    initial_values: Mapping[str, Mapping[int, float]]  # per variable, per cell id
    recording_start: pq.Quantity  # when recording started (ms)
    time_offset: float  # PyNN's offset of NEST time after sim.reset() (ms)


def _pynn_recording(pop: Any, sim: Any) -> _PyNNRecording:
    """Read every private PyNN attribute the fast path needs (and nowhere else)."""
    recorder = pop.recorder
    return _PyNNRecording(
        record_filter=pop._record_filter,
        spike_device=recorder._spike_detector.device,
        multimeter_device=recorder._multimeter.device,
        multimeter_clean=bool(recorder._multimeter._clean),
        initial_values=recorder._multimeter._initial_values,
        recording_start=recorder._recording_start_time,
        time_offset=float(sim.simulator.state._time_offset),
    )


class _Events:
    """NEST recorder events, copied out of NEST once per device.

    Views of one population share its recorder objects. (The device's global_id
    would itself be a NEST status query, hence ``id``.)
    """

    def __init__(self) -> None:
        self._fetched: dict[int, Mapping[str, np.ndarray]] = {}

    def __call__(self, device: Any) -> Mapping[str, np.ndarray]:
        import nest

        key = id(device)
        if key not in self._fetched:
            self._fetched[key] = nest.GetStatus(device, "events")[0]
        return self._fetched[key]


def nest_nodes(
    populations: Mapping[str, Any], sim: Any, *, description: str | None = None
) -> dict[str, Node]:
    """Store nodes of the current segment of PyNN populations recorded on NEST.

    Parameters
    ----------
    populations : Mapping[str, Population or PopulationView]
        What to store, by label (the group names and ``source_population``).
    sim : module
        ``pyNN.nest`` after ``sim.run``.
    description : str, optional
        ``describe()`` of the first population's parent, if computed before the run
        (it costs ~15 ms and does not change while simulating).

    Returns
    -------
    dict[str, Node]
        The nodes :func:`neo_route_block` + ``block_to_nodes`` would give.

    Raises
    ------
    SchemaError
        If a population has cached segments (``sim.reset()`` was called): use the neo
        route for multi-segment runs.
    """
    _versions.require_verified("PyNN", "the NEST fast path (reads PyNN's recorder internals)")
    state = sim.simulator.state
    pop_names = unique_names(list(populations), prefix="population")
    seg_name = f"segment{state.segment_counter:03d}"  # as PyNN names it
    if description is None:
        description = next(iter(populations.values())).recorder.population.describe()
    nodes: dict[str, Node] = {}
    block_annotations: dict[str, Any] = {}
    events = _Events()
    for (label, pop), name in zip(populations.items(), pop_names, strict=True):
        node, annotations = _population_node(label, pop, sim, events, t_now=state.t)
        nodes[f"{seg_name}/{name}"] = node
        block_annotations[label] = annotations
    nodes.update(_container_nodes(seg_name, pop_names, block_annotations, description))
    return nodes


def _population_node(
    label: str, pop: Any, sim: Any, events: _Events, *, t_now: float
) -> tuple[Node, dict[str, Any]]:
    """One population's group (spikes, then signals) and its block annotations."""
    recorder = pop.recorder
    cached = list(recorder.cache)
    if cached:
        raise SchemaError(
            f"population {label!r}: has {len(cached)} earlier segments "
            "(sim.reset() was called); store multi-segment runs with the neo route"
        )
    pynn = _pynn_recording(pop, sim)
    node = Node(attrs={"label": label, "label_from_annotation": True})
    positions, structure = population_space(pop)
    axes = SignalAxes()
    spikes_var = next((v for v in recorder.recorded if v.name == "spikes"), None)
    if spikes_var is not None:
        ids = np.array(sorted(recorder.filter_recorded(spikes_var, pynn.record_filter)), dtype=int)
        axes.unit_ids = _add_spikes(
            node, events(pynn.spike_device), ids, recorder, pynn, t_now, positions
        )
    for variable in recorder.recorded:
        if variable.name != "spikes":
            sig = _signal(
                recorder, variable, label, events(pynn.multimeter_device), pynn, t_now, positions
            )
            if sig is not None:  # None: recorded on other cells of the parent only
                where = f"population {label!r}, signal {variable.name!r}"
                add_signal(node, sig, axes, where=where)
    annotations = {**recorder.metadata}
    if structure is not None:
        annotations["structure"] = structure
    return node, annotations


def _container_nodes(
    seg_name: str, pop_names: list[str], block_annotations: dict[str, Any], description: str
) -> dict[str, Node]:
    """The root and segment nodes, with the metadata PyNN's ``get_data`` gives them."""
    meta = {
        "name": None,
        "description": None,
        "file_origin": None,
        "file_datetime": None,
        "rec_datetime": None,
        "index": None,
        "annotations": {"populations": block_annotations},
    }
    seg_meta: dict[str, Any] = {
        "name": seg_name,
        "description": description,
        "file_origin": None,
        "file_datetime": None,
        "rec_datetime": datetime.now(),
        "index": 0,
        "annotations": {},
    }
    root = {"block": jsonable.encode_mapping(meta, where="block"), "segments": [seg_name]}
    segment = {
        "segment": jsonable.encode_mapping(seg_meta, where="segment"),
        "populations": pop_names,
    }
    return {"": Node(attrs=root), seg_name: Node(attrs=segment)}


def _add_spikes(
    node: Node,
    events: Mapping[str, np.ndarray],
    ids: np.ndarray,
    recorder: Any,
    pynn: _PyNNRecording,
    t_now: float,
    positions: np.ndarray | None,
) -> np.ndarray | None:
    senders = np.asarray(events["senders"])
    times = np.asarray(events["times"], dtype=np.float64) - pynn.time_offset
    keep = (times <= t_now) & np.isin(senders, ids)
    senders, times = senders[keep], times[keep]
    order = _stable_order(senders)  # recorder order within a cell, as neo keeps it
    senders, times = senders[order], times[order]
    bounds = np.searchsorted(senders, ids, side="left")
    counts = np.diff(np.append(bounds, senders.size)).astype(np.int64)
    same_cell = np.repeat(np.arange(ids.size), counts)
    if times.size > 1 and (np.diff(times)[np.diff(same_cell) == 0] < 0).any():
        raise SchemaError(f"population {node.attrs['label']!r}: recorder spike times are unsorted")
    t_start = float(pynn.recording_start.rescale("ms").magnitude)
    index = _index(recorder.population, ids)
    # The recorder belongs to the parent of a PopulationView and indexes by it, as
    # the neo route does; neo names each train's id `channel_id`.
    per_unit = {"source_index": index, "channel_id": ids.astype(np.int64)}
    if positions is not None:
        per_unit.update({k: positions[a, index] for a, k in enumerate(POSITION_KEYS)})
    group = spike_group(
        node,
        times=times,
        counts=counts,
        units="ms",
        dtype="<f8",
        t_start=np.full(ids.size, t_start),
        t_stop=np.full(ids.size, float(t_now)),
        unit_annotations=per_unit,
        annotations={},
        attributes=DEFAULT_TRAIN_ATTRIBUTES,
    )
    return group.unit_ids


def _stable_order(senders: np.ndarray) -> np.ndarray:
    """Stable sort order of cell ids; numpy radix-sorts 16-bit keys in linear time."""
    if senders.size and int(senders.max()) - int(senders.min()) < 2**16:
        return np.argsort((senders - senders.min()).astype(np.uint16), kind="stable")
    return np.argsort(senders, kind="stable")


def _index(population: Any, ids: np.ndarray) -> np.ndarray:
    """Indices of cells in a Population (NEST ids are consecutive, as PyNN assumes)."""
    return (np.asarray(ids, dtype=np.int64) - int(population.first_id)).astype(np.int64)


def _signal(
    recorder: Any,
    variable: Any,
    label: str,
    events: Mapping[str, np.ndarray],
    pynn: _PyNNRecording,
    t_now: float,
    positions: np.ndarray | None,
) -> neo.AnalogSignal | None:
    """One recorded variable from NEST's multimeter, as PyNN's ``get_data`` builds it.

    Vectorised form of PyNN's per-event loop: values grouped by cell with one stable
    sort, cut at the current time, and the value at t_start (which NEST does not
    record) set from the cell's initial value exactly as PyNN does.
    """
    name = variable.name
    celltype = recorder.population.celltype
    nest_name = getattr(celltype, "variable_map", {}).get(name, name)
    scale = getattr(celltype, "scale_factors", {}).get(name, 1)
    cells = sorted(recorder.filter_recorded(variable, pynn.record_filter))
    if not cells:
        return None
    ids = np.fromiter(cells, dtype=int, count=len(cells))
    senders = np.asarray(events["senders"])
    times = np.asarray(events["times"]) - pynn.time_offset
    keep = (times <= t_now) & np.isin(senders, ids)
    order = _stable_order(senders[keep])
    values = (np.asarray(events[nest_name]) * scale)[keep][order]
    per_cell = values.reshape(ids.size, -1) if ids.size else values.reshape(0, 0)
    known = pynn.initial_values.get(name, {})
    initial = np.array([known.get(int(c), c.get_initial_value(name)) for c in cells], dtype=float)
    if pynn.multimeter_clean:  # NEST records nothing at the first time step
        per_cell = np.column_stack([initial, per_cell])
    elif per_cell.shape[1]:
        per_cell[:, 0] = initial
    units = recorder.population.find_units(variable)
    index = _index(recorder.population, ids)
    array_annotations = {"channel_index": index}
    if positions is not None:
        array_annotations.update({k: positions[a, index] for a, k in enumerate(POSITION_KEYS)})
    return neo.AnalogSignal(
        per_cell.T,
        units="dimensionless" if units == "unknown" else units,
        t_start=pynn.recording_start,
        sampling_period=recorder.sampling_interval * pq.ms,
        name=name,
        channel_ids=ids,
        source_population=label,
        array_annotations=array_annotations,
    )
