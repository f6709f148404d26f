"""Simulator back-ends and the runner that puts their runs into the lake.

One runner (:mod:`opsnn_lake.simulators.runner`) serves every back-end; a back-end
module (:mod:`~opsnn_lake.simulators.nest`, :mod:`~opsnn_lake.simulators.spinnaker`)
only names its PyNN module and where its version comes from, as a :class:`Backend`
called ``BACKEND``.
"""

from __future__ import annotations

import importlib

from opsnn_lake.errors import SchemaError
from opsnn_lake.simulators.runner import (
    Backend,
    Model,
    RunPlan,
    RunRequest,
    RunResult,
    load_model,
    plan_run,
    run_in_subprocess,
    run_model,
)

__all__ = [
    "SIMULATORS",
    "Backend",
    "Model",
    "RunPlan",
    "RunRequest",
    "RunResult",
    "get_backend",
    "load_model",
    "plan_run",
    "run_in_subprocess",
    "run_model",
]

SIMULATORS: dict[str, str] = {
    "nest": "opsnn_lake.simulators.nest",
    "spinnaker": "opsnn_lake.simulators.spinnaker",
}


def get_backend(name: str) -> Backend:
    """The back-end called ``name``.

    Raises
    ------
    SchemaError
        If there is no such back-end; the message lists the valid names.
    """
    if name not in SIMULATORS:
        raise SchemaError(f"simulator {name!r}: unknown; valid: {', '.join(SIMULATORS)}")
    return importlib.import_module(SIMULATORS[name]).BACKEND
