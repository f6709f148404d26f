"""Sweep throughput: N VA runs on 2 workers, how busy the workers are, and the cached re-run.

Runs the same N configurations (the Vogels-Abbott network, 4 inhibitory strengths x
N/4 seeds) four ways, in one go:

1. one at a time (``workers=1``) into a fresh lake: the sum of single-run times;
2. two at a time (``workers=2``, the default local pool of threads, each waiting on one
   child process that registers its run itself) into another fresh lake: the sweep's
   wall time, so parallel efficiency = sum of single runs / (2 x wall time);
3. two at a time on a real ``dask scheduler`` and ``dask worker --nworkers 2`` started
   here (the cluster is up before the clock starts, as a user's running scheduler is):
   the children only publish (``Lake(register=False)``) and the sweep's driver
   registers them (``lake.sync()``) as results arrive;
4. the same 2-worker sweep again on the lake of (2): every run is a cache hit (no
   simulator is started), against the first pass.

"busy" = sum of the runs' wall times (each child process from start to exit, as
``run_in_subprocess`` measures it) / (2 x the sweep's wall time, planning, cluster
start-up and registration included): what the sweep itself costs, independent of how
loaded the machine is. The gap to 100 % is planning, starting the cluster, handing out
tasks, registering on the driver, and the tail (one worker idle while the other
finishes the last run).

Usage: ``python benchmarks/sweep.py [--runs 8] [--n-pop 2000] [--tstop 500]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from opsnn_lake import Lake
from opsnn_lake.sweep import SweepReport, parse_spec, run_sweep


def timed_sweep(
    spec: Any, lake: Path, workers: int, scheduler: str | None = None
) -> tuple[float, SweepReport]:
    start = time.perf_counter()
    report = run_sweep(spec, Lake(lake), workers=workers, scheduler=scheduler, progress=False)
    wall = time.perf_counter() - start
    if report.failed:
        raise SystemExit(f"runs failed: {[r.error for r in report.failed]}")
    assert len(Lake(lake, mode="r").search()) == len(report.results)  # all registered
    return wall, report


def busy(report: SweepReport, wall: float, workers: int = 2) -> float:
    """Share of the workers' time spent in runs."""
    return sum(r.seconds for r in report.results) / (workers * wall)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_dask(work: Path) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """A dask scheduler and a 2-process worker on 127.0.0.1 (as tests/test_cluster.py)."""
    from distributed import Client

    dask = str(Path(sys.executable).with_name("dask"))
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"cwd": work, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                          "--no-dashboard"], start_new_session=True, **quiet),
        subprocess.Popen([dask, "worker", address, "--nworkers", "2", "--nthreads", "1",
                          "--no-dashboard", "--local-directory", str(work / "dask")],
                         start_new_session=True, **quiet),
    ]  # fmt: skip
    with Client(address, timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
    return address, procs


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="runs (a multiple of 4)")
    parser.add_argument("--n-pop", type=int, default=2000)
    parser.add_argument("--tstop", type=float, default=500.0)
    args = parser.parse_args()
    spec = parse_spec(
        {
            "model": "va",
            "parameters": {"n_pop": args.n_pop, "pconn": 40.0 / args.n_pop, "tstop": args.tstop},
            "grid": {"g_inh": [30.0, 45.0, 60.0, 80.0]},
            "seeds": list(range(1, args.runs // 4 + 1)),
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        seq_wall, seq = timed_sweep(spec, Path(tmp) / "sequential", workers=1)
        par_wall, par = timed_sweep(spec, Path(tmp) / "parallel", workers=2)
        address, procs = start_dask(Path(tmp))
        try:
            dist_wall, dist = timed_sweep(spec, Path(tmp) / "on_workers", 2, scheduler=address)
        finally:
            stop(procs)
        again_wall, again = timed_sweep(spec, Path(tmp) / "parallel", workers=2)
    single = sum(r.seconds for r in seq.results)
    counts = again.counts()
    print(f"{len(seq.results)} VA runs ({args.n_pop} cells, {args.tstop:g} ms), "
          "each in its own process:")  # fmt: skip
    print(f"  one at a time        wall {seq_wall:6.1f} s  (sum of single runs {single:.1f} s)")
    print(
        f"  2 workers (local)    wall {par_wall:6.1f} s  speed-up {single / par_wall:.2f}x, "
        f"parallel efficiency {single / (2 * par_wall):.1%}, workers busy "
        f"{busy(par, par_wall):.1%}"
    )
    print(
        f"  2 dask worker procs  wall {dist_wall:6.1f} s  speed-up {single / dist_wall:.2f}x, "
        f"workers busy {busy(dist, dist_wall):.1%} (driver registers)"
    )
    print(
        f"  re-run, all cached   wall {again_wall:6.2f} s  ({counts.get('cached', 0)} cached, "
        f"{again_wall / par_wall:.3f}x the first pass)"
    )


if __name__ == "__main__":
    main()
