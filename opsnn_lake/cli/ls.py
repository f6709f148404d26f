"""``opsnn-lake ls``: list the lake's runs, filtered with ``--where``."""

from __future__ import annotations

import argparse

import pandas as pd

from opsnn_lake.cli._where import add_where, parse_where
from opsnn_lake.display import compact_columns, drop_seed_aliases, human_size, label, units_of_runs
from opsnn_lake.errors import SchemaError
from opsnn_lake.lake import Lake

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``opsnn-lake ls``."""
    add_where(parser, "filter")
    parser.add_argument(
        "--columns",
        metavar="A,B,...",
        help="columns to show: names separated by commas, '+name' to add to the "
        "default (model, simulator, seed, spikes, size and the parameters that vary), "
        "or 'all'",
    )


def run(args: argparse.Namespace) -> int:
    """Print the runs matching ``--where`` (the lake opens read-only: no lock, no write)."""
    lake = Lake(args.lake, mode="r")
    frame = lake.search(**parse_where(args.where))
    if frame.empty:
        where = f" matching {' '.join(args.where)}" if args.where else ""
        print(f"no runs{where} in {lake.path}")
        return 0
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


def _ls_columns(spec: str | None, frame: pd.DataFrame) -> list[str]:
    """The columns ``ls`` shows: compact by default, ``all``, a list, or ``+extra``."""
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
