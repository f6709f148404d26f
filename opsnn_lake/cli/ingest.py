"""``opsnn-lake ingest PATH… | --manifest YAML``: finished runs into the lake.

The work is :func:`opsnn_lake.ingest.ingest`; this parses, calls it and prints the report.
"""

from __future__ import annotations

import argparse
import sys

from opsnn_lake.cli._args import keywords
from opsnn_lake.ingest import ingest
from opsnn_lake.sources.tonic import DATASETS

__all__ = ["configure", "run"]

_PATHS_HELP = "neo files, sPyNNaker run folders, tonic sample files, or folders holding them"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``opsnn-lake ingest``."""
    parser.add_argument("paths", nargs="*", metavar="PATH", help=_PATHS_HELP)
    parser.add_argument(
        "-m",
        "--manifest",
        action="append",
        default=[],
        metavar="YAML",
        help="manifest naming paths or globs and the metadata to attach (repeatable)",
    )
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="load pickle files (unpickling runs code from the file: only for files you trust)",
    )
    parser.add_argument(
        "--tonic",
        metavar="DATASET",
        help=f"the PATHs are tonic sample files of this dataset ({', '.join(DATASETS)})",
    )
    parser.add_argument(
        "--format",
        dest="fmt",
        metavar="NAME",
        help="reader of the PATHs: a neo IO (NixIO, PickleIO, AsciiSpikeTrainIO…), nwb, "
        "sonata, or a tonic dataset; needed for extensions that do not say (.txt, .bin…)",
    )
    parser.add_argument(
        "--group",
        metavar="all|REGEX",
        help="one run per simulation: 'all' files form one run, or a regex on file names "
        "with (?P<run>…) and (?P<population>…) groups, e.g. '(?P<run>.+)_(?P<population>exc|inh)'",
    )
    parser.add_argument(
        "--allow-empty",
        action="store_true",
        help="store files read into no spike trains and no signals (or 'Column n' signals only)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: number of CPUs)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run ``opsnn-lake ingest``; exit code 1 if anything failed."""
    if not args.paths and not args.manifest:
        print("opsnn-lake ingest: give PATHs or --manifest YAML", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 1:
        print("opsnn-lake ingest: --workers must be at least 1", file=sys.stderr)
        return 2
    options = keywords(
        args, "lake", "trust_pickle", "tonic", "fmt", "group", "allow_empty", "workers"
    )
    report = ingest(args.paths, manifests=args.manifest, progress=not args.no_progress, **options)
    if report.ignored:
        shown = ", ".join(report.ignored[:5]) + (" …" if len(report.ignored) > 5 else "")
        print(
            f"ignored {len(report.ignored)} files no neo IO reads by extension: {shown}",
            file=sys.stderr,
        )
    if report.failed:
        print(
            f"{len(report.failed)} failed (re-run after fixing them; the rest is kept):",
            file=sys.stderr,
        )
        for outcome in report.failed:
            print(f"  {outcome.error}", file=sys.stderr)
    print(report.summary())
    return 0 if report.ok else 1
