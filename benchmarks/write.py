"""Write benchmark: from the end of ``sim.run`` to a complete, registered run.

The Vogels-Abbott network of the 2020 OpSNN Brainhack (``simulate/va.py``: 4000
IF_cond_exp cells, seed 98765, 1 s, all spikes and v of two cells recorded) is
simulated once per method, each in a fresh process as a sweep run pays it, and the
write is timed:

* ``fast``   — :func:`opsnn_lake.fastpath.nest_nodes` + ``Lake.add_nodes``
* ``neo``    — ``get_data()`` per population + ``Lake.add`` (per-cell SpikeTrains)
* ``pickle`` — PyNN's ``write_data`` to neo pickle files (one per population)
* ``nix``    — neo ``NixIO`` of the same Blocks (slow: tens of seconds)

Lake methods call :func:`opsnn_lake.store.warm_up` before ``sim.run``, as the runner
does, so zarr's one-off set-up overlaps the simulation. Ratios are printed side by side.

Each method is repeated (``--repeat``, fresh process each time) and the median is used.

Usage: ``python benchmarks/write.py [--n-pop 4000] [--repeat 3] [--skip-nix]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("fast", "neo", "pickle", "nix")


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def worker(method: str, n_pop: int, out: Path) -> dict:
    """Simulate VA and time one write method (runs in its own process)."""
    os.environ.setdefault("PYNEST_QUIET", "1")
    import pyNN.nest as sim

    spec = importlib.util.spec_from_file_location("va", ROOT / "simulate" / "va.py")
    va = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(va)
    params = {**va.PARAMETERS, "n_pop": n_pop}
    sim.setup(timestep=params["dt"], min_delay=params["delay"], **va.SIMULATOR_SETTINGS["nest"])
    pops = va.build(sim, params)
    # As the runner does, everything that does not depend on the run is prepared before it.
    description = next(iter(pops.values())).recorder.population.describe()
    if method in ("fast", "neo"):
        from opsnn_lake import Lake
        from opsnn_lake.fastpath import neo_route_block, nest_nodes
        from opsnn_lake.provenance import Provenance
        from opsnn_lake.store import warm_up

        lake = Lake(out / "lake")
        provenance = Provenance(model="va", parameters=params)
        warm_up()
    sim.run(params["tstop"])
    t0 = time.perf_counter()
    if method == "fast":
        nodes = nest_nodes(pops, sim, description=description)
        run_id = lake.add_nodes(nodes, provenance)
        target = lake.store_path(run_id)
    elif method == "neo":
        block = neo_route_block(pops)
        run_id = lake.add(block, model="va-neo", parameters=params)
        target = lake.store_path(run_id)
    elif method == "pickle":
        for label, pop in pops.items():
            pop.write_data(str(out / f"{label}.pkl"))
        target = out
    else:
        import neo

        for label, pop in pops.items():
            io = neo.io.NixIO(str(out / f"{label}.nix"), mode="ow")
            io.write_block(pop.get_data())
            io.close()
        target = out
    elapsed = time.perf_counter() - t0
    n_spikes = 0
    if method in ("fast", "neo"):
        # Lossless check: spikes read back equal the simulator's, array for array.
        back = lake.to_neo(run_id)
        _, times = back.segments[0].spiketrains.multiplexed
        n_spikes = int(times.size)
    return {"method": method, "seconds": elapsed, "bytes": _size(target), "spikes": n_spikes}


def main() -> None:
    """Run every method in a fresh process and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pop", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per method")
    parser.add_argument("--skip-nix", action="store_true", help="leave out NixIO (~1 min)")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.n_pop, Path(args.out))))
        return
    results = {}
    for method in METHODS:
        if method == "nix" and args.skip_nix:
            continue
        samples = []
        # NixIO takes ~1 min a write: once is enough for a 1000x comparison.
        for _ in range(1 if method == "nix" else args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [sys.executable, __file__, "--worker", method, "--n-pop", str(args.n_pop)]
                proc = subprocess.run([*cmd, "--out", tmp], capture_output=True, text=True)
                if proc.returncode:
                    sys.exit(f"{method} failed:\n{proc.stderr[-3000:]}")
                samples.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        times = sorted(r["seconds"] for r in samples)
        results[method] = {**samples[0], "seconds": times[len(times) // 2]}
        r = results[method]
        spread = f"[{times[0]:.4f} .. {times[-1]:.4f}]"
        print(
            f"{method:>7}: {r['seconds']:8.4f} s median {spread}  {r['bytes'] / 1e6:8.3f} MB",
            flush=True,
        )
    fast, pickle = results["fast"], results["pickle"]
    print(f"\nVA, {args.n_pop} cells, 1 s; spikes stored: {fast['spikes']}")
    rows = [
        ("fast path / pickle write_data time", fast["seconds"] / pickle["seconds"], "<= 1.0"),
        ("neo route / pickle write_data time", results["neo"]["seconds"] / pickle["seconds"], ""),
        ("pickle bytes / store bytes", pickle["bytes"] / fast["bytes"], ">= 5"),
    ]
    if "nix" in results:
        nix_ratio = results["nix"]["seconds"] / fast["seconds"]
        rows.append(("NixIO time / fast path time", nix_ratio, ">= 1000"))
    for name, ratio, target in rows:
        print(f"{name:<36}: {ratio:10.2f}x  {'target ' + target if target else ''}")


if __name__ == "__main__":
    main()
