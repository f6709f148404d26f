"""Travelling waves: velocity and spatial correlation of activity, from activity maps.

Both statistics take an :func:`~opsnn_lake.analysis.space.activity_map` (dims ``run``,
``time``, ``y``, ``x``) and stay lazy: one dask task per run, on that run's map only.

Velocity: the latency (trigger-time) gradient
---------------------------------------------
As cobrawap's planar-wave velocity, from the times at which activity passes each
place. In each time window, a pixel's *latency* is the activity-weighted mean time of
its activity above the window's median (the background); a plane
``latency = t0 + sx * x + sy * y`` is fitted by least squares weighted by each pixel's
activity above baseline. ``(sx, sy)`` is the slowness vector (ms/µm): the wave moves
along it at ``speed = 1 / |s|`` µm/ms, ``direction = atan2(sy, sx)`` (degrees,
0 = +x, 90 = +y). A wave is reported only where it explains the latencies: at least
``min_pixels`` active pixels and a weighted R² of at least ``min_r2``; elsewhere speed
and direction are NaN (no wave: silence, synchronous or unstructured activity, or
positions shuffled).

On a periodic sheet (a torus) the latency plane is fitted on coordinates cut where the
window's activity is lowest (the gap behind a bump or between fronts), so a wave that
crosses an edge is not broken in two; a wave that travels all the way round within one
window cannot be measured: make windows shorter than the time to cross the sheet.

Spatial correlation
-------------------
:func:`spatial_correlation`: the Pearson correlation of the activity time series of
every pair of pixels within a window, averaged over pairs in bins of distance
(periodic distance on a torus): how far activity is shared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from opsnn_lake.analysis.selection import check_choice
from opsnn_lake.errors import SchemaError

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["METHODS", "VELOCITY_FIELDS", "fit_velocity", "spatial_correlation", "wave_velocity"]

#: Per-window results of :func:`wave_velocity`, in the order of :func:`fit_velocity`.
VELOCITY_FIELDS = ("speed", "direction", "vx", "vy", "r2", "n_pixels")
#: Velocity estimators of :func:`wave_velocity`.
METHODS = ("centroid", "latency")


def _unwrap(coord: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Pixel coordinates of one axis of a torus cut at its least active position."""
    n = coord.size
    if n < 2:
        return coord
    step = coord[1] - coord[0]
    gap = int(np.argmin(weight))  # the cut goes through the emptiest row/column
    order = np.roll(np.arange(n), -(gap + 1))  # the pixel after the gap comes first
    out = np.empty(n)
    out[order] = coord[0] + step * np.arange(n)
    return out


def _axis_track(
    excess: np.ndarray, times: np.ndarray, coord: np.ndarray, periodic: bool
) -> tuple[float, float, float, float]:
    """Track the activity's centre along one axis; fit it by a line in time.

    ``excess`` is (time, n) activity above baseline summed over the other axis.
    Returns the velocity, the weighted residual and total sums of squares of the
    centre about the line and about its mean, and the activity's concentration
    (1: all at one place, 0: spread evenly; circular on a torus).
    """
    mass = excess.sum(axis=1)
    ok = mass > 0
    m, e, t = mass[ok], excess[ok], times[ok]
    step = coord[1] - coord[0] if coord.size > 1 else 1.0
    length = step * coord.size
    if periodic:
        return _circular_track(excess, times, ok, coord, length)
    centre = (e @ coord) / m
    spread = (e @ coord**2) / m - centre**2
    conc = 1.0 - np.clip(spread / (length**2 / 12.0), 0.0, 1.0)
    concentration = float(np.sum(m * conc) / np.sum(m))
    tm = np.average(t, weights=m)
    cm = np.average(centre, weights=m)
    var_t = np.sum(m * (t - tm) ** 2)
    v = float(np.sum(m * (t - tm) * (centre - cm)) / var_t) if var_t > 0 else 0.0
    resid = float(np.sum(m * (centre - cm - v * (t - tm)) ** 2))
    total = float(np.sum(m * (centre - cm) ** 2))
    return v, resid, total, concentration


