"""``opsnn-lake reindex``: rebuild the index from the stores (the source of truth)."""

from __future__ import annotations

import argparse

from opsnn_lake.lake import Lake

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """``opsnn-lake reindex`` has no options of its own."""


def run(args: argparse.Namespace) -> int:
    """Rebuild the index; exit code 1 if some store could not be read."""
    lake = Lake(args.lake, mode="r+")
    n_stores = lake.count_stores()
    n = lake.reindex(progress=True)
    print(f"{lake.path}: indexed {n} runs")
    if n < n_stores:
        print(f"{n_stores - n} unreadable store(s) skipped; see `opsnn-lake check`")
        return 1
    return 0
