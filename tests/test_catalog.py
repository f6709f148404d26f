"""The intake catalog: entry points, a fresh process, search, lazy sources, bad YAML."""

from __future__ import annotations

import json
import pickle
import re
import shutil
import sqlite3
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import dask.array as da
import intake
import neo
import numpy as np
import pytest
import quantities as pq
import xarray as xr

from opsnn_lake import IndexVersionError, Lake, NotALakeError, RunNotFoundError, SchemaError
from opsnn_lake.catalog import (
    LakeCatalog,
    RunSource,
    catalog_text,
    open_catalog,
    write_catalog,
)
from opsnn_lake.cli import main

REPO = Path(__file__).resolve().parents[1]


def _block(n_spikes: list[int], seed: int) -> neo.Block:
    """A small hand-made Block: one population, one spike train per entry of n_spikes."""
    rng = np.random.default_rng(seed)
    block = neo.Block(name=f"b{seed}")
    seg = neo.Segment(name="seg")
    block.segments.append(seg)
    for n in n_spikes:
        times = np.sort(rng.uniform(0.0, 100.0, n))
        seg.spiketrains.append(neo.SpikeTrain(times * pq.ms, t_start=0 * pq.ms, t_stop=100 * pq.ms))
    return block


@pytest.fixture
def filled(tmp_path):
    """A lake of four runs (g 30/45/51/70, nested stim.rate) and its catalog YAML."""
    lake = Lake(tmp_path / "lake")
    ids = {}
    for i, g in enumerate((30.0, 45.0, 51.0, 70.0)):
        block = _block([3 + i, 1 + 2 * i], seed=i)
        params = {"g_inh": g, "stim": {"rate": g / 10}}
        ids[g] = lake.add(block, model="net", parameters=params, seed=i, simulator="nest")
    yaml_path = lake.write_catalog(tmp_path / "catalogs" / "lake.yaml")
    return lake, ids, yaml_path


def test_entry_point_names_equal_the_driver_names():
    eps = {
        ep.name: ep
        for ep in metadata.entry_points(group="intake.drivers")
        if ep.value.startswith("opsnn_lake")
    }
    assert set(eps) == {"opsnn_lake", "opsnn_lake_run"}
    for name, ep in eps.items():
        assert ep.load().name == name
    assert eps["opsnn_lake"].load() is LakeCatalog
    assert eps["opsnn_lake_run"].load() is RunSource