def _circular_track(
    excess: np.ndarray, times: np.ndarray, ok: np.ndarray, coord: np.ndarray, length: float
) -> tuple[float, float, float, float]:
    """:func:`_axis_track` on a torus: a circular-linear fit of the centre's phase.

    The activity of a frame is a phasor ``z`` on the circle (its angle the circular
    centre, its length the mass times the concentration). The speed maximises
    ``|sum z exp(-i 2 pi v t / L)|``: the line that keeps the phases most aligned,
    found on a grid (a zero-padded FFT when frames are evenly spaced, as map bins are)
    then refined; no frame-to-frame unwrapping, which a frame of a few stray spikes
    would throw off by a whole turn.
    """
    theta = 2 * np.pi * (coord - coord[0]) / length
    z_all = excess @ np.exp(1j * theta)  # 0 in frames without activity
    m, z, t = excess[ok].sum(axis=1), z_all[ok], times[ok]
    concentration = float(np.abs(z).sum() / m.sum())
    if t.size < 2:
        return 0.0, 0.0, 0.0, concentration
    span = max(float(times[-1] - times[0]), 1e-12)
    steps = np.diff(times)
    dt = float(steps.min())

    def power(vs: np.ndarray) -> np.ndarray:
        return np.abs(np.exp(-2j * np.pi * np.outer(vs, t) / length) @ z)

    # Speeds beyond length / (2 dt) alias (a frame's move looks like one the other way
    # round); grid spacing a twentieth of the peak's width, length / span.
    resolution = length / span / 20
    if np.allclose(steps, dt, rtol=1e-9, atol=0):
        n = 1 << int(np.ceil(np.log2(20 * times.size)))
        spectrum = np.abs(np.fft.fft(z_all, n))
        v = float(np.fft.fftfreq(n, d=dt)[np.argmax(spectrum)] * length)
        resolution = length / (n * dt)
    else:
        v_max = length / (2 * dt)
        grid = np.arange(-v_max, v_max + resolution, resolution)
        v = float(grid[np.argmax(power(grid))])
    fine = np.linspace(v - resolution, v + resolution, 41)
    v = float(fine[np.argmax(power(fine))])
    rotated = z * np.exp(-2j * np.pi * v * t / length)
    phase = np.angle(rotated.sum())
    scale = length / (2 * np.pi)
    resid = float(np.sum(m * (np.angle(rotated * np.exp(-1j * phase)) * scale) ** 2))
    mean = np.angle(z.sum())
    total = float(np.sum(m * (np.angle(z * np.exp(-1j * mean)) * scale) ** 2))
    return v, resid, total, concentration


def _fit_centroid(
    excess: np.ndarray,
    times: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    periodic: bool,
    min_r2: float,
    min_concentration: float,
) -> np.ndarray:
    out = np.full(len(VELOCITY_FIELDS), np.nan)
    if int((excess.sum(axis=(1, 2)) > 0).sum()) < 3:
        return out
    vel, resid, total = [0.0, 0.0], 0.0, 0.0
    tracked = False
    for i, (summed, coord) in enumerate(((excess.sum(axis=1), x), (excess.sum(axis=2), y))):
        v, r, tot, conc = _axis_track(summed, times, np.asarray(coord, float), periodic)
        # An axis along which activity is spread out (a front parallel to it, or no
        # spatial order at all) has no centre to follow: no motion along it.
        if conc >= min_concentration:
            vel[i], resid, total, tracked = v, resid + r, total + tot, True
    r2 = 1.0 - resid / total if tracked and total > 0 else 0.0
    out[4] = r2
    speed = float(np.hypot(vel[0], vel[1]))
    if not tracked or r2 < min_r2 or not speed > 0:
        return out
    out[0], out[1] = speed, np.degrees(np.arctan2(vel[1], vel[0]))
    out[2], out[3] = vel
    return out


