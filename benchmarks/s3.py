"""Benchmark: the same lake on local disk and on S3 (a moto server on 127.0.0.1), side by side.

Run from the repository root::

    python benchmarks/s3.py                 # 100 written runs, search at 10,000
    python benchmarks/s3.py --runs 2000 --writes 30     # quicker

What it measures, local | S3 | ratio S3/local:

1. Write (fast path, ``Lake.add_nodes`` of a real NEST run's nodes), seconds per run.
2. ``search`` at ``--runs`` runs (target ≤ 0.5 s at 10,000). The index rows go straight in
   (local: ``RunIndex.insert``; S3: one commit record each, put concurrently); also the
   time to open the lake (S3: from the records alone, then from the compacted snapshot).
3. ``to_dataset`` of one group and a rate + CV analysis of the written runs.
4. Throughput of 4 concurrent writer processes (runs/s).

The moto server is started here and stopped at the end; its speed (a Python server on
this machine) bounds the S3 column, which a real S3 endpoint would change in both
directions (more latency, far more concurrency).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from s3_clients import start_moto  # benchmarks/ is on sys.path when run as a script

from opsnn_lake import Lake
from opsnn_lake import analysis as an
from opsnn_lake.neo_convert import block_to_nodes
from opsnn_lake.provenance import Provenance
from opsnn_lake.storage import objects
from opsnn_lake.storage.layout import ObjectLayout
from opsnn_lake.testing import nest_network_block

WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np, neo, quantities as pq
    from opsnn_lake import Lake
    lake = Lake(sys.argv[1])
    first, count = int(sys.argv[2]), int(sys.argv[3])
    for i in range(first, first + count):
        rng = np.random.default_rng(i)
        seg = neo.Segment()
        for unit in range(40):
            t = np.sort(rng.uniform(0, 1000, 50))
            st = neo.SpikeTrain(t * pq.ms, t_stop=1000 * pq.ms)
            st.annotate(source_population="exc", source_index=unit, channel_id=unit)
            seg.spiketrains.append(st)
        b = neo.Block(); b.segments.append(seg)
        lake.add(b, model="bench", parameters={"i": i}, seed=i)
    """
)


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def write_runs(lake: Lake, nodes: Any, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        lake.add_nodes(nodes, Provenance(model="bench", parameters={"g": float(i)}, seed=i))
    return (time.perf_counter() - t0) / n


def fill_local_index(lake: Lake, template: dict[str, Any], n: int) -> None:
    rows = []
    for i in range(n):
        row = {**template, "run_id": f"fake-{i:06d}", "p.g": float(i % 97), "p.k": i % 10}
        rows.append(row)
    lake.index.insert(rows)


def fill_records(lake: Any, template: dict[str, Any], n: int) -> None:
    layout = ObjectLayout(lake.root)
    files = {}
    for i in range(n):
        run_id = f"fake-{i:06d}"
        attempt = layout.new_attempt(run_id)
        row = {**template, "run_id": run_id, "p.g": float(i % 97), "p.k": i % 10}
        row["path"] = attempt.key[len(lake.root.key) :].strip("/")
        files[ObjectLayout.record_key(run_id)] = layout.record(run_id, attempt, row, "0" * 64)
    objects.put_many(lake.root, files)


def writers(url: str, n_each: int) -> float:
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, url, str(10_000 * w), str(n_each)])
        for w in range(4)
    ]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit("a writer failed")
    return 4 * n_each / (time.perf_counter() - t0)


