"""Figures people look at: a raster of one run, and a statistic against parameters.

Both functions return a :class:`matplotlib.figure.Figure` built without pyplot (so no
GUI backend and no global state: safe in scripts, tests and dask workers) and write a
PNG when given ``path``.

* :func:`raster` — every spike of one run, one row per unit, populations stacked and
  coloured, with each population's rate underneath.
* :func:`plot_statistic` — a statistic (any result of :mod:`opsnn_lake.analysis`)
  averaged per run, then across runs with equal parameters: lines against one
  parameter (optionally one line per value of a second, ``hue``), or a heat map over
  two (``y``). Error bars are the standard error of the mean across runs, and the
  figure says so, with the number of runs behind each point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import pandas as pd

from opsnn_lake.analysis.binning import as_ms
from opsnn_lake.analysis.groups import GroupInfo
from opsnn_lake.analysis.plan import load_spikes
from opsnn_lake.analysis.reading import Spikes
from opsnn_lake.analysis.runset import RunSet, as_runset
from opsnn_lake.errors import SchemaError

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

    from opsnn_lake.lake import Lake

__all__ = ["plot_statistic", "raster"]

# Colour-blind-safe qualitative palette (Okabe & Ito), then matplotlib's tab10.
Colour = str | tuple[float, float, float, float]  # a hex string or matplotlib's RGBA

PALETTE = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
INDEX_DIMS = ("unit", "group", "channel")
CURVE_DIMS = ("frequency", "time")  # statistics drawn as curves, one per parameter value


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=fig.dpi)
    return fig


def _colour(i: int) -> Colour:
    if i < len(PALETTE):
        return PALETTE[i]
    from matplotlib import colormaps

    return colormaps["tab10"](i % 10)


def raster(
    run: Any,
    *,
    lake: Lake | None = None,
    segment: str | None = None,
    populations: str | Sequence[str] | None = None,
    t_start: Any = None,
    t_stop: Any = None,
    bin_size: Any = 5.0,
    path: str | Path | None = None,
    title: str | None = None,
) -> Figure:
    """Raster plot of one run: spikes by unit and time, one colour per population.

    Parameters
    ----------
    run : str, DataTree, catalog entry or one-run RunSet
        The run (a run id needs ``lake``).
    lake : Lake, optional
        The lake of a run id.
    segment : str, optional
        The segment to show (default the first).
    populations : str or list of str, optional
        Populations to show (default all with spikes), stacked bottom to top.
    t_start, t_stop : float or Quantity, optional
        Time range shown (ms); default the whole segment.
    bin_size : float
        Bin of the population rates drawn under the raster (ms), default 5 ms.
    path : path-like, optional
        Write the figure there as PNG.
    title : str, optional
        Figure title (default the run id and its parameters).

    Returns
    -------
    matplotlib.figure.Figure
        With two axes: the raster (one ``PathCollection`` per population, its
        offsets the spikes) and the rates.

    Raises
    ------
    SchemaError
        If ``run`` is not exactly one run, or the segment or a population is unknown.
    """
    rs: RunSet = as_runset(run, lake)
    segment, groups = _raster_groups(rs, segment, populations)
    lo, hi = _time_range(groups, as_ms(t_start, "t_start"), as_ms(t_stop, "t_stop"))
    fig = _raster_figure(groups, lo, hi, as_ms(bin_size, "bin_size") or 5.0)
    fig.suptitle(title or _run_title(rs, rs.run_ids[0], segment), fontsize=11)
    return _save(fig, path)


def _raster_figure(groups: Sequence[GroupInfo], lo: float, hi: float, bin_ms: float) -> Figure:
    """The raster over the rates, populations stacked in the order of ``groups``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 6.5), dpi=110, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3.2, 1))
    # Marker height: about one row, never below a pixel-ish line nor above 6 points.
    size = float(np.clip(72 * 4.6 / max(1, sum(g.n_units for g in groups)), 0.8, 6.0))
    # Bins cover [lo, hi] completely; a last, shorter bin keeps the end of the range
    # drawn (--t-stop 400 with 7 ms bins still shows 399-400 ms).
    edges = np.arange(lo, hi, bin_ms)
    edges = np.append(edges, hi) if edges.size else np.array([lo, hi])
    offset = 0
    for i, g in enumerate(groups):
        _draw_population((top, bottom), i, g, load_spikes(g), offset, edges, size)
        offset += g.n_units
    top.set_ylim(-0.5, max(offset, 1) - 0.5)
    top.set_xlim(lo, hi)
    top.set_ylabel("unit")
    for ax in (top, bottom):
        ax.spines[["top", "right"]].set_visible(False)
    bottom.set_xlabel("time (ms)")
    bottom.set_ylabel(f"rate (Hz)\n{bin_ms:g} ms bins")
    return fig