def fit_velocity(
    frames: np.ndarray,
    times: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    periodic: bool = False,
    method: str = "centroid",
    min_pixels: int = 10,
    min_r2: float = 0.5,
    min_concentration: float = 0.5,
) -> np.ndarray:
    """Velocity of the activity in one window of one map.

    Parameters
    ----------
    frames : numpy.ndarray
        Activity, shape (time, ny, nx); NaN (pixels without cells) counts as none.
    times : numpy.ndarray
        Time of each frame (ms), e.g. bin centres.
    x, y : numpy.ndarray
        Pixel centres (µm), lengths nx and ny.
    periodic : bool
        The sheet wraps around.
    method : {"centroid", "latency"}
        Track the activity's centre over time, or fit the latency plane (see the
        module docstring).
    min_pixels : int
        Fewest active pixels for a wave.
    min_r2 : float
        Smallest weighted R² of the fit for a wave.
    min_concentration : float
        ``"centroid"``: least concentration of activity along an axis to follow it.

    Returns
    -------
    numpy.ndarray
        ``speed`` (µm/ms), ``direction`` (degrees in (-180, 180]), ``vx``, ``vy``
        (µm/ms), ``r2``, ``n_pixels`` (see :data:`VELOCITY_FIELDS`); speed, direction,
        vx and vy are NaN when no wave is found.
    """
    a = np.nan_to_num(np.asarray(frames, dtype=np.float64), nan=0.0)
    out = np.full(len(VELOCITY_FIELDS), np.nan)
    if a.shape[0] < 2:
        out[5] = 0
        return out
    # Baseline: the window's median activity (background); a per-pixel median would
    # cut the middle out of a slow bump that covers a pixel for most of the window.
    excess = np.clip(a - np.median(a), 0.0, None)
    out[5] = n = int((excess.sum(axis=0) > 0).sum())  # active pixels
    if n < max(min_pixels, 3):
        return out
    if method == "centroid":
        fit = _fit_centroid(excess, times, x, y, periodic, min_r2, min_concentration)
        fit[5] = n
        return fit
    check_choice("method", method, METHODS)
    out[:5] = _fit_latency(excess, times, (x, y), periodic, min_r2)[:5]
    return out


def _fit_latency(
    excess: np.ndarray,
    times: np.ndarray,
    centres: tuple[np.ndarray, np.ndarray],
    periodic: bool,
    min_r2: float,
) -> np.ndarray:
    """The latency-plane fit of :func:`fit_velocity` (``n_pixels`` left NaN); ``centres``
    are the pixels' x and y."""
    x, y = centres
    out = np.full(len(VELOCITY_FIELDS), np.nan)
    w = excess.sum(axis=0)  # (ny, nx)
    active = w > 0
    latency = np.tensordot(times, excess, axes=(0, 0))[active] / w[active]
    xs, ys = (x, y)
    if periodic:
        xs = _unwrap(np.asarray(x, float), w.sum(axis=0))
        ys = _unwrap(np.asarray(y, float), w.sum(axis=1))
    gx, gy = np.meshgrid(xs, ys)
    px, py, wt = gx[active], gy[active], w[active]
    px, py = px - np.average(px, weights=wt), py - np.average(py, weights=wt)
    design = np.column_stack([np.ones(px.size), px, py])
    sw = np.sqrt(wt)
    coef, *_ = np.linalg.lstsq(design * sw[:, None], latency * sw, rcond=None)
    mean = np.average(latency, weights=wt)
    total = np.sum(wt * (latency - mean) ** 2)
    resid = np.sum(wt * (latency - design @ coef) ** 2)
    out[4] = r2 = 1.0 - resid / total if total > 0 else 0.0
    sx, sy = coef[1], coef[2]
    s2 = sx * sx + sy * sy
    if r2 < min_r2 or not s2 > 0:
        return out
    out[0] = 1.0 / np.sqrt(s2)
    out[1] = np.degrees(np.arctan2(sy, sx))
    out[2], out[3] = sx / s2, sy / s2
    return out


