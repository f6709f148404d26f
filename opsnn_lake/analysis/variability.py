"""Spike-train variability: ISI coefficient of variation and Fano factor, per unit.

Conventions (elephant's, so the numbers are equal):

* :func:`isi_cv` is ``elephant.statistics.cv(elephant.statistics.isi(train))``, i.e.
  ``scipy.stats.variation`` of the inter-spike intervals: their standard deviation
  (``ddof=0``) over their mean. A unit with fewer than two spikes has no interval: its CV
  is NaN. Two spikes give one interval and a CV of 0.
* :func:`fano_factor` is ``elephant.statistics.fanofactor`` of the spike counts of a
  unit in consecutive windows of ``window`` ms from ``t_start`` (counted by
  :class:`elephant.conversion.BinnedSpikeTrain`, so a spike on a window edge belongs to
  the window it opens and a last partial window is left out): variance (``ddof=0``) over
  mean. A unit with no spike in any window has NaN (elephant's convention for all-empty
  counts); empty windows among others simply count 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from opsnn_lake.analysis.binning import bin_spikes, check_bin_size, n_bins
from opsnn_lake.analysis.groups import GroupInfo
from opsnn_lake.analysis.reading import Spikes
from opsnn_lake.analysis.selection import describe, select, unit_slice
from opsnn_lake.errors import SchemaError

if TYPE_CHECKING:
    import xarray as xr

    from opsnn_lake.lake import Lake

__all__ = ["fano_factor", "isi_cv"]

CV_ATTRS = describe(
    "ISI coefficient of variation", "1", "elephant.statistics.cv(elephant.statistics.isi(train))"
)
FANO_ATTRS = describe(
    "Fano factor of spike counts", "1", "elephant.statistics.fanofactor of BinnedSpikeTrain counts"
)


def cv_block(spikes: Spikes) -> np.ndarray:
    """ISI CV of each unit of a block (one task), two-pass like numpy's ``std``."""
    n = spikes.n_units
    counts = spikes.counts
    intervals = np.diff(spikes.times)
    # A diff across two units' trains is no interval: drop the one ending at each
    # unit's first spike (units are contiguous in the ragged layout).
    keep = np.ones(intervals.size, dtype=bool)
    firsts = spikes.offsets[1:-1]
    keep[firsts[(firsts > 0) & (firsts <= intervals.size)] - 1] = False
    intervals = intervals[keep]
    n_isi = np.maximum(counts - 1, 0)
    unit = np.repeat(np.arange(n), n_isi)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(unit, weights=intervals, minlength=n) / n_isi
        dev = intervals - mean[unit]
        var = np.bincount(unit, weights=dev * dev, minlength=n) / n_isi
        cv = np.sqrt(var) / mean
    cv[n_isi == 0] = np.nan
    return cv


def fano_block(spikes: Spikes, t_start: Any, t_stop: Any, window: float, nwin: Any) -> np.ndarray:
    """Fano factor of the window counts of each unit of a block (one task).

    Counts are integers, so the variance is computed exactly from integer sums:
    ``F = (W * sum(c**2) - sum(c)**2) / (W * sum(c))`` over the ``W`` windows.
    """
    n = spikes.n_units
    unit = spikes.unit_of_spike
    per_spike = {}
    for name, value in (("t_start", t_start), ("t_stop", t_stop), ("nwin", nwin)):
        per_spike[name] = value[unit] if isinstance(value, np.ndarray) else value
    index, bins = bin_spikes(
        spikes.times, per_spike["t_start"], per_spike["t_stop"], window, per_spike["nwin"]
    )
    width = int(np.max(nwin)) if np.size(nwin) else 0
    keys = unit[index] * max(width, 1) + bins  # sorted: units in order, times sorted
    starts = np.flatnonzero(np.diff(keys, prepend=-1)) if keys.size else np.zeros(0, int)
    counts = np.diff(np.append(starts, keys.size)).astype(np.int64)
    owner = keys[starts] // max(width, 1)
    s1 = np.bincount(owner, weights=counts, minlength=n).astype(np.int64)
    s2 = np.bincount(owner, weights=counts * counts, minlength=n).astype(np.int64)
    w = np.broadcast_to(np.asarray(nwin, dtype=np.int64), (n,))
    with np.errstate(divide="ignore", invalid="ignore"):
        fano = (w * s2 - s1 * s1) / (w * s1)
    fano[s1 == 0] = np.nan
    return fano