def _raster_groups(
    rs: RunSet, segment: str | None, populations: str | Sequence[str] | None
) -> tuple[str, list[GroupInfo]]:
    """The segment shown (default the first) and its groups with spikes.

    Raises
    ------
    SchemaError
        If ``rs`` is not one run, has no spikes, or has no such segment.
    """
    if len(rs) != 1:
        raise SchemaError(f"raster: expected one run, got {len(rs)}; pass a single run id")
    groups = rs.select(populations=populations)
    segments = list(dict.fromkeys(g.segment for g in groups))
    if not segments:
        raise SchemaError(f"raster: run {rs.run_ids[0]!r} has no spike trains to plot")
    segment = segment or segments[0]
    if segment not in segments:
        raise SchemaError(f"raster: no segment {segment!r}; segments: {', '.join(segments)}")
    return segment, [g for g in groups if g.segment == segment]


def _time_range(
    groups: Sequence[GroupInfo], lo: float | None, hi: float | None
) -> tuple[float, float]:
    """The range shown (ms): as given, else from the first start to the last stop."""
    if lo is None:
        lo = min(float(np.min(g.train_bounds()[0])) * g.ms for g in groups)
    if hi is None:
        hi = max(float(np.max(g.train_bounds()[1])) * g.ms for g in groups)
    return lo, hi


def _draw_population(
    axes: tuple[Any, Any],
    i: int,
    g: GroupInfo,
    spikes: Spikes,
    offset: int,
    edges: np.ndarray,
    size: float,
) -> None:
    """One population's spikes (rows from ``offset``) and its rate underneath."""
    top, bottom = axes
    colour = _colour(i)
    times, units = spikes.times * g.ms, spikes.unit_of_spike
    keep = (times >= edges[0]) & (times <= edges[-1])
    top.scatter(times[keep], units[keep] + offset, s=size**2, marker="|",
                linewidths=max(0.5, size / 4), color=colour, rasterized=True,
                label=f"{g.population} ({g.n_units})")  # fmt: skip
    if i:
        top.axhline(offset - 0.5, color="0.75", lw=0.6)
    top.text(1.005, offset + g.n_units / 2, g.population, transform=top.get_yaxis_transform(),
             va="center", ha="left", color=colour, fontsize=9)  # fmt: skip
    counts, _ = np.histogram(times[keep], bins=edges)
    rate = counts / max(1, g.n_units) / (np.diff(edges) / 1000.0)
    # step needs the last value repeated at the final edge to draw the last bin
    bottom.step(edges, np.append(rate, rate[-1:]), where="post", color=colour, lw=1.0)


def _run_title(rs: RunSet, run_id: str, segment: str) -> str:
    row = rs.table.loc[run_id]
    units = rs.parameter_units()
    params = [
        f"{k}={_short(row[k])}" + (f" {units[k]}" if k in units else "")
        for k in rs.parameter_names()
        if k not in ("simulator", "seed", "model") and pd.notna(row[k])
    ]
    model = row.get("model")
    head = f"{model} · {run_id}" if isinstance(model, str) else run_id
    text = ", ".join(params[:6]) + (" …" if len(params) > 6 else "")
    return f"{head} · {segment}" + (f"\n{text}" if text else "")


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def per_run(stat: xr.DataArray, *, by_population: bool = False) -> pd.DataFrame:
    """A statistic averaged within each run: one row per run with its coordinates.

    Values are averaged over everything but the run (units, groups, frequencies…),
    NaN skipped; for correlation matrices the diagonal is left out. With
    ``by_population`` one row per run and population (a ``population`` column).
    """
    import xarray as xr

    if not isinstance(stat, xr.DataArray):
        raise SchemaError(
            f"plot_statistic: expected a DataArray (e.g. analysis.firing_rate(...)), "
            f"got {type(stat).__name__}"
        )
    stat = stat.compute()
    index_dim = next((d for d in stat.dims if d in INDEX_DIMS), None)
    if index_dim is None or "run" not in stat.coords:
        raise SchemaError(
            f"plot_statistic: {stat.name!r} has no run coordinate (dims {stat.dims}); pass "
            "a result of opsnn_lake.analysis, before reducing over runs"
        )
    values = stat
    if "unit_i" in stat.dims and "unit_j" in stat.dims:
        values = stat.where(stat.unit_i != stat.unit_j)
    others = [d for d in values.dims if d != index_dim]
    with np.errstate(all="ignore"):
        flat = values.mean(others, skipna=True) if others else values
    frame = pd.DataFrame({"value": np.asarray(flat.values, dtype=float)})
    skip = {index_dim, "segment", "channel_id", f"{index_dim}_index"}
    if not by_population:
        skip.add("population")
    for name, coord in stat.coords.items():
        if coord.dims == (index_dim,) and name not in skip:
            frame[name] = np.asarray(coord.values)
    keys = ["run", "population"] if by_population and "population" in frame else ["run"]
    out = frame.groupby(keys, sort=False).agg(
        {"value": "mean", **{c: "first" for c in frame.columns if c not in ["value", *keys]}}
    )
    return out.reset_index(level="population") if len(keys) > 1 else out


