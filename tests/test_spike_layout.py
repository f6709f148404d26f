"""The spike layout record: the ``spiketrains`` attribute of a population group."""

from __future__ import annotations

import json

import numpy as np
import pytest

from opsnn_lake import Lake
from opsnn_lake.errors import SchemaError
from opsnn_lake.neo_convert import block_to_nodes, spike_group
from opsnn_lake.provenance import Provenance
from opsnn_lake.schema import SCHEMA_NAME, SCHEMA_VERSION, Node, SpikeLayout
from opsnn_lake.store import read_nodes, write_store
from opsnn_lake.testing.samples import small_block

ROOT = {
    "schema": SCHEMA_NAME,
    "schema_version": SCHEMA_VERSION,
    "run_id": "x",
    "kind": "simulation",
    "provenance": {},
}


def _group(n=4, *, channel_ids=True):
    node = Node(attrs={"label": "exc", "label_from_annotation": True})
    counts = np.array([2, 0, 1, 3][:n], dtype=np.int64)
    times = np.array([1.0, 5.0, 2.5, 0.5, 0.6, 9.0][: counts.sum()])
    unit = {"source_index": np.arange(n)}
    if channel_ids:
        unit["channel_id"] = np.arange(n) + 10
    group = spike_group(
        node,
        times=times,
        counts=counts,
        units="ms",
        dtype="<f8",
        t_start=np.zeros(n),
        t_stop=np.full(n, 10.0),
        unit_annotations=unit,
        annotations={"model": "lif"},
        attributes={"name": None},
    )
    return node, group


def test_spike_group_then_write_store_works(tmp_path):
    node, group = _group()
    assert not [k for k in node.attrs if k.startswith("_")]  # no scratch state in attrs
    np.testing.assert_array_equal(group.unit_ids, np.arange(4) + 10)
    assert node.attrs["spiketrains"] == group.layout.to_dict()
    nodes = {
        "": Node(attrs={"block": {}, "segments": ["s0"]}),
        "s0": Node(attrs={"segment": {}, "populations": ["exc"]}),
        "s0/exc": node,
    }
    write_store(tmp_path / "store", nodes, ROOT)  # was: TypeError, ndarray not JSON serializable
    back = read_nodes(tmp_path / "store")["s0/exc"]
    assert SpikeLayout.from_dict(back.attrs["spiketrains"]) == group.layout
    lake = Lake(tmp_path / "lake")
    run_id = lake.add_nodes(nodes, Provenance(model="layout", parameters={}))
    (seg,) = lake.to_neo(run_id).segments
    assert [len(st) for st in seg.spiketrains] == [2, 0, 1, 3]
    assert seg.spiketrains[3].annotations["channel_id"] == 13


def test_spike_group_without_ids_returns_none():
    _, group = _group(channel_ids=False)
    assert group.unit_ids is None


def test_round_trip_of_every_stored_layout():
    nodes = block_to_nodes(small_block(seed=1))
    layouts = [n.attrs["spiketrains"] for n in nodes.values() if "spiketrains" in n.attrs]
    assert layouts
    for raw in layouts:
        encoded = json.loads(json.dumps(raw))  # as a store gives it back
        assert SpikeLayout.from_dict(encoded).to_dict() == raw


def test_to_dict_keeps_the_stored_key_order():
    layout = SpikeLayout(t_start=0.0, t_stop=1.0, annotation_types={"x": "int"})
    assert list(layout.to_dict()) == [
        "t_start",
        "t_stop",
        "annotations",
        "annotation_vars",
        "annotation_lists",
        "attributes",
        "attribute_lists",
        "array_annotation_vars",
        "annotation_types",
    ]
    assert "annotation_types" not in SpikeLayout().to_dict()
    assert "t_start" not in SpikeLayout(t_stop=1.0).to_dict()  # per-unit bounds


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("t_start", "0", "a number or None"),
        ("t_stop", True, "a number or None"),
        ("annotations", [1], "a mapping with str keys"),
        ("annotation_vars", {"x": 3}, "variable name"),
        ("array_annotation_vars", "spike_x", "variable name"),
        ("annotation_lists", {"x": "abc"}, "list"),
        ("attribute_lists", {"name": None}, "list"),
        ("attributes", {1: None}, "str keys"),
        ("annotation_types", {"x": "complex"}, "one of"),
    ],
)
def test_bad_fields_are_named(field, value, expected):
    with pytest.raises(
        SchemaError, match=rf"group g/p: spike layout field '{field}': expected .*{expected}"
    ):
        SpikeLayout.from_dict({field: value}, where="group g/p")


def test_unknown_keys_and_non_mappings_are_refused():
    with pytest.raises(SchemaError, match=r"unknown keys \['_unit_ids'\]"):
        SpikeLayout.from_dict({"_unit_ids": [1, 2]})
    with pytest.raises(SchemaError, match="expected a mapping"):
        SpikeLayout.from_dict([1, 2])


def test_per_unit_bound_is_not_a_common_one():
    with pytest.raises(SchemaError, match="t_start differs between units"):
        SpikeLayout(t_stop=1.0).bound("t_start")
    assert SpikeLayout(t_start=2, t_stop=3.0).bound("t_start") == 2.0


def test_a_corrupt_layout_in_a_store_is_named_on_reading(tmp_path):
    block = small_block(seed=2)
    lake = Lake(tmp_path / "lake")
    run_id = lake.add(block, model="m", parameters={})
    nodes = read_nodes(lake.store_path(run_id))
    path = next(p for p, n in nodes.items() if "spiketrains" in n.attrs)
    nodes[path].attrs["spiketrains"]["annotation_vars"] = ["not", "a", "mapping"]
    from opsnn_lake.neo_convert import nodes_to_block

    with pytest.raises(SchemaError, match=f"group {path}: spike layout field 'annotation_vars'"):
        nodes_to_block(nodes, where="store")
