"""Parameter sweeps from a YAML spec: ``opsnn-lake sweep simulate/va_sweep.yaml``.

A spec names a model and the configurations to run::

    model: va                 # name (found as opsnn_lake.models says) or path
    simulator: nest           # nest | spinnaker
    parameters: {n_pop: 2000} # fixed overrides for every run
    grid:                     # every combination of these values ...
      g_inh: [40.0, 51.0, 60.0]
    list:                     # ... for each of these (optional) configurations ...
      - {g_exc: 4.0}
      - {g_exc: 6.0}
    seeds: [1, 2]             # ... and each seed
    settings:                 # sim.setup overrides, per simulator
      nest: {threads: 1}
    inputs:                   # input runs generated first (model INPUTS parameters)
      stimulus: {model: moving_bump, parameters: {side: 12}, seed: 1}
    timeout: 600              # seconds per run
    workers: 2                # parallel runs on the local dask cluster
    slurm:                    # SLURM jobs for --cluster slurm (else slurm.yaml beside)
      {partition: short, jobs: 4, cores: 2, memory: 4GB, walltime: "02:00:00"}

The spec is read with a safe YAML loader and checked before anything runs: an unknown
key, parameter or simulator is an error naming it and listing the valid ones.

Each configuration gets its content-derived run id first; the ones already in the lake
are skipped without starting a simulator. The others run in parallel on dask, each in
its own Python process (a simulator kernel holds global state): by default on a local
in-process dask cluster whose ``workers`` threads each start one run at a time, or on a
running dask.distributed cluster given by ``--scheduler ADDRESS``, or on SLURM jobs with
``--cluster slurm`` (dask-jobqueue; see :mod:`opsnn_lake.cluster`). Remote workers must
see the lake and the model files at the same paths. A run that crashes or exceeds
``timeout`` is reported with its error and leaves nothing in the lake; the others go on.
"""

from __future__ import annotations

import itertools
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsnn_lake.cluster import SlurmOptions, dask_client, slurm_options_for
from opsnn_lake.errors import SpecError
from opsnn_lake.lake import Lake

__all__ = [
    "SPEC_KEYS",
    "SweepReport",
    "SweepSpec",
    "expand",
    "format_report",
    "load_spec",
    "parse_spec",
    "plan_sweep",
    "run_sweep",
]

SPEC_KEYS = (
    "model",
    "simulator",
    "parameters",
    "grid",
    "list",
    "seeds",
    "settings",
    "inputs",
    "timeout",
    "workers",
    "slurm",
)
INPUT_KEYS = ("model", "parameters", "seed")


@dataclass(frozen=True, kw_only=True)
class SweepSpec:
    """A validated sweep spec (see the module docstring for the YAML form)."""

    model: str
    simulator: str = "nest"
    parameters: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    configurations: list[dict[str, Any]] = field(default_factory=list)
    seeds: list[int | None] = field(default_factory=lambda: [None])
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeout: float | None = None
    workers: int | None = None
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    path: Path | None = None

    @property
    def where(self) -> str:
        """Name of the spec in messages."""
        return f"sweep spec {self.path}" if self.path else "sweep spec"

    @property
    def search(self) -> list[str]:
        """Folders where the spec's models are looked up first."""
        return [str(self.path.parent)] if self.path else []


