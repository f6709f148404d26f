"""Space: spike activity binned on a spatial grid over time (activity maps).

Every population a PyNN run records keeps its cells' positions (``x``, ``y``, ``z`` in
µm) as ``unit`` coordinates; input runs keep grid or pixel positions (``moving_bump``:
grid cell, tonic: pixel). :func:`activity_map` bins each run's spikes by time and by the
cell's place on a regular ``(y, x)`` grid, giving a lazy ``(run, time, y, x)`` array:
one dask task per run, holding one run's spikes and one map, so memory stays bounded
however many runs are mapped. The wave statistics (:mod:`opsnn_lake.analysis.waves`)
and the movies (:mod:`opsnn_lake.analysis.movies`) start from it.

The grid
--------
By default one pixel per grid position: the positions must lie on a regular grid (as
PyNN's ``Grid2D``, the bump's grid cells, a sensor's pixels), whose spacing and extent
the map takes. ``grid=n`` or ``grid=(ny, nx)`` instead bins the sheet's extent (the
``extent`` PyNN structure annotation when the model gave one, else the positions'
range plus half a spacing) into that many equal pixels. All runs must give the same
pixel centres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from opsnn_lake.analysis.binning import (
    bin_spikes,
    check_bin_size,
    group_bins,
    time_axis,
    time_coord,
)
from opsnn_lake.analysis.groups import GroupInfo
from opsnn_lake.analysis.plan import Plan
from opsnn_lake.analysis.reading import Spikes, read_spikes
from opsnn_lake.analysis.selection import Selection, check_choice, select
from opsnn_lake.errors import SchemaError

if TYPE_CHECKING:
    import xarray as xr

    from opsnn_lake.lake import Lake

__all__ = ["OUTPUTS", "Layout", "activity_map", "group_layout", "layout"]

OUTPUTS = ("counts", "rate")
_REL = 1e-6  # relative tolerance of grid spacings and pixel centres


@dataclass(frozen=True)
class Layout:
    """Where each cell of a group falls on the map's grid.

    ``pixel`` is the flat pixel index (``iy * nx + ix``) of each unit, -1 outside the
    grid; ``x``/``y`` the pixel centres (in the positions' units: µm for PyNN cells,
    grid cells or pixels for inputs); ``periodic`` whether the sheet wraps around.
    """

    pixel: np.ndarray
    x: np.ndarray
    y: np.ndarray
    periodic: bool
    units: str

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        return self.y.size, self.x.size

    def cells_per_pixel(self) -> np.ndarray:
        """Number of cells in each pixel, shape ``(ny, nx)``."""
        ny, nx = self.shape
        inside = self.pixel[self.pixel >= 0]
        return np.bincount(inside, minlength=ny * nx).reshape(ny, nx)


def _metadata(g: GroupInfo, cache: dict[str, Any]) -> dict[str, Any]:
    """The root ``zarr.json`` document of the group's run (verified for a store; built
    from the tree for a DataTree), once per call."""
    key = g.reader.token
    if key not in cache:
        cache[key] = g.reader.metadata()
    return cache[key]


def _array_meta(g: GroupInfo, cache: dict[str, Any]) -> dict[str, Any]:
    """Metadata of the group's arrays, by name."""
    nodes = _metadata(g, cache).get("consolidated_metadata", {}).get("metadata", {})
    prefix = g.path + "/"
    return {k[len(prefix) :]: v for k, v in nodes.items() if k.startswith(prefix)}


def _has_positions(g: GroupInfo, cache: dict[str, Any]) -> bool:
    arrays = _array_meta(g, cache)
    return "x" in arrays and "y" in arrays


def _no_positions(g: GroupInfo) -> SchemaError:
    return SchemaError(
        f"{g.where()}: the group has no x/y unit coordinates (cell positions); runs "
        "stored before positions were kept can be re-run, or choose a population with them"
    )


def _structure(g: GroupInfo, cache: dict[str, Any]) -> dict[str, Any]:
    """The population's PyNN structure record (``extent``, ``periodic``…), if stored."""
    try:
        annotations = _metadata(g, cache)["attributes"]["block"]["annotations"]
    except (KeyError, TypeError):
        return {}
    if not isinstance(annotations, dict):
        return {}
    pops = annotations.get("populations")
    if isinstance(pops, dict) and isinstance(pops.get(g.label or g.population), dict):
        found = pops[g.label or g.population].get("structure")
        if isinstance(found, dict):
            return dict(found)  # a PyNN run: per population
    found = annotations.get("structure")  # an input generator's grid (moving_bump)
    return dict(found) if isinstance(found, dict) else {}


