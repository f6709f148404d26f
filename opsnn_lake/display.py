"""How runs look to a person: notebook HTML, text reprs, compact tables and units.

Everything that renders a lake, a catalog (or search result) or a run for people lives
here, so :class:`~opsnn_lake.lake.Lake`, :class:`~opsnn_lake.catalog.LakeCatalog`,
:class:`~opsnn_lake.catalog.RunSource`, ``opsnn-lake ls`` and ``opsnn-lake report``
agree on what is shown and how:

- :func:`summarize_runs` → :class:`RunsSummary` (counts, models, simulators, total size,
  each parameter's range or distinct values, with units), shown by :func:`runs_text`
  and :func:`runs_html`;
- :func:`summarize_run` → :class:`RunSummary` (populations, units, spikes, parameters,
  provenance), shown by :func:`run_text` and :func:`run_html`;
- :func:`compact_columns` and :func:`drop_seed_aliases` for tables; :func:`model_units`
  and :func:`label` for the parameter units a model file declares (``UNITS``).

Only the standard library is imported up front: reprs must not slow a first open.
"""

from __future__ import annotations

import ast
import html
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsnn_lake.index import FIXED_COLUMNS
from opsnn_lake.storage.layout import peek_node_document
from opsnn_lake.storage.objects import ObjectLocation, is_url, parse_url

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ID_COLUMNS",
    "ParameterSummary",
    "RunSummary",
    "RunsSummary",
    "compact_columns",
    "drop_seed_aliases",
    "human_size",
    "label",
    "model_units",
    "run_html",
    "run_text",
    "runs_html",
    "runs_text",
    "summarize_run",
    "summarize_runs",
    "units_of_runs",
    "units_of_sources",
]

#: Index columns that are not parameters.
ID_COLUMNS = tuple(FIXED_COLUMNS)
#: Parameters that repeat the run's seed (a model's ``seed`` parameter, the kernel seed).
SEED_ALIASES = ("p.seed", "setup.rng_seed")
#: Parameters listed with their values when they take at most this many distinct ones.
MAX_LISTED = 6


