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

import argparse
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
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from opsnn_lake.errors import LakeError, SchemaError
from opsnn_lake.lake import Lake, content_sha256
from opsnn_lake.processes import die_with_parent
from opsnn_lake.provenance import Provenance

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
_REPO_SIMULATE = Path(__file__).resolve().parents[2] / "simulate"


# --------------------------------------------------------------------------- back-ends


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
    fastpath : str, optional
        ``"module:function"`` turning ``(populations, sim)`` into store nodes directly,
        used when importable; otherwise recordings go through neo.
    prepare : str, optional
        ``"module:function"``: a context manager taking the imported simulator module,
        held around set-up, build, run and collection (to remove set-up costs of that
        simulator; it must not change results, and must undo itself on leaving).
    """

    name: str
    pynn_module: str
    distribution: str
    environ: Mapping[str, str] = field(default_factory=dict)
    fastpath: str | None = None
    prepare: str | None = None

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
        prepare = _function(self.prepare)
        return contextlib.nullcontext() if prepare is None else prepare(sim)

    def nodes_function(self) -> Callable[..., Any] | None:
        """The fast-path collector if it is available in this installation."""
        return _function(self.fastpath)


def _function(spec: str | None) -> Callable[..., Any] | None:
    """The function named ``"module:function"``, or None if unset or not installed."""
    if spec is None:
        return None
    module_name, _, func = spec.partition(":")
    if importlib.util.find_spec(module_name) is None:
        return None
    return getattr(importlib.import_module(module_name), func)


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


def model_search_path(extra: Sequence[str | os.PathLike[str]] = ()) -> list[Path]:
    """Folders searched for a model given by name: ``extra``, ``./simulate``, the repo's."""
    dirs = [Path(d) for d in extra] + [Path.cwd() / "simulate", _REPO_SIMULATE]
    seen: list[Path] = []
    for d in dirs:
        d = d.absolute()
        if d not in seen:
            seen.append(d)
    return seen


def _find_model_file(
    model: str | os.PathLike[str], search: Sequence[str | os.PathLike[str]]
) -> Path:
    text = os.fspath(model)
    if _NAME.fullmatch(text):
        dirs = model_search_path(search)
        for d in dirs:
            if (d / f"{text}.py").is_file():
                return (d / f"{text}.py").resolve()
        known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.py")} - {"__init__"})
        raise SchemaError(
            f"model {text!r}: no {text}.py in {', '.join(str(d) for d in dirs)}; "
            f"known models: {', '.join(known) or 'none'} (or give the path of a .py file)"
        )
    candidates = [Path(text)] + [Path(d) / text for d in search]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    looked = ", ".join(map(str, candidates))
    raise SchemaError(f"model {text!r}: file not found (looked at {looked})")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _check_spec(module: ModuleType, path: Path) -> tuple[str, str]:
    where = f"model file {path}"
    kind = getattr(module, "KIND", "simulation")
    if kind not in KINDS:
        raise SchemaError(f"{where}: KIND {kind!r} must be one of {KINDS}")
    name = getattr(module, "NAME", None)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise SchemaError(f"{where}: NAME must be an identifier string, got {name!r}")
    params = getattr(module, "PARAMETERS", None)
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
    entry = "generate" if kind == "input" else "build"
    if not callable(getattr(module, entry, None)):
        raise SchemaError(f"{where}: a {kind} model must define {entry}()")
    if kind == "simulation":
        for key in ("dt", "tstop"):
            if key not in params:
                raise SchemaError(f"{where}: PARAMETERS must define {key!r} (ms)")
        settings = getattr(module, "SIMULATOR_SETTINGS", {})
        valid = isinstance(settings, dict) and all(isinstance(v, dict) for v in settings.values())
        if not valid:
            raise SchemaError(f"{where}: SIMULATOR_SETTINGS must map back-end names to dicts")
    inputs = getattr(module, "INPUTS", {})
    if not isinstance(inputs, dict) or not all(k in params for k in inputs):
        raise SchemaError(f"{where}: INPUTS must map parameter names (in PARAMETERS) to text")
    return name, kind


