"""The records that cross process boundaries: what to run, and what became of it.

:class:`RunRequest` goes to the child process that runs a configuration (as JSON),
:class:`RunResult` comes back. Both are frozen, with ``to_dict``/``from_dict`` checking
one field per ``parse_*`` function. This module imports no simulator, neo or zarr, so a
dask worker that only starts child processes (:mod:`opsnn_lake.simulators.process`)
starts its first run at once.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opsnn_lake.errors import SpecError
from opsnn_lake.spec_fields import (
    parse_bool,
    parse_mapping,
    parse_optional_int,
    parse_text,
    require_mapping,
)

if TYPE_CHECKING:
    from opsnn_lake.lake import Lake
    from opsnn_lake.simulators.runner import Model, RunPlan

__all__ = ["STATUSES", "RunRequest", "RunResult"]


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
        """The :func:`~opsnn_lake.simulators.runner.plan_run` of this request.

        ``lake``: where its inputs are; ``model``: the request's model, loaded already
        (spares reading it again).
        """
        from opsnn_lake.simulators.runner import plan_run

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