def _windows(
    times: np.ndarray, bin_ms: float, window: float | None, step: float | None
) -> list[tuple[int, int]]:
    """Frame ranges ``[a, b)`` of the windows."""
    n = times.size
    if window is None:
        return [(0, n)]
    width = max(1, round(window / bin_ms))
    stride = max(1, round((step if step is not None else window) / bin_ms))
    return [(a, a + width) for a in range(0, max(n - width, 0) + 1, stride)]


def _velocity_block(
    block: np.ndarray,
    spans: Sequence[tuple[int, int]],
    centres: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    periodic: bool,
    options: dict[str, Any],
) -> np.ndarray:
    out = np.empty((block.shape[0], len(spans), len(VELOCITY_FIELDS)))
    for r in range(block.shape[0]):
        for k, (a, b) in enumerate(spans):
            out[r, k] = fit_velocity(
                block[r, a:b],
                centres[a:b],
                x,
                y,
                periodic=periodic,
                **options,
            )
    return out


def _check_map(maps: Any, window: float | None = None) -> float:
    """The bin (ms) of an activity map, checked to hold two bins per window."""
    import xarray as xr

    if not isinstance(maps, xr.DataArray) or maps.dims != ("run", "time", "y", "x"):
        raise SchemaError(
            "expected an activity map (xarray.DataArray with dims run, time, y, x) from "
            f"opsnn_lake.analysis.activity_map, got {type(maps).__name__} "
            f"{getattr(maps, 'dims', '')}"
        )
    bin_ms = float(maps.attrs.get("bin_ms", 1.0))
    if window is not None and window < 2 * bin_ms:
        raise SchemaError(f"window={window} ms: expected at least two bins ({2 * bin_ms} ms)")
    return bin_ms


def _run_chunks(maps: xr.DataArray) -> Any:
    """The map's data as dask, one chunk per run, whole along time, y and x."""
    import dask.array as da

    data = maps.data if isinstance(maps.data, da.Array) else da.from_array(maps.data)
    return data.rechunk({0: 1, 1: -1, 2: -1, 3: -1})


def _window_coords(
    maps: xr.DataArray, spans: Sequence[tuple[int, int]], bin_ms: float
) -> dict[str, Any]:
    times = maps["time"].values
    starts = np.array([times[a] for a, _ in spans]) if times.size else np.zeros(0)
    stops = np.array([times[b - 1] + bin_ms for _, b in spans]) if times.size else np.zeros(0)
    # A run parameter named like a result (the bump's own ``speed``) gets a prefix.
    run_coords = {
        (f"param_{k}" if k in VELOCITY_FIELDS else str(k)): v.variable
        for k, v in maps.coords.items()
        if v.dims == ("run",)
    }
    return {
        **run_coords,
        "window_start": ("window", starts, {"units": "ms"}),
        "window_stop": ("window", stops, {"units": "ms"}),
    }


