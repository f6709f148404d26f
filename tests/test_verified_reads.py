"""Damage to a store is an error on every read path, never fill values or wrong numbers.

Each defect of issue 9 has a reproducer here: a deleted chunk file, a flipped bit, one
edited digit of a ``scale_factor`` and an edited shape, read through ``lake.open``
(``.compute()``), the catalog's ``to_dask``/``to_dataset``, ``to_neo``, the analyses,
the ``analyse`` and ``plot`` commands; then ``check``, ``check --deep`` and
``check --repair``. The stores are real NEST runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import intake
import pytest

from opsnn_lake import CorruptStoreError, Lake, LakeError
from opsnn_lake import analysis as an
from opsnn_lake.cli import main

SPIKES = "segment000/exc/spike_time"


def _add(lake: Lake, block, g: float = 1.0) -> str:
    return lake.add(block, model="net", parameters={"g": g}, seed=1, simulator="nest")


def _delete_chunk(store: Path) -> str:
    (store / SPIKES / "c/0").unlink()
    return r"chunk '0'.*missing"


def _flip_bit(store: Path) -> str:
    chunk = store / SPIKES / "c/0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x04
    chunk.write_bytes(bytes(data))
    return "CRC-32C"


def _edit_metadata(store: Path, edit) -> str:
    # Both copies, as a careful editor would: the array's zarr.json and the consolidated one.
    for doc_path, key in ((store / SPIKES / "zarr.json", None), (store / "zarr.json", SPIKES)):
        doc = json.loads(doc_path.read_text())
        edit(doc if key is None else doc["consolidated_metadata"]["metadata"][key])
        doc_path.write_text(json.dumps(doc))
    return "changed after writing"


def _edit_scale(store: Path) -> str:
    def edit(meta):  # one digit: 0.02 -> 0.04 doubles every spike time
        meta["attributes"]["scale_factor"] = float(
            str(meta["attributes"]["scale_factor"]).replace("2", "4", 1)
        )

    return _edit_metadata(store, edit)


def _edit_shape(store: Path) -> str:
    def edit(meta):  # half the spikes
        meta["shape"] = [meta["shape"][0] // 2]

    return _edit_metadata(store, edit)


DAMAGE = {
    "deleted-chunk": _delete_chunk,
    "flipped-bit": _flip_bit,
    "scale-digit": _edit_scale,
    "shape": _edit_shape,
}


@pytest.fixture(params=sorted(DAMAGE))
def damaged(request, tmp_path, nest_block):
    """A lake of two runs, one damaged; (lake, damaged id, intact id, message pattern)."""
    lake = Lake(tmp_path / "lake")
    bad, good = _add(lake, nest_block, 1.0), _add(lake, nest_block, 2.0)
    pattern = DAMAGE[request.param](lake.store_path(bad))
    return lake, bad, good, pattern


def _assert_names(err: Exception, run_id: str, pattern: str) -> None:
    text = str(err)
    assert run_id in text and "segment000/exc/spike_time" in text, text
    assert re.search(pattern, text), text
    assert isinstance(err, LakeError) and isinstance(err, OSError)


def test_open_compute_raises(damaged):
    lake, bad, good, pattern = damaged
    lake.open(good).compute()
    with pytest.raises(CorruptStoreError) as info:
        tree = lake.open(bad)  # lazy: metadata damage may already be seen here
        tree.compute()
    _assert_names(info.value, bad, pattern)


def test_open_is_lazy_about_chunks(tmp_path, nest_block):
    lake = Lake(tmp_path / "lake")
    run_id = _add(lake, nest_block)
    _delete_chunk(lake.store_path(run_id))
    tree = lake.open(run_id)  # opening reads no chunk: no error yet
    assert tree["segment000/exc"]["spike_count"].values.sum() > 0  # an intact array reads
    with pytest.raises(CorruptStoreError, match="chunk '0'"):
        tree["segment000/exc"]["spike_time"].load()


def test_to_neo_raises(damaged):
    lake, bad, good, pattern = damaged
    lake.to_neo(good)
    with pytest.raises(CorruptStoreError) as info:
        lake.to_neo(bad)
    _assert_names(info.value, bad, pattern)


def test_catalog_to_dask_and_to_dataset_raise(damaged):
    lake, bad, _good, pattern = damaged
    yaml_path = lake.write_catalog(lake.path.parent / "catalogs" / "lake.yaml")
    cat = intake.open_catalog(str(yaml_path))["lake"]
    with pytest.raises(CorruptStoreError) as info:
        cat[bad].to_dask().compute()
    _assert_names(info.value, bad, pattern)
    with pytest.raises(CorruptStoreError) as info:
        cat.to_dataset("segment000/exc").compute()
    _assert_names(info.value, bad, pattern)
    cat.search(g=2.0).to_dataset("segment000/exc").compute()


def test_analysis_raises(damaged):
    lake, bad, _good, pattern = damaged
    with pytest.raises(CorruptStoreError) as info:
        an.firing_rate(lake).compute()
    _assert_names(info.value, bad, pattern)
    an.firing_rate(lake.search(g=2.0), lake=lake).compute()


def test_analyse_and_plot_commands_fail(damaged, capsys, tmp_path):
    lake, bad, _good, _pattern = damaged
    code = main(["analyse", "--lake", str(lake.path), "--stat", "rate", "--stat", "cv"])
    err = capsys.readouterr().err
    assert code != 0 and bad in err and "spike_time" in err, err
    out = tmp_path / "raster.png"
    assert main(["plot", "--lake", str(lake.path), "raster", bad, "-o", str(out)]) != 0
    assert bad in capsys.readouterr().err and not out.exists()


def test_check_lists_damaged_runs_and_repair_quarantines_them(damaged, capsys):
    lake, bad, good, pattern = damaged
    deep = pattern == "CRC-32C"  # a flipped bit needs the checksums: --deep
    report = lake.check(deep=deep)
    assert list(report.damaged) == [bad] and re.search(pattern, report.damaged[bad])
    assert main(["check", "--lake", str(lake.path)]) == (0 if deep else 1)
    assert (bad in capsys.readouterr().out) != deep
    assert main(["check", "--deep", "--lake", str(lake.path)]) == 1
    flags = ["--deep"] if deep else []
    assert main(["check", "--repair", *flags, "--lake", str(lake.path)]) == 1
    out = capsys.readouterr().out
    assert str(lake.quarantine_dir) in out and bad in out
    assert (lake.quarantine_dir / f"{bad}.zarr").is_dir()  # moved, not deleted
    assert not lake.store_path(bad).exists() and bad not in lake and good in lake
    assert main(["check", "--deep", "--lake", str(lake.path)]) == 0


def test_reindex_skips_a_store_with_edited_metadata(tmp_path, nest_block):
    lake = Lake(tmp_path / "lake")
    bad, good = _add(lake, nest_block, 1.0), _add(lake, nest_block, 2.0)
    _edit_scale(lake.store_path(bad))
    assert lake.reindex() == 1 and good in lake and bad not in lake
    assert list(lake.check().damaged) == [bad]


def test_plain_check_misses_a_flipped_bit_that_deep_finds(tmp_path, nest_block):
    lake = Lake(tmp_path / "lake")
    run_id = _add(lake, nest_block)
    _flip_bit(lake.store_path(run_id))
    assert lake.check().ok  # chunk presence and metadata only: the bit needs --deep
    assert list(lake.check(deep=True).damaged) == [run_id]


def test_check_compares_rows_with_their_stores(tmp_path, nest_block):
    lake = Lake(tmp_path / "lake")
    a, b = _add(lake, nest_block, 1.0), _add(lake, nest_block, 2.0)
    with lake.index._write() as conn:  # an edited path serves b's data under a's id
        conn.execute("UPDATE runs SET path = ? WHERE run_id = ?", (f"runs/{b}.zarr", a))
    cat = intake.open_catalog(str(lake.write_catalog(tmp_path / "lake.yaml")))["lake"]
    with pytest.raises(CorruptStoreError, match=f"run {a!r} points to the store of run {b!r}"):
        cat[a].to_dask()
    with pytest.raises(CorruptStoreError, match="points to the store of run"):
        cat.to_dataset("segment000/exc")
    report = lake.check()
    assert list(report.bad_rows) == [a] and "path" in report.bad_rows[a]
    assert main(["check", "--lake", str(lake.path)]) == 1
    assert lake.check(repair=True).repaired and lake.check().ok
    assert lake.search().loc[a, "path"] == f"runs/{a}.zarr"
    assert cat[a].to_dask().attrs["run_id"] == a


def test_intact_lake_checks_ok(tmp_path, nest_block):
    lake = Lake(tmp_path / "lake")
    _add(lake, nest_block)
    assert lake.check().ok and lake.check(deep=True).ok