def load_model(
    model: str | os.PathLike[str], *, search: Sequence[str | os.PathLike[str]] = ()
) -> Model:
    """Load a model or input generator from a file path or a name.

    Parameters
    ----------
    model : str or path-like
        A name (``"va"`` → ``va.py`` in :func:`model_search_path`) or a ``.py`` path
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
    path = _find_model_file(model, search)
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

    def to_json(self) -> str:
        """JSON text of the request."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunRequest:
        """Inverse of :meth:`to_json`."""
        return cls(**json.loads(text))


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
    model: Model, backend: Backend, params: dict[str, Any], seed: int | None, overrides
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
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise SchemaError(f"model {model.name!r}: seed must be an integer, got {seed!r}")
        if "seed" in model.parameters:
            params["seed"] = int(seed)
    run_seed = seed if seed is not None else params.get("seed")
    if isinstance(run_seed, bool) or not isinstance(run_seed, int):
        run_seed = None

    inputs, checksums = _resolve_inputs(model, params, lake)
    if model.kind == "input":
        backend = None
        setup: dict[str, Any] = {}
        recorded = params
        if settings:
            raise SchemaError(f"model {model.name!r} is an input generator: no settings")
    else:
        backend = _backend(simulator or "nest")
        setup = _setup_kwargs(model, backend, params, seed, settings)
        if seed is not None and "seed" not in model.parameters and "rng_seed" not in setup:
            raise SchemaError(
                f"model {model.name!r} ({model.path}): a seed would change nothing: it has no "
                f"'seed' parameter and SIMULATOR_SETTINGS[{backend.name!r}] no 'rng_seed'"
            )
        recorded = {**params, "setup": setup}
    prov = Provenance(
        kind=model.kind,
        model=model.name,
        model_hash=model.code_hash,
        parameters=recorded,
        seed=run_seed,
        simulator=backend.name if backend else None,
        simulator_version=backend.version() if backend else None,
        threads=int(setup.get("threads", 1)) if backend and backend.name == "nest" else None,
        inputs=inputs,
        input_checksums=checksums,
        extra={"model_file": str(model.path)},
    )
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
            raise SchemaError(f"{where}: no run {run_id!r} in {lake.path}; see lake.search()")
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


@dataclass(frozen=True)
class RunResult:
    """Outcome of one run: its id, whether it was already in the lake, and timings (s)."""

    run_id: str
    skipped: bool
    timings: dict[str, float] = field(default_factory=dict)


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
    return RunResult(run_id=run_id, skipped=False, timings=timings)


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
    if plan.run_id in lake and lake.store_path(plan.run_id).exists():
        return RunResult(run_id=plan.run_id, skipped=True)
    return execute(plan, lake, fastpath=fastpath)


# --------------------------------------------------------------------------- processes

_CHILD = (
    "import sys; from opsnn_lake.simulators.runner import child_main; "
    "sys.exit(child_main(sys.argv[1:]))"
)


def _cleanup_failed(lake_path: Path, run_id: str | None, pid: int) -> list[str]:
    """Remove what a dead child left in staging; return notes for the report."""
    notes = []
    if run_id is None:
        return notes
    for staged in (lake_path / "staging").glob(f"{run_id}.{pid}.*"):
        shutil.rmtree(staged, ignore_errors=True)
        notes.append(f"removed unfinished store {staged.name}")
    return notes


