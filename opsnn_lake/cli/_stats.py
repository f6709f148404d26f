"""What ``analyse`` and ``plot stat`` share: run selection and statistic options."""

from __future__ import annotations

import argparse
from typing import Any

from opsnn_lake.cli._where import add_where, parse_where
from opsnn_lake.errors import SchemaError
from opsnn_lake.lake import Lake

__all__ = ["add_options", "add_selection", "selected_runs", "stat_options"]

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


def add_selection(parser: argparse.ArgumentParser) -> None:
    """``--where``, ``--population``, ``--segment``."""
    add_where(parser)
    parser.add_argument("--population", action="append", help="population, repeatable")
    parser.add_argument("--segment", action="append", help="segment, repeatable")


def add_options(parser: argparse.ArgumentParser) -> None:
    """Options of the statistics (bin size, window, units, signal, time range)."""
    parser.add_argument("--bin-size", type=float, help="bin width in ms (rates, PSD, PSTH…)")
    parser.add_argument("--window", type=float, help="Fano factor counting window in ms")
    parser.add_argument("--units", type=int, help="units per population for correlations")
    parser.add_argument("--signal", help="analog signal to summarise (default: v)")
    parser.add_argument("--t-start", type=float, help="start of the analysed window (ms)")
    parser.add_argument("--t-stop", type=float, help="end of the analysed window (ms)")


def stat_options(args: argparse.Namespace, stats: list[str]) -> dict[str, dict[str, Any]]:
    """The keyword arguments of each statistic in ``stats`` from the shared options."""
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


def selected_runs(args: argparse.Namespace) -> tuple[Lake, Any]:
    """The lake, opened read-only, and the index rows ``--where`` selects."""
    lake = Lake(args.lake, mode="r")
    return lake, lake.search(**parse_where(args.where))
