"""``opsnn-lake export RUN_ID… --format nwb|sonata -o DIR``: runs out as NWB or SONATA files.

One file per run (:mod:`opsnn_lake.export`); a run that fails is reported with the
reason, the others are still exported, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import sys
import time

from opsnn_lake.export import FORMATS, export_runs
from opsnn_lake.lake import Lake

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``opsnn-lake export``."""
    parser.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="runs to export")
    parser.add_argument(
        "--format",
        dest="fmt",
        required=True,
        choices=sorted(FORMATS),
        help="nwb (Units table + TimeSeries) or sonata (spike report)",
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="folder of the exported files"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``opsnn-lake export``; exit code 1 if any run failed."""
    lake = Lake(args.lake, create=False)
    start = time.perf_counter()
    written, errors = export_runs(lake, args.run_ids, args.fmt, args.output)
    for path in written:
        print(path)
    for error in errors:
        print(f"opsnn-lake export: {error}", file=sys.stderr)
    nbytes = sum(p.stat().st_size for p in written)
    print(
        f"export: {len(written)} written, {len(errors)} failed; "
        f"{nbytes / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
    )
    return 1 if errors else 0
