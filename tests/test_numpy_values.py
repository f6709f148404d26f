"""numpy scalars, bools and arrays are accepted wherever Python ones are (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest

from opsnn_lake import Lake, SchemaError
from opsnn_lake.jsonable import plain


def test_plain_turns_numpy_values_into_python_ones() -> None:
    value = plain({"g": np.arange(2.0)[1], "on": np.bool_(True), "n": [np.int32(2)], "r": (1, 2)})
    assert value == {"g": 1.0, "on": True, "n": [2], "r": (1, 2)}
    assert type(value["g"]) is float and type(value["on"]) is bool and type(value["n"][0]) is int
    assert plain(np.arange(3)) == [0, 1, 2]


def test_lake_add_and_search_with_numpy_values(lake: Lake, nest_block) -> None:
    ids = []
    for seed, g in zip(np.arange(2, 4), np.arange(40.0, 60.0, 10.0), strict=True):
        ids.append(
            lake.add(
                nest_block,
                model="net",
                seed=seed,  # np.int64
                parameters={"g_inh": g, "plastic": np.bool_(seed == 3), "n": np.int32(7)},
            )
        )
    frame = lake.search()
    assert sorted(frame["seed"].tolist()) == [2, 3]
    assert sorted(frame["g_inh"].tolist()) == [40.0, 50.0]
    assert lake.provenance(ids[1]).parameters == {"g_inh": 50.0, "plastic": True, "n": 7}
    assert type(lake.provenance(ids[1]).seed) is int
    assert list(lake.search(seed=np.int64(3)).index) == [ids[1]]
    assert list(lake.search(g_inh=(np.float64(45), None)).index) == [ids[1]]
    assert list(lake.search(plastic=np.bool_(True)).index) == [ids[1]]
    # the same run added with Python values is the same run
    assert lake.add(nest_block, model="net", seed=3,
                    parameters={"g_inh": 50.0, "plastic": True, "n": 7}) == ids[1]  # fmt: skip
    with pytest.raises(SchemaError, match="seed must be an int"):
        lake.add(nest_block, model="net", seed=np.bool_(True))
