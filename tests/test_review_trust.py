"""Review of issue 9 on the merged code: reproducers an independent reader found.

- a list-valued parameter made ``check`` report a healthy run's row as differing from
  its store (exit 1 forever; ``--repair`` rewrote the same row again);
- an edited ``path`` column served another run's data under a run's id through the
  analyses and the catalog's ``to_datatree``;
- a symbolic link inside a store (a chunk file or a group folder leading out of the
  lake) was followed by every read and passed ``check --deep``.
"""

from __future__ import annotations

import os
import shutil

import intake
import pytest

from opsnn_lake import CorruptStoreError, Lake
from opsnn_lake import analysis as an
from opsnn_lake.cli import main

SPIKES = "segment000/exc/spike_time"


def test_list_parameters_check_ok(tmp_path, nest_block):
    lake = Lake(tmp_path / "lake")
    parameters = {"delays": [1, 2], "stim": {"rates": [0.5, 2.0]}, "big": [1, 2**70]}
    lake.add(nest_block, model="net", parameters=parameters, seed=1)
    assert lake.check().ok, lake.check().lines()
    assert main(["check", "--lake", str(lake.path)]) == 0


def test_edited_path_is_refused_by_analyses_and_datatree(tmp_path, nest_block):
    lake = Lake(tmp_path / "lake")
    a = lake.add(nest_block, model="net", parameters={"g": 1.0}, seed=1)
    b = lake.add(nest_block, model="net", parameters={"g": 2.0}, seed=1)
    with lake.index._write() as conn:  # serves b's data under a's id
        conn.execute("UPDATE runs SET path = ? WHERE run_id = ?", (f"runs/{b}.zarr", a))
    with pytest.raises(CorruptStoreError, match=a):
        an.firing_rate(lake.search(g=1.0), lake=lake).compute()
    assert main(["analyse", "--lake", str(lake.path), "--stat", "rate"]) != 0
    cat = intake.open_catalog(str(lake.write_catalog(tmp_path / "lake.yaml")))["lake"]
    with pytest.raises(CorruptStoreError, match="points to the store of run"):
        cat.to_datatree()
    with lake.index._write() as conn:  # and never a store outside the lake
        conn.execute("UPDATE runs SET path = ? WHERE run_id = ?", ("../elsewhere.zarr", a))
    with pytest.raises(CorruptStoreError, match=a):
        an.firing_rate(lake.search(g=1.0), lake=lake).compute()
    assert lake.check(repair=True).repaired and lake.check().ok
    an.firing_rate(lake).compute()


@pytest.mark.parametrize("what", ["chunk", "group"])
def test_links_inside_a_store_are_never_followed(tmp_path, nest_block, what):
    lake = Lake(tmp_path / "lake")
    run_id = lake.add(nest_block, model="net", parameters={"g": 1.0}, seed=1)
    store = lake.store_path(run_id)
    outside = tmp_path / "outside"
    outside.mkdir()
    inside = store / (f"{SPIKES}/c/0" if what == "chunk" else "segment000/exc")
    copy = outside / inside.name
    shutil.move(inside, copy)  # an identical copy outside the lake, linked in
    os.symlink(copy, inside)
    with pytest.raises(CorruptStoreError, match="symbolic link"):
        lake.open(run_id).compute()
    with pytest.raises(CorruptStoreError, match="symbolic link"):
        lake.to_neo(run_id)
    for deep in (False, True):
        report = lake.check(deep=deep)
        assert list(report.damaged) == [run_id] and "symbolic link" in report.damaged[run_id]
    assert main(["check", "--deep", "--lake", str(lake.path)]) == 1
    lake.check(repair=True)
    assert copy.exists() and run_id not in lake  # quarantined; the target left alone


@pytest.mark.parametrize("lost", ["empty", "missing"])
def test_a_writer_rebuilds_a_lost_index_instead_of_extending_it(tmp_path, nest_block, lost):
    lake = Lake(tmp_path / "lake")
    first = lake.add(nest_block, model="net", parameters={"g": 1.0}, seed=1)
    lake.index.close()
    db = lake.path / "index.sqlite"
    if lost == "empty":
        db.write_bytes(b"")
    else:
        db.unlink()
    writer = Lake(lake.path)
    second = writer.add(nest_block, model="net", parameters={"g": 2.0}, seed=1)
    assert set(writer.search().index) == {first, second} and writer.check().ok
    writer.index.close()
    assert main(["ls", "--lake", str(lake.path)]) == 0


def test_a_parameter_nested_too_deeply_is_refused_by_name(tmp_path, nest_block):
    from opsnn_lake import SchemaError

    nested: object = 1
    for _ in range(3000):
        nested = {"x": nested}
    lake = Lake(tmp_path / "lake")
    with pytest.raises(SchemaError, match="parameter 'deep' is nested too deeply"):
        lake.add(nest_block, model="net", parameters={"deep": nested, "g": 1.0}, seed=1)
    assert len(lake) == 0 and not list(lake.runs_dir.iterdir()) and lake.check().ok


def test_early_schema_1_arrays_without_checksum_still_read(tmp_path):
    """Schema-1 stores written before every chunk carried a CRC-32C (and before chunks
    equal to the fill value were written) read as zarr reads them, and check passes."""
    import json
    from pathlib import Path

    fixtures = Path(__file__).parent / "fixtures" / "v1"
    shutil.copytree(fixtures / "lake", tmp_path / "lake")
    lake = Lake(tmp_path / "lake")
    lake.reindex()
    (run_id,) = [r for r in lake.search().index if r.startswith("fixture-silent")]
    store = lake.store_path(run_id)
    name = "segment000/quiet/spike_count"  # all zeros: early writers wrote no chunk
    for doc_path, key in ((store / name / "zarr.json", None), (store / "zarr.json", name)):
        doc = json.loads(doc_path.read_text())
        meta = doc if key is None else doc["consolidated_metadata"]["metadata"][key]
        meta["codecs"] = [c for c in meta["codecs"] if c["name"] != "crc32c"]
        doc_path.write_text(json.dumps(doc))
    (store / name / "c" / "0").unlink()
    block = lake.to_neo(run_id)
    assert all(len(st) == 0 for st in block.segments[0].spiketrains)
    lake.open(run_id).compute()
    assert lake.check(deep=True).ok, lake.check(deep=True).lines()
