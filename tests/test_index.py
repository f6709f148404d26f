"""The run index: search criteria as terms, SQL search, versions, read-only access."""

from __future__ import annotations

import sqlite3

import pytest

from opsnn_lake import IndexVersionError, Lake, NotALakeError, SchemaError
from opsnn_lake.index import RunIndex, criteria_terms, row_from_attrs


@pytest.mark.parametrize(
    ("criteria", "terms"),
    [
        ({"g_inh": 51.0}, [["g_inh", "eq", 51.0]]),
        ({"g_inh": (40, 60)}, [["g_inh", "range", [40, 60]]]),
        ({"g_inh": (None, 60)}, [["g_inh", "range", [None, 60]]]),
        ({"seed": [1, 2]}, [["seed", "in", [1, 2]]]),
        ({"stim.rate": None}, [["stim.rate", "null", None]]),
        ({"input": "tonic-1"}, [["input", "input", ["tonic-1"]]]),
        ({"input": ["a", "b"]}, [["input", "input", ["a", "b"]]]),
        ({"model": "va", "stim__rate": 5}, [["model", "eq", "va"], ["stim__rate", "eq", 5]]),
    ],
)
def test_criteria_become_plain_terms(criteria, terms):
    assert criteria_terms(criteria) == terms


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ({"g": (1, 2, 3)}, "must be \\(low, high\\)"),
        ({"g": {"a": 1}}, "must be a number, string, bool or None"),
        ({"g": [object()]}, "must be a number, string, bool or None"),
        ({"": 1}, "non-empty string"),
    ],
)
def test_bad_criteria_are_refused(criteria, message):
    with pytest.raises(SchemaError, match=message):
        criteria_terms(criteria)


def _attrs(run_id: str, **parameters) -> dict:
    return {
        "run_id": run_id,
        "kind": "simulation",
        "provenance": {"model": "m", "seed": 1, "parameters": parameters, "inputs": []},
        "summary": {"n_units": 2, "n_spikes": 3, "duration": 10.0},
    }


@pytest.fixture
def index(tmp_path) -> RunIndex:
    idx = RunIndex(tmp_path / "index.sqlite")
    rows = [
        row_from_attrs(_attrs("r1", g=30.0, stim={"rate": 3.0}), path="runs/r1.zarr", nbytes=1),
        row_from_attrs(_attrs("r2", g=45.0, stim={"rate": 4.5}), path="runs/r2.zarr", nbytes=1),
        row_from_attrs(_attrs("r3", g=51.0, tag="x"), path="runs/r3.zarr", nbytes=1),
        row_from_attrs(_attrs("r4", g=70.0, delays=[1, 2]), path="runs/r4.zarr", nbytes=1),
    ]
    idx.insert(rows)
    return idx


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({}, ["r1", "r2", "r3", "r4"]),
        ({"g": 51.0}, ["r3"]),
        ({"g": (40, 60)}, ["r2", "r3"]),
        ({"g": (None, 45)}, ["r1", "r2"]),
        ({"g": [30.0, 70.0]}, ["r1", "r4"]),
        ({"stim.rate": (None, None)}, ["r1", "r2"]),
        ({"stim__rate": 4.5}, ["r2"]),
        ({"tag": None}, ["r1", "r2", "r4"]),
        ({"delays": "[1, 2]"}, ["r4"]),  # list values are kept as JSON text
        ({"g": (40, 60), "tag": "x"}, ["r3"]),
        ([["run_id", "contains", "3"]], ["r3"]),
    ],
)
def test_search_table(index, criteria, expected):
    assert index.run_ids(criteria) == expected
    assert list(index.search(criteria).index) == expected
    assert index.count(criteria) == len(expected)


def test_search_frame_uses_bare_names_and_drops_empty_parameters(index):
    frame = index.search({"g": (40, 60)})
    assert {"g", "stim.rate", "tag"} <= set(frame.columns)
    assert "delays" not in frame.columns  # no selected run has it
    assert frame.loc["r2", "stim.rate"] == 4.5
    public = RunIndex.public_row(index.get("r3"))
    assert public["tag"] == "x" and public["inputs"] == [] and "stim.rate" not in public


def test_unknown_names_list_the_known_ones(index):
    with pytest.raises(SchemaError, match=r"no column or parameter 'g_exc'; known: .*stim.rate"):
        index.search({"g_exc": 1})
    with pytest.raises(SchemaError, match=r"must be \[key, op, value\]"):
        index.run_ids([["g", "like", 1]])


def test_new_parameters_add_columns_and_reindex_drops_stale_ones(index):
    assert "tag" in index.parameter_names()
    index.replace_all([row_from_attrs(_attrs("r9", h=1), path="runs/r9.zarr", nbytes=1)])
    assert index.parameter_names() == ["h"]
    assert index.run_ids() == ["r9"]


def test_read_only_index_reads_and_refuses_to_write(index, tmp_path):
    reader = RunIndex(tmp_path / "index.sqlite", read_only=True)
    assert reader.run_ids({"g": (40, 60)}) == ["r2", "r3"]
    with pytest.raises(PermissionError, match="read-only"):
        reader.insert([row_from_attrs(_attrs("r5"), path="runs/r5.zarr", nbytes=1)])
    with pytest.raises(NotALakeError, match="no lake index"):
        RunIndex(tmp_path / "missing.sqlite", read_only=True)
    assert not (tmp_path / "missing.sqlite").exists()


def test_index_from_a_newer_version_is_refused_and_left_alone(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.index.close()
    db = tmp_path / "lake" / "index.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'index_version'")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(IndexVersionError, match="index version 99 is newer"):
        Lake(tmp_path / "lake")
    with pytest.raises(IndexVersionError, match="index version 99 is newer"):
        RunIndex(db, read_only=True)
    assert db.read_bytes() == before


def test_corrupt_index_file_gives_a_clear_error(tmp_path):
    lake_dir = tmp_path / "lake"
    Lake(lake_dir).index.close()
    db = lake_dir / "index.sqlite"
    for extra in ("-wal", "-shm"):
        (lake_dir / f"index.sqlite{extra}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(SchemaError, match=r"not a readable lake index .*reindex"):
        Lake(lake_dir)
    assert db.read_bytes() == b"this is not a database" * 100
