"""Small real sample files of every ingestion source, for the compliance suites.

Each function writes real files with the writer the format's users have (neo's NixIO,
OpSNN's NWB and SONATA exporters, tonic's N-MNIST byte layout, sPyNNaker's database
layout) into a given folder and returns the path a user would name. They are small:
a few cells, a few hundred events; writing one takes well under a second (the
sPyNNaker folder needs a template left by a real run, see
:func:`fill_spinnaker_database`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import neo
import numpy as np
import quantities as pq

__all__ = [
    "FOREIGN_SAMPLES",
    "fill_spinnaker_database",
    "small_block",
    "write_nix",
    "write_nmnist",
    "write_nwb_sample",
    "write_sonata_sample",
]

PROVENANCE = {"model": "sample", "parameters": {"g": 1.5}, "seed": 3, "simulator": "nest"}


def small_block(*, seed: int = 0, n_cells: int = 6, duration: float = 100.0) -> neo.Block:
    """Two populations of regular-ish spike trains and one ``v`` signal, in ms and mV."""
    rng = np.random.default_rng(seed)
    # NIX keeps a dict annotation only as JSON text (read back by the neo-files source)
    block = neo.Block(
        name="sample", **{**PROVENANCE, "parameters": json.dumps(PROVENANCE["parameters"])}
    )
    seg = neo.Segment(name="segment0")
    trains = []
    for pop in ("exc", "inh"):
        for i in range(n_cells):
            times = np.sort(rng.uniform(0.0, duration, 5 + i)).round(1)
            st = neo.SpikeTrain(times * pq.ms, t_start=0.0 * pq.ms, t_stop=duration * pq.ms)
            st.annotate(source_population=pop, source_index=i, source_id=i + 1)
            trains.append(st)
    seg.spiketrains = trains
    v = neo.AnalogSignal(
        rng.normal(-65.0, 1.0, (50, 2)) * pq.mV, sampling_period=2.0 * pq.ms, name="v"
    )
    v.annotate(source_population="exc")
    v.array_annotate(channel_index=np.arange(2))
    seg.analogsignals = [v]
    block.segments.append(seg)
    seg.block = block
    return block


def write_nix(folder: Path, *, seed: int = 0) -> Path:
    """A NIX file of :func:`small_block` (neo's NixIO)."""
    from neo.io import NixIO

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"run{seed}.nix"
    with NixIO(str(path), mode="ow") as io:
        io.write_block(small_block(seed=seed))
    return path


def _lake_run(folder: Path, seed: int) -> tuple[Any, str]:
    from opsnn_lake.lake import Lake

    lake = Lake(folder / f".export_lake{seed}")
    return lake, lake.add(small_block(seed=seed), **PROVENANCE)


def write_nwb_sample(folder: Path, *, seed: int = 0) -> Path:
    """An NWB file of :func:`small_block`, exported by OpSNN lake."""
    lake, run_id = _lake_run(folder, seed)
    return Path(lake.to_nwb(run_id, folder / f"run{seed}.nwb"))


def write_sonata_sample(folder: Path, *, seed: int = 0) -> Path:
    """A SONATA spike report (``.h5``) of :func:`small_block`, exported by OpSNN lake."""
    from opsnn_lake.sonata import write_sonata
    from opsnn_lake.store import read_nodes

    lake, run_id = _lake_run(folder, seed)
    nodes = read_nodes(lake.store_path(run_id))
    prov = lake.provenance(run_id).to_dict()
    return Path(write_sonata(nodes, folder / f"run{seed}.h5", run_id=run_id, provenance=prov))


def write_nmnist(path: Path, *, n: int = 300, seed: int = 0) -> Path:
    """An N-MNIST sample file: x, y, p<<7 | t[22:16], t[15:8], t[7:0] (t in µs)."""
    rng = np.random.default_rng(seed)
    x, y = rng.integers(0, 34, n), rng.integers(0, 34, n)
    t = np.sort(rng.integers(0, 300_000, n)).astype(np.uint32)
    p = rng.integers(0, 2, n).astype(np.uint32)
    raw = np.empty((n, 5), dtype=np.uint8)
    raw[:, 0], raw[:, 1] = x, y
    raw[:, 2] = (p << 7) | ((t >> 16) & 0x7F)
    raw[:, 3] = (t >> 8) & 0xFF
    raw[:, 4] = t & 0xFF
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw.tobytes())
    return path


def _pickle(folder: Path) -> Path:
    from neo.io import PickleIO

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "run.pkl"
    PickleIO(str(path)).write_block(small_block())
    return path


def _run_folder_stub(folder: Path) -> Path:
    """A folder shaped like a sPyNNaker run folder (what ``can_read`` looks at)."""
    run = folder / "run_1"
    run.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(run / "data.sqlite3").close()
    return run


#: One sample per source name: what other sources' ``can_read`` must refuse.
FOREIGN_SAMPLES: dict[str, Callable[[Path], Path]] = {
    "neo": _pickle,
    "spinnaker": _run_folder_stub,
    "tonic": lambda folder: write_nmnist(folder / "0" / "00001.bin"),
}

STEPS = 50  # the time steps written by fill_spinnaker_database (1 ms each)


def fill_spinnaker_database(db: Path, seed: int) -> dict[tuple[str, str], Any]:
    """Write recordings into a database kept by a virtual-board run; return what they decode to.

    A virtual board records nothing, so recordings are written in sPyNNaker's own format
    (an int32 time step, then little-endian uint32 bit fields for spikes or S16.15 words
    for ``v``), for :data:`STEPS` steps, and sPyNNaker decodes them when read.
    """
    rng = np.random.default_rng(seed)
    expected: dict[tuple[str, str], Any] = {}
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO extraction(run_timestep, n_run, n_loop, extract_time) VALUES (?, 1, 0, 0)",
        (STEPS,),
    )
    extraction = conn.execute("SELECT max(extraction_id) FROM extraction").fetchone()[0]
    recordings = conn.execute(
        "SELECT rec_id, label, variable, buffered_type, pop_size FROM recording_view"
    ).fetchall()
    steps = np.arange(STEPS, dtype="<i4")[:, None]
    for rec_id, label, variable, kind, size in recordings:
        (region,) = conn.execute(
            "SELECT region_id FROM region_metadata WHERE rec_id = ?", (rec_id,)
        ).fetchone()
        if kind == "NEURON_SPIKES":
            fired = rng.random((STEPS, size)) < 0.1
            words = np.zeros((STEPS, (size + 31) // 32), dtype="<u4")
            for k in range(size):  # neuron k is bit k % 32 of word k // 32
                words[:, k // 32] |= fired[:, k].astype("<u4") << np.uint32(k % 32)
            content = np.hstack([steps.view("<u4"), words]).tobytes()
            step, neuron = np.nonzero(fired)
            expected[(label, "spikes")] = [np.sort(step[neuron == k] * 1.0) for k in range(size)]
        else:
            raw = rng.integers(-70 * 2**15, -50 * 2**15, (STEPS, size), dtype="<i4")
            content = np.hstack([steps, raw]).tobytes()
            expected[(label, variable)] = raw / 2**15  # S16.15 fixed point
        conn.execute(
            "INSERT INTO recording_data(recording_region_id, extraction_id, content, "
            "content_len, missing_data) VALUES (?, ?, ?, ?, 0)",
            (region, extraction, content, len(content)),
        )
    conn.execute("UPDATE segment SET t_stop = ?", (float(STEPS),))
    conn.commit()
    conn.close()
    return expected
