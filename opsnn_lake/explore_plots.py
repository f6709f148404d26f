"""Pictures of an explore study: progress, and the parameter plane with the target region.

:func:`plot_progress` shows the objective of each trial against its number and the
best so far (failures as crosses on the top edge); :func:`plot_plane` shows two searched
parameters coloured by a statistic: a map of every matching run in the lake behind (a
regime map, when a grid was swept), the trials in their order on top, and the target
region outlined. Both return the Figure and write a PNG when given a path.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from opsnn_lake.explorer import ExploreResult

__all__ = ["STATISTIC_LABELS", "plane_frame", "plot_plane", "plot_progress", "regime_map"]

STATISTIC_LABELS = {
    "rate": "mean rate (Hz)",
    "cv": "mean ISI CV",
    "synchrony": "mean correlation",
    "psd_peak": "PSD peak (Hz)",
    "objective": "objective",
}


def _figure(**kwargs: Any) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    # A bare Figure (no pyplot): no GUI backend, no global state, safe in threads.
    fig = Figure(**kwargs)
    return fig, fig.add_subplot()


def _save(fig: Figure, path: str | os.PathLike[str] | None) -> Figure:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    return fig


def plot_progress(result: ExploreResult, path: str | os.PathLike[str] | None = None) -> Figure:
    """Objective against trial number, with the best so far.

    Parameters
    ----------
    result : ExploreResult
        From :func:`opsnn_lake.explore`.
    path : path-like, optional
        Write a PNG here.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import numpy as np

    trials = result.trials
    fig, ax = _figure(figsize=(7, 4.2), layout="constrained")
    if trials.empty:
        ax.text(0.5, 0.5, "no trials yet", ha="center", transform=ax.transAxes)
        return _save(fig, path)
    number = trials.index.to_numpy()
    value = trials["objective"].to_numpy(dtype=float)
    ok = ~np.isnan(value)
    warm = (trials["status"] == "warm").to_numpy()
    best = np.fmin.accumulate(np.where(ok, value, np.inf))
    best[np.isinf(best)] = np.nan
    ax.scatter(number[ok & ~warm], value[ok & ~warm], s=18, color="C0", label="trial")
    if warm.any():
        ax.scatter(number[ok & warm], value[ok & warm], s=18, color="0.6", label="warm start")
    ax.step(number, best, where="post", color="C3", lw=2, label="best so far")
    hits = trials["in_target"].to_numpy(dtype=bool)
    if hits.any():
        ax.scatter(number[hits], value[hits], marker="*", s=120, color="gold",
                   edgecolor="k", zorder=3, label="in target")  # fmt: skip
    top = np.nanmax(value) if ok.any() else 1.0
    if (~ok).any():
        ax.scatter(number[~ok], np.full((~ok).sum(), top), marker="x", color="k",
                   label="failed / silent (NaN)")  # fmt: skip
    # The objective is 0 in the target: a symlog axis shows both the approach and the 0.
    ax.set_yscale("symlog", linthresh=0.1)
    from matplotlib.ticker import FuncFormatter, MaxNLocator, SymmetricalLogLocator

    # Label 1-2-5 steps, not decades only, and keep the 0 (the target) in view.
    ax.yaxis.set_major_locator(SymmetricalLogLocator(linthresh=0.1, base=10, subs=[1, 2, 5]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylim(bottom=0.0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trial numbers
    ax.set_xlabel("trial")
    ax.set_ylabel("objective (0 = in target)")
    hit = result.sims_to_target()
    reached = f"target after {hit} simulations" if hit is not None else "target not reached"
    ax.set_title(f"{result.study} ({result.spec.strategy}): {reached}", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plane_frame(result: ExploreResult, statistic: str = "rate") -> pd.DataFrame:
    """Every run in the lake matching the study's model and fixed parameters, with its
    searched parameters, ``statistic`` and whether it is in the target.

    Runs a sweep put in the lake count, so the plane shows the regime map around the
    trials; their statistics are computed (and cached) here.
    """
    import pandas as pd

    from opsnn_lake.explorer import trial_statistics

    spec, lake = result.spec, result.lake
    names = list(spec.space)
    from opsnn_lake.errors import SchemaError
    from opsnn_lake.simulators.runner import load_model

    model = load_model(spec.model, search=spec.search)
    try:
        rows = lake.search(model=model.name, simulator=spec.simulator)
    except SchemaError:  # no run of this model in the lake: no background
        rows = None
    frame = pd.DataFrame(columns=[*names, statistic, "in_target"])
    if rows is None or rows.empty or not set(names) <= set(rows.columns):
        return frame
    # Matching runs only: same fixed parameters as the study.
    for key, value in spec.parameters.items():
        if key in rows.columns:
            rows = rows[rows[key] == value]
    stats = trial_statistics(lake, list(rows.index), spec.objective)
    out = []
    for run_id, row in rows.iterrows():
        s = stats[str(run_id)]
        objective, _, in_target = spec.objective.evaluate(s)
        value = objective if statistic == "objective" else s.get(statistic, math.nan)
        out.append({**{n: row[n] for n in names}, statistic: value, "in_target": in_target})
    return pd.DataFrame(out) if out else frame


def regime_map(frame: pd.DataFrame, x: str, y: str, statistic: str, ax: Any, fig: Any) -> None:
    """Draw ``statistic`` over the (x, y) plane from scattered or gridded runs."""
    import numpy as np

    values = frame[statistic].to_numpy(dtype=float)
    pivot = frame.pivot_table(index=y, columns=x, values=statistic, aggfunc="mean")
    if pivot.size >= 4 and pivot.notna().to_numpy().mean() > 0.9:
        # a swept grid: one cell per run
        image = ax.pcolormesh(pivot.columns, pivot.index, pivot.to_numpy(), shading="nearest",
                              cmap="viridis")  # fmt: skip
    else:
        image = ax.scatter(frame[x], frame[y], c=values, s=60, cmap="viridis", alpha=0.6)
    fig.colorbar(image, ax=ax, label=STATISTIC_LABELS.get(statistic, statistic))
    target = frame.pivot_table(index=y, columns=x, values="in_target", aggfunc="mean")
    if target.size >= 4 and target.to_numpy().max() > 0:
        ax.contour(target.columns, target.index, np.nan_to_num(target.to_numpy()), levels=[0.5],
                   colors="w", linewidths=2)  # fmt: skip


def _plane_axes(result: ExploreResult, x: str | None, y: str | None) -> tuple[str, str]:
    """The searched parameters on the axes (default: the first two of the space)."""
    from opsnn_lake.errors import SchemaError

    names = list(result.spec.space)
    if len(names) < 2 and (x is None or y is None):
        raise SchemaError(f"plot_plane: the study searches {names}; a plane needs two")
    x = x or names[0]
    y = y or next(n for n in names if n != x)
    for axis in (x, y):
        if axis not in names:
            raise SchemaError(f"plot_plane: {axis!r} is not searched; choose from {names}")
    return x, y


def _plot_trials(result: ExploreResult, x: str, y: str, ax: Any) -> None:
    """The trials in order, failed ones marked, and the best."""
    trials = result.trials
    if trials.empty:
        return
    ok = trials["state"] == "complete"
    ax.plot(trials[x], trials[y], color="k", lw=0.5, alpha=0.5)
    ax.scatter(trials.loc[ok, x], trials.loc[ok, y], c=trials.index[ok], cmap="Reds",
               edgecolor="k", s=30, zorder=3, label="trials (dark = late)")  # fmt: skip
    if (~ok).any():
        ax.scatter(trials.loc[~ok, x], trials.loc[~ok, y], marker="x", color="m", s=40,
                   zorder=3, label="failed / silent")  # fmt: skip
    if result.best_params:
        ax.scatter([result.best_params[x]], [result.best_params[y]], marker="*", s=250,
                   color="gold", edgecolor="k", zorder=4, label="best")  # fmt: skip


def plot_plane(
    result: ExploreResult,
    *,
    x: str | None = None,
    y: str | None = None,
    statistic: str = "rate",
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """The (x, y) plane coloured by a statistic, with the trials and the target region.

    Parameters
    ----------
    result : ExploreResult
        From :func:`opsnn_lake.explore`.
    x, y : str, optional
        Searched parameters on the axes (default: the first two of the space).
    statistic : str
        ``rate``, ``cv``, ``synchrony``, ``psd_peak`` (if the objective has them) or
        ``objective``.
    path : path-like, optional
        Write a PNG here.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    SchemaError
        If x or y is not a searched parameter, or the space has fewer than two.
    """
    x, y = _plane_axes(result, x, y)
    fig, ax = _figure(figsize=(7, 5.5), layout="constrained")
    frame = plane_frame(result, statistic)
    if not frame.empty:
        regime_map(frame, x, y, statistic, ax, fig)
        hits = frame[frame["in_target"].astype(bool)]
        if not hits.empty:  # no run in the target: nothing to outline or list
            ax.scatter(hits[x], hits[y], marker="s", s=150, facecolor="none", edgecolor="k",
                       linewidth=1.5, zorder=2.5, label="target region")  # fmt: skip
    _plot_trials(result, x, y, ax)
    if result.spec.space[x].log:
        ax.set_xscale("log")
    if result.spec.space[y].log:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"target: {result.spec.objective.describe()}", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)
