"""``Lake.check`` finds and mends orphans; ``Lake.reindex`` rebuilds the index from stores."""

from __future__ import annotations

import shutil
import subprocess
import sys

import neo
import numpy as np
import pandas as pd
import pytest
import quantities as pq

from opsnn_lake import Lake
from opsnn_lake.store import read_nodes


def _block(seed: int) -> neo.Block:
    rng = np.random.default_rng(seed)
    block = neo.Block(name=f"b{seed}")
    seg = neo.Segment(name="seg")
    block.segments.append(seg)
    for n in (2 + seed % 3, 4):
        times = np.sort(rng.uniform(0.0, 50.0, n))
        seg.spiketrains.append(neo.SpikeTrain(times * pq.ms, t_stop=50 * pq.ms))
    return block


def _dead_pid() -> int:
    """The pid of a process that has finished (a writer that was killed)."""
    out = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


@pytest.fixture
def lake5(tmp_path) -> tuple[Lake, list[str]]:
    lake = Lake(tmp_path / "lake")
    ids = [
        lake.add(_block(i), model="v1.2", parameters={"g": float(i), "stim": {"r": i}}, seed=i)
        for i in range(5)
    ]
    return lake, ids


def test_check_finds_and_repairs_every_kind_of_orphan(lake5):
    lake, ids = lake5
    assert lake.check().ok
    # a writer killed after publishing, before registering: store without row
    lake.index.delete([ids[0]])
    # a store removed by hand: row without store
    shutil.rmtree(lake.store_path(ids[1]))
    # a writer killed while writing: a half-written copy in staging (run ids hold dots)
    dead = lake.staging_dir / f"{ids[2]}.{_dead_pid()}.0badc0de"
    shutil.copytree(lake.store_path(ids[2]), dead)
    for chunk in list(dead.rglob("c/*"))[:2]:
        chunk.unlink()
    # a writer still running: its staging directory must be left alone
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = lake.staging_dir / f"{ids[3]}.{alive.pid}.11112222"
        live.mkdir()
        # something that is not a store at all
        junk = lake.runs_dir / "junk.zarr"
        junk.mkdir()
        (junk / "zarr.json").write_text("{ not json")

        report = lake.check()
        assert report.stores_without_row == [ids[0]]
        assert report.rows_without_store == [ids[1]]
        assert report.staging_leftovers == [str(dead)]
        assert list(report.bad_stores) == [str(junk)]
        assert not report.ok and not report.repaired
        assert any(line.startswith("store without index row") for line in report.lines())

        repaired = lake.check(repair=True)
        assert repaired.repaired
        after = lake.check()
        assert after.stores_without_row == after.rows_without_store == []
        assert after.staging_leftovers == []
        assert list(after.bad_stores) == [str(junk)]  # reported, never deleted
        assert junk.exists() and live.exists() and not dead.exists()
        assert sorted(lake.index.run_ids()) == sorted(set(ids) - {ids[1]})
    finally:
        alive.kill()
        alive.wait()
    # the next write of a killed run succeeds and is complete
    again = lake.add(_block(2), model="v1.2", parameters={"g": 2.0, "stim": {"r": 2}}, seed=2)
    assert again == ids[2]
    read_nodes(lake.store_path(again))


def test_reindex_rebuilds_the_same_search_results(lake5):
    lake, ids = lake5
    before = lake.search()
    narrow = lake.search(g=(1, 3), stim__r=[1, 3])
    assert sorted(narrow.index) == sorted([ids[1], ids[3]])
    assert lake.reindex() == 5
    pd.testing.assert_frame_equal(lake.search(), before, check_like=True)
    pd.testing.assert_frame_equal(lake.search(g=(1, 3), stim__r=[1, 3]), narrow, check_like=True)


def test_reindex_from_the_stores_alone(lake5):
    lake, _ids = lake5
    before = lake.search()
    lake.index.close()
    for name in ("index.sqlite", "index.sqlite-wal", "index.sqlite-shm"):
        (lake.path / name).unlink(missing_ok=True)
    fresh = Lake(lake.path)  # a writer rebuilds a lost index (never extends it as empty)
    pd.testing.assert_frame_equal(fresh.search(), before, check_like=True)
    assert fresh.reindex(progress=False) == 5
    pd.testing.assert_frame_equal(fresh.search(), before, check_like=True)
    assert fresh.check().ok


def test_reindex_skips_stores_under_a_wrong_name(lake5):
    lake, ids = lake5
    moved = lake.runs_dir / "other-name.zarr"
    shutil.copytree(lake.store_path(ids[4]), moved)
    assert lake.reindex() == 5
    report = lake.check()
    assert list(report.bad_stores) == [str(moved)]
    assert "holds run" in report.bad_stores[str(moved)]
