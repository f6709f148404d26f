"""Pairwise correlation coefficients of binned spike trains, for a chosen subset of units.

Equal to ``elephant.spike_train_correlation.correlation_coefficient(
BinnedSpikeTrain(trains, bin_size, t_start, t_stop), binary=...)``: trains are binned
as elephant bins them (see :mod:`opsnn_lake.analysis.binning`) and the coefficients are
computed with elephant's sparse covariance formula (equal to ``numpy.corrcoef``, which
elephant uses for matrices with over 10 % of the bins occupied, to rounding). A
unit without spikes in the window has NaN in its row and column, diagonal included, as
in elephant. Units requested beyond the size of a population are NaN too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from opsnn_lake.analysis.binning import bin_spikes, check_bin_size, group_bins
from opsnn_lake.analysis.groups import GroupInfo
from opsnn_lake.analysis.plan import Plan
from opsnn_lake.analysis.reading import Spikes
from opsnn_lake.analysis.selection import describe, select
from opsnn_lake.errors import InvalidArgumentError, SchemaError

if TYPE_CHECKING:
    import xarray as xr

    from opsnn_lake.lake import Lake

__all__ = ["correlation_coefficients"]

ATTRS = describe(
    "correlation coefficient of binned spike trains",
    "1",
    "elephant.spike_train_correlation.correlation_coefficient",
)


def correlation_block(
    parts: Sequence[Spikes],
    starts: Sequence[int],
    wanted: np.ndarray,
    n_units: int,
    t_start: float,
    t_stop: float,
    bin_size: float,
    nbins: int,
    binary: bool,
) -> np.ndarray:
    """Correlation matrix of units ``wanted`` of a group whose unit blocks starting at
    ``starts`` are ``parts`` (units past ``n_units`` give NaN rows)."""
    k = wanted.size
    rows, bins = [], []
    for spikes, start in zip(parts, starts, strict=True):
        local = wanted - start
        inside = (local >= 0) & (local < spikes.n_units)
        row_of_unit = np.full(spikes.n_units, -1, dtype=np.int64)
        row_of_unit[local[inside]] = np.flatnonzero(inside)
        row = row_of_unit[spikes.unit_of_spike]
        chosen = np.flatnonzero(row >= 0)
        index, b = bin_spikes(spikes.times[chosen], t_start, t_stop, bin_size, nbins)
        rows.append(row[chosen][index])
        bins.append(b)
    flat = np.concatenate(rows) * nbins + np.concatenate(bins) if rows else np.zeros(0, int)
    matrix = np.bincount(flat, minlength=k * nbins).reshape(k, nbins)
    if binary:
        matrix = (matrix > 0).astype(np.int64)
    present = wanted < n_units
    out = np.full((1, k, k), np.nan)
    if present.any():
        out[0][np.ix_(present, present)] = _corrcoef(matrix[present], nbins)
    return out


def _corrcoef(matrix: np.ndarray, nbins: int) -> np.ndarray:
    """elephant's sparse formula: ``(B B^T - N N^T / L) / sqrt(diag diag^T)``.

    The integer product goes through ``scipy.sparse`` as in elephant, not BLAS: in
    dask worker threads a multi-threaded BLAS call on a 100 x 200 matrix can take
    100 times longer than the product. For matrices elephant would hand to
    ``numpy.corrcoef`` (over 10 % of the bins occupied) the two formulas agree to
    rounding (1e-15).
    """
    import scipy.sparse

    sparse = scipy.sparse.csr_matrix(matrix)
    totals = matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = (sparse @ sparse.T).toarray() - np.outer(totals, totals) / nbins
        std = np.sqrt(res.diagonal())
        return res / np.outer(std, std)


def _units(units: int | Sequence[int]) -> np.ndarray:
    if isinstance(units, int | np.integer):
        if units < 1:
            raise SchemaError(f"units={units}: expected a positive number of units")
        return np.arange(int(units))
    wanted = np.asarray(list(units), dtype=np.int64)
    if wanted.ndim != 1 or wanted.size == 0 or (wanted < 0).any():
        raise SchemaError(f"units={units!r}: expected unit positions (non-negative integers)")
    if np.unique(wanted).size != wanted.size:
        raise InvalidArgumentError(
            f"units={units!r}: expected distinct unit positions, got a unit listed twice; "
            "list each unit once"
        )
    return wanted


def correlation_coefficients(
    runs: Any,
    *,
    lake: Lake | None = None,
    units: int | Sequence[int] = 100,
    bin_size: Any = 5.0,
    binary: bool = False,
    t_start: Any = None,
    t_stop: Any = None,
    populations: str | Sequence[str] | None = None,
    segments: str | Sequence[str] | None = None,
) -> xr.DataArray:
    """Pearson correlation coefficients between the binned trains of a subset of units.

    Parameters
    ----------
    runs : lake.search() DataFrame, Lake, intake catalog, DataTree(s), run ids, RunSet
        The runs (see :func:`opsnn_lake.analysis.as_runset`).
    lake : Lake, optional
        The lake of a DataFrame or of run ids.
    units : int or sequence of int
        The first ``units`` units of each population (default 100), or their positions
        in the population (``unit_index``).
    bin_size : float or Quantity
        Bin width (ms), default 5 ms.
    binary : bool
        Clip counts to 0/1 before correlating (elephant's ``binary``).
    t_start, t_stop : float or Quantity, optional
        Window (ms); default the trains' bounds (which must be equal in a group).
    populations, segments : str or list of str, optional
        Restrict to these populations or segments (names or original labels).

    Returns
    -------
    xarray.DataArray
        ``correlation`` on dims ``(group, unit_i, unit_j)``; ``group`` indexes (run,
        segment, population) with the runs' parameters; ``unit_i``/``unit_j`` are the
        positions of the units. One task per group reads only the units' spikes.

    Raises
    ------
    SchemaError
        On bad ``units`` or bin size, or a window holding no whole bin.
    """
    bin_ms = check_bin_size(bin_size)
    wanted = _units(units)
    sel = select(runs, lake, populations=populations, segments=segments,
                 t_start=t_start, t_stop=t_stop)  # fmt: skip
    plan = Plan("correlation", (tuple(wanted), bin_ms, binary, *sel.window), sel.groups)
    blocks = [_block(plan, g, wanted, bin_ms, sel.window, binary) for g in sel.groups]
    attrs = {**ATTRS, "bin_size_ms": bin_ms, "binary": int(binary)}
    return sel.per_group(plan, blocks, attrs, {"unit_i": wanted, "unit_j": wanted})


def _block(
    plan: Plan,
    g: GroupInfo,
    wanted: np.ndarray,
    bin_ms: float,
    window: tuple[float | None, float | None],
    binary: bool,
) -> tuple[Any, ...]:
    """The task of one group's matrix, reading only the unit blocks that hold ``wanted``
    (with the keys the other statistics use: a group of one block is read once)."""
    lo, hi, size, nb = group_bins(g, bin_ms, *window)
    chosen = [(a, b) for a, b in g.unit_blocks() if ((wanted >= a) & (wanted < b)).any()]
    keys = [plan.spikes(g, a, b) for a, b in chosen]
    starts = [a for a, _ in chosen]
    return (correlation_block, keys, starts, wanted, g.n_units, lo, hi, size, nb, binary)
