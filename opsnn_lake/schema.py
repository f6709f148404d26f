"""The run-store contract: names, dimensions, version, and the in-memory form of a store.

A run store is a zarr v3 hierarchy (``docs/format.md`` is the full specification)::

    /                         attrs: schema, schema_version, run_id, kind, provenance, block
    /<segment>                attrs: neo Segment metadata, populations (child order)
    /<segment>/<population>   spike_time(spike), spike_count(unit), per-unit coordinates,
                              analog signals (time, unit), attrs: label, metadata

Both routes into a store — converting a neo Block (:mod:`opsnn_lake.neo_convert`) and
reading a simulator's recorders directly (:mod:`opsnn_lake.fastpath`) — build the same
:class:`Node` objects, which :mod:`opsnn_lake.store` writes. So the two routes write
identical arrays by construction, and a test compares them array by array.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from opsnn_lake.errors import SchemaError

__all__ = [
    "KINDS",
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "Node",
    "SpikeLayout",
    "Variable",
    "sanitize_label",
    "unique_names",
]

SCHEMA_NAME = "opsnn-lake-run"
SCHEMA_VERSION = 2  # 2: core zarr v3 codecs only, manifest (1: numcodecs filters)
KINDS = ("simulation", "input")

# Dimension and variable names fixed by the contract.
DIM_SPIKE = "spike"
DIM_UNIT = "unit"
DIM_TIME = "time"
DIM_EVENT = "event"
SPIKE_TIME = "spike_time"
SPIKE_COUNT = "spike_count"

MAX_LABEL_LENGTH = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{d}{i}" for d in ("COM", "LPT") for i in range(10)
}
# Names of a store's own files (zarr's metadata document, store.MANIFEST): a group of
# that name would stand where the file must be written.
STORE_FILE_NAMES = frozenset({"zarr.json", "opsnn-manifest.json"})


def sanitize_label(label: object, *, fallback: str) -> str:
    """Turn a user label into a safe, portable zarr group name.

    Path separators, ``..``, control characters and anything outside ``[A-Za-z0-9_.-]``
    become ``_``; an empty result becomes ``fallback``; very long labels are cut and
    suffixed with a short hash so two long labels stay distinct. The original label is
    always kept verbatim in the group's attrs.

    Parameters
    ----------
    label : object
        The label (``None`` and non-strings are allowed: they give ``fallback``).
    fallback : str
        Name used when nothing usable remains, e.g. ``"segment0"``.

    Returns
    -------
    str
        A name that is safe as a single path component on every platform.

    Examples
    --------
    >>> sanitize_label("../x", fallback="p0")
    'x'
    >>> sanitize_label("exc cells", fallback="p0")
    'exc_cells'
    """
    if not isinstance(label, str):
        return fallback
    text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii")
    name = _UNSAFE.sub("_", text).strip("._-")
    name = re.sub(r"\.{2,}", ".", name)
    if not name:
        return fallback
    if name.split(".")[0].upper() in _WINDOWS_RESERVED:  # "CON", "nul.txt": devices there
        name = f"_{name}"
    if name.lower() in STORE_FILE_NAMES:
        name = f"_{name}"
    if len(name) > MAX_LABEL_LENGTH:
        import hashlib

        digest = hashlib.sha256(label.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        name = f"{name[: MAX_LABEL_LENGTH - 9]}-{digest}"
    return name


def unique_names(labels: Iterable[object], *, prefix: str) -> list[str]:
    """Sanitise labels and make them unique (``exc``, ``exc_1``, …), keeping order."""
    names: list[str] = []
    taken: set[str] = set()
    for i, label in enumerate(labels):
        base = sanitize_label(label, fallback=f"{prefix}{i}")
        name, n = base, 1
        while name.lower() in taken:  # case-insensitive: stores may sit on such filesystems
            name, n = f"{base}_{n}", n + 1
        taken.add(name.lower())
        names.append(name)
    return names


@dataclass(frozen=True, kw_only=True)
class Variable:
    """One array of a store group, as written.

    Parameters
    ----------
    dims : tuple of str
        Dimension names, one per axis of ``data``.
    data : numpy.ndarray
        The values (never object dtype).
    attrs : dict
        JSON-able attributes (``units`` and the like).
    scale_factor : float or None
        If set, ``data`` is float64 and is stored as int64 ``k`` with
        ``k * scale_factor + add_offset == data`` bitwise (CF packing, checked by the
        writer, which falls back to plain float64 if the check fails).
    add_offset : float
        Offset of the CF packing (``0.0``: none).
    """

    dims: tuple[str, ...]
    data: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)
    scale_factor: float | None = None
    add_offset: float = 0.0

    def __post_init__(self) -> None:
        if self.data.ndim != len(self.dims):
            raise SchemaError(
                f"variable on dims {self.dims} has {self.data.ndim} axes; expected {len(self.dims)}"
            )
        if self.data.dtype.kind == "O":
            raise SchemaError(f"variable on dims {self.dims} has object dtype; stores hold none")


@dataclass(kw_only=True)
class Node:
    """One group of a store: attributes and variables (coordinates are variables too)."""

    attrs: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Variable] = field(default_factory=dict)
    coords: list[str] = field(default_factory=list)

    def spike_layout(self, *, where: str = "group") -> SpikeLayout | None:
        """The group's spike layout (its ``spiketrains`` attribute), or None without spikes.

        Raises
        ------
        SchemaError
            If the attribute does not parse (:meth:`SpikeLayout.from_dict`).
        """
        raw = self.attrs.get("spiketrains")
        return None if raw is None else SpikeLayout.from_dict(raw, where=where)

    def dim_sizes(self) -> dict[str, int]:
        """Sizes of the dimensions used by this node's variables, checked for consistency."""
        sizes: dict[str, int] = {}
        for name, var in self.variables.items():
            for dim, size in zip(var.dims, var.data.shape, strict=True):
                if sizes.setdefault(dim, size) != size:
                    raise SchemaError(
                        f"variable {name!r}: dimension {dim!r} has length {size}, "
                        f"but another variable gives it length {sizes[dim]}; give every "
                        "variable of a node the same length along a shared dimension"
                    )
        return sizes


