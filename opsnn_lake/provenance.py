"""Provenance records and content-derived run ids.

A :class:`Provenance` travels with every store (root attribute ``provenance``). The run
id is a hash of the part of it that determines the data — the *identity*:

* simulation runs: model name, hash of the model's code and spec, all parameters,
  seed, simulator name and version, PyNN version, input ids, and the store schema
  version. Same model + parameters + seed + versions → same id, so a sweep can skip a
  configuration already in the lake without starting a simulator.
* ingested files: the kind, a digest of the data read (:func:`data_sha256`: spike
  times, counts and bounds, signal values, units and sampling, per population and
  segment) and the metadata that came with them (model, model hash, parameters, seed,
  simulator and its version) — never the file bytes. So one Block saved as pickle, NIX
  and NWB is one run, and the files are all listed in ``sources``; two files with
  equal data but different metadata stay two runs;
* anything else without a model (a Block added by hand): a checksum of the stored arrays.

Host, timestamps, command line, timings and package versions other than the
simulator's are recorded but not hashed: they describe how a run was made, not what it is.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import platform
import socket
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from importlib import metadata
from typing import Any

import numpy as np

from opsnn_lake import jsonable
from opsnn_lake.errors import SchemaError
from opsnn_lake.schema import KINDS, SCHEMA_VERSION, sanitize_label

__all__ = ["IDENTITY_FIELDS", "Provenance", "data_sha256", "file_sha256", "package_versions"]

#: What a run is, besides its kind and data: the fields hashed into its id (with the
#: inputs or the content, :meth:`Provenance.identity`), which files and manifests may set.
IDENTITY_FIELDS = ("model", "model_hash", "parameters", "seed", "simulator", "simulator_version")

_PACKAGES = (
    "opsnn-lake",
    "numpy",
    "neo",
    "quantities",
    "zarr",
    "numcodecs",
    "xarray",
    "PyNN",
    "nest-simulator",
    "sPyNNaker",
    "elephant",
    "tonic",
)


@functools.cache
def package_versions() -> dict[str, str]:
    """Versions of the installed packages that shape a run or its store."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def file_sha256(path: str | os.PathLike[str], *, chunk: int = 2**22) -> str:
    """SHA-256 of a file's bytes, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates are not Unicode text: no UTF-8 file or database can hold them.
        raise SchemaError(
            f"provenance: {what} {text!r} holds a lone surrogate, which is not valid "
            "Unicode text and cannot be stored; decode the name or value properly"
        ) from None


def _check_names(params: Mapping[Any, Any], prefix: str = "", seen: set[str] | None = None) -> None:
    """Refuse what the index could not keep apart: bad names, and clashing dotted names.

    The index flattens nested parameters with dots (``{"a": {"b": 1}}`` → ``a.b``), so
    a literal ``"a.b"`` beside a nested ``a.b`` would be two values for one name.
    """
    seen = set() if seen is None else seen
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise SchemaError(f"provenance: parameter name {key!r} must be a non-empty str")
        name = prefix + key
        _check_text(name, "parameter name")
        if isinstance(value, Mapping):
            _check_names(value, prefix=f"{name}.", seen=seen)
            continue
        if name in seen:
            raise SchemaError(
                f"provenance: parameter {name!r} is given twice (once nested, once with "
                "a dotted name); the index names nested parameters with dots, so keep one"
            )
        seen.add(name)
        _check_values(value, name)


def _check_values(value: Any, name: str) -> None:
    if isinstance(value, str):
        _check_text(value, f"value of parameter {name!r}:")
    elif isinstance(value, list | tuple):
        for item in value:
            _check_values(item, name)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                _check_text(key, f"key in parameter {name!r}:")
            _check_values(item, name)


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Where a run comes from: model, parameters, seeds, inputs, sources, software, timings.

    Parameters
    ----------
    kind : {"simulation", "input"}
        A simulation output or a network input (tonic events, generated stimuli).
    model : str, optional
        Model name (e.g. ``"va"``); ``None`` for data without a model.
    model_hash : str, optional
        SHA-256 of the model's code and spec.
    parameters : dict
        All parameters (nested dicts allowed; JSON-able values).
    seed : int, optional
        Random seed of the run.
    simulator, simulator_version : str, optional
        E.g. ``"nest"``, ``"3.10.0"``.
    inputs : list of str
        Run ids of the input runs that drove this one (lineage).
    input_checksums : dict
        Checksums of those inputs, by run id.
    sources : list of dict
        Ingested files: ``{"path", "sha256", "bytes"}`` each.
    timings : dict
        Seconds spent per phase (``build``, ``simulate``, ``write``).
    threads : int, optional
        Threads the simulator used.
    extra : dict
        Anything else the caller wants kept (not hashed).
    content_sha256 : str, optional
        Checksum of the stored arrays; the identity of runs without model or sources.
    """

    kind: str = "simulation"
    model: str | None = None
    model_hash: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    simulator: str | None = None
    simulator_version: str | None = None
    inputs: list[str] = field(default_factory=list)
    input_checksums: dict[str, str] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    threads: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    content_sha256: str | None = None
    versions: dict[str, str] = field(default_factory=package_versions)
    host: str = field(default_factory=socket.gethostname)
    python: str = field(default_factory=lambda: sys.version.split()[0])
    command: list[str] = field(default_factory=lambda: list(sys.argv))
    created: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    )

    def __post_init__(self) -> None:
        # numpy scalars and bools (np.int64 seeds, np.arange values) mean the Python
        # numbers they hold: store them as such, so they index and search like them.
        if isinstance(self.parameters, Mapping):
            for key, value in self.parameters.items():
                try:
                    jsonable.plain(value)
                    _canonical(value)
                except RecursionError:  # Python's own limit: say which parameter
                    raise SchemaError(
                        f"provenance: parameter {key!r} is nested too deeply to store; flatten it"
                    ) from None
                except (TypeError, ValueError):
                    pass  # reported below with the other checks
            object.__setattr__(self, "parameters", jsonable.plain(self.parameters))
        seed = jsonable.plain(self.seed)
        if isinstance(seed, bool):
            raise SchemaError(f"provenance: seed must be an int, got {self.seed!r}")
        object.__setattr__(self, "seed", seed)
        if self.kind not in KINDS:
            raise SchemaError(f"provenance: kind {self.kind!r} is not one of {KINDS}")
        if not isinstance(self.parameters, Mapping):
            raise SchemaError(
                f"provenance: parameters must be a dict, got {type(self.parameters).__name__}"
            )
        _check_names(self.parameters)
        try:
            _canonical(self.parameters)
        except (TypeError, ValueError) as err:
            raise SchemaError(
                f"provenance: parameters must be JSON values (numbers, str, bool, lists, "
                f"dicts; no NaN): {err}"
            ) from None
        if self.seed is not None and not isinstance(self.seed, int):
            raise SchemaError(f"provenance: seed must be an int, got {self.seed!r}")
        if self.seed is not None and not -(2**63) <= self.seed < 2**63:
            # The index keeps the seed in an INTEGER column (64 bits), as simulators do.
            raise SchemaError(
                f"provenance: seed {self.seed} does not fit in 64 bits; derive a 64-bit "
                "seed from it (e.g. numpy.random.SeedSequence(seed).generate_state(1)[0])"
            )

    @classmethod
    def field_names(cls) -> list[str]:
        """Names a caller may pass as provenance keywords."""
        return [f.name for f in fields(cls)]

    def identity(self) -> dict[str, Any]:
        """The fields that determine the data, hashed into the run id (module docstring)."""
        ident: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "kind": self.kind}
        if not self.sources and self.model is None:
            return {**ident, "content": self.content_sha256, "parameters": self.parameters}
        ident.update({name: getattr(self, name) for name in IDENTITY_FIELDS})
        if self.sources:
            # Data and the metadata that came with it; never file bytes (module docstring).
            ident["content"] = self.content_sha256
        else:  # a simulation: the code, its inputs and the simulator make the data
            ident.update(pynn=self.versions.get("PyNN"), inputs=sorted(self.inputs))
        return ident

    def run_id(self) -> str:
        """Content-derived run id: ``<model or kind>-<first 20 hex digits of SHA-256>``."""
        if self.content_sha256 is None and (self.sources or self.model is None):
            raise SchemaError(
                "provenance: a run without a model, or read from files (sources), needs "
                "content_sha256 (see provenance.data_sha256)"
            )
        digest = hashlib.sha256(_canonical(self.identity()).encode()).hexdigest()[:20]
        prefix = sanitize_label(self.model, fallback=self.kind)
        return f"{prefix}-{digest}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (stored as the ``provenance`` root attribute)."""
        return jsonable.encode_mapping(asdict(self), where="provenance")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        """Inverse of :meth:`to_dict`; unknown keys (from newer versions) are kept in ``extra``."""
        decoded = jsonable.decode(dict(data))
        names = set(cls.field_names())
        known = {k: v for k, v in decoded.items() if k in names}
        unknown = {k: v for k, v in decoded.items() if k not in names}
        if unknown:
            known["extra"] = {**known.get("extra", {}), **unknown}
        return cls(**known)