def _regular(values: np.ndarray, axis: str, where: str) -> np.ndarray:
    centres = np.unique(values)
    if centres.size > 1:
        step = np.diff(centres)
        if not np.allclose(step, step[0], rtol=_REL, atol=0):
            raise SchemaError(
                f"{where}: {axis} positions are not on a regular grid; pass grid=(ny, nx) "
                "to bin them into equal pixels"
            )
    return centres


def _spacing(centres: np.ndarray) -> float:
    return float(centres[1] - centres[0]) if centres.size > 1 else 1.0


def layout(
    x: np.ndarray,
    y: np.ndarray,
    *,
    structure: dict[str, Any],
    pynn: bool,
    grid: int | Sequence[int] | None = None,
    where: str = "group",
) -> Layout:
    """Pixel of each cell on the map's grid (see the module docstring).

    Parameters
    ----------
    x, y : numpy.ndarray
        The cells' positions.
    structure : dict
        The stored structure record (``extent``, ``periodic``), possibly empty.
    pynn : bool
        Positions are PyNN's (µm); else grid cells or pixels.
    grid : int or (ny, nx), optional
        Pixels per side; None: one pixel per grid position.
    where : str
        Name of the group, for errors.

    Returns
    -------
    Layout

    Raises
    ------
    SchemaError
        If ``grid`` is None and the positions are not on a regular grid, or ``grid``
        is not a positive size.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    periodic = bool(structure.get("periodic", False))
    units = "um" if pynn else "1"  # inputs: grid cells or pixels
    if grid is None:
        cx, cy = _regular(x, "x", where), _regular(y, "y", where)
        ix, iy = np.searchsorted(cx, x), np.searchsorted(cy, y)
    else:
        cx, cy, ix, iy = _binned_pixels(x, y, structure.get("extent"), grid)
    inside = (ix >= 0) & (ix < cx.size) & (iy >= 0) & (iy < cy.size)
    pixel = np.where(inside, iy * cx.size + ix, -1).astype(np.int64)
    return Layout(pixel=pixel, x=cx, y=cy, periodic=periodic, units=units)


def _binned_pixels(
    x: np.ndarray, y: np.ndarray, extent: Any, grid: int | Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel centres and each cell's pixel column and row, for ``grid`` equal pixels
    over the sheet's extent (default: half a spacing beyond the outermost positions)."""
    if extent is None:
        cx, cy = np.unique(x), np.unique(y)
        hx, hy = _spacing(cx) / 2, _spacing(cy) / 2
        extent = [[cx[0] - hx, cx[-1] + hx], [cy[0] - hy, cy[-1] + hy]]
    (x0, x1), (y0, y1) = (map(float, extent[0]), map(float, extent[1]))
    ny, nx = (int(grid[0]), int(grid[1])) if isinstance(grid, Sequence) else (int(grid),) * 2
    if ny < 1 or nx < 1:
        raise SchemaError(f"grid={grid!r}: expected a positive number of pixels per side")
    dx, dy = (x1 - x0) / nx, (y1 - y0) / ny
    ix = np.floor((x - x0) / dx).astype(np.int64)
    iy = np.floor((y - y0) / dy).astype(np.int64)
    return x0 + (np.arange(nx) + 0.5) * dx, y0 + (np.arange(ny) + 0.5) * dy, ix, iy


def group_layout(
    g: GroupInfo, grid: int | Sequence[int] | None = None, *, cache: dict[str, Any] | None = None
) -> Layout:
    """:func:`layout` of a group's cells, reading their positions now.

    Raises
    ------
    SchemaError
        If the group has no positions, or :func:`layout` refuses them.
    """
    cache = {} if cache is None else cache
    if not _has_positions(g, cache):
        raise _no_positions(g)
    got = g.reader.read(g.path, {"x": Ellipsis, "y": Ellipsis})  # verified for a store
    geometry = _geometry(g, grid, cache)
    return layout(got["x"], got["y"], structure=geometry[0], pynn=geometry[1], grid=grid,
                  where=g.where())  # fmt: skip


def _geometry(
    g: GroupInfo, grid: int | Sequence[int] | None, cache: dict[str, Any]
) -> tuple[dict[str, Any], bool, Any, str]:
    """What :func:`layout` needs besides the positions: the structure record, whether
    the positions are PyNN's (they have ``z``), the grid asked for, the group's name."""
    return _structure(g, cache), "z" in _array_meta(g, cache), grid, g.where()


