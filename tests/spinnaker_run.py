"""Run a small PyNN network on sPyNNaker's virtual board; pickle the Blocks it records.

Run by ``tests/test_neo_convert.py`` in a subprocess (a simulator keeps global state),
from a scratch directory holding the ``spynnaker.cfg`` the test writes. Usage::

    python spinnaker_run.py OUT_DIR      # writes OUT_DIR/exc.pkl and OUT_DIR/noise.pkl

A virtual board runs nothing: the data are empty (no spikes, signals of shape (0, n),
t_start = t_stop = 0), but the Blocks carry what sPyNNaker annotates (tuples such as
``last_index=(50,)``, a version string, numpy ids), which the store must keep.
"""

from __future__ import annotations

import sys
from pathlib import Path

import neo
import pyNN.spiNNaker as sim


def main(out: Path) -> None:
    sim.setup(timestep=1.0)
    exc = sim.Population(50, sim.IF_curr_exp(), label="exc")
    noise = sim.Population(10, sim.SpikeSourcePoisson(rate=10.0), label="noise")
    sim.Projection(
        noise, exc, sim.FixedProbabilityConnector(0.1), sim.StaticSynapse(weight=0.5, delay=1.0)
    )
    exc.record(["spikes", "v"])
    noise.record("spikes")
    sim.run(100.0)
    blocks = {"exc": exc.get_data(), "noise": noise.get_data()}
    sim.end()
    for label, block in blocks.items():  # PickleIO holds one Block per file
        neo.io.PickleIO(str(out / f"{label}.pkl")).write_block(block)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
