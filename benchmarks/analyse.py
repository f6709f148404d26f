"""Benchmark: cross-run analysis on the lake vs the classic neo + elephant loop.

Usage::

    python benchmarks/analyse.py [--data DIR] [--real 10] [--runs 100] [--repeat 3]
    python benchmarks/analyse.py --scaling-only   # 1 vs 2 worker processes, a few minutes

What it does, side by side in one process:

1. Simulates ``--real`` runs of the VA model (``simulate/va.py``, 1000-4000 cells, 1 s of
   biological time) on NEST through PyNN, each in its own process
   (:func:`opsnn_lake.simulators.runner.run_in_subprocess`), into ``DIR/source``.
2. Builds the benchmark lake ``DIR/lake`` of ``--runs`` runs: run ``k`` is real run
   ``k % real`` stored again under the parameter ``replica = k // real`` and seed ``k``
   (simulating 100 networks of up to 4000 cells would take most of an hour on 2 cores;
   the stored data of each replica is a real simulation, so reading and analysing it
   costs what a distinct run costs). Each run is also written as a neo pickle
   (``neo.io.PickleIO``), the files the classic loop reads.
3. Classic loop: for each pickle, unpickle the Block, then per population elephant per
   spike train (``mean_firing_rate``, ``cv(isi(.))``, ``fanofactor`` of the 100 ms window
   counts of ``BinnedSpikeTrain``), ``correlation_coefficient`` of the first 100 trains
   binned at 5 ms, ``welch_psd`` of ``time_histogram(trains, 1 ms, output="rate")``.
4. Lake: ``opsnn_lake.analysis.analyse(lake.search(...), ["rate", "cv", "fano",
   "correlation", "psd"])`` with the same options, computed batched with
   ``opsnn_lake.analysis.compute`` on dask threads.
5. Checks that every number agrees (rtol 1e-9), prints the ratio, the scaling from 25
   to 100 runs, and 1 vs 2 worker processes (dask.distributed ``LocalCluster``, one
   thread each; both clusters up, timings alternated so machine load falls on both):
   every round side by side, the ratio and the parallel efficiency (target x1.8, 0.9),
   where the time goes (graph, dispatch, tail in this process; task and CPU seconds on
   the workers), a CPU-time based efficiency that leaves out the machine's other load,
   the load average and a control (how much of a second core a GIL-free numpy job gets
   right now). ``--scaling-only`` measures just this, to re-run on a quiet machine.
   Measured first on the default workload, 100 runs of 5 s (``--scaling-tstop``; 4 real
   simulations, ``--scaling-real``, in ``DIR/source-long``, replicated into
   ``DIR/lake-long``: seconds of work per worker, as a user's cross-run analysis), then
   on the lake of 1 s runs above, where fixed costs weigh most; both printed in full.
   ``--wait-load L`` waits for a load average below ``L``; ``--untuned-allocator``
   measures the workers without :func:`opsnn_lake.analysis.plan.tune_allocator`.
6. The cost of verified reads: the same lake analysis with the store module's checks
   (manifest digests, chunk presence and CRC-32C, :mod:`opsnn_lake.store`) and with
   plain zarr stores, alternated; prints the ratio (target <= 1.1x).
   ``--verification-only`` measures just this (no classic loop, no scaling).

Data are kept in ``DIR`` (default ``$TMPDIR/opsnn-lake-analyse-bench``) and reused on
the next run; ``--fresh`` starts over.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

os.environ.setdefault("PYNEST_QUIET", "1")

N_POP = (1000, 2000, 3000, 4000)
G_INH = (30.0, 40.0, 51.0, 60.0, 70.0)
OPTIONS = {
    "fano": {"window": 100.0},
    "correlation": {"units": 100, "bin_size": 5.0},
    "psd": {"bin_size": 1.0},
}
STATS = ["rate", "cv", "fano", "correlation", "psd"]


def simulate(source: Path, n_real: int, tstop: float = 1000.0) -> list[str]:
    """Run the real VA simulations of ``tstop`` ms (two at a time, one process each)."""
    from opsnn_lake import Lake
    from opsnn_lake.simulators.runner import RunRequest, RunResult, run_in_subprocess

    Lake(source)
    requests = [
        RunRequest(
            model="va",
            parameters={
                "n_pop": N_POP[i % len(N_POP)],
                "g_inh": G_INH[i % len(G_INH)],
                "tstop": tstop,
            },
            seed=100 + i,
        )
        for i in range(n_real)
    ]

    def one(request: RunRequest) -> RunResult:
        result = run_in_subprocess(request, source, timeout=1800)
        print(
            f"  {result.status:6s} {result.run_id} n_pop={request.parameters['n_pop']}"
            f" g_inh={request.parameters['g_inh']} ({result.seconds:.1f} s)",
            flush=True,
        )
        if result.failed:
            raise RuntimeError(f"simulation failed: {result.error}\n{result.log}")
        return result

    with ThreadPoolExecutor(max_workers=2) as pool:
        return [r.run_id for r in pool.map(one, requests)]


def plain_block(block):
    """The Block with ordinary SpikeTrain lists (to_neo builds them lazily)."""
    for seg in block.segments:
        seg.spiketrains = list(seg.spiketrains)
    return block


def build_lake(
    data: Path, real: list[str], n_runs: int, *, name: str = "", pickles: bool = True
) -> tuple[object, dict[str, Path]]:
    """The lake ``DATA/lake<name>`` of ``n_runs`` replicas of the runs ``real`` of
    ``DATA/source<name>``, and (``pickles``) each run's neo pickle."""
    from neo.io import PickleIO

    from opsnn_lake import Lake

    source = Lake(data / f"source{name}")
    lake = Lake(data / f"lake{name}")
    folder = data / f"pickles{name}"
    if pickles:
        folder.mkdir(exist_ok=True)
    files: dict[str, Path] = {}
    blocks: dict[str, object] = {}
    for k in range(n_runs):
        src = real[k % len(real)]
        prov = source.provenance(src)
        params = {**prov.parameters, "replica": k // len(real)}
        params.pop("setup", None)
        if src not in blocks:
            blocks[src] = plain_block(source.to_neo(src))
        run_id = lake.add(blocks[src], model="va", parameters=params, seed=k, simulator="nest")
        files[run_id] = folder / f"{run_id}.pkl"
        if pickles and not files[run_id].exists():
            tmp = files[run_id].with_suffix(".tmp")
            PickleIO(str(tmp)).write_block(blocks[src])
            tmp.rename(files[run_id])
    return lake, files


def classic(files: list[Path]) -> tuple[float, dict]:
    """The loop users write today: unpickle each neo file, elephant per spike train."""
    import quantities as pq
    from elephant.conversion import BinnedSpikeTrain
    from elephant.spectral import welch_psd
    from elephant.spike_train_correlation import correlation_coefficient
    from elephant.statistics import cv, fanofactor, isi, mean_firing_rate, time_histogram
    from neo.io import PickleIO

    results = {}
    warnings.simplefilter("ignore")  # elephant warns about silent trains, spikes at t_stop
    start = time.perf_counter()
    for path in files:
        block = PickleIO(str(path)).read_block()
        for seg in block.segments:
            pops: dict[str, list] = {}
            for st in seg.spiketrains:
                pops.setdefault(st.annotations["source_population"], []).append(st)
            for pop, trains in pops.items():
                rate = [mean_firing_rate(st).rescale("Hz").magnitude for st in trains]
                cvs = [cv(isi(st)) for st in trains]
                fano = [
                    fanofactor(
                        [
                            np.zeros(c)
                            for c in BinnedSpikeTrain(st, bin_size=100 * pq.ms).to_array()[0]
                        ]
                    )
                    for st in trains
                ]
                corr = correlation_coefficient(BinnedSpikeTrain(trains[:100], bin_size=5 * pq.ms))
                hist = time_histogram(trains, bin_size=1 * pq.ms, output="rate").rescale("Hz")
                _, psd = welch_psd(hist)
                results[(path.stem, pop)] = {
                    "rate": np.asarray(rate, float),
                    "cv": np.asarray(cvs, float),
                    "fano": np.asarray(fano, float),
                    "correlation": np.asarray(corr),
                    "psd": psd.magnitude[0],
                }
    return time.perf_counter() - start, results


def lake_analysis(lake, n_runs: int, workers: int | None, client=None):
    """search -> analyse -> numbers, end to end, batched (``opsnn_lake.analysis.compute``);
    on threads, or on a distributed client's worker processes."""
    import dask

    from opsnn_lake.analysis import analyse, compute

    start = time.perf_counter()
    runs = lake.search().iloc[:n_runs]
    tree = analyse(runs, STATS, lake=lake, options=OPTIONS)
    if client is not None:
        with dask.config.set(scheduler=client.get):
            tree = compute(tree)
    else:
        with dask.config.set(scheduler="threads", num_workers=workers):
            tree = compute(tree)
    return time.perf_counter() - start, tree, runs


def worker_cpu(client) -> dict[str, tuple[float, float, int]]:
    """CPU seconds (user + system), system CPU seconds and page faults each worker
    process has used so far."""

    def cpu() -> tuple[float, float, int]:
        import resource

        use = resource.getrusage(resource.RUSAGE_SELF)
        return use.ru_utime + use.ru_stime, use.ru_stime, use.ru_minflt + use.ru_majflt

    return client.run(cpu)


def profiled_analysis(lake, n_runs: int, client) -> dict[str, float]:
    """One analysis on a distributed client, with where its time went.

    ``wall``: search -> numbers. ``graph``: search, metadata and the graph, here.
    ``dispatch``: from ``compute`` to the first task starting on a worker (batching the
    graph, sending it). ``tail``: from the last task ending to the numbers (gathering,
    unpickling, assembling the results). ``busy``: task seconds on the workers, the
    busiest worker's ``busiest``; ``cpu``: the workers' CPU seconds (``cpu_max``: of the
    worker that used most; ``sys``: in the kernel; ``faults``: their page faults, in
    thousands); ``client_cpu``: this
    process's (which also runs the scheduler of a ``LocalCluster``).
    """
    import dask
    from distributed import get_task_stream

    from opsnn_lake.analysis import analyse, compute

    cpu_before = worker_cpu(client)
    client_cpu = time.process_time()
    start = time.perf_counter()
    runs = lake.search().iloc[:n_runs]
    tree = analyse(runs, STATS, lake=lake, options=OPTIONS)
    graph = time.perf_counter()
    wall_start = time.time()
    with get_task_stream(client=client) as stream, dask.config.set(scheduler=client.get):
        compute(tree)
    end = time.perf_counter()
    wall_end = time.time()
    client_cpu = time.process_time() - client_cpu
    cpu_after = worker_cpu(client)
    spans = [
        (s["start"], s["stop"], task["worker"])
        for task in stream.data
        for s in task["startstops"]
        if s["action"] == "compute"
    ]
    busy: dict[str, float] = {}
    for a, b, worker in spans:
        busy[worker] = busy.get(worker, 0.0) + b - a
    first = min((a for a, _, _ in spans), default=wall_start)
    last = max((b for _, b, _ in spans), default=wall_end)
    return {
        "wall": end - start,
        "graph": graph - start,
        "dispatch": first - wall_start,
        "tail": wall_end - last,
        "busy": sum(busy.values()),
        "busiest": max(busy.values(), default=0.0),
        "cpu": sum(cpu_after[w][0] - cpu_before[w][0] for w in cpu_after),
        "cpu_max": max(cpu_after[w][0] - cpu_before[w][0] for w in cpu_after),
        "sys": sum(cpu_after[w][1] - cpu_before[w][1] for w in cpu_after),
        "faults": sum(cpu_after[w][2] - cpu_before[w][2] for w in cpu_after) / 1000,
        "client_cpu": client_cpu,
        "tasks": len(spans),
    }


def process_timings(lake, n_runs: int, repeat: int) -> dict[int, list[dict[str, float]]]:
    """The analysis on 1 and on 2 dask.distributed worker processes (1 thread each).

    Both clusters stay up and the timings alternate (the order swapped every round), so
    the load of a shared machine falls on both alike; each warms up first (imports,
    opened stores, worker start-up), as in any session that analyses more than once.
    """
    from distributed import Client, LocalCluster

    times: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    clusters, clients = {}, {}
    try:
        for workers in (1, 2):
            clusters[workers] = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=":0", memory_limit="2GiB",
            )  # fmt: skip
            clients[workers] = Client(clusters[workers], set_as_default=False)
            profiled_analysis(lake, n_runs, clients[workers])
        for i in range(repeat):
            for workers in (1, 2) if i % 2 == 0 else (2, 1):
                times[workers].append(profiled_analysis(lake, n_runs, clients[workers]))
    finally:
        for workers in clients:
            clients[workers].close()
            clusters[workers].close()
    return times


