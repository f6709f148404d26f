"""SONATA spike reports: export of a run's spikes, and import of reports into runs.

A SONATA spike report (the format of NEURON/BMTK, Blue Brain tools and libsonata) is an
HDF5 file::

    /                       attrs: magic (0x0A7A), version [0, 1]
    /spikes/<population>    attrs: sorting (HDF5 enum none/by_id/by_time)
        timestamps          float64 spike times, attrs: units = "ms"
        node_ids            uint64 node id of each spike (the cell index in its population)

:func:`write_sonata` writes one population per run population (``<segment>_<label>``
when the run has several segments), sorted by node id then time (``by_id``), from the
store's flat arrays in chunks. Times in ms are written as stored (bitwise); other time
units are converted to ms. What SONATA has no place for — silent cells, global ids,
t_start/t_stop, the time grid and the provenance — goes to a separate ``/opsnn_lake``
group that SONATA readers ignore and :func:`read_sonata` uses, so lake → SONATA → lake
gives identical spikes.

:func:`read_sonata` reads any SONATA spike report (NEST, NEURON, BMTK, libsonata
writers): one population per ``/spikes`` group, one spike train per node id that fired
(sorted by node id, times sorted within a train), t_start 0 and t_stop the latest
spike, unless the ``/opsnn_lake`` group says otherwise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import neo
import numpy as np

from opsnn_lake import jsonable
from opsnn_lake.errors import SchemaError
from opsnn_lake.neo_convert import POPULATION_KEY
from opsnn_lake.nwb import (
    EXPORTED_FROM,
    Population,
    flat_trains,
    populations,
    to_seconds,
    write_aside,
)
from opsnn_lake.provenance import IDENTITY_FIELDS
from opsnn_lake.schema import Node, unique_names

__all__ = ["read_sonata", "write_sonata"]

MAGIC = 0x0A7A
SORTING = {"none": 0, "by_id": 1, "by_time": 2}
OPSNN_GROUP = "opsnn_lake"
CHUNK = 2**20


def _sorting_dtype() -> Any:
    import h5py

    return h5py.enum_dtype(SORTING, basetype="u1")


def write_sonata(
    nodes: Mapping[str, Node],
    path: str | os.PathLike[str],
    *,
    run_id: str,
    provenance: Mapping[str, Any],
) -> Path:
    """Write a run's spikes as a SONATA spike report (layout in the module docstring).

    Parameters
    ----------
    nodes : Mapping[str, Node]
        The run's store nodes (``opsnn_lake.store.read_nodes``).
    path : path-like
        The ``.h5`` file; written aside and renamed (no partial file at ``path``).
    run_id : str
        The run id (kept in ``/opsnn_lake``).
    provenance : Mapping
        The run's provenance record (kept in ``/opsnn_lake`` as JSON).

    Returns
    -------
    Path
        ``path``.
    """
    import h5py

    path = Path(path)
    pops = populations(nodes)
    many = len({p.segment for p in pops}) > 1
    names = unique_names(
        [f"{p.segment}_{p.label}" if many else p.label for p in pops], prefix="population"
    )
    with write_aside(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["magic"] = np.uint32(MAGIC)
        f.attrs["version"] = np.array([0, 1], dtype=np.uint32)
        spikes = f.create_group("spikes")
        ours = f.create_group(OPSNN_GROUP)
        ours.attrs["run_id"] = run_id
        ours.create_dataset("provenance", data=json.dumps(dict(provenance), sort_keys=True))
        block_meta = nodes[""].attrs.get("block") if "" in nodes else None
        ours.create_dataset("block", data=json.dumps(block_meta, sort_keys=True))
        for name, pop in zip(names, pops, strict=True):
            _write_population(spikes.create_group(name), ours.create_group(name), pop)
    return path


def _write_population(group: Any, ours: Any, pop: Population) -> None:
    n_spikes = int(pop.times.size)
    ids_sorted = bool(np.all(np.diff(pop.cell_index) > 0))
    group.attrs.create(
        "sorting", SORTING["by_id" if ids_sorted else "none"], dtype=_sorting_dtype()
    )
    # Uncompressed: libsonata's wheels carry an HDF5 without the deflate filter.
    chunks = (min(CHUNK, n_spikes),) if n_spikes else None
    ts = group.create_dataset("timestamps", shape=(n_spikes,), dtype="f8", chunks=chunks)
    ts.attrs["units"] = "ms"
    ids = group.create_dataset("node_ids", shape=(n_spikes,), dtype="u8", chunks=chunks)
    # Written a chunk at a time: the node id of each spike is expanded only per chunk.
    factor = to_seconds(pop.units) / 1e-3
    unit_of_spike_start = np.concatenate([[0], np.cumsum(pop.counts)])
    for a in range(0, n_spikes, CHUNK):
        b = min(a + CHUNK, n_spikes)
        part = pop.times[a:b]
        ts[a:b] = part if factor == 1.0 else part * factor
        units = np.searchsorted(unit_of_spike_start, np.arange(a, b), side="right") - 1
        ids[a:b] = pop.cell_index[units].astype(np.uint64)
    ours.attrs["label"] = pop.label
    ours.attrs["segment"] = pop.segment
    ours.attrs["units"] = pop.units
    ours.attrs["grid"] = np.nan if pop.grid is None else pop.grid
    ours.create_dataset("cell_index", data=pop.cell_index, compression="gzip")
    ours.create_dataset("global_id", data=pop.global_id, compression="gzip")
    ours.create_dataset("spike_count", data=pop.counts, compression="gzip")
    for bound in ("t_start", "t_stop"):
        values = getattr(pop, bound)
        if values.size and (values == values[0]).all():
            ours.attrs[bound] = float(values[0])
        else:
            ours.create_dataset(bound, data=values)


# --------------------------------------------------------------------------- reading


def read_sonata(path: str | os.PathLike[str]) -> neo.Block:
    """Read a SONATA spike report into a neo Block (module docstring).

    Parameters
    ----------
    path : path-like
        The report (HDF5 with a ``/spikes`` group).

    Returns
    -------
    neo.Block
        One segment per segment recorded by :func:`write_sonata` (one for other
        writers); one population per SONATA population; trains annotated with
        ``source_population``, ``source_index`` (the node id) and, from our own files,
        ``channel_id`` (the global id).

    Raises
    ------
    SchemaError
        If the file is not HDF5, has no ``/spikes`` group, or a population's datasets
        are missing, of different lengths, non-finite or in a unit that is not a time;
        the message names the file and population.
    """
    import h5py

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise SchemaError(
            f"{path}: not a readable HDF5 file (truncated or corrupt?): {err}"
        ) from None
    with f:
        if "spikes" not in f or not isinstance(f["spikes"], h5py.Group):
            raise SchemaError(f"{path}: no /spikes group; not a SONATA spike report")
        ours = f.get(OPSNN_GROUP)
        block = _block(path, ours)
        segments: dict[str, neo.Segment] = {}
        trains: dict[str, list[neo.SpikeTrain]] = {}
        for name, group in f["spikes"].items():
            if not isinstance(group, h5py.Group):
                continue
            meta = ours.get(name) if ours is not None else None
            seg_name = str(meta.attrs["segment"]) if meta is not None else "segment0"
            if seg_name not in segments:
                segments[seg_name] = neo.Segment(name=seg_name, index=len(segments))
                block.segments.append(segments[seg_name])
                segments[seg_name].block = block
            trains.setdefault(seg_name, []).extend(
                _read_population(name, group, meta, where=f"{path}: population {name!r}")
            )
        if not segments:
            raise SchemaError(f"{path}: /spikes holds no population")
    for seg_name, seg in segments.items():
        # One assignment: neo's SpikeTrainList.append is quadratic in the trains held.
        seg.spiketrains = trains[seg_name]
    return block


def _block(path: Path, ours: Any) -> neo.Block:
    """The report's Block; from our own files, with the run's annotations and provenance."""
    block = neo.Block(name=path.stem, file_origin=path.name)
    if ours is None or "provenance" not in ours:
        return block
    prov = jsonable.decode(json.loads(_text(ours["provenance"][()])))
    block.name = str(ours.attrs.get("run_id", path.stem))
    if "block" in ours:
        meta = jsonable.decode(json.loads(_text(ours["block"][()])))
        if isinstance(meta, Mapping) and isinstance(meta.get("annotations"), Mapping):
            block.annotations.update(meta["annotations"])
    block.annotations[EXPORTED_FROM] = block.name
    for key in IDENTITY_FIELDS:
        if prov.get(key) not in (None, {}):
            block.annotations[key] = prov[key]
    return block


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_population(name: str, group: Any, meta: Any, *, where: str) -> list[neo.SpikeTrain]:
    times, node_ids, to_ms = _read_spikes(group, where=where)
    order = np.lexsort((times, node_ids))  # by node, then time (stable: ties keep order)
    times, node_ids = times[order], node_ids[order]
    if meta is not None:
        cells = _own_cells(meta, times, to_ms)
    else:
        cells = _foreign_cells(name, node_ids, times * to_ms if to_ms != 1.0 else times)
    sort = np.argsort(node_ids, kind="stable")
    lo = np.searchsorted(node_ids[sort], cells.index, side="left")
    hi = np.searchsorted(node_ids[sort], cells.index, side="right")
    if int((hi - lo).sum()) != times.size:
        raise SchemaError(
            f"{where}: {times.size - int((hi - lo).sum())} spikes have node ids outside the "
            "population's cells (edited or corrupt file?)"
        )
    offsets = np.concatenate([[0], np.cumsum(hi - lo)])
    annotations = []
    for i, cell in enumerate(cells.index):
        ann = {POPULATION_KEY: cells.label, "source_index": cell}
        if cells.global_ids[i] >= 0:
            ann["channel_id"] = cells.global_ids[i]
        annotations.append(ann)
    # Spikes unit after unit, in the order of the cells (which need not be sorted).
    n = cells.index.size
    picked = np.concatenate([sort[lo[i] : hi[i]] for i in range(n)]) if n else sort[:0]
    return flat_trains(
        cells.times[picked], offsets, cells.units, cells.t_start, cells.t_stop, annotations
    )


@dataclass(frozen=True)
class _Cells:
    """The cells of a population and their spike times, in the unit they are kept in."""

    label: str
    units: str
    index: np.ndarray  # node id (cell index) of each cell
    global_ids: np.ndarray  # -1 where unknown
    times: np.ndarray  # every spike, sorted by node then time
    t_start: np.ndarray
    t_stop: np.ndarray


def _read_spikes(group: Any, *, where: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Spike times and node ids as the file has them, checked; the factor to ms."""
    for key in ("timestamps", "node_ids"):
        if key not in group:
            raise SchemaError(f"{where}: dataset {key!r} is missing; not a SONATA spike report")
    times = np.asarray(group["timestamps"][()], dtype=np.float64)
    node_ids = np.asarray(group["node_ids"][()]).astype(np.int64)
    if times.shape != node_ids.shape or times.ndim != 1:
        raise SchemaError(
            f"{where}: timestamps {times.shape} and node_ids {node_ids.shape} differ in "
            "length (truncated file?)"
        )
    if not np.isfinite(times).all():
        raise SchemaError(f"{where}: non-finite spike times (corrupt file?)")
    file_units = _text(group["timestamps"].attrs.get("units", "ms"))
    try:
        to_ms = to_seconds(file_units) / 1e-3
    except (ValueError, LookupError, AttributeError):
        raise SchemaError(f"{where}: timestamps units {file_units!r} are not a time") from None
    return times, node_ids, to_ms