def wave_velocity(
    maps: xr.DataArray,
    *,
    window: float | None = None,
    step: float | None = None,
    method: str = "centroid",
    min_pixels: int = 10,
    min_r2: float = 0.5,
    min_concentration: float = 0.5,
) -> xr.Dataset:
    """Speed and direction of travelling activity, per run and time window.

    Parameters
    ----------
    maps : xarray.DataArray
        An :func:`~opsnn_lake.analysis.activity_map` (counts or rates).
    window : float, optional
        Window length (ms); default one window over the whole map.
    step : float, optional
        Start-to-start distance of windows (ms); default ``window`` (no overlap).
    method : {"centroid", "latency"}
        Estimator (see the module docstring); default ``"centroid"``.
    min_pixels : int
        Fewest active pixels for a wave (default 10).
    min_r2 : float
        Smallest weighted R² of the fit for a wave (default 0.5).
    min_concentration : float
        ``"centroid"``: least concentration of activity along an axis to follow it (0.5).

    Returns
    -------
    xarray.Dataset
        On dims ``(run, window)``: ``speed`` (µm/ms, or pixels/ms for input runs),
        ``direction`` (degrees, 0 = +x, 90 = +y), ``vx``, ``vy``, ``r2`` and
        ``n_pixels``; NaN speed where no wave is found. Run parameters and
        ``window_start``/``window_stop`` (ms) as coordinates. Lazy: one task per run.

    Raises
    ------
    SchemaError
        If ``maps`` is not an activity map, or a window is shorter than two bins.

    Examples
    --------
    >>> wave_velocity(activity_map(runs, lake=lake, bin=5.0), window=100.0)  # doctest: +SKIP
    """
    check_choice("method", method, METHODS)
    bin_ms = _check_map(maps, window)
    spans = _windows(maps["time"].values, bin_ms, window, step)
    options = {"method": method, "min_pixels": int(min_pixels), "min_r2": float(min_r2),
               "min_concentration": float(min_concentration)}  # fmt: skip
    fields = _per_window(maps, _velocity_block, len(VELOCITY_FIELDS), spans,
                         maps["time"].values + bin_ms / 2, maps["x"].values, maps["y"].values,
                         bool(maps.attrs.get("periodic", 0)), options)  # fmt: skip
    attrs = {"method": method, "window_ms": -1.0 if window is None else float(window),
             "min_r2": float(min_r2), "min_pixels": int(min_pixels),
             "population": maps.attrs.get("population", "")}  # fmt: skip
    return _velocity_dataset(maps, fields, _window_coords(maps, spans, bin_ms), attrs)


def _velocity_dataset(
    maps: xr.DataArray, fields: Any, coords: dict[str, Any], attrs: dict[str, Any]
) -> xr.Dataset:
    """One variable per field of :data:`VELOCITY_FIELDS`, on ``(run, window)``."""
    import xarray as xr

    field_attrs = _velocity_attrs(f"{maps['x'].attrs.get('units', '1')}/ms")
    variables = {
        name: xr.DataArray(fields[:, :, i], dims=("run", "window"), attrs=field_attrs[name])
        for i, name in enumerate(VELOCITY_FIELDS)
    }
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _velocity_attrs(speed_units: str) -> dict[str, dict[str, str]]:
    return {
        "speed": {"units": speed_units, "long_name": "wave speed"},
        "direction": {"units": "degree", "long_name": "wave direction (0 = +x, 90 = +y)"},
        "vx": {"units": speed_units},
        "vy": {"units": speed_units},
        "r2": {"units": "1", "long_name": "weighted R² of the fit"},
        "n_pixels": {"units": "1", "long_name": "active pixels"},
    }


def _per_window(
    maps: xr.DataArray,
    block: Callable[..., np.ndarray],
    n_values: int,
    spans: Sequence[tuple[int, int]],
    *args: Any,
) -> Any:
    """``block(run_maps, spans, *args)`` on each run's chunk: (run, window, n_values)."""
    data = _run_chunks(maps)
    return data.map_blocks(
        block,
        spans,
        *args,
        drop_axis=[3],
        chunks=(data.chunks[0], (len(spans),), (n_values,)),
        dtype=np.float64,
    )


def _distances(x: np.ndarray, y: np.ndarray, periodic: bool) -> np.ndarray:
    gx, gy = np.meshgrid(x, y)
    px, py = gx.ravel(), gy.ravel()
    dx = np.abs(px[:, None] - px[None, :])
    dy = np.abs(py[:, None] - py[None, :])
    if periodic and x.size > 1 and y.size > 1:
        lx = (x[1] - x[0]) * x.size
        ly = (y[1] - y[0]) * y.size
        dx = np.minimum(dx, lx - dx)
        dy = np.minimum(dy, ly - dy)
    return np.hypot(dx, dy)


