"""``opsnn-lake analyse`` and ``opsnn-lake plot``: statistics and figures from the shell.

::

    opsnn-lake analyse --where model=va --where g_inh=40..60 --stat rate --stat cv
    opsnn-lake analyse --stat psd --bin-size 1 --output psd.zarr
    opsnn-lake plot raster va-0123abcd -o raster.png
    opsnn-lake plot stat --stat rate --x g_inh --hue n_pop -o rate.png
    opsnn-lake plot movie v1_sheet-0123abcd --population exc --bin 2 -o run.gif
    opsnn-lake plot stat --stat wave_speed --x lambda_exc --y g_inh -o speed.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from opsnn_lake.cli_lake import parse_where
from opsnn_lake.cluster import CLUSTERS
from opsnn_lake.errors import SchemaError
from opsnn_lake.lake import Lake

__all__ = ["configure", "run"]

_WINDOWED = ("rate", "fano", "correlation", "population_rate", "psd", "psth")
# Options shared by several statistics, and the keyword each statistic knows them by.
_OPTION_KEYWORDS: dict[str, dict[str, str]] = {
    "bin_size": {
        "correlation": "bin_size",
        "population_rate": "bin_size",
        "psd": "bin_size",
        "psth": "bin_size",
    },
    "window": {"fano": "window"},
    "units": {"correlation": "units"},
    "signal": {"signals": "signal"},
    "t_start": {s: "t_start" for s in _WINDOWED},
    "t_stop": {s: "t_stop" for s in _WINDOWED},
}


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    """Add the options of ``analyse`` or ``plot``."""
    from opsnn_lake.analysis import STATISTICS
    from opsnn_lake.analysis.movies import WAVE_STATISTICS

    if command == "analyse":
        _selection(parser)
        parser.add_argument(
            "--stat",
            action="append",
            choices=list(STATISTICS),
            metavar="NAME",
            help="statistic to compute, repeatable (default: rate, cv); one of "
            + ", ".join(STATISTICS),
        )
        _options(parser)
        parser.add_argument(
            "-o", "--output", help="write the results to this .zarr (groups) or .nc file"
        )
        parser.add_argument("--workers", type=int, help="worker processes (default: threads)")
        parser.add_argument(
            "--scheduler", help="address of a dask.distributed scheduler to compute on"
        )
        parser.add_argument(
            "--cluster",
            choices=CLUSTERS,
            help="compute on local worker processes or on SLURM jobs (dask-jobqueue)",
        )
        parser.add_argument(
            "--slurm-config",
            metavar="YAML",
            help="SLURM options for --cluster slurm (partition, jobs, cores, memory, "
            "walltime, modules, env); default: ./slurm.yaml if present",
        )
        return
    sub = parser.add_subparsers(dest="plot", required=True, metavar="{raster,stat,movie}")
    ras = sub.add_parser("raster", help="raster of one run, populations coloured")
    ras.add_argument("run_id", help="the run to plot")
    ras.add_argument("--segment", help="segment to show (default: the first)")
    ras.add_argument("--population", action="append", help="population to show, repeatable")
    ras.add_argument("--t-start", type=float, help="start of the time range (ms)")
    ras.add_argument("--t-stop", type=float, help="end of the time range (ms)")
    ras.add_argument("-o", "--output", help="PNG file (default: raster-<run id>.png)")
    stat = sub.add_parser("stat", help="a statistic against one or two parameters")
    _selection(stat)
    names = [*STATISTICS, *WAVE_STATISTICS]
    stat.add_argument("--stat", required=True, choices=names, metavar="NAME",
                      help=f"the statistic; one of {', '.join(names)}")  # fmt: skip
    stat.add_argument("--x", required=True, help="parameter on the x axis")
    group = stat.add_mutually_exclusive_group()
    group.add_argument("--hue", help="second parameter, or 'population': one line per value")
    group.add_argument("--y", help="second parameter: heat map over (x, y)")
    stat.add_argument("--log", action="store_true", help="logarithmic value axis")
    _options(stat)
    stat.add_argument("--bin", type=float, help="wave statistics: activity-map bin in ms")
    stat.add_argument("-o", "--output", help="PNG file (default: <stat>-vs-<x>.png)")
    _movie_parser(sub)


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


def _selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--where", action="append", metavar="KEY=VALUE",
        help="select runs (repeatable): key=value, key=lo..hi, key=[a,b]",
    )  # fmt: skip
    parser.add_argument("--population", action="append", help="population, repeatable")
    parser.add_argument("--segment", action="append", help="segment, repeatable")


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bin-size", type=float, help="bin width in ms (rates, PSD, PSTH…)")
    parser.add_argument("--window", type=float, help="Fano factor counting window in ms")
    parser.add_argument("--units", type=int, help="units per population for correlations")
    parser.add_argument("--signal", help="analog signal to summarise (default: v)")
    parser.add_argument("--t-start", type=float, help="start of the analysed window (ms)")
    parser.add_argument("--t-stop", type=float, help="end of the analysed window (ms)")


def _stat_options(args: argparse.Namespace, stats: list[str]) -> dict[str, dict[str, Any]]:
    options: dict[str, dict[str, Any]] = {}
    for option, keywords in _OPTION_KEYWORDS.items():
        value = getattr(args, option, None)
        if value is None:
            continue
        used = [s for s in stats if s in keywords]
        if not used:
            raise SchemaError(
                f"--{option.replace('_', '-')} applies to {', '.join(sorted(keywords))}; "
                f"not to {', '.join(stats)}"
            )
        for name in used:
            options.setdefault(name, {})[keywords[name]] = value
    return options


def _runs(args: argparse.Namespace) -> tuple[Lake, Any]:
    lake = Lake(args.lake, mode="r")
    return lake, lake.search(**parse_where(args.where))


def run(args: argparse.Namespace) -> int:
    """Run ``analyse`` or ``plot``."""
    if args.command == "analyse":
        return _analyse(args)
    if args.plot == "raster":
        return _raster(args)
    if args.plot == "movie":
        return _movie(args)
    return _plot_stat(args)


def _compute(tree: Any, args: argparse.Namespace) -> Any:
    """Compute batched (see :mod:`opsnn_lake.analysis.plan`): on ``--workers N`` worker
    processes, a scheduler or a cluster when asked (reads scale with processes, not
    with threads, which share one GIL), else on threads in this process."""
    import dask

    from opsnn_lake.analysis import compute

    if args.scheduler or args.cluster or args.workers:
        from opsnn_lake.cluster import SlurmOptions, dask_client, load_slurm_options

        config = args.slurm_config or ("slurm.yaml" if Path("slurm.yaml").is_file() else None)
        slurm = load_slurm_options(config) if config else SlurmOptions()
        with dask_client(
            scheduler=args.scheduler, cluster=args.cluster, slurm=slurm, workers=args.workers
        ):
            return compute(tree)
    with dask.config.set(scheduler="threads"):
        return compute(tree)


def _analyse(args: argparse.Namespace) -> int:
    import pandas as pd

    from opsnn_lake.analysis import analyse, save, summary_table

    lake, runs = _runs(args)
    if runs.empty:
        print(f"no runs in {lake.path} match {args.where or 'the lake'}; nothing to analyse")
        return 1
    stats = args.stat or ["rate", "cv"]
    start = time.perf_counter()
    tree = analyse(
        runs,
        stats,
        lake=lake,
        options=_stat_options(args, stats),
        populations=args.population,
        segments=args.segment,
    )
    tree = _compute(tree, args)
    seconds = time.perf_counter() - start
    table = summary_table(tree)
    with pd.option_context("display.max_rows", 200, "display.width", 200):
        print(table.to_string(float_format=lambda v: f"{v:.4g}"))
    print(f"{len(runs)} runs, {', '.join(dict.fromkeys(stats))} in {seconds:.2f} s")
    if args.output:
        path = save(tree, args.output)
        print(f"wrote {path}")
    return 0


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

    lake, runs = _runs(args)
    if runs.empty:
        print(f"no runs in {lake.path} match {args.where or 'the lake'}; nothing to plot")
        return 1
    from opsnn_lake.display import units_of_runs

    if args.stat in WAVE_STATISTICS:
        value = _wave_value(args, lake, runs)
    else:
        kwargs = _stat_options(args, [args.stat]).get(args.stat, {})
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
    activity_movie(
        args.run_id,
        lake=lake,
        path=output,
        population=args.population,
        bin=args.bin,
        grid=args.grid,
        t_start=args.t_start,
        t_stop=args.t_stop,
        fps=args.fps,
        smooth=args.smooth,
    )
    print(f"wrote {output}")
    return 0
