"""Check benchmark: ``opsnn-lake check`` and ``check --deep`` on a lake of 1,000 runs.

Usage: ``python benchmarks/check.py [--runs 1000] [--real 4] [--data DIR] [--repeat 3]``

The lake holds ``--runs`` runs of real data: ``--real`` small NEST networks
(:func:`opsnn_lake.testing.nest_network_block`: 80 + 20 IF_cond_exp cells, a Poisson
and a spike-array source, spikes of all and v/gsyn of the excitatory cells, 200 ms)
simulated once each, run ``k`` being network ``k % real`` stored under the parameter
``replica = k`` (simulating 1,000 networks would measure NEST, not the check; each
store is a real simulation's, so checking it costs what a distinct run costs).

``check`` verifies every store's metadata against its manifest, that every chunk file
exists, and every index row against its store; ``--deep`` also reads every chunk and
verifies its CRC-32C. Both are timed on a warm file cache (the lake was just written;
a cold cache measures the disk), and printed as runs per second.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PYNEST_QUIET", "1")


def build(path: Path, n_runs: int, n_real: int) -> object:
    """The lake of ``n_runs`` stores of ``n_real`` real NEST runs (reused if complete)."""
    from opsnn_lake import Lake
    from opsnn_lake.testing import nest_network_block

    lake = Lake(path)
    if len(lake) >= n_runs:
        return lake
    blocks = [nest_network_block(seed=10 + i) for i in range(n_real)]
    for k in range(len(lake), n_runs):
        lake.add(blocks[k % n_real], model="check-bench", parameters={"replica": k}, seed=k)
    return lake


def main(argv: list[str] | None = None) -> int:
    """Build the lake, time both checks and print runs per second."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--real", type=int, default=4, help="real NEST simulations")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "opsnn-check-bench"))
    parser.add_argument("--fresh", action="store_true", help="delete DATA first")
    args = parser.parse_args(argv)
    path = Path(args.data) / "lake"
    if args.fresh:
        shutil.rmtree(path, ignore_errors=True)
    t0 = time.perf_counter()
    lake = build(path, args.runs, args.real)
    runs = lake.search()
    print(
        f"lake: {len(runs)} runs, {int(runs.n_spikes.sum())} spikes, "
        f"{runs.bytes.sum() / 1e6:.1f} MB (ready in {time.perf_counter() - t0:.0f} s)"
    )
    results = {}
    for deep in (False, True):
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            report = lake.check(deep=deep)
            times.append(time.perf_counter() - start)
            if not report.ok:
                sys.exit("the benchmark lake is damaged:\n" + "\n".join(report.lines()[:5]))
        results[deep] = statistics.median(times)
    n = len(runs)
    for deep, seconds in results.items():
        name = "check --deep" if deep else "check"
        print(f"{name:<13}: {seconds:7.2f} s for {n} runs = {n / seconds:8.0f} runs/s")
    print(f"(machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
