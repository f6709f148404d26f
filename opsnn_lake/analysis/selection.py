"""The steps every statistic shares: select the runs' groups, plan, assemble the result.

A statistic checks its own arguments, then:

1. :func:`select` turns the runs (any input :func:`~opsnn_lake.analysis.as_runset`
   accepts) into a :class:`Selection`: the run set, the chosen groups and the window in
   ms;
2. a :class:`~opsnn_lake.analysis.plan.Plan` reduces each group (or block of units) —
   :meth:`Selection.per_unit` for the per-unit statistics, :meth:`Selection.per_group`
   for those with one row per group;
3. the same methods wrap the dask array with the coordinates of the runs
   (:mod:`opsnn_lake.analysis.results`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from opsnn_lake.analysis.binning import as_ms
from opsnn_lake.analysis.groups import GroupInfo
from opsnn_lake.analysis.plan import Plan, per_unit
from opsnn_lake.analysis.results import group_result, unit_result
from opsnn_lake.analysis.runset import RunSet, as_runset
from opsnn_lake.errors import SchemaError

if TYPE_CHECKING:
    import xarray as xr

    from opsnn_lake.lake import Lake

__all__ = ["Selection", "check_choice", "describe", "select", "unit_slice"]


def describe(long_name: str, units: str, reference: str) -> dict[str, str]:
    """The attributes every statistic carries: what it is, its units, what it equals."""
    return {"long_name": long_name, "units": units, "reference": reference}


def check_choice(name: str, value: Any, choices: Iterable[str]) -> None:
    """Refuse a value outside ``choices``, naming the valid ones.

    Raises
    ------
    SchemaError
        If ``value`` is not one of ``choices``.
    """
    valid = list(choices)
    if value not in valid:
        raise SchemaError(f"{name}={value!r} is not valid; choose one of {', '.join(valid)}")


def unit_slice(value: Any, lo: int, hi: int) -> Any:
    """Units ``[lo, hi)`` of a per-unit array; a scalar (the same for all) as it is."""
    return value[lo:hi] if isinstance(value, np.ndarray) else value


@dataclass(frozen=True)
class Selection:
    """What a statistic reads: the run set, its chosen groups, the window (ms or None)."""

    runset: RunSet
    groups: list[GroupInfo]
    t_start: float | None = None
    t_stop: float | None = None

    @property
    def window(self) -> tuple[float | None, float | None]:
        """``(t_start, t_stop)`` in ms; None where the trains' own bounds apply."""
        return self.t_start, self.t_stop

    def window_attrs(self) -> dict[str, float]:
        """``t_start_ms``/``t_stop_ms`` attributes of the window given."""
        named = {"t_start_ms": self.t_start, "t_stop_ms": self.t_stop}
        return {k: v for k, v in named.items() if v is not None}

    def keys(self) -> list[tuple[str, str, str]]:
        """(run, segment, population) of every group, the index of per-group results."""
        return [(g.run, g.segment, g.population) for g in self.groups]

    def per_unit(
        self,
        stat: str,
        params: Any,
        make: Callable[[GroupInfo, int, int, str], tuple[Any, ...]],
        attrs: Mapping[str, Any],
    ) -> xr.DataArray:
        """A per-unit statistic: ``make(group, lo, hi, spikes_key)`` gives the task of a
        block of units; the result is named ``stat`` (see
        :func:`~opsnn_lake.analysis.plan.per_unit`)."""
        plan = Plan(stat, params, self.groups)
        data, coords = per_unit(plan, self.groups, make)
        return unit_result(self.runset, self.groups, data, name=stat, attrs=attrs, coords=coords)

    def per_group(
        self,
        plan: Plan,
        blocks: Sequence[tuple[Any, ...]],
        attrs: Mapping[str, Any],
        extra_dims: Mapping[str, Any],
        *,
        keys: Sequence[tuple[str, ...]] | None = None,
        levels: Sequence[str] = ("run", "segment", "population"),
    ) -> xr.DataArray:
        """A per-group statistic named after its plan: ``blocks[i]`` computes row ``i``
        (one per group, or per ``keys``), spanning ``extra_dims`` whole."""
        shape = tuple((len(values),) for values in extra_dims.values())
        data = plan.array(plan.stat, blocks, ((1,) * len(blocks), *shape))
        return group_result(
            self.runset,
            self.keys() if keys is None else keys,
            data,
            name=plan.stat,
            attrs=attrs,
            levels=levels,
            extra_dims=extra_dims,
        )


def select(
    runs: Any,
    lake: Lake | None,
    *,
    populations: str | Sequence[str] | None = None,
    segments: str | Sequence[str] | None = None,
    t_start: Any = None,
    t_stop: Any = None,
    spikes: bool = True,
) -> Selection:
    """The groups a statistic reads and its window in ms (see the module docstring).

    Raises
    ------
    SchemaError
        On runs that cannot be analysed, an unknown population or segment, a window
        bound that is not a time, or an empty window.
    """
    rs: RunSet = as_runset(runs, lake)
    groups = rs.select(segments=segments, populations=populations, spikes=spikes)
    lo, hi = as_ms(t_start, "t_start"), as_ms(t_stop, "t_stop")
    if lo is not None and hi is not None and not hi > lo:
        raise SchemaError(f"empty window: t_start={lo} ms, t_stop={hi} ms")
    return Selection(rs, groups, lo, hi)
