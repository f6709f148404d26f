"""Cross-run analysis: the statistics users compute with elephant, lazily over many runs.

One public function per statistic; each takes a set of runs and returns a lazy
xarray object (dask) whose coordinates carry the run id and the run parameters, so
``rate.groupby("g_inh").mean()`` works. Numbers equal elephant's on the ``to_neo``
Blocks of the same runs (the tests check it to 1e-9).

Per unit (dim ``unit``, indexed by run, segment, population, unit_index):
    :func:`firing_rate`, :func:`isi_cv`, :func:`fano_factor`
Per group (dim ``group``, indexed by run, segment, population):
    :func:`population_rate` (× time), :func:`rate_psd` (× frequency),
    :func:`correlation_coefficients` (× unit_i × unit_j)
Per run and population, pooled over segments: :func:`psth` (× time)
Per recorded channel (dim ``channel``): :func:`signal_summary`
Space (dims run × time × y × x): :func:`activity_map`; from it, per run and time window,
    :func:`wave_velocity` and :func:`spatial_correlation` (× distance)

Several at once, reading each store once: :func:`analyse` (an ``xarray.DataTree``);
:func:`compute` computes results with the reads and reductions of a batch of runs in one
task, so an analysis scales with worker processes; :func:`save` writes any result as
zarr or netCDF. Plots: :mod:`opsnn_lake.analysis.plots`.

Runs are given as a ``lake.search(...)`` DataFrame with ``lake=``, a Lake, run ids with
``lake=``, an intake catalog (search result) of the lake, or ``lake.open()`` DataTrees
(see :func:`as_runset`).

Examples
--------
>>> from opsnn_lake import Lake
>>> from opsnn_lake import analysis
>>> lake = Lake("lake")                                           # doctest: +SKIP
>>> runs = lake.search(model="va")                                 # doctest: +SKIP
>>> rate = analysis.firing_rate(runs, lake=lake)                   # doctest: +SKIP
>>> rate.groupby("g_inh").mean().compute()                         # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsnn_lake.analysis.correlation import correlation_coefficients
from opsnn_lake.analysis.plan import compute
from opsnn_lake.analysis.psth import psth
from opsnn_lake.analysis.rates import firing_rate, population_rate
from opsnn_lake.analysis.runset import RunSet, as_runset
from opsnn_lake.analysis.signals import signal_summary
from opsnn_lake.analysis.space import activity_map
from opsnn_lake.analysis.spectra import rate_psd
from opsnn_lake.analysis.variability import fano_factor, isi_cv
from opsnn_lake.analysis.waves import spatial_correlation, wave_velocity
from opsnn_lake.errors import SchemaError

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

    from opsnn_lake.lake import Lake

__all__ = [
    "STATISTICS",
    "RunSet",
    "activity_map",
    "analyse",
    "as_runset",
    "compute",
    "correlation_coefficients",
    "fano_factor",
    "firing_rate",
    "flatten",
    "isi_cv",
    "population_rate",
    "psth",
    "rate_psd",
    "save",
    "signal_summary",
    "spatial_correlation",
    "summary_table",
    "wave_velocity",
]

#: Statistic names (as used by :func:`analyse` and ``opsnn-lake analyse --stat``).
STATISTICS: dict[str, Callable[..., Any]] = {
    "rate": firing_rate,
    "cv": isi_cv,
    "fano": fano_factor,
    "correlation": correlation_coefficients,
    "population_rate": population_rate,
    "psd": rate_psd,
    "psth": psth,
    "signals": signal_summary,
}

PER_UNIT = ("rate", "cv", "fano")


def analyse(
    runs: Any,
    stats: Sequence[str] = ("rate", "cv"),
    *,
    lake: Lake | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    populations: str | Sequence[str] | None = None,
    segments: str | Sequence[str] | None = None,
    compute: bool = False,
) -> xr.DataTree:
    """Several statistics of the same runs, one DataTree node each, sharing their reads.

    Parameters
    ----------
    runs : lake.search() DataFrame, Lake, intake catalog, DataTree(s), run ids, RunSet
        The runs (see :func:`as_runset`).
    stats : sequence of str
        Names from :data:`STATISTICS` (default rate and CV).
    lake : Lake, optional
        The lake of a DataFrame or of run ids.
    options : mapping, optional
        Keyword arguments per statistic, e.g. ``{"fano": {"window": 50.0}}``.
    populations, segments : str or list of str, optional
        Restrict every statistic to these populations or segments.
    compute : bool
        Compute everything in one dask pass (each store read once) and return numbers;
        by default the tree stays lazy.

    Returns
    -------
    xarray.DataTree
        One child per statistic, named as in ``stats``.

    Raises
    ------
    SchemaError
        On an unknown statistic name (the message lists the valid ones) or options for
        a statistic not asked for.
    """
    import xarray as xr

    options = _check_stats(stats, options)
    rs = as_runset(runs, lake)
    results = {}
    for name in dict.fromkeys(stats):
        kwargs = {"populations": populations, "segments": segments, **options.get(name, {})}
        value = STATISTICS[name](rs, **kwargs)
        results[name] = value if isinstance(value, xr.Dataset) else value.to_dataset()
    if compute:  # batched: the reads and reductions of a batch of runs in one task
        from opsnn_lake.analysis.plan import compute as compute_all

        done = compute_all(*results.values())
        results = dict(zip(results, done if len(results) > 1 else [done], strict=True))
    return xr.DataTree.from_dict(results)


def _check_stats(
    stats: Sequence[str], options: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, Mapping[str, Any]]:
    """The options of :func:`analyse` once its statistics' names are checked."""
    unknown = [s for s in stats if s not in STATISTICS]
    if unknown or not stats:
        raise SchemaError(
            f"unknown statistics {unknown or '(none given)'}; choose from {', '.join(STATISTICS)}"
        )
    stray = set(options or {}) - set(stats)
    if stray:
        raise SchemaError(f"options given for {sorted(stray)}, which are not in stats {stats}")
    return dict(options or {})


