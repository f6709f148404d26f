"""Parallel work beyond this process: real dask scheduler/worker processes and a real SLURM.

The SLURM tests run a one-node SLURM (Debian's slurmctld, slurmd and munge, started from a
private folder by ``benchmarks/slurm/slurm.sh``; ``.ci/run`` installs the packages) and
dask-jobqueue's ``SLURMCluster`` on it: a VA sweep in SLURM jobs into a lake, then an
analysis of that lake on SLURM workers equal to the local one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from opsnn_lake import Lake, SchemaError
from opsnn_lake.cli import main
from opsnn_lake.cluster import SlurmOptions, dask_client, slurm_options_for
from opsnn_lake.sweep import load_spec

REPO = Path(__file__).resolve().parents[1]
SLURM_SH = REPO / "benchmarks" / "slurm" / "slurm.sh"
SPEC = """
model: va
parameters: {tstop: 50.0, n_pop: 200, n_record_v: 0}
grid: {g_inh: [40.0, 60.0]}
seeds: [3]
timeout: 300
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spec(path: Path, text: str = SPEC) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


# --------------------------------------------------------------------------- options


def test_slurm_options_are_validated_naming_the_key(tmp_path):
    with pytest.raises(SchemaError, match=r"unknown SLURM option\(s\) \['queue'\]; valid: "):
        SlurmOptions.from_dict({"queue": "short"})
    with pytest.raises(SchemaError, match="'jobs' must be a positive integer, got 0"):
        SlurmOptions.from_dict({"jobs": 0})
    with pytest.raises(SchemaError, match="'env' must map variable names"):
        SlurmOptions.from_dict({"env": {"not a name": 1}})
    spec = _spec(tmp_path / "s.yaml", SPEC + "slurm: {partition: short, cors: 2}\n")
    with pytest.raises(SchemaError, match=r"s.yaml: slurm: unknown SLURM option\(s\) \['cors'\]"):
        load_spec(spec)


def test_slurm_options_come_from_the_spec_or_a_file_beside_it(tmp_path):
    options = {
        "partition": "short",
        "jobs": 3,
        "cores": 2,
        "memory": "4GB",
        "walltime": "00:30:00",
        "modules": ["nest/3.8"],
        "env": {"OMP_NUM_THREADS": 1},
        "prologue": ["source /shared/venv/bin/activate"],
    }
    parsed = SlurmOptions.from_dict(options)
    assert SlurmOptions.from_dict(parsed.to_dict()) == parsed
    assert parsed.job_script_prologue() == [
        "module load nest/3.8",
        "export OMP_NUM_THREADS=1",
        "source /shared/venv/bin/activate",
    ]
    spec = _spec(tmp_path / "sweep.yaml")
    assert load_spec(spec).slurm == SlurmOptions()
    (tmp_path / "slurm.yaml").write_text("partition: short\njobs: 3\ncores: 2\n")
    assert load_spec(spec).slurm == SlurmOptions(partition="short", jobs=3, cores=2)
    inline = {"partition": "long"}
    assert slurm_options_for(spec, inline) == SlurmOptions(partition="long")


def test_the_job_script_asks_slurm_for_the_options(tmp_path):
    from opsnn_lake.cluster import _slurm_cluster

    options = SlurmOptions(
        partition="short", account="lab", cores=2, memory="4GB", walltime="00:30:00",
        modules=("nest/3.8",), job_extra=("--qos=short",),
    )  # fmt: skip
    cluster = _slurm_cluster(options, tmp_path)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in [
        "#SBATCH -p short",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH -t 00:30:00",
        "#SBATCH --account=lab",
        "#SBATCH --qos=short",
        "module load nest/3.8",
        f"{sys.executable} -m distributed.cli.dask_worker",
    ]:
        assert line in script


# --------------------------------------------------------------------------- dask processes


@pytest.fixture
def dask_processes(tmp_path):
    """A real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1."""
    dask = Path(sys.executable).with_name("dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = {"cwd": tmp_path, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        start_new_session=True,
        **common,
    )
    worker = subprocess.Popen(
        [dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard",
         "--local-directory", str(tmp_path / "dask")],
        start_new_session=True,
        **common,
    )  # fmt: skip
    try:
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for proc in (worker, scheduler):
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in (worker, scheduler):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_sweep_and_analysis_on_real_dask_processes(tmp_path, dask_processes, capsys):
    spec = _spec(tmp_path / "sweep.yaml")
    lake_dir = tmp_path / "lake"
    code = main(["sweep", str(spec), "--lake", str(lake_dir), "--scheduler", dask_processes])
    out = capsys.readouterr()
    assert code == 0 and "2 done" in out.out
    assert f"dask scheduler {dask_processes}" in out.err
    assert len(Lake(lake_dir).search()) == 2
    remote = tmp_path / "remote.nc"
    local = tmp_path / "local.nc"
    base = ["analyse", "--lake", str(lake_dir), "--stat", "rate"]
    assert main([*base, "--scheduler", dask_processes, "-o", str(remote)]) == 0
    assert main([*base, "-o", str(local)]) == 0
    _assert_same_results(remote, local)


def _index_bytes(lake: Lake) -> dict[str, bytes]:
    """The index database and its write-ahead log, byte for byte."""
    names = ("index.sqlite", "index.sqlite-wal")
    return {n: (lake.path / n).read_bytes() for n in names if (lake.path / n).exists()}