def test_fresh_process_finds_the_driver_through_entry_points(filled):
    _lake, _ids, yaml_path = filled
    code = (
        "import sys, json, intake\n"
        "assert 'opsnn_lake' not in sys.modules\n"
        f"cat = intake.open_catalog({str(yaml_path)!r})['lake']\n"
        "t = type(cat)\n"
        "print(json.dumps([t.__module__, t.__name__, len(cat)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    module, name, n = json.loads(out.stdout.strip().splitlines()[-1])
    assert (module, name, n) == ("opsnn_lake.catalog", "LakeCatalog", 4)


def test_nothing_is_read_from_the_stores_before_data_is_asked_for(filled):
    lake, ids, yaml_path = filled
    hidden = lake.path / "runs-away"
    lake.runs_dir.rename(hidden)  # every store out of reach
    cat = intake.open_catalog(str(yaml_path))["lake"]
    sub = cat.search(g_inh=(40, 80))
    assert len(sub) == 3 and ids[51.0] in sub
    source = sub[ids[51.0]]
    assert source.metadata["g_inh"] == 51.0
    assert len(sub.df) == 3 and len(list(sub.values())) == 3
    with pytest.raises(RunNotFoundError, match="store is missing"):
        source.to_dask()
    hidden.rename(lake.runs_dir)
    assert isinstance(source.to_dask(), xr.DataTree)


def test_yaml_is_v1_with_a_relative_lake_path(filled):
    lake, _, yaml_path = filled
    text = yaml_path.read_text()
    assert "version" not in text  # intake would take a version > 1 for a v2 catalog
    assert "'{{ CATALOG_DIR }}../lake'" in text
    assert "driver: opsnn_lake\n" in text
    # writing again leaves the file as it is; the entry lists no run, so adding runs
    # does not make it stale
    before = yaml_path.stat().st_mtime_ns
    lake.add(_block([2], seed=99), model="net", parameters={"g_inh": 99.0}, seed=9)
    assert lake.write_catalog(yaml_path) == yaml_path
    assert yaml_path.stat().st_mtime_ns == before
    assert len(intake.open_catalog(str(yaml_path))["lake"]) == 5


def test_repository_catalog_is_the_generated_one():
    path = REPO / "catalogs" / "lake.yaml"
    assert path.read_text() == catalog_text(REPO / "lake", REPO / "catalogs", "lake")


def test_search_gives_narrower_catalogs(filled):
    lake, ids, yaml_path = filled
    cat = intake.open_catalog(str(yaml_path))["lake"]
    assert isinstance(cat, LakeCatalog)
    assert sorted(cat) == sorted(ids.values()) and len(cat) == 4
    sub = cat.search(g_inh=(40, 60))
    assert isinstance(sub, LakeCatalog)
    assert sorted(sub) == sorted([ids[45.0], ids[51.0]])
    assert list(sub.search(stim__rate=5.1)) == [ids[51.0]]
    assert list(cat.search(**{"stim.rate": (None, 3.0)})) == [ids[30.0]]
    assert list(cat.search(ids[70.0][-6:])) == [ids[70.0]]  # free text: run id substring
    assert ids[30.0] in cat and ids[30.0] not in sub
    with pytest.raises(KeyError):
        sub[ids[30.0]]
    assert list(sub.df.index) == sorted([ids[45.0], ids[51.0]])
    assert list(sub.df.index) == list(lake.search(g_inh=(40, 60)).index)
    with pytest.raises(SchemaError, match="no column or parameter 'g_exc'"):
        cat.search(g_exc=1)
    again = pickle.loads(pickle.dumps(sub))
    assert list(again) == list(sub) and again.criteria == sub.criteria
    assert "&id" not in sub.yaml()  # plain YAML, no anchors


def test_catalog_does_not_list_every_run_for_notebook_helpers(filled):
    _, ids, yaml_path = filled
    top = intake.open_catalog(str(yaml_path))
    cat = top["lake"]
    assert not set(ids.values()) & set(dir(cat))
    assert sorted(cat._ipython_key_completions_()) == sorted(ids.values())
    assert list(top.search("lake")) == ["lake"]  # the parent's text search stays cheap
    assert "4 runs" in repr(cat)


def test_run_source_is_lazy_and_equals_the_lake(filled):
    lake, ids, yaml_path = filled
    cat = intake.open_catalog(str(yaml_path))["lake"]
    run_id = ids[51.0]
    source = cat[run_id]
    assert isinstance(source, RunSource) and source.container == "xarray"
    assert source.metadata["g_inh"] == 51.0 and source.metadata["stim.rate"] == 5.1
    tree = source.to_dask()
    assert isinstance(tree, xr.DataTree)
    group = next(g for g in tree.groups if g.count("/") == 2)
    spikes = tree[group].dataset["spike_time"]
    assert isinstance(spikes.data, da.Array)  # nothing read yet
    expected = lake.open(run_id)[group].dataset["spike_time"].values
    assert spikes.values.tobytes() == expected.tobytes()
    ds = cat[run_id](group=group, variables=["spike_count"]).to_dask()
    assert isinstance(ds, xr.Dataset) and list(ds.data_vars) == ["spike_count"]
    assert isinstance(ds["spike_count"].data, da.Array)
    assert list(ds["spike_count"].values) == [3 + 2, 1 + 4]  # seed 2: [3+i, 1+2i]
    assert source.read()[group].dataset["spike_time"].values.tobytes() == expected.tobytes()
    block = source.to_neo()
    assert [len(st) for st in block.segments[0].spiketrains] == [5, 5]
    with pytest.raises(SchemaError, match="no group 'nope'; groups: seg"):
        cat[run_id](group="nope").to_dask()


def test_whole_result_set_as_one_dataset_with_parameters_as_coords(filled):
    lake, ids, yaml_path = filled
    cat = intake.open_catalog(str(yaml_path))["lake"].search(g_inh=(40, 80))
    group = next(g for g in lake.open(ids[45.0]).groups if g.count("/") == 2)
    ds = cat.to_dataset(group)
    assert list(ds["run"].values) == sorted([ids[45.0], ids[51.0], ids[70.0]])
    assert isinstance(ds["spike_time"].data, da.Array)
    by_run = {r: g for g, r in ids.items()}
    assert list(ds["g_inh"].values) == [by_run[r] for r in ds["run"].values]
    assert list(ds["stim.rate"].values) == [by_run[r] / 10 for r in ds["run"].values]
    assert set(ds["seed"].values) == {1, 2, 3}
    for run_id in ds["run"].values:
        one = lake.open(run_id)[group].dataset
        n = one.sizes["spike"]
        got = ds["spike_time"].sel(run=run_id).values
        assert got[:n].tobytes() == one["spike_time"].values.tobytes()
        assert np.isnan(got[n:]).all()  # ragged spikes padded after the last one
        assert list(ds["spike_count"].sel(run=run_id).values) == list(one["spike_count"].values)
    tree = cat.to_datatree(group)
    assert set(tree.children) == set(ds["run"].values)
    assert float(tree[ids[51.0]].dataset["g_inh"]) == 51.0
    assert list(tree.dataset["run"].values) == list(ds["run"].values)
    with pytest.raises(SchemaError, match="give the group"):
        cat.to_dataset()


def test_real_nest_runs_through_the_catalog(tmp_path, nest_block):
    lake = Lake(tmp_path / "lake")
    ids = [
        lake.add(nest_block, model="net", parameters={"g": g}, seed=1, simulator="nest")
        for g in (1.0, 2.0)
    ]
    cat = open_catalog(lake.write_catalog(tmp_path / "c.yaml"))
    ds = cat.search(g=(0, 3)).to_dataset("segment000/exc", variables=["v", "spike_count"])
    assert list(ds["run"].values) == sorted(ids)
    assert ds["v"].dims == ("run", "time", "unit")
    assert isinstance(ds["v"].data, da.Array)
    one = lake.open(ids[0])["segment000/exc"].dataset
    assert ds["v"].sel(run=ids[0]).values.tobytes() == one["v"].values.tobytes()


def test_missing_store_gives_a_clear_error(filled):
    lake, ids, yaml_path = filled
    cat = intake.open_catalog(str(yaml_path))["lake"]
    source = cat[ids[30.0]]
    shutil.rmtree(lake.store_path(ids[30.0]))
    with pytest.raises(RunNotFoundError, match="store is missing; run `opsnn-lake check`"):
        source.to_dask()


def test_malformed_yaml_gives_a_clear_error_and_is_not_overwritten(filled):
    lake, _, yaml_path = filled
    nonsense = "sources:\n  lake: [driver: {\n  ::: nope\n"
    yaml_path.write_text(nonsense)
    with pytest.raises(SchemaError, match=re.escape(f"{yaml_path}: not a readable YAML catalog")):
        lake.write_catalog(yaml_path)
    with pytest.raises(SchemaError, match=re.escape(f"{yaml_path}: not a readable YAML catalog")):
        open_catalog(yaml_path)
    with pytest.raises(Exception, match=r"while parsing|expected"):
        intake.open_catalog(str(yaml_path))
    assert yaml_path.read_text() == nonsense
    foreign = "sources:\n  other:\n    driver: csv\n    args: {urlpath: x.csv}\n"
    yaml_path.write_text(foreign)
    with pytest.raises(
        SchemaError, match=r"not written by opsnn_lake .*; refusing to overwrite it"
    ):
        lake.write_catalog(yaml_path)
    with pytest.raises(SchemaError, match="no entry 'lake' with driver 'opsnn_lake'"):
        open_catalog(yaml_path)
    assert yaml_path.read_text() == foreign


def test_bad_entry_arguments_and_bad_lakes(tmp_path, filled):
    _lake, _, yaml_path = filled
    text = yaml_path.read_text()
    yaml_path.write_text(text.replace("'{{ CATALOG_DIR }}../lake'", "42"))
    with pytest.raises(SchemaError, match=r"argument 'lake' .*must be the path of a lake"):
        intake.open_catalog(str(yaml_path))["lake"]
    yaml_path.write_text(text.replace("../lake", "../elsewhere"))
    with pytest.raises(NotALakeError, match="elsewhere: does not exist"):
        intake.open_catalog(str(yaml_path))["lake"]
    (tmp_path / "notalake").mkdir()
    (tmp_path / "notalake" / "data.txt").write_text("precious")
    with pytest.raises(NotALakeError, match="is not an OpSNN lake"):
        LakeCatalog(tmp_path / "notalake")
    with pytest.raises(NotALakeError, match="is not an OpSNN lake"):
        write_catalog(tmp_path / "notalake", tmp_path / "x.yaml")
    assert not (tmp_path / "x.yaml").exists()
    assert sorted(p.name for p in (tmp_path / "notalake").iterdir()) == ["data.txt"]


def test_newer_index_is_refused_by_the_catalog(filled):
    lake, _, yaml_path = filled
    lake.index.close()
    with sqlite3.connect(lake.path / "index.sqlite") as conn:
        conn.execute("UPDATE meta SET value = '7' WHERE key = 'index_version'")
    conn.close()
    with pytest.raises(IndexVersionError, match="index version 7 is newer"):
        intake.open_catalog(str(yaml_path))["lake"]


def test_catalog_command_writes_the_yaml(tmp_path, capsys):
    lake_dir = tmp_path / "lake"
    out = tmp_path / "catalogs" / "lake.yaml"
    assert main(["catalog", "--lake", str(lake_dir), "-o", str(out)]) == 0
    assert "not created yet" in capsys.readouterr().out
    assert out.read_text() == catalog_text(lake_dir, out.parent, "lake")
    Lake(lake_dir).add(_block([1], seed=1), model="m", parameters={"a": 1})
    assert len(intake.open_catalog(str(out))["lake"]) == 1
    out.write_text("{{{")
    assert main(["catalog", "--lake", str(lake_dir), "-o", str(out)]) == 2
    assert "not a readable YAML catalog" in capsys.readouterr().err
    assert out.read_text() == "{{{"
