"""The dask graphs of the statistics, and how they run on workers.

Building: a :class:`Plan` writes one statistic's graph out as plain tasks. A read task's
key depends only on the run, group and unit block, so statistics computed together
(:func:`opsnn_lake.analysis.analyse`, :func:`compute` of several results) share their
reads: each array is read once.

Running: :func:`compute` batches that graph before handing it to the scheduler. Every
read and every task that depends only on reads of the same runs (the reductions of all
the statistics asked for) become one task per batch of runs; the batches hold about the
same number of spikes, at most ``opsnn_lake.analysis.spikes-per-task``, and there are
``opsnn_lake.analysis.batches-per-worker`` (default 4) of them per worker. A batch reads
and reduces in one task, in one worker process: its spikes never travel between
processes, the scheduler handles tens of tasks instead of thousands, and a worker's
reads never wait on another worker's GIL. Inside a batch the tasks run one after the
other, each read released once its reductions are done, so a batch holds one block of
spikes at a time.
"""

from __future__ import annotations

import graphlib
import hashlib
import operator
import os
import sys
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import dask
import numpy as np

from opsnn_lake.analysis.groups import GroupInfo, SignalInfo, spikes_per_task
from opsnn_lake.analysis.reading import Spikes, read_signal, read_spikes

__all__ = [
    "BATCHES_KEY",
    "DASHBOARD_KEY",
    "TUNE_KEY",
    "Plan",
    "batch_graph",
    "compute",
    "load_spikes",
    "per_unit",
    "tune_allocator",
    "unit_coord",
]

BATCHES_KEY = "opsnn_lake.analysis.batches-per-worker"
DASHBOARD_KEY = "opsnn_lake.analysis.dashboard-after"
TUNE_KEY = "opsnn_lake.analysis.tune-allocator"
DEFAULT_BATCHES_PER_WORKER = 4
_READERS = (read_spikes, read_signal)


def digest(*parts: Any) -> str:
    """A short stable digest of ``repr(parts)`` (task keys)."""
    return hashlib.sha1(repr(parts).encode(), usedforsecurity=False).hexdigest()[:20]


