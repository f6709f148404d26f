"""Binning shared by the statistics: elephant's bins, histograms, time axes, arguments.

Binning follows :class:`elephant.conversion.BinnedSpikeTrain` exactly, so counts equal
elephant's: spikes in ``[t_start, t_stop]`` (both ends included) fall into bin
``floor((t - t_start) * (1 / bin_size))``, a value within ``tolerance`` (1e-8) below an
integer counts as that integer (a spike on a bin edge belongs to the bin it opens),
there are ``n_bins`` = ``(t_stop - t_start) / bin_size`` bins (rounded the same way,
then down), and spikes that land at or after the end of the last bin — a spike exactly
at ``t_stop`` when the window is a whole number of bins — are dropped, as elephant does
(with a warning there, silently here).

The block functions here (:func:`histogram_block`, :func:`normalise_histogram`) run
inside tasks; :func:`histogram_tasks` adds them to a :class:`~opsnn_lake.analysis.plan.Plan`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import quantities as pq

from opsnn_lake.errors import SchemaError

if TYPE_CHECKING:
    from opsnn_lake.analysis.groups import GroupInfo
    from opsnn_lake.analysis.plan import Plan
    from opsnn_lake.analysis.reading import Spikes

__all__ = [
    "TOLERANCE",
    "as_ms",
    "bin_spikes",
    "check_bin_size",
    "frequency_coord",
    "group_bins",
    "histogram_block",
    "histogram_tasks",
    "hz_factor",
    "n_bins",
    "normalise_histogram",
    "time_axis",
    "time_coord",
]

TOLERANCE = 1e-8  # elephant.conversion.BinnedSpikeTrain's default


def n_bins(t_start: Any, t_stop: Any, bin_size: float, tolerance: float | None = TOLERANCE) -> Any:
    """Number of bins of width ``bin_size`` in ``[t_start, t_stop]``, as elephant counts them.

    Works on scalars and on arrays (one window per unit).
    """
    if isinstance(t_start, float | int) and isinstance(t_stop, float | int):
        # The same float64 arithmetic in Python: a graph of many groups asks this often.
        x = (float(t_stop) - float(t_start)) / bin_size
        if tolerance and 1 - tolerance <= x % 1:
            x += 0.5
        return int(x)
    value = np.asarray((np.asarray(t_stop) - np.asarray(t_start)) / bin_size, dtype=np.float64)
    if tolerance:
        value = np.where(1 - tolerance <= value % 1, value + 0.5, value)
    out = value.astype(np.int64)
    return int(out) if out.ndim == 0 else out


def bin_spikes(
    times: np.ndarray,
    t_start: Any,
    t_stop: Any,
    bin_size: float,
    nbins: Any,
    tolerance: float | None = TOLERANCE,
) -> tuple[np.ndarray, np.ndarray]:
    """Bin spike times as :class:`elephant.conversion.BinnedSpikeTrain` does.

    Parameters
    ----------
    times : numpy.ndarray
        Spike times (any order).
    t_start, t_stop : float or numpy.ndarray
        The window, one for all spikes or one per spike.
    bin_size : float
        Bin width, in the unit of ``times``.
    nbins : int or numpy.ndarray
        Number of bins (from :func:`n_bins`), one or one per spike.
    tolerance : float or None
        Rounding tolerance (elephant's default 1e-8; None: none).

    Returns
    -------
    index : numpy.ndarray
        Positions in ``times`` of the spikes that were binned.
    bins : numpy.ndarray
        Their bin numbers (int64).
    """
    inside = (times >= t_start) & (times <= t_stop)
    if inside.all():  # the usual case: skip the copies
        index = np.arange(times.size)
        x = times - t_start
    else:
        index = np.flatnonzero(inside)
        x = times[index] - (t_start[index] if isinstance(t_start, np.ndarray) else t_start)
    x *= 1 / bin_size
    bins = x.astype(np.int64)
    if tolerance:
        # elephant adds 0.5 where x % 1 >= 1 - tolerance, then truncates: the same as
        # adding 1 to the truncated value. For 0 <= x < 2**52, x - trunc(x) is exact and
        # equals x % 1 (and is much faster to compute).
        bins += (x - bins) >= 1 - tolerance
    limit = nbins[index] if isinstance(nbins, np.ndarray) else nbins
    valid = bins < limit
    if valid.all():
        return index, bins
    return index[valid], bins[valid]


def histogram_block(
    spikes: Spikes, t_start: float, t_stop: float, bin_size: float, nbins: int, binary: bool
) -> np.ndarray:
    """Spike counts per bin summed over the units of a block (one task)."""
    index, bins = bin_spikes(spikes.times, t_start, t_stop, bin_size, nbins)
    if binary:  # at most one spike per unit and bin, as BinnedSpikeTrain.binarize()
        keys = np.unique(spikes.unit_of_spike[index] * nbins + bins)
        bins = keys % nbins
    return np.bincount(bins, minlength=nbins).astype(np.int64)


def normalise_histogram(
    parts: Sequence[np.ndarray],
    n_trains: int,
    bin_size: float,
    hz: float,
    output: str,
    first: int,
    total: int,
) -> np.ndarray:
    """Sum block histograms and normalise like ``time_histogram(output=...)``.

    Returns a row of length ``total`` with the group's bins from position ``first``
    and NaN elsewhere (groups on a shared time axis).
    """
    counts = np.sum(np.stack(parts), axis=0) if parts else np.zeros(0, dtype=np.int64)
    if output == "counts":
        values = counts.astype(np.float64)
    elif output == "mean":
        values = counts / n_trains
    else:  # rate: per unit and unit of time, rescaled to Hz as elephant's .rescale("Hz")
        values = counts / (n_trains * bin_size) * hz
    row = np.full((1, total), np.nan)
    row[0, first : first + counts.size] = values
    return row


def time_coord(values: np.ndarray) -> Any:
    """A ``time`` coordinate (ms)."""
    import xarray as xr

    return xr.Variable("time", values, {"units": "ms", "long_name": "bin start"})


def frequency_coord(values: np.ndarray) -> Any:
    """A ``frequency`` coordinate (Hz)."""
    import xarray as xr

    return xr.Variable("frequency", values, {"units": "Hz", "long_name": "frequency"})


@functools.cache
def hz_factor(time_units: str) -> float:
    """Factor from ``1 / time_units`` to Hz (1000 for ms), as ``quantities`` rescales."""
    return float((1 / pq.Quantity(1.0, time_units)).rescale(pq.Hz).magnitude)


def check_bin_size(bin_size: Any, name: str = "bin_size") -> float:
    """A positive bin size in ms."""
    value = as_ms(bin_size, name)
    if value is None or not value > 0:
        raise SchemaError(f"{name}={bin_size!r}: expected a positive number of ms")
    return value


def time_axis(
    starts_ms: Sequence[float], counts: Sequence[int], bin_ms: float, *, where: Sequence[str]
) -> tuple[np.ndarray, list[int]]:
    """A time axis shared by groups whose windows start on one grid of ``bin_ms``.

    Returns the bin start times (ms) and each group's first position on the axis.

    Raises
    ------
    SchemaError
        If a group's window starts between two bins of the others.
    """
    if not starts_ms:
        return np.zeros(0), []
    origin = min(starts_ms)
    firsts = []
    for start, name in zip(starts_ms, where, strict=True):
        k = (start - origin) / bin_ms
        if abs(k - round(k)) > 1e-6:
            raise SchemaError(
                f"{name}: window starts at {start} ms, off the {bin_ms} ms grid of the other "
                f"runs (which starts at {origin} ms); pass t_start= to align them"
            )
        firsts.append(round(k))
    total = max(f + n for f, n in zip(firsts, counts, strict=True))
    return origin + np.arange(total) * bin_ms, firsts


def histogram_tasks(
    plan: Plan,
    groups: Sequence[GroupInfo],
    bin_ms: float,
    t_start: float | None,
    t_stop: float | None,
    *,
    binary: bool = False,
) -> tuple[list[list[str]], list[int], list[tuple[float, float, float]]]:
    """Per group: keys of its block histograms, its number of bins, its window and bin
    width (in the group's time unit)."""
    keys, nbins_list, windows = [], [], []
    for i, g in enumerate(groups):
        lo, hi, size, nb = group_bins(g, bin_ms, t_start, t_stop)
        args = (lo, hi, size, nb, binary)
        blocks = enumerate(g.unit_blocks())
        task = histogram_block
        keys.append(
            [plan.task(f"hist-{i}-{j}", task, plan.spikes(g, a, b), *args) for j, (a, b) in blocks]
        )
        nbins_list.append(nb)
        windows.append((lo, hi, size))
    return keys, nbins_list, windows


def group_bins(
    g: GroupInfo, bin_ms: float, t_start: float | None, t_stop: float | None
) -> tuple[float, float, float, int]:
    """A group's window shared by its units, the bin width (both in the group's time
    unit) and the number of bins, as elephant's binning counts them.

    Raises
    ------
    SchemaError
        If the units' bounds differ and no window was given, or the window holds no
        whole bin.
    """
    lo, hi = g.common_bounds(t_start, t_stop)
    size = g.native(bin_ms)
    nb = n_bins(lo, hi, size)
    if nb <= 0:
        raise SchemaError(
            f"{g.where()}: window [{lo}, {hi}] {g.time_units} holds no whole bin of {bin_ms} ms"
        )
    return lo, hi, size, nb


def as_ms(value: Any, name: str) -> float | None:
    """A time given as a float (ms) or a ``quantities`` Quantity, in ms."""
    if value is None:
        return None
    if isinstance(value, pq.Quantity):
        try:
            return float(value.rescale(pq.ms).magnitude)
        except ValueError as err:
            raise SchemaError(f"{name}={value!r} is not a time: {err}") from None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SchemaError(f"{name}={value!r}: expected a number of ms or a Quantity") from None