def data_sha256(nodes: Mapping[str, Any]) -> str:
    """Digest of a run's data alone, the identity of ingested runs.

    Hashed, per segment (in order) and population (by label): the label, spike times
    (float64 bytes, in their stored unit), spike counts, unit string, t_start and
    t_stop; for each analog signal, its name, values, dtype, unit, start and sampling
    period. Names of segments and groups, annotations, neo attributes and which file
    format carried the data are left out, since formats differ in what metadata they
    keep (NIX adds ``nix_name``; NWB and SONATA keep no neo annotations).

    Parameters
    ----------
    nodes : Mapping[str, Node]
        The run laid out as store nodes (``block_to_nodes`` or a source's ``load``).

    Returns
    -------
    str
        SHA-256 hex digest.
    """
    digest = hashlib.sha256()
    order = list(nodes.get("", None).attrs.get("segments", [])) if "" in nodes else []
    segments = order + sorted(p for p in nodes if p and "/" not in p and p not in order)
    for seg in segments:
        digest.update(b"segment")
        if seg in nodes:
            _digest_group(digest, nodes[seg])
        pops = [n for p, n in nodes.items() if p.startswith(seg + "/")]
        for node in sorted(pops, key=lambda n: str(n.attrs.get("label"))):
            _digest_group(digest, node)
    return digest.hexdigest()