def _plain(ds: xr.Dataset) -> xr.Dataset:
    """A Dataset file formats accept: no MultiIndex, strings instead of Python objects."""
    import numpy as np

    ds = ds.reset_index([d for d in ds.dims if d in ds.indexes and _is_multi(ds, d)])
    fixed = {}
    for name, var in ds.variables.items():
        if var.dtype == object:
            values = np.asarray(var.values)
            numeric = all(v is None or isinstance(v, int | float | bool) for v in values.flat)
            if numeric:
                fixed[name] = var.copy(
                    data=np.array(
                        [np.nan if v is None else v for v in values.flat], dtype=float
                    ).reshape(values.shape)
                )
            else:
                text = np.empty(values.size, dtype=object)  # variable-length strings
                text[:] = ["" if v is None else str(v) for v in values.flat]
                fixed[name] = var.copy(data=text.reshape(values.shape))
        elif not var.values.flags.writeable:  # broadcast constant parameters
            fixed[name] = var.copy(data=np.array(var.values))
    return ds.assign_coords({k: v for k, v in fixed.items() if k in ds.coords}).assign(
        {k: v for k, v in fixed.items() if k in ds.data_vars}
    )


def _is_multi(ds: xr.Dataset, dim: Any) -> bool:
    import pandas as pd

    return isinstance(ds.indexes[dim], pd.MultiIndex)


def flatten(tree: xr.DataTree) -> xr.Dataset:
    """One Dataset from an :func:`analyse` tree, for formats without groups (netCDF3).

    Per-unit statistics share the ``unit`` dim; every other statistic's dims and
    coordinates are prefixed with its name (``psd_group``, ``psd_frequency``…).
    """
    import xarray as xr

    parts = []
    for name, node in tree.children.items():
        ds = _plain(node.to_dataset())
        if "unit" not in ds.dims:
            renames = {d: f"{name}_{d}" for d in ds.dims}
            renames.update({c: f"{name}_{c}" for c in ds.coords if c not in ds.dims})
            ds = ds.rename(renames)
        parts.append(ds)
    return xr.merge(parts, compat="no_conflicts", join="outer", combine_attrs="drop")


