"""Result assembly: dask arrays of per-unit or per-group values, wrapped in DataArrays
whose coordinates carry the run, segment, population and the runs' parameters."""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import xarray as xr

    from opsnn_lake.analysis.groups import GroupInfo
    from opsnn_lake.analysis.runset import RunSet

__all__ = ["group_result", "unit_result"]


def _multiindex(
    levels: Sequence[tuple[str, Sequence[Any]]], repeats: np.ndarray | None = None
) -> pd.MultiIndex:
    """A MultiIndex from per-entry level values (optionally repeated), built from codes."""
    arrays, codes, names = [], [], []
    for name, values in levels:
        uniques, inverse = np.unique(np.asarray(values, dtype=object), return_inverse=True)
        if repeats is not None:
            inverse = np.repeat(inverse, repeats)
        arrays.append(pd.Index(uniques, dtype=object, name=name))
        codes.append(inverse)
        names.append(name)
    return pd.MultiIndex(levels=arrays, codes=codes, names=names, verify_integrity=False)


def _unit_index(groups: Sequence[GroupInfo], counts: np.ndarray, dim: str) -> pd.MultiIndex:
    """(run, segment, population, ``<dim>_index``) of every unit of every group."""
    index = _multiindex(
        [
            ("run", [g.run for g in groups]),
            ("segment", [g.segment for g in groups]),
            ("population", [g.population for g in groups]),
        ],
        repeats=counts,
    )
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return pd.MultiIndex(
        levels=[*index.levels, pd.Index(np.arange(int(counts.max(initial=0))))],
        codes=[*index.codes, within],
        names=[*index.names, f"{dim}_index"],
        verify_integrity=False,
    )


def unit_result(
    runset: RunSet,
    groups: Sequence[GroupInfo],
    data: Any,
    *,
    name: str,
    attrs: Mapping[str, Any],
    dim: str = "unit",
    sizes: Sequence[int] | None = None,
    extra_dims: Mapping[str, Any] | None = None,
    coords: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Wrap a per-unit (or per-channel) dask array into a DataArray with coordinates.

    ``data`` has one entry per unit of every group along ``dim`` (``sizes``: entries
    per group, default ``n_units``), then ``extra_dims``. The dim gets a MultiIndex
    (run, segment, population, ``<dim>_index``), the runs' parameters as coordinates,
    and ``coords`` (arrays along ``dim``).
    """
    import xarray as xr

    counts = np.asarray([g.n_units for g in groups] if sizes is None else sizes, dtype=np.int64)
    extra = dict(extra_dims or {})
    result = xr.DataArray(data, dims=(dim, *extra), name=name, attrs=dict(attrs))
    # assign_coords shares the cached variables; DataArray(coords=...) would deep-copy them.
    result = result.assign_coords(_unit_coords(runset, groups, counts, dim))
    other = {k: (dim, v) for k, v in (coords or {}).items()}
    return result.assign_coords({**other, **extra})


# Rate, CV and Fano of one selection share their unit coordinates: built once per run set.
_UNIT_COORDS: weakref.WeakKeyDictionary[RunSet, dict[tuple[Any, ...], xr.Coordinates]] = (
    weakref.WeakKeyDictionary()
)


def _unit_coords(
    runset: RunSet, groups: Sequence[GroupInfo], counts: np.ndarray, dim: str
) -> xr.Coordinates:
    """The MultiIndex of ``dim`` and the runs' parameters along it (with units)."""
    import xarray as xr

    key = (dim, tuple((g.run, g.path) for g in groups), counts.tobytes())
    cache = _UNIT_COORDS.setdefault(runset, {})
    if key not in cache:
        coords = xr.Coordinates.from_pandas_multiindex(_unit_index(groups, counts, dim), dim)
        params = runset.parameter_coords([g.run for g in groups], repeats=counts)
        units = runset.parameter_units()
        cache[key] = coords.assign(
            {k: xr.Variable(dim, v, {"units": units[k]} if k in units else None)
             for k, v in params.items()}
        )  # fmt: skip
    return cache[key]


def group_result(
    runset: RunSet,
    keys: Sequence[tuple[str, ...]],
    data: Any,
    *,
    name: str,
    attrs: Mapping[str, Any],
    levels: Sequence[str] = ("run", "segment", "population"),
    extra_dims: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Wrap a per-group dask array (groups along the first axis) into a DataArray.

    ``keys`` name each group by ``levels`` (run first); the dim ``group`` gets a
    MultiIndex of them and the runs' parameters as coordinates.
    """
    import xarray as xr

    extra = dict(extra_dims or {})
    index = _multiindex([(level, [k[i] for k in keys]) for i, level in enumerate(levels)])
    result = xr.DataArray(
        data,
        dims=("group", *extra),
        coords=xr.Coordinates.from_pandas_multiindex(index, "group"),
        name=name,
        attrs=dict(attrs),
    )
    params = runset.parameter_coords([k[0] for k in keys])
    result = result.assign_coords({**{k: ("group", v) for k, v in params.items()}, **extra})
    return runset.with_units(result)
