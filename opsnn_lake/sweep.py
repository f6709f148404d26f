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
see the lake and the model files at the same paths; their runs are only published
(``Lake(register=False)``) and this process, the one that keeps the lake's index,
registers them (:meth:`~opsnn_lake.lake.Lake.sync`) as they arrive, so no other node
writes the index. A run that crashes or exceeds ``timeout`` is reported with its error
and leaves nothing in the lake; the others go on.

The records: :class:`SweepSpec` (the validated spec), :class:`PlannedRun` (one planned
run: request, id, whether the lake has it) and :class:`SweepResult` (a planned run and
its :class:`~opsnn_lake.simulators.RunResult`), each with ``to_dict``/``from_dict``.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import sys
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsnn_lake.cluster import SlurmOptions, dask_client, slurm_options_for
from opsnn_lake.errors import SpecError
from opsnn_lake.lake import Lake
from opsnn_lake.simulators.process import run_task
from opsnn_lake.simulators.records import RunRequest, RunResult
from opsnn_lake.spec_fields import (
    SpecFile,
    check_keys,
    parse_bool,
    parse_mapping,
    parse_optional_int,
    parse_positive_int,
    parse_positive_number,
    parse_settings,
    parse_simulator,
    parse_text,
    require_mapping,
)

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = [
    "SPEC_KEYS",
    "PlannedRun",
    "SweepReport",
    "SweepResult",
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


# --------------------------------------------------------------------------- the spec


def parse_model(value: Any, where: str) -> str:
    """The ``model`` key: a model name or ``.py`` path (required)."""
    if not isinstance(value, str) or not value:
        raise SpecError(f"{where}: 'model' (a model name or .py path) is required")
    return value


def parse_grid(value: Any, where: str) -> dict[str, list[Any]]:
    """The ``grid`` key: parameter → non-empty list of values."""
    grid = parse_mapping(value, "grid", where)
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SpecError(
                f"{where}: grid[{key!r}] must be a non-empty list of values, got {values!r}; "
                f"write e.g. {key}: [1.0, 2.0]"
            )
    return grid


def parse_configurations(value: Any, grid: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """The ``list`` key: one mapping per configuration, none setting a grid parameter."""
    items = value or []
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise SpecError(
            f"{where}: 'list' must be a list of mappings (one per configuration), got {items!r}"
        )
    for i, item in enumerate(items):
        clash = sorted(set(item) & set(grid))
        if clash:
            raise SpecError(f"{where}: list[{i}] sets {clash}, which the grid also varies")
    return [dict(i) for i in items]


def parse_seeds(value: Any, where: str) -> list[int | None]:
    """The ``seeds`` key: a non-empty list of integers (one integer; none: ``[None]``)."""
    if value is None:
        return [None]
    seeds = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(seeds, list) or not seeds:
        raise SpecError(
            f"{where}: 'seeds' must be a non-empty list of integers, got {seeds!r}; "
            "write e.g. seeds: [1, 2, 3]"
        )
    for seed in seeds:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise SpecError(
                f"{where}: seeds: {seed!r} is not an integer; write e.g. seeds: [1, 2, 3]"
            )
    return list(seeds)


def parse_inputs(value: Any, where: str) -> dict[str, dict[str, Any]]:
    """The ``inputs`` key: input parameter → ``{model, parameters, seed}`` of a generator."""
    inputs = parse_mapping(value, "inputs", where)
    for key, sub in inputs.items():
        if not isinstance(sub, Mapping):
            raise SpecError(
                f"{where}: inputs[{key!r}] must be a mapping, got {sub!r}; "
                "write e.g. {model: moving_bump, parameters: {...}}"
            )
        check_keys(sub, INPUT_KEYS, f"{where}, inputs[{key!r}]")
        if not isinstance(sub.get("model"), str):
            raise SpecError(f"{where}: inputs[{key!r}] needs 'model' (an input generator)")
    return {k: dict(v) for k, v in inputs.items()}


def parse_workers(value: Any, where: str) -> int | None:
    """The ``workers`` key: parallel runs (a positive integer) or none."""
    return None if value is None else parse_positive_int(value, "workers", where)


def parse_slurm(value: Any, path: Path | None) -> SlurmOptions:
    """The ``slurm`` key, else ``slurm.yaml`` beside the spec, else the defaults."""
    return value if isinstance(value, SlurmOptions) else slurm_options_for(path, value)


@dataclass(frozen=True, kw_only=True)
class SweepSpec(SpecFile):
    """A validated sweep spec (see the module docstring for the YAML form)."""

    kind = "sweep spec"

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

    @classmethod
    def from_dict(cls, data: Any, *, path: Path | None = None) -> SweepSpec:
        """Validate the data of a spec (a dict as YAML gives it); errors name the key."""
        data, where = cls.checked(data, SPEC_KEYS, path)
        grid = parse_grid(data.get("grid"), where)
        return cls(
            model=parse_model(data.get("model"), where),
            simulator=parse_simulator(data.get("simulator"), where),
            parameters=parse_mapping(data.get("parameters"), "parameters", where),
            grid=grid,
            configurations=parse_configurations(data.get("list"), grid, where),
            seeds=parse_seeds(data.get("seeds"), where),
            settings=parse_settings(data.get("settings"), where),
            inputs=parse_inputs(data.get("inputs"), where),
            timeout=parse_positive_number(data.get("timeout"), "timeout", where, unit="seconds"),
            workers=parse_workers(data.get("workers"), where),
            slurm=parse_slurm(data.get("slurm"), path),
            path=path,
        )

    def to_dict(self) -> dict[str, Any]:
        """The spec as YAML values, keyed as in the file (inverse of :meth:`from_dict`)."""
        return {
            "model": self.model, "simulator": self.simulator, "parameters": self.parameters,
            "grid": self.grid, "list": self.configurations, "seeds": self.seeds,
            "settings": self.settings, "inputs": self.inputs, "timeout": self.timeout,
            "workers": self.workers, "slurm": self.slurm.to_dict(),
        }  # fmt: skip

    def with_simulator(self, simulator: str) -> SweepSpec:
        """The same spec for another back-end (``--simulator``); the name is checked."""
        return dataclasses.replace(self, simulator=parse_simulator(simulator, self.where))


def parse_spec(data: Any, *, path: Path | None = None) -> SweepSpec:
    """Validate the data of a spec (a dict as YAML gives it) and return the spec.

    Raises
    ------
    SpecError
        Naming the spec, the bad key and the valid choices.
    """
    return SweepSpec.from_dict(data, path=path)


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


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, kw_only=True)
class PlannedRun:
    """One run of a sweep, planned: what to run, its id, and whether the lake has it.

    Parameters
    ----------
    run_id : str
        The content-derived id, known before anything runs.
    request : RunRequest
        What the worker runs (the model file, all parameters with input run ids).
    cached : bool
        True if the lake holds the run already (it is not run again).
    parameters : dict
        The configuration's parameters, as the spec gives them (no input ids).
    seed : int, optional
        The configuration's seed.
    """

    run_id: str
    request: RunRequest
    cached: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON values (inverse of :meth:`from_dict`)."""
        return {
            "run_id": self.run_id,
            "request": self.request.to_dict(),
            "cached": self.cached,
            "parameters": self.parameters,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Any) -> PlannedRun:
        """Validate the mapping :meth:`to_dict` gives; errors name the field."""
        where = "planned run"
        data = require_mapping(data, [f.name for f in dataclasses.fields(cls)], where)
        run_id = parse_text(data.get("run_id"), "run_id", where, required=True)
        assert run_id is not None  # required
        return cls(
            run_id=run_id,
            request=RunRequest.from_dict(data.get("request")),
            cached=parse_bool(data.get("cached", False), "cached", where),
            parameters=parse_mapping(data.get("parameters"), "parameters", where),
            seed=parse_optional_int(data.get("seed"), "seed", where),
        )


@dataclass(frozen=True)
class SweepResult:
    """A planned run and what became of it (``run``, ``result``; shortcuts for both)."""

    run: PlannedRun
    result: RunResult

    run_id = property(lambda self: self.run.run_id, doc="The run's id.")
    parameters = property(lambda self: self.run.parameters, doc="The configuration's parameters.")
    seed = property(lambda self: self.run.seed, doc="The configuration's seed.")
    status = property(lambda self: self.result.status, doc="done, cached or failed.")
    seconds = property(lambda self: self.result.seconds, doc="Wall time of the run (s).")
    error = property(lambda self: self.result.error, doc="Why the run failed.")
    log = property(lambda self: self.result.log, doc="Last lines of a failed run's output.")
    notes = property(lambda self: self.result.notes, doc="Clean-up after a failed run.")

    @property
    def failed(self) -> bool:
        """True if the run failed."""
        return self.result.failed

    def to_dict(self) -> dict[str, Any]:
        """``{"run": …, "result": …}`` as JSON values (inverse of :meth:`from_dict`)."""
        return {"run": self.run.to_dict(), "result": self.result.to_dict()}

    @classmethod
    def from_dict(cls, data: Any) -> SweepResult:
        """Validate the mapping :meth:`to_dict` gives; errors name the field."""
        data = require_mapping(data, ("run", "result"), "sweep result")
        return cls(PlannedRun.from_dict(data.get("run")), RunResult.from_dict(data.get("result")))


@dataclass
class SweepReport:
    """What a sweep did: one :class:`SweepResult` per distinct configuration."""

    results: list[SweepResult] = field(default_factory=list)

    @property
    def failed(self) -> list[SweepResult]:
        """Results of the runs that failed."""
        return [r for r in self.results if r.failed]

    def counts(self) -> dict[str, int]:
        """Number of results per status."""
        out: dict[str, int] = {}
        for r in self.results:
            out[r.status] = out.get(r.status, 0) + 1
        return out


# --------------------------------------------------------------------------- planning


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
        assert result.run_id is not None  # a run that did not fail has its id
        ids[key] = result.run_id
    return ids


def plan_sweep(spec: SweepSpec, lake: Lake) -> list[PlannedRun]:
    """Plan every configuration: its request, run id, and whether the lake has it."""
    from opsnn_lake.simulators.runner import load_model

    model = load_model(spec.model, search=spec.search)
    if model.kind != "simulation":
        raise SpecError(f"{spec.where}: {model.name!r} is an input generator, not a model")
    input_ids = _prepare_inputs(spec, model, lake)
    settings = spec.settings.get(spec.simulator, {})
    planned: dict[str, PlannedRun] = {}
    for config in expand(spec):
        request = RunRequest(
            model=str(model.path),
            simulator=spec.simulator,
            parameters={**config["parameters"], **input_ids},
            seed=config["seed"],
            settings=settings,
        )
        run_id = request.plan(lake, model=model).run_id
        # Two configurations with one id (e.g. a seed the model ignores) run once.
        planned.setdefault(
            run_id,
            PlannedRun(
                run_id=run_id, request=request, cached=lake.has_run(run_id),
                parameters=config["parameters"], seed=config["seed"],
            ),
        )  # fmt: skip
    return list(planned.values())


# --------------------------------------------------------------------------- running


@dataclass(frozen=True, kw_only=True)
class _Batch:
    """The runs of a sweep still to do, and how: handed to dask, results gathered."""

    spec: SweepSpec
    lake: Lake
    todo: list[PlannedRun]
    timeout: float | None
    work_dir: str
    register: bool  # False on distributed workers: this process registers (sync)
    progress: bool

    def submit(self, client: Client) -> dict[Future[RunResult], PlannedRun]:
        """Every run as a task at once: the scheduler keeps the workers fed."""
        return {
            client.submit(
                run_task, run.request, self.lake.location, run.run_id, self.timeout,
                self.work_dir, self.register,
                key=f"opsnn-run-{run.run_id}-{uuid.uuid4().hex[:8]}", pure=False,
            ): run
            for run in self.todo
        }  # fmt: skip

    def gather(self, futures: dict[Future[RunResult], PlannedRun]) -> list[SweepResult]:
        """Results as they arrive; runs only published by workers are registered here."""
        from distributed import as_completed
        from tqdm.auto import tqdm

        name = f"sweep {self.spec.path.name if self.spec.path else ''}".strip()
        out = []
        with tqdm(total=len(futures), desc=name, unit="run", disable=not self.progress,
                  file=sys.stderr) as bar:  # fmt: skip
            for batch in as_completed(futures).batches():
                results = [SweepResult(futures[f], _outcome(f, futures[f])) for f in batch]
                if any(r.status == "done" and not r.result.registered for r in results):
                    self.lake.sync()  # searchable as they arrive; no worker writes the index
                out += results
                bar.update(len(results))
        return out

    def run(self, client: Client | None, **where: Any) -> list[SweepResult]:
        """On ``client``, else on a cluster (``dask_client(**where)``) for this sweep only."""
        if client is not None:
            return self.gather(self.submit(client))
        announce = None if self.progress else _quiet
        # Local threads are enough: each one only waits for its own simulator process.
        with dask_client(**where, slurm=self.spec.slurm, processes=False,
                         work_dir=self.work_dir, announce=announce) as owned:  # fmt: skip
            return self.gather(self.submit(owned))


def _quiet(line: str) -> None:
    """Announce nothing."""


def _outcome(future: Future[RunResult], run: PlannedRun) -> RunResult:
    try:
        result: RunResult = future.result()
    except Exception as err:  # a lost worker, not the run itself
        return RunResult.failure(run.run_id, f"{type(err).__name__}: {err}")
    return result


def _n_workers(spec: SweepSpec, cluster: str | None, workers: int | None, n_runs: int) -> int:
    if cluster == "slurm":
        return workers or spec.slurm.jobs
    return min(workers or spec.workers or os.cpu_count() or 1, n_runs)


def _cached(planned: Iterable[PlannedRun]) -> list[SweepResult]:
    return [SweepResult(p, RunResult(run_id=p.run_id, status="cached")) for p in planned]


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
    client: Client | None = None,
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
        Parallel local runs, or SLURM jobs (default: the spec's, else the CPU count).
    timeout : float, optional
        Seconds per run (default: the spec's, else none).
    progress : bool
        Show a tqdm progress bar (and the line naming the cluster and its dashboard).
    cwd : path-like, optional
        Working directory of the runs (default: the current one).
    client : distributed.Client, optional
        A client to run on, kept open (wins over ``scheduler`` and ``cluster``).

    Returns
    -------
    SweepReport
        One :class:`SweepResult` per distinct configuration: ``"cached"``, ``"done"`` or
        ``"failed"`` (with ``error``).
    On a distributed cluster the workers only publish runs; this process registers them.
    """
    if not isinstance(lake, Lake):
        lake = Lake(lake)
    distributed = client is not None or bool(scheduler) or cluster == "slurm"
    if distributed and lake.register:
        lake.sync()  # runs published (by a killed sweep's workers) are known, not run again
    planned = plan_sweep(spec, lake)
    todo = [p for p in planned if not p.cached]
    results = _cached(p for p in planned if p.cached)
    if todo:
        batch = _Batch(
            spec=spec, lake=lake, todo=todo, register=not distributed, progress=progress,
            timeout=timeout if timeout is not None else spec.timeout,
            work_dir=str(Path(cwd or os.getcwd()).absolute()),
        )  # fmt: skip
        n_workers = _n_workers(spec, cluster, workers, len(todo))
        results += batch.run(client, scheduler=scheduler, cluster=cluster, workers=n_workers)
    order = {p.run_id: i for i, p in enumerate(planned)}
    return SweepReport(sorted(results, key=lambda r: order[r.run_id]))


def format_report(report: SweepReport, spec: SweepSpec) -> str:
    """A table of the results (varying parameters only) and the errors of failed runs."""
    varying = list(spec.grid) + sorted({k for i in spec.configurations for k in i} - set(spec.grid))
    lines = []
    header = ["status", "run_id", *varying, "seed", "seconds"]
    rows = [
        [
            r.status,
            r.run_id,
            *[str(r.parameters.get(k)) for k in varying],
            str(r.seed),
            f"{r.seconds:.1f}",
        ]
        for r in report.results
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    for row in [header, *rows]:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    for r in report.failed:
        lines.append(f"FAILED {r.run_id}: {r.error}")
        for note in r.notes:
            lines.append(f"  {note}")
        if r.log:
            lines.extend("  | " + line for line in r.log.splitlines()[-5:])
    counts = report.counts()
    lines.append(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return "\n".join(lines)