def _bin_map(
    spikes: Spikes,
    lay: Layout,
    window: tuple[float, float, float, int],
    first: int,
    total: int,
    output: tuple[str, float],
    shuffle: tuple[int, int] | None,
) -> np.ndarray:
    """One run's map, shape ``(1, total, ny, nx)``."""
    t_start, t_stop, bin_size, nbins = window
    pixel = lay.pixel
    if shuffle is not None:  # the same permutation wherever the task runs
        pixel = np.random.default_rng(list(shuffle)).permutation(pixel)
    index, bins = bin_spikes(spikes.times, t_start, t_stop, bin_size, nbins)
    pix = pixel[spikes.unit_of_spike[index]]
    keep = pix >= 0
    shape = lay.shape
    npix = shape[0] * shape[1]
    flat = np.bincount(bins[keep] * npix + pix[keep], minlength=nbins * npix)
    counts = flat.reshape(nbins, *shape).astype(np.float64)
    kind, bin_ms = output
    if kind == "rate":  # per cell and second; NaN where a pixel has no cell
        cells = lay.cells_per_pixel().astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            counts *= np.where(cells > 0, 1000.0 / (cells * bin_ms), np.nan)
    out = np.full((1, total, *shape), np.nan)
    out[0, first : first + nbins] = counts
    return out


def _map_task(
    read: tuple[Any, ...],
    geometry: tuple[dict[str, Any], bool, Any, str],
    ref: tuple[np.ndarray, np.ndarray],
    *args: Any,
) -> np.ndarray:
    """Read a run's spikes and positions in one trip, lay its cells out, bin them.

    The positions are read here, by the task, not while the graph is built: building
    the graph of many runs then reads no array at all. A run whose grid differs from
    the first run's is refused here.
    """
    spikes = read_spikes(*read)
    structure, pynn, grid, where = geometry
    lay = layout(
        spikes.coords["x"], spikes.coords["y"], structure=structure, pynn=pynn, grid=grid,
        where=where,
    )  # fmt: skip
    _check_grid(lay, ref, where)
    return _bin_map(spikes, lay, *args)


def _check_grid(lay: Layout, ref: tuple[np.ndarray, np.ndarray], where: str) -> None:
    x, y = ref
    if (
        lay.x.shape != x.shape
        or lay.y.shape != y.shape
        or not (np.allclose(lay.x, x, rtol=_REL) and np.allclose(lay.y, y, rtol=_REL))
    ):
        raise SchemaError(
            f"{where}: its grid ({lay.shape[0]} x {lay.shape[1]} pixels from "
            f"x={lay.x[0]:g}, y={lay.y[0]:g}) differs from that of the first run "
            f"({y.size} x {x.size} from x={x[0]:g}, y={y[0]:g}); pass grid=(ny, nx) or "
            "map runs of one sheet size together"
        )


def activity_map(
    runs: Any,
    *,
    lake: Lake | None = None,
    population: str | None = None,
    segment: str | None = None,
    bin: Any = 2.0,
    grid: int | Sequence[int] | None = None,
    output: str = "counts",
    t_start: Any = None,
    t_stop: Any = None,
    shuffle: int | None = None,
) -> xr.DataArray:
    """Spikes of one population binned on a spatial grid over time, for every run.

    Parameters
    ----------
    runs : lake.search() DataFrame, Lake, intake catalog, DataTree(s), run ids, RunSet
        The runs (see :func:`opsnn_lake.analysis.as_runset`).
    lake : Lake, optional
        The lake of a DataFrame or of run ids.
    population : str, optional
        Population (group name or label); default the only one with positions (name
        ``"exc"`` of a ``v1_sheet`` run: ``inh`` has positions too).
    segment : str, optional
        Segment; default the only one.
    bin : float or Quantity
        Time bin (ms), default 2 ms.
    grid : int or (ny, nx), optional
        Pixels per side of the sheet's extent; default one pixel per grid position.
    output : {"counts", "rate"}
        Spikes per pixel and bin, or the rate per cell of the pixel (Hz; NaN without cells).
    t_start, t_stop : float or Quantity, optional
        Window (ms); default the trains' bounds.
    shuffle : int, optional
        Seed of a random permutation of the cells' positions before binning: a
        surrogate with the same rates and no spatial order (a control for waves).

    Returns
    -------
    xarray.DataArray
        Dims ``(run, time, y, x)``: ``time`` the bin start (ms), ``x``/``y`` pixel
        centres (µm for PyNN sheets); run parameters as coordinates on ``run``; attrs
        ``bin_ms``, ``periodic`` (1 if every run's sheet wraps around), ``population``.
        Lazy: one dask task per run (``maps.isel(run=0).sum("time").plot()``).

    Raises
    ------
    SchemaError
        On an unknown population or segment, a population without positions, several
        matching groups, runs with other pixel centres, a window off the time grid.
    """
    check_choice("output", output, OUTPUTS)
    bin_ms = check_bin_size(bin, "bin")
    sel = select(runs, lake, populations=population, segments=segment,
                 t_start=t_start, t_stop=t_stop)  # fmt: skip
    cache: dict[str, Any] = {}
    chosen = _one_group_per_run(sel, population is None, cache)
    spec = _MapSpec(bin_ms, grid, output, shuffle)
    return _build_map(sel, chosen, spec, population or "", cache)


