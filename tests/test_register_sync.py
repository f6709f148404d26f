"""Writers that never touch the index (register=False) and the keeper that syncs them."""

from __future__ import annotations

import pytest

from opsnn_lake import Lake
from opsnn_lake.errors import LakeWriteError


def test_unregistered_writer_publishes_and_keeper_syncs(tmp_path, nest_block):
    keeper = Lake(tmp_path / "lake")
    index_bytes = (tmp_path / "lake" / "index.sqlite").read_bytes()
    writer = Lake(tmp_path / "lake", register=False)
    ids = [writer.add(nest_block, model="va", parameters={"g": g}, seed=1) for g in (1, 2)]
    assert (tmp_path / "lake" / "index.sqlite").read_bytes() == index_bytes
    assert all(writer.store_path(i).is_dir() for i in ids)
    assert len(keeper) == 0
    assert sorted(keeper.sync()) == sorted(ids)
    assert sorted(keeper.search().index) == sorted(ids)
    assert keeper.sync() == []  # nothing new: rows kept, nothing added twice
    with pytest.raises(LakeWriteError, match="register=False"):
        writer.sync()
