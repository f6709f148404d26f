"""``opsnn-lake analyse``: statistics across runs, printed and optionally saved.

::

    opsnn-lake analyse --where model=va --where g_inh=40..60 --stat rate --stat cv
    opsnn-lake analyse --stat psd --bin-size 1 --output psd.zarr
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from opsnn_lake.analysis import STATISTICS
from opsnn_lake.cli._stats import add_options, add_selection, selected_runs, stat_options
from opsnn_lake.cluster import CLUSTERS

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``opsnn-lake analyse``."""
    add_selection(parser)
    parser.add_argument(
        "--stat",
        action="append",
        choices=list(STATISTICS),
        metavar="NAME",
        help="statistic to compute, repeatable (default: rate, cv); one of "
        + ", ".join(STATISTICS),
    )
    add_options(parser)
    parser.add_argument(
        "-o", "--output", help="write the results to this .zarr (groups) or .nc file"
    )
    parser.add_argument("--workers", type=int, help="worker processes (default: threads)")
    parser.add_argument("--scheduler", help="address of a dask.distributed scheduler to compute on")
    parser.add_argument(
        "--cluster",
        choices=CLUSTERS,
        help="compute on local worker processes or on SLURM jobs (dask-jobqueue)",
    )
    parser.add_argument(
        "--slurm-config",
        metavar="YAML",
        help="SLURM options for --cluster slurm (partition, jobs, cores, memory, "
        "walltime, modules, env); default: ./slurm.yaml if present",
    )


def _compute(tree: Any, args: argparse.Namespace) -> Any:
    """Compute batched (see :mod:`opsnn_lake.analysis.plan`): on ``--workers N`` worker
    processes, a scheduler or a cluster when asked (reads scale with processes, not
    with threads, which share one GIL), else on threads in this process."""
    import dask

    from opsnn_lake.analysis import compute

    if args.scheduler or args.cluster or args.workers:
        from opsnn_lake.cluster import SlurmOptions, dask_client, load_slurm_options

        config = args.slurm_config or ("slurm.yaml" if Path("slurm.yaml").is_file() else None)
        slurm = load_slurm_options(config) if config else SlurmOptions()
        with dask_client(
            scheduler=args.scheduler, cluster=args.cluster, slurm=slurm, workers=args.workers
        ):
            return compute(tree)
    with dask.config.set(scheduler="threads"):
        return compute(tree)


def run(args: argparse.Namespace) -> int:
    """Compute the statistics of the selected runs; exit code 1 if none is selected."""
    import pandas as pd

    from opsnn_lake.analysis import analyse, save, summary_table

    lake, runs = selected_runs(args)
    if runs.empty:
        print(f"no runs in {lake.path} match {args.where or 'the lake'}; nothing to analyse")
        return 1
    stats = args.stat or ["rate", "cv"]
    start = time.perf_counter()
    tree = analyse(
        runs,
        stats,
        lake=lake,
        options=stat_options(args, stats),
        populations=args.population,
        segments=args.segment,
    )
    tree = _compute(tree, args)
    seconds = time.perf_counter() - start
    table = summary_table(tree)
    with pd.option_context("display.max_rows", 200, "display.width", 200):
        print(table.to_string(float_format=lambda v: f"{v:.4g}"))
    print(f"{len(runs)} runs, {', '.join(dict.fromkeys(stats))} in {seconds:.2f} s")
    if args.output:
        path = save(tree, args.output)
        print(f"wrote {path}")
    return 0
