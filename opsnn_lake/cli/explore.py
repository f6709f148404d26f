"""``opsnn-lake explore SPEC``: let the lake's analyses choose the next parameters."""

from __future__ import annotations

import argparse
from pathlib import Path

from opsnn_lake.cli.sweep import add_cluster_argument
from opsnn_lake.explorer import STRATEGIES, explore, load_spec

__all__ = ["configure", "run"]

#: Options that replace the spec's keys of the same name.
SPEC_OVERRIDES = ("budget", "workers", "strategy", "seed", "timeout")


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``opsnn-lake explore``."""
    parser.add_argument("spec", help="explore spec YAML file (e.g. simulate/va_explore.yaml)")
    parser.add_argument("--budget", type=int, help="override the spec's budget (trials)")
    parser.add_argument("--workers", type=int, help="override the spec's workers")
    parser.add_argument("--strategy", choices=STRATEGIES, help="override the spec's strategy")
    parser.add_argument("--seed", type=int, help="override the spec's sampler seed")
    parser.add_argument("--timeout", type=float, help="seconds per run")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="a running dask scheduler")
    add_cluster_argument(parser)
    parser.add_argument("--jobs", type=int, help="SLURM jobs (default: the SLURM options')")
    parser.add_argument(
        "--plot", metavar="DIR", help="write progress.png and plane.png of the study here"
    )
    parser.add_argument("--statistic", default="rate", help="colour of the plane plot")


def run(args: argparse.Namespace) -> int:
    """Run ``opsnn-lake explore``; exit code 1 if a simulation failed (crash, timeout)."""
    overrides = {key: getattr(args, key) for key in SPEC_OVERRIDES}
    spec = load_spec(args.spec, **overrides)
    result = explore(
        spec,
        lake=args.lake,
        progress=True,
        scheduler=args.scheduler,
        cluster=args.cluster,
        jobs=args.jobs,
    )
    table = result.trials
    if not table.empty:
        cols = [c for c in table.columns if c not in ("error",)]
        print(table[cols].to_string(float_format=lambda v: f"{v:.3g}"))
    done = sum(1 for r in result.records if r["state"] == "complete")
    print(
        f"study {result.study}: {len(result.records)} trials ({done} complete), "
        f"{result.simulated} simulated now; best {result.best_params}"
    )
    hits = result.sims_to_target()
    print(f"target ({spec.objective.describe()}): " + (
        f"reached after {hits} simulations" if hits is not None else "not reached"))  # fmt: skip
    if args.plot:
        out = Path(args.plot)
        out.mkdir(parents=True, exist_ok=True)
        result.plot_progress(out / "progress.png")
        result.plot_plane(statistic=args.statistic, path=out / "plane.png")
        print(f"plots: {out / 'progress.png'}, {out / 'plane.png'}")
    return 1 if result.failed_runs else 0