def _own_cells(meta: Any, times: np.ndarray, to_ms: float) -> _Cells:
    """Cells as :func:`write_sonata` kept them: silent ones, ids, unit, grid and bounds."""
    units = str(meta.attrs["units"])
    cells = np.asarray(meta["cell_index"][()], dtype=np.int64)
    grid = float(meta.attrs["grid"])
    if units != "ms" or to_ms != 1.0:
        times = times * to_ms * 1e-3 / to_seconds(units)
        if np.isfinite(grid):
            times = np.rint(times / grid) * grid
    bounds = {
        b: np.broadcast_to(
            np.asarray(meta[b][()] if b in meta else meta.attrs[b], dtype=np.float64),
            cells.shape,
        )
        for b in ("t_start", "t_stop")
    }
    global_ids = np.asarray(meta["global_id"][()], dtype=np.int64)
    label = str(meta.attrs["label"])
    return _Cells(label, units, cells, global_ids, times, bounds["t_start"], bounds["t_stop"])


def _foreign_cells(name: str, node_ids: np.ndarray, times_ms: np.ndarray) -> _Cells:
    """Cells of another writer's report: those that fired, from 0 to the last spike (ms)."""
    cells = np.unique(node_ids)
    t_stop = float(times_ms.max()) if times_ms.size else 0.0
    return _Cells(
        label=name,
        units="ms",
        index=cells,
        global_ids=np.full(cells.shape, -1, dtype=np.int64),
        times=times_ms,
        t_start=np.zeros(cells.shape),
        t_stop=np.full(cells.shape, t_stop),
    )