def _serial(t: dict[str, float]) -> float:
    """Seconds of an analysis spent outside the workers' tasks."""
    return t["graph"] + t["dispatch"] + t["tail"]


ROWS = (
    ("search + metadata + graph, here", "graph"),
    ("dispatch: batching, to first task", "dispatch"),
    ("tail: last task to the numbers", "tail"),
    ("task seconds on workers (sum)", "busy"),
    ("task seconds, busiest worker", "busiest"),
    ("worker CPU seconds (sum)", "cpu"),
    ("worker CPU seconds, busiest worker", "cpu_max"),
    ("worker system CPU seconds (sum)", "sys"),
    ("worker page faults (thousands, sum)", "faults"),
    ("CPU seconds of this process", "client_cpu"),
    ("tasks", "tasks"),
)


def _rounds(times: dict[int, list[dict[str, float]]]) -> list[str]:
    """Every round's wall times side by side, then the medians and the best."""
    one, two = times[1], times[2]
    lines = [f"  {'round':>5} {'1 worker (s)':>13} {'2 workers (s)':>14} {'ratio':>7}"]
    for i, (a, b) in enumerate(zip(one, two, strict=True)):
        ratio = f"x{a['wall'] / b['wall']:.2f}"
        lines.append(f"  {i + 1:>5} {a['wall']:>13.2f} {b['wall']:>14.2f} {ratio:>7}")
    w1, w2 = statistics.median(t["wall"] for t in one), statistics.median(t["wall"] for t in two)
    b1, b2 = min(t["wall"] for t in one), min(t["wall"] for t in two)
    lines.append(
        f"  median {w1:.2f} -> {w2:.2f} s = x{w1 / w2:.2f} (parallel efficiency "
        f"{w1 / w2 / 2:.2f}; target x1.8, 0.9); best {b1:.2f} -> {b2:.2f} s = x{b1 / b2:.2f}"
    )
    return lines


