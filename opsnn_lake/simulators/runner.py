"""Run a model from ``simulate/`` and put its recordings straight into the lake.

One runner for every back-end: load the model file, merge its parameters, derive the
run id *before* simulating (a run already in the lake is skipped), set the simulator up
from the model's spec, build, run, collect the recordings, store and register them with
their provenance. The back-ends (:mod:`opsnn_lake.simulators.nest`,
:mod:`opsnn_lake.simulators.spinnaker`) only name the PyNN module and where its version
comes from.

A model is a Python file exposing

* ``NAME`` (str) and ``PARAMETERS`` (dict of flat JSON defaults; simulation models need
  ``dt`` and ``tstop`` in ms, and may give ``delay`` or ``min_delay`` in ms);
* ``SIMULATOR_SETTINGS`` (dict: back-end name → extra ``sim.setup`` keywords);
* ``build(sim, params)`` → ``{label: population or view}`` to record, or
  ``build(sim, params, inputs)`` when the model declares ``INPUTS`` (dict: parameter
  name → description; each such parameter holds the run id of an input in the lake, and
  ``inputs`` maps it to that run as a neo Block);

or, for an input generator, ``KIND = "input"``, ``NAME``, ``PARAMETERS`` and
``generate(params)`` → neo Block (no simulator involved).

Seeds: a run seed given to :func:`plan_run` overrides the model's ``seed`` parameter
and the simulator's ``rng_seed`` setting where they exist. The ``sim.setup`` keywords
actually used are kept with the parameters (``parameters["setup"]``), so every setting
that shapes the data is part of the run id.

:func:`run_in_subprocess` runs one configuration in a fresh Python process (a simulator
kernel holds global state), with a timeout; sweeps use it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from opsnn_lake.errors import LakeError, SchemaError, SpecError
from opsnn_lake.lake import Lake, content_sha256
from opsnn_lake.models import find_model_file, model_search_path
from opsnn_lake.processes import die_with_parent
from opsnn_lake.provenance import Provenance
from opsnn_lake.spec_fields import (
    parse_bool,
    parse_mapping,
    parse_optional_int,
    parse_text,
    require_mapping,
)

__all__ = [
    "Backend",
    "Model",
    "RunPlan",
    "RunRequest",
    "RunResult",
    "collect_nodes",
    "execute",
    "load_model",
    "merge_parameters",
    "model_search_path",
    "plan_run",
    "run_in_subprocess",
    "run_model",
]

KINDS = ("simulation", "input")
RESERVED_PARAMETERS = ("setup",)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --------------------------------------------------------------------------- back-ends

#: The fast path of a back-end: ``(populations, sim)`` → store nodes, without neo.
NodesFunction = Callable[[Mapping[str, Any], ModuleType], dict[str, Any]]
#: A back-end's set-up context: entered with the imported simulator module.
PrepareFunction = Callable[[ModuleType], contextlib.AbstractContextManager[Any]]


@dataclass(frozen=True)
class Backend:
    """What distinguishes one simulator back-end from another.

    Parameters
    ----------
    name : str
        Short name used in provenance, specs and ``SIMULATOR_SETTINGS`` (``"nest"``).
    pynn_module : str
        The PyNN simulator module to import (``"pyNN.nest"``).
    distribution : str
        The installed distribution whose version is the simulator version; read from
        package metadata, so a run id can be computed without importing the simulator.
    environ : dict
        Environment variables set before the import (e.g. to silence a banner).
    fastpath : callable, optional
        ``fastpath(populations, sim)`` → store nodes, read from the simulator directly;
        without it, recordings go through neo.
    prepare : callable, optional
        ``prepare(sim)`` → a context manager held around set-up, build, run and
        collection (to remove set-up costs of that simulator; it must not change
        results, and must undo itself on leaving).
    """

    name: str
    pynn_module: str
    distribution: str
    environ: Mapping[str, str] = field(default_factory=dict)
    fastpath: NodesFunction | None = None
    prepare: PrepareFunction | None = None

    def version(self) -> str:
        """The simulator's version, e.g. ``"3.10.0"``.

        Raises
        ------
        LakeError
            If the simulator is not installed.
        """
        from importlib import metadata

        try:
            return metadata.version(self.distribution)
        except metadata.PackageNotFoundError:
            raise LakeError(
                f"simulator {self.name!r}: package {self.distribution!r} is not installed "
                f"(pip install {self.distribution})"
            ) from None

    def import_sim(self) -> ModuleType:
        """Import the PyNN simulator module and return it."""
        for key, value in self.environ.items():
            os.environ.setdefault(key, value)
        return importlib.import_module(self.pynn_module)

    def prepared(self, sim: ModuleType) -> contextlib.AbstractContextManager[Any]:
        """The ``prepare`` context for ``sim`` (a no-op context if there is none)."""
        return contextlib.nullcontext() if self.prepare is None else self.prepare(sim)

    def nodes_function(self) -> NodesFunction | None:
        """The fast-path collector, if the back-end has one."""
        return self.fastpath


def _backend(name: str) -> Backend:
    from opsnn_lake.simulators import get_backend

    return get_backend(name)


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Model:
    """A loaded model (or input generator) file.

    Attributes
    ----------
    name : str
        ``NAME`` from the file.
    path : Path
        Absolute path of the file.
    kind : {"simulation", "input"}
        What running it produces.
    parameters : dict
        Default parameters (``PARAMETERS``).
    settings : dict
        ``SIMULATOR_SETTINGS`` (empty for generators).
    inputs : dict
        ``INPUTS``: parameter name → description, for parameters holding input run ids.
    code_hash : str
        SHA-256 of the file's bytes and its spec; part of every run id.
    module : module
        The imported module.
    """

    name: str
    path: Path
    kind: str
    parameters: dict[str, Any]
    settings: dict[str, dict[str, Any]]
    inputs: dict[str, str]
    code_hash: str
    module: ModuleType = field(repr=False, compare=False)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _check_spec(module: ModuleType, path: Path) -> tuple[str, str]:
    """``(NAME, KIND)`` of a model file that follows the model contract."""
    where = f"model file {path}"
    kind = getattr(module, "KIND", "simulation")
    if kind not in KINDS:
        raise SchemaError(f"{where}: KIND {kind!r} must be one of {KINDS}")
    name = getattr(module, "NAME", None)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise SchemaError(f"{where}: NAME must be an identifier string, got {name!r}")
    params = _check_parameters(getattr(module, "PARAMETERS", None), where)
    entry = "generate" if kind == "input" else "build"
    if not callable(getattr(module, entry, None)):
        raise SchemaError(f"{where}: a {kind} model must define {entry}()")
    if kind == "simulation":
        _check_simulation(module, params, where)
    inputs = getattr(module, "INPUTS", {})
    if not isinstance(inputs, dict) or not all(k in params for k in inputs):
        raise SchemaError(f"{where}: INPUTS must map parameter names (in PARAMETERS) to text")
    return name, kind


def _check_parameters(params: Any, where: str) -> dict[str, Any]:
    """``PARAMETERS``: a dict of JSON defaults under non-reserved names."""
    if not isinstance(params, dict):
        raise SchemaError(f"{where}: PARAMETERS must be a dict of default values")
    for key, value in params.items():
        if not isinstance(key, str) or not key or key in RESERVED_PARAMETERS:
            raise SchemaError(f"{where}: PARAMETERS key {key!r} is empty, not a str or reserved")
        try:
            _canonical(value)
        except (TypeError, ValueError):
            raise SchemaError(
                f"{where}: PARAMETERS[{key!r}] = {value!r} is not a JSON value"
            ) from None
    return params


def _check_simulation(module: ModuleType, params: Mapping[str, Any], where: str) -> None:
    """A simulation model's ``dt``/``tstop`` and ``SIMULATOR_SETTINGS``."""
    for key in ("dt", "tstop"):
        if key not in params:
            raise SchemaError(f"{where}: PARAMETERS must define {key!r} (ms)")
    settings = getattr(module, "SIMULATOR_SETTINGS", {})
    valid = isinstance(settings, dict) and all(isinstance(v, dict) for v in settings.values())
    if not valid:
        raise SchemaError(f"{where}: SIMULATOR_SETTINGS must map back-end names to dicts")