@dataclass
class SweepReport:
    """What a sweep did: one result dict per configuration (see run_in_subprocess)."""

    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Results of the runs that failed."""
        return [r for r in self.results if r["status"] == "failed"]

    def counts(self) -> dict[str, int]:
        """Number of results per status."""
        out: dict[str, int] = {}
        for r in self.results:
            out[r["status"]] = out.get(r["status"], 0) + 1
        return out


# --------------------------------------------------------------------------- the spec


def _mapping(value: Any, key: str, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise SpecError(
            f"{where}: {key!r} must be a mapping of names to values, got {value!r}; "
            f"write it as {key}: {{name: value, ...}}"
        )
    return dict(value)


def _check_keys(data: Mapping[str, Any], valid: Sequence[str], where: str) -> None:
    for key in data:
        if key not in valid:
            raise SpecError(f"{where}: unknown key {key!r}; valid keys: {', '.join(valid)}")


def parse_spec(data: Any, *, path: Path | None = None) -> SweepSpec:
    """Validate the data of a spec (a dict as YAML gives it) and return the spec.

    Raises
    ------
    SchemaError
        Naming the spec, the bad key and the valid choices.
    """
    where = f"sweep spec {path}" if path else "sweep spec"
    if not isinstance(data, Mapping):
        raise SpecError(f"{where}: expected a mapping of keys ({', '.join(SPEC_KEYS)})")
    _check_keys(data, SPEC_KEYS, where)
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise SpecError(f"{where}: 'model' (a model name or .py path) is required")
    simulator = data.get("simulator", "nest")
    from opsnn_lake.simulators import SIMULATORS

    if simulator not in SIMULATORS:
        raise SpecError(
            f"{where}: simulator {simulator!r} is unknown; valid: {', '.join(SIMULATORS)}"
        )
    grid = _mapping(data.get("grid"), "grid", where)
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SpecError(
                f"{where}: grid[{key!r}] must be a non-empty list of values, got {values!r}; "
                f"write e.g. {key}: [1.0, 2.0]"
            )
    items = data.get("list") or []
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise SpecError(
            f"{where}: 'list' must be a list of mappings (one per configuration), got {items!r}"
        )
    for i, item in enumerate(items):
        clash = sorted(set(item) & set(grid))
        if clash:
            raise SpecError(f"{where}: list[{i}] sets {clash}, which the grid also varies")
    seeds = data.get("seeds")
    if seeds is None:
        seeds = [None]
    elif isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, list) or not seeds:
        raise SpecError(
            f"{where}: 'seeds' must be a non-empty list of integers, got {seeds!r}; "
            "write e.g. seeds: [1, 2, 3]"
        )
    for seed in seeds:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise SpecError(f"{where}: seeds: {seed!r} is not an integer")
    inputs = _mapping(data.get("inputs"), "inputs", where)
    for key, sub in inputs.items():
        if not isinstance(sub, Mapping):
            raise SpecError(
                f"{where}: inputs[{key!r}] must be a mapping, got {sub!r}; "
                "write e.g. {model: moving_bump, parameters: {...}}"
            )
        _check_keys(sub, INPUT_KEYS, f"{where}, inputs[{key!r}]")
        if not isinstance(sub.get("model"), str):
            raise SpecError(f"{where}: inputs[{key!r}] needs 'model' (an input generator)")
    settings = _mapping(data.get("settings"), "settings", where)
    for key, value in settings.items():
        if key not in SIMULATORS:
            raise SpecError(
                f"{where}: settings: unknown simulator {key!r}; valid: {', '.join(SIMULATORS)} "
                "(settings are given per simulator, e.g. settings: {nest: {threads: 2}})"
            )
        settings[key] = _mapping(value, f"settings[{key!r}]", where)
    timeout = data.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        raise SpecError(f"{where}: 'timeout' must be a positive number of seconds, got {timeout!r}")
    workers = data.get("workers")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise SpecError(f"{where}: 'workers' must be a positive integer, got {workers!r}")
    return SweepSpec(
        model=model,
        simulator=simulator,
        parameters=_mapping(data.get("parameters"), "parameters", where),
        grid=grid,
        configurations=[dict(i) for i in items],
        seeds=list(seeds),
        settings=settings,
        inputs={k: dict(v) for k, v in inputs.items()},
        timeout=float(timeout) if timeout is not None else None,
        workers=workers,
        slurm=data["slurm"]
        if isinstance(data.get("slurm"), SlurmOptions)
        else slurm_options_for(path, data.get("slurm")),
        path=path,
    )


def load_spec(path: str | os.PathLike[str]) -> SweepSpec:
    """Read and validate a sweep spec YAML file (safe loader).

    Raises
    ------
    SchemaError
        If the file is missing, is not valid YAML, or breaks the spec (see parse_spec).
    """
    from opsnn_lake.safe_yaml import load_yaml

    path = Path(path).absolute()
    # bounded: refuses alias bombs and oversized files in milliseconds
    return parse_spec(load_yaml(path, what="sweep spec"), path=path)


def expand(spec: SweepSpec) -> list[dict[str, Any]]:
    """The configurations of a spec: ``{"parameters": {...}, "seed": s}`` each, in order.

    Precedence: ``parameters`` < a ``list`` item < a grid point.
    """
    keys = list(spec.grid)
    points = [
        dict(zip(keys, values, strict=True)) for values in itertools.product(*spec.grid.values())
    ]
    items = spec.configurations or [{}]
    configs = []
    for item in items:
        for point in points:
            for seed in spec.seeds:
                configs.append({"parameters": {**spec.parameters, **item, **point}, "seed": seed})
    return configs


# --------------------------------------------------------------------------- running


def _prepare_inputs(spec: SweepSpec, model: Any, lake: Lake) -> dict[str, str]:
    """Generate (or find) the spec's input runs; return parameter → input run id."""
    from opsnn_lake.simulators.runner import run_model

    ids = {}
    for key, sub in spec.inputs.items():
        if key not in model.inputs:
            valid = ", ".join(model.inputs) or "none"
            raise SpecError(
                f"{spec.where}: inputs[{key!r}]: model {model.name!r} has no such input; "
                f"valid: {valid}"
            )
        result = run_model(
            sub["model"],
            lake=lake,
            simulator=None,
            parameters=sub.get("parameters"),
            seed=sub.get("seed"),
            search=spec.search,
        )
        ids[key] = result.run_id
    return ids