def _breakdown(times: dict[int, list[dict[str, float]]]) -> list[str]:
    """Where the time went (medians), and the CPU-time based efficiency.

    Wall time mixes two things on a shared machine: this analysis' own serial parts and
    the time other jobs take the cores away. CPU seconds only count the first: the
    workers' utilisation (CPU seconds over workers x wall) shows how much of the wall
    time they could compute, and the load-free estimates (serial parts + the busiest
    worker's CPU seconds, or the CPU seconds shared evenly) the speed-up this analysis
    has when each process has a core. Under uneven load the scheduler rightly gives the
    less loaded worker more batches, which the first estimate counts as imbalance.
    """
    med = {w: {k: statistics.median(t[k] for t in ts) for k in ts[0]} for w, ts in times.items()}
    lines = [f"  where the time goes (medians) {'1 worker':>12} {'2 workers':>10}"]
    for label, key in ROWS:
        lines.append(f"    {label:<36} {med[1][key]:>8.3f} {med[2][key]:>10.3f}")
    util = [statistics.median(t["cpu"] / (w * t["wall"]) for t in times[w]) for w in (1, 2)]
    lines.append(
        f"  CPU-time based: workers on CPU {util[0]:.0%} (1 worker) and {util[1]:.0%} (2) of "
        "their wall time; load-free estimates (serial parts + workers' CPU seconds):"
    )
    for name, parallel in (("as scheduled (busiest worker)", "cpu_max"), ("evenly shared", "")):
        est = [
            statistics.median(_serial(t) + (t[parallel] if parallel else t["cpu"] / w) for t in ts)
            for w, ts in times.items()
        ]
        lines.append(
            f"    {name:<30} {est[0]:.2f} -> {est[1]:.2f} s = x{est[0] / est[1]:.2f} "
            f"(efficiency {est[0] / est[1] / 2:.2f})"
        )
    serial = [statistics.median(_serial(t) for t in times[w]) for w in (1, 2)]
    lines.append(f"    serial part (median) {serial[0]:.2f} s (1 worker), {serial[1]:.2f} s (2)")
    return lines


