"""``opsnn-lake check``: find orphan stores, rows and staging left-overs; mend them."""

from __future__ import annotations

import argparse

from opsnn_lake.lake import Lake

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``opsnn-lake check``."""
    parser.add_argument(
        "--repair",
        action="store_true",
        help="mend what is found; damaged runs move to <lake>/quarantine (not deleted)",
    )
    parser.add_argument(
        "--deep", action="store_true", help="also verify every chunk's checksum (reads all)"
    )
    parser.add_argument(
        "--older-than",
        type=float,
        metavar="SECONDS",
        default=None,
        help="count an unfinished write as a left-over only once this old (default: local "
        "lakes, any whose process is gone; s3:// lakes, 3600)",
    )


def run(args: argparse.Namespace) -> int:
    """Check the lake; exit code 1 if anything is wrong (or was damaged)."""
    # Without --repair the lake opens read-only: no lock, nothing written.
    lake = Lake(args.lake, mode="r+" if args.repair else "r")
    report = lake.check(
        repair=args.repair, deep=args.deep, progress=True, older_than=args.older_than
    )
    for line in report.lines():
        print(line)
    if report.ok:
        print(f"{lake.path}: OK ({len(lake)} runs{', checksums verified' if args.deep else ''})")
        return 0
    if report.damaged:
        print(f"damaged runs ({len(report.damaged)}): {' '.join(report.damaged)}")
    if report.repaired:
        if report.quarantined:
            print(f"damaged runs moved to {lake.quarantine_location}; re-create them to restore")
        left = len(report.bad_stores)
        print(f"repaired; {left} unreadable store(s) left for you to inspect")
        return 1 if left or report.quarantined else 0  # damage found is a failure
    print("run `opsnn-lake check --repair` to mend")
    return 1
