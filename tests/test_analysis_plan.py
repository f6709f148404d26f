"""Batched computation and the one read path: a batch of runs is read and reduced in one
task, giving the numbers of the plain graph, on threads and on worker processes; stores
and DataTrees are read the same way."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import dask
import numpy as np
import pytest

from opsnn_lake import Lake
from opsnn_lake import analysis as an
from opsnn_lake.analysis.plan import (
    DASHBOARD_KEY,
    TUNE_KEY,
    batch_graph,
    load_spikes,
    tune_allocator,
)
from opsnn_lake.analysis.reading import StoreSource, TreeSource
from opsnn_lake.cluster import dask_client

STATS = ["rate", "cv", "fano", "correlation", "psd", "psth", "population_rate"]
OPTIONS = {"correlation": {"units": 20}, "population_rate": {"bin_size": 5.0}}


@pytest.fixture(scope="module")
def lake(tmp_path_factory, nest_block, nest_block_two_segments) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("plan") / "lake")
    for i, g in enumerate((40.0, 45.0, 50.0, 55.0, 60.0)):
        lake.add(nest_block, model="net", parameters={"g_inh": g}, seed=i)
    lake.add(nest_block_two_segments, model="net", parameters={"g_inh": 50.0}, seed=9)
    return lake


def _graph(tree) -> tuple[dict, list]:
    from dask.core import flatten
    from dask.utils import ensure_dict

    datasets = [node.dataset for node in tree.children.values()]
    graph: dict = {}
    for ds in datasets:
        graph.update(ensure_dict(ds.__dask_graph__()))
    return graph, list(flatten([ds.__dask_keys__() for ds in datasets]))


def _assert_same(left, right) -> None:
    for name in STATS:
        np.testing.assert_array_equal(
            left[name].dataset[name].values, right[name].dataset[name].values, err_msg=name
        )


def test_batched_compute_gives_the_numbers_of_the_plain_graph(lake):
    tree = an.analyse(lake, STATS, options=OPTIONS)
    plain = tree.compute(scheduler="sync")
    _assert_same(an.compute(tree), plain)
    _assert_same(an.analyse(lake, STATS, options=OPTIONS, compute=True), plain)
    rate, cv = an.compute(an.firing_rate(lake), an.isi_cv(lake))  # several objects at once
    np.testing.assert_array_equal(rate.values, plain["rate"].dataset["rate"].values)
    np.testing.assert_array_equal(cv.values, plain["cv"].dataset["cv"].values)


def test_a_batch_reads_and_reduces_whole_runs_in_one_task(lake):
    graph, keys = _graph(an.analyse(lake, STATS, options=OPTIONS))
    reads = [k for k in graph if isinstance(k, str) and k.startswith("opsnn-spikes-")]
    dsk, where = batch_graph(graph, keys, n_batches=3)
    batches = {k: v for k, v in dsk.items() if isinstance(k, str) and k.startswith("opsnn-batch")}
    assert len(batches) == 3
    assert not [k for k in dsk if isinstance(k, str) and k.startswith("opsnn-spikes-")]
    runs_of = []
    for task in batches.values():
        inside = task[1].graph
        assert any(isinstance(k, tuple) for k in inside)  # reductions (array blocks) too
        runs_of.append({t[1].token for k, t in inside.items() if k in reads})
    assert sum(len(r) for r in runs_of) == len(set().union(*runs_of)) == 6  # whole runs
    assert set(keys) <= set(where)  # every result block comes out of a batch
    assert len(dsk) < len(graph) / 5  # tens of tasks where the plain graph has hundreds


def test_batches_hold_at_most_spikes_per_task(lake):
    graph, keys = _graph(an.analyse(lake, ["rate"]))
    n_spikes = int(lake.search().n_spikes.max())
    with dask.config.set({"opsnn_lake.analysis.spikes-per-task": n_spikes}):
        dsk, _ = batch_graph(graph, keys, n_batches=1)
    batches = [k for k in dsk if isinstance(k, str) and k.startswith("opsnn-batch")]
    assert len(batches) >= 4  # one batch cannot take the six runs' spikes


def test_worker_processes_give_the_same_numbers(lake, capsys):
    tree = an.analyse(lake, STATS, options=OPTIONS)
    local = an.compute(tree)
    with dask_client(workers=2, announce=lambda line: None) as client:
        assert len(client.nthreads()) == 2
        _assert_same(an.compute(tree), local)
        # The workers that ran batches reuse freed memory (glibc's allocator tuned).
        assert set(client.run(tune_allocator).values()) == {GLIBC}
        assert "dashboard" not in capsys.readouterr().err  # quick work: no announcement
        with dask.config.set({DASHBOARD_KEY: 0.0}):  # everything counts as long work
            _assert_same(an.compute(tree), local)
            _assert_same(an.compute(tree), local)
        lines = [ln for ln in capsys.readouterr().err.splitlines() if "dashboard" in ln]
        assert lines == [f"analysis running on {client.scheduler.address}; dashboard: "
                         f"{client.dashboard_link}"]  # fmt: skip


GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def test_allocator_tuning_can_be_switched_off():
    code = (
        "import dask\n"
        "from opsnn_lake.analysis.plan import TUNE_KEY, tune_allocator\n"
        "with dask.config.set({TUNE_KEY: %s}):\n"
        "    print(tune_allocator(), tune_allocator())\n"
    )
    worker = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}  # as a dask nanny sets it
    user = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    cases = (
        ("False", worker, "False False"),
        ("True", worker, f"{GLIBC} {GLIBC}"),
        ("True", user, "False False"),  # a user's own process keeps glibc's defaults
    )
    for setting, env, expected in cases:
        done = subprocess.run(
            [sys.executable, "-c", code % setting],
            capture_output=True, text=True, check=True, env=env,
        )  # fmt: skip
        assert done.stdout.split() == expected.split(), (TUNE_KEY, setting, done.stderr)


def test_stores_and_trees_take_one_read_path(lake):
    runs = lake.search()
    from_stores = an.as_runset(runs, lake)
    from_trees = an.as_runset({r: lake.open(r) for r in runs.index})
    assert {type(r) for r in from_stores.readers.values()} == {StoreSource}
    assert {type(r) for r in from_trees.readers.values()} == {TreeSource}
    left, right = from_stores.groups(), from_trees.groups()
    assert [(g.run, g.path, g.n_units, g.n_spikes) for g in left] == [
        (g.run, g.path, g.n_units, g.n_spikes) for g in right
    ]
    for a, b in zip(left, right, strict=True):
        if not a.has_spikes:
            continue
        sa, sb = load_spikes(a), load_spikes(b)
        np.testing.assert_array_equal(sa.times, sb.times)
        np.testing.assert_array_equal(sa.counts, sb.counts)
        assert sa.coords.keys() == sb.coords.keys()
