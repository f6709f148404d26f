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
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from opsnn_lake.errors import LakeError, SchemaError
from opsnn_lake.lake import Lake, content_sha256
from opsnn_lake.models import find_model_file, model_search_path
from opsnn_lake.processes import die_with_parent
from opsnn_lake.provenance import Provenance
from opsnn_lake.simulators.process import run_in_subprocess
from opsnn_lake.simulators.records import RunRequest, RunResult

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
            raise SchemaError(
                f"{where}: expected the run id of an input run in the lake, got {run_id!r}; "
                "give the run id of an input run in the lake (see lake.search())"
            )
        if lake is None:
            raise SchemaError(
                f"{where}: a lake is needed to find input {run_id!r}, got none; "
                "pass the lake that holds it (lake=Lake(...), or --lake)"
            )
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


# --------------------------------------------------------------------------- the child


@dataclass(frozen=True)
class _ChildArgs:
    lake: str
    result_fd: int
    request: str
    expect: str | None = None
    parent: int | None = None
    register: bool = True


def _child_args(argv: Sequence[str]) -> _ChildArgs:
    """``--name value`` pairs of the child's command line (written by process.py only)."""
    names = {"--" + f.name.replace("_", "-") for f in dataclasses.fields(_ChildArgs)}
    if len(argv) % 2 or any(flag not in names for flag in argv[::2]):
        raise SystemExit(f"opsnn-lake child process: unexpected arguments {list(argv)}")
    values = {flag[2:].replace("-", "_"): v for flag, v in zip(argv[::2], argv[1::2], strict=True)}
    missing = [n for n in ("lake", "result_fd", "request") if n not in values]
    if missing:
        raise SystemExit(f"opsnn-lake child process: missing {missing}")
    parent = values.pop("parent", None)
    return _ChildArgs(
        lake=values["lake"],
        result_fd=int(values["result_fd"]),
        request=values["request"],
        expect=values.get("expect"),
        parent=None if parent is None else int(parent),
        register=values.get("register", "1") != "0",
    )


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
    with open(args.result_fd, "w", encoding="utf-8") as pipe:  # read by the parent
        pipe.write(json.dumps(result.to_dict()) + "\n")
    return 1 if result.failed else 0
