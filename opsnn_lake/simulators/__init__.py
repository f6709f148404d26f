"""Simulator back-ends and the runner that puts their runs into the lake.

One runner (:mod:`opsnn_lake.simulators.runner`) serves every back-end; a back-end
module (:mod:`~opsnn_lake.simulators.nest`, :mod:`~opsnn_lake.simulators.spinnaker`)
only names its PyNN module, where its version comes from and its optional hooks (fast
path, set-up context: plain callables), as a :class:`Backend` called ``BACKEND``.

The registry maps each name to a loader (a callable returning the :class:`Backend`), so a
back-end's module is imported only when it is used. Further back-ends come from the
``opsnn_lake.simulators`` entry-point group (``name = "package.module:BACKEND"``) or
:func:`register_backend`.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opsnn_lake.errors import SchemaError
from opsnn_lake.simulators.process import run_in_subprocess
from opsnn_lake.simulators.records import RunRequest, RunResult

if TYPE_CHECKING:
    from opsnn_lake.simulators.runner import (
        Backend,
        Model,
        RunPlan,
        load_model,
        plan_run,
        run_model,
    )

__all__ = [
    "ENTRY_POINT_GROUP",
    "SIMULATORS",
    "Backend",
    "Model",
    "RunPlan",
    "RunRequest",
    "RunResult",
    "get_backend",
    "load_model",
    "plan_run",
    "register_backend",
    "run_in_subprocess",
    "run_model",
    "simulator_names",
]

ENTRY_POINT_GROUP = "opsnn_lake.simulators"
# Imported on first use: the records and run_in_subprocess need no simulator, neo or zarr.
_RUNNER = ("Backend", "Model", "RunPlan", "load_model", "plan_run", "run_model")


def __getattr__(name: str) -> Any:
    if name in _RUNNER:
        return getattr(importlib.import_module("opsnn_lake.simulators.runner"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _module_backend(module: str) -> Callable[[], Backend]:
    def load() -> Backend:
        backend: Backend = importlib.import_module(module).BACKEND
        return backend

    return load


#: Back-end name → loader returning its :class:`Backend` (imported on first use).
SIMULATORS: dict[str, Callable[[], Backend]] = {
    "nest": _module_backend("opsnn_lake.simulators.nest"),
    "spinnaker": _module_backend("opsnn_lake.simulators.spinnaker"),
}


def register_backend(name: str, loader: Callable[[], Backend]) -> None:
    """Add a back-end: ``loader()`` returns its :class:`Backend` (called on first use)."""
    SIMULATORS[name] = loader


@functools.lru_cache(maxsize=1)  # installed distributions do not change while running
def _entry_points() -> dict[str, Callable[[], Backend]]:
    from importlib.metadata import entry_points

    return {ep.name: ep.load for ep in entry_points(group=ENTRY_POINT_GROUP)}


def simulator_names() -> list[str]:
    """Names of every known back-end: the built-in ones, then entry points."""
    return [*SIMULATORS, *(n for n in _entry_points() if n not in SIMULATORS)]


def get_backend(name: str) -> Backend:
    """The back-end called ``name``.

    Raises
    ------
    SchemaError
        If there is no such back-end; the message lists the valid names.
    """
    loader = SIMULATORS.get(name) or _entry_points().get(name)
    if loader is None:
        raise SchemaError(f"simulator {name!r}: unknown; valid: {', '.join(simulator_names())}")
    from opsnn_lake.simulators.runner import Backend

    backend = loader()
    if not isinstance(backend, Backend):
        raise SchemaError(
            f"simulator {name!r}: its loader returned {type(backend).__name__}, "
            "expected an opsnn_lake.simulators.Backend"
        )
    return backend
