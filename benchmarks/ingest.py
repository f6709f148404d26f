"""Benchmark: batch ingestion of neo pickle files, and the tonic spike-source conversion.

1. 100 neo pickle files of Vogels-Abbott runs (``simulate/va.py`` on NEST, 1000–4000
   cells, 1 s): ``opsnn-lake ingest`` with 2 worker processes into a fresh lake,
   against only ``pickle.load``-ing the same files in one process (the least any
   ingestion must do). The files come from four real NEST runs (n_pop 1000, 2000,
   3000, 4000); each file gets distinct annotations (seed, copy number) so the 100
   files have 100 checksums. They are simulated once and cached (``--data``).
2. The tonic conversion of a 100k-event sample into per-pixel spike times:
   :func:`opsnn_lake.sources.tonic.spike_source_view` against the per-pixel loop of the
   2020 Brainhack notebook (``input/D_tonic2SpikeSourceArray.ipynb``: for each pixel,
   ``np.where`` over all events), checked to give the same spike times.

Run: ``python benchmarks/ingest.py`` (``--files 20`` for a quick look). Prints
side-by-side timings and ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SIZES = (1000, 2000, 3000, 4000)


def simulate_va(n_pop: int, *, tstop: float = 1000.0):
    """One real VA run on NEST, as a merged neo Block."""
    os.environ.setdefault("PYNEST_QUIET", "1")
    sys.path.insert(0, str(REPO / "simulate"))
    import pyNN.nest as sim
    import va

    from opsnn_lake.neo_convert import merge_blocks

    params = {**va.PARAMETERS, "n_pop": n_pop, "tstop": tstop}
    sim.setup(timestep=params["dt"], min_delay=params["delay"], **va.SIMULATOR_SETTINGS["nest"])
    pops = va.build(sim, params)
    sim.run(tstop)
    block = merge_blocks({k: p.get_data() for k, p in pops.items()}, name=f"va-{n_pop}")
    sim.end()
    block.annotate(
        model="va", simulator="NEST", parameters={"n_pop": n_pop, "tstop": tstop}, seed=98765
    )
    return block


def make_files(data: Path, n_files: int) -> list[Path]:
    """``n_files`` distinct pickle files from four VA runs (simulated once, cached)."""
    data.mkdir(parents=True, exist_ok=True)
    files = [data / f"va_{i:03d}.pkl" for i in range(n_files)]
    if all(f.exists() for f in files):
        return files
    blocks = {}
    for n_pop in SIZES:
        start = time.perf_counter()
        blocks[n_pop] = simulate_va(n_pop)
        spikes = sum(st.size for st in blocks[n_pop].segments[0].spiketrains)
        print(
            f"  simulated VA n_pop={n_pop}: {spikes} spikes in {time.perf_counter() - start:.1f} s"
        )
    for i, path in enumerate(files):
        block = blocks[SIZES[i % len(SIZES)]]
        block.annotations["copy"] = i  # distinct bytes, hence a distinct run
        block.annotations["seed"] = 98765 + i
        path.write_bytes(pickle.dumps(block, protocol=pickle.HIGHEST_PROTOCOL))
    return files


def bench_ingest(files: list[Path], workers: int) -> None:
    from opsnn_lake import Lake
    from opsnn_lake.ingest import ingest

    nbytes = sum(f.stat().st_size for f in files)
    for f in files:  # warm the page cache for both contenders
        f.read_bytes()
    start = time.perf_counter()
    for f in files:
        with open(f, "rb") as fh:
            pickle.load(fh)
    t_load = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(Path(tmp) / "lake")
        start = time.perf_counter()
        report = ingest(files, lake=lake, trust_pickle=True, workers=workers, progress=False)
        t_ingest = time.perf_counter() - start
        assert report.ok and len(report.added) == len(files), report.summary()
        start = time.perf_counter()
        again = ingest(files, lake=lake, trust_pickle=True, workers=workers, progress=False)
        t_again = time.perf_counter() - start
        assert len(again.skipped) == len(files)
        stored = sum(
            f.stat().st_size for f in (Path(tmp) / "lake" / "runs").rglob("*") if f.is_file()
        )
        per_file = statistics.median(o.seconds for o in report.added)

    mb = nbytes / 1e6
    print(f"\n[1] {len(files)} neo pickle files of VA runs", end=" ")
    print(f"({mb:.0f} MB; stored in the lake: {stored / 1e6:.0f} MB)")
    print(f"  {'':40s} {'seconds':>8s} {'files/s':>8s} {'MB/s':>8s}")
    rows = [
        ("pickle.load only, 1 process", t_load),
        (f"opsnn-lake ingest, {workers} workers", t_ingest),
        (f"re-run (all known, skipped), {workers} workers", t_again),
    ]
    for name, t in rows:
        print(f"  {name:40s} {t:8.2f} {len(files) / t:8.1f} {mb / t:8.1f}")
    print(f"  ingest / pickle-load time ratio: {t_ingest / t_load:.2f}")
    print(f"  median time per file in a worker (hash + load + convert + write): {per_file:.3f} s")


def brainhack_loop(events: np.ndarray, sensor_size: tuple[int, int]) -> list[np.ndarray]:
    """The 2020 notebook's conversion: one ``np.where`` over all events per pixel."""
    width = sensor_size[0]
    out = []
    for i in range(sensor_size[0] * sensor_size[1]):
        row, col = i // width, i % width
        idx = np.where((events["x"] == row) & (events["y"] == col))[0]
        out.append(events["t"][idx] * 1.0e-3)  # ms
    return out