def load_model(
    model: str | os.PathLike[str], *, search: Sequence[str | os.PathLike[str]] = ()
) -> Model:
    """Load a model or input generator from a file path or a name.

    Parameters
    ----------
    model : str or path-like
        A name (``"va"``, found as :mod:`opsnn_lake.models` describes) or a ``.py`` path
        (relative paths are tried from the current directory, then from ``search``).
    search : sequence of path-like
        Extra folders searched first (a sweep passes the folder of its spec).

    Returns
    -------
    Model

    Raises
    ------
    SchemaError
        If the file is missing (the message lists known models) or does not follow the
        model contract (the message names the file and the missing or bad attribute).
    """
    path = find_model_file(model, search)
    code = path.read_bytes()
    unique = hashlib.sha256(os.fsencode(path) + code).hexdigest()[:12]
    module_name = f"opsnn_model_{path.stem}_{unique}"
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise SchemaError(f"model file {path}: cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses and pickling look modules up here
        try:
            spec.loader.exec_module(module)
        except Exception as err:
            del sys.modules[module_name]
            raise SchemaError(f"model file {path}: import failed: {err!r}") from err
    name, kind = _check_spec(module, path)
    parameters = dict(module.PARAMETERS)
    settings = {k: dict(v) for k, v in getattr(module, "SIMULATOR_SETTINGS", {}).items()}
    inputs = dict(getattr(module, "INPUTS", {}))
    spec_text = _canonical({"parameters": parameters, "settings": settings, "inputs": inputs})
    code_hash = hashlib.sha256(code + b"\0" + spec_text.encode()).hexdigest()
    return Model(
        name=name,
        path=path,
        kind=kind,
        parameters=parameters,
        settings=settings,
        inputs=inputs,
        code_hash=code_hash,
        module=module,
    )


def _coerce(model: Model, key: str, value: Any) -> Any:
    """Give an override the type of its default, so 51 and 51.0 make the same run id."""
    default = model.parameters[key]
    where = f"model {model.name!r} ({model.path}), parameter {key!r}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise SchemaError(f"{where}: expected true/false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise SchemaError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SchemaError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if isinstance(default, str) and not isinstance(value, str):
        raise SchemaError(f"{where}: expected a string, got {value!r}")
    return value


def merge_parameters(model: Model, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults of ``model`` updated by ``overrides``, each checked against its default.

    Raises
    ------
    SchemaError
        On an unknown name (the message lists the valid ones) or a value of the wrong type.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(model.parameters))
    if unknown:
        raise SchemaError(
            f"model {model.name!r} ({model.path}): unknown parameter(s) {unknown}; "
            f"valid: {', '.join(sorted(model.parameters))}"
        )
    merged = dict(model.parameters)
    for key, value in overrides.items():
        merged[key] = _coerce(model, key, value)
    return merged


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """One configuration to run, in a form that crosses process boundaries (JSON).

    Parameters
    ----------
    model : str
        Model name or file path.
    simulator : str, optional
        Back-end name; ``None`` for input generators.
    parameters : dict
        Overrides of the model's defaults.
    seed : int, optional
        Run seed (see module docstring).
    settings : dict
        Overrides of the back-end's ``sim.setup`` keywords.
    search : list of str
        Extra model folders.
    """

    model: str
    simulator: str | None = "nest"
    parameters: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    search: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The request as JSON values (inverse of :meth:`from_dict`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> RunRequest:
        """Validate the mapping :meth:`to_dict` gives; errors name the field."""
        where = "run request"
        data = require_mapping(data, [f.name for f in dataclasses.fields(cls)], where)
        return cls(
            model=_parse_model_name(data.get("model"), where),
            simulator=_parse_optional_text(data.get("simulator", "nest"), "simulator", where),
            parameters=parse_mapping(data.get("parameters"), "parameters", where),
            seed=parse_optional_int(data.get("seed"), "seed", where),
            settings=parse_mapping(data.get("settings"), "settings", where),
            search=_parse_folders(data.get("search"), where),
        )

    def to_json(self) -> str:
        """JSON text of the request."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunRequest:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def plan(self, lake: Lake | None = None, *, model: Model | None = None) -> RunPlan:
        """The :func:`plan_run` of this request (``lake``: where its inputs are).

        ``model``: the request's model, loaded already (spares reading it again).
        """
        return plan_run(
            model or self.model,
            simulator=self.simulator,
            parameters=self.parameters,
            seed=self.seed,
            settings=self.settings,
            lake=lake,
            search=self.search,
        )


def _parse_model_name(value: Any, where: str) -> str:
    name = parse_text(value, "model", where, required=True)
    assert name is not None  # required
    return name


def _parse_optional_text(value: Any, key: str, where: str) -> str | None:
    return parse_text(value, key, where)


def _parse_folders(value: Any, where: str) -> list[str]:
    value = [] if value is None else value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where}: 'search' must be a list of folder paths, got {value!r}")
    return list(value)


@dataclass(frozen=True)
class RunPlan:
    """Everything fixed before a run starts: complete parameters, set-up, provenance, id."""

    model: Model
    simulator: str | None
    parameters: dict[str, Any]
    setup: dict[str, Any]
    seed: int | None
    provenance: Provenance
    run_id: str


def _setup_kwargs(
    model: Model,
    backend: Backend,
    params: dict[str, Any],
    seed: int | None,
    overrides: Mapping[str, Any] | None,
) -> dict[str, Any]:
    setup: dict[str, Any] = {"timestep": float(params["dt"])}
    for key in ("min_delay", "delay"):
        if key in params:
            setup["min_delay"] = float(params[key])
            break
    setup.update(model.settings.get(backend.name, {}))
    setup.update(overrides or {})
    if seed is not None and "rng_seed" in setup:
        setup["rng_seed"] = int(seed)
    return setup


def _apply_seed(model: Model, params: dict[str, Any], seed: int | None) -> int | None:
    """Put a run seed into the model's ``seed`` parameter; return the run's seed."""
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise SchemaError(f"model {model.name!r}: seed must be an integer, got {seed!r}")
        if "seed" in model.parameters:
            params["seed"] = int(seed)
    run_seed = seed if seed is not None else params.get("seed")
    if isinstance(run_seed, bool) or not isinstance(run_seed, int):
        return None
    return run_seed


def _simulator_setup(
    model: Model,
    simulator: str | None,
    params: dict[str, Any],
    seed: int | None,
    settings: Mapping[str, Any] | None,
) -> tuple[Backend | None, dict[str, Any], dict[str, Any]]:
    """``(backend, sim.setup keywords, recorded parameters)`` of a run."""
    if model.kind == "input":
        if settings:
            raise SchemaError(f"model {model.name!r} is an input generator: no settings")
        return None, {}, params
    backend = _backend(simulator or "nest")
    setup = _setup_kwargs(model, backend, params, seed, settings)
    if seed is not None and "seed" not in model.parameters and "rng_seed" not in setup:
        raise SchemaError(
            f"model {model.name!r} ({model.path}): a seed would change nothing: it has no "
            f"'seed' parameter and SIMULATOR_SETTINGS[{backend.name!r}] no 'rng_seed'"
        )
    return backend, setup, {**params, "setup": setup}


def plan_run(
    model: Model | str | os.PathLike[str],
    *,
    simulator: str | None = "nest",
    parameters: Mapping[str, Any] | None = None,
    seed: int | None = None,
    settings: Mapping[str, Any] | None = None,
    lake: Lake | None = None,
    search: Sequence[str | os.PathLike[str]] = (),
) -> RunPlan:
    """Fix a run's parameters, set-up and provenance, and derive its id; nothing runs.

    Parameters
    ----------
    model : Model, str or path-like
        A loaded model, a model name or a file path.
    simulator : str, optional
        ``"nest"`` or ``"spinnaker"``; ignored (``None``) for input generators.
    parameters : dict, optional
        Overrides of the model's defaults (checked by name and type).
    seed : int, optional
        Run seed: overrides the model's ``seed`` parameter and the ``rng_seed`` setting.
    settings : dict, optional
        Overrides of the ``sim.setup`` keywords (``threads``, …).
    lake : Lake, optional
        Needed when the model has ``INPUTS``: each input run must be in it.
    search : sequence of path-like
        Extra model folders.

    Returns
    -------
    RunPlan

    Raises
    ------
    SchemaError
        For an unknown parameter, simulator or input, or a seed the model cannot use.
    """
    if not isinstance(model, Model):
        model = load_model(model, search=search)
    params = merge_parameters(model, parameters)
    run_seed = _apply_seed(model, params, seed)
    inputs, checksums = _resolve_inputs(model, params, lake)
    backend, setup, recorded = _simulator_setup(model, simulator, params, seed, settings)
    prov = Provenance(
        kind=model.kind, model=model.name, model_hash=model.code_hash, parameters=recorded,
        seed=run_seed, simulator=backend.name if backend else None,
        simulator_version=backend.version() if backend else None,
        threads=int(setup.get("threads", 1)) if backend and backend.name == "nest" else None,
        inputs=inputs, input_checksums=checksums, extra={"model_file": str(model.path)},
    )  # fmt: skip
    return RunPlan(
        model=model,
        simulator=backend.name if backend else None,
        parameters=params,
        setup=setup,
        seed=run_seed,
        provenance=prov,
        run_id=prov.run_id(),
    )


def _resolve_inputs(
    model: Model, params: dict[str, Any], lake: Lake | None
) -> tuple[list[str], dict[str, str]]:
    ids: list[str] = []
    checksums: dict[str, str] = {}
    for key, description in model.inputs.items():
        run_id = params.get(key)
        where = f"model {model.name!r}, input parameter {key!r} ({description})"
        if not isinstance(run_id, str) or not run_id:
            raise SchemaError(f"{where}: give the run id of an input run in the lake")
        if lake is None:
            raise SchemaError(f"{where}: a lake is needed to find input {run_id!r}")
        if run_id not in lake:
            raise SchemaError(f"{where}: no run {run_id!r} in {lake.location}; see lake.search()")
        ids.append(run_id)
        checksums[run_id] = _store_checksum(lake.store_path(run_id))
    return ids, checksums


_CHECKSUMS: dict[Path, str] = {}


def _store_checksum(path: Path) -> str:
    """Content checksum of a published store (cached: published stores never change)."""
    if path not in _CHECKSUMS:
        from opsnn_lake.store import read_nodes

        _CHECKSUMS[path] = content_sha256(read_nodes(path))
    return _CHECKSUMS[path]


# --------------------------------------------------------------------------- running


#: What became of a run: simulated and stored, found in the lake, or failed.
STATUSES = ("done", "cached", "failed")


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """Outcome of one run, in a form that crosses process boundaries (JSON).

    Parameters
    ----------
    run_id : str or None
        The run's id (``None`` only if a run failed before its id was known).
    status : {"done", "cached", "failed"}
        Simulated and stored now, already in the lake (nothing ran), or failed.
    seconds : float
        Wall time of the run as its caller saw it (a child process: from start to exit).
    timings : dict
        Seconds per phase (``import``, ``build``, ``simulate``, …) of a run done now.
    error : str, optional
        Why a failed run failed (the exception, a timeout, a signal).
    log : str
        The last lines of a failed child's output.
    notes : tuple of str
        What was cleaned up after a failed child.
    registered : bool
        False when the run was only published, for the index keeper's
        :meth:`~opsnn_lake.lake.Lake.sync` to register (``Lake(register=False)``).
    """

    run_id: str | None
    status: str = "done"
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    log: str = ""
    notes: tuple[str, ...] = ()
    registered: bool = True

    @property
    def skipped(self) -> bool:
        """True if the run was already in the lake (nothing ran)."""
        return self.status == "cached"

    @property
    def failed(self) -> bool:
        """True if the run failed."""
        return self.status == "failed"

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON values (inverse of :meth:`from_dict`)."""
        data = dataclasses.asdict(self)
        data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> RunResult:
        """Validate the mapping :meth:`to_dict` gives; errors name the field."""
        where = "run result"
        data = require_mapping(data, [f.name for f in dataclasses.fields(cls)], where)
        return cls(
            run_id=_parse_optional_text(data.get("run_id"), "run_id", where),
            status=_parse_status(data.get("status", "done"), where),
            seconds=_parse_seconds(data.get("seconds", 0.0), where),
            timings=_parse_timings(data.get("timings"), where),
            error=_parse_optional_text(data.get("error"), "error", where),
            log=_parse_optional_text(data.get("log"), "log", where) or "",
            notes=_parse_notes(data.get("notes"), where),
            registered=parse_bool(data.get("registered", True), "registered", where),
        )

    @classmethod
    def failure(cls, run_id: str | None, error: str, **fields: Any) -> RunResult:
        """A failed run's result."""
        return cls(run_id=run_id, status="failed", error=error, **fields)


def _parse_status(value: Any, where: str) -> str:
    if value not in STATUSES:
        raise SpecError(f"{where}: 'status' must be one of {', '.join(STATUSES)}, got {value!r}")
    return str(value)


def _parse_seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SpecError(f"{where}: 'seconds' must be a number ≥ 0, got {value!r}")
    return float(value)


def _parse_timings(value: Any, where: str) -> dict[str, float]:
    timings = parse_mapping(value, "timings", where)
    return {k: _parse_seconds(v, where) for k, v in timings.items()}


def _parse_notes(value: Any, where: str) -> tuple[str, ...]:
    value = [] if value is None else value
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where}: 'notes' must be a list of strings, got {value!r}")
    return tuple(value)


def collect_nodes(
    populations: Mapping[str, Any], sim: ModuleType, backend: Backend, *, fastpath: bool = True
) -> dict[str, Any]:
    """Store nodes of the recorded populations, labelled by their keys.

    Uses the back-end's fast path when available (and ``fastpath``), else
    ``pop.get_data()`` and the neo conversion. PyNN labels the data of a
    ``PopulationView`` with its parent's label; both routes label every recording with
    its key in ``populations`` instead, so two views of one population stay two
    populations in the store. Signals a view did not record (zero channels, as sPyNNaker
    returns them where NEST returns none) are left out.
    """
    fast = backend.nodes_function() if fastpath else None
    if fast is not None:
        return fast(populations, sim)
    from opsnn_lake.fastpath import neo_route_block
    from opsnn_lake.neo_convert import block_to_nodes

    block = neo_route_block(populations)
    for seg in block.segments:
        seg.analogsignals = [s for s in seg.analogsignals if s.shape[1] > 0]
    return block_to_nodes(block, where=f"populations {list(populations)}")


def execute(plan: RunPlan, lake: Lake, *, fastpath: bool = True) -> RunResult:
    """Run a plan and store the result in ``lake`` (no memoisation check: see run_model).

    ``fastpath=False`` stores through neo even where a fast path exists (same nodes).
    """
    model = plan.model
    params = dict(plan.parameters)
    timings: dict[str, float] = {}
    if model.kind == "input":
        from opsnn_lake.neo_convert import block_to_nodes

        t0 = time.perf_counter()
        block = model.module.generate(params)
        timings["generate"] = round(time.perf_counter() - t0, 6)
        t1 = time.perf_counter()
        nodes = block_to_nodes(block, where=f"input generator {model.name!r}")
    else:
        backend = _backend(plan.simulator or "nest")
        t0 = time.perf_counter()
        sim = backend.import_sim()
        timings["import"] = round(time.perf_counter() - t0, 6)
        with backend.prepared(sim):  # back-end speed-ups live only while this run does
            t0 = time.perf_counter()
            sim.setup(**plan.setup)
            if model.inputs:
                blocks = {key: lake.to_neo(params[key]) for key in model.inputs}
                populations = model.module.build(sim, params, blocks)
            else:
                populations = model.module.build(sim, params)
            if not isinstance(populations, Mapping) or not populations:
                raise SchemaError(
                    f"model file {model.path}: build() must return a non-empty dict "
                    f"{{label: population}}, got {type(populations).__name__}"
                )
            timings["build"] = round(time.perf_counter() - t0, 6)
            t0 = time.perf_counter()
            sim.run(float(params["tstop"]))
            timings["simulate"] = round(time.perf_counter() - t0, 6)
            t1 = time.perf_counter()
            nodes = collect_nodes(populations, sim, backend, fastpath=fastpath)
            sim.end()
    prov = dataclasses.replace(plan.provenance, timings=timings)
    run_id = lake.add_nodes(nodes, prov, started=t1)
    if run_id != plan.run_id:  # pragma: no cover - the id depends only on the plan
        raise SchemaError(f"{model.path}: run id {run_id} differs from the planned {plan.run_id}")
    return RunResult(run_id=run_id, timings=timings, registered=lake.register)


def run_model(
    model: Model | str | os.PathLike[str],
    *,
    lake: Lake | str | os.PathLike[str] = "lake",
    simulator: str | None = "nest",
    parameters: Mapping[str, Any] | None = None,
    seed: int | None = None,
    settings: Mapping[str, Any] | None = None,
    search: Sequence[str | os.PathLike[str]] = (),
    fastpath: bool = True,
) -> RunResult:
    """Run a model in this process and store it, unless the lake already has the run.

    A simulator kernel holds global state, so run one simulation per process (sweeps use
    :func:`run_in_subprocess`). Parameters are those of :func:`plan_run`, plus
    ``lake`` (a Lake or its path) and ``fastpath`` (False: store through neo even where
    the back-end has a fast path; the store is the same).

    Returns
    -------
    RunResult
        ``skipped`` is True when the run id was already in the lake.

    Examples
    --------
    >>> run_model("va", parameters={"n_pop": 400, "tstop": 200.0}, seed=1)  # doctest: +SKIP
    """
    if not isinstance(lake, Lake):
        lake = Lake(lake)
    plan = plan_run(
        model,
        simulator=simulator,
        parameters=parameters,
        seed=seed,
        settings=settings,
        lake=lake,
        search=search,
    )
    if lake.has_run(plan.run_id):
        return RunResult(run_id=plan.run_id, status="cached")
    return execute(plan, lake, fastpath=fastpath)


# --------------------------------------------------------------------------- processes

_CHILD = (
    "import sys; from opsnn_lake.simulators.runner import child_main; "
    "sys.exit(child_main(sys.argv[1:]))"
)


def _discard_unfinished(lake: Lake, run_id: str | None, pid: int) -> list[str]:
    """Remove what the dead writer ``pid`` left unfinished of ``run_id``; notes for the report."""
    if run_id is None:
        return []
    discard = getattr(lake, "discard_unfinished", None)
    if discard is not None:  # the lake's own clean-up (it knows where staged stores live)
        return [f"removed unfinished store {name}" for name in discard(run_id, pid)]
    # Until the Lake offers it: a local lake stages <run id>.<pid>.<random> in scratch_dir().
    notes = []
    for staged in lake.scratch_dir().glob(f"{run_id}.{pid}.*"):
        shutil.rmtree(staged, ignore_errors=True)
        notes.append(f"removed unfinished store {staged.name}")
    return notes


@dataclass(frozen=True)
class _Child:
    """A child process of :func:`run_in_subprocess` and its files."""

    proc: subprocess.Popen[bytes]
    result_file: Path
    log_file: Path


def _start_child(
    request: RunRequest, lake: Lake, folder: Path, run_id: str | None, cwd: Any
) -> _Child:
    result_file, log_file = folder / "result.json", folder / "log.txt"
    argv = [sys.executable, "-c", _CHILD, "--lake", lake.location]
    argv += ["--result", str(result_file), "--request", request.to_json()]
    argv += ["--parent", str(os.getpid()), "--register", "1" if lake.register else "0"]
    if run_id:
        argv += ["--expect", run_id]
    env = {**os.environ, "PYNEST_QUIET": "1", "PYTHONUNBUFFERED": "1"}
    with open(log_file, "wb") as log:
        # Same process group as this one (killing the sweep's group kills the runs);
        # the child also dies with this process (processes.die_with_parent).
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env)
    return _Child(proc, result_file, log_file)