def check_root_attrs(attrs: Mapping[str, Any], *, where: str) -> None:
    """Check the root attributes of a store against this version of the contract.

    Raises
    ------
    SchemaError
        If the schema name is not ours, the version is newer than this library knows,
        or a required attribute is missing.
    """
    if attrs.get("schema") != SCHEMA_NAME:
        raise SchemaError(
            f"{where}: not an OpSNN lake run store (schema attr is {attrs.get('schema')!r}, "
            f"expected {SCHEMA_NAME!r})"
        )
    version = attrs.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise SchemaError(
            f"{where}: store schema version {version!r} is newer than this opsnn_lake reads "
            f"(<= {SCHEMA_VERSION}); upgrade opsnn_lake"
        )
    for key in ("run_id", "kind", "provenance"):
        if key not in attrs:
            raise SchemaError(f"{where}: root attribute {key!r} is missing")
    if attrs["kind"] not in KINDS:
        raise SchemaError(f"{where}: kind {attrs['kind']!r} is not one of {KINDS}")


# --------------------------------------------------------------------------- spike layout

_LAYOUT: Final = "spike layout"  # how errors name the record


def _layout_error(name: str, expected: str, value: object, where: str) -> SchemaError:
    got = f"{type(value).__name__} {value!r}"
    if len(got) > 120:
        got = got[:117] + "..."
    return SchemaError(
        f"{where}: {_LAYOUT} field {name!r}: expected {expected}, got {got} instead "
        "(the store's 'spiketrains' attribute was edited or written by other software)"
    )


def parse_bound(value: object, name: str, where: str = _LAYOUT) -> float | None:
    """Check ``t_start``/``t_stop``: a number common to every train, or None (per unit).

    Raises
    ------
    SchemaError
        If the value is neither; the message names the field.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _layout_error(name, "a number or None", value, where)
    return float(value)


def _mapping_of(
    value: object, name: str, where: str, *, valid: Callable[[object], bool], expected: str
) -> dict[str, Any]:
    """``value`` as a dict with str keys and ``valid`` values (None: empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and valid(v) for k, v in value.items()
    ):
        raise _layout_error(name, expected, value, where)
    return dict(value)


def parse_encoded_mapping(value: object, name: str, where: str = _LAYOUT) -> dict[str, Any]:
    """Check ``annotations``/``attributes``: JSON-encoded values by str key (None: empty)."""
    return _mapping_of(value, name, where, valid=lambda v: True, expected="a mapping with str keys")


def parse_variable_names(value: object, name: str, where: str = _LAYOUT) -> dict[str, str]:
    """Check ``annotation_vars``/``array_annotation_vars``: names by key (None: empty)."""
    expected = "a mapping of str to variable name (str)"
    return _mapping_of(value, name, where, valid=lambda v: isinstance(v, str), expected=expected)


def parse_per_train_lists(value: object, name: str, where: str = _LAYOUT) -> dict[str, list[Any]]:
    """Check ``annotation_lists``/``attribute_lists``: one JSON list per key (None: empty)."""
    expected = "a mapping of str to list (one value per train)"
    return _mapping_of(value, name, where, valid=lambda v: isinstance(v, list), expected=expected)


def parse_annotation_types(value: object, name: str, where: str = _LAYOUT) -> dict[str, str]:
    """Check ``annotation_types``: Python scalar type names of unit-coordinate annotations."""
    allowed = ("bool", "int", "float")
    expected = f"a mapping of str to one of {allowed}"
    return _mapping_of(value, name, where, valid=lambda v: v in allowed, expected=expected)


