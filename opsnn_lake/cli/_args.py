"""Command-line options handed to the public API."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["keywords"]


def keywords(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The options ``names`` of ``args`` as keyword arguments of an API call.

    The commands name their options' destinations after the API's keywords, so an
    option goes through unchanged: ``ingest(..., **keywords(args, "tonic", "fmt"))``.
    """
    return {name: getattr(args, name) for name in names}
