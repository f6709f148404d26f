"""The lake marker ``<lake>/lake.json``: what makes a directory an OpSNN lake.

Kept apart from :mod:`opsnn_lake.lake` so that checking a lake costs no import of
neo, pandas or zarr: the intake catalog opens a lake through this module alone, and a
notebook's first ``intake.open_catalog(...)["lake"]`` stays fast.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from opsnn_lake.errors import NotALakeError

__all__ = [
    "LAKE_FORMAT",
    "LAKE_MARKER",
    "LAKE_VERSION",
    "check_lake_dir",
    "check_marker",
    "check_marker_content",
    "marker_content",
]

LAKE_FORMAT = "opsnn-lake"
LAKE_VERSION = 1
LAKE_MARKER = "lake.json"


def check_marker(marker: Path) -> None:
    """Refuse a marker that is unreadable, foreign or from a newer opsnn_lake.

    Raises
    ------
    NotALakeError
        Naming the marker file and what is wrong with it.
    """
    try:
        content = marker.read_bytes()
    except OSError as err:
        raise NotALakeError(f"{marker}: unreadable lake marker: {err}") from None
    check_marker_content(content, where=str(marker))


def check_marker_content(content: bytes, *, where: str) -> None:
    """Refuse a marker's content (read from a file or an object) as :func:`check_marker`."""
    try:
        meta = json.loads(content)
    except ValueError as err:
        raise NotALakeError(f"{where}: unreadable lake marker: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != LAKE_FORMAT:
        raise NotALakeError(f"{where}: not an OpSNN lake marker (format {LAKE_FORMAT!r} expected)")
    if not isinstance(meta.get("version"), int) or meta["version"] > LAKE_VERSION:
        raise NotALakeError(
            f"{where}: lake version {meta.get('version')!r} is newer than this "
            f"opsnn_lake supports ({LAKE_VERSION}); upgrade opsnn_lake"
        )


def marker_content() -> bytes:
    """What a new lake's marker holds."""
    return json.dumps({"format": LAKE_FORMAT, "version": LAKE_VERSION}).encode()


def check_lake_dir(path: str | os.PathLike[str]) -> Path:
    """The absolute path of an existing lake, checked without writing anything.

    Raises
    ------
    NotALakeError
        If ``path`` does not exist or is not an OpSNN lake (no valid ``lake.json``).
    """
    lake_path = Path(path).absolute()
    marker = lake_path / LAKE_MARKER
    if not marker.is_file():
        what = "does not exist" if not lake_path.exists() else "is not an OpSNN lake (no lake.json)"
        raise NotALakeError(
            f"{lake_path}: {what}; create a lake with opsnn_lake.Lake(path) or `opsnn-lake demo`"
        )
    check_marker(marker)
    return lake_path