class Plan:
    """The dask graph of one statistic, written out as plain tasks.

    Building it by hand costs microseconds a task, where ``dask.delayed`` tokenises
    every argument (more time than the statistics themselves for 100 runs). Keys are
    deterministic: a read task's key depends only on the run, group and unit block, so
    two statistics computed together share it and each array is read once.

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
        self.token = digest(
            stat, params, [(g.reader.token, g.path, g.n_units, g.n_spikes) for g in groups]
        )
        self.layer: dict[Any, Any] = {}

    def key(self, label: str) -> str:
        """A key for an intermediate task of this plan."""
        return f"{self.stat}-{label}-{self.token}"

    def spikes(self, info: GroupInfo, lo: int, hi: int) -> str:
        """Key of the task that reads units ``[lo, hi)`` of ``info`` (a :class:`Spikes`)."""
        key = "opsnn-spikes-" + digest(info.reader.token, info.path, lo, hi)
        self.layer[key] = (
            read_spikes,
            info.reader,
            info.path,
            lo,
            hi,
            info.n_units,
            list(info.unit_coords),
            dict(info.spike_attrs),
            info.block_spikes(lo, hi),
        )
        return key

    def signal(self, info: GroupInfo, signal: SignalInfo, lo: int, hi: int) -> str:
        """Key of the task that reads channels ``[lo, hi)`` of a signal (float64)."""
        key = "opsnn-signal-" + digest(info.reader.token, info.path, signal.name, lo, hi)
        weight = signal.shape[0] * (hi - lo)
        attrs = dict(signal.attrs or {})
        self.layer[key] = (read_signal, info.reader, info.path, signal.name, lo, hi, attrs, weight)
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
        graph = HighLevelGraph.from_collections(name, self.layer, dependencies=())
        return da.Array(graph, name, chunks=chunks, dtype=dtype)


def per_unit(
    plan: Plan, groups: Sequence[GroupInfo], make: Callable[..., tuple[Any, ...]]
) -> tuple[Any, dict[str, Any]]:
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
        name = "opsnn-channel_id-" + digest(*keys)
        coords["channel_id"] = plan.array("channel_id", ids, chunks, np.int64, name=name)
    return data, coords


def unit_coord(spikes: Spikes, name: str) -> np.ndarray:
    """A unit coordinate read with the spikes (a task)."""
    return np.asarray(spikes.coords[name], dtype=np.int64)


def load_spikes(info: GroupInfo) -> Spikes:
    """All spikes of a group, read now (for plots of one run)."""
    return read_spikes(
        info.reader, info.path, 0, info.n_units, info.n_units, info.unit_coords, info.spike_attrs
    )


# --------------------------------------------------------------------------- batching


class _Batch:
    """A batch's own graph and the keys it returns: opaque to dask (not a container,
    so the scheduler neither parses its tasks nor substitutes its keys)."""

    __slots__ = ("graph", "outputs")

    def __init__(self, graph: dict[Hashable, Any], outputs: tuple[Hashable, ...]) -> None:
        self.graph = graph
        self.outputs = outputs

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Batch, (self.graph, self.outputs))


# glibc's mallopt parameters (malloc.h) and the values set for batches (bytes).
_M_TOP_PAD, _M_MMAP_THRESHOLD = -2, -3
_MMAP_THRESHOLD = 32 << 20  # glibc's largest: arrays below it come from the heap
_TOP_PAD = 64 << 20  # the heap grows, and is kept, in steps of this much
_TUNED: list[bool] = []
_TRIM_VARIABLE = "MALLOC_TRIM_THRESHOLD_"  # set by distributed's nannies for their workers
_TUNE_LOCK = threading.Lock()


def tune_allocator() -> bool:
    """Let this process reuse freed memory for the arrays of the next batch (glibc, once).

    A batch allocates and frees arrays of a few MB per spike-sized step. glibc serves
    each one over 128 kB (its threshold once ``MALLOC_TRIM_THRESHOLD_`` is set, as
    ``distributed`` sets it for its workers) with a fresh ``mmap``, so every page of it
    is faulted in and zeroed again: half a worker's time went to the kernel, and two
    workers faulting at once scaled poorly. From the heap (threshold 32 MB, 64 MB of
    pad kept) the pages are reused: the process keeps up to about its largest batch's
    memory plus 64 MB. ``opsnn_lake.analysis.tune-allocator: false`` (dask config)
    leaves the allocator alone. Only processes where that variable is set (dask's
    worker processes) are tuned: a notebook computing in its own threads keeps glibc's
    defaults. Returns whether it is tuned (False off glibc).
    """
    with _TUNE_LOCK:
        if not _TUNED:
            wanted = bool(dask.config.get(TUNE_KEY, True)) and _TRIM_VARIABLE in os.environ
            _TUNED.append(wanted and _mallopt())
        return _TUNED[0]


def _mallopt() -> bool:
    import ctypes

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        set_option = libc.mallopt
    except (OSError, AttributeError):  # another C library (musl)
        return False
    return bool(set_option(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
        set_option(_M_TOP_PAD, _TOP_PAD)
    )


def run_batch(batch: _Batch) -> tuple[Any, ...]:
    """Run a batch's tasks here, one after the other (the task of a batch)."""
    from dask.local import get_sync

    tune_allocator()
    outputs: list[Any] = list(batch.outputs)  # dask types its keys narrower than Hashable
    return tuple(get_sync(batch.graph, outputs))


def _read_weight(task: Any) -> tuple[str, int] | None:
    """(run token, spikes or samples) of a read task; None for any other task."""
    func = task[0] if isinstance(task, tuple) and task else getattr(task, "func", None)
    if func not in _READERS or not isinstance(task, tuple):
        return None
    return task[1].token, int(task[-1])


def _components(reads: Mapping[Hashable, tuple[str, int]], dependents: Mapping) -> list[list]:
    """Reads that one task consumes together, kept in one batch (union-find), in order."""
    parent = {k: k for k in reads}

    def find(k: Hashable) -> Hashable:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    consumers: dict[Hashable, list[Hashable]] = {}
    for key in reads:
        for dep in dependents.get(key, ()):
            consumers.setdefault(dep, []).append(key)
    for together in consumers.values():
        for other in together[1:]:
            parent[find(other)] = find(together[0])
    out: dict[Hashable, list[Hashable]] = {}
    for key in reads:  # insertion order: runs stay in the order they were planned
        out.setdefault(find(key), []).append(key)
    return list(out.values())


