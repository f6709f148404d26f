"""``opsnn-lake export``: runs out of the lake as NWB files or SONATA spike reports.

::

    opsnn-lake export va-0123abcd… va-4567ef01… --format nwb -o exported/
    opsnn-lake export va-0123abcd… --format sonata -o exported/

One file per run, named ``<run id>.nwb`` (:mod:`opsnn_lake.nwb`) or
``<run id>.h5`` (:mod:`opsnn_lake.sonata`). Each file is written aside and renamed,
so an interrupted export leaves no partial file. A run that fails is reported with
the reason, the others are still exported, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from opsnn_lake import store as _store
from opsnn_lake.errors import LakeError, RunNotFoundError, SchemaError
from opsnn_lake.lake import Lake

__all__ = ["FORMATS", "configure", "export_run", "export_runs", "run"]

#: Export formats and the extension of their files.
FORMATS = {"nwb": ".nwb", "sonata": ".h5"}


def export_run(lake: Lake, run_id: str, fmt: str, out_dir: str | os.PathLike[str]) -> Path:
    """Export one run.

    Parameters
    ----------
    lake : Lake
        The lake holding the run.
    run_id : str
        The run.
    fmt : {"nwb", "sonata"}
        The format.
    out_dir : path-like
        Folder of the file (created if missing); the file is ``<run id><extension>``.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    SchemaError
        For an unknown format (listing the valid ones).
    RunNotFoundError
        If the lake has no such run.
    """
    if fmt not in FORMATS:
        raise SchemaError(f"export: unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    path = Path(out_dir) / f"{run_id}{FORMATS[fmt]}"
    if fmt == "nwb":
        return lake.to_nwb(run_id, path)
    from opsnn_lake.sonata import write_sonata

    store = lake.store_path(run_id)
    if not store.exists():
        raise RunNotFoundError(f"{lake.path}: no run {run_id!r}; see `opsnn-lake ls`")
    nodes = _store.read_nodes(store)
    attrs = nodes[""].attrs
    return write_sonata(nodes, path, run_id=run_id, provenance=attrs["provenance"])


def export_runs(
    lake: Lake, run_ids: Iterable[str], fmt: str, out_dir: str | os.PathLike[str]
) -> tuple[list[Path], list[str]]:
    """Export several runs; returns the files written and one error per failed run."""
    written: list[Path] = []
    errors: list[str] = []
    for run_id in run_ids:
        try:
            written.append(export_run(lake, run_id, fmt, out_dir))
        except (LakeError, OSError) as err:
            errors.append(f"{run_id}: {err}")
    return written, errors


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    """Add the options of ``opsnn-lake export``."""
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
