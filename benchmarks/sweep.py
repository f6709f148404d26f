"""Sweep throughput: 8 VA runs on 2 workers, and the re-run that finds them all in the lake.

Runs the same 8 configurations (the Vogels-Abbott network, 4 inhibitory strengths x 2
seeds) three ways, in one go:

1. one at a time (``workers=1``) into a fresh lake: the sum of single-run times;
2. two at a time (``workers=2``) into another fresh lake: the sweep's wall time, so
   parallel efficiency = sum of single runs / (2 x wall time); "busy" is the share of
   the wall time the two workers spent in runs (scheduling overhead, independent of
   how loaded the machine is);
3. the same 2-worker sweep again on the lake of (2): every run is a cache hit (no
   simulator is started), against the first pass.

Usage: ``python benchmarks/sweep.py [--n-pop 2000] [--tstop 500]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from opsnn_lake import Lake
from opsnn_lake.sweep import parse_spec, run_sweep


def timed_sweep(spec, lake: Path, workers: int):
    start = time.perf_counter()
    report = run_sweep(spec, Lake(lake), workers=workers, progress=False)
    wall = time.perf_counter() - start
    if report.failed:
        raise SystemExit(f"runs failed: {[r['error'] for r in report.failed]}")
    return wall, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pop", type=int, default=2000)
    parser.add_argument("--tstop", type=float, default=500.0)
    args = parser.parse_args()
    spec = parse_spec(
        {
            "model": "va",
            "parameters": {"n_pop": args.n_pop, "pconn": 40.0 / args.n_pop, "tstop": args.tstop},
            "grid": {"g_inh": [30.0, 45.0, 60.0, 80.0]},
            "seeds": [1, 2],
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        seq_wall, seq = timed_sweep(spec, Path(tmp) / "sequential", workers=1)
        par_wall, par = timed_sweep(spec, Path(tmp) / "parallel", workers=2)
        again_wall, again = timed_sweep(spec, Path(tmp) / "parallel", workers=2)
    single = sum(r["seconds"] for r in seq.results)
    busy = sum(r["seconds"] for r in par.results) / (2 * par_wall)
    counts = again.counts()
    print(f"8 VA runs ({args.n_pop} cells, {args.tstop:g} ms), each in its own process:")
    print(f"  one at a time        wall {seq_wall:6.1f} s  (sum of single runs {single:.1f} s)")
    print(
        f"  2 workers            wall {par_wall:6.1f} s  speed-up {single / par_wall:.2f}x, "
        f"parallel efficiency {single / (2 * par_wall):.0%} "
        f"(workers busy {busy:.0%} of the wall time)"
    )
    print(
        f"  re-run, all cached   wall {again_wall:6.2f} s  ({counts.get('cached', 0)} cached, "
        f"{again_wall / par_wall:.3f}x the first pass)"
    )


if __name__ == "__main__":
    main()