def _wait(child: _Child, timeout: float | None) -> tuple[int, bool]:
    """``(exit code, timed out)``; the child is killed on a timeout or an interruption."""
    try:
        return child.proc.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        _kill(child.proc)
        return child.proc.wait(), True
    except BaseException:
        _kill(child.proc)  # interrupted (Ctrl-C, a cancelled task): the run goes too
        child.proc.wait()
        raise


def _failure_reason(code: int, timed_out: bool, timeout: float | None, result: Any) -> str:
    if timed_out:
        return f"timed out after {timeout} s"
    if result is not None and result.error:
        return str(result.error)
    if code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    return f"exit code {code}"


def _outcome(
    child: _Child, lake: Lake, run_id: str | None, code: int, timed_out: bool,
    timeout: float | None, seconds: float,
) -> RunResult:  # fmt: skip
    """The child's own result if it finished, else a failure with its log and clean-up."""
    result = _read_result(child.result_file)
    if code == 0 and result is not None and not result.failed:
        return dataclasses.replace(result, seconds=seconds)
    tail = child.log_file.read_text(errors="replace").strip().splitlines()[-15:]
    run_id = run_id or (result.run_id if result is not None else None)
    return RunResult.failure(
        run_id,
        _failure_reason(code, timed_out, timeout, result),
        log="\n".join(tail),
        notes=tuple(_discard_unfinished(lake, run_id, child.proc.pid)),
        seconds=seconds,
        registered=lake.register,
    )


