"""``opsnn-lake catalog``: write the intake catalog YAML for the lake."""

from __future__ import annotations

import argparse
from pathlib import Path

from opsnn_lake.catalog import write_catalog
from opsnn_lake.storage import is_url

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``opsnn-lake catalog``."""
    parser.add_argument(
        "-o",
        "--output",
        default="catalogs/lake.yaml",
        help="YAML file to write (default: catalogs/lake.yaml)",
    )
    parser.add_argument("--name", default="lake", help="entry name (default: lake)")


def run(args: argparse.Namespace) -> int:
    """Write the catalog YAML for ``--lake``."""
    path = write_catalog(args.lake, args.output, name=args.name)
    if is_url(args.lake):  # the lake's URL as given (a bucket is checked when opened)
        print(f"{path}: catalog entry {args.name!r} -> lake {args.lake}")
    else:
        print(f"{path}: catalog entry {args.name!r} -> lake {Path(args.lake).absolute()}")
        if not Path(args.lake).exists():
            print(f"note: {args.lake} is not created yet; the catalog opens once it exists")
    print(f'open it with: intake.open_catalog("{args.output}")["{args.name}"]')
    return 0
