"""Concurrent and killed writers of an S3 lake: no lost run, no partial run, nothing left.

Writers are real processes adding real neo Blocks to a lake on a real S3 API server
(moto, started by ``tests/s3_server.py``); they inherit its ``AWS_*`` environment.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import obstore
import pytest

from opsnn_lake import Lake
from opsnn_lake.storage.objects import parse_url

BLOCKS = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import numpy as np, neo, quantities as pq
    from opsnn_lake import Lake

    def block(i):
        rng = np.random.default_rng(i)
        seg = neo.Segment(name="s0")
        for pop in ("exc", "inh", "input"):
            for unit in range(8):
                times = np.sort(rng.uniform(0, 500, rng.integers(0, 40)))
                st = neo.SpikeTrain(times * pq.ms, t_stop=500 * pq.ms)
                st.annotate(source_population=pop, source_index=unit, channel_id=unit)
                seg.spiketrains.append(st)
        b = neo.Block(name=f"run {i}")
        b.segments.append(seg)
        return b
    """
)

WRITER = BLOCKS + textwrap.dedent(
    """
    url, go = sys.argv[1], sys.argv[5]
    writer, first, count = map(int, sys.argv[2:5])
    lake = Lake(url)
    print("ready", flush=True)
    while go != "-" and not Path(go).exists():
        time.sleep(0.01)
    for i in range(first, first + count):
        run_id = lake.add(block(i), model="w", parameters={"i": i}, seed=i)
        print("added", run_id, flush=True)
    """
)

# Imports once, then forks a writer per line read (its first run number) and prints
# the writer's pid: thirty killed writers without thirty interpreter start-ups. The
# parent never touches the bucket, so each child opens its own client.
FORKER = BLOCKS + textwrap.dedent(
    """
    url = sys.argv[1]
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            lake = Lake(url)
            first = int(line)
            for i in range(first, first + 1000):
                lake.add(block(i), model="w", parameters={"i": i}, seed=i)
            os._exit(0)
        print(pid, flush=True)
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass  # reap the writers killed so far
        except ChildProcessError:
            pass
    """
)


def _start(url: str, writer: int, first: int, count: int, go: str = "-") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, url, str(writer), str(first), str(count), go],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", f"writer failed to start (exit {proc.poll()})"


def _uncommitted_attempts(url: str) -> set[str]:
    """Attempt prefixes in the bucket that no commit record points to (listed directly)."""
    import json

    store = parse_url(url).store()
    keys = [m["path"] for chunk in obstore.list(store) for m in chunk]
    attempts = {"/".join(k.split("/")[:3]) for k in keys if k.startswith("data/")}
    stores = {
        json.loads(bytes(obstore.get(store, k).bytes()))["store"]
        for k in keys
        if k.startswith(("runs/", "quarantine/"))
    }
    return {f"{url}/{a}" for a in attempts - stores}


def test_four_writers_fifty_runs_each_all_searchable(s3_url):
    # no lake yet: the four writers race to create it, too
    procs = [_start(s3_url, w, 1000 * w, 50) for w in range(4)]
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-2000:]
        assert out.count("added") == 50
    lake = Lake(s3_url, mode="r")
    assert len(lake) == 200 and len(lake.search()) == 200
    assert len(lake.search(i=(1000, 1049))) == 50
    report = lake.check(older_than=0)
    assert report.ok, report.lines()


def test_two_writers_of_the_same_runs_commit_each_once(s3_url, tmp_path):
    Lake(s3_url)
    go = tmp_path / "go"
    procs = [_start(s3_url, w, 0, 10, str(go)) for w in range(2)]
    for proc in procs:
        _wait_ready(proc)
    go.touch()  # both start adding the same ten runs at once
    outputs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0
        outputs.append(sorted(line.split()[1] for line in out.splitlines() if "added" in line))
    assert outputs[0] == outputs[1] and len(outputs[0]) == 10  # both got the same ids
    lake = Lake(s3_url)
    assert sorted(lake.search().index) == outputs[0]
    assert _uncommitted_attempts(s3_url) == set()  # each loser deleted its attempt
    assert lake.check(deep=True, older_than=0).ok


def test_writers_killed_at_30_moments_leave_no_partial_run(s3_url):
    Lake(s3_url)
    rng = random.Random(20261201)
    forker = subprocess.Popen(
        [sys.executable, "-c", FORKER, s3_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert forker.stdin is not None and forker.stdout is not None
    try:
        for kill in range(30):
            forker.stdin.write(f"{kill * 1000}\n")
            forker.stdin.flush()
            pid = int(forker.stdout.readline())
            time.sleep(rng.uniform(0.02, 0.5))  # opening, writing, committing, between runs
            os.kill(pid, signal.SIGKILL)
        forker.stdin.close()
        assert forker.wait(timeout=60) == 0
    finally:
        if forker.poll() is None:
            os.killpg(forker.pid, signal.SIGKILL)
        forker.stdout.close()
    lake = Lake(s3_url)
    visible = list(lake.search().index)
    for run_id in rng.sample(visible, min(10, len(visible))):  # committed runs read whole
        lake.to_neo(run_id)
    report = lake.check(older_than=0)  # and every committed run is complete
    assert not report.damaged and not report.bad_stores and not report.rows_without_store
    leftovers = _uncommitted_attempts(s3_url)
    assert set(report.staging_leftovers) == leftovers
    assert lake.check(older_than=3600).staging_leftovers == []  # fresh attempts are spared
    repaired = lake.check(repair=True, older_than=0)
    assert repaired.repaired
    assert _uncommitted_attempts(s3_url) == set()
    assert lake.check(older_than=0).ok
    proc = _start(s3_url, 9, 10**6, 1)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "added" in out
    assert len(Lake(s3_url, mode="r")) == len(visible) + 1


SWEEP = """\
model: va
simulator: nest
parameters: {n_pop: 200, pconn: 0.1, tstop: 200.0}
grid:
  g_inh: [30.0, 80.0]
seeds: [1]
workers: 2
"""


@pytest.mark.slow
def test_sweep_into_an_s3_lake(s3_url, tmp_path, monkeypatch):
    from opsnn_lake.cli import main

    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "sweep.yaml"
    spec.write_text(SWEEP)
    assert main(["sweep", str(spec), "--lake", s3_url]) == 0
    lake = Lake(s3_url, mode="r")
    assert sorted(lake.search()["g_inh"]) == [30.0, 80.0]
    assert lake.check(older_than=0).ok
    assert not (tmp_path / "s3:").exists()
    assert main(["sweep", str(spec), "--lake", s3_url]) == 0  # both runs known: skipped
    assert len(Lake(s3_url, mode="r")) == 2
