"""jsonable: decode(encode(x)) is x (same type, same value) through strict JSON."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import numpy as np
import pytest
import quantities as pq
from hypothesis import HealthCheck, given, settings

from opsnn_lake import SchemaError
from opsnn_lake.jsonable import decode, encode, encode_mapping, units_string
from opsnn_lake.testing import annotation_values, values_equal


def _through_json(value):
    text = json.dumps(encode(value), allow_nan=False)  # strict JSON: no NaN, no Infinity
    return decode(json.loads(text))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=annotation_values())
def test_decode_inverts_encode_through_strict_json(value):
    back = _through_json(value)
    assert values_equal(value, back), f"{value!r} came back as {back!r}"


@pytest.mark.parametrize(
    "value",
    [
        (50,),
        (),
        [(1, 2), [3, (4,)]],
        {"__tuple__": [1, 2], "units": "ms", "__dict__": {}},  # user keys that look like tags
        {"nested": {"__ndarray__": "not an array"}},
        np.int64(-(2**63)),
        np.uint64(2**64 - 1),
        np.float32("nan"),
        np.float64("-inf"),
        -0.0,
        float("nan"),
        2**100,
        np.str_("é"),
        np.str_("ab\x00"),  # trailing NULs numpy arrays would drop
        np.bytes_(b"\x00a\x00"),
        np.bool_(True),
        np.complex64(1 - 2j),
        np.datetime64("NaT"),
        np.timedelta64(7, "ns"),
        np.zeros((2, 0, 3), dtype=np.int16),
        np.array(3.5, dtype=np.float32),
        np.array([[1 + 1j, np.nan]]),
        np.array([b"ab", b""], dtype="S2"),
        np.array(["2024-01-01", "NaT"], dtype="M8[D]"),
        1.5 * pq.mV,
        np.array([1, 2], dtype=np.int32) * pq.Hz,
        pq.Quantity(np.float32(2.0), "1/s"),
        dt.datetime(2024, 1, 2, 3, 4, 5, 6),
        dt.datetime(2024, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=-3))),
        dt.date(1999, 12, 31),
        dt.time(23, 59, 59, 999999),
        dt.timedelta(days=-1, microseconds=5),
        decimal.Decimal("0.10"),
        complex(float("inf"), -0.0),
        b"\x00\xff",
    ],
    ids=repr,
)
def test_values_neo_allows_come_back_with_their_type(value):
    back = _through_json(value)
    assert type(back) is type(value)
    assert values_equal(value, back), f"{value!r} came back as {back!r}"


def test_sPyNNaker_annotations():
    annotations = {
        "last_index": (50,),
        "simulator": "sPyNNaker_under_version(1!7.4.1-Quietly Confident 1)",
        "source_ids": [np.int64(0), np.int64(1)],
        "channel_names": np.arange(3),
    }
    back = decode(json.loads(json.dumps(encode_mapping(annotations, where="x"))))
    assert values_equal(annotations, back)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (object(), r"where\['k'\]: object values cannot be stored losslessly"),
        ({1, 2}, r"set values cannot be stored"),
        ({"a": [1, {"b": object()}]}, r"where\['k'\]\['a'\]\[1\]\['b'\]: object values"),
        ({3: "x"}, r"where\['k'\]: key 3 is not a string"),
        (np.array([object()]), r"numpy array of dtype object cannot be stored"),
        (np.longdouble(1) / 3, r"more precision than JSON numbers keep"),
        (np.zeros(2, dtype=[("a", "i4")]), r"numpy array of dtype .* cannot be stored"),
    ],
)
def test_values_without_a_lossless_form_are_refused_by_key(value, message):
    with pytest.raises(SchemaError, match=message):
        encode_mapping({"k": value}, where="where")


def test_units_string_matches_quantities():
    for q in (pq.ms, 1.0 * pq.s, pq.Quantity(1, "1/ms"), 2 * pq.mV * pq.ms, pq.dimensionless):
        assert units_string(q) == q.dimensionality.string
        assert pq.Quantity(1.0, units_string(q)).dimensionality == q.dimensionality