def run_in_subprocess(
    request: RunRequest,
    lake: Lake | str | os.PathLike[str],
    *,
    run_id: str | None = None,
    timeout: float | None = None,
    cwd: str | os.PathLike[str] | None = None,
    register: bool | None = None,
) -> RunResult:
    """Run one configuration in a fresh Python process and wait for it.

    Parameters
    ----------
    request : RunRequest
        What to run.
    lake : Lake, str or path-like
        The lake or its location (a path or URL the child can reach).
    run_id : str, optional
        The id the parent planned; the child refuses to run if its plan differs (the
        model file changed in between).
    timeout : float, optional
        Seconds before the child is killed (it dies with this process too).
    cwd : path-like, optional
        Working directory of the child (sPyNNaker reads ``spynnaker.cfg`` there).
    register : bool, optional
        False: the child only publishes the run (``Lake(register=False)``), for workers
        on other nodes; the index keeper registers it with :meth:`Lake.sync`. Default:
        the given Lake's ``register``, else True.

    Returns
    -------
    RunResult
        ``status`` ``"done"``, ``"cached"`` or ``"failed"``; ``seconds`` from start to
        exit of the child. Never raises for a failed run: a crash or timeout is
        reported (``error``, ``log``), and the unfinished store is removed (``notes``).
    """
    if not isinstance(lake, Lake) or (register is not None and register != lake.register):
        location = lake.location if isinstance(lake, Lake) else os.fspath(lake)
        lake = Lake(location, register=True if register is None else register)
    start = time.perf_counter()
    # Result and log go to the lake's scratch folder, named like a staged store
    # (<name>.<pid>.<random>): if this process is killed, `check --repair` removes them.
    folder = Path(tempfile.mkdtemp(prefix=f"opsnn-run.{os.getpid()}.", dir=lake.scratch_dir()))
    try:
        child = _start_child(request, lake, folder, run_id, cwd)
        code, timed_out = _wait(child, timeout)
        seconds = round(time.perf_counter() - start, 3)
        return _outcome(child, lake, run_id, code, timed_out, timeout, seconds)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def _read_result(path: Path) -> RunResult | None:
    try:
        return RunResult.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError):  # no result (killed child), or not one of ours
        return None


