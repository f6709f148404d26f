"""The run set: which runs a statistic reads, their parameters, and every accepted input.

Every statistic starts from a :class:`RunSet`: one row per run (the index's columns,
parameters among them, which become coordinates of the results) and, per run, the
:class:`~opsnn_lake.analysis.reading.RunSource` it is read from. :func:`as_runset`
turns each accepted input into one, once: a lake search, run ids, a Lake or its
folder, an intake catalog give store paths; ``lake.open()`` DataTrees give tree
sources. From there on every input takes the same path.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from opsnn_lake.analysis.groups import GroupInfo, read_groups
from opsnn_lake.analysis.reading import RunSource, source_of
from opsnn_lake.errors import CorruptStoreError, RunNotFoundError, SchemaError
from opsnn_lake.index import FIXED_COLUMNS, PARAM_PREFIX, row_from_attrs
from opsnn_lake.storage.layout import LocalLayout, ObjectLayout
from opsnn_lake.storage.objects import ObjectLocation, is_url

if TYPE_CHECKING:
    from opsnn_lake.lake import Lake

__all__ = ["RESERVED", "RUN_COLUMNS", "RunSet", "as_runset", "coord_name"]

RUN_COLUMNS = ("model", "simulator", "seed")  # index columns kept as coordinates
RESERVED = {
    "unit", "group", "channel", "run", "segment", "population", "unit_index",
    "channel_index", "signal", "time", "frequency", "unit_i", "unit_j", "channel_id",
    "channel_id_i", "channel_id_j",
    # the statistics' own names: a parameter called "rate" must not become a coordinate
    # named like the DataArray it labels (xarray refuses to make a Dataset of that)
    "rate", "cv", "fano", "correlation", "population_rate", "psd", "psth", "mean", "std",
    "min", "max",
}  # fmt: skip


def coord_name(name: str) -> str:
    """The coordinate name of a parameter (``param_<name>`` when a name is taken)."""
    return f"param_{name}" if name in RESERVED else name


class RunSet:
    """The runs one or more statistics read.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per run, indexed by run id; ``model``, ``simulator``, ``seed`` and the
        parameter columns become coordinates of the results.
    sources : Mapping[str, str or xarray.DataTree]
        Each run's store directory or its lazily opened DataTree; both become a
        :class:`~opsnn_lake.analysis.reading.RunSource` here, read the same way.

    Build one with :func:`as_runset`, which accepts everything the statistics accept.
    """

    def __init__(self, table: pd.DataFrame, sources: Mapping[str, Any]) -> None:
        missing = [r for r in table.index if r not in sources]
        if missing:
            raise SchemaError(f"RunSet: no store or tree for runs {missing[:5]}")
        self.table = table
        self.sources = dict(sources)
        self.readers: dict[str, RunSource] = {r: source_of(s) for r, s in self.sources.items()}
        self._groups: list[GroupInfo] | None = None
        self._units: dict[str, str] | None = None

    def parameter_units(self) -> dict[str, str]:
        """Units the runs' model files declare (``UNITS``), by coordinate name."""
        if self._units is None:
            from opsnn_lake.display import units_of_sources

            models = self.table["model"] if "model" in self.table.columns else None
            firsts = (
                self.table.groupby(models, dropna=False).head(1)
                if models is not None
                else self.table.head(1)
            )
            units = units_of_sources(self.sources[r] for r in firsts.index)
            names = set(self.parameter_names())
            self._units = {coord_name(k): u for k, u in units.items() if k in names}
        return self._units

    def with_units(self, result: Any) -> Any:
        """``result`` with a ``units`` attribute on its parameter coordinates (for axes)."""
        for name, unit in self.parameter_units().items():
            if name in result.coords:
                result[name].attrs["units"] = unit
        return result

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return f"RunSet({len(self)} runs, parameters {self.parameter_names()})"

    @property
    def run_ids(self) -> list[str]:
        """Run ids, in the order of the results."""
        return list(self.table.index)

    def parameter_names(self) -> list[str]:
        """Columns that become coordinates: model, simulator, seed and the parameters."""
        return [
            c
            for c in self.table.columns
            if c in RUN_COLUMNS or (c not in FIXED_COLUMNS and not c.startswith("_"))
        ]

    def groups(self) -> list[GroupInfo]:
        """Every group of every run, from the runs' metadata (read once and kept)."""
        if self._groups is None:
            self._groups = [
                g
                for run in self.run_ids
                for g in read_groups(run, self.readers[run], where=self._where(run))
            ]
        return self._groups

    def _where(self, run: str) -> str:
        source = self.sources[run]
        if isinstance(source, str | os.PathLike | ObjectLocation):
            return str(source)
        return f"DataTree of run {run!r}"

    def select(
        self,
        *,
        segments: str | Sequence[str] | None = None,
        populations: str | Sequence[str] | None = None,
        spikes: bool = True,
    ) -> list[GroupInfo]:
        """Groups matching the segment and population names (or original labels).

        Raises
        ------
        SchemaError
            If a name given matches no group of any run (the message lists the names).
        """
        groups = self.groups()
        if spikes:
            groups = [g for g in groups if g.has_spikes]
        for key, wanted in (("segment", segments), ("population", populations)):
            if wanted is None:
                continue
            names = {wanted} if isinstance(wanted, str) else set(wanted)
            known = {getattr(g, key) for g in groups} | (
                {g.label for g in groups if g.label} if key == "population" else set()
            )
            unknown = names - known
            if unknown:
                raise SchemaError(
                    f"no {key} named {sorted(unknown)} in the selected runs; "
                    f"known: {sorted(str(k) for k in known)}"
                )
            groups = [
                g
                for g in groups
                if getattr(g, key) in names or (key == "population" and g.label in names)
            ]
        return groups

    def parameter_coords(
        self, runs: Sequence[str], repeats: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Parameter columns as coordinate values: one per entry of ``runs``, each
        repeated ``repeats`` times if given (one per unit of a group).

        A parameter constant across the run set becomes a zero-stride broadcast, so a
        per-unit coordinate of a constant parameter costs no memory.
        """
        position = pd.Index(self.table.index).get_indexer(list(runs))
        size = len(position) if repeats is None else int(np.sum(repeats))
        out: dict[str, np.ndarray] = {}
        for name in self.parameter_names():
            column = self.table[name]
            values = column.to_numpy()
            if values.dtype.kind not in "biufcmM":
                values = values.astype(object)
            if len(values) and column.nunique(dropna=False) <= 1:
                coord = np.broadcast_to(values[:1], (size,))
            else:
                coord = values[position]
                if repeats is not None:
                    coord = np.repeat(coord, repeats)
            out[coord_name(name)] = coord
        return out


# --------------------------------------------------------------------------- inputs


def _table_from_attrs(attrs_by_run: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    rows = [row_from_attrs(attrs, path="", nbytes=0) for attrs in attrs_by_run.values()]
    frame = pd.DataFrame(rows).set_index("run_id")
    renames = {
        c: c[len(PARAM_PREFIX) :]
        for c in frame.columns
        if c.startswith(PARAM_PREFIX) and c[len(PARAM_PREFIX) :] not in FIXED_COLUMNS
    }
    return frame.rename(columns=renames)


def _from_ids(ids: Sequence[str], lake: Lake) -> RunSet:
    ids = [lake.resolve_run_id(i) if isinstance(i, str) else i for i in ids]  # prefixes
    frame = lake.search(run_id=list(ids)) if ids else lake.search().iloc[:0]
    missing = [i for i in ids if i not in frame.index]
    if missing:
        raise RunNotFoundError(f"{lake.path}: no run {', '.join(map(repr, missing[:5]))}; "
                               "see lake.search() or `opsnn-lake ls`")  # fmt: skip
    return _from_frame(frame.loc[list(dict.fromkeys(ids))], lake)


def _lake_root(lake: Lake | Path | ObjectLocation) -> Path | ObjectLocation:
    """Where a lake's stores are: its folder, or its bucket prefix."""
    if isinstance(lake, Path | ObjectLocation):
        return lake
    root = getattr(lake, "root", None)  # an ObjectLake
    return root if isinstance(root, ObjectLocation) else Path(lake.path)


def _from_frame(frame: pd.DataFrame, lake: Lake | Path | ObjectLocation) -> RunSet:
    if "path" not in frame.columns:
        raise SchemaError("the DataFrame has no 'path' column: pass a lake.search() result")
    root = _lake_root(lake)
    layout = LocalLayout(root) if isinstance(root, Path) else ObjectLayout(root)
    sources: dict[str, Any] = {}
    for run, rel in frame["path"].items():
        # A run's store is where the layout puts it (runs/<id>.zarr, or an attempt of
        # that run): an edited path must not serve another run's data under this id.
        if not layout.holds(str(run), str(rel)):
            raise CorruptStoreError(
                f"{root}: the index row of run {run!r} points to {rel!r}, not to its "
                "store; the index was changed by hand — run `opsnn-lake check --repair` "
                "to rewrite it"
            )
        if isinstance(root, ObjectLocation):
            sources[run] = root.child(str(rel), run_id=str(run))
            continue
        sources[run] = str(root / rel)
        if not Path(sources[run]).is_dir():
            raise SchemaError(
                f"{root}: the store of run {run!r} is missing ({sources[run]}); run "
                "`opsnn-lake check`"
            )
    return RunSet(frame, sources)


def _from_trees(trees: Sequence[Any]) -> RunSet:
    attrs = {}
    sources = {}
    for tree in trees:
        run = tree.attrs.get("run_id")
        if not isinstance(run, str):
            raise SchemaError("a DataTree without a run_id attribute: open runs with lake.open()")
        attrs[run] = dict(tree.attrs)
        sources[run] = tree
    return RunSet(_table_from_attrs(attrs), sources)


def _from_catalog(obj: Any, lake: Any) -> RunSet | None:
    """A RunSet from the lake's intake catalog (or a search of it, or one of its runs)."""
    if "opsnn_lake.catalog" not in sys.modules:  # no catalog object can exist yet
        return None
    from opsnn_lake.catalog import LakeCatalog, RunEntry, RunSource

    if isinstance(obj, LakeCatalog):
        return _from_frame(obj.to_dataframe(), obj.lake_dir)
    if isinstance(obj, RunEntry):
        obj = obj.get()
    if isinstance(obj, RunSource):
        frame = pd.DataFrame([obj.metadata]).set_index("run_id")
        return _from_frame(frame, _source_lake(obj.path, str(frame.index[0])))
    return None


def _source_lake(store: Path | ObjectLocation, run_id: str) -> Path | ObjectLocation:
    """The lake of a catalog source's store (``runs/<id>.zarr``, ``data/<id>/<attempt>``)."""
    if isinstance(store, ObjectLocation):
        return ObjectLayout.lake_of(store)
    return LocalLayout.lake_of(store)


def _is_tree(obj: Any) -> bool:
    import xarray as xr

    return isinstance(obj, xr.DataTree)


def _from_lake(runs: Any, lake: Any) -> RunSet | None:
    from opsnn_lake.lake import Lake

    if isinstance(runs, Lake):
        return _from_frame(runs.search(), runs)
    if isinstance(runs, str) and lake is None and is_url(runs):
        found = Lake(runs, mode="r")
        return _from_frame(found.search(), found)
    local = isinstance(runs, str | os.PathLike) and lake is None
    if local and LocalLayout(Path(runs)).marker.is_file():
        found = Lake(runs, mode="r")
        return _from_frame(found.search(), found)
    return None


def _from_tree_input(runs: Any, lake: Any) -> RunSet | None:
    if _is_tree(runs):
        return _from_trees([runs])
    values = list(runs.values()) if isinstance(runs, Mapping) else None
    if values and all(_is_tree(v) for v in values):
        return _from_trees(values)
    return None


def _needs_lake(lake: Any, what: str) -> Lake:
    if lake is None:
        raise SchemaError(f"{what}: pass lake=Lake(...) as well")
    return lake


def _from_table(runs: Any, lake: Any) -> RunSet | None:
    if isinstance(runs, pd.DataFrame) and "path" in runs.columns:
        return _from_frame(runs, _needs_lake(lake, "a lake.search() result needs its lake"))
    if isinstance(runs, pd.DataFrame | pd.Index):
        ids = list(runs.index if isinstance(runs, pd.DataFrame) else runs)
        return _from_ids(ids, _needs_lake(lake, "a lake.search() result needs its lake"))
    return None


def _from_items(runs: Any, lake: Any) -> RunSet | None:
    if isinstance(runs, str):
        runs = [runs]
    if not isinstance(runs, Iterable):
        return None
    items = list(runs)
    if items and all(_is_tree(i) for i in items):
        return _from_trees(items)
    if all(isinstance(i, str) for i in items):
        return _from_ids(items, _needs_lake(lake, "run ids need their lake"))
    return None


# Tried in order; each returns None when the input is not its kind.
_CONVERTERS: tuple[Callable[[Any, Any], RunSet | None], ...] = (
    lambda runs, lake: runs if isinstance(runs, RunSet) else None,
    _from_catalog,
    _from_lake,
    _from_tree_input,
    _from_table,
    _from_items,
)


def as_runset(runs: Any, lake: Lake | None = None) -> RunSet:
    """Normalise what the statistics accept into a :class:`RunSet`.

    Parameters
    ----------
    runs : RunSet, Lake, DataFrame, run id(s), DataTree(s) or intake catalog
        * a ``lake.search(...)`` DataFrame (with ``lake``), run ids (with ``lake``), a
          Lake (all its runs) or a lake folder: its stores are read;
        * an intake catalog from ``intake.open_catalog("catalogs/lake.yaml")["lake"]``
          or its ``.search(...)``: its lake and runs;
        * one ``lake.open(run_id)`` DataTree, or several (a sequence or a mapping by
          run id): their variables are read.
    lake : Lake, optional
        The lake of a DataFrame or of run ids.

    Raises
    ------
    SchemaError
        If a DataFrame or run ids come without their lake, or the input is of a type
        the analyses do not read.
    """
    for convert in _CONVERTERS:
        found = convert(runs, lake)
        if found is not None:
            return found
    raise SchemaError(
        f"cannot analyse a {type(runs).__name__}: pass a lake.search() DataFrame with "
        "lake=, run ids with lake=, a Lake, an intake catalog (search result), or "
        "lake.open() DataTrees"
    )