def human_size(nbytes: float) -> str:
    """``1536`` → ``"1.5 kB"`` (decimal units, as ``ls -h --si``)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(nbytes) < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# --------------------------------------------------------------------------- units


@lru_cache(maxsize=64)
def _units_in_file(path: str, mtime: float) -> dict[str, str]:
    # Read by parsing, not importing: a model file may import a simulator, and
    # displaying a table must not run user code.
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)
    except (OSError, SyntaxError, UnicodeDecodeError):
        return {}
    for node in tree.body:
        target = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and target.id == "UNITS":
            try:
                units = ast.literal_eval(value)
            except ValueError:
                return {}
            if isinstance(units, dict):
                return {str(k): str(v) for k, v in units.items() if isinstance(v, str)}
    return {}


def model_units(provenance: Mapping[str, Any]) -> dict[str, str]:
    """Parameter units a run's model declares: ``{"g_inh": "nS", ...}`` (maybe empty).

    A model file may define ``UNITS = {"g_inh": "nS", ...}`` next to ``PARAMETERS``. The
    units recorded in the run's provenance (``extra["units"]``) win; otherwise the model
    file named in provenance (``extra["model_file"]``) is read (parsed, never imported),
    and lastly ``simulate/<model>.py`` of the current directory.
    """
    extra = provenance.get("extra") or {}
    if isinstance(extra.get("units"), dict):
        return {str(k): str(v) for k, v in extra["units"].items()}
    candidates = []
    if isinstance(extra.get("model_file"), str):
        candidates.append(Path(extra["model_file"]))
    if isinstance(provenance.get("model"), str):
        candidates.append(Path("simulate") / f"{provenance['model']}.py")
    for path in candidates:
        if path.is_file():
            return dict(_units_in_file(str(path.absolute()), path.stat().st_mtime))
    return {}


def _store_ref(where: str | os.PathLike[str] | ObjectLocation) -> Path | ObjectLocation:
    """A folder, or a bucket prefix (``s3://`` text is parsed)."""
    if isinstance(where, ObjectLocation):
        return where
    if isinstance(where, str) and is_url(where):
        return parse_url(where)
    return Path(where)


def _root_attrs_json(store: Path | ObjectLocation) -> dict[str, Any]:
    # The node's zarr.json holds the attributes inline; json is all a repr needs (no zarr).
    meta = peek_node_document(store)
    attrs = meta.get("attributes") if isinstance(meta, dict) else None
    return attrs if isinstance(attrs, dict) else {}


def units_of_runs(
    lake_dir: str | os.PathLike[str] | ObjectLocation, frame: pd.DataFrame
) -> dict[str, str]:
    """Parameter units of the runs of ``frame`` (an index table): one store per model read."""
    units: dict[str, str] = {}
    if frame.empty or "path" not in frame.columns:
        return units
    models = frame["model"] if "model" in frame.columns else None
    firsts = frame.groupby(models, dropna=False).head(1) if models is not None else frame.head(1)
    for rel in firsts["path"]:
        prov = _root_attrs_json(_store_ref(lake_dir) / str(rel)).get("provenance") or {}
        for name, unit in model_units(prov).items():
            units.setdefault(name, unit)
    return units


def units_of_sources(sources: Iterable[Any]) -> dict[str, str]:
    """Parameter units from runs given as store paths or opened DataTrees (one per model)."""
    units: dict[str, str] = {}
    for source in sources:
        if isinstance(source, str | os.PathLike | ObjectLocation):
            prov = _root_attrs_json(_store_ref(source)).get("provenance") or {}
        else:
            prov = dict(getattr(source, "attrs", {}).get("provenance") or {})
        for name, unit in model_units(prov).items():
            units.setdefault(name, unit)
    return units


def label(name: str, units: Mapping[str, str] | None = None) -> str:
    """``"g_inh"`` → ``"g_inh (nS)"`` when the unit is known, else the bare name."""
    unit = (units or {}).get(name)
    return f"{name} ({unit})" if unit else name


# --------------------------------------------------------------------------- tables


def drop_seed_aliases(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop parameter columns that only repeat the ``seed`` column (one seed per table).

    A model's own ``seed`` parameter (``p.seed``) and the kernel seed ``setup.rng_seed``
    are kept where they differ from ``seed`` in any row, since then they say something.
    """
    if "seed" not in frame.columns:
        return frame
    drop = []
    for name in SEED_ALIASES:
        if name in frame.columns:
            same = frame[name].isna() | (frame[name] == frame["seed"])
            if bool(same.all()):
                drop.append(name)
    return frame.drop(columns=drop)


def compact_columns(frame: pd.DataFrame, *, keep: Iterable[str] = ()) -> list[str]:
    """The columns worth showing by default: ids and sizes, then the varying parameters.

    Parameters with one value across ``frame`` say nothing about the differences
    between its runs, so they are left out (``opsnn-lake ls --columns`` shows any).
    """
    base = [c for c in ("model", "simulator", "seed", "n_spikes", "size") if c in frame.columns]
    params = [c for c in frame.columns if c not in ID_COLUMNS and c not in ("size", "run_id")]
    # missing in some runs (another model, an ingested file) is not varying: the model
    # column already tells those runs apart
    varying = [c for c in params if frame[c].dropna().astype(str).nunique() > 1]
    extra = [c for c in keep if c in frame.columns and c not in base + varying]
    return base + varying + extra


# --------------------------------------------------------------------------- many runs


@dataclass(frozen=True)
class ParameterSummary:
    """One parameter across runs: its distinct values (when few) or its range."""

    name: str
    n_distinct: int
    values: tuple[Any, ...] = ()
    low: Any = None
    high: Any = None
    missing: int = 0
    unit: str | None = None

    def describe(self) -> str:
        """``"30, 51, 80"`` or ``"20 … 80 (61 values)"``, with the unit."""
        unit = f" {self.unit}" if self.unit else ""
        if self.values:
            text = ", ".join(_fmt(v) for v in self.values) + unit
        else:
            text = f"{_fmt(self.low)} … {_fmt(self.high)}{unit} ({self.n_distinct} values)"
        return text + (f"; missing in {self.missing}" if self.missing else "")


@dataclass(frozen=True)
class RunsSummary:
    """What a lake, catalog or search result holds."""

    title: str
    location: str
    n_runs: int
    total_bytes: int
    models: dict[str, int] = field(default_factory=dict)
    simulators: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    seeds: ParameterSummary | None = None
    parameters: tuple[ParameterSummary, ...] = ()
    criteria: tuple[Any, ...] = ()


def _parameter_summary(name: str, column: pd.Series, unit: str | None) -> ParameterSummary:
    present = column.dropna()
    missing = int(column.isna().sum())
    distinct = sorted(present.unique().tolist(), key=lambda v: (str(type(v)), v))
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in distinct)
    if len(distinct) <= MAX_LISTED or not numeric:
        shown = distinct[:MAX_LISTED]
        if len(distinct) > MAX_LISTED:
            shown = [*shown, f"… ({len(distinct)} values)"]
        return ParameterSummary(name, len(distinct), tuple(shown), missing=missing, unit=unit)
    return ParameterSummary(
        name, len(distinct), low=distinct[0], high=distinct[-1], missing=missing, unit=unit
    )


def summarize_runs(
    frame: pd.DataFrame,
    *,
    title: str,
    location: str,
    units: Mapping[str, str] | None = None,
    criteria: Sequence[Any] = (),
) -> RunsSummary:
    """Summarise an index table (``lake.search()`` / ``cat.df``) for display."""
    units = units or {}

    def counts(col: str) -> dict[str, int]:
        if col not in frame.columns:
            return {}
        return {str(k): int(v) for k, v in frame[col].fillna("—").value_counts().items()}

    frame = drop_seed_aliases(frame)
    params = [c for c in frame.columns if c not in ID_COLUMNS]
    seeds = None
    if "seed" in frame.columns and frame["seed"].notna().any():
        seeds = _parameter_summary("seed", frame["seed"], None)
    total = int(frame["bytes"].fillna(0).sum()) if "bytes" in frame.columns else 0
    return RunsSummary(
        title=title,
        location=location,
        n_runs=len(frame),
        total_bytes=total,
        models=counts("model"),
        simulators=counts("simulator"),
        kinds=counts("kind"),
        seeds=seeds,
        parameters=tuple(_parameter_summary(p, frame[p], units.get(p)) for p in params),
        criteria=tuple(criteria),
    )


def _counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} ({v})" for k, v in counts.items()) or "—"


def _criteria_text(criteria: Sequence[Any]) -> str:
    return " and ".join(f"{k} {op} {json.dumps(v)}" for k, op, v in criteria)


def runs_text(summary: RunsSummary, *, max_parameters: int = 20) -> str:
    """Plain-text summary (the ``repr`` of a lake or catalog)."""
    lines = [
        f"<{summary.title}: {summary.n_runs} runs, {human_size(summary.total_bytes)} "
        f"in {summary.location}>"
    ]
    if summary.criteria:
        lines.append(f"  search:     {_criteria_text(summary.criteria)}")
    if summary.n_runs:
        lines.append(f"  models:     {_counts_text(summary.models)}")
        lines.append(f"  simulators: {_counts_text(summary.simulators)}")
        if summary.seeds is not None:
            lines.append(f"  seeds:      {summary.seeds.describe()}")
        varying = [p for p in summary.parameters if p.n_distinct > 1]
        fixed = [p for p in summary.parameters if p.n_distinct <= 1]
        if varying:
            lines.append("  parameters:")
            width = max(len(p.name) for p in varying)
            for p in varying[:max_parameters]:
                lines.append(f"    {p.name:<{width}}  {p.describe()}")
            if len(varying) > max_parameters:
                lines.append(f"    … {len(varying) - max_parameters} more")
        if fixed:
            lines.append(f"  fixed: {len(fixed)} parameters ({', '.join(p.name for p in fixed[:8])}"
                         f"{', …' if len(fixed) > 8 else ''})")  # fmt: skip
    return "\n".join(lines)


_CSS = (
    "<style>.opsnn-repr table{border-collapse:collapse;margin:2px 0}"
    ".opsnn-repr th,.opsnn-repr td{text-align:left;padding:1px 8px;vertical-align:top}"
    ".opsnn-repr th{font-weight:600}.opsnn-repr .muted{color:#777}"
    ".opsnn-repr summary{cursor:pointer}</style>"
)


def _e(value: Any) -> str:
    return html.escape(_fmt(value))


def _table(rows: Iterable[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header) if header else ""
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{f'<tr>{head}</tr>' if head else ''}{body}</table>"


def runs_html(summary: RunsSummary) -> str:
    """Notebook HTML of a lake, catalog or search result (``_repr_html_``)."""
    parts = [
        _CSS,
        '<div class="opsnn-repr">',
        f"<strong>{_e(summary.title)}</strong>: {summary.n_runs} runs, "
        f"{_e(human_size(summary.total_bytes))} <span class='muted'>in "
        f"{_e(summary.location)}</span>",
    ]
    if summary.criteria:
        parts.append(f"<div>search: <code>{_e(_criteria_text(summary.criteria))}</code></div>")
    if summary.n_runs:
        rows = [
            ("models", _counts_text(summary.models)),
            ("simulators", _counts_text(summary.simulators)),
            ("kinds", _counts_text(summary.kinds)),
        ]
        if summary.seeds is not None:
            rows.append(("seeds", summary.seeds.describe()))
        parts.append(_table(rows))
        varying = [p for p in summary.parameters if p.n_distinct > 1]
        fixed = [p for p in summary.parameters if p.n_distinct <= 1]
        if varying:
            parts.append("<div><strong>parameters that vary</strong></div>")
            parts.append(
                _table(
                    [(p.name, p.unit or "", p.n_distinct, p.describe()) for p in varying],
                    header=("name", "unit", "distinct", "values"),
                )
            )
        if fixed:
            parts.append(
                f"<details><summary>{len(fixed)} fixed parameters</summary>"
                + _table([(p.name, p.describe()) for p in fixed])
                + "</details>"
            )
    parts.append("</div>")
    return "".join(parts)


# --------------------------------------------------------------------------- one run


@dataclass(frozen=True)
class PopulationSummary:
    """One population (or tonic sample) of one segment of a run."""

    segment: str
    name: str
    label: str
    n_units: int
    n_spikes: int
    signals: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunSummary:
    """What one run holds and where it came from."""

    run_id: str
    path: str
    kind: str
    model: str | None
    simulator: str | None
    simulator_version: str | None
    seed: Any
    n_bytes: int
    duration: float | None
    populations: tuple[PopulationSummary, ...]
    parameters: dict[str, Any]
    units: dict[str, str]
    provenance: dict[str, Any]


def _shape(array_dir: Path | ObjectLocation) -> tuple[int, ...] | None:
    meta = peek_node_document(array_dir)
    shape = meta.get("shape") if isinstance(meta, dict) else None
    return tuple(int(n) for n in shape) if isinstance(shape, list) else None


def _flat(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def summarize_run(
    path: str | os.PathLike[str] | ObjectLocation, row: Mapping[str, Any] | None = None
) -> RunSummary:
    """Summarise one run store (metadata files only: no array is read)."""
    store = _store_ref(path)
    attrs = _root_attrs_json(store)
    prov = attrs.get("provenance") or {}
    summary = attrs.get("summary") or {}
    pops = []
    for segment in attrs.get("segments") or []:
        seg_attrs = _root_attrs_json(store / segment)
        for name in seg_attrs.get("populations") or seg_attrs.get("samples") or []:
            group = store / segment / name
            g_attrs = _root_attrs_json(group)
            counts = _shape(group / "spike_count") or (0,)
            times = _shape(group / "spike_time") or _shape(group / "t") or (0,)
            pops.append(
                PopulationSummary(
                    segment=segment,
                    name=name,
                    label=str(g_attrs.get("label", name)),
                    n_units=counts[0],
                    n_spikes=times[0],
                    signals=tuple(g_attrs.get("signals") or ()),
                )
            )
    row = dict(row or {})
    from_store = 0 if row else _store_size(store)
    return RunSummary(
        run_id=str(attrs.get("run_id", row.get("run_id", store.name))),
        path=str(store),
        kind=str(attrs.get("kind", row.get("kind", "?"))),
        model=prov.get("model"),
        simulator=prov.get("simulator"),
        simulator_version=prov.get("simulator_version"),
        seed=prov.get("seed"),
        n_bytes=int(row.get("bytes") or from_store),
        duration=summary.get("duration"),
        populations=tuple(pops),
        parameters=_flat(prov.get("parameters") or {}),
        units=model_units(prov),
        provenance=prov,
    )


def _store_size(store: Path | ObjectLocation) -> int:
    if isinstance(store, ObjectLocation):
        from opsnn_lake.store import store_bytes

        return store_bytes(store)
    return sum(f.stat().st_size for f in store.rglob("*") if f.is_file())


def _provenance_rows(run: RunSummary) -> list[tuple[str, str]]:
    prov = run.provenance
    versions = prov.get("versions") or {}
    sim = f"{run.simulator or '—'} {run.simulator_version or ''}".strip()
    rows = [
        ("model", f"{run.model or '—'} (hash {str(prov.get('model_hash') or '—')[:12]})"),
        ("simulator", sim),
        ("seed", _fmt(run.seed)),
        ("created", str(prov.get("created", "—"))),
        ("host / python", f"{prov.get('host', '—')} / {prov.get('python', '—')}"),
        ("timings (s)", ", ".join(f"{k} {v:.3g}" for k, v in (prov.get("timings") or {}).items())),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items())),
    ]
    if prov.get("inputs"):
        rows.append(("inputs", ", ".join(prov["inputs"])))
    if prov.get("sources"):
        rows.append(("sources", ", ".join(str(s.get("path", s)) for s in prov["sources"])))
    return rows


def run_text(run: RunSummary) -> str:
    """Plain-text summary of a run (the ``repr`` of a :class:`RunSource`)."""
    n_spikes = sum(p.n_spikes for p in run.populations)
    lines = [
        f"<run {run.run_id}: {run.kind}, {run.model or '—'} on {run.simulator or '—'}, "
        f"{len(run.populations)} groups, {n_spikes} spikes, {human_size(run.n_bytes)}>"
    ]
    for p in run.populations:
        signals = f", signals {', '.join(p.signals)}" if p.signals else ""
        lines.append(f"  {p.segment}/{p.name}: {p.n_units} units, {p.n_spikes} spikes{signals}")
    shown = ", ".join(
        f"{k}={_fmt(v)}{' ' + run.units[k] if k in run.units else ''}"
        for k, v in run.parameters.items()
    )
    if shown:
        lines.append(f"  parameters: {shown[:400]}{'…' if len(shown) > 400 else ''}")
    prov = run.provenance
    lines.append(
        f"  provenance: seed {run.seed}, created {prov.get('created', '—')}, "
        f"host {prov.get('host', '—')}"
    )
    return "\n".join(lines)


def run_html(run: RunSummary) -> str:
    """Notebook HTML of a run (``_repr_html_`` of a :class:`RunSource`)."""
    pops = _table(
        [
            (p.segment, p.label, p.n_units, p.n_spikes, ", ".join(p.signals) or "—")
            for p in run.populations
        ],
        header=("segment", "population", "units", "spikes", "signals"),
    )
    params = _table(
        [(k, v, run.units.get(k, "")) for k, v in run.parameters.items()],
        header=("parameter", "value", "unit"),
    )
    duration = f", {run.duration:g} ms" if run.duration else ""
    return "".join(
        [
            _CSS,
            '<div class="opsnn-repr">',
            f"<strong>run {_e(run.run_id)}</strong>: {_e(run.kind)}{_e(duration)}, "
            f"{_e(human_size(run.n_bytes))} <span class='muted'>{_e(run.path)}</span>",
            pops,
            f"<details><summary>{len(run.parameters)} parameters</summary>{params}</details>",
            f"<details><summary>provenance</summary>{_table(_provenance_rows(run))}</details>",
            "</div>",
        ]
    )


# --------------------------------------------------------------------------- dask


def dashboard_link(client: Any) -> str | None:
    """The dask dashboard URL of a distributed client, or None when it has none."""
    try:
        services = client.scheduler_info().get("services", {})
    except Exception:  # a display helper never fails the work it reports on
        return None
    if "dashboard" not in services:
        return None
    link = getattr(client, "dashboard_link", None)
    return str(link) if link else None


def nan_to_none(value: Any) -> Any:
    """NaN (pandas' missing value) → None, for display and JSON."""
    return None if isinstance(value, float) and math.isnan(value) else value
