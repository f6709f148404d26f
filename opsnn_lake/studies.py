"""Study lineage in the lake: which runs a study tried, in which order, with what result.

A run's id is derived from its content (model, parameters, seed, versions), so lineage
cannot live in the run's store or provenance: the same run may serve several studies,
and adding a study must never change a run. Lineage is kept next to the runs instead::

    <lake>/studies/<study id>/study.json           # the study: spec, strategy, created
    <lake>/studies/<study id>/trials/000012.json   # one record per trial
    <lake>/studies/_stats/<run id>.<key>.json      # statistics of a run (a cache)

Every file is written aside and renamed into place (``os.replace``), so a reader or a
killed writer sees the old record or the new one, never half of one. A trial record is
first written ``pending`` (parameters and run id, before simulating), then replaced by
its final state (``complete`` or ``failed``), so a study killed at any moment knows
which trials it had started. These files are the study's only storage (no optuna
database); :func:`opsnn_lake.explorer.explore` rebuilds the optuna study from them.

``lake.search(study=…)`` and the intake catalog's ``search(study=…)`` select a study's
runs through :func:`run_ids`; :func:`join` adds the lineage columns (``study``,
``trial``, ``strategy``, ``objective``, ``trial_state``) to a search result.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsnn_lake.errors import SchemaError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "STUDIES_DIR",
    "join",
    "list_studies",
    "read_stats",
    "read_study",
    "read_trials",
    "run_ids",
    "write_json_atomic",
    "write_stats",
    "write_study",
    "write_trial",
]

STUDIES_DIR = "studies"
_STATS = "_stats"
LINEAGE_COLUMNS = ("study", "trial", "strategy", "objective", "trial_state")


def _jsonable(value: Any) -> Any:
    """NaN and infinities as ``null`` (JSON has none); numpy scalars as Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` so readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    with open(tmp, "w") as f:
        json.dump(_jsonable(data), f, sort_keys=True, allow_nan=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError) as err:
        raise SchemaError(
            f"{path}: unreadable study record ({err}); remove it to forget that trial"
        ) from None


def _study_dir(lake_path: Path, study: str) -> Path:
    if not study or "/" in study or study.startswith((".", "_")):
        raise SchemaError(f"study id {study!r} is not a valid name (no '/', no leading . or _)")
    return Path(lake_path) / STUDIES_DIR / study


def write_study(lake_path: Path, study: str, record: Mapping[str, Any]) -> None:
    """Write the study record once (a study's identity never changes)."""
    path = _study_dir(lake_path, study) / "study.json"
    if not path.is_file():
        write_json_atomic(path, {**record, "study": study})


def read_study(lake_path: Path, study: str) -> dict[str, Any] | None:
    """The study record, or None if the lake has no such study."""
    path = _study_dir(lake_path, study) / "study.json"
    return _read_json(path) if path.is_file() else None


def list_studies(lake_path: Path) -> list[str]:
    """Ids of the studies in a lake."""
    root = Path(lake_path) / STUDIES_DIR
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "study.json").is_file())


def write_trial(lake_path: Path, study: str, record: Mapping[str, Any]) -> None:
    """Write (or replace) one trial record, atomically."""
    number = int(record["number"])
    path = _study_dir(lake_path, study) / "trials" / f"{number:06d}.json"
    write_json_atomic(path, {**record, "study": study})


def read_trials(lake_path: Path, study: str) -> list[dict[str, Any]]:
    """The trial records of a study, by trial number."""
    folder = _study_dir(lake_path, study) / "trials"
    if not folder.is_dir():
        return []
    return [_read_json(p) for p in sorted(folder.glob("[0-9]*.json"))]


def _iter_lineage(lake_path: Path, study: str | list[str]) -> Iterator[dict[str, Any]]:
    names = [study] if isinstance(study, str) else list(study)
    known = list_studies(lake_path)
    for name in names:
        if name not in known:
            raise SchemaError(
                f"search: no study {name!r} in {lake_path}; known: {', '.join(known) or 'none'}"
            )
        for record in read_trials(lake_path, name):
            if record.get("run_id"):
                yield record


def run_ids(lake_path: Path, study: str | list[str]) -> list[str]:
    """Run ids a study (or any of several) tried, sorted and distinct.

    Raises
    ------
    SchemaError
        If the lake has no such study (the message lists the known ones).
    """
    return sorted({r["run_id"] for r in _iter_lineage(Path(lake_path), study)})


def join(frame: pd.DataFrame, lake_path: Path, study: str | list[str]) -> pd.DataFrame:
    """Add the lineage columns of ``study`` to a search result indexed by run id.

    A run tried by several trials of the study (a repeated parameter set) gets the
    first trial's lineage.
    """
    import pandas as pd

    rows: dict[str, dict[str, Any]] = {}
    for r in _iter_lineage(Path(lake_path), study):
        rows.setdefault(
            r["run_id"],
            {
                "study": r["study"],
                "trial": r["number"],
                "strategy": r.get("strategy"),
                "objective": r.get("objective"),
                "trial_state": r.get("state"),
            },
        )
    lineage = pd.DataFrame.from_dict(rows, orient="index", columns=list(LINEAGE_COLUMNS))
    lineage["objective"] = pd.to_numeric(lineage["objective"], errors="coerce")
    out = frame.drop(columns=[c for c in LINEAGE_COLUMNS if c in frame.columns])
    return out.join(lineage, how="left")


def _stats_path(lake_path: Path, run_id: str, key: str) -> Path:
    return Path(lake_path) / STUDIES_DIR / _STATS / f"{run_id}.{key}.json"


def read_stats(lake_path: Path, run_id: str, key: str) -> dict[str, Any] | None:
    """Cached statistics of a run for a statistics key, or None."""
    path = _stats_path(lake_path, run_id, key)
    if not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None  # a cache: recompute rather than fail


def write_stats(lake_path: Path, run_id: str, key: str, stats: Mapping[str, Any]) -> None:
    """Cache the statistics of a run (the run never changes, so neither do they)."""
    write_json_atomic(_stats_path(lake_path, run_id, key), stats)
