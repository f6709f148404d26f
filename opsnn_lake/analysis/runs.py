"""Former home of the run set, reading, planning and result code; the names it held.

The analyses' plumbing is split by job: :mod:`~opsnn_lake.analysis.runset` (which runs,
:func:`as_runset`), :mod:`~opsnn_lake.analysis.groups` (the metadata model),
:mod:`~opsnn_lake.analysis.reading` (reads through :mod:`opsnn_lake.store`),
:mod:`~opsnn_lake.analysis.plan` (graphs, batching on workers),
:mod:`~opsnn_lake.analysis.results` (result assembly) and
:mod:`~opsnn_lake.analysis.binning`. This module re-exports their names for code that
imports them from here.
"""

from __future__ import annotations

from opsnn_lake.analysis.binning import as_ms
from opsnn_lake.analysis.groups import (
    CONFIG_KEY,
    DEFAULT_SPIKES_PER_TASK,
    GroupInfo,
    SignalInfo,
    signal_ids,
)
from opsnn_lake.analysis.plan import Plan, load_spikes, per_unit, unit_coord
from opsnn_lake.analysis.reading import Spikes, read_spikes_zarr
from opsnn_lake.analysis.results import group_result, unit_result
from opsnn_lake.analysis.runset import RESERVED, RUN_COLUMNS, RunSet, as_runset

__all__ = [
    "CONFIG_KEY",
    "DEFAULT_SPIKES_PER_TASK",
    "RESERVED",
    "RUN_COLUMNS",
    "GroupInfo",
    "Plan",
    "RunSet",
    "SignalInfo",
    "Spikes",
    "as_ms",
    "as_runset",
    "group_result",
    "load_spikes",
    "per_unit",
    "read_spikes_zarr",
    "signal_ids",
    "unit_coord",
    "unit_result",
]