def run_in_subprocess(
    request: RunRequest,
    lake: str | os.PathLike[str],
    *,
    run_id: str | None = None,
    timeout: float | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Run one configuration in a fresh Python process and wait for it.

    Parameters
    ----------
    request : RunRequest
        What to run.
    lake : path-like
        The lake directory (must be reachable from the child).
    run_id : str, optional
        The id the parent planned; the child refuses to run if its plan differs (the
        model file changed in between).
    timeout : float, optional
        Seconds before the child is killed (it dies with this process too).
    cwd : path-like, optional
        Working directory of the child (sPyNNaker reads ``spynnaker.cfg`` there).

    Returns
    -------
    dict
        ``status`` (``"done"``, ``"cached"`` or ``"failed"``), ``run_id``, ``seconds``,
        ``timings`` and, on failure, ``error``. Never raises for a failed run: a crash or
        timeout is reported, and the unfinished store is removed.
    """
    lake_path = Path(lake).absolute()
    start = time.perf_counter()
    # The result and log live in the lake's staging area, named like a staged store
    # (<name>.<pid>.<random>): if this process is killed, `check --repair` removes them.
    if not (lake_path / "lake.json").is_file():
        Lake(lake_path).index.close()  # create it, so the staging area is the lake's
    tmp = lake_path / "staging" / f"opsnn-run.{os.getpid()}.{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        result_file = tmp / "result.json"
        log_file = tmp / "log.txt"
        argv = [sys.executable, "-c", _CHILD, "--lake", str(lake_path)]
        argv += ["--result", str(result_file), "--request", request.to_json()]
        argv += ["--parent", str(os.getpid())]
        if run_id:
            argv += ["--expect", run_id]
        env = {**os.environ, "PYNEST_QUIET": "1", "PYTHONUNBUFFERED": "1"}
        with open(log_file, "wb") as log:
            # Same process group as this one (killing the sweep's group kills the runs);
            # the child also dies with this process (processes.die_with_parent).
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env
            )  # fmt: skip
            try:
                code = proc.wait(timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                _kill(proc)
                code, timed_out = proc.wait(), True
            except BaseException:
                _kill(proc)  # interrupted (Ctrl-C, a cancelled task): the run goes too
                proc.wait()
                raise
            seconds = round(time.perf_counter() - start, 3)
            result = _read_result(result_file)
            if code == 0 and result.get("status") in ("done", "cached"):
                return {**result, "seconds": seconds}
            tail = log_file.read_text(errors="replace").strip().splitlines()[-15:]
            if timed_out:
                error = f"timed out after {timeout} s"
            elif "error" in result:
                error = result["error"]
            elif code < 0:
                error = f"killed by signal {signal.Signals(-code).name}"
            else:
                error = f"exit code {code}"
            notes = _cleanup_failed(lake_path, run_id or result.get("run_id"), proc.pid)
            return {
                "status": "failed",
                "run_id": run_id or result.get("run_id"),
                "error": error,
                "log": "\n".join(tail),
                "notes": notes,
                "seconds": seconds,
                "timings": {},
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def _read_result(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def child_main(argv: Sequence[str]) -> int:
    """Entry point of the child process started by :func:`run_in_subprocess`."""
    parser = argparse.ArgumentParser(prog="opsnn-lake-run")
    parser.add_argument("--lake", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--request", required=True)
    parser.add_argument("--expect")
    parser.add_argument("--parent", type=int)
    args = parser.parse_args(argv)
    if args.parent is not None:
        die_with_parent(args.parent)
    result_path = Path(args.result)

    def report(data: dict[str, Any]) -> None:
        result_path.write_text(json.dumps(data))

    run_id = args.expect
    try:
        request = RunRequest.from_json(args.request)
        lake = Lake(args.lake)
        plan = plan_run(
            request.model,
            simulator=request.simulator,
            parameters=request.parameters,
            seed=request.seed,
            settings=request.settings,
            lake=lake,
            search=request.search,
        )
        run_id = plan.run_id
        if args.expect and plan.run_id != args.expect:
            raise SchemaError(
                f"{plan.model.path}: run id {plan.run_id} differs from the planned "
                f"{args.expect}: the model file or the installed versions changed"
            )
        if plan.run_id in lake and lake.store_path(plan.run_id).exists():
            report({"status": "cached", "run_id": plan.run_id, "timings": {}})
            return 0
        result = execute(plan, lake)
        report({"status": "done", "run_id": result.run_id, "timings": result.timings})
        return 0
    except Exception as err:
        traceback.print_exc()
        report({"status": "failed", "run_id": run_id, "error": f"{type(err).__name__}: {err}"})
        return 1
