"""``opsnn-lake ls | check | reindex`` through ``opsnn_lake.cli.main``."""

from __future__ import annotations

import shutil

import neo
import numpy as np
import pytest
import quantities as pq

from opsnn_lake import Lake
from opsnn_lake.cli import main
from opsnn_lake.cli._where import parse_where
from opsnn_lake.display import human_size


def _block(seed: int) -> neo.Block:
    rng = np.random.default_rng(seed)
    block = neo.Block(name=f"b{seed}")
    seg = neo.Segment(name="seg")
    block.segments.append(seg)
    times = np.sort(rng.uniform(0.0, 50.0, 3 + seed))
    seg.spiketrains.append(neo.SpikeTrain(times * pq.ms, t_stop=50 * pq.ms))
    return block


@pytest.fixture
def lake4(tmp_path) -> tuple[Lake, dict[float, str]]:
    lake = Lake(tmp_path / "lake")
    ids = {
        g: lake.add(_block(i), model="va", parameters={"g_inh": g, "stim": {"rate": i}}, seed=i)
        for i, g in enumerate((30.0, 45.0, 51.0, 70.0))
    }
    return lake, ids


@pytest.mark.parametrize(
    ("items", "criteria"),
    [
        (["g_inh=51"], {"g_inh": 51}),
        (["g_inh=40..60"], {"g_inh": (40, 60)}),
        (["g_inh=..60", "model=va"], {"g_inh": (None, 60), "model": "va"}),
        (["seed=[1,2]"], {"seed": [1, 2]}),
        (["stim.rate=2"], {"stim.rate": 2}),
    ],
)
def test_where_items_become_criteria(items, criteria):
    assert parse_where(items) == criteria


@pytest.mark.parametrize(
    ("nbytes", "text"), [(0, "0 B"), (999, "999 B"), (1536, "1.5 kB"), (2_500_000, "2.5 MB")]
)
def test_human_size(nbytes, text):
    assert human_size(nbytes) == text


def test_ls_filters_and_shows_sizes(lake4, capsys):
    lake, ids = lake4
    assert main(["ls", "--lake", str(lake.path), "--where", "g_inh=40..60"]) == 0
    out = capsys.readouterr().out
    assert ids[45.0] in out and ids[51.0] in out
    assert ids[30.0] not in out and ids[70.0] not in out
    assert "size" in out and "kB" in out and "g_inh" in out and "stim.rate" in out
    total = lake.search(g_inh=(40, 60))["bytes"].sum()
    assert out.strip().splitlines()[-1] == f"2 runs, {human_size(total)}"
    assert main(["ls", "--lake", str(lake.path), "--where", "stim.rate=3"]) == 0
    out = capsys.readouterr().out
    assert ids[70.0] in out and "1 runs" in out
    assert main(["ls", "--lake", str(lake.path), "--where", "g_inh=99"]) == 0
    assert "no runs matching g_inh=99" in capsys.readouterr().out
    assert main(["ls", "--lake", str(lake.path), "--where", "g_exc=1"]) == 2
    assert "no column or parameter 'g_exc'" in capsys.readouterr().err
    assert main(["ls", "--lake", str(lake.path), "--where", "oops"]) == 2
    err = capsys.readouterr().err
    assert "expected key=value" in err and "--where g_inh=30" in err  # says the fix


def test_check_reports_and_repair_mends(lake4, capsys):
    lake, ids = lake4
    path = str(lake.path)
    assert main(["check", "--lake", path]) == 0
    assert "OK (4 runs)" in capsys.readouterr().out
    lake.index.delete([ids[30.0]])
    shutil.rmtree(lake.store_path(ids[45.0]))
    (lake.staging_dir / "va-0123.notapid.x").mkdir()
    assert main(["check", "--lake", path]) == 1
    out = capsys.readouterr().out
    assert f"store without index row: {ids[30.0]}" in out
    assert f"index row without store: {ids[45.0]}" in out
    assert "staging left-over" in out and "--repair" in out
    assert main(["check", "--lake", path, "--repair"]) == 0
    assert "repaired" in capsys.readouterr().out
    assert main(["check", "--lake", path]) == 0
    assert "OK (3 runs)" in capsys.readouterr().out


def test_reindex_gives_the_same_listing(lake4, capsys):
    lake, _ = lake4
    path = str(lake.path)
    assert main(["ls", "--lake", path, "--where", "g_inh=40..80"]) == 0
    before = capsys.readouterr().out
    assert main(["reindex", "--lake", path]) == 0
    assert "indexed 4 runs" in capsys.readouterr().out
    assert main(["ls", "--lake", path, "--where", "g_inh=40..80"]) == 0
    assert capsys.readouterr().out == before


def test_commands_refuse_a_directory_that_is_not_a_lake(tmp_path, capsys):
    (tmp_path / "data.txt").write_text("precious")
    for command in ("ls", "check", "reindex"):
        assert main([command, "--lake", str(tmp_path)]) == 2
        assert "not an OpSNN lake" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.txt"]
