"""``--where key=value`` selections, shared by ``ls``, ``analyse``, ``plot`` and ``report``."""

from __future__ import annotations

import argparse
import json

from opsnn_lake.errors import InvalidArgumentError

__all__ = ["add_where", "parse_where"]


def add_where(parser: argparse.ArgumentParser, help_text: str | None = None) -> None:
    """Add the repeatable ``--where KEY=VALUE`` option."""
    parser.add_argument(
        "--where",
        action="append",
        metavar="KEY=VALUE",
        help=help_text or "select runs (repeatable): key=value, key=lo..hi, key=[a,b]",
    )


def parse_where(items: list[str] | None) -> dict[str, object]:
    """Turn ``key=value`` strings into search criteria.

    Values are parsed as JSON where possible (``g_inh=51`` is a number,
    ``seed=[1,2]`` a list); ``key=lo..hi`` is an inclusive range (either side may be empty).
    """
    criteria: dict[str, object] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(
                f"--where {item!r}: expected key=value (or key=low..high); "
                "write e.g. --where g_inh=30 or --where g_inh=20..50"
            )
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