@dataclass(frozen=True)
class _MapSpec:
    """The arguments of :func:`activity_map` that shape its tasks."""

    bin_ms: float
    grid: int | Sequence[int] | None
    output: str
    shuffle: int | None


def _build_map(
    sel: Selection,
    chosen: Sequence[GroupInfo],
    spec: _MapSpec,
    population: str,
    cache: dict[str, Any],
) -> xr.DataArray:
    """The graph of the maps (one task per run) and the lazy result."""
    windows = [group_bins(g, spec.bin_ms, *sel.window) for g in chosen]
    starts = [w[0] / g.native(1.0) for w, g in zip(windows, chosen, strict=True)]
    where = [g.where() for g in chosen]
    times, firsts = time_axis(starts, [w[3] for w in windows], spec.bin_ms, where=where)
    # The first run's grid is the map's (read now, for the coordinates); every other
    # run is laid out by its own task and must give the same pixel centres.
    ref = group_layout(chosen[0], spec.grid, cache=cache) if chosen else None
    ref_xy = (ref.x, ref.y) if ref is not None else (np.zeros(0), np.zeros(0))
    plan = Plan(
        "activity_map", (spec.bin_ms, spec.grid, spec.output, *sel.window, spec.shuffle), chosen
    )
    blocks = []
    for i, g in enumerate(chosen):
        read = (g.reader, g.path, 0, g.n_units, g.n_units, ["x", "y"], dict(g.spike_attrs))
        shuffled = None if spec.shuffle is None else (int(spec.shuffle), i)
        rest = (windows[i], firsts[i], times.size, (spec.output, spec.bin_ms), shuffled)
        blocks.append((_map_task, read, _geometry(g, spec.grid, cache), ref_xy, *rest))
    ny, nx = ref.shape if ref is not None else (0, 0)
    data = plan.array("activity_map", blocks, ((1,) * len(blocks), (times.size,), (ny,), (nx,)))
    periodic = [bool(_structure(g, cache).get("periodic", False)) for g in chosen]
    attrs = {
        "long_name": f"activity map ({spec.output})",
        "units": "Hz" if spec.output == "rate" else "1",
        "bin_ms": spec.bin_ms,
        "output": spec.output,
        "population": population or (chosen[0].population if chosen else ""),
        "periodic": int(bool(periodic) and all(periodic)),
        "shuffled": -1 if spec.shuffle is None else int(spec.shuffle),
    }
    return _map_result(sel, chosen, data, times, ref, attrs)


def _one_group_per_run(
    sel: Selection, need_positions: bool, cache: dict[str, Any]
) -> list[GroupInfo]:
    """The group each run maps: the only one selected (or, with no population named,
    the only one with positions).

    Raises
    ------
    SchemaError
        If a run has no such group or several, or the group has no positions.
    """
    by_run: dict[str, list[GroupInfo]] = {}
    for g in sel.groups:
        by_run.setdefault(g.run, []).append(g)
    chosen: list[GroupInfo] = []
    for run in sel.runset.run_ids:
        found = by_run.get(run, [])
        if need_positions:
            found = [g for g in found if _has_positions(g, cache)]
        if len(found) != 1:
            names = sorted({f"{g.segment}/{g.population}" for g in found})
            raise SchemaError(
                f"run {run!r}: {len(found)} groups match ({names or 'none with positions'}); "
                "pass population= (and segment=) naming exactly one"
            )
        if not _has_positions(found[0], cache):
            raise _no_positions(found[0])
        chosen.append(found[0])
    return chosen


def _map_result(
    sel: Selection,
    chosen: Sequence[GroupInfo],
    data: Any,
    times: np.ndarray,
    ref: Layout | None,
    attrs: dict[str, Any],
) -> xr.DataArray:
    """The maps with their coordinates: run (and its parameters), time, y, x."""
    import xarray as xr

    units = ref.units if ref is not None else "1"
    params = sel.runset.parameter_coords([g.run for g in chosen])
    coords: dict[str, Any] = {
        "run": [g.run for g in chosen],
        "time": time_coord(times),
        "y": xr.Variable("y", ref.y if ref else np.zeros(0), {"units": units}),
        "x": xr.Variable("x", ref.x if ref else np.zeros(0), {"units": units}),
        **{k: ("run", v) for k, v in params.items()},
    }
    return xr.DataArray(
        data, dims=("run", "time", "y", "x"), coords=coords, name="activity",
        attrs={**attrs, "position_units": units},
    )  # fmt: skip