def analyse(lake: Lake, folder: Path) -> tuple[float, float]:
    frame = lake.search(model="bench")
    folder.mkdir(parents=True, exist_ok=True)
    cat = lake.write_catalog(folder / "lake.yaml")
    import intake

    entry = intake.open_catalog(str(cat))["lake"].search(model="bench")
    t_ds, _ = timed(lambda: entry.to_dataset("segment000/exc").spike_count.sum().compute())
    t_an, _ = timed(
        lambda: (an.firing_rate(frame, lake=lake).compute(), an.isi_cv(frame, lake=lake).compute())
    )
    return t_ds, t_an


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the searched index")
    parser.add_argument("--writes", type=int, default=100, help="real runs written per lake")
    parser.add_argument("--writer-runs", type=int, default=25, help="runs per concurrent writer")
    args = parser.parse_args()
    server, endpoint = start_moto()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_ENDPOINT_URL=endpoint,
        AWS_ALLOW_HTTP="true", AWS_REGION="us-east-1",
    )  # fmt: skip
    try:
        import boto3

        results = run(args, boto3.client("s3", endpoint_url=endpoint))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"\n{'':46s} {'local':>10s} {'S3 (moto)':>10s} {'S3/local':>9s}")
    for name, (local, remote, unit) in results.items():
        print(f"{name:46s} {local:10.4f} {remote:10.4f} {remote / local:9.2f}  {unit}")


def run(args: argparse.Namespace, s3: Any) -> dict[str, tuple[float, float, str]]:
    # Everything local goes into one folder, removed at the end (several 100 MB).
    with tempfile.TemporaryDirectory(prefix="opsnn-s3-bench-") as folder:
        return _run(args, s3, Path(folder))


def _run(args: argparse.Namespace, s3: Any, tmp: Path) -> dict[str, tuple[float, float, str]]:
    results: dict[str, tuple[float, float, str]] = {}
    buckets = [f"bench-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    local, remote = Lake(tmp / "lake"), Lake(f"s3://{buckets[0]}/lake")
    nodes = block_to_nodes(nest_network_block(segments=1), where="bench")
    print(f"writing {args.writes} runs into each lake …", flush=True)
    results["write, fast path (s/run)"] = (
        write_runs(local, nodes, args.writes),
        write_runs(remote, nodes, args.writes),
        "s",
    )
    print("analysing them …", flush=True)
    (ds_l, an_l), (ds_r, an_r) = analyse(local, tmp / "cat-local"), analyse(remote, tmp / "cat-s3")
    results[f"to_dataset of {args.writes} runs (s)"] = (ds_l, ds_r, "s")
    results[f"rate + CV of {args.writes} runs (s)"] = (an_l, an_r, "s")
    template = dict(local.index.rows().__next__())
    print(f"indexing {args.runs} runs …", flush=True)
    big_local, big_remote = Lake(tmp / "big"), Lake(f"s3://{buckets[1]}/lake")
    fill_local_index(big_local, template, args.runs)
    fill_records(big_remote, template, args.runs)
    t_open_l, view_l = timed(lambda: Lake(tmp / "big", mode="r"))
    t_open_r, _ = timed(lambda: Lake(f"s3://{buckets[1]}/lake", mode="r"))
    Lake(f"s3://{buckets[1]}/lake").sync()  # compact into the snapshot
    t_snap_r, view_r = timed(lambda: Lake(f"s3://{buckets[1]}/lake", mode="r"))
    results[f"open, {args.runs} runs, records only (s)"] = (t_open_l, t_open_r, "s")
    results[f"open, {args.runs} runs, snapshot (s)"] = (t_open_l, t_snap_r, "s")
    criteria = {"g": (10.0, 40.0), "k": [1, 2, 3]}
    t_l, found_l = timed(lambda: view_l.search(**criteria), repeat=5)
    t_r, found_r = timed(lambda: view_r.search(**criteria), repeat=5)
    assert len(found_l) == len(found_r)
    results[f"search at {args.runs} runs (s, target 0.5)"] = (t_l, t_r, "s")
    print("4 concurrent writers …", flush=True)
    results["4 writers, throughput (runs/s)"] = (
        writers(str(tmp / "conc"), args.writer_runs),
        writers(f"s3://{buckets[2]}/lake", args.writer_runs),
        "runs/s",
    )
    print(json.dumps({k: v[:2] for k, v in results.items()}))
    return results


if __name__ == "__main__":
    main()
