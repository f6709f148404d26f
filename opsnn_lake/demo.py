"""``opsnn-lake demo``: a small real NEST sweep into the lake, summarised.

Runs the sweep ``simulate/demo_sweep.yaml`` (the Vogels-Abbott network across
inhibitory strengths and two seeds; runs already in the lake are skipped), writes the
intake catalog (``catalogs/lake.yaml``), prints each run's mean firing rate per
population and saves a plot of rate against the swept parameter.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from opsnn_lake.errors import SchemaError
from opsnn_lake.lake import Lake
from opsnn_lake.sweep import SweepSpec, format_report, load_spec, run_sweep

__all__ = ["configure", "demo_spec_path", "population_rates", "rate_plot", "run"]

_REPO = Path(__file__).resolve().parents[1]


def demo_spec_path() -> Path:
    """``simulate/demo_sweep.yaml`` of the current folder, else of the source tree."""
    for base in (Path.cwd(), _REPO):
        path = base / "simulate" / "demo_sweep.yaml"
        if path.is_file():
            return path
    raise SchemaError(
        "demo: no simulate/demo_sweep.yaml here or in the source tree; run the demo from "
        "a clone of the repository or pass --spec"
    )


def population_rates(lake: Lake, run_ids: list[str]) -> pd.DataFrame:
    """Mean firing rate (Hz) of every population of every run, one row per run.

    Rates come from the stores' ``spike_count`` arrays (spikes per cell over the
    recording's ``t_start``..``t_stop``), first segment; parameters from the index.
    """
    rows = []
    for run_id in run_ids:
        tree = lake.open(run_id)
        segment = next(iter(tree.children.values()))
        row: dict[str, Any] = {"run_id": run_id}
        for group in segment.children.values():
            meta = group.attrs.get("spiketrains") or {}
            duration_s = (meta.get("t_stop", 0.0) - meta.get("t_start", 0.0)) / 1000.0
            if "spike_count" not in group.ds or duration_s <= 0:
                continue
            counts = group.ds["spike_count"].values
            label = group.attrs.get("label", group.name)
            row[f"rate_{label}"] = float(counts.sum()) / (counts.size * duration_s)
        rows.append(row)
    rates = pd.DataFrame(rows).set_index("run_id")
    index = lake.search(run_id=run_ids) if run_ids else pd.DataFrame()
    return index.join(rates, how="right")


def rate_plot(rates: pd.DataFrame, x: str, path: str | Path) -> Path:
    """Save a PNG of each population's rate against parameter ``x`` (one point a run)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5), layout="constrained")
    FigureCanvasAgg(fig)  # draws without a display, and without touching pyplot's state
    ax = fig.add_subplot()
    for column in [c for c in rates.columns if c.startswith("rate_")]:
        label = column[len("rate_") :]
        ax.scatter(rates[x], rates[column], s=18, label=f"{label} (runs)")
        mean = rates.groupby(x)[column].mean()
        ax.plot(mean.index, mean.values, alpha=0.7, label=f"{label} (mean over seeds)")
    ax.set_xlabel(x)
    ax.set_ylabel("firing rate (Hz)")
    ax.set_title(f"{len(rates)} runs")
    ax.legend(fontsize="small")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    """Options of ``opsnn-lake demo``."""
    parser.add_argument("--spec", help="sweep spec (default: simulate/demo_sweep.yaml)")
    parser.add_argument("--workers", type=int, help="parallel runs (default: the spec's)")
    parser.add_argument("--catalog", default="catalogs/lake.yaml", help="catalog YAML to write")
    parser.add_argument(
        "--plot", default="lake_demo_rates.png", help="PNG of rate against the swept parameter"
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo sweep, write the catalog, print rates, save the plot."""
    spec: SweepSpec = load_spec(args.spec or demo_spec_path())
    lake = Lake(args.lake)
    print(f"demo: {spec.path} into {lake.path}")
    report = run_sweep(spec, lake, workers=args.workers)
    print(format_report(report, spec))
    catalog = lake.write_catalog(args.catalog)
    print(f"catalog: {catalog}  (intake.open_catalog({str(args.catalog)!r})['lake'])")
    ids = [r["run_id"] for r in report.results if r["status"] != "failed"]
    if not ids:
        return 1
    rates = population_rates(lake, ids)
    x = next(iter(spec.grid), None) or "seed"
    columns = [c for c in [x, "seed"] if c in rates.columns]
    columns += [c for c in rates.columns if c.startswith("rate_")]
    with pd.option_context("display.width", 200, "display.precision", 2):
        print(rates[columns].sort_values(columns[:2]).to_string())
    png = rate_plot(rates, x, args.plot)
    print(f"plot: {png}")
    return 1 if report.failed else 0
