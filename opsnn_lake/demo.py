"""``opsnn-lake demo``: a small real NEST sweep into the lake, summarised.

Runs the sweep ``simulate/demo_sweep.yaml`` (or the copy shipped in
:mod:`opsnn_lake.models`: the Vogels-Abbott network across
inhibitory strengths and two seeds; runs already in the lake are skipped), writes the
intake catalog (``catalogs/lake.yaml``), prints each run's mean firing rate per
population and saves a plot of rate against the swept parameter.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from opsnn_lake.lake import Lake
from opsnn_lake.models import bundled_file
from opsnn_lake.schema import SpikeLayout

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["demo_spec_path", "population_rates", "rate_figure", "rate_plot"]


def demo_spec_path() -> Path:
    """``simulate/demo_sweep.yaml`` of the current folder, else the one shipped in the package.

    The shipped spec names the model ``va``, found like any model name
    (:mod:`opsnn_lake.models`): a ``simulate/va.py`` of the current folder wins over the
    bundled copy.
    """
    local = Path.cwd() / "simulate" / "demo_sweep.yaml"
    return local if local.is_file() else bundled_file("specs/demo_sweep.yaml")


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
            layout = SpikeLayout.from_dict(group.attrs.get("spiketrains") or {}, where=group.path)
            duration_s = ((layout.t_stop or 0.0) - (layout.t_start or 0.0)) / 1000.0
            if "spike_count" not in group.ds or duration_s <= 0:
                continue
            counts = group.ds["spike_count"].values
            label = group.attrs.get("label", group.name)
            row[f"rate_{label}"] = float(counts.sum()) / (counts.size * duration_s)
        rows.append(row)
    rates = pd.DataFrame(rows).set_index("run_id")
    index = lake.search(run_id=run_ids) if run_ids else pd.DataFrame()
    return index.join(rates, how="right")


def rate_plot(rates: pd.DataFrame, x: str, path: str | Path, *, unit: str | None = None) -> Path:
    """Save a PNG of each population's rate against parameter ``x`` (one point a run).

    ``unit`` is ``x``'s unit (the model's ``UNITS``), shown on the axis.
    """
    fig = rate_figure(rates, x, unit=unit)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def rate_figure(rates: pd.DataFrame, x: str, *, unit: str | None = None) -> Figure:
    """The figure :func:`rate_plot` saves."""
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
    ax.set_xlabel(f"{x} ({unit})" if unit else x)
    ax.set_ylabel("firing rate (Hz)")
    ax.set_title(f"{len(rates)} runs")
    ax.legend(fontsize="small")
    return fig