def _task(
    request_json: str, lake: str, run_id: str, timeout: float | None, cwd: str | None
) -> dict[str, Any]:
    """One run on a dask worker: a fresh Python process, never an exception."""
    from opsnn_lake.simulators.runner import RunRequest, run_in_subprocess

    try:
        request = RunRequest.from_json(request_json)
        return run_in_subprocess(request, lake, run_id=run_id, timeout=timeout, cwd=cwd)
    except Exception as err:  # the worker itself must report, whatever happened
        return {"status": "failed", "run_id": run_id, "error": f"{type(err).__name__}: {err}"}


def plan_sweep(spec: SweepSpec, lake: Lake) -> list[dict[str, Any]]:
    """Plan every configuration: its request, run id, and whether the lake has it."""
    from opsnn_lake.simulators.runner import RunRequest, load_model, plan_run

    model = load_model(spec.model, search=spec.search)
    if model.kind != "simulation":
        raise SpecError(f"{spec.where}: {model.name!r} is an input generator, not a model")
    input_ids = _prepare_inputs(spec, model, lake)
    planned: dict[str, dict[str, Any]] = {}
    for config in expand(spec):
        params = {**config["parameters"], **input_ids}
        plan = plan_run(
            model,
            simulator=spec.simulator,
            parameters=params,
            seed=config["seed"],
            settings=spec.settings.get(spec.simulator),
            lake=lake,
        )
        request = RunRequest(
            model=str(model.path),
            simulator=spec.simulator,
            parameters=params,
            seed=config["seed"],
            settings=spec.settings.get(spec.simulator, {}),
        )
        cached = plan.run_id in lake and lake.store_path(plan.run_id).exists()
        # Two configurations with one id (e.g. a seed the model ignores) run once.
        planned.setdefault(
            plan.run_id,
            {"request": request, "run_id": plan.run_id, "cached": cached, "config": config},
        )
    return list(planned.values())


