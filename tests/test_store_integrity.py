"""Damage to a store is an error, never wrong numbers; distinct content, distinct ids."""

from __future__ import annotations

import neo
import numpy as np
import pytest
import quantities as pq

from opsnn_lake import CorruptStoreError, SchemaError
from opsnn_lake.schema import sanitize_label


def _noise_block(units: str = "mV") -> neo.Block:
    block = neo.Block()
    seg = neo.Segment(name="s")
    block.segments.append(seg)
    values = np.random.default_rng(0).normal(size=(100, 2))  # incompressible: stored raw
    seg.analogsignals.append(
        neo.AnalogSignal(values, units=units, sampling_rate=1 * pq.kHz, name="v")
    )
    return block


def test_truncated_raw_chunk_is_an_error(lake):
    run_id = lake.add(_noise_block())
    chunk = lake.store_path(run_id) / "s/population0/v/c/0/0"
    chunk.write_bytes(chunk.read_bytes()[:-100])
    with pytest.raises(CorruptStoreError, match=r"'s/population0/v', chunk '0,0': .*CRC-32C"):
        lake.to_neo(run_id)


def test_missing_chunk_file_is_an_error(lake):
    block = _noise_block()
    block.segments[0].analogsignals[0][:] = 0.0 * pq.mV  # a chunk equal to the fill value
    run_id = lake.add(block)
    chunk = lake.store_path(run_id) / "s/population0/v/c/0/0"
    assert chunk.is_file()  # written although it is all zeros
    chunk.unlink()
    with pytest.raises(CorruptStoreError, match=r"'s/population0/v', chunk '0,0': .*missing"):
        lake.to_neo(run_id)


def test_blocks_differing_only_in_signal_metadata_are_distinct_runs(lake):
    assert lake.add(_noise_block("mV")) != lake.add(_noise_block("nA"))
    assert len(lake) == 2


def test_adding_something_else_than_a_block_is_a_schema_error(lake):
    with pytest.raises(SchemaError, match=r"expected a neo\.Block, got str"):
        lake.add("block.pkl")


@pytest.mark.parametrize("label", ["CON", "nul", "Com1", "lpt9.data", "aux.txt"])
def test_windows_device_names_are_not_used_as_group_names(label):
    assert sanitize_label(label, fallback="p") == f"_{label}"
    assert sanitize_label("console", fallback="p") == "console"
