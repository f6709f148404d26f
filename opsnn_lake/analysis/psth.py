"""The PSTH across segments (trials), binned as elephant bins.

:func:`psth` pools the spike trains of a population over all segments of a run (trials
of a protocol, each aligned on its own ``t_start``), as
:func:`elephant.statistics.time_histogram` does for a list of trials. The binning
(equal to :class:`elephant.conversion.BinnedSpikeTrain`'s) lives in
:mod:`opsnn_lake.analysis.binning`.
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
    time_coord,
)
from opsnn_lake.analysis.plan import Plan
from opsnn_lake.analysis.selection import check_choice, select
from opsnn_lake.errors import SchemaError

if TYPE_CHECKING:
    import xarray as xr

    from opsnn_lake.analysis.groups import GroupInfo
    from opsnn_lake.lake import Lake

__all__ = ["OUTPUTS", "psth"]

OUTPUTS = ("counts", "mean", "rate")
UNITS = {"counts": "1", "mean": "1", "rate": "Hz"}
ATTRS = {"reference": "elephant.statistics.time_histogram over the trials (segments)"}


def psth(
    runs: Any,
    *,
    lake: Lake | None = None,
    bin_size: Any = 10.0,
    output: str = "rate",
    t_start: Any = None,
    t_stop: Any = None,
    binary: bool = False,
    populations: str | Sequence[str] | None = None,
    segments: str | Sequence[str] | None = None,
) -> xr.DataArray:
    """Peri-stimulus time histogram of each population, pooled over a run's segments.

    Each segment is a trial aligned on the start of its window; the histogram pools
    the spike trains of the population in every segment, as
    ``elephant.statistics.time_histogram(trains_of_all_trials, bin_size, output=...)``.

    Parameters
    ----------
    runs : lake.search() DataFrame, Lake, intake catalog, DataTree(s), run ids, RunSet
        The runs (see :func:`opsnn_lake.analysis.as_runset`).
    lake : Lake, optional
        The lake of a DataFrame or of run ids.
    bin_size : float or Quantity
        Bin width (ms), default 10 ms.
    output : {"rate", "mean", "counts"}
        ``"counts"``: spikes per bin; ``"mean"``: per spike train; ``"rate"``: per spike
        train and second (Hz). Default ``"rate"``.
    t_start, t_stop : float or Quantity, optional
        Window of each segment (ms, absolute); default the trains' own bounds.
    binary : bool
        Count at most one spike per train and bin.
    populations, segments : str or list of str, optional
        Restrict to these populations or segments (names or original labels).

    Returns
    -------
    xarray.DataArray
        Dims ``(group, time)``; ``group`` indexes (run, population), ``time`` is the
        bin start (ms) from the start of each trial. Lazy (dask): one task per run,
        segment and block of units, then one per run and population.

    Raises
    ------
    SchemaError
        On an unknown ``output``, a bad bin size, an unknown population or segment,
        or trials of one population with different numbers of bins.
    """
    check_choice("output", output, OUTPUTS)
    bin_ms = check_bin_size(bin_size)
    sel = select(runs, lake, populations=populations, segments=segments,
                 t_start=t_start, t_stop=t_stop)  # fmt: skip
    plan = Plan("psth", (bin_ms, output, *sel.window, binary), sel.groups)
    keys, blocks, total = _pooled_blocks(plan, sel.groups, bin_ms, sel.window, binary, output)
    attrs = {**ATTRS, "long_name": f"PSTH ({output})", "units": UNITS[output],
             "bin_size_ms": bin_ms, "output": output, "binary": int(binary)}  # fmt: skip
    time = {"time": time_coord(np.arange(total) * bin_ms)}
    return sel.per_group(plan, blocks, attrs, time, keys=keys, levels=("run", "population"))


def _pooled_blocks(
    plan: Plan,
    groups: Sequence[GroupInfo],
    bin_ms: float,
    window: tuple[float | None, float | None],
    binary: bool,
    output: str,
) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]], int]:
    """Per (run, population): the task pooling its segments' histograms; and the bins."""
    tasks, nbins_list, windows = histogram_tasks(plan, groups, bin_ms, *window, binary=binary)
    members: dict[tuple[str, str], list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault((g.run, g.population), []).append(i)
    total = max(nbins_list, default=0)
    blocks = []
    for key, idx in members.items():
        sizes = {nbins_list[i] for i in idx}
        if len(sizes) > 1:
            raise SchemaError(
                f"run {key[0]!r}, population {key[1]!r}: trials have {sorted(sizes)} bins; "
                "pass t_start= and t_stop= for windows of equal length"
            )
        first = groups[idx[0]]
        blocks.append(
            (
                normalise_histogram,
                [t for i in idx for t in tasks[i]],
                sum(groups[i].n_units for i in idx),
                windows[idx[0]][2],
                hz_factor(first.time_units),
                output,
                0,
                total,
            )
        )
    return list(members), blocks, total
