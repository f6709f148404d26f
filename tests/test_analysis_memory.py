"""Bounded memory: each task of an analysis holds one block of units of one run's group,
so the memory of the largest task is a small fraction of the lake and does not grow
with the number of runs; the graph also runs on dask.distributed worker processes
with a memory limit."""

from __future__ import annotations

import tracemalloc

import dask
import numpy as np
import pytest
from dask.callbacks import Callback

from opsnn_lake import Lake, Provenance
from opsnn_lake import analysis as an
from opsnn_lake.neo_convert import block_to_nodes
from opsnn_lake.simulators.runner import run_model

STATS = ["rate", "cv", "fano", "correlation", "psd"]
OPTIONS = {"correlation": {"units": 20}}
N_RUNS = 32


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    """One real VA run (1500 cells, 1 s) and copies of its store under other parameters."""
    lake = Lake(tmp_path_factory.mktemp("memory") / "lake")
    params = {"n_pop": 1500, "pconn": 40 / 1500, "tstop": 1000.0, "n_record_v": 0}
    first = run_model("va", lake=lake, parameters=params, seed=1).run_id
    nodes = block_to_nodes(lake.to_neo(first))  # encoded as the first store is
    for k in range(1, N_RUNS):
        lake.add_nodes(nodes, Provenance(model="va-copy", parameters={"replica": k}, seed=k))
    return lake


class TaskPeaks(Callback):
    """Peak traced memory allocated while each task runs (tracemalloc must be on)."""

    def __init__(self) -> None:
        super().__init__()
        self.peaks: dict = {}
        self._start = 0

    def _pretask(self, key, dsk, state):
        self._start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()

    def _posttask(self, key, result, dsk, state, worker_id):
        name = key if isinstance(key, str) else key[0]
        # The analysis's own tasks (reads and statistics); dask's final concatenation
        # of the results into one array is left out: it holds the results, whose size
        # is that of the answer, not of the lake.
        if name.startswith("opsnn-") or name.split("-")[0] in STATS:
            self.peaks[key] = tracemalloc.get_traced_memory()[1] - self._start


def _task_peaks(lake, runs) -> TaskPeaks:
    with dask.config.set({"opsnn_lake.analysis.spikes-per-task": 10_000}):
        tree = an.analyse(runs, STATS, lake=lake, options=OPTIONS)
        assert len(tree["rate"].dataset["rate"].chunks[0]) > 2 * len(runs)  # unit blocks
        # A first pass untraced: imports inside the first tasks (scipy.signal…) and
        # Python's one-off growth of global tables (pathlib interns every store path)
        # are not the memory of a task.
        tree.compute(scheduler="sync")
        peaks = TaskPeaks()
        tracemalloc.start()
        try:
            with dask.config.set(scheduler="sync"), peaks:
                tree.compute()
        finally:
            tracemalloc.stop()
    return peaks


def test_task_memory_is_bounded_by_a_group_not_by_the_lake(lake):
    runs = lake.search()
    assert len(runs) == N_RUNS
    spike_bytes = int(runs.n_spikes.sum()) * 8  # the lake's spikes, decoded to float64
    largest_group = max(
        int(lake.open(r)[g].dataset.sizes["spike"]) * 8
        for r in runs.index[:1]
        for g in ("segment000/exc", "segment000/inh")
    )
    few = _task_peaks(lake, runs.iloc[:4])
    many = _task_peaks(lake, runs)
    worst = max(many.peaks.values())
    assert worst < spike_bytes / 4, (worst, spike_bytes)  # the lake is 4x a task's memory
    assert worst < 12 * largest_group  # a task holds (decodes) one group's chunk at most
    # Eight times the runs, the same largest task.
    assert worst < 1.5 * max(few.peaks.values())


def test_unit_blocks_give_the_numbers_of_whole_groups(lake):
    runs = lake.search(seed=(1, 4))
    whole = an.analyse(runs, STATS, lake=lake, options=OPTIONS, compute=True)
    with dask.config.set({"opsnn_lake.analysis.spikes-per-task": 3_000}):
        split = an.analyse(runs, STATS, lake=lake, options=OPTIONS, compute=True)
    for name in STATS:
        np.testing.assert_array_equal(
            split[name].dataset[name].values, whole[name].dataset[name].values
        )


def test_runs_on_distributed_workers_with_a_memory_limit(lake):
    import distributed  # a declared dependency: missing is a failure, not a skip
    runs = lake.search(seed=(1, 6))
    tree = an.analyse(runs, STATS, lake=lake, options=OPTIONS)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit="1GiB",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster),
    ):
        remote = tree.compute()
    local = an.analyse(runs, STATS, lake=lake, options=OPTIONS, compute=True)
    for name in STATS:
        np.testing.assert_array_equal(
            remote[name].dataset[name].values, local[name].dataset[name].values
        )