def plot_statistic(
    stat: xr.DataArray,
    x: str,
    *,
    hue: str | None = None,
    y: str | None = None,
    path: str | Path | None = None,
    title: str | None = None,
    logy: bool | None = None,
    units: Mapping[str, str] | None = None,
) -> Figure:
    """A statistic against one parameter (lines) or two (heat map), across runs.

    Each run is first averaged over its units (or groups…); runs with the same parameter
    values are then averaged, with the standard error across runs as error bars. A
    statistic over frequency or time (PSD, population rate, PSTH) is drawn as one curve
    per value of ``x`` instead (SEM as a band), unless ``y`` asks for a heat map.

    Parameters
    ----------
    stat : xarray.DataArray
        A result of :mod:`opsnn_lake.analysis` (lazy or computed), e.g.
        ``firing_rate(runs)`` or ``psd.sel(frequency=slice(20, 80))``.
    x : str
        Parameter on the x axis (a coordinate of ``stat``, e.g. ``"g_inh"``).
    hue : str, optional
        Second parameter: one line per value; ``"population"`` draws one line per
        population instead of pooling them.
    y : str, optional
        Second parameter for a heat map over (``x``, ``y``) instead of lines.
    path : path-like, optional
        Write the figure there as PNG.
    title : str, optional
        Figure title (default from the statistic's name).
    logy : bool, optional
        Logarithmic value axis (lines and curves; default: for a PSD only).
    units : mapping, optional
        Parameter units for the axis labels (``{"g_inh": "nS"}``); default the
        coordinates' ``units`` attributes (:func:`opsnn_lake.display.units_of_runs`).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    SchemaError
        If ``x``, ``hue`` or ``y`` is not a coordinate of ``stat``, both ``hue`` and
        ``y`` are given, or ``hue`` is given for a statistic drawn as curves.
    """
    if hue is not None and y is not None:
        raise SchemaError("plot_statistic: give hue= (lines) or y= (heat map), not both")
    frame = per_run(stat, by_population="population" in (x, hue, y))
    x, hue, y = (_parameter(stat, frame, name) for name in (x, hue, y))
    label, value_label = _value_labels(stat)
    units = {**_coord_units(stat), **(units or {})}
    fig = _draw_statistic(stat, frame, (x, hue, y), value_label, units, logy)
    fig.suptitle(title or _statistic_title(stat, label, frame), fontsize=11)
    return _save(fig, path)


def _parameter(stat: xr.DataArray, frame: pd.DataFrame, name: str | None) -> Any:
    """The column of ``frame`` holding parameter ``name`` (see :func:`_coord_for`).

    Raises
    ------
    SchemaError
        If the runs have no such parameter (the message lists those they have).
    """
    column = _coord_for(stat, name)
    if column is not None and column not in frame.columns:
        known = [c for c in frame.columns if c != "value"]
        raise SchemaError(
            f"plot_statistic: {column!r} is not a parameter of these runs; known: {known}"
        )
    return column


def _statistic_title(stat: xr.DataArray, label: str, frame: pd.DataFrame) -> str:
    """The statistic, its populations and the number of runs."""
    n_runs = frame.index.nunique()  # rows are (run, population) with hue="population"
    pops = ""
    if "population" in stat.coords:
        names = list(dict.fromkeys(np.atleast_1d(np.asarray(stat["population"].values))))
        pops = f" · {', '.join(map(str, names[:4]))}" + (" …" if len(names) > 4 else "")
    return f"{label}{pops} · {n_runs} runs"


