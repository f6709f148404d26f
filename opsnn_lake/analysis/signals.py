"""Summary statistics of recorded analog signals (membrane potential, conductances…).

:func:`signal_summary` gives, for every recorded channel of a signal, its mean,
standard deviation (``ddof=0``), minimum and maximum over time — the numbers
``numpy.mean(sig, axis=0)`` etc. give on the neo ``AnalogSignal`` of the same run. NaN
samples propagate (a channel with a NaN sample has NaN statistics), as in numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from opsnn_lake.analysis.groups import GroupInfo, SignalInfo, signal_ids, spikes_per_task
from opsnn_lake.analysis.plan import Plan
from opsnn_lake.analysis.results import unit_result
from opsnn_lake.analysis.selection import select
from opsnn_lake.errors import SchemaError

if TYPE_CHECKING:
    import xarray as xr

    from opsnn_lake.lake import Lake

__all__ = ["SUMMARIES", "signal_summary"]

SUMMARIES = ("mean", "std", "min", "max")


def summary_block(values: np.ndarray) -> np.ndarray:
    """(channels, 4): mean, std, min, max over time of a (time, channels) block."""
    if values.shape[0] == 0:
        return np.full((values.shape[1], len(SUMMARIES)), np.nan)
    return np.stack(
        [values.mean(axis=0), values.std(axis=0), values.min(axis=0), values.max(axis=0)],
        axis=1,
    )


def signal_summary(
    runs: Any,
    signal: str = "v",
    *,
    lake: Lake | None = None,
    populations: str | Sequence[str] | None = None,
    segments: str | Sequence[str] | None = None,
) -> xr.Dataset:
    """Mean, std, min and max over time of every channel of an analog signal.

    Parameters
    ----------
    runs : lake.search() DataFrame, Lake, intake catalog, DataTree(s), run ids, RunSet
        The runs (see :func:`opsnn_lake.analysis.as_runset`).
    signal : str
        Name of the signal variable (``v``, ``gsyn_exc``…), default ``"v"``.
    lake : Lake, optional
        The lake of a DataFrame or of run ids.
    populations, segments : str or list of str, optional
        Restrict to these populations or segments (names or original labels).

    Returns
    -------
    xarray.Dataset
        Variables ``mean``, ``std``, ``min``, ``max`` (in the signal's units) on dim
        ``channel``, indexed by (run, segment, population, channel_index), with the
        channels' ``channel_id`` where recorded and the runs' parameters.

    Raises
    ------
    SchemaError
        If no selected group records ``signal`` (the message lists those recorded).
    """
    sel = select(runs, lake, populations=populations, segments=segments, spikes=False)
    chosen = _recorded(sel.groups, signal)
    units = {info.units for _, info in chosen}
    if len(units) > 1:
        raise SchemaError(
            f"signal {signal!r} is recorded in different units {sorted(units)} across the "
            "selected runs; select runs with one unit"
        )
    plan = Plan("signals", signal, [g for g, _ in chosen])
    blocks, ids, sizes, chunks = _channel_blocks(plan, chosen)
    data = plan.array(signal, blocks, (tuple(chunks), (len(SUMMARIES),)))
    stats = unit_result(
        sel.runset, [g for g, _ in chosen], data, name=signal, attrs={}, dim="channel",
        sizes=sizes, extra_dims={"statistic": list(SUMMARIES)},
    )  # fmt: skip
    ds = stats.to_dataset(dim="statistic")
    ds = ds.assign_coords(channel_id=("channel", np.concatenate(ids).astype(np.int64)))
    unit = units.pop() if units else ""
    for name in SUMMARIES:
        ds[name].attrs = {"long_name": f"{name} of {signal} over time", "units": unit}
    return ds.assign_attrs(signal=signal)


def _recorded(groups: Sequence[GroupInfo], signal: str) -> list[tuple[GroupInfo, SignalInfo]]:
    """The groups recording ``signal``, with its metadata.

    Raises
    ------
    SchemaError
        If none does (the message lists the signals recorded).
    """
    chosen = [(g, info) for g in groups for info in g.signals if info.name == signal]
    if not chosen:
        known = sorted({s.name for g in groups for s in g.signals})
        raise SchemaError(
            f"no selected group records a signal {signal!r}; recorded: {known or 'none'}"
        )
    return chosen


def _channel_blocks(
    plan: Plan, chosen: Sequence[tuple[GroupInfo, SignalInfo]]
) -> tuple[list[tuple[Any, ...]], list[np.ndarray], list[int], list[int]]:
    """Tasks of blocks of channels (about ``spikes-per-task`` samples each); per group
    its channels' global ids (-1 where not recorded) and number of channels."""
    limit = spikes_per_task()
    blocks, ids, sizes, chunks = [], [], [], []
    for g, info in chosen:
        n_time, n_chan = info.shape
        per_task = max(1, limit // max(1, n_time))
        for lo in range(0, n_chan, per_task):
            hi = min(n_chan, lo + per_task)
            blocks.append((summary_block, plan.signal(g, info, lo, hi)))
            chunks.append(hi - lo)
        sizes.append(n_chan)
        found = signal_ids(g, info)
        ids.append(found if found is not None else np.full(n_chan, -1, dtype=np.int64))
    return blocks, ids, sizes, chunks