def isi_cv(
    runs: Any,
    *,
    lake: Lake | None = None,
    populations: str | Sequence[str] | None = None,
    segments: str | Sequence[str] | None = None,
) -> xr.DataArray:
    """Coefficient of variation of the inter-spike intervals of every unit.

    Equal to ``elephant.statistics.cv(elephant.statistics.isi(train))``.

    Parameters
    ----------
    runs : lake.search() DataFrame, Lake, intake catalog, DataTree(s), run ids, RunSet
        The runs (see :func:`opsnn_lake.analysis.as_runset`).
    lake : Lake, optional
        The lake of a DataFrame or of run ids.
    populations, segments : str or list of str, optional
        Restrict to these populations or segments (names or original labels).

    Returns
    -------
    xarray.DataArray
        ``cv`` (dimensionless) on dim ``unit`` (see
        :func:`opsnn_lake.analysis.firing_rate` for its coordinates); NaN for units with
        fewer than two spikes.
    """
    sel = select(runs, lake, populations=populations, segments=segments)
    return sel.per_unit("cv", (), lambda g, a, b, key: (cv_block, key), CV_ATTRS)


def fano_factor(
    runs: Any,
    *,
    lake: Lake | None = None,
    window: Any = 100.0,
    t_start: Any = None,
    t_stop: Any = None,
    populations: str | Sequence[str] | None = None,
    segments: str | Sequence[str] | None = None,
) -> xr.DataArray:
    """Fano factor of every unit's spike counts in consecutive windows.

    Equal to ``elephant.statistics.fanofactor`` of the unit's counts in the bins of
    ``elephant.conversion.BinnedSpikeTrain(train, bin_size=window, t_start, t_stop)``.

    Parameters
    ----------
    runs : lake.search() DataFrame, Lake, intake catalog, DataTree(s), run ids, RunSet
        The runs (see :func:`opsnn_lake.analysis.as_runset`).
    lake : Lake, optional
        The lake of a DataFrame or of run ids.
    window : float or Quantity
        Counting window (ms), default 100 ms.
    t_start, t_stop : float or Quantity, optional
        Range cut into windows (ms); default each train's own bounds.
    populations, segments : str or list of str, optional
        Restrict to these populations or segments (names or original labels).

    Returns
    -------
    xarray.DataArray
        ``fano`` (dimensionless) on dim ``unit``; NaN for a unit without spikes in the
        windows.

    Raises
    ------
    SchemaError
        If the window is not positive or longer than a train's range, or ``t_start``/
        ``t_stop`` reach outside a train's range (elephant refuses to bin there).
    """
    win_ms = check_bin_size(window, "window")
    sel = select(runs, lake, populations=populations, segments=segments,
                 t_start=t_start, t_stop=t_stop)  # fmt: skip
    for g in sel.groups:
        _check_windows(g, win_ms, sel.window)

    def make(g: GroupInfo, a: int, b: int, key: str) -> tuple[Any, ...]:
        lo, hi = g.bounds(*sel.window)
        size = g.native(win_ms)
        cut = [unit_slice(v, a, b) for v in (lo, hi, n_bins(lo, hi, size))]
        return (fano_block, key, cut[0], cut[1], size, cut[2])

    params = (win_ms, *sel.window)
    return sel.per_unit("fano", params, make, {**FANO_ATTRS, "window_ms": win_ms})


def _check_windows(g: GroupInfo, win_ms: float, window: tuple[float | None, float | None]) -> None:
    """Refuse a range outside a train's, or one too short for a window, as elephant does."""
    g.covered(*window)
    lo, hi = g.bounds(*window)
    if np.any(np.asarray(n_bins(lo, hi, g.native(win_ms))) <= 0):
        raise SchemaError(
            f"{g.where()}: a window of {win_ms} ms does not fit in the trains' range "
            f"[{np.min(lo)}, {np.max(hi)}] {g.time_units}"
        )
