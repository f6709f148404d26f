"""``opsnn-lake demo``: a small real NEST sweep into the lake, summarised.

The work is :mod:`opsnn_lake.demo` and :mod:`opsnn_lake.sweep`; this prints it.
"""

from __future__ import annotations

import argparse

import pandas as pd

from opsnn_lake.demo import demo_spec_path, population_rates, rate_plot
from opsnn_lake.lake import Lake
from opsnn_lake.sweep import format_report, load_spec, run_sweep

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``opsnn-lake demo``."""
    parser.add_argument(
        "--spec", help="sweep spec (default: simulate/demo_sweep.yaml, else the bundled one)"
    )
    parser.add_argument("--workers", type=int, help="parallel runs (default: the spec's)")
    parser.add_argument("--catalog", default="catalogs/lake.yaml", help="catalog YAML to write")
    parser.add_argument(
        "--plot", default="lake_demo_rates.png", help="PNG of rate against the swept parameter"
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo sweep, write the catalog, print rates, save the plot."""
    spec = load_spec(args.spec or demo_spec_path())
    lake = Lake(args.lake)
    print(f"demo: {spec.path} into {lake.location}")
    report = run_sweep(spec, lake, workers=args.workers)
    print(format_report(report, spec))
    catalog = lake.write_catalog(args.catalog)
    print(f"catalog: {catalog}  (intake.open_catalog({str(args.catalog)!r})['lake'])")
    ids = [r.run_id for r in report.results if not r.failed]
    if not ids:
        return 1
    rates = population_rates(lake, ids)
    x = next(iter(spec.grid), None) or "seed"
    columns = [c for c in [x, "seed"] if c in rates.columns]
    columns += [c for c in rates.columns if c.startswith("rate_")]
    with pd.option_context("display.width", 200, "display.precision", 2):
        print(rates[columns].sort_values(columns[:2]).to_string())
    from opsnn_lake.display import units_of_runs

    unit = units_of_runs(lake.path, lake.search(run_id=ids)).get(x)
    png = rate_plot(rates, x, args.plot, unit=unit)
    print(f"plot: {png}")
    return 1 if report.failed else 0