def _units(components: list[list], reads: Mapping) -> list[list]:
    """What a batch takes whole: a run's reads, or, for a run over ``spikes-per-task``,
    each of its components (so a run too big for one task is still split)."""
    runs: dict[str, list[list]] = {}
    for comp in components:
        runs.setdefault(reads[comp[0]][0], []).append(comp)
    out = []
    for comps in runs.values():
        weight = sum(reads[k][1] for comp in comps for k in comp)
        out.extend([[k for comp in comps for k in comp]] if weight <= spikes_per_task() else comps)
    return out


def _pack(units: list[list], reads: Mapping, n_batches: int) -> list[list]:
    """Consecutive units in ``n_batches`` batches of about equal weight (spikes), more
    when that is needed to hold at most ``spikes-per-task`` each."""
    weights = [sum(reads[k][1] for k in unit) for unit in units]
    total = max(1, sum(weights))
    cap = spikes_per_task()
    n = max(1, n_batches, -(-total // cap))
    batches: list[list] = []
    index, weight, done = -1, 0, 0
    for unit, w in zip(units, weights, strict=True):
        # A unit goes to the batch its middle falls in, on a scale of equal weights.
        wanted = min(n - 1, int((done + w / 2) * n // total))
        if wanted != index or (weight and weight + w > cap):
            batches.append([])
            index, weight = wanted, 0
        batches[-1].extend(unit)
        weight += w
        done += w
    return batches


def _absorb(batches: list[list], deps: Mapping[Hashable, Iterable]) -> dict[Hashable, int]:
    """Batch of every task whose inputs all come from one batch (reads first)."""
    batch_of = {k: i for i, members in enumerate(batches) for k in members}
    for key in graphlib.TopologicalSorter(deps).static_order():
        inputs = deps.get(key, ())
        if key in batch_of or not inputs:
            continue
        owners = {batch_of.get(d) for d in inputs}
        owner = owners.pop() if len(owners) == 1 else None
        if owner is not None:
            batch_of[key] = owner
    return batch_of


def batch_graph(
    graph: Mapping[Hashable, Any], keys: Sequence[Hashable], *, n_batches: int
) -> tuple[dict[Hashable, Any], dict[Hashable, tuple[str, int]]]:
    """The graph with reads and their reductions fused into ``n_batches`` batch tasks.

    Returns the new graph and, for each key a batch computes that is wanted (in
    ``keys``) or used outside its batch, the batch's key and the position in its result
    (other tasks read those through ``getitem`` tasks).
    """
    from dask.core import reverse_dict
    from dask.optimization import cull

    order = list(graph)
    dsk, deps = cull(dict(graph), list(keys))
    reads = {k: w for k in order if k in dsk and (w := _read_weight(dsk[k])) is not None}
    if not reads:
        return dsk, {}
    dependents = reverse_dict(deps)
    batches = _pack(_units(_components(reads, dependents), reads), reads, n_batches)
    batch_of = _absorb(batches, deps)
    wanted = set(keys)
    members: dict[int, list[Hashable]] = {}
    for key in dsk:
        if key in batch_of:
            members.setdefault(batch_of[key], []).append(key)
    out = {k: v for k, v in dsk.items() if k not in batch_of}
    where: dict[Hashable, tuple[str, int]] = {}
    for b, inside in members.items():
        outside = [k for k in inside if k in wanted or any(
            batch_of.get(d) != b for d in dependents.get(k, ()))]  # fmt: skip
        bkey = "opsnn-batch-" + digest(*map(str, inside))
        out[bkey] = (run_batch, _Batch({k: dsk[k] for k in inside}, tuple(outside)))
        for i, k in enumerate(outside):
            where[k] = (bkey, i)
            if any(batch_of.get(d) != b for d in dependents.get(k, ())):
                out[k] = (operator.getitem, bkey, i)
    return out, where


def _client(schedule: Any) -> Any:
    """The ``distributed.Client`` whose ``get`` is the scheduler, or None."""
    client = getattr(schedule, "__self__", None)
    return client if client is not None and hasattr(client, "nthreads") else None


def _n_workers(schedule: Any) -> int:
    """Workers of the scheduler about to run: a client's threads, else dask's count."""
    client = _client(schedule)
    if client is not None:
        return max(1, sum(client.nthreads().values()))
    return int(dask.config.get("num_workers", None) or os.cpu_count() or 1)


_ANNOUNCED: set[str] = set()


def _announce(client: Any) -> None:
    """Print the dashboard of a client once per process (long work: see below)."""
    from opsnn_lake.display import dashboard_link

    link = dashboard_link(client)
    if link and link not in _ANNOUNCED:
        _ANNOUNCED.add(link)
        print(f"analysis running on {client.scheduler.address}; dashboard: {link}", file=sys.stderr)


def _gather(client: Any, dsk: dict[Hashable, Any], fetch: list[Hashable]) -> list[Any]:
    """Run on a distributed client, fetching each batch's values as soon as it is done.

    ``Client.get`` gathers all results after the last task: every batch's values then
    cross to this process and are unpickled in a serial tail. Fetched as they finish,
    that transfer overlaps the batches still running. Work still running after
    ``opsnn_lake.analysis.dashboard-after`` seconds (dask config, default 5) prints the
    dashboard's address.
    """
    from distributed import as_completed

    futures = client.get(dsk, fetch, sync=False)
    position = {f.key: i for i, f in enumerate(futures)}
    values: list[Any] = [None] * len(futures)
    timer = threading.Timer(float(dask.config.get(DASHBOARD_KEY, 5.0)), _announce, (client,))
    timer.daemon = True
    timer.start()
    try:
        for future, value in as_completed(futures, loop=client.loop, with_results=True):
            values[position[future.key]] = value
    finally:
        timer.cancel()
        timer.join()  # an announcement under way is finished before the numbers return
        for future in futures:
            future.release()
    return values


def _nested(keys: Any, value_of: Callable[[Hashable], Any]) -> Any:
    if isinstance(keys, list):
        return [_nested(k, value_of) for k in keys]
    return value_of(keys)


def _compute_collections(collections: Sequence[Any]) -> list[Any]:
    from dask.base import get_scheduler
    from dask.core import flatten
    from dask.threaded import get as threaded_get
    from dask.utils import ensure_dict

    graph: dict[Hashable, Any] = {}
    for c in collections:
        graph.update(ensure_dict(c.__dask_graph__()))
    keys = list(flatten([c.__dask_keys__() for c in collections]))
    schedule = get_scheduler() or threaded_get
    per_worker = int(dask.config.get(BATCHES_KEY, DEFAULT_BATCHES_PER_WORKER))
    dsk, where = batch_graph(graph, keys, n_batches=per_worker * _n_workers(schedule))
    fetch = list(dict.fromkeys(where[k][0] if k in where else k for k in keys))
    client = _client(schedule)
    done = _gather(client, dsk, fetch) if client is not None else schedule(dsk, fetch)
    values = dict(zip(fetch, done, strict=True))

    def value_of(key: Hashable) -> Any:
        if key in where:
            batch, i = where[key]
            return values[batch][i]
        return values[key]

    out = []
    for c in collections:
        finalize, extra = c.__dask_postcompute__()
        out.append(finalize(_nested(c.__dask_keys__(), value_of), *extra))
    return out


def compute(*objects: Any) -> Any:
    """Compute analysis results with their reads and reductions batched (see the module
    docstring), on the current dask scheduler.

    The scheduler is dask's: the threads by default, the worker processes of a
    ``distributed.Client`` when one is active (e.g. ``opsnn_lake.cluster.dask_client``),
    or ``dask.config.set(scheduler="processes")``. On worker processes the analysis
    scales with the workers; ``.compute()`` on a result gives the same numbers,
    unbatched.

    Parameters
    ----------
    *objects : DataArray, Dataset, DataTree
        Lazy results (e.g. of :func:`opsnn_lake.analysis.analyse`); anything else is
        returned as is.

    Returns
    -------
    object or tuple
        The computed object (one given) or a tuple of them, in order.
    """
    import xarray as xr

    parts: list[Any] = []
    for obj in objects:
        if isinstance(obj, xr.DataTree):
            parts.extend(node.to_dataset(inherit=False) for node in obj.subtree)
        else:
            parts.append(obj)
    lazy = [i for i, p in enumerate(parts) if dask.is_dask_collection(p)]
    if lazy:
        done = _compute_collections([parts[i] for i in lazy])
        for i, value in zip(lazy, done, strict=True):
            parts[i] = value
    results, position = [], 0
    for obj in objects:
        if isinstance(obj, xr.DataTree):
            paths = [node.path for node in obj.subtree]
            chunk = dict(zip(paths, parts[position : position + len(paths)], strict=True))
            results.append(xr.DataTree.from_dict(chunk, name=obj.name))
            position += len(paths)
        else:
            results.append(parts[position])
            position += 1
    return results[0] if len(results) == 1 else tuple(results)