def _digest_group(digest: Any, node: Any) -> None:
    digest.update(_canonical(["population", node.attrs.get("label")]).encode())
    if "spike_time" in node.variables:
        times = node.variables["spike_time"]
        counts = node.variables["spike_count"].data
        layout = node.spike_layout(where=f"group {node.attrs.get('label')!r}")
        digest.update(_canonical(["spikes", times.attrs.get("units")]).encode())
        digest.update(times.data.astype("<f8").tobytes())
        digest.update(counts.astype("<i8").tobytes())
        for bound in ("t_start", "t_stop"):  # per unit, however the store packed them
            if bound in node.variables:
                values = node.variables[bound].data.astype("<f8")
            else:
                assert layout is not None  # spike_time comes with its layout
                values = np.full(counts.size, layout.bound(bound), dtype="<f8")
            digest.update(values.tobytes())
    for name in node.attrs.get("signals", []):
        var = node.variables[name]
        head = [
            "signal",
            name,
            var.data.dtype.str,
            list(var.data.shape),
            var.attrs.get("units"),
            var.attrs.get("t_start"),
            var.attrs.get("sampling_period"),
        ]
        digest.update(_canonical(head).encode())
        digest.update(np.ascontiguousarray(var.data).tobytes())
    for name in sorted(node.variables):  # tonic events and other per-event arrays
        var = node.variables[name]
        if var.dims and var.dims[0] == "event":
            digest.update(_canonical(["event", name, var.data.dtype.str]).encode())
            digest.update(np.ascontiguousarray(var.data).tobytes())
