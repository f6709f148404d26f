"""Run ids are derived from what determines the data, and only from that."""

from __future__ import annotations

import pytest

from opsnn_lake import SchemaError
from opsnn_lake.provenance import Provenance


def _sim(**changes):
    fields = dict(
        model="va",
        model_hash="h",
        parameters={"g_inh": 51.0},
        seed=1,
        simulator="nest",
        simulator_version="3.10.0",
    )
    return Provenance(**(fields | changes))


def test_same_configuration_same_id_whatever_the_host_or_time():
    a = _sim(host="a", created="2020-01-01T00:00:00", timings={"build": 1.0}, command=["x"])
    b = _sim(host="b", created="2026-01-01T00:00:00", timings={"build": 9.0}, command=["y"])
    assert a.run_id() == b.run_id()
    assert a.run_id().startswith("va-")


@pytest.mark.parametrize(
    "change",
    [
        {"parameters": {"g_inh": 52.0}},
        {"seed": 2},
        {"simulator_version": "3.9"},
        {"model_hash": "other"},
        {"inputs": ["bump-1"]},
    ],
)
def test_anything_that_shapes_the_data_changes_the_id(change):
    assert _sim(**change).run_id() != _sim().run_id()


def test_ingested_files_are_identified_by_data_and_metadata_not_bytes():
    def ingested(sha: str, **kwargs):
        fields = {"model": "va", "parameters": {"n": 1}, "content_sha256": "data1", **kwargs}
        return Provenance(sources=[{"path": f"{sha}.pkl", "sha256": sha}], **fields)

    assert ingested("aa").run_id() == ingested("bb").run_id()  # other bytes, same data
    assert ingested("aa").run_id() != ingested("aa", content_sha256="data2").run_id()
    assert ingested("aa").run_id() != ingested("aa", parameters={"n": 2}).run_id()
    with pytest.raises(SchemaError, match="needs content_sha256"):
        Provenance(sources=[{"path": "a", "sha256": "aa"}]).run_id()


def test_round_trip_through_dict_keeps_the_id():
    prov = _sim(inputs=["bump-1"], extra={"note": (1, 2)})
    again = Provenance.from_dict(prov.to_dict())
    assert again == prov
    assert again.run_id() == prov.run_id()


def test_bad_records_are_refused_with_the_reason():
    with pytest.raises(SchemaError, match="kind 'output'"):
        Provenance(kind="output")
    with pytest.raises(SchemaError, match="JSON values"):
        _sim(parameters={"g": float("nan")})
    with pytest.raises(SchemaError, match="needs content_sha256"):
        Provenance().run_id()
