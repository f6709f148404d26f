"""``opsnn-lake plot raster|stat|movie``: figures of one run or across runs.

::

    opsnn-lake plot raster va-0123abcd -o raster.png
    opsnn-lake plot stat --stat rate --x g_inh --hue n_pop -o rate.png
    opsnn-lake plot movie v1_sheet-0123abcd --population exc --bin 2 -o run.gif
    opsnn-lake plot stat --stat wave_speed --x lambda_exc --y g_inh -o speed.png
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from opsnn_lake.cli import lake_option
from opsnn_lake.cli._args import keywords
from opsnn_lake.cli._stats import add_options, add_selection, selected_runs, stat_options
from opsnn_lake.errors import SchemaError
from opsnn_lake.lake import Lake

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``opsnn-lake plot`` and its three kinds of figure."""
    from opsnn_lake.analysis import STATISTICS
    from opsnn_lake.analysis.movies import WAVE_STATISTICS

    sub = parser.add_subparsers(dest="plot", required=True, metavar="{raster,stat,movie}")
    ras = sub.add_parser("raster", help="raster of one run, populations coloured")
    ras.add_argument("run_id", help="the run to plot")
    ras.add_argument("--segment", help="segment to show (default: the first)")
    ras.add_argument("--population", action="append", help="population to show, repeatable")
    ras.add_argument("--t-start", type=float, help="start of the time range (ms)")
    ras.add_argument("--t-stop", type=float, help="end of the time range (ms)")
    ras.add_argument("-o", "--output", help="PNG file (default: raster-<run id>.png)")
    stat = sub.add_parser("stat", help="a statistic against one or two parameters")
    add_selection(stat)
    names = [*STATISTICS, *WAVE_STATISTICS]
    stat.add_argument("--stat", required=True, choices=names, metavar="NAME",
                      help=f"the statistic; one of {', '.join(names)}")  # fmt: skip
    stat.add_argument("--x", required=True, help="parameter on the x axis")
    group = stat.add_mutually_exclusive_group()
    group.add_argument("--hue", help="second parameter, or 'population': one line per value")
    group.add_argument("--y", help="second parameter: heat map over (x, y)")
    stat.add_argument("--log", action="store_true", help="logarithmic value axis")
    add_options(stat)
    stat.add_argument("--bin", type=float, help="wave statistics: activity-map bin in ms")
    stat.add_argument("-o", "--output", help="PNG file (default: <stat>-vs-<x>.png)")
    _movie_parser(sub)
    for kind in sub.choices.values():  # `plot raster RUN --lake X` as well as `plot --lake X …`
        lake_option(kind)


def _movie_parser(sub: Any) -> None:
    movie = sub.add_parser("movie", help="movie of one run's activity map (GIF, or MP4)")
    movie.add_argument("run_id", help="the run (a simulation or an input run)")
    movie.add_argument("--population", help="population (default: the only one with positions)")
    movie.add_argument("--bin", type=float, default=2.0, help="frame duration in ms (default 2)")
    movie.add_argument("--grid", type=int, help="pixels per side (default: one per grid cell)")
    movie.add_argument("--t-start", type=float, help="start of the time range (ms)")
    movie.add_argument("--t-stop", type=float, help="end of the time range (ms)")
    movie.add_argument("--fps", type=float, default=10.0, help="frames per second (default 10)")
    movie.add_argument("--smooth", type=int, default=1, help="frame = mean of N bins (default 1)")
    movie.add_argument("-o", "--output", help=".gif or .mp4 file (default: <run id>.gif)")


def run(args: argparse.Namespace) -> int:
    """Draw the figure ``args.plot`` names."""
    if args.plot == "raster":
        return _raster(args)
    if args.plot == "movie":
        return _movie(args)
    return _plot_stat(args)


def _raster(args: argparse.Namespace) -> int:
    from opsnn_lake.analysis.plots import raster

    lake = Lake(args.lake, mode="r")
    output = Path(args.output or f"raster-{args.run_id}.png")
    raster(
        args.run_id,
        lake=lake,
        segment=args.segment,
        populations=args.population,
        t_start=args.t_start,
        t_stop=args.t_stop,
        path=output,
    )
    print(f"wrote {output}")
    return 0


def _plot_stat(args: argparse.Namespace) -> int:
    from opsnn_lake.analysis import STATISTICS
    from opsnn_lake.analysis.movies import WAVE_STATISTICS
    from opsnn_lake.analysis.plots import plot_statistic

    lake, runs = selected_runs(args)
    if runs.empty:
        print(f"no runs in {lake.path} match {args.where or 'the lake'}; nothing to plot")
        return 1
    from opsnn_lake.display import units_of_runs

    if args.stat in WAVE_STATISTICS:
        # Runs without the plotted parameters (a sweep's input runs) have no place on
        # the axes; the other statistics skip them too (no such population).
        for axis in (args.x, args.y):
            if axis and axis in runs.columns:
                runs = runs[runs[axis].notna()]
        if runs.empty:
            print(f"no runs in {lake.path} have {args.x!r}; nothing to plot")
            return 1
        value = _wave_value(args, lake, runs)
    else:
        kwargs = stat_options(args, [args.stat]).get(args.stat, {})
        value = STATISTICS[args.stat](
            runs, lake=lake, populations=args.population, segments=args.segment, **kwargs
        )
        if args.stat == "signals":  # a Dataset: plot the time-averaged mean
            value = value["mean"]
    output = Path(args.output or f"{args.stat}-vs-{args.x}.png")
    units = units_of_runs(lake.path, runs)
    plot_statistic(
        value, args.x, hue=args.hue, y=args.y, path=output, logy=args.log or None, units=units
    )
    print(f"wrote {output}")
    return 0


def _wave_value(args: argparse.Namespace, lake: Lake, runs: Any) -> Any:
    from opsnn_lake.analysis.movies import wave_statistic

    for option in ("bin_size", "units", "signal", "segment"):
        if getattr(args, option, None):
            raise SchemaError(
                f"--{option.replace('_', '-')} does not apply to {args.stat}; "
                "use --bin, --window, --t-start, --t-stop, --population"
            )
    pops = args.population or []
    if len(pops) > 1:
        raise SchemaError(f"{args.stat}: give one --population, got {pops}")
    return wave_statistic(
        runs,
        args.stat,
        lake=lake,
        population=pops[0] if pops else None,
        bin=args.bin or 5.0,
        window=args.window,
        t_start=args.t_start,
        t_stop=args.t_stop,
    )


def _movie(args: argparse.Namespace) -> int:
    from opsnn_lake.analysis.movies import activity_movie

    lake = Lake(args.lake, create=False)
    output = Path(args.output or f"{args.run_id}.gif")
    options = keywords(args, "population", "bin", "grid", "t_start", "t_stop", "fps", "smooth")
    activity_movie(args.run_id, lake=lake, path=output, **options)
    print(f"wrote {output}")
    return 0
