"""Benchmark: open the lake catalog and search it, against a classic one-entry-per-run YAML.

Run from the repository root::

    python benchmarks/catalog.py                     # 10,000 and 100,000 runs
    python benchmarks/catalog.py --sizes 10000 --reindex-stores 200   # quicker

What it measures, each side by side in this one run:

1. Lake indexes of 10,000 and 100,000 runs with 8 parameters. To build them in seconds
   the rows go straight into the SQLite index through ``RunIndex.insert`` (the same
   rows ``Lake.add`` writes); 20 real stores are written with ``Lake.add`` and the
   rows point at them in turn, so every catalog entry opens real data.
2. In a fresh Python process, after ``import intake, jinja2, opsnn_lake.catalog``:
   ``intake.open_catalog(yaml)["lake"]``, a search on two parameters and its ``len``.
   The median of several fresh processes is reported; "cold" adds the imports that
   the first open triggers (intake's jinja2 for ``{{ CATALOG_DIR }}``, and the driver
   package: opsnn_lake, neo, pandas), which a notebook pays once.
3. The classic alternative: an intake v1 YAML with one entry per run (10,000
   entries, each with its 8 parameters as metadata), opened in a fresh process with
   intake's v1 loader, then the same search done over the entries' metadata.
4. ``Lake.reindex`` of 1,000 real stores (written with ``Lake.add`` of small Blocks).

Targets (issue 3): open + search ≤ 0.1 s at 10,000 runs and ≤ 0.5 s at 100,000;
(issue 13) a notebook's first open + search, ``import intake`` included, ≤ 0.5 s at 10,000.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import neo
import numpy as np
import quantities as pq
import yaml

from opsnn_lake import Lake
from opsnn_lake.index import row_from_attrs

PARAMS = ("g_exc", "g_inh", "rate", "tau_m", "delay", "p_conn", "n_exc", "stim.speed")
REAL_STORES = 20
SEARCH = {"g_inh": (40.0, 60.0), "rate": [5.0, 10.0]}

LAKE_CHILD = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    import intake
    if sys.argv[2] == "warm":  # the imports a first open would do, before the clock starts
        import jinja2  # intake renders "{{ CATALOG_DIR }}" with it
        import opsnn_lake.catalog
    t1 = time.perf_counter()
    cat = intake.open_catalog(sys.argv[1])["lake"]
    t2 = time.perf_counter()
    sub = cat.search(g_inh=(40.0, 60.0), rate=[5.0, 10.0])
    n = len(sub)
    t3 = time.perf_counter()
    print(json.dumps({"imports": t1 - t0, "open": t2 - t1, "search": t3 - t2,
                      "total": t3 - t1, "first": t3 - t0, "n": n, "runs": len(cat)}))
    """
)

CLASSIC_CHILD = textwrap.dedent(
    """
    import json, sys, time
    import intake
    t1 = time.perf_counter()
    cat = intake.open_catalog(sys.argv[1])
    n_entries = len(list(cat))
    t2 = time.perf_counter()
    hits = [
        name for name, entry in cat._entries.items()
        if 40.0 <= entry.describe()["metadata"]["g_inh"] <= 60.0
        and entry.describe()["metadata"]["rate"] in (5.0, 10.0)
    ]
    t3 = time.perf_counter()
    print(json.dumps({"open": t2 - t1, "search": t3 - t2, "total": t3 - t1,
                      "n": len(hits), "runs": n_entries}))
    """
)


def small_block(i: int) -> neo.Block:
    """A small Block (two spike trains) standing in for a run."""
    rng = np.random.default_rng(i)
    block = neo.Block(name=f"b{i}")
    seg = neo.Segment(name="seg")
    block.segments.append(seg)
    for n in (5 + i % 11, 12):
        times = np.sort(rng.uniform(0.0, 100.0, n))
        seg.spiketrains.append(neo.SpikeTrain(times * pq.ms, t_stop=100 * pq.ms))
    return block


def parameters(i: int, rng: np.random.Generator) -> dict:
    """8 parameters (one nested) on grids, as a sweep would make them."""
    return {
        "g_exc": float(rng.choice([2.0, 4.0, 6.0, 8.0])),
        "g_inh": float(rng.integers(20, 81)),
        "rate": float(rng.choice([1.0, 2.0, 5.0, 10.0, 20.0])),
        "tau_m": float(rng.choice([10.0, 20.0, 30.0])),
        "delay": float(rng.choice([0.1, 0.5, 1.0, 2.0])),
        "p_conn": float(rng.choice([0.01, 0.02, 0.05])),
        "n_exc": int(rng.choice([400, 800, 1600, 3200])),
        "stim": {"speed": float(rng.integers(1, 50))},
    }


def build_lake(path: Path, n_runs: int) -> tuple[Lake, list[dict]]:
    """A lake of ``n_runs`` index rows, pointing in turn at REAL_STORES real stores."""
    lake = Lake(path)
    rng = np.random.default_rng(n_runs)
    real = []
    for i in range(REAL_STORES):
        run_id = lake.add(small_block(i), model="va", parameters=parameters(i, rng), seed=i)
        real.append(lake.index.get(run_id))
    rows, table = [], []
    t0 = time.perf_counter()
    for i in range(REAL_STORES, n_runs):
        params = parameters(i, rng)
        template = real[i % REAL_STORES]
        attrs = {
            "run_id": f"va-{i:020x}",
            "kind": "simulation",
            "provenance": {
                "model": "va",
                "seed": i,
                "simulator": "nest",
                "simulator_version": "3.10",
                "parameters": params,
                "inputs": [],
                "created": template["created"],
            },
            "summary": {"n_units": 2, "n_spikes": template["n_spikes"], "duration": 100.0},
        }
        rows.append(row_from_attrs(attrs, path=template["path"], nbytes=template["bytes"]))
        table.append({"run_id": attrs["run_id"], "path": template["path"], **params})
    lake.index.insert(rows)
    print(f"  index of {n_runs:,} runs built in {time.perf_counter() - t0:.1f} s")
    table += [
        {"run_id": r["run_id"], "path": r["path"], **lake.provenance(r["run_id"]).parameters}
        for r in real
    ]
    return lake, table


