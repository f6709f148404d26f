"""Stores of schema version 1 (numcodecs filters) keep reading after the format moved on.

The stores under ``tests/fixtures/v1/lake`` were written by schema-1 code
(``tests/fixtures/v1/make_v1.py``): a NEST network with four populations and signals,
a silent population and a tonic input run. ``expected.npz`` holds what ``to_neo`` gave
then: spike times bitwise, signals by SHA-256.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from opsnn_lake import Lake

FIXTURES = Path(__file__).parent / "fixtures" / "v1"
RUNS = dict(line.split() for line in (FIXTURES / "run_ids.txt").read_text().splitlines())


@pytest.fixture(scope="module")
def v1_lake(tmp_path_factory) -> Lake:
    path = tmp_path_factory.mktemp("v1") / "lake"
    shutil.copytree(FIXTURES / "lake", path)
    lake = Lake(path)
    assert lake.reindex() == len(RUNS)
    return lake


def test_fixtures_are_schema_1(v1_lake):
    for run_id in RUNS.values():
        assert v1_lake.open(run_id).attrs["schema_version"] == 1


@pytest.mark.parametrize("key", sorted(RUNS))
def test_v1_store_reads_as_it_did(v1_lake, key):
    expected = np.load(FIXTURES / "expected.npz")
    block = v1_lake.to_neo(RUNS[key])
    for s, seg in enumerate(block.segments):
        trains = [np.asarray(st.magnitude) for st in seg.spiketrains]
        counts = np.array([t.size for t in trains])
        np.testing.assert_array_equal(counts, expected[f"{key}/{s}/spike_counts"])
        times = np.concatenate([np.zeros(0), *trains])
        assert times.tobytes() == expected[f"{key}/{s}/spike_times"].tobytes()
        for i, sig in enumerate(seg.analogsignals):
            digest = hashlib.sha256(np.ascontiguousarray(sig.magnitude).tobytes()).digest()
            assert digest == expected[f"{key}/{s}/signal/{i}"].tobytes()


@pytest.mark.parametrize("key", sorted(RUNS))
def test_v1_store_opens_lazily_and_computes(v1_lake, key):
    tree = v1_lake.open(RUNS[key]).compute()
    expected = np.load(FIXTURES / "expected.npz")
    n_spikes = sum(int(node["spike_time"].size) for node in tree.subtree if "spike_time" in node.ds)
    total = sum(
        expected[k].size
        for k in expected.files
        if k.startswith(f"{key}/") and k.endswith("spike_times")
    )
    assert n_spikes == total
