"""Firing rates: per unit (:func:`firing_rate`) and per population over time
(:func:`population_rate`).

Conventions (those of :func:`elephant.statistics.mean_firing_rate` and
:func:`elephant.statistics.time_histogram`):

* the rate of a unit is its number of spikes in ``[t_start, t_stop]`` (both ends
  included) divided by ``t_stop - t_start``; by default the window is the train's own
  ``t_start``/``t_stop``. A silent unit has rate 0; there is no NaN.
* the population rate is the number of spikes of the population in each bin divided by
  the number of units (silent ones included) and the bin width; bins follow elephant's
  binning (see :mod:`opsnn_lake.analysis.binning`).

Rates are in Hz whatever the time unit of the spike trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from opsnn_lake.analysis.binning import (
    check_bin_size,
    histogram_tasks,
    hz_factor,
    normalise_histogram,
    time_axis,
    time_coord,
)
from opsnn_lake.analysis.groups import GroupInfo
from opsnn_lake.analysis.plan import Plan
from opsnn_lake.analysis.reading import Spikes
from opsnn_lake.analysis.selection import Selection, describe, select, unit_slice

if TYPE_CHECKING:
    import xarray as xr

    from opsnn_lake.lake import Lake

__all__ = ["firing_rate", "population_rate"]

RATE_ATTRS = describe("mean firing rate", "Hz", "elephant.statistics.mean_firing_rate")
POPULATION_RATE_ATTRS = describe(
    "population rate", "Hz", 'elephant.statistics.time_histogram(output="rate")'
)


def rate_block(spikes: Spikes, t_start: Any, t_stop: Any, windowed: bool, hz: float) -> np.ndarray:
    """Rates (Hz) of a block of units (one task)."""
    if windowed:  # count only the spikes inside the window, as elephant does then
        start = t_start[spikes.unit_of_spike] if isinstance(t_start, np.ndarray) else t_start
        stop = t_stop[spikes.unit_of_spike] if isinstance(t_stop, np.ndarray) else t_stop
        inside = (spikes.times >= start) & (spikes.times <= stop)
        counts = np.bincount(spikes.unit_of_spike[inside], minlength=spikes.n_units)
    else:
        counts = spikes.counts
    return counts / (t_stop - t_start) * hz


def firing_rate(
    runs: Any,
    *,
    lake: Lake | None = None,
    t_start: Any = None,
    t_stop: Any = None,
    populations: str | Sequence[str] | None = None,
    segments: str | Sequence[str] | None = None,
) -> xr.DataArray:
    """Mean firing rate of every unit of every run.

    Equal to ``elephant.statistics.mean_firing_rate(train, t_start, t_stop)`` of each
    spike train, in Hz.

    Parameters
    ----------
    runs : lake.search() DataFrame, Lake, intake catalog, DataTree(s), run ids, RunSet
        The runs (see :func:`opsnn_lake.analysis.as_runset`).
    lake : Lake, optional
        The lake of a DataFrame or of run ids.
    t_start, t_stop : float or Quantity, optional
        Window (ms); default each train's own ``t_start``/``t_stop``.
    populations, segments : str or list of str, optional
        Restrict to these populations or segments (names or original labels).

    Returns
    -------
    xarray.DataArray
        ``rate`` (Hz) on dim ``unit``, indexed by (run, segment, population,
        unit_index) with ``channel_id`` and the runs' parameters as coordinates, so
        ``rate.groupby("g_inh").mean()`` averages over runs with equal ``g_inh``.
        Lazy: one dask task per run, group and block of units.

    Raises
    ------
    SchemaError
        If the window is empty (``t_stop <= t_start``) or a population or segment is
        unknown.

    Examples
    --------
    >>> rates = firing_rate(lake.search(model="va"), lake=lake)  # doctest: +SKIP
    >>> rates.groupby("g_inh").mean().compute()                   # doctest: +SKIP
    """
    sel = select(runs, lake, populations=populations, segments=segments,
                 t_start=t_start, t_stop=t_stop)  # fmt: skip
    windowed = sel.t_start is not None or sel.t_stop is not None

    def make(g: GroupInfo, a: int, b: int, key: str) -> tuple[Any, ...]:
        lo, hi = g.bounds(*sel.window)
        start, stop = unit_slice(lo, a, b), unit_slice(hi, a, b)
        return (rate_block, key, start, stop, windowed, hz_factor(g.time_units))

    return sel.per_unit("rate", sel.window, make, {**RATE_ATTRS, **sel.window_attrs()})


def population_rate(
    runs: Any,
    *,
    lake: Lake | None = None,
    bin_size: Any = 1.0,
    t_start: Any = None,
    t_stop: Any = None,
    populations: str | Sequence[str] | None = None,
    segments: str | Sequence[str] | None = None,
) -> xr.DataArray:
    """Population rate of each group over time: spikes per bin, per unit, per second.

    Equal to ``elephant.statistics.time_histogram(trains, bin_size, output="rate")``
    of the group's spike trains, rescaled to Hz.

    Parameters
    ----------
    runs : lake.search() DataFrame, Lake, intake catalog, DataTree(s), run ids, RunSet
        The runs (see :func:`opsnn_lake.analysis.as_runset`).
    lake : Lake, optional
        The lake of a DataFrame or of run ids.
    bin_size : float or Quantity
        Bin width (ms), default 1 ms.
    t_start, t_stop : float or Quantity, optional
        Window (ms); default the trains' bounds (which must then be equal in a group).
    populations, segments : str or list of str, optional
        Restrict to these populations or segments (names or original labels).

    Returns
    -------
    xarray.DataArray
        ``population_rate`` (Hz) on dims ``(group, time)``; ``group`` indexes (run,
        segment, population) and carries the runs' parameters; ``time`` is the start
        of each bin (ms), shared by all groups (NaN outside a group's window).

    Raises
    ------
    SchemaError
        On a bad bin size, a window holding no whole bin, trains of one group with
        different bounds (pass ``t_start``/``t_stop``), or windows off a common grid.
    """
    bin_ms = check_bin_size(bin_size)
    sel = select(runs, lake, populations=populations, segments=segments,
                 t_start=t_start, t_stop=t_stop)  # fmt: skip
    plan = Plan("population_rate", (bin_ms, *sel.window), sel.groups)
    blocks, times = rate_rows(plan, sel, bin_ms)
    attrs = {**POPULATION_RATE_ATTRS, "bin_size_ms": bin_ms}
    return sel.per_group(plan, blocks, attrs, {"time": time_coord(times)})


def rate_rows(
    plan: Plan, sel: Selection, bin_ms: float
) -> tuple[list[tuple[Any, ...]], np.ndarray]:
    """The population rate task of each group, on a time axis the groups share (ms)."""
    groups = sel.groups
    tasks, nbins_list, windows = histogram_tasks(plan, groups, bin_ms, *sel.window)
    starts = [w[0] * g.ms for w, g in zip(windows, groups, strict=True)]
    times, firsts = time_axis(starts, nbins_list, bin_ms, where=[g.where() for g in groups])
    blocks = [
        (normalise_histogram, tasks[i], g.n_units, windows[i][2], hz_factor(g.time_units),
         "rate", firsts[i], times.size)
        for i, g in enumerate(groups)
    ]  # fmt: skip
    return blocks, times
