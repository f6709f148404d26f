"""``opsnn-lake report -o DIR``: the lake as a static HTML site (:mod:`opsnn_lake.report`)."""

from __future__ import annotations

import argparse

from opsnn_lake.cli._where import add_where, parse_where
from opsnn_lake.lake import Lake
from opsnn_lake.report import write_report

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``opsnn-lake report``."""
    add_where(parser)
    parser.add_argument("-o", "--output", default="report", help="folder (default: ./report)")
    parser.add_argument("--no-rasters", action="store_true", help="skip the run rasters")


def run(args: argparse.Namespace) -> int:
    """Write the report of ``--lake``; exit code 1 if no run matches."""
    lake = Lake(args.lake, create=False)
    criteria = parse_where(args.where)
    if lake.search(**criteria).empty:
        print(f"no runs in {lake.path} match {args.where or 'the lake'}; nothing to report")
        return 1
    index = write_report(
        lake, args.output, criteria=criteria, rasters=not args.no_rasters, progress=True
    )
    print(f"wrote {index}; open it in a browser (no server needed)")
    return 0
