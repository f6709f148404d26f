"""``opsnn-lake sweep SPEC``: run a parameter sweep from a YAML spec."""

from __future__ import annotations

import argparse

from opsnn_lake.cluster import CLUSTERS
from opsnn_lake.lake import Lake
from opsnn_lake.sweep import format_report, load_spec, plan_sweep, run_sweep

__all__ = ["add_cluster_argument", "configure", "run"]


def add_cluster_argument(parser: argparse.ArgumentParser) -> None:
    """``--cluster local|slurm`` of the commands that run simulations (sweep, explore)."""
    parser.add_argument(
        "--cluster",
        choices=CLUSTERS,
        help="where runs go: local processes (default) or SLURM jobs (dask-jobqueue; "
        "options from the spec's 'slurm' section or slurm.yaml beside it)",
    )


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``opsnn-lake sweep``."""
    parser.add_argument("spec", help="sweep spec YAML file (e.g. simulate/va_sweep.yaml)")
    parser.add_argument("--simulator", help="override the spec's simulator (nest, spinnaker)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="a running dask scheduler")
    add_cluster_argument(parser)
    parser.add_argument(
        "--workers", "--jobs", type=int, help="parallel runs on the local cluster, or SLURM jobs"
    )
    parser.add_argument("--timeout", type=float, help="seconds per run")
    parser.add_argument(
        "--dry-run", action="store_true", help="list the configurations and their run ids only"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``opsnn-lake sweep``; exit code 1 if any run failed."""
    spec = load_spec(args.spec)
    if args.simulator:
        spec = spec.with_simulator(args.simulator)
    lake = Lake(args.lake)
    if args.dry_run:
        for run in plan_sweep(spec, lake):
            state = "in lake" if run.cached else "to run"
            print(f"{run.run_id}  {state:7}  seed={run.seed}  {run.parameters}")
        return 0
    report = run_sweep(
        spec,
        lake,
        scheduler=args.scheduler,
        cluster=args.cluster,
        workers=args.workers,
        timeout=args.timeout,
    )
    print(format_report(report, spec))
    return 1 if report.failed else 0
