"""``opsnn-lake demo``: a small real NEST run written to the lake and read back."""

from __future__ import annotations

import argparse
import time

from opsnn_lake.lake import Lake

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    """No options beyond ``--lake``."""


def run(args: argparse.Namespace) -> int:
    """Simulate, store, search and read back one run."""
    from opsnn_lake.testing import assert_blocks_equal, nest_network_block

    lake = Lake(args.lake)
    t0 = time.perf_counter()
    block = nest_network_block(duration=500.0)
    t1 = time.perf_counter()
    run_id = lake.add(
        block,
        model="demo-net",
        parameters={"duration": 500.0},
        seed=7,
        simulator="nest",
        timings={"simulate": t1 - t0},
    )
    t2 = time.perf_counter()
    assert_blocks_equal(block, lake.to_neo(run_id))
    print(f"simulated in {t1 - t0:.2f} s, stored as {run_id} in {t2 - t1:.3f} s, read back equal")
    print(lake.search(model="demo-net")[["n_units", "n_spikes", "bytes", "path"]].to_string())
    return 0
