"""Lossless JSON encoding of neo annotations and provenance values.

neo annotations may hold tuples (sPyNNaker), numpy scalars and arrays (PyNN's
``channel_ids``), quantities and datetimes. Zarr attributes are JSON, so those values
are written as small tagged objects that :func:`decode` turns back into the original
type; ``decode(encode(x)) == x`` for everything :func:`encode` accepts. Values whose
meaning cannot be kept (arbitrary objects, complex numbers) are refused by key.

Tags (documented in ``docs/format.md``)::

    {"__tuple__": [...]}                          tuple
    {"__numpy__": "int64", "value": 3}            numpy scalar
    {"__ndarray__": [...], "dtype": "<f8"}        numpy array (non-finite floats as strings)
    {"__quantity__": <value>, "units": "ms"}      quantities.Quantity
    {"__datetime__": "2024-01-01T00:00:00"}       datetime.datetime
    {"__date__": "2024-01-01"}                    datetime.date
    {"__float__": "NaN"}                          non-finite Python float
    {"__bytes__": "<base64>"}                     bytes
    {"__dict__": {...}}                           dict whose keys start with "__"
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import quantities as pq

from opsnn_lake.errors import SchemaError

__all__ = ["decode", "encode", "encode_mapping"]

_NUMERIC_KINDS = "biufU"  # bool, int, uint, float, unicode: what a JSON list can carry


def encode_mapping(mapping: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """Encode every value of an annotation dict.

    Parameters
    ----------
    mapping : Mapping[str, Any]
        Annotations (or any string-keyed metadata).
    where : str
        Name of the object the mapping belongs to, used in error messages
        (e.g. ``"segment 0, spike train 3 annotations"``).

    Returns
    -------
    dict[str, Any]
        A JSON-serialisable dict.

    Raises
    ------
    SchemaError
        If a key is not a string or a value cannot be encoded losslessly; the message
        names ``where`` and the key.
    """
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise SchemaError(f"{where}: key {key!r} is not a string; annotation keys must be str")
        out[key] = encode(value, where=f"{where}[{key!r}]")
    return out


def encode(value: Any, *, where: str = "value") -> Any:
    """Encode one value as JSON-able data; see the module docstring for the tags.

    Raises
    ------
    SchemaError
        If the value has no lossless JSON form; the message names ``where``.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, pq.Quantity):  # before ndarray: a Quantity is one
        magnitude = value.magnitude
        inner = encode(magnitude if magnitude.ndim else magnitude[()], where=where)
        return {"__quantity__": inner, "units": value.dimensionality.string}
    if isinstance(value, np.ndarray):
        return _encode_array(value, where)
    if isinstance(value, np.generic):
        if value.dtype.kind not in _NUMERIC_KINDS:
            raise SchemaError(f"{where}: numpy scalar of dtype {value.dtype} cannot be stored")
        return {"__numpy__": value.dtype.str, "value": encode(value.item(), where=where)}
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, where=where) for v in value]}
    if isinstance(value, list):
        return [encode(v, where=where) for v in value]
    if isinstance(value, Mapping):
        encoded = encode_mapping(value, where=where)
        if any(k.startswith("__") for k in encoded):
            return {"__dict__": encoded}
        return encoded
    if isinstance(value, dt.datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, dt.date):
        return {"__date__": value.isoformat()}
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    raise SchemaError(
        f"{where}: a {type(value).__name__} cannot be stored losslessly; use str, numbers, "
        "bool, None, lists, tuples, dicts, numpy values, quantities or datetimes"
    )


def _encode_array(array: np.ndarray, where: str) -> dict[str, Any]:
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise SchemaError(
            f"{where}: numpy array of dtype {array.dtype} cannot be stored; "
            "use a numeric, bool or str array"
        )
    data = array.tolist()
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        # JSON has no NaN/inf; numpy parses these strings back to the same values.
        data = np.where(np.isfinite(array), array.astype(object), array.astype(str)).tolist()
    return {"__ndarray__": data, "dtype": array.dtype.str}


def decode(value: Any) -> Any:
    """Invert :func:`encode`."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(decode(v) for v in value["__tuple__"])
    if "__numpy__" in value:
        return np.dtype(value["__numpy__"]).type(decode(value["value"]))
    if "__ndarray__" in value:
        return np.asarray(value["__ndarray__"], dtype=object).astype(value["dtype"])
    if "__quantity__" in value:
        return pq.Quantity(decode(value["__quantity__"]), value["units"])
    if "__float__" in value:
        return float(value["__float__"])
    if "__datetime__" in value:
        return dt.datetime.fromisoformat(value["__datetime__"])
    if "__date__" in value:
        return dt.date.fromisoformat(value["__date__"])
    if "__bytes__" in value:
        return base64.b64decode(value["__bytes__"])
    if "__dict__" in value:
        return {k: decode(v) for k, v in value["__dict__"].items()}
    return {k: decode(v) for k, v in value.items()}
