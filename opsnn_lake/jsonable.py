"""Lossless JSON encoding of neo annotations and provenance values.

neo annotations may hold tuples (sPyNNaker), numpy scalars and arrays (PyNN's
``channel_ids``), quantities, datetimes and the other scalar types neo allows. Zarr
attributes are JSON, so those values are written as small tagged objects that
:func:`decode` turns back into the original type; ``decode(encode(x)) == x`` (same
type, same value, NaN included) for everything :func:`encode` accepts. Values whose
meaning cannot be kept (arbitrary objects, sets, numpy object arrays) are refused with
a :class:`~opsnn_lake.errors.SchemaError` naming the key.

Tags (documented in ``docs/format.md``)::

    {"__tuple__": [...]}                                   tuple
    {"__numpy__": "<i8", "value": 3}                       numpy scalar (dtype string)
                                                           (datetime64/timedelta64: int64 count)
    {"__ndarray__": [...], "dtype": "<f8", "shape": [n]}   numpy array (nested lists)
    {"__quantity__": <value>, "units": "ms"}               quantities.Quantity
    {"__datetime__": "2024-01-01T00:00:00"}                datetime.datetime (ISO 8601)
    {"__date__": "2024-01-01"}                             datetime.date
    {"__time__": "12:30:00"}                               datetime.time
    {"__timedelta__": [days, seconds, microseconds]}       datetime.timedelta
    {"__float__": "nan"}                                   non-finite float ("inf", "-inf")
    {"__complex__": [real, imag]}                          complex
    {"__decimal__": "1.10"}                                decimal.Decimal
    {"__bytes__": "<base64>"}                              bytes
    {"__dict__": {...}}                                    dict with a key starting "__"

Inside ``__ndarray__`` lists, non-finite floats are the strings ``"nan"``, ``"inf"``,
``"-inf"``; complex arrays hold ``[real, imag]`` pairs; bytes arrays base64 strings;
datetime64/timedelta64 arrays their int64 counts (NaT is the smallest int64).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import quantities as pq

from opsnn_lake.errors import SchemaError

__all__ = ["decode", "encode", "encode_mapping", "plain", "units_string", "wrap_encoded"]

# bool, int, uint, float, complex, str, bytes: what JSON lists can carry losslessly.
_NUMPY_KINDS = "biufcUSmM"  # + datetime64/timedelta64, written as their int64 counts
_TAGS = (
    "__tuple__",
    "__numpy__",
    "__ndarray__",
    "__quantity__",
    "__datetime__",
    "__date__",
    "__time__",
    "__timedelta__",
    "__float__",
    "__complex__",
    "__decimal__",
    "__bytes__",
    "__dict__",
)


_UNIT_STRINGS: dict[tuple[Any, ...], str] = {}


def units_string(quantity: pq.Quantity) -> str:
    """``quantity.dimensionality.string`` (e.g. ``"ms"``, ``"1/s"``), cached.

    quantities formats the string anew on every call (~10 µs); a Block of 10^5 spike
    trains asks for it several times per train.

    Parameters
    ----------
    quantity : quantities.Quantity
        Any quantity (or unit).

    Returns
    -------
    str
        Its units as quantities writes and parses them.
    """
    dim = quantity.dimensionality
    key = (pq.markup.config.use_unicode, *((type(u), u.name, p) for u, p in dim.items()))
    text = _UNIT_STRINGS.get(key)
    if text is None:
        if len(_UNIT_STRINGS) > 4096:  # units in use are few; never let this grow unbounded
            _UNIT_STRINGS.clear()
        text = _UNIT_STRINGS[key] = dim.string
    return text


def plain(value: Any) -> Any:
    """Numpy scalars, bools and arrays as the Python values they stand for, recursively.

    For values a person types as numbers (parameters, seeds): ``np.int64(3)`` → ``3``,
    ``np.bool_(True)`` → ``True``, ``np.float64(0.5)`` → ``0.5``, a numeric array →
    a (nested) list; lists and tuples keep their type. Anything else is returned
    unchanged (and left to the caller's validation), so ``plain`` hides nothing.

    Examples
    --------
    >>> plain({"g": np.arange(2.0)[1], "on": np.bool_(True), "n": [np.int32(2)]})
    {'g': 1.0, 'on': True, 'n': [2]}
    """
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value.tolist()
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):  # a search range (low, high) stays a range
        return tuple(plain(v) for v in value)
    return value


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
        A JSON-serialisable dict with the same keys. Its keys are not tagged: a caller
        that decodes the dict as a whole must wrap it with :func:`encode` instead when a
        key may start with ``"__"``.

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

    Parameters
    ----------
    value : Any
        None, bool, int, float, complex, str, bytes, Decimal, date/time values,
        tuples, lists, string-keyed dicts, numpy scalars and arrays of numeric, bool
        or string dtype, quantities — nested as deep as needed.
    where : str
        Name of the value (object and key) for error messages.

    Returns
    -------
    Any
        JSON-serialisable data (no NaN or infinity: JSON has none).

    Raises
    ------
    SchemaError
        If the value has no lossless JSON form; the message names ``where``.
    """
    if value is None or type(value) in (bool, str):  # not np.str_: a numpy scalar below
        return value
    if isinstance(value, pq.Quantity):  # before ndarray: a Quantity is one
        magnitude = value.magnitude
        inner = _encode_array(magnitude, where) if magnitude.ndim else encode(magnitude[()])
        return {"__quantity__": inner, "units": units_string(value)}
    if isinstance(value, np.ndarray):
        return _encode_array(value, where)
    if isinstance(value, np.generic):
        return _encode_numpy_scalar(value, where)
    if isinstance(value, str | int | float | complex | decimal.Decimal):
        return _encode_number_or_text(value)
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, where=f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, where=f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return wrap_encoded(encode_mapping(value, where=where))
    if isinstance(value, dt.date | dt.time | dt.timedelta | bytes):
        return _encode_time_or_bytes(value)
    raise SchemaError(
        f"{where}: {type(value).__name__} values cannot be stored losslessly; use str, numbers, "
        "bool, None, lists, tuples, dicts, numpy values, quantities or datetimes"
    )


def wrap_encoded(encoded: dict[str, Any]) -> dict[str, Any]:
    """An encoded mapping as :func:`decode` reads it back whole: wrapped in ``__dict__``
    when one of its keys looks like a tag (``"__tuple__"``…)."""
    return {"__dict__": encoded} if any(k.startswith("__") for k in encoded) else encoded


def _encode_numpy_scalar(value: np.generic, where: str) -> dict[str, Any]:
    if value.dtype.kind not in _NUMPY_KINDS:
        raise SchemaError(
            f"{where}: numpy scalar of dtype {value.dtype} cannot be stored losslessly"
        )
    _check_precision(value.dtype, where)
    kind = value.dtype.kind
    if kind in "mM":
        item: Any = np.array(value).view("<i8").item()
    elif kind in "US":  # .item() would drop trailing NULs the scalar holds
        item = cast("np.str_ | np.bytes_", value)[:]
    else:
        item = value.item()
    return {"__numpy__": value.dtype.str, "value": encode(item, where=where)}


def _encode_number_or_text(value: str | int | float | complex | decimal.Decimal) -> Any:
    """Subclasses of str, int and float (enums, say) as the plain type; the rest tagged."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else {"__float__": repr(float(value))}
    if isinstance(value, complex):
        return {"__complex__": [encode(value.real), encode(value.imag)]}
    return {"__decimal__": str(value)}


def _encode_time_or_bytes(value: dt.date | dt.time | dt.timedelta | bytes) -> dict[str, Any]:
    if isinstance(value, dt.datetime):  # before date: a datetime is one
        return {"__datetime__": value.isoformat()}
    if isinstance(value, dt.date):
        return {"__date__": value.isoformat()}
    if isinstance(value, dt.time):
        return {"__time__": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"__timedelta__": [value.days, value.seconds, value.microseconds]}
    return {"__bytes__": base64.b64encode(value).decode("ascii")}


def _check_precision(dtype: np.dtype, where: str) -> None:
    # numpy's long double holds more than a Python float: .item() would round it.
    if (dtype.kind == "f" and dtype.itemsize > 8) or (dtype.kind == "c" and dtype.itemsize > 16):
        raise SchemaError(
            f"{where}: numpy {dtype} has more precision than JSON numbers keep; "
            "convert to float64 first"
        )


def _encode_array(array: np.ndarray, where: str) -> dict[str, Any]:
    kind = array.dtype.kind
    if kind not in _NUMPY_KINDS:
        raise SchemaError(
            f"{where}: numpy array of dtype {array.dtype} cannot be stored; "
            "use a numeric, bool or str array"
        )
    _check_precision(array.dtype, where)
    if kind == "c":
        data: Any = _float_list(np.stack([array.real, array.imag], axis=-1))
    elif kind == "f":
        data = _float_list(array)
    elif kind in "mM":
        data = array.view("<i8").tolist()
    elif kind == "S":
        flat = [base64.b64encode(b).decode("ascii") for b in array.ravel().tolist()]
        data = np.array(flat, dtype=object).reshape(array.shape).tolist() if flat else []
    else:
        data = array.tolist()
    return {"__ndarray__": data, "dtype": array.dtype.str, "shape": list(array.shape)}


def _float_list(array: np.ndarray) -> Any:
    if np.isfinite(array).all():
        return array.tolist()
    # JSON has no NaN/inf; numpy parses these strings back to the same values.
    return np.where(np.isfinite(array), array.astype(object), array.astype(str)).tolist()


def decode(value: Any) -> Any:
    """Invert :func:`encode`.

    Parameters
    ----------
    value : Any
        Data as read back from JSON.

    Returns
    -------
    Any
        The value given to :func:`encode`, with its type.
    """
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = next((key for key in value if key in _TAGS), None)
    if tag is None:
        return {k: decode(v) for k, v in value.items()}
    inner = value[tag]
    if tag == "__tuple__":
        return tuple(decode(v) for v in inner)
    if tag == "__numpy__":
        dtype = np.dtype(value["__numpy__"])
        if dtype.kind in "mM":
            return np.array(value["value"], dtype="<i8").view(dtype)[()]
        if dtype.kind in "US":
            return dtype.type(decode(value["value"]))
        return np.array(decode(value["value"]), dtype=dtype)[()]
    if tag == "__ndarray__":
        return _decode_array(value)
    if tag == "__quantity__":
        return pq.Quantity(decode(inner), value["units"])
    if tag == "__float__":
        return float(inner)
    if tag == "__complex__":
        return complex(decode(inner[0]), decode(inner[1]))
    if tag == "__decimal__":
        return decimal.Decimal(inner)
    if tag == "__datetime__":
        return dt.datetime.fromisoformat(inner)
    if tag == "__date__":
        return dt.date.fromisoformat(inner)
    if tag == "__time__":
        return dt.time.fromisoformat(inner)
    if tag == "__timedelta__":
        return dt.timedelta(days=inner[0], seconds=inner[1], microseconds=inner[2])
    if tag == "__bytes__":
        return base64.b64decode(inner)
    return {k: decode(v) for k, v in inner.items()}  # "__dict__"


def _decode_array(value: Mapping[str, Any]) -> np.ndarray:
    dtype = np.dtype(value["dtype"])
    shape = value.get("shape")
    data = value["__ndarray__"]
    if dtype.kind == "c":
        parts = np.asarray(data, dtype=object).astype(np.float64)
        parts = parts.reshape(*shape, 2) if shape is not None else parts
        array = np.empty(parts.shape[:-1], dtype=dtype)
        array.real, array.imag = parts[..., 0], parts[..., 1]  # no arithmetic: NaN stays put
    elif dtype.kind in "mM":
        array = np.asarray(data, dtype="<i8").view(dtype)
    elif dtype.kind == "S":
        flat = [base64.b64decode(s) for s in np.asarray(data, dtype=object).ravel().tolist()]
        array = np.array(flat, dtype=dtype)
    else:
        array = np.asarray(data, dtype=object).astype(dtype)
    return array.reshape(shape) if shape is not None else array