def save(result: Any, path: str | Path) -> Path:
    """Write an analysis result (DataArray, Dataset or :func:`analyse` tree) to a file.

    ``.zarr`` keeps a tree's groups; ``.nc`` writes one flat Dataset (see
    :func:`flatten`) with the netCDF engine available. MultiIndexes become plain
    coordinates (rebuild them with ``set_index``). Dask values are computed here.

    Raises
    ------
    SchemaError
        If the suffix is neither ``.zarr`` nor ``.nc``.
    """
    import xarray as xr

    path = Path(path)
    if path.suffix not in (".zarr", ".nc"):
        raise SchemaError(f"{path}: unknown output format; use a .zarr or .nc file name")
    if isinstance(result, xr.DataArray):
        result = result.to_dataset()
    if isinstance(result, xr.DataTree):
        if path.suffix == ".nc":
            _plain(flatten(result)).to_netcdf(path)
        else:
            tree = xr.DataTree.from_dict(
                {name: _plain(node.to_dataset()) for name, node in result.children.items()}
            )
            tree.to_zarr(path, mode="w", consolidated=True)
        return path
    plain = _plain(result)
    if path.suffix == ".nc":
        plain.to_netcdf(path)
    else:
        plain.to_zarr(path, mode="w", consolidated=True)
    return path


def summary_table(tree: xr.DataTree) -> pd.DataFrame:
    """One row per run, segment and population summarising an :func:`analyse` tree.

    Per-unit statistics and signal summaries are averaged over units (NaN skipped),
    correlations over the off-diagonal pairs, rates and PSTHs over time; the PSD gives
    its peak frequency above 0 Hz. The parameters that differ between the runs come
    first. A PSTH (pooled over segments) is repeated on each segment of its run.
    """
    import pandas as pd

    keyed: list[pd.Series] = []  # indexed by (run, segment, population)
    pooled: list[pd.Series] = []  # indexed by (run, population): PSTHs
    params: dict[str, pd.Series] = {}
    units: dict[str, str] = {}  # of the parameters (a model's UNITS), for the headers
    for name, node in tree.children.items():
        ds = node.to_dataset().compute()
        units.update(
            {str(k): str(c.attrs["units"]) for k, c in ds.coords.items() if "units" in c.attrs}
        )
        for var_name, var in ds.data_vars.items():
            series, coords = _summarise(name, var_name, var, ds.attrs.get("signal"))
            (keyed if "segment" in series.index.names else pooled).append(series)
            for coord, values in coords.items():
                params.setdefault(coord, values)
    if not keyed and not pooled:
        return pd.DataFrame()
    if keyed:
        table = pd.concat(keyed, axis=1)
        for series in pooled:
            table = table.join(series, on=["run", "population"])
    else:
        table = pd.concat(pooled, axis=1)
    table = table.sort_index()
    runs = table.index.get_level_values("run")
    varying = {k: v for k, v in params.items() if v.astype(str).nunique() > 1}
    for i, (k, v) in enumerate(varying.items()):
        table.insert(i, f"{k} ({units[k]})" if k in units else k, v.reindex(runs).to_numpy())
    from opsnn_lake.display import drop_seed_aliases

    return drop_seed_aliases(table)  # one seed column, not seed, p.seed and rng_seed


def _summarise(
    name: str, var_name: Any, var: xr.DataArray, signal: str | None
) -> tuple[pd.Series, dict[str, pd.Series]]:
    """One statistic reduced per (run[, segment], population), and its run coordinates."""
    import numpy as np
    import pandas as pd

    dim = next(d for d in var.dims if d in ("unit", "group", "channel"))
    levels = [lv for lv in ("run", "segment", "population") if lv in var.coords]
    if name == "psd":
        positive = var.sel(frequency=var.frequency > 0)
        peak = positive.fillna(-np.inf).argmax("frequency").values
        reduced = positive.frequency.values[peak]
        label = "psd peak (Hz)"
    else:
        values = var.where(var.unit_i != var.unit_j) if "unit_i" in var.dims else var
        others = [d for d in values.dims if d != dim]
        with np.errstate(all="ignore"):
            reduced = (values.mean(others) if others else values).values
        units = var.attrs.get("units")
        base = str(var_name) if name != "signals" else f"{signal} {var_name}"
        label = f"{base} ({units})" if units and units != "1" else base
    frame = pd.DataFrame({lv: np.asarray(var[lv].values) for lv in levels})
    frame[label] = np.asarray(reduced, dtype=float)
    series = frame.groupby(levels, sort=False)[label].mean()
    index_levels = set(var.indexes[dim].names) if dim in var.indexes else set()
    runs = np.asarray(var["run"].values)
    coords = {
        str(coord): pd.Series(np.asarray(values.values), index=runs).groupby(level=0).first()
        for coord, values in var.coords.items()
        if values.dims == (dim,)
        and coord != dim
        and coord not in index_levels
        and coord not in ("channel_id",)
    }
    return series, coords