def write_classic_yaml(path: Path, lake: Lake, table: list[dict]) -> None:
    """One v1 entry per run, its parameters as metadata (what the lake YAML avoids)."""
    rel = Path("..") / lake.path.name
    sources = {}
    for row in table:
        meta = {k: v for k, v in row.items() if k not in ("run_id", "path", "stim")}
        meta["stim.speed"] = row["stim"]["speed"]
        sources[row["run_id"]] = {
            "driver": "opsnn_lake_run",
            "description": f"run {row['run_id']}",
            "metadata": meta,
            "args": {"path": "{{ CATALOG_DIR }}" + (rel / row["path"]).as_posix()},
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"metadata": {"note": "one entry per run"}, "sources": sources}))


def fresh(code: str, *args: str, repeat: int) -> list[dict]:
    """Run ``code`` in ``repeat`` fresh processes; their JSON results."""
    out = []
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
        )
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--classic", type=int, default=10_000, help="entries in the classic YAML")
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per measurement")
    parser.add_argument("--reindex-stores", type=int, default=1_000)
    parser.add_argument("--workdir", type=Path, help="keep the lakes here (default: a temp dir)")
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="opsnn-catalog-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work dir {work}; python {sys.version.split()[0]}; {args.repeat} fresh processes each")
    results = {}
    try:
        for n in args.sizes:
            print(f"lake of {n:,} runs:")
            lake, table = build_lake(work / f"lake_{n}", n)
            yaml_path = lake.write_catalog(work / "catalogs" / f"lake_{n}.yaml")
            expected = len(lake.search(**SEARCH))
            lake.index.close()
            warm = fresh(LAKE_CHILD, str(yaml_path), "warm", repeat=args.repeat)
            cold = fresh(LAKE_CHILD, str(yaml_path), "cold", repeat=args.repeat)
            assert all(r["n"] == expected and r["runs"] == n for r in warm + cold)
            results[n] = {
                "open": median(warm, "open"),
                "search": median(warm, "search"),
                "total": median(warm, "total"),
                "cold": median(cold, "total"),
                "first": median(cold, "first"),
                "hits": expected,
            }
            if n == args.classic:
                classic_path = work / "catalogs" / f"classic_{n}.yaml"
                write_classic_yaml(classic_path, lake, table)
                # one process is enough: it takes seconds
                classic = fresh(CLASSIC_CHILD, str(classic_path), repeat=1)[0]
                assert classic["n"] == expected and classic["runs"] == n
                results["classic"] = classic

        print()
        print("fresh process, after `import intake, jinja2, opsnn_lake.catalog` (median):")
        print(
            f"{'runs':>9} {'open+[lake]':>12} {'search+len':>11} {'total':>8} "
            f"{'cold*':>7} {'first**':>8} {'hits':>6} target"
        )
        for n in args.sizes:
            r = results[n]
            target = 0.1 if n <= 10_000 else 0.5
            verdict = "ok" if r["total"] <= target else "MISSED"
            print(
                f"{n:>9,} {r['open']:>11.4f}s {r['search']:>10.4f}s {r['total']:>7.4f}s "
                f"{r['cold']:>6.3f}s {r['first']:>7.3f}s {r['hits']:>6} <= {target} s: {verdict}"
            )
        print("  * cold: with the imports the first open triggers (jinja2, opsnn_lake, neo...)")
        print(
            "  ** first: a notebook's first cell, imports included (`import intake` + open "
            "+ search + len in a fresh process); target <= 0.5 s at 10,000 runs (issue 13): "
            + ", ".join(
                f"{n:,}: {'ok' if results[n]['first'] <= 0.5 else 'MISSED'}" for n in args.sizes
            )
        )
        if "classic" in results:
            c = results["classic"]
            print(
                f"classic YAML, {c['runs']:,} entries (intake v1 loader): open "
                f"{c['open']:.2f} s, metadata search {c['search']:.2f} s, "
                f"total {c['total']:.2f} s"
            )
            for n in args.sizes:
                print(
                    f"  ratio classic {c['runs']:,} / lake {n:,}: "
                    f"{c['total'] / results[n]['total']:,.0f}x (open+search), "
                    f"{c['open'] / results[n]['open']:,.0f}x (open alone)"
                )

        if args.reindex_stores:
            print()
            lake = Lake(work / "lake_reindex")
            t0 = time.perf_counter()
            for i in range(args.reindex_stores):
                lake.add(small_block(i), model="va", parameters={"i": i}, seed=i)
            t_add = time.perf_counter() - t0
            before = lake.search()
            t0 = time.perf_counter()
            n = lake.reindex()
            t_reindex = time.perf_counter() - t0
            assert n == args.reindex_stores
            assert lake.search().sort_index(axis=1).equals(before.sort_index(axis=1))
            print(
                f"reindex of {n:,} real stores: {t_reindex:.2f} s "
                f"({n / t_reindex:,.0f} stores/s); writing them with Lake.add took "
                f"{t_add:.1f} s (ratio {t_add / t_reindex:.1f}x)"
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