def _correlation_block(
    block: np.ndarray,
    spans: Sequence[tuple[int, int]],
    pair_bin: np.ndarray,
    n_bins_d: int,
) -> np.ndarray:
    out = np.full((block.shape[0], len(spans), n_bins_d), np.nan)
    upper = np.triu_indices(pair_bin.shape[0], k=1)
    bins = pair_bin[upper]
    for r in range(block.shape[0]):
        for k, (a, b) in enumerate(spans):
            series = np.nan_to_num(block[r, a:b].reshape(b - a, -1), nan=0.0)
            z = series - series.mean(axis=0)
            norm = np.sqrt((z * z).sum(axis=0))
            ok = norm > 0
            z[:, ok] /= norm[ok]
            corr = z.T @ z
            values = corr[upper]
            valid = ok[upper[0]] & ok[upper[1]] & (bins >= 0)
            sums = np.bincount(bins[valid], weights=values[valid], minlength=n_bins_d)
            counts = np.bincount(bins[valid], minlength=n_bins_d)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[r, k] = sums[:n_bins_d] / counts[:n_bins_d]
    return out


def spatial_correlation(
    maps: xr.DataArray,
    *,
    distances: Sequence[float] | None = None,
    window: float | None = None,
    step: float | None = None,
) -> xr.DataArray:
    """Mean correlation of pixels' activity against their distance, per run and window.

    Parameters
    ----------
    maps : xarray.DataArray
        An :func:`~opsnn_lake.analysis.activity_map`.
    distances : sequence of float, optional
        Edges of the distance bins (µm, or pixels for inputs); default 10 bins from 0
        to half the sheet's diagonal.
    window, step : float, optional
        Windows (ms) as in :func:`wave_velocity`; default the whole map.

    Returns
    -------
    xarray.DataArray
        Dims ``(run, window, distance)``: the Pearson correlation of pixel activity
        time series averaged over pixel pairs whose distance (periodic on a torus)
        falls in the bin; ``distance`` is the bin centre. Pixels with no activity
        variance are left out. Lazy: one task per run.

    Raises
    ------
    SchemaError
        If ``maps`` is not an activity map or the distance edges are not increasing.
    """
    import xarray as xr

    bin_ms = _check_map(maps)
    periodic = bool(maps.attrs.get("periodic", 0))
    edges, pair_bin = _distance_bins(maps["x"].values, maps["y"].values, periodic, distances)
    spans = _windows(maps["time"].values, bin_ms, window, step)
    n_d = edges.size - 1
    values = _per_window(maps, _correlation_block, n_d, spans, pair_bin, n_d)
    coords = _window_coords(maps, spans, bin_ms)
    units = maps["x"].attrs.get("units", "1")
    coords["distance"] = ("distance", (edges[:-1] + edges[1:]) / 2, {"units": units})
    return xr.DataArray(
        values,
        dims=("run", "window", "distance"),
        coords=coords,
        name="spatial_correlation",
        attrs={
            "long_name": "correlation of pixel activity against distance",
            "units": "1",
            "distance_edges": edges.tolist(),
        },
    )


def _distance_bins(
    x: np.ndarray, y: np.ndarray, periodic: bool, distances: Sequence[float] | None
) -> tuple[np.ndarray, np.ndarray]:
    """The distance bins' edges and the bin of every pixel pair (-1: none).

    Raises
    ------
    SchemaError
        If the edges given are not increasing.
    """
    dist = _distances(x, y, periodic)
    if distances is None:
        span = np.hypot(np.ptp(x) if x.size else 0.0, np.ptp(y) if y.size else 0.0)
        edges = np.linspace(0.0, span / 2 if periodic else span, 11)
    else:
        edges = np.asarray(distances, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or not (np.diff(edges) > 0).all():
        raise SchemaError(f"distances={distances!r}: expected increasing bin edges")
    pair_bin = np.searchsorted(edges, dist, side="right") - 1
    pair_bin[(dist >= edges[-1]) | (pair_bin < 0)] = -1
    return edges, pair_bin