def wait_for_load(limit: float | None, patience: float = 900.0) -> None:
    """Wait until the 1-minute load average is below ``limit`` (at most ``patience`` s)."""
    start = time.monotonic()
    while limit is not None and os.getloadavg()[0] >= limit:
        if time.monotonic() - start > patience:
            print(f"  load average still {os.getloadavg()[0]:.1f}: measuring anyway")
            return
        time.sleep(10)


def scaling_report(lake, n_runs: int, repeat: int, wait_load: float | None = None) -> str:
    """1 vs 2 worker processes side by side: every round, the ratio and efficiency by
    wall time, where the time went, and a CPU-time based efficiency that leaves out the
    time the machine's other load took from the workers."""
    wait_for_load(wait_load)
    load_before = os.getloadavg()
    control = free_cores()
    times = process_timings(lake, n_runs, repeat)
    lines = [
        f"1 vs 2 worker processes ({n_runs} runs, {repeat} rounds, order alternated):",
        *_rounds(times),
        *_breakdown(times),
        f"  (machine: {os.cpu_count()} cores, load average {load_before[0]:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after; control: a GIL-free numpy job runs x{control:.2f} "
        "faster on 2 threads than on 1 right now, 2.0 on an idle machine)",
    ]
    return "\n".join(lines)


