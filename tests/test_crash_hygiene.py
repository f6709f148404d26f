"""Issue 9 item 6: crash hygiene and hostile input, one reproducer per defect.

Killed sweeps and ingests take their simulations and workers with them; YAML bombs
and oversized files are refused fast; a full disk or a file-size limit gives a
LakeError naming run and file and leaves no store without a row; concurrent adds of
one run leave the row reindex would make; symbolic links never lead out of the lake.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import neo
import numpy as np
import pandas as pd
import pytest
import quantities as pq

from opsnn_lake import Lake, SchemaError
from opsnn_lake.catalog import open_catalog, write_catalog
from opsnn_lake.cluster import load_slurm_options
from opsnn_lake.explorer import load_spec as load_explore_spec
from opsnn_lake.ingest import read_manifest
from opsnn_lake.safe_yaml import load_yaml
from opsnn_lake.sweep import load_spec

BOMB = "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
    for p, c in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def _pids_with(*words: str) -> list[int]:
    """Live processes whose command line holds every word."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and all(w in cmd for w in words):
            pids.append(int(entry.name))
    return pids


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


# ------------------------------------------------------------------ hostile YAML


@pytest.mark.parametrize("kind", ["bomb", "oversized"])
def test_yaml_readers_refuse_bombs_and_huge_files_fast(tmp_path, kind):
    text = BOMB if kind == "bomb" else "a: [" + "1, " * 600_000 + "1]\n"
    assert kind == "oversized" or len(text) < 500  # the "400-byte" bomb
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    expected = "expands to more than" if kind == "bomb" else "larger than"
    readers = {
        "sweep spec": lambda: load_spec(path),
        "explore spec": lambda: load_explore_spec(path),
        "SLURM options": lambda: load_slurm_options(path),
        "manifest": lambda: read_manifest(path),
        "catalog": lambda: open_catalog(path),
        "catalog (write)": lambda: write_catalog(tmp_path / "lake", path),
    }
    for name, read in readers.items():
        start = time.perf_counter()
        with pytest.raises(SchemaError, match=expected) as err:
            read()
        assert time.perf_counter() - start < 0.5, name
        assert str(path) in str(err.value), name
    assert path.read_text() == text  # the catalog writer left it alone


def test_safe_loader_still_reads_anchors_and_refuses_depth(tmp_path):
    ok = tmp_path / "ok.yaml"
    ok.write_text("base: &b {tstop: 100.0}\nruns: [*b, *b]\n")
    assert load_yaml(ok) == {"base": {"tstop": 100.0}, "runs": [{"tstop": 100.0}] * 2}
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 500 + "]" * 500)
    with pytest.raises(SchemaError, match=r"deep.yaml: nested"):
        load_yaml(deep)


# ------------------------------------------------------------------ killed sweeps


SPEC = """\
model: va
parameters: {tstop: 1000000.0, n_record_v: 0, n_pop: 400}
grid: {g_inh: [40.0, 60.0]}
seeds: [1]
timeout: 900
workers: 2
"""