def run_sweep(
    spec: SweepSpec,
    lake: Lake | str | os.PathLike[str] = "lake",
    *,
    scheduler: str | None = None,
    cluster: str | None = None,
    workers: int | None = None,
    timeout: float | None = None,
    progress: bool = True,
    cwd: str | os.PathLike[str] | None = None,
) -> SweepReport:
    """Run the configurations of ``spec`` not yet in ``lake``, in parallel on dask.

    Parameters
    ----------
    spec : SweepSpec
        From :func:`load_spec` or :func:`parse_spec`.
    lake : Lake or path-like
        Where runs go (created if missing).
    scheduler : str, optional
        Address of a running dask.distributed scheduler; default: a local cluster.
    cluster : {"local", "slurm"}, optional
        ``"slurm"`` runs the simulations in SLURM jobs (the spec's ``slurm`` options).
    workers : int, optional
        Parallel runs on the local cluster, or SLURM jobs (default: the spec's ``workers``,
        resp. ``slurm.jobs``, else the CPU count).
    timeout : float, optional
        Seconds per run (default: the spec's, else none).
    progress : bool
        Show a tqdm progress bar.
    cwd : path-like, optional
        Working directory of the runs (default: the current one).

    Returns
    -------
    SweepReport
        One result per distinct configuration: ``"cached"``, ``"done"`` or ``"failed"``
        (with ``error``).
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    if not isinstance(lake, Lake):
        lake = Lake(lake)
    planned = plan_sweep(spec, lake)
    report = SweepReport()
    todo = []
    for item in planned:
        if item["cached"]:
            report.results.append(_result(item, {"status": "cached", "seconds": 0.0}))
        else:
            todo.append(item)
    if not todo:
        return report
    if cluster == "slurm":
        n_workers = workers or spec.slurm.jobs
    else:
        n_workers = min(workers or spec.workers or os.cpu_count() or 1, len(todo))
    timeout = timeout if timeout is not None else spec.timeout
    work_dir = str(Path(cwd or os.getcwd()).absolute())
    # Local threads are enough: each one only waits for its own simulator process.
    with dask_client(
        scheduler=scheduler,
        cluster=cluster,
        slurm=spec.slurm,
        workers=n_workers,
        processes=False,
        work_dir=work_dir,
        announce=None if progress else lambda line: None,
    ) as client:
        futures = {
            client.submit(
                _task,
                item["request"].to_json(),
                str(lake.path),
                item["run_id"],
                timeout,
                work_dir,
                key=f"opsnn-run-{item['run_id']}-{uuid.uuid4().hex[:8]}",
                pure=False,
            ): item
            for item in todo
        }
        bar = tqdm(total=len(todo), desc=f"sweep {spec.path.name if spec.path else ''}".strip(),
                   unit="run", disable=not progress, file=sys.stderr)  # fmt: skip
        with bar:
            for future in as_completed(futures):
                item = futures[future]
                try:
                    outcome = future.result()
                except Exception as err:  # a lost worker, not the run itself
                    outcome = {"status": "failed", "error": f"{type(err).__name__}: {err}"}
                report.results.append(_result(item, outcome))
                bar.update()
    order = {item["run_id"]: i for i, item in enumerate(planned)}
    report.results.sort(key=lambda r: order[r["run_id"]])
    return report


def _result(item: dict[str, Any], outcome: dict[str, Any]) -> dict[str, Any]:
    return {
        **outcome,
        "run_id": item["run_id"],
        "parameters": item["config"]["parameters"],
        "seed": item["config"]["seed"],
    }


def format_report(report: SweepReport, spec: SweepSpec) -> str:
    """A table of the results (varying parameters only) and the errors of failed runs."""
    varying = list(spec.grid) + sorted({k for i in spec.configurations for k in i} - set(spec.grid))
    lines = []
    header = ["status", "run_id", *varying, "seed", "seconds"]
    rows = [
        [
            r["status"],
            r["run_id"],
            *[str(r["parameters"].get(k)) for k in varying],
            str(r["seed"]),
            f"{r.get('seconds', 0.0):.1f}",
        ]
        for r in report.results
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    for row in [header, *rows]:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    for r in report.failed:
        lines.append(f"FAILED {r['run_id']}: {r.get('error')}")
        for note in r.get("notes", []):
            lines.append(f"  {note}")
        if r.get("log"):
            lines.extend("  | " + line for line in r["log"].splitlines()[-5:])
    counts = report.counts()
    lines.append(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return "\n".join(lines)