def scaling_workloads(args: argparse.Namespace, small, n_runs: int) -> str:
    """1 vs 2 worker processes on the default workload, then on the small one.

    The default: ``n_runs`` runs of ``--scaling-tstop`` ms (replicas of
    ``--scaling-real`` real simulations, ``DATA/lake-long``), seconds of work per worker
    as in a user's cross-run analysis. The small one: the benchmark's lake (1 s runs),
    where fixed costs (search, metadata, graph, gathering) weigh most; both printed.
    """
    data = Path(args.data)
    tstop = args.scaling_tstop
    print(f"simulating {args.scaling_real} VA runs of {tstop / 1000:g} s into "
          f"{data / 'source-long'}", flush=True)  # fmt: skip
    real = simulate(data / "source-long", args.scaling_real, tstop)
    long, _ = build_lake(data, real, n_runs, name="-long", pickles=False)
    runs = long.search()
    repeat = max(5, args.repeat)
    allocator = "left alone" if args.untuned_allocator else "tuned"
    return "\n".join(
        [
            f"workers' allocator {allocator}; default workload: {n_runs} runs of "
            f"{tstop / 1000:g} s ({int(runs.n_spikes.sum())} spikes, "
            f"{runs.bytes.sum() / 1e6:.0f} MB of stores)",
            scaling_report(long, n_runs, repeat, args.wait_load),
            "small workload: the benchmark's lake, 1 s runs",
            scaling_report(small, n_runs, repeat, args.wait_load),
        ]
    )