@pytest.mark.parametrize("target", ["parent", "group"])
def test_killing_a_sweep_stops_its_simulations(tmp_path, target):
    spec = tmp_path / "long.yaml"
    spec.write_text(SPEC)
    lake_dir = tmp_path / "lake"
    sweep = subprocess.Popen(
        [sys.executable, "-m", "opsnn_lake.cli", "sweep", str(spec), "--lake", str(lake_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own group, so the test can kill that group
    )
    try:
        assert _wait_for(lambda: len(_pids_with("child_main", str(lake_dir))) == 2, 90)
        time.sleep(1.0)  # the simulations are under way
        if target == "parent":
            sweep.kill()
        else:
            os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait(timeout=10)
        assert _wait_for(lambda: not _pids_with("child_main", str(lake_dir)), 5)
    finally:
        with pytest.MonkeyPatch.context():
            for pid in _pids_with("child_main", str(lake_dir)):
                os.kill(pid, signal.SIGKILL)
            if sweep.poll() is None:
                sweep.kill()
                sweep.wait()
    lake = Lake(lake_dir)
    left = sorted(p.name for p in lake.staging_dir.iterdir())
    # Results and logs come back through pipes: at most unfinished stores are left.
    assert all(p.startswith("va-") for p in left), left
    report = lake.check(repair=True)
    assert len(report.staging_leftovers) == len(left)
    assert list(lake.staging_dir.iterdir()) == [] and lake.check().ok


# ------------------------------------------------------------------ killed ingest

POOL_PARENT = textwrap.dedent(
    """
    import multiprocessing, os, sys, time
    from concurrent.futures import ProcessPoolExecutor, wait
    from opsnn_lake import ingest

    # The pool exactly as ingest builds it (same initializer and arguments).
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=2, mp_context=ctx, initializer=ingest._init_worker,
        initargs=(sys.argv[1], {}, os.getpid()),
    )
    wait([pool.submit(time.sleep, 1.0) for _ in range(2)])  # both workers started
    print(" ".join(str(p) for p in pool._processes), flush=True)
    time.sleep(600)
    """
)


def test_killing_an_ingest_stops_its_workers(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.index.close()
    parent = subprocess.Popen(
        [sys.executable, "-c", POOL_PARENT, str(lake.path)], stdout=subprocess.PIPE, text=True
    )
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert len(workers) == 2 and all(Path(f"/proc/{p}").exists() for p in workers)
        parent.kill()
        parent.wait(timeout=10)

        def gone() -> bool:
            return not any(Path(f"/proc/{p}").exists() and _alive(p) for p in workers)

        assert _wait_for(gone, 3)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        parent.stdout.close()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# ------------------------------------------------------------------ disk full

FSIZE_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    import neo, numpy as np, quantities as pq
    from opsnn_lake import Lake
    from opsnn_lake.errors import LakeError

    lake = Lake(sys.argv[1])
    n = int(sys.argv[2])
    block = neo.Block(name="b")
    seg = neo.Segment(name="s")
    block.segments.append(seg)
    t = np.sort(np.random.default_rng(n).uniform(0, 1000.0, n))
    seg.spiketrains.append(neo.SpikeTrain(t * pq.ms, t_stop=1000 * pq.ms))
    limit = int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        lake.add(block, model="m", parameters={"n": n}, seed=1)
    except LakeError as err:
        print(json.dumps({"type": type(err).__name__, "message": str(err),
                          "oserror": isinstance(err, OSError)}))
    else:
        print(json.dumps({"type": None}))
    """
)


@pytest.mark.parametrize(
    ("n_spikes", "limit", "where"),
    [
        (300_000, 200_000, "runs"),  # a spike chunk is larger than the limit: the store fails
        (20, 8_000, "index"),  # the store fits, the index's write-ahead log does not
    ],
)
def test_file_size_limit_gives_a_lake_error_and_no_store_without_row(
    tmp_path, n_spikes, limit, where
):
    import json

    lake = Lake(tmp_path / "lake")
    lake.index.close()
    out = subprocess.run(
        [sys.executable, "-c", FSIZE_CHILD, str(lake.path), str(n_spikes), str(limit)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["type"] == "LakeWriteError" and result["oserror"], result
    message = result["message"]
    assert "run 'm-" in message
    assert ("staging" in message) if where == "runs" else ("index.sqlite" in message)
    if where == "runs":  # the file, not only the store's folder
        assert re.search(r"staging/\S+/(zarr\.json|\S+/c/\d)", message), message
    lake = Lake(tmp_path / "lake")
    assert list(lake.runs_dir.iterdir()) == [] and len(lake) == 0
    assert list(lake.staging_dir.iterdir()) == []
    assert lake.check().ok


# ------------------------------------------------------------------ same run, 4 writers

SAME_RUN = textwrap.dedent(
    """
    import sys, time
    import neo, numpy as np, quantities as pq
    from opsnn_lake import Lake

    lake = Lake(sys.argv[1])
    block = neo.Block(name="b")
    seg = neo.Segment(name="s")
    block.segments.append(seg)
    t = np.sort(np.random.default_rng(0).uniform(0, 100.0, 50_000))
    seg.spiketrains.append(neo.SpikeTrain(t * pq.ms, t_stop=100 * pq.ms))
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # start together
    print(lake.add(block, model="same", parameters={"g": 1.0}, seed=1))
    """
)


def test_concurrent_adds_of_one_run_leave_the_row_of_the_surviving_store(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.index.close()
    start = time.time() + 4.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SAME_RUN, str(lake.path), str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    ids = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert [p.returncode for p in procs] == [0] * 4 and len(ids) == 1
    lake = Lake(tmp_path / "lake")
    before = lake.search()
    assert len(before) == 1 and lake.check().ok
    lake.reindex()
    pd.testing.assert_frame_equal(lake.search(), before)
    (run_id,) = ids
    assert lake.provenance(run_id).created == before.loc[run_id, "created"]


# ------------------------------------------------------------------ symbolic links


def _small_block() -> neo.Block:
    block = neo.Block(name="b")
    seg = neo.Segment(name="s")
    block.segments.append(seg)
    seg.spiketrains.append(neo.SpikeTrain(np.array([1.0, 2.0]) * pq.ms, t_stop=5 * pq.ms))
    return block


def test_symbolic_links_never_lead_out_of_the_lake_nor_count(tmp_path):
    other = Lake(tmp_path / "other")
    outside_id = other.add(_small_block(), model="o", parameters={"x": 1}, seed=1)
    lake = Lake(tmp_path / "lake")
    run_id = lake.add(_small_block(), model="m", parameters={"x": 2}, seed=1)
    size = lake.search().loc[run_id, "bytes"]
    # a link to a store of another lake, and a link to a big file inside a store
    (lake.runs_dir / f"{outside_id}.zarr").symlink_to(other.store_path(outside_id))
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 1_000_000)
    (lake.store_path(run_id) / "extra").symlink_to(big)
    assert lake.check().ok  # the link is no store: nothing to report, nothing counted
    assert lake.reindex() == 1
    assert lake.search().loc[run_id, "bytes"] == size
    with pytest.raises(SchemaError, match="symbolic link out of the lake"):
        lake.open(outside_id)
    with pytest.raises(SchemaError, match="symbolic link out of the lake"):
        lake.to_neo(outside_id)
    assert outside_id not in lake
    with pytest.raises(SchemaError, match=r"symbolic link out of the lake .* stands where run"):
        lake.add(_small_block(), model="o", parameters={"x": 1}, seed=1)  # same id
    assert outside_id not in lake
    # a link left in staging is removed by repair, never what it points to
    (lake.staging_dir / "x.999999999.link").symlink_to(other.path)
    assert lake.check(repair=True).staging_leftovers == [str(lake.staging_dir / "x.999999999.link")]
    assert other.store_path(outside_id).is_dir() and list(lake.staging_dir.iterdir()) == []
