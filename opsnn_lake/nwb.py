"""NWB export and import of runs: spikes in the Units table, signals as TimeSeries.

:func:`write_nwb` writes a run (its store nodes) as an NWB 2 file:

* ``units``: one row per cell and segment; ``spike_times`` (seconds, as NWB requires)
  as a ragged column written in chunks (:class:`hdmf.data_utils.AbstractDataChunkIterator`
  wrapped in ``H5DataIO``), and the columns ``population``, ``segment``,
  ``cell_index`` (the cell's index in its population) and ``global_id`` (the
  simulator's id, PyNN's ``channel_id``);
* ``acquisition``: one ``TimeSeries`` per recorded signal and population, its values
  stored as recorded (``mV``) with NWB's SI ``unit`` and ``conversion`` (``volts``,
  ``0.001``), so no value is rescaled;
* session fields for a simulation (``session_description`` naming model and
  simulator, ``identifier`` and ``session_id`` = run id, ``session_start_time`` = when
  the run was made, a ``Subject`` that is the network: built at the session start,
  sex unknown, species NCBI Taxonomy "synthetic construct"), parameters in
  ``experiment_description`` and ``protocol``, and in ``notes`` a JSON document
  (``{"opsnn_lake_nwb": …}``) with the provenance and what reading back needs:
  per-population time unit and grid, bounds, and signal metadata.

Spike times converted from ms to s are not always the same float64 on the way back
(``t / 1000 * 1000 != t`` for some ``t``). Spikes of time-driven simulators lie on a
grid (the store keeps its step), and :func:`read_nwb` snaps back to it, which the
writer checks for every spike before writing; spikes off any grid are also written
exactly, in a ``spike_times_exact`` column in their original unit. So spike times read
back are bitwise equal to the run's.

:func:`read_nwb` reads such a file back into a neo Block (and generic NWB files with a
Units table and TimeSeries acquisitions, with less metadata).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import neo
import numpy as np
import quantities as pq

from opsnn_lake import jsonable
from opsnn_lake.errors import SchemaError
from opsnn_lake.neo_convert import POPULATION_KEY
from opsnn_lake.schema import SPIKE_COUNT, SPIKE_TIME, Node, SpikeLayout

__all__ = ["MARKER", "Population", "is_opsnn_nwb", "populations", "read_nwb", "write_nwb"]

MARKER = "opsnn_lake_nwb"
#: Block annotation naming the lake run an exported file came from.
EXPORTED_FROM = "exported_from"
FORMAT_VERSION = 1
SYNTHETIC_SPECIES = "http://purl.obolibrary.org/obo/NCBITaxon_32630"  # synthetic construct
CHUNK_SPIKES = 2**20  # spikes per chunk written: 8 MiB of float64
# NWB names the SI unit of a TimeSeries; the quantities spelling maps to it.
_NWB_UNITS = {"V": "volts", "A": "amperes", "S": "siemens", "s": "seconds", "Hz": "hertz"}


# --------------------------------------------------------------------------- the run


@dataclass
class Population:
    """One population of one segment of a run, as the exporters see it."""

    segment: str
    label: str
    times: np.ndarray  # float64, in ``units``, sorted by unit then time
    counts: np.ndarray  # int64 spikes per unit
    units: str  # time unit of ``times`` (e.g. "ms")
    grid: float | None  # step of the time grid (in ``units``) or None
    cell_index: np.ndarray  # int64
    global_id: np.ndarray  # int64 (-1 where unknown)
    t_start: np.ndarray  # per unit, in ``units``
    t_stop: np.ndarray
    signals: list[tuple[str, Any]] = field(default_factory=list)  # (name, Variable)


def populations(nodes: Mapping[str, Node]) -> list[Population]:
    """The populations of a run's nodes, segment by segment, in stored order.

    Cell indices come from PyNN's ``source_index`` annotation and global ids from its
    ``channel_id`` (the simulator's id); without them, indices are 0..n-1 and ids -1.
    """
    root = nodes.get("")
    order = list(root.attrs.get("segments", [])) if root is not None else []
    order += sorted(p for p in nodes if p and "/" not in p and p not in order)
    out: list[Population] = []
    for seg in order:
        seg_node = nodes.get(seg)
        names = list(seg_node.attrs.get("populations", [])) if seg_node else []
        names += sorted(
            p.split("/", 1)[1] for p in nodes if p.startswith(seg + "/") and p.count("/") == 1
        )
        for name in dict.fromkeys(names):
            node = nodes.get(f"{seg}/{name}")
            if node is None:
                continue
            out.append(_population(seg, name, node))
    return out


def _population(seg: str, name: str, node: Node) -> Population:
    label = node.attrs.get("label")
    label = label if isinstance(label, str) else name
    layout = node.spike_layout(where=f"group {seg}/{name}") or SpikeLayout()
    ann_vars = layout.annotation_vars
    if SPIKE_TIME in node.variables:
        tvar = node.variables[SPIKE_TIME]
        times = np.asarray(tvar.data, dtype=np.float64)
        counts = np.asarray(node.variables[SPIKE_COUNT].data, dtype=np.int64)
        units = str(tvar.attrs.get("units", "ms"))
        grid = tvar.scale_factor
    else:
        times, counts, units, grid = np.empty(0), np.empty(0, np.int64), "ms", None
    n = counts.size

    def unit_var(key: str, default: np.ndarray) -> np.ndarray:
        var = ann_vars.get(key)
        if var in node.variables and np.asarray(node.variables[var].data).dtype.kind in "iu":
            return np.asarray(node.variables[var].data, dtype=np.int64)
        return default

    def bound(key: str) -> np.ndarray:
        if key in node.variables:
            return np.asarray(node.variables[key].data, dtype=np.float64)
        common = getattr(layout, key)
        return np.full(n, 0.0 if common is None else common)

    pop = Population(
        segment=seg,
        label=label,
        times=times,
        counts=counts,
        units=units,
        grid=grid,
        cell_index=unit_var("source_index", np.arange(n, dtype=np.int64)),
        global_id=unit_var("channel_id", np.full(n, -1, dtype=np.int64)),
        t_start=bound("t_start"),
        t_stop=bound("t_stop"),
    )
    for sig in node.attrs.get("signals", []):
        pop.signals.append((sig, node.variables[sig]))
    return pop


def to_seconds(units: str) -> float:
    """Factor from a time unit to seconds (``"ms"`` → 0.001)."""
    return float(pq.Quantity(1.0, units).rescale(pq.s).magnitude)


def restore_times(seconds: np.ndarray, units: str, grid: float | None) -> np.ndarray:
    """Spike times in seconds back to ``units``, snapped to the grid (module docstring)."""
    per_second = 1.0 / to_seconds(units)
    values = seconds * per_second
    if grid is not None:
        values = np.rint(values / grid) * grid
    return values


# --------------------------------------------------------------------------- writing


class _Chunks:
    """A flat float64 column written chunk by chunk (an hdmf data chunk iterator).

    ``parts`` are arrays (one per population); ``transform`` turns a slice of one into
    the values written, so converted copies exist one chunk at a time.
    """

    def __init__(self, parts: Sequence[tuple[np.ndarray, Any]], chunk: int = CHUNK_SPIKES):
        self.parts = parts
        self.chunk = chunk
        self.total = int(sum(p.size for p, _ in parts))
        self._iter = self._generate()

    def _generate(self) -> Iterator[Any]:
        from hdmf.data_utils import DataChunk

        offset = 0
        for array, transform in self.parts:
            for a in range(0, array.size, self.chunk):
                values = transform(array[a : a + self.chunk])
                yield DataChunk(data=values, selection=np.s_[offset : offset + values.size])
                offset += values.size


def _chunk_iterator(parts: Sequence[tuple[np.ndarray, Any]]) -> Any:
    from hdmf.data_utils import AbstractDataChunkIterator

    class ChunkIterator(AbstractDataChunkIterator):
        def __init__(self) -> None:
            self.state = _Chunks(parts)

        def __iter__(self) -> ChunkIterator:
            return self

        def __next__(self) -> Any:
            return next(self.state._iter)

        def recommended_chunk_shape(self) -> tuple[int, ...]:
            return (max(1, min(self.state.chunk, self.state.total)),)

        def recommended_data_shape(self) -> tuple[int, ...]:
            return (self.state.total,)

        @property
        def dtype(self) -> np.dtype:
            return np.dtype(np.float64)

        @property
        def maxshape(self) -> tuple[int, ...]:
            return (self.state.total,)

    return ChunkIterator()


def _nwb_unit(units: str) -> tuple[str, float]:
    """NWB's unit name and the conversion factor to it (``"mV"`` → ``("volts", 0.001)``)."""
    q = pq.Quantity(1.0, units)
    for name, si in (("volts", pq.V), ("amperes", pq.A), ("siemens", pq.S), ("seconds", pq.s)):
        try:
            return name, float(q.rescale(si).magnitude)
        except ValueError:  # another dimension
            continue
    simple = q.simplified
    return simple.dimensionality.string, float(simple.magnitude)


def _exact(pop: Population) -> bool:
    """Whether :func:`restore_times` gives back every spike time bitwise."""
    factor = to_seconds(pop.units)
    for a in range(0, pop.times.size, CHUNK_SPIKES):
        part = pop.times[a : a + CHUNK_SPIKES]
        back = restore_times(part * factor, pop.units, pop.grid)
        if not np.array_equal(back.view(np.int64), part.view(np.int64)):
            return False
    return True


def _session_start(prov: Mapping[str, Any]) -> dt.datetime:
    created = prov.get("created")
    if isinstance(created, str):
        try:
            when = dt.datetime.fromisoformat(created)
            return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        except ValueError:
            pass
    return dt.datetime.now(dt.UTC)


def write_nwb(
    nodes: Mapping[str, Node],
    path: str | os.PathLike[str],
    *,
    run_id: str,
    provenance: Mapping[str, Any],
    compression: str | None = "gzip",
) -> Path:
    """Write a run as an NWB file (layout in the module docstring).

    Parameters
    ----------
    nodes : Mapping[str, Node]
        The run's store nodes (``opsnn_lake.store.read_nodes``).
    path : path-like
        The file to write (``.nwb``); written aside and renamed, so no partial file
        is left at ``path``.
    run_id : str
        The run id (NWB ``identifier`` and ``session_id``).
    provenance : Mapping
        The run's provenance record (``Provenance.to_dict()``).
    compression : str or None
        HDF5 filter of the data (``"gzip"``, or None).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    SchemaError
        If populations use time units that are not times; the message names them.
    """
    from pynwb import NWBHDF5IO

    pops = populations(nodes)
    prov = dict(provenance)
    nwbfile = _nwb_file(run_id, prov, n_populations=len(pops))
    io = _compressor(compression)
    layout = [_layout_entry(pop, row) for pop, row in zip(pops, _first_rows(pops), strict=True)]
    for pop, entry in zip(pops, layout, strict=True):
        entry["signals"] = _add_signals(nwbfile, pop, io, one_segment=len(_segments(pops)) == 1)
    if sum(p.counts.size for p in pops):  # no cells, no Units table (nwbinspector flags one)
        nwbfile.units = _units_table(pops, io)
    nwbfile.notes = json.dumps(
        {
            MARKER: FORMAT_VERSION,
            "run_id": run_id,
            "provenance": prov,
            "block": nodes[""].attrs.get("block") if "" in nodes else None,
            "populations": layout,
        },
        sort_keys=True,
    )
    with write_aside(Path(path)) as tmp, NWBHDF5IO(str(tmp), "w") as out:
        out.write(nwbfile)
    return Path(path)


@contextlib.contextmanager
def write_aside(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed to it when the block succeeds.

    No partial file is ever left at ``path``; the temporary file is removed on failure.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _nwb_file(run_id: str, prov: Mapping[str, Any], *, n_populations: int) -> Any:
    """The NWBFile of a run: session, experiment and subject described from provenance."""
    from pynwb import NWBFile
    from pynwb.file import Subject

    model = prov.get("model") or "unnamed model"
    simulator = " ".join(
        str(x) for x in (prov.get("simulator"), prov.get("simulator_version")) if x
    )
    params = json.dumps(prov.get("parameters", {}), sort_keys=True)
    nwbfile = NWBFile(
        session_description=(
            f"Spiking network simulation {run_id}: model {model}"
            + (f", simulated with {simulator}" if simulator else "")
            + f", {n_populations} populations (OpSNN lake export)"
        ),
        identifier=run_id,
        session_id=run_id,
        session_start_time=_session_start(prov),
        experiment_description=f"Simulation of model {model} with parameters {params}",
        protocol=params,
        data_collection="Simulated data: spikes and state variables recorded by the simulator",
        keywords=["simulation", "spiking neural network", str(model)],
        source_script=json.dumps(prov.get("command", [])),
        source_script_file_name=str(model),
    )
    # NWB (and nwbinspector) want a subject with sex and age. For a simulation the
    # network is the subject: built at the start of the session (date of birth = session
    # start), sex unknown ("U"), species NCBI Taxonomy's "synthetic construct" (32630):
    # no organism, and NWB wants a Latin name or a taxonomy link.
    nwbfile.subject = Subject(
        subject_id=str(model),
        description=(
            f"In-silico spiking network (model {model}), no animal; seed {prov.get('seed')}, "
            f"simulator {simulator or 'unknown'}. Built at the session start."
        ),
        sex="U",
        species=SYNTHETIC_SPECIES,
        date_of_birth=nwbfile.session_start_time,
    )
    return nwbfile


def _compressor(compression: str | None) -> Callable[[Any], Any]:
    """Wraps data for writing: HDF5-compressed with ``compression``, or as is."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO

    def io(data: Any) -> Any:
        return H5DataIO(data, compression=compression) if compression else data

    return io


def _first_rows(pops: Sequence[Population]) -> list[int]:
    """Row of each population's first unit in the Units table."""
    return np.concatenate([[0], np.cumsum([p.counts.size for p in pops])])[:-1].tolist()


def _layout_entry(pop: Population, row: int) -> dict[str, Any]:
    """What the notes keep of a population to restore it exactly (signals added after)."""
    return {
        "segment": pop.segment,
        "label": pop.label,
        "rows": [row, row + int(pop.counts.size)],
        "units": pop.units,
        "grid": pop.grid,
        "exact_column": not _exact(pop),
        "t_start": _compact(pop.t_start),
        "t_stop": _compact(pop.t_stop),
        "signals": [],
    }


def _add_signals(
    nwbfile: Any, pop: Population, io: Callable[[Any], Any], *, one_segment: bool
) -> list[dict[str, Any]]:
    """A TimeSeries per signal of the population, in acquisition; their layout entries."""
    from pynwb import TimeSeries

    entries = []
    for name, var in pop.signals:
        nwb_unit, conversion = _nwb_unit(str(var.attrs.get("units")))
        base = f"{pop.label}_{name}" if one_segment else f"{pop.segment}_{pop.label}_{name}"
        ts_name = _free(base, nwbfile.acquisition)
        t_start = jsonable.decode(var.attrs["t_start"])
        rate = jsonable.decode(var.attrs["sampling_rate"])
        ts = TimeSeries(
            name=ts_name,
            data=io(np.asarray(var.data)),
            unit=nwb_unit,
            conversion=conversion,
            starting_time=float(t_start.rescale(pq.s).magnitude),
            rate=float(rate.rescale(pq.Hz).magnitude),
            description=f"{name} of population {pop.label!r} (segment {pop.segment}), "
            f"{var.data.shape[1]} cells, in {var.attrs.get('units')}",
            comments=json.dumps({"population": pop.label, "signal": name}),
        )
        nwbfile.add_acquisition(ts)
        entries.append(
            {
                "name": name,
                "timeseries": ts_name,
                **{k: var.attrs.get(k) for k in ("units", "long_name", "dtype")},
                "t_start": var.attrs["t_start"],
                "sampling_rate": var.attrs["sampling_rate"],
            }
        )
    return entries


def _units_table(pops: Sequence[Population], io: Callable[[Any], Any]) -> Any:
    """The Units table: spike times (s, and exact where seconds cannot carry them), ids."""
    from hdmf.common import ElementIdentifiers, VectorIndex
    from pynwb.misc import Units

    def spike_column(parts: Sequence[tuple[np.ndarray, Any]]) -> Any:
        if not any(p.size for p, _ in parts):  # no spikes: HDF5 cannot chunk an empty column
            return np.empty(0, dtype=np.float64)
        return io(_chunk_iterator(parts))

    index = np.cumsum(np.concatenate([p.counts for p in pops])).astype(np.int64)
    spike_parts = [(p.times, _to_seconds_fn(to_seconds(p.units))) for p in pops]
    spike_times = _column(
        "spike_times",
        "spike times of each unit (s, from the run's own unit)",
        spike_column(spike_parts),
    )
    # Each index before its target: hdmf drops chunk-iterator columns from its length
    # check as it meets them, and would then not find the target of a later index.
    columns: list[Any] = [
        VectorIndex(name="spike_times_index", data=index, target=spike_times),
        spike_times,
    ]
    if not all(_exact(p) for p in pops):
        exact = _column(
            "spike_times_exact",
            "spike times in the population's own unit (notes: units), bitwise "
            "as simulated, for spikes that seconds cannot carry exactly",
            spike_column([(p.times, _same_fn) for p in pops]),
        )
        columns += [VectorIndex(name="spike_times_exact_index", data=index, target=exact), exact]
    columns += _unit_columns(pops)
    return Units(
        name="units",
        description="spikes of every recorded cell, one row per cell and segment",
        # The finest time grid of the spikes (the simulator's step), in seconds.
        resolution=_resolution(pops),
        id=ElementIdentifiers(name="id", data=np.arange(index.size)),
        columns=columns,
    )


def _column(name: str, description: str, values: Any) -> Any:
    from hdmf.common import VectorData

    return VectorData(name=name, description=description, data=values)


def _unit_columns(pops: Sequence[Population]) -> list[Any]:
    """Population, segment, cell index and global id of every unit (row)."""
    sizes = [p.counts.size for p in pops]
    return [
        _column("population", "population label", _repeat_text([p.label for p in pops], sizes)),
        _column(
            "segment",
            "segment (simulation run) name",
            _repeat_text([p.segment for p in pops], sizes),
        ),
        _column(
            "cell_index",
            "index of the cell in its population",
            np.concatenate([p.cell_index for p in pops]),
        ),
        _column(
            "global_id",
            "simulator id of the cell (PyNN channel_id; -1 when unknown)",
            np.concatenate([p.global_id for p in pops]),
        ),
    ]


def _repeat_text(values: Sequence[str], repeats: Sequence[int]) -> np.ndarray:
    """One string per row as an object array: hdmf walks a list element by element."""
    return np.repeat(np.array(values, dtype=object), np.asarray(repeats, dtype=np.int64))


def _resolution(pops: Sequence[Population]) -> float:
    grids = [p.grid * to_seconds(p.units) for p in pops if p.grid is not None]
    if grids:
        return float(min(grids))
    # Off the grid (or no spikes): what float64 seconds can tell apart up to the end of
    # the run; nwbinspector flags NWB's "unknown" (-1) as a best-practice violation.
    ends = [float(np.max(np.abs(p.t_stop))) * to_seconds(p.units) for p in pops if p.t_stop.size]
    return float(np.spacing(max(ends))) if ends and max(ends) > 0 else -1.0


def _to_seconds_fn(factor: float) -> Any:
    return lambda part: part * factor


def _same_fn(part: np.ndarray) -> np.ndarray:
    return np.asarray(part, dtype=np.float64)


def _segments(pops: Sequence[Population]) -> set[str]:
    return {p.segment for p in pops}


def _free(name: str, taken: Mapping[str, Any]) -> str:
    out, n = name, 1
    while out in taken:
        out, n = f"{name}_{n}", n + 1
    return out


def _compact(values: np.ndarray) -> Any:
    """One number when all units share it (the usual case), else the list."""
    if values.size and (values == values[0]).all():
        return float(values[0])
    return values.tolist()


# --------------------------------------------------------------------------- reading


def flat_trains(
    times: np.ndarray,
    offsets: np.ndarray,
    units: str,
    t_start: np.ndarray,
    t_stop: np.ndarray,
    annotations: Sequence[dict[str, Any]],
) -> list[neo.SpikeTrain]:
    """Spike trains of one population from its flat times and per-unit offsets.

    One SpikeTrain over all spikes (validated by neo once), then a slice per unit, as
    :mod:`opsnn_lake.neo_convert` does: the constructor per unit parses unit strings
    three times and costs ~20x more.

    Parameters
    ----------
    times : numpy.ndarray
        float64 spike times in ``units``, unit after unit.
    offsets : numpy.ndarray
        ``n + 1`` offsets into ``times`` (unit ``i`` is ``times[offsets[i]:offsets[i+1]]``).
    units : str
        Time unit (e.g. ``"ms"``).
    t_start, t_stop : numpy.ndarray
        Per-unit bounds in ``units``.
    annotations : sequence of dict
        Annotations of each unit's train.
    """
    unit = pq.Quantity(1.0, units).units
    n = len(offsets) - 1
    starts = np.asarray(t_start, dtype=np.float64) * unit
    stops = np.asarray(t_stop, dtype=np.float64) * unit
    whole = neo.SpikeTrain(
        np.asarray(times, dtype=np.float64),
        units=unit,
        t_start=starts.min() if n else 0.0 * unit,
        t_stop=stops.max() if n else 0.0 * unit,
    )
    trains = []
    for i in range(n):
        st = whole[offsets[i] : offsets[i + 1]]
        st.t_start = starts[i]
        st.t_stop = stops[i]
        st.annotations = dict(annotations[i])  # a dict of its own (a slice shares the parent's)
        trains.append(st)
    return trains


def is_opsnn_nwb(h5file: Any) -> bool:
    """Whether an open ``h5py.File`` is an NWB file written by :func:`write_nwb`."""
    notes = h5file.get("general/notes")
    if notes is None:
        return False
    text = notes[()]
    text = text.decode() if isinstance(text, bytes) else str(text)
    return f'"{MARKER}"' in text[:200_000] and text.lstrip().startswith("{")


def read_nwb(path: str | os.PathLike[str]) -> neo.Block:
    """Read an NWB file into a neo Block: Units as spike trains, TimeSeries as signals.

    Files written by :func:`write_nwb` come back with their populations, segments, time
    units (spike times bitwise), signals in their recorded units and run metadata
    (``model``, ``parameters``, ``seed``… as Block annotations). Other NWB files give
    one population per ``population`` column value (or ``units``), times in seconds,
    and one signal per TimeSeries in ``acquisition``.

    Parameters
    ----------
    path : path-like
        The NWB file.

    Returns
    -------
    neo.Block
        One segment per stored segment.

    Raises
    ------
    SchemaError
        If the file is not readable NWB (truncated, corrupt, another format) or its
        OpSNN metadata does not match its tables; the message names the file.
    """
    from pynwb import NWBHDF5IO

    path = Path(path)
    try:
        io = NWBHDF5IO(str(path), "r")
        nwbfile = io.read()
    except Exception as err:  # h5py and hdmf raise many types on foreign files
        raise SchemaError(
            f"{path}: not a readable NWB file (truncated or corrupt?): {err}"
        ) from None
    try:
        meta = _notes(nwbfile.notes)
        if meta is None:
            return _read_generic(nwbfile, path)
        return _read_ours(nwbfile, meta, path)
    finally:
        io.close()


def _notes(notes: Any) -> dict[str, Any] | None:
    if not isinstance(notes, str) or MARKER not in notes:
        return None
    try:
        meta = json.loads(notes)
    except ValueError:
        return None
    return meta if isinstance(meta, dict) and MARKER in meta else None


def _read_ours(nwbfile: Any, meta: Mapping[str, Any], path: Path) -> neo.Block:
    units = nwbfile.units
    prov = jsonable.decode(meta.get("provenance") or {})
    block = neo.Block(name=str(meta.get("run_id")), file_origin=path.name)
    block_meta = jsonable.decode(meta.get("block") or {})
    if isinstance(block_meta, Mapping) and isinstance(block_meta.get("annotations"), Mapping):
        block.annotations.update(block_meta["annotations"])  # e.g. PyNN's per-population ones
    block.annotations[EXPORTED_FROM] = str(meta.get("run_id"))
    for key in ("model", "model_hash", "parameters", "seed", "simulator", "simulator_version"):
        if prov.get(key) is not None and prov.get(key) != {}:
            block.annotations[key] = prov[key]
    n_rows = 0 if units is None else len(units.id)
    segments: dict[str, neo.Segment] = {}
    trains: dict[str, list[neo.SpikeTrain]] = {}
    for entry in meta["populations"]:
        seg = segments.get(entry["segment"])
        if seg is None:
            seg = neo.Segment(name=entry["segment"], index=len(segments))
            segments[entry["segment"]] = seg
            block.segments.append(seg)
            seg.block = block
        a, b = entry["rows"]
        if b > n_rows:
            raise SchemaError(
                f"{path}: population {entry['label']!r} needs Units rows {a}..{b}, the table "
                f"has {n_rows} (file edited or truncated?)"
            )
        if b > a:
            trains.setdefault(entry["segment"], []).extend(_trains(units, entry, a, b, path))
        for sig in entry["signals"]:
            ts = nwbfile.acquisition[sig["timeseries"]]
            data = np.asarray(ts.data[()])
            signal = neo.AnalogSignal(
                data,
                units=sig["units"],
                t_start=jsonable.decode(sig["t_start"]),
                sampling_rate=jsonable.decode(sig["sampling_rate"]),
                name=sig.get("long_name"),
            )
            signal.annotations[POPULATION_KEY] = entry["label"]
            seg.analogsignals.append(signal)
    for name, seg in segments.items():
        # One assignment: neo's SpikeTrainList.append is quadratic in the trains held.
        seg.spiketrains = trains.get(name, [])
    return block


def _trains(
    units: Any, entry: Mapping[str, Any], a: int, b: int, path: Path
) -> list[neo.SpikeTrain]:
    index = np.asarray(units["spike_times"].data[()])
    starts = np.concatenate([[0], index])
    lo, hi = int(starts[a]), int(starts[b])
    if entry.get("exact_column"):
        times = np.asarray(units["spike_times_exact"].target.data[lo:hi], dtype=np.float64)
    else:
        seconds = np.asarray(units["spike_times"].target.data[lo:hi], dtype=np.float64)
        times = restore_times(seconds, entry["units"], entry.get("grid"))
    cell_index = np.asarray(units["cell_index"].data[a:b])
    global_id = np.asarray(units["global_id"].data[a:b])
    n = b - a
    t_start = np.broadcast_to(np.asarray(entry["t_start"], dtype=np.float64), (n,))
    t_stop = np.broadcast_to(np.asarray(entry["t_stop"], dtype=np.float64), (n,))
    if times.size and not np.isfinite(times).all():
        raise SchemaError(f"{path}: population {entry['label']!r}: non-finite spike times")
    annotations = []
    for i in range(n):
        ann = {POPULATION_KEY: entry["label"], "source_index": cell_index[i]}
        if global_id[i] >= 0:
            ann["channel_id"] = global_id[i]
        annotations.append(ann)
    offsets = starts[a : b + 1] - lo
    return flat_trains(times, offsets, entry["units"], t_start, t_stop, annotations)


def _read_generic(nwbfile: Any, path: Path) -> neo.Block:
    block = neo.Block(name=nwbfile.identifier, file_origin=path.name)
    seg = neo.Segment(name=nwbfile.session_id or "session", index=0)
    block.segments.append(seg)
    seg.block = block
    units = nwbfile.units
    if units is not None and len(units.id):
        index = np.asarray(units.spike_times_index.data[()])
        times = np.asarray(units.spike_times_index.target.data[()], dtype=np.float64)
        starts = np.concatenate([[0], index])
        colnames = set(units.colnames)
        labels = (
            [str(x) for x in units["population"].data[()]]
            if "population" in colnames
            else ["units"] * len(index)
        )
        t_stop = float(times.max()) if times.size else 0.0
        trains = []
        for i in range(len(index)):
            part = np.sort(times[starts[i] : starts[i + 1]])
            st = neo.SpikeTrain(
                part * pq.s, t_start=min(0.0, *part[:1]) * pq.s, t_stop=t_stop * pq.s
            )
            st.annotations[POPULATION_KEY] = labels[i]
            st.annotations["unit_id"] = int(units.id[i])
            trains.append(st)
        seg.spiketrains = trains  # one assignment: append is quadratic in neo
    for name, ts in nwbfile.acquisition.items():
        if getattr(ts, "rate", None) is None or ts.data is None:
            continue  # timestamps-only series are irregular signals: not stored in schema v1
        data = np.asarray(ts.data[()])
        if data.ndim == 1:
            data = data[:, None]
        nwb_unit = str(ts.unit)
        si = next((k for k, v in _NWB_UNITS.items() if v == nwb_unit), None)
        si = {"S": "S", "V": "V", "A": "A"}.get(si, si) if si else None
        if si is not None and float(ts.conversion) != 1.0:
            data = data * float(ts.conversion)  # generic files: values in SI units
        signal = neo.AnalogSignal(
            data,
            units=si or pq.dimensionless,
            t_start=float(ts.starting_time or 0.0) * pq.s,
            sampling_rate=float(ts.rate) * pq.Hz,
            name=name,
        )
        seg.analogsignals.append(signal)
    return block