@dataclass(frozen=True)
class _ChildArgs:
    lake: str
    result: str
    request: str
    expect: str | None = None
    parent: int | None = None
    register: bool = True


def _child_args(argv: Sequence[str]) -> _ChildArgs:
    """``--name value`` pairs of the child's command line (written by this module only)."""
    names = {f"--{f.name}" for f in dataclasses.fields(_ChildArgs)}
    if len(argv) % 2 or any(flag not in names for flag in argv[::2]):
        raise SystemExit(f"opsnn-lake child process: unexpected arguments {list(argv)}")
    values = {flag[2:]: value for flag, value in zip(argv[::2], argv[1::2], strict=True)}
    missing = [n for n in ("lake", "result", "request") if n not in values]
    if missing:
        raise SystemExit(f"opsnn-lake child process: missing --{', --'.join(missing)}")
    parent = values.pop("parent", None)
    register = values.pop("register", "1") != "0"
    return _ChildArgs(**values, parent=None if parent is None else int(parent), register=register)


def _child_run(args: _ChildArgs) -> RunResult:
    """Plan, check against the parent's plan, skip a known run, else run: never raises."""
    run_id = args.expect
    try:
        lake = Lake(args.lake, register=args.register)
        plan = RunRequest.from_json(args.request).plan(lake)
        run_id = plan.run_id
        if args.expect and plan.run_id != args.expect:
            raise SchemaError(
                f"{plan.model.path}: run id {plan.run_id} differs from the planned "
                f"{args.expect}: the model file or the installed versions changed"
            )
        if lake.has_run(plan.run_id):
            return RunResult(run_id=plan.run_id, status="cached")
        return execute(plan, lake)
    except Exception as err:
        traceback.print_exc()
        return RunResult.failure(run_id, f"{type(err).__name__}: {err}")


def child_main(argv: Sequence[str]) -> int:
    """Entry point of the child process started by :func:`run_in_subprocess`."""
    args = _child_args(argv)
    if args.parent is not None:
        die_with_parent(args.parent)
    result = _child_run(args)
    Path(args.result).write_text(json.dumps(result.to_dict()))
    return 1 if result.failed else 0
