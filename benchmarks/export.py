"""Export benchmark: NWB and SONATA out of the lake next to neo's own NWB and NIX writers.

The Vogels-Abbott network of the 2020 OpSNN Brainhack (``simulate/va.py``: 4000
IF_cond_exp cells, seed 98765, all spikes and v of two cells recorded) is simulated
once and stored in a fresh lake; then the same run is written, each timed (median of
``--repeat``) with its file size:

* ``lake.to_nwb``            — :mod:`opsnn_lake.nwb` (Units table in chunks, gzip)
* ``export sonata``          — :mod:`opsnn_lake.sonata` (spike report, uncompressed)
* ``neo NWBIO.write_block``  — neo's NWB writer on the same Block
* ``neo NixIO.write_block``  — neo's NIX writer on the same Block (once: slow)

and the SONATA file is ingested back into a fresh lake (``opsnn_lake.ingest``, one
worker), reported as spikes and MB per second.

Usage: ``python benchmarks/export.py [--n-pop 4000] [--tstop 1000] [--repeat 3] [--skip-nix]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def simulate(n_pop: int, tstop: float):
    """Run VA on NEST and return its Block (the neo route) and parameters."""
    os.environ.setdefault("PYNEST_QUIET", "1")
    import pyNN.nest as sim

    from opsnn_lake.fastpath import neo_route_block

    spec = importlib.util.spec_from_file_location("va", ROOT / "simulate" / "va.py")
    va = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(va)
    params = {**va.PARAMETERS, "n_pop": n_pop, "tstop": tstop}
    sim.setup(timestep=params["dt"], min_delay=params["delay"], **va.SIMULATOR_SETTINGS["nest"])
    pops = va.build(sim, params)
    sim.run(params["tstop"])
    block = neo_route_block(pops)
    sim.end()
    return block, params


def timed(fn: Callable[[], Path], repeat: int) -> tuple[float, int]:
    """Median seconds of ``fn`` over ``repeat`` calls, and the size of what it wrote."""
    times = []
    path = None
    for _ in range(repeat):
        start = time.perf_counter()
        path = fn()
        times.append(time.perf_counter() - start)
    assert path is not None
    return sorted(times)[len(times) // 2], path.stat().st_size


def main() -> None:
    """Simulate, store, export every way, ingest SONATA back; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pop", type=int, default=4000)
    parser.add_argument("--tstop", type=float, default=1000.0, help="simulated time (ms)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-nix", action="store_true", help="leave out NixIO (slow)")
    args = parser.parse_args()

    import neo

    from opsnn_lake import Lake
    from opsnn_lake.export import export_run
    from opsnn_lake.ingest import ingest

    block, params = simulate(args.n_pop, args.tstop)
    n_spikes = sum(st.size for st in block.segments[0].spiketrains)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        lake = Lake(tmp / "lake")
        run_id = lake.add(block, model="va", parameters=params, seed=int(params["seed"]))
        out = tmp / "out"
        out.mkdir()
        rows: list[tuple[str, float, int]] = []
        seconds, size = timed(lambda: lake.to_nwb(run_id, out / "run.nwb"), args.repeat)
        rows.append(("lake.to_nwb", seconds, size))
        seconds, size = timed(lambda: export_run(lake, run_id, "sonata", out), args.repeat)
        rows.append(("export --format sonata", seconds, size))

        def neo_nwb() -> Path:
            path = out / "neo.nwb"
            path.unlink(missing_ok=True)
            copy = block
            copy.annotations.setdefault("session_start_time", dt.datetime.now(dt.UTC))
            neo.io.NWBIO(str(path), mode="w").write_all_blocks([copy])
            return path

        seconds, size = timed(neo_nwb, args.repeat)
        rows.append(("neo NWBIO.write_block", seconds, size))
        if not args.skip_nix:

            def nix() -> Path:
                path = out / "neo.nix"
                io = neo.io.NixIO(str(path), mode="ow")
                io.write_block(block)
                io.close()
                return path

            seconds, size = timed(nix, 1)
            rows.append(("neo NixIO.write_block (1 run)", seconds, size))

        sonata = out / f"{run_id}.h5"
        ingest_times = []
        for i in range(args.repeat):
            target = tmp / f"ingest{i}"
            start = time.perf_counter()
            report = ingest([sonata], lake=target, workers=1, progress=False)
            ingest_times.append(time.perf_counter() - start)
            assert report.ok, report.failed
            shutil.rmtree(target)
        ingest_s = sorted(ingest_times)[len(ingest_times) // 2]

    cells = f"VA, {args.n_pop} cells, {args.tstop:g} ms; {n_spikes} spikes"
    print(f"{cells}; v of {params['n_record_v']} cells; median of {args.repeat}")
    print(f"{'writer':<32} {'seconds':>9} {'MB':>9}")
    for name, seconds, size in rows:
        print(f"{name:<32} {seconds:9.3f} {size / 1e6:9.3f}")
    nwb_s = rows[0][1]
    for name, seconds, _ in rows[2:]:
        print(f"{name} / lake.to_nwb time: {seconds / nwb_s:.1f}x")
    sonata_mb = rows[1][2] / 1e6
    print(
        f"SONATA ingest: {ingest_s:.3f} s, {n_spikes / ingest_s:,.0f} spikes/s, "
        f"{sonata_mb / ingest_s:.2f} MB/s, {args.n_pop / ingest_s:,.0f} cells/s"
    )


if __name__ == "__main__":
    main()