def verification_cost(lake, n_runs: int, repeat: int) -> dict[bool, list[float]]:
    """Times of the lake analysis with and without verified reads.

    Alternated (and the order swapped every round) so that the load of a shared
    machine falls on both alike; each mode warms up first (its opened groups are cached
    per process, as in any session that analyses more than once).
    """
    from opsnn_lake import store

    times: dict[bool, list[float]] = {True: [], False: []}
    try:
        for enabled in (True, False):
            store._set_verification(enabled)
            lake_analysis(lake, n_runs, 2)
        for i in range(repeat):
            for enabled in (True, False) if i % 2 else (False, True):
                store._set_verification(enabled)
                times[enabled].append(lake_analysis(lake, n_runs, 2)[0])
    finally:
        store._set_verification(True)
    return times


def verification_report(lake, n_runs: int, repeat: int) -> str:
    """One line: verified vs unverified reads (see :func:`verification_cost`)."""
    cost = verification_cost(lake, n_runs, repeat)
    on, off = cost[True], cost[False]
    return (
        f"verified reads, {n_runs} runs, {len(on)} alternated timings each: median "
        f"{statistics.median(on):.2f} s vs {statistics.median(off):.2f} s unverified = "
        f"{statistics.median(on) / statistics.median(off):.2f}x; best {min(on):.2f} vs "
        f"{min(off):.2f} s = {min(on) / min(off):.2f}x (target <= 1.1x)"
    )


def check(tree, reference: dict) -> int:
    """Compare every number; return how many were compared."""
    n = 0
    for (run_id, pop), ref in reference.items():
        for stat in STATS:
            sel = {"run": run_id, "segment": "segment000", "population": pop}
            ours = tree[stat].dataset[stat].sel(sel).values
            if stat == "correlation":
                k = ref[stat].shape[0]
                ours = ours[:k, :k]
            np.testing.assert_allclose(
                ours, ref[stat], rtol=1e-9, atol=1e-12, equal_nan=True,
                err_msg=f"{stat} of {run_id}/{pop}",
            )  # fmt: skip
            n += np.size(ours)
    return n


