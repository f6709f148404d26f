"""``opsnn-lake ls | check | reindex``: look after the lake itself."""

from __future__ import annotations

import argparse
import json

import pandas as pd

from opsnn_lake.errors import SchemaError
from opsnn_lake.lake import Lake

__all__ = ["configure", "parse_where", "run"]


def parse_where(items: list[str] | None) -> dict[str, object]:
    """Turn ``key=value`` strings into search criteria.

    Values are parsed as JSON where possible (``g_inh=51`` is a number,
    ``seed=[1,2]`` a list); ``key=lo..hi`` is an inclusive range (either side may be empty).
    """
    criteria: dict[str, object] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SchemaError(f"--where {item!r}: expected key=value")
        if ".." in text:
            lo, _, hi = text.partition("..")
            criteria[key] = (_value(lo) if lo else None, _value(hi) if hi else None)
        else:
            criteria[key] = _value(text)
    return criteria


def _value(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    """Add the options of ``ls``, ``check`` or ``reindex``."""
    if command == "ls":
        parser.add_argument("--where", action="append", metavar="KEY=VALUE", help="filter")
        parser.add_argument("--columns", help="comma-separated columns to show")
    elif command == "check":
        parser.add_argument("--repair", action="store_true", help="mend what is found")


def run(args: argparse.Namespace) -> int:
    """Run ``ls``, ``check`` or ``reindex``."""
    lake = Lake(args.lake, create=False)
    if args.command == "ls":
        frame = lake.search(**parse_where(args.where))
        if frame.empty:
            print(f"no runs in {lake.path}")
            return 0
        frame = frame.assign(MB=(frame["bytes"] / 1e6).round(3))
        default = ["kind", "model", "simulator", "seed", "n_units", "n_spikes", "MB"]
        params = [c for c in frame.columns if c not in _NOT_PARAMS]
        columns = args.columns.split(",") if args.columns else default + params
        with pd.option_context("display.max_rows", None, "display.width", 200):
            print(frame[[c for c in columns if c in frame.columns]].to_string())
        print(f"{len(frame)} runs, {frame['bytes'].sum() / 1e6:.2f} MB")
        return 0
    if args.command == "check":
        report = lake.check(repair=args.repair)
        for line in report.lines():
            print(line)
        if report.ok:
            print(f"{lake.path}: OK ({len(lake)} runs)")
            return 0
        print("repaired" if report.repaired else "run `opsnn-lake check --repair` to mend")
        return 0 if report.repaired else 1
    n = lake.reindex(progress=True)
    print(f"{lake.path}: indexed {n} runs")
    return 0


_NOT_PARAMS = {
    "kind",
    "simulator",
    "simulator_version",
    "model",
    "seed",
    "n_units",
    "n_spikes",
    "duration",
    "bytes",
    "created",
    "inputs",
    "path",
    "MB",
}