def test_workers_only_publish_and_the_sweep_driver_registers(tmp_path, dask_processes):
    from distributed import Client

    from opsnn_lake.simulators import RunRequest, run_in_subprocess
    from opsnn_lake.sweep import run_sweep

    lake = Lake(tmp_path / "lake")
    small = {"tstop": 50.0, "n_pop": 200, "n_record_v": 0}
    before = _index_bytes(lake)
    with Client(dask_processes) as client:  # one run on a dask worker process, as sweeps do
        request = RunRequest(model="va", parameters=small, seed=5)
        future = client.submit(run_in_subprocess, request, lake.location, register=False,
                               timeout=300, pure=False)  # fmt: skip
        published = future.result()
    assert published.status == "done" and not published.registered
    assert _index_bytes(lake) == before and len(lake) == 0  # the worker left the index alone
    assert lake.store_path(published.run_id).is_dir()

    report = run_sweep(load_spec(_spec(tmp_path / "sweep.yaml")), lake,
                       scheduler=dask_processes, progress=False)  # fmt: skip
    assert report.counts() == {"done": 2}
    assert not any(r.result.registered for r in report.results)  # workers: register=False
    # The driver synced: the runs it was given and the one published before it started.
    expected = {published.run_id, *(r.run_id for r in report.results)}
    assert set(Lake(lake.location, mode="r").search().index) == expected
    assert lake.check().ok


def _assert_same_results(a: Path, b: Path) -> None:
    import xarray as xr

    with xr.open_dataset(a) as left, xr.open_dataset(b) as right:
        assert set(left.data_vars) == set(right.data_vars) and left.data_vars
        for name in left.data_vars:
            np.testing.assert_array_equal(left[name].values, right[name].values)


def test_a_local_process_cluster_announces_its_dashboard():
    lines: list[str] = []
    with dask_client(workers=1, announce=lines.append) as client:
        assert client.submit(sum, [1, 2]).result() == 3
    (line,) = lines
    assert line.startswith("dask local cluster, 1 worker(s); dashboard: http://")


# --------------------------------------------------------------------------- SLURM


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A one-node SLURM on 127.0.0.1, stopped (no daemon left) when the module ends."""
    missing = [d for d in ("slurmctld", "slurmd", "munged") if not shutil.which(d)]
    if missing:
        pytest.fail(
            f"SLURM daemons {missing} are not installed: run `{SLURM_SH} install` "
            "(.ci/run does this) to run the SLURM tests"
        )
    state = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "SLURMCTLD_PORT": str(_free_port()), "SLURMD_PORT": str(_free_port())}
    subprocess.run([SLURM_SH, "start", state], check=True, env=env, timeout=60)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SLURM_CONF", str(state / "slurm.conf"))
            yield state
    finally:
        subprocess.run([SLURM_SH, "stop", state], check=True, timeout=60)
    pids = [int(p.read_text()) for p in state.glob("*.pid") if p.read_text().strip()]
    alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    assert not alive, f"SLURM daemons still running: {alive}"


def _slurm_jobs() -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i %j %T"], capture_output=True, text=True)
    return out.stdout.split("\n") if out.stdout.strip() else []


def test_sweep_and_analysis_on_slurm(tmp_path, slurm, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = _spec(
        tmp_path / "sweep.yaml", SPEC + "slurm: {jobs: 2, cores: 1, memory: 2GB, interface: lo}\n"
    )
    lake_dir = tmp_path / "lake"
    code = main(["sweep", str(spec), "--lake", str(lake_dir), "--cluster", "slurm"])
    out = capsys.readouterr()
    assert code == 0 and "2 done" in out.out, out
    assert "SLURM cluster, 2 job(s); dashboard: http://" in out.err
    logs = list((tmp_path / "slurm-logs").glob("dask-worker-*.err"))
    assert logs, "the runs ran on dask workers in SLURM jobs"
    assert "tcp://127.0.0.1:" in logs[0].read_text()
    rows = Lake(lake_dir).search()
    assert sorted(rows["g_inh"]) == [40.0, 60.0]

    (tmp_path / "slurm.yaml").write_text("jobs: 1\nmemory: 2GB\ninterface: lo\n")
    remote, local = tmp_path / "slurm.nc", tmp_path / "local.nc"
    base = ["analyse", "--lake", str(lake_dir), "--stat", "rate", "--stat", "cv"]
    assert main([*base, "--cluster", "slurm", "-o", str(remote)]) == 0
    assert main([*base, "-o", str(local)]) == 0
    _assert_same_results(remote, local)
    deadline = time.monotonic() + 30
    while _slurm_jobs() and time.monotonic() < deadline:  # cluster.close() cancels jobs
        time.sleep(0.5)
    assert _slurm_jobs() == []


EXPLORE = """
model: va
parameters: {tstop: 50.0, n_pop: 200, n_record_v: 0}
space: {g_inh: {low: 40.0, high: 80.0, step: 40.0}}
objective: {population: exc, rate: {target: 20.0, tolerance: 0.5}}
strategy: grid
budget: 2
workers: 2
timeout: 300
slurm: {jobs: 2, cores: 1, memory: 2GB, interface: lo}
"""


def test_explore_on_slurm(tmp_path, slurm, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = _spec(tmp_path / "explore.yaml", EXPLORE)
    lake_dir = tmp_path / "lake"
    code = main(["explore", str(spec), "--lake", str(lake_dir), "--cluster", "slurm"])
    out = capsys.readouterr()
    assert code == 0, out
    assert "SLURM cluster, 2 job(s); dashboard: http://" in out.err
    assert "2 trials (2 complete), 2 simulated now" in out.out
    assert sorted(Lake(lake_dir).search()["g_inh"]) == [40.0, 80.0]
    assert list((tmp_path / "slurm-logs").glob("dask-worker-*.err"))