def free_cores() -> float:
    """Control: the speed-up of a GIL-free numpy job from 1 to 2 threads right now, i.e.
    how much of a second core this machine gives (2 on an idle 2-core machine)."""
    import threading

    x = np.random.default_rng(0).random(2_000_000)

    def work() -> None:
        for _ in range(4):
            np.sort(x)

    times = []
    for n in (1, 2):
        threads = [threading.Thread(target=work) for _ in range(n)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        times.append((time.perf_counter() - start) / n)
    return times[0] / times[1]


def lake_timings(lake, n_runs: int, repeat: int, reference: dict) -> tuple[dict, int]:
    """Median lake times for 25, 50, 100 runs on 1 and 2 threads; values checked."""
    timings, compared = {}, 0
    for n in (25, 50, 100):
        if n > n_runs:
            continue
        for workers in (1, 2):
            ts = []
            for _ in range(repeat):
                t, tree, sel = lake_analysis(lake, n, workers)
                ts.append(t)
            timings[(n, workers)] = statistics.median(ts)
            if n == min(100, n_runs) and workers == 2:
                compared = check(
                    tree, {k: v for k, v in reference.items() if k[0] in set(sel.index)}
                )
    return timings, compared


def print_lake_results(
    timings: dict, full: int, classic_full: float, n_classic: int, compared: int
) -> None:
    t_lake = timings[(full, 2)]
    print()
    print(f"{'runs':>5} {'threads':>8} {'lake (s)':>9} {'per run (ms)':>13}")
    for (n, w), t in sorted(timings.items()):
        print(f"{n:>5} {w:>8} {t:>9.2f} {1000 * t / n:>13.1f}")
    print()
    print(f"numbers checked against elephant: {compared} values agree (rtol 1e-9)")
    print(
        f"classic loop: {classic_full:.1f} s for {full} runs"
        + ("" if n_classic == full else f" (measured on {n_classic}, scaled)")
    )
    print(f"lake (dask, 2 threads): {t_lake:.2f} s for {full} runs")
    print(f"ratio: {classic_full / t_lake:.0f}x faster (target >= 100x)")
    if (25, 2) in timings:
        print(f"scaling 25 -> {full} runs: x{timings[(full, 2)] / timings[(25, 2)]:.2f} time "
              f"for x{full / 25:.0f} runs")  # fmt: skip
    print(f"1 -> 2 threads ({full} runs): x{timings[(full, 1)] / timings[(full, 2)]:.2f} "
          f"({timings[(full, 1)]:.2f} -> {timings[(full, 2)]:.2f} s)")  # fmt: skip


def _size(paths) -> int:
    return sum(p.stat().st_size for p in paths)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=str(Path(tempfile.gettempdir()) / "opsnn-lake-analyse-bench")
    )
    parser.add_argument("--real", type=int, default=10, help="real VA simulations")
    parser.add_argument("--runs", type=int, default=100, help="runs in the lake")
    parser.add_argument("--classic-runs", type=int, help="runs for the classic loop (default all)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per lake measurement")
    parser.add_argument(
        "--verification-only", action="store_true", help="only the cost of verified reads"
    )
    parser.add_argument("--scaling-only", action="store_true", help="only 1 vs 2 worker processes")
    parser.add_argument(
        "--scaling-tstop", type=float, default=5000.0,
        help="ms of biological time of the runs of the default scaling workload",
    )  # fmt: skip
    parser.add_argument(
        "--scaling-real", type=int, default=4, help="real simulations of that workload"
    )
    parser.add_argument(
        "--wait-load", type=float,
        help="before each scaling measurement wait (up to 15 min) for a lower load average",
    )  # fmt: skip
    parser.add_argument(
        "--untuned-allocator", action="store_true",
        help="leave glibc's allocator of the workers alone (as before; for comparison)",
    )  # fmt: skip
    parser.add_argument("--fresh", action="store_true", help="delete DATA first")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.untuned_allocator:
        import dask

        from opsnn_lake.analysis.plan import TUNE_KEY

        dask.config.set({TUNE_KEY: False})  # the workers started later inherit it
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    data = Path(args.data)
    if args.fresh:
        shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    print(f"simulating {args.real} VA runs (1000-4000 cells, 1 s) into {data / 'source'}")
    real = simulate(data / "source", args.real)
    print(f"  done in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    lake, files = build_lake(data, real, args.runs)
    runs = lake.search()
    print(
        f"lake: {len(runs)} runs, {int(runs.n_units.sum())} units, {int(runs.n_spikes.sum())} "
        f"spikes, {runs.bytes.sum() / 1e6:.1f} MB of stores (built in "
        f"{time.perf_counter() - t0:.0f} s); pickles {_size(files.values()) / 1e6:.0f} MB"
    )

    import elephant.statistics  # noqa: F401  (both sides pay their imports before timing)
    import scipy.signal  # noqa: F401

    lake_analysis(lake, 10, None)  # warm-up: imports, first zarr open

    full = min(100, args.runs)
    if args.scaling_only:
        print(scaling_workloads(args, lake, full), flush=True)
        return 0
    verification = verification_report(lake, full, max(6, 2 * args.repeat))
    print(verification, flush=True)
    if args.verification_only:
        return 0

    n_classic = args.classic_runs or args.runs
    order = list(runs.index)[:n_classic]
    print(f"classic loop on {n_classic} runs ...", flush=True)
    t_classic, reference = classic([files[r] for r in order])
    per_run = t_classic / n_classic
    print(f"  {t_classic:.1f} s ({per_run:.2f} s per run)")

    timings, compared = lake_timings(lake, args.runs, args.repeat, reference)
    scaling = scaling_workloads(args, lake, full)
    print_lake_results(timings, full, per_run * full, n_classic, compared)
    print(scaling)
    print(verification)
    return 0


if __name__ == "__main__":
    sys.exit(main())