def bench_tonic(n_events: int, repeat: int) -> None:
    from tonic.datasets import NMNIST, DVSGesture

    from opsnn_lake.sources.tonic import spike_source_view

    print(
        f"\n[2] tonic sample of {n_events} events -> per-pixel spike times (ms), polarities merged"
    )
    print(f"  {'sensor':22s} {'np.where loop':>14s} {'spike_source_view':>18s} {'speed-up':>9s}")
    rng = np.random.default_rng(0)
    for name, cls in (("NMNIST 34x34", NMNIST), ("DVSGesture 128x128", DVSGesture)):
        width, height = cls.sensor_size[:2]
        events = np.zeros(n_events, dtype=cls.dtype)
        events["x"] = rng.integers(0, width, n_events)
        events["y"] = rng.integers(0, height, n_events)
        events["t"] = np.sort(rng.integers(0, 6_000_000, n_events))
        events["p"] = rng.integers(0, 2, n_events)
        start = time.perf_counter()
        loop = brainhack_loop(events, (width, height))
        t_loop = time.perf_counter() - start
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            view = spike_source_view(events, cls.sensor_size, polarity="merge")
            trains = view.spike_times()
            times.append(time.perf_counter() - start)
        t_view = min(times)
        # Same spike times: the notebook's pixel i is (x=i//W, y=i%W), the view's y*W+x.
        for i in range(0, width * height, max(1, width * height // 257)):
            j = int(view.index(i // width, i % width))
            # t * 1e-3 (notebook) and t / 1000 (view) may differ in the last bit
            np.testing.assert_allclose(np.sort(loop[i]), trains[j], rtol=1e-15, atol=0)
        assert sum(len(t) for t in trains) == sum(len(t) for t in loop) == n_events
        print(
            f"  {name:22s} {t_loop * 1e3:11.1f} ms {t_view * 1e3:15.2f} ms {t_loop / t_view:8.0f}x"
        )
    ingest_dvsgesture(events)


def ingest_dvsgesture(events: np.ndarray) -> None:
    """Time one DVSGesture-format file of these events into an input run."""
    from opsnn_lake import Lake
    from opsnn_lake.ingest import ingest

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ibmGestureTest" / "user01_led" / "3.npy"
        path.parent.mkdir(parents=True)
        rows = np.column_stack([events["x"], events["y"], events["p"], events["t"] / 1000.0])
        np.save(path, rows)
        lake = Lake(Path(tmp) / "lake")
        start = time.perf_counter()
        report = ingest([path], lake=lake, tonic="DVSGesture", workers=1, progress=False)
        elapsed = time.perf_counter() - start
        assert report.ok, report.summary()
    print(
        f"  ingest of that DVSGesture sample (file -> events + stored view, "
        f"{128 * 128 * 2} sources): {elapsed * 1e3:.0f} ms"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--part", choices=("all", "neo", "tonic"), default="all")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(tempfile.gettempdir()) / "opsnn_lake_bench_ingest",
        help="where the generated pickle files are cached",
    )
    args = parser.parse_args(argv)
    print(f"benchmarks/ingest.py on {os.cpu_count()} CPUs; data in {args.data}")
    if args.part in ("all", "neo"):
        files = make_files(args.data, args.files)
        bench_ingest(files, args.workers)
    if args.part in ("all", "tonic"):
        bench_tonic(args.events, repeat=5)


if __name__ == "__main__":
    main()