@dataclass(frozen=True, kw_only=True)
class SpikeLayout:
    """How a population group's spike trains are laid out: its ``spiketrains`` attribute.

    The arrays (``spike_time``, ``spike_count``, unit coordinates) say which spikes
    belong to which unit; this record says how to rebuild neo's per-train metadata
    from them. Written by :func:`opsnn_lake.neo_convert.spike_group` (the one place that
    lays out spikes), stored as a plain JSON object (``docs/format.md``), read back
    with :meth:`from_dict`.

    Parameters
    ----------
    t_start, t_stop : float or None
        Bounds common to every train (in the spike times' units); None when they
        differ, then stored as ``t_start``/``t_stop`` unit coordinates.
    annotations : dict
        JSON-encoded annotations common to every train (wrapped in ``{"__dict__": …}``
        when a key looks like an encoding tag).
    annotation_vars : dict of str to str
        Annotation key → unit-coordinate variable holding one number per train.
    annotation_lists : dict of str to list
        Annotation key → one JSON-encoded value per train (``{"__missing__": true}``
        where a train lacks it); ``"__array_annotations__"`` holds non-numeric
        per-spike array annotations, one object per train.
    attributes, attribute_lists : dict
        SpikeTrain attributes (name, sampling_rate…) common to every train, and per train.
    array_annotation_vars : dict of str to str
        Array-annotation key → variable on the ``spike`` dimension.
    annotation_types : dict of str to str
        Annotation key → ``"bool"``/``"int"``/``"float"`` for unit-coordinate
        annotations that were Python scalars (not numpy ones); left out when empty.
    """

    t_start: float | None = None
    t_stop: float | None = None
    annotations: dict[str, Any] = field(default_factory=dict)
    annotation_vars: dict[str, str] = field(default_factory=dict)
    annotation_lists: dict[str, list[Any]] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    attribute_lists: dict[str, list[Any]] = field(default_factory=dict)
    array_annotation_vars: dict[str, str] = field(default_factory=dict)
    annotation_types: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object stored as the group's ``spiketrains`` attribute.

        Keys in the order stores have always had them; absent bounds and empty
        ``annotation_types`` are left out.
        """
        out: dict[str, Any] = {}
        for bound in ("t_start", "t_stop"):
            if getattr(self, bound) is not None:
                out[bound] = getattr(self, bound)
        out.update(
            annotations=dict(self.annotations),
            annotation_vars=dict(self.annotation_vars),
            annotation_lists=dict(self.annotation_lists),
            attributes=dict(self.attributes),
            attribute_lists=dict(self.attribute_lists),
            array_annotation_vars=dict(self.array_annotation_vars),
        )
        if self.annotation_types:
            out["annotation_types"] = dict(self.annotation_types)
        return out

    @classmethod
    def from_dict(cls, data: object, *, where: str = _LAYOUT) -> SpikeLayout:
        """Parse a group's ``spiketrains`` attribute, checking every field.

        Parameters
        ----------
        data : Mapping
            The attribute as read from a store (or as :meth:`to_dict` gave it).
        where : str
            The group, for error messages.

        Raises
        ------
        SchemaError
            If it is not a mapping, has unknown keys, or a field has the wrong type;
            the message names the field, what was expected and what was found.
        """
        if not isinstance(data, Mapping):
            raise SchemaError(
                f"{where}: {_LAYOUT}: expected a mapping (the 'spiketrains' attribute), "
                f"got {type(data).__name__} instead"
            )
        unknown = sorted(set(data) - set(_PARSERS))
        if unknown:
            raise SchemaError(
                f"{where}: {_LAYOUT}: unknown keys {unknown}; expected some of "
                f"{sorted(_PARSERS)} (written by a newer opsnn_lake? upgrade it)"
            )
        return cls(**{name: parse(data.get(name), name, where) for name, parse in _PARSERS.items()})

    def bound(self, name: str) -> float:
        """The common ``t_start`` or ``t_stop``.

        Raises
        ------
        SchemaError
            If the trains have per-unit bounds (read the unit coordinate instead).
        """
        value = getattr(self, name)
        if value is None:
            raise SchemaError(
                f"{_LAYOUT}: {name} differs between units; read the {name!r} unit coordinate"
            )
        return float(value)


# One parser a field (as zarr's metadata classes): from_dict applies them by name.
_PARSERS: Final[dict[str, Callable[[object, str, str], Any]]] = {
    "t_start": parse_bound,
    "t_stop": parse_bound,
    "annotations": parse_encoded_mapping,
    "annotation_vars": parse_variable_names,
    "annotation_lists": parse_per_train_lists,
    "attributes": parse_encoded_mapping,
    "attribute_lists": parse_per_train_lists,
    "array_annotation_vars": parse_variable_names,
    "annotation_types": parse_annotation_types,
}
