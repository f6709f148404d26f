"""``opsnn-lake ls | check | reindex``: look after the lake itself."""

from __future__ import annotations

import argparse
import json

import pandas as pd

from opsnn_lake.errors import SchemaError
from opsnn_lake.lake import Lake

__all__ = ["configure", "human_size", "parse_where", "run"]


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
        parser.add_argument(
            "--columns",
            metavar="A,B,...",
            help="columns to show: names separated by commas, '+name' to add to the "
            "default (model, simulator, seed, spikes, size and the parameters that vary), "
            "or 'all'",
        )
    elif command == "check":
        parser.add_argument(
            "--repair",
            action="store_true",
            help="mend what is found; damaged runs move to <lake>/quarantine (not deleted)",
        )
        parser.add_argument(
            "--deep", action="store_true", help="also verify every chunk's checksum (reads all)"
        )


def human_size(nbytes: float) -> str:
    """``1536`` → ``"1.5 kB"`` (decimal units, as ``ls -h --si``)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(nbytes) < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def run(args: argparse.Namespace) -> int:
    """Run ``ls``, ``check`` or ``reindex``."""
    # Reading commands open the lake read-only: they take no lock, write nothing, and
    # work on read-only mounts and on lakes of other users.
    writes = args.command == "reindex" or (args.command == "check" and args.repair)
    lake = Lake(args.lake, mode="r+" if writes else "r")
    if args.command == "ls":
        frame = lake.search(**parse_where(args.where))
        if frame.empty:
            where = f" matching {' '.join(args.where)}" if args.where else ""
            print(f"no runs{where} in {lake.path}")
            return 0
        from opsnn_lake.display import drop_seed_aliases, label, units_of_runs

        total = human_size(frame["bytes"].sum())
        units = units_of_runs(lake.path, frame)
        frame = frame.assign(size=[human_size(b) for b in frame["bytes"]])
        columns = _ls_columns(args.columns, drop_seed_aliases(frame))
        shown = frame[columns].rename(columns={c: label(c, units) for c in columns})
        with pd.option_context("display.max_rows", None, "display.width", 250):
            print(shown.to_string())
        hidden = len([c for c in frame.columns if c not in ("path", "bytes")]) - len(columns)
        if hidden > 0:
            print(f"({hidden} more columns: --columns all, or --columns +NAME)")
        print(f"{len(frame)} runs, {total}")
        return 0
    if args.command == "check":
        report = lake.check(repair=args.repair, deep=args.deep, progress=True)
        for line in report.lines():
            print(line)
        if report.ok:
            print(
                f"{lake.path}: OK ({len(lake)} runs{', checksums verified' if args.deep else ''})"
            )
            return 0
        if report.damaged:
            print(f"damaged runs ({len(report.damaged)}): {' '.join(report.damaged)}")
        if report.repaired:
            if report.quarantined:
                print(f"damaged runs moved to {lake.quarantine_dir}; re-create them to restore")
            left = len(report.bad_stores)
            print(f"repaired; {left} unreadable store(s) left for you to inspect")
            return 1 if left or report.quarantined else 0  # damage found is a failure
        print("run `opsnn-lake check --repair` to mend")
        return 1
    n_stores = len(lake._stores())
    n = lake.reindex(progress=True)
    print(f"{lake.path}: indexed {n} runs")
    if n < n_stores:
        print(f"{n_stores - n} unreadable store(s) skipped; see `opsnn-lake check`")
        return 1
    return 0


def _ls_columns(spec: str | None, frame: pd.DataFrame) -> list[str]:
    """The columns ``ls`` shows: compact by default, ``all``, a list, or ``+extra``."""
    from opsnn_lake.display import compact_columns

    if not spec:
        return compact_columns(frame)
    if spec.strip() == "all":
        return [c for c in frame.columns if c not in ("path", "bytes")]
    names = [c.strip() for c in spec.split(",") if c.strip()]
    extra = [c[1:] for c in names if c.startswith("+")]
    plain = [c for c in names if not c.startswith("+")]
    unknown = [c for c in plain + extra if c not in frame.columns]
    if unknown:
        raise SchemaError(
            f"ls --columns: no column {', '.join(map(repr, unknown))}; columns: "
            f"{', '.join(c for c in frame.columns if c != 'path')}"
        )
    return (plain or compact_columns(frame)) + [c for c in extra if c not in plain]
