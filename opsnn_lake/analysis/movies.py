"""Movies of activity maps, and wave statistics across runs as figures.

:func:`activity_movie` draws one run's :func:`~opsnn_lake.analysis.space.activity_map`
frame by frame (a time stamp and a colour bar on every frame, one colour scale for the
whole movie) and writes an animated GIF with pillow, or an MP4 when ffmpeg is on the
``PATH``. It works alike for simulations (PyNN cell positions, µm) and input runs
(moving-bump grid cells, tonic pixels).

:func:`wave_statistic` gives a wave statistic in the shape
:func:`~opsnn_lake.analysis.plots.plot_statistic` draws across runs
(``opsnn-lake plot stat --stat wave_speed --x lambda_exc --y g_inh``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from opsnn_lake.analysis.selection import check_choice
from opsnn_lake.errors import SchemaError

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

    from opsnn_lake.lake import Lake

__all__ = ["WAVE_STATISTICS", "activity_movie", "movie_frame", "wave_statistic"]

#: Wave statistics for ``plot stat``: name -> (field of wave_velocity or "correlation").
WAVE_STATISTICS = {
    "wave_speed": "speed",
    "wave_direction": "direction",
    "wave_r2": "r2",
    "spatial_correlation": "correlation",
}


def _one_run_map(
    run_id: str,
    lake: Lake,
    population: str | None,
    bin_ms: float,
    grid: int | Sequence[int] | None,
    t_start: float | None,
    t_stop: float | None,
    smooth: int = 1,
) -> xr.DataArray:
    from opsnn_lake.analysis.space import activity_map

    maps = activity_map(
        [run_id],
        lake=lake,
        population=population,
        bin=bin_ms,
        grid=grid,
        output="rate",
        t_start=t_start,
        t_stop=t_stop,
    ).isel(run=0)
    if smooth > 1:  # a centred moving average over frames: single spikes become a trace
        attrs = dict(maps.attrs)
        maps = maps.rolling(time=int(smooth), center=True, min_periods=1).mean()
        maps.attrs.update(attrs)
    return maps


def _frame_figure(frames: xr.DataArray, vmax: float, smooth: int) -> tuple[Figure, Any, Any]:
    from matplotlib.figure import Figure

    bin_ms = float(frames.attrs["bin_ms"])
    smoothing = f", mean of {smooth} × {bin_ms:g} ms" if smooth > 1 else ""
    x, y = frames["x"].values, frames["y"].values
    dx = (x[1] - x[0]) if x.size > 1 else 1.0
    dy = (y[1] - y[0]) if y.size > 1 else 1.0
    extent = (x[0] - dx / 2, x[-1] + dx / 2, y[0] - dy / 2, y[-1] + dy / 2)
    units = frames["x"].attrs.get("units", "1")
    fig = Figure(figsize=(5.2, 4.4), dpi=80, layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(
        np.zeros((y.size, x.size)),
        origin="lower",
        extent=extent,
        cmap="magma",
        vmin=0.0,
        vmax=vmax,
        interpolation="nearest",
    )
    fig.colorbar(image, ax=ax, label="rate per cell (Hz)" + smoothing)
    axis = "µm" if units == "um" else ("pixel" if units == "1" else units)
    ax.set_xlabel(f"x ({axis})")
    ax.set_ylabel(f"y ({axis})")
    stamp = ax.text(
        0.02,
        0.97,
        "",
        transform=ax.transAxes,
        va="top",
        ha="left",
        color="white",
        fontsize=10,
        bbox={"facecolor": "black", "alpha": 0.5, "pad": 2, "edgecolor": "none"},
    )
    return fig, image, stamp


def _scale(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    top = float(np.percentile(finite, 99.5)) if finite.size else 0.0
    return top if top > 0 else 1.0


def movie_frame(
    run_id: str,
    *,
    lake: Lake,
    time: float,
    population: str | None = None,
    bin: float = 2.0,
    grid: int | Sequence[int] | None = None,
    smooth: int = 1,
    path: str | Path | None = None,
) -> Figure:
    """One frame of :func:`activity_movie`: the bin holding ``time`` (ms), as a figure.

    Parameters are those of :func:`activity_movie`; ``path`` writes a PNG.
    """
    frames = _one_run_map(run_id, lake, population, bin, grid, None, None, smooth).compute()
    index = int(np.clip(np.searchsorted(frames["time"].values, time, side="right") - 1, 0, None))
    fig, image, stamp = _frame_figure(frames, _scale(frames.values), smooth)
    _draw(frames, index, image, stamp, run_id, float(frames.attrs["bin_ms"]))
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=fig.dpi)
    return fig


def _draw(frames: xr.DataArray, i: int, image: Any, stamp: Any, run_id: str, bin_ms: float):
    image.set_data(np.ma.masked_invalid(frames.values[i]))
    t0 = float(frames["time"].values[i])
    stamp.set_text(f"{run_id}\nt = {t0:.1f}–{t0 + bin_ms:.1f} ms")


def activity_movie(
    run_id: str,
    *,
    lake: Lake,
    path: str | Path,
    population: str | None = None,
    bin: float = 2.0,
    grid: int | Sequence[int] | None = None,
    t_start: float | None = None,
    t_stop: float | None = None,
    fps: float = 10.0,
    smooth: int = 1,
) -> Path:
    """Write a movie of one run's activity map (rate per cell), frame by time bin.

    Parameters
    ----------
    run_id : str
        The run (a simulation or an input run with positions).
    lake : Lake
        Its lake.
    path : path-like
        Output file: ``.gif`` (pillow) or ``.mp4`` (needs ffmpeg on the PATH).
    population : str, optional
        Population to show (e.g. ``"exc"``); default the only one with positions.
    bin : float
        Frame duration in simulated time (ms), default 2 ms.
    grid : int or (ny, nx), optional
        Pixels per side (see :func:`~opsnn_lake.analysis.space.activity_map`).
    t_start, t_stop : float, optional
        Time range (ms); default the whole run.
    fps : float
        Frames per second of the movie.
    smooth : int
        Each frame the centred mean of this many bins (1: raw); sparse spikes leave a trace.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    SchemaError
        On an unknown suffix, an MP4 without ffmpeg, or what ``activity_map`` refuses.
    """
    write = _writer(path := Path(path))
    frames = _one_run_map(run_id, lake, population, bin, grid, t_start, t_stop, smooth).compute()
    if frames.sizes["time"] == 0:
        raise SchemaError(f"run {run_id!r}: no time bins to show")
    fig, image, stamp = _frame_figure(frames, _scale(frames.values), smooth)
    bin_ms = float(frames.attrs["bin_ms"])

    def draw(i: int) -> None:
        _draw(frames, i, image, stamp, run_id, bin_ms)

    path.parent.mkdir(parents=True, exist_ok=True)
    write(fig, draw, frames.sizes["time"], path, fps)
    return path


def _writer(path: Path) -> Callable[..., None]:
    """The writer of a movie file, chosen by its suffix (checked before any work)."""
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise SchemaError(f"{path}: movies are .gif or .mp4, got {suffix or 'no suffix'!r}")
    if suffix == ".mp4" and shutil.which("ffmpeg") is None:
        raise SchemaError(f"{path}: writing MP4 needs ffmpeg on the PATH; write a .gif instead")
    return _write_mp4 if suffix == ".mp4" else _write_gif


def _write_mp4(fig: Figure, draw: Callable[[int], None], n: int, path: Path, fps: float) -> None:
    """The frames as an MP4 (ffmpeg), ``draw(i)`` updating the figure to frame ``i``."""
    from matplotlib.animation import FFMpegWriter

    writer = FFMpegWriter(fps=max(1, round(fps)))
    with writer.saving(fig, str(path), dpi=fig.dpi):
        for i in range(n):
            draw(i)
            writer.grab_frame()


def _write_gif(fig: Figure, draw: Callable[[int], None], n: int, path: Path, fps: float) -> None:
    """The frames as an animated GIF (pillow), with one palette for all frames."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(fig)
    images = []
    for i in range(n):
        draw(i)
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        images.append(Image.fromarray(rgba[..., :3]))
    # One shared palette keeps the colour bar's colours the same in every frame.
    palette = images[len(images) // 2].quantize(colors=255)
    frames_p = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    frames_p[0].save(
        path,
        save_all=True,
        append_images=frames_p[1:],
        duration=max(20, round(1000 / fps)),
        loop=0,
    )


def wave_statistic(
    runs: Any,
    stat: str = "wave_speed",
    *,
    lake: Lake | None = None,
    population: str | None = None,
    bin: float = 5.0,
    grid: int | Sequence[int] | None = None,
    window: float | None = None,
    t_start: float | None = None,
    t_stop: float | None = None,
) -> xr.DataArray:
    """A wave statistic per run, shaped for :func:`~opsnn_lake.analysis.plots.plot_statistic`.

    Parameters
    ----------
    runs : lake.search() DataFrame, Lake, intake catalog, DataTree(s), run ids, RunSet
        The runs.
    stat : str
        One of :data:`WAVE_STATISTICS`: ``wave_speed`` (µm/ms), ``wave_direction``
        (degrees), ``wave_r2`` (fit quality), ``spatial_correlation`` (mean over
        distances).
    lake : Lake, optional
        The lake of a DataFrame or of run ids.
    population, bin, grid, t_start, t_stop
        As :func:`~opsnn_lake.analysis.space.activity_map` (``bin`` default 5 ms).
    window : float, optional
        Window (ms) of :func:`~opsnn_lake.analysis.waves.wave_velocity`; windows of a
        run are averaged by the plot.

    Returns
    -------
    xarray.DataArray
        Dims ``(group, window)``, ``group`` one per run with ``run`` and the run
        parameters as coordinates. Lazy.

    Raises
    ------
    SchemaError
        On an unknown statistic (the message lists the valid ones).
    """
    from opsnn_lake.analysis.space import activity_map

    check_choice("stat", stat, WAVE_STATISTICS)
    maps = activity_map(
        runs, lake=lake, population=population, bin=bin, grid=grid, t_start=t_start, t_stop=t_stop
    )
    value = _wave_value(maps, WAVE_STATISTICS[stat], window)
    value.name = stat
    runs_ids = value["run"].values
    # plot_statistic averages over a per-run index dim: one "group" per run.
    value = value.drop_vars("run").rename(run="group").assign_coords(run=("group", runs_ids))
    value.attrs["population"] = maps.attrs.get("population", "")
    return value


def _wave_value(maps: xr.DataArray, field: str, window: float | None) -> xr.DataArray:
    """A field of :func:`wave_velocity`, or the spatial correlation averaged over distance."""
    from opsnn_lake.analysis.waves import spatial_correlation, wave_velocity

    if field == "correlation":
        value = spatial_correlation(maps, window=window).mean("distance", skipna=True)
        value.attrs.update(long_name="mean spatial correlation", units="1")
        return value
    value = wave_velocity(maps, window=window)[field]
    value.attrs.setdefault("long_name", field)
    return value