def _value_labels(stat: xr.DataArray) -> tuple[str, str]:
    """The statistic's name for the title, and its axis label with units."""
    label = str(stat.attrs.get("long_name", stat.name))
    if "unit_i" in stat.dims:
        label = f"mean pairwise {label}"
        detail = [f"{stat.sizes['unit_i']} units per population"]
        if "bin_size_ms" in stat.attrs:
            detail.insert(0, f"{float(stat.attrs['bin_size_ms']):g} ms bins")
        label = f"{label}\n({', '.join(detail)})"  # two lines: one would overflow the figure
    stat_units = str(stat.attrs.get("units", "")).replace("**2", "²")
    return label, f"{label} ({stat_units})" if stat_units and stat_units != "1" else label


def _draw_statistic(
    stat: xr.DataArray,
    frame: pd.DataFrame,
    axes: tuple[str, str | None, str | None],
    value_label: str,
    units: Mapping[str, str],
    logy: bool | None,
) -> Figure:
    """Curves (a statistic over frequency or time), lines or a heat map."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5), dpi=110, layout="constrained")
    ax = fig.subplots()
    x, hue, y = axes
    curve = next((d for d in stat.dims if d in CURVE_DIMS), None)
    if curve is not None and y is None:
        if hue is not None:
            raise SchemaError(
                f"plot_statistic: {stat.name!r} is drawn as one curve over {curve} per value "
                f"of {x!r}; hue= is not supported for it (select runs first)"
            )
        _curves(fig, ax, stat, x, curve, value_label, units)
        if logy or (logy is None and stat.name == "psd"):
            ax.set_yscale("log")
        return fig
    if curve is not None:
        value_label = f"{value_label}, mean over {curve}"
    if y is None:
        _lines(ax, frame, x, hue, value_label, units)
        if logy:
            ax.set_yscale("log")
    else:
        _heatmap(fig, ax, frame, x, y, value_label, units)
    return fig


@overload
def _coord_for(stat: xr.DataArray, name: str) -> str: ...
@overload
def _coord_for(stat: xr.DataArray, name: None) -> None: ...
@overload
def _coord_for(stat: xr.DataArray, name: str | None) -> str | None: ...
def _coord_for(stat: xr.DataArray, name: str | None) -> str | None:
    # A parameter named like a statistic is the coordinate ``param_<name>`` (see
    # analysis.runs.RESERVED); accept its plain name too.
    if name is None or name in stat.coords or f"param_{name}" not in stat.coords:
        return name
    return f"param_{name}"


def _coord_units(stat: xr.DataArray) -> dict[str, str]:
    return {str(k): str(c.attrs["units"]) for k, c in stat.coords.items() if "units" in c.attrs}


def _axis_label(name: str, units: Mapping[str, str]) -> str:
    bare = name[len("param_") :] if name.startswith("param_") else name
    unit = units.get(name) or units.get(bare)
    return f"{bare} ({unit})" if unit else bare


def _error_note(ax: Any, counts: Sequence[int], *, band: bool = False) -> None:
    """Say what the error bars are and how many runs each point averages."""
    n = sorted({int(c) for c in counts})
    if not n:
        return
    n_text = f"n = {n[0]}" if len(n) == 1 else f"n = {n[0]}–{n[-1]}"
    what = "band" if band else "error bars"
    note = f"mean ± SEM across runs ({what}); {n_text} runs per point"
    if n[-1] < 2:
        note = f"one run per point ({n_text}): no {'error band' if band else what}"
    ax.annotate(note, xy=(0, 0), xycoords="axes fraction", xytext=(0, -34),
                textcoords="offset points", fontsize=8, color="0.35", va="top")  # fmt: skip


def _curves(
    fig: Any,
    ax: Any,
    stat: xr.DataArray,
    x: str,
    curve: str,
    label: str,
    units: Mapping[str, str] | None = None,
) -> None:
    """One curve (mean over runs, SEM band) per value of parameter ``x``."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    stat = stat.compute()
    index_dim = next(d for d in stat.dims if d in INDEX_DIMS)
    others = [d for d in stat.dims if d not in (index_dim, curve)]
    with np.errstate(all="ignore"):
        values = stat.mean(others) if others else stat
    values = values.transpose(index_dim, curve)
    rows = pd.DataFrame(np.asarray(values.values, dtype=float))
    rows["run"] = np.asarray(stat["run"].values)
    rows["x"] = np.asarray(stat[x].values)
    per_run = rows.groupby("run").agg({**{c: "mean" for c in rows.columns[:-2]}, "x": "first"})
    _error_note(ax, per_run.groupby("x").size().tolist(), band=True)
    keys = sorted(per_run["x"].dropna().unique())
    numeric = all(isinstance(k, int | float | np.number) for k in keys)
    cmap = colormaps["viridis"]
    norm = Normalize(min(keys), max(keys)) if numeric and len(keys) > 1 else None
    axis = np.asarray(stat[curve].values)
    for i, key in enumerate(keys):
        part = per_run[per_run["x"] == key].drop(columns="x").to_numpy(dtype=float)
        with np.errstate(all="ignore"):
            mean = np.nanmean(part, axis=0)
            sem = np.nanstd(part, axis=0, ddof=1) / np.sqrt(len(part)) if len(part) > 1 else None
        shade = norm(key) if norm is not None else i / max(1, len(keys) - 1)
        colour = cmap(0.05 + 0.7 * shade)
        ax.plot(axis, mean, color=colour, lw=1.4, label=_short(key))
        if sem is not None:
            ax.fill_between(axis, mean - sem, mean + sem, color=colour, alpha=0.2, lw=0)
    if norm is not None and len(keys) > 6:
        bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax)
        bar.set_label(_axis_label(x, units or {}))
    else:
        ax.legend(title=_axis_label(x, units or {}), frameon=False, fontsize=9,
                  title_fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # fmt: skip
    curve_units = stat[curve].attrs.get("units", "")
    ax.set_xlabel(f"{curve} ({curve_units})" if curve_units else curve)
    ax.set_ylabel(label)
    ax.set_xlim(axis.min(), axis.max()) if axis.size else None
    ax.grid(alpha=0.3, lw=0.6)
    ax.spines[["top", "right"]].set_visible(False)


def _sem(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0


def _lines(
    ax: Any,
    frame: pd.DataFrame,
    x: str,
    hue: str | None,
    label: str,
    units: Mapping[str, str] | None = None,
) -> None:
    from matplotlib import colormaps

    keys = [None] if hue is None else sorted(frame[hue].dropna().unique())
    cmap = colormaps["viridis"]
    counts: list[int] = []
    for i, key in enumerate(keys):
        part = frame if key is None else frame[frame[hue] == key]
        stats = part.groupby(x)["value"].agg(["mean", _sem, "count"]).sort_index()
        counts += stats["count"].tolist()
        colour: Colour
        if key is None:
            colour = PALETTE[0]
        elif hue == "population":  # categories: the raster's colours, not a gradient
            colour = _colour(i)
        else:
            colour = cmap(0.05 + 0.7 * i / max(1, len(keys) - 1))
        ax.errorbar(
            stats.index.to_numpy(),
            stats["mean"].to_numpy(),
            yerr=stats["_sem"].to_numpy(),
            marker="o",
            ms=5,
            lw=1.6,
            capsize=3,
            color=colour,
            label=None if key is None else f"{_short(key)}",
        )
    _error_note(ax, counts)
    if hue is not None:
        ax.legend(
            title=_axis_label(hue, units or {}),
            frameon=False,
            fontsize=9,
            title_fontsize=9,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
        )
    ax.set_xlabel(_axis_label(x, units or {}))
    ax.set_ylabel(label)
    ax.grid(alpha=0.3, lw=0.6)
    ax.spines[["top", "right"]].set_visible(False)


def _heatmap(
    fig: Any,
    ax: Any,
    frame: pd.DataFrame,
    x: str,
    y: str,
    label: str,
    units: Mapping[str, str] | None = None,
) -> None:
    grid = frame.groupby([y, x])["value"].mean().unstack(x).sort_index()
    grid = grid[sorted(grid.columns)]
    data = grid.to_numpy(dtype=float)
    mesh = ax.imshow(data, origin="lower", aspect="auto", cmap="magma", interpolation="nearest")
    ax.set_xticks(range(len(grid.columns)), [_short(v) for v in grid.columns])
    ax.set_yticks(range(len(grid.index)), [_short(v) for v in grid.index])
    ax.set_xlabel(_axis_label(x, units or {}))
    ax.set_ylabel(_axis_label(y, units or {}))
    bar = fig.colorbar(mesh, ax=ax)
    bar.set_label(label)
    if data.size <= 144:  # numbers in the cells while they stay readable
        finite = data[np.isfinite(data)]
        mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for (i, j), value in np.ndenumerate(data):
            if np.isfinite(value):
                ax.text(
                    j,
                    i,
                    f"{value:.3g}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="black" if value > mid else "white",
                )
