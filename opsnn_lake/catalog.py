"""The lake as an intake catalog: ``intake.open_catalog("catalogs/lake.yaml")["lake"]``.

``catalogs/lake.yaml`` is an intake v1 catalog file with a single entry whose driver is
``opsnn_lake`` (this module's :class:`LakeCatalog`, found through the ``intake.drivers``
entry-point group, so a plain ``intake.open_catalog`` finds it in a fresh process). The
entry names the lake by a path relative to the YAML's folder and lists no runs: the
catalog reads the lake's SQLite index when asked, so opening it costs the same at ten
runs or a hundred thousand, and the file never needs rewriting when runs are added.

>>> import intake
>>> cat = intake.open_catalog("catalogs/lake.yaml")["lake"]       # doctest: +SKIP
>>> sub = cat.search(model="va", g_inh=(40, 60))                  # a narrower catalog
>>> sub.df                                                         # the index rows
>>> tree = sub[run_id].to_dask()                                   # lazy xarray.DataTree
>>> exc = sub[run_id](group="segment000/exc").to_dask()            # one group's Dataset
>>> ds = sub.to_dataset("segment000/exc", variables=["spike_count"])  # all runs, dim "run"

Nothing is read before it is asked for: entries are made from index rows on access,
a run's arrays stay dask arrays until computed. See ``docs/catalog.md``.
"""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata as _metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intake.catalog import Catalog
from intake.catalog.entry import CatalogEntry
from intake.source.base import DataSource, Schema

from opsnn_lake.errors import CorruptStoreError, RunNotFoundError, SchemaError
from opsnn_lake.index import FIXED_COLUMNS, RunIndex, open_lake_index
from opsnn_lake.marker import check_lake_dir
from opsnn_lake.storage.objects import ObjectLocation, is_url, parse_url

if TYPE_CHECKING:
    import neo
    import pandas as pd
    import xarray as xr

    from opsnn_lake.object_lake import ObjectLake

__all__ = [
    "LakeCatalog",
    "RunEntry",
    "RunSource",
    "catalog_text",
    "open_catalog",
    "write_catalog",
]

try:
    _VERSION = _metadata.version("opsnn-lake")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    _VERSION = "0+unknown"

GENERATED_BY = "opsnn_lake"
CATALOG_FORMAT = 1
#: Index columns that become coordinates along ``run`` besides the parameters.
RUN_COORDS = ("model", "simulator", "seed")


def _local_path(value: Any, *, what: str) -> Path:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise SchemaError(
            f"{what} must be the path of a lake directory, got {value!r}; "
            "rewrite the catalog with `opsnn-lake catalog`"
        )
    if value.startswith("file://"):  # intake 2 renders CATALOG_DIR as a file URL
        value = value[len("file://") :]
    return Path(os.path.normpath(value))


def _location(
    value: Any, *, what: str, storage_options: Mapping[str, Any] | None = None
) -> Path | ObjectLocation:
    """A store or lake given as a path, an ``s3://`` URL or an ObjectLocation."""
    if isinstance(value, ObjectLocation):
        return value
    if isinstance(value, str) and is_url(value) and not value.startswith("file://"):
        return parse_url(value, storage_options)
    return _local_path(value, what=what)


def _store_of(lake: Path | ObjectLocation, rel: str, run_id: Any) -> Path | ObjectLocation:
    """The store an index row's path names (an object location knows its run)."""
    if isinstance(lake, ObjectLocation):
        return lake.child(str(rel), run_id=None if run_id is None else str(run_id))
    return lake / rel


def _require_store(path: Path | ObjectLocation, hint: str) -> None:
    from opsnn_lake.store import has_group

    if not has_group(path, ""):
        raise RunNotFoundError(f"{path}: the run's store is missing; run `opsnn-lake check`{hint}")


def _plain_criteria(criteria: Mapping[str, Any]) -> dict[str, Any]:
    """numpy values as the Python ones they hold (numpy is imported only if in use)."""

    def numpyish(value: Any) -> bool:
        if isinstance(value, list | tuple):
            return any(numpyish(v) for v in value)
        return type(value).__module__.split(".")[0] == "numpy"

    if not any(numpyish(v) for v in criteria.values()):
        return dict(criteria)
    from opsnn_lake.jsonable import plain

    return {key: plain(value) for key, value in criteria.items()}


# --------------------------------------------------------------------------- one run


def _check_holds_run(path: Path | ObjectLocation, run_id: Any) -> None:
    """The store an index row points to must hold that run (an edited ``path`` must not
    serve one run's data under another's id)."""
    from opsnn_lake.store import read_root_attrs

    if run_id is None:
        return
    held = read_root_attrs(path).get("run_id")
    if held != run_id:
        raise CorruptStoreError(
            f"{path}: the index row of run {run_id!r} points to the store of run {held!r}; "
            "the index was changed by hand — run `opsnn-lake check --repair` to rewrite it"
        )


def _open_group(
    path: Path | ObjectLocation,
    group: str,
    *,
    variables: Sequence[str] | None,
    chunks: Any,
) -> xr.Dataset:
    """One group of a store as a lazy Dataset (dask arrays), or a clear error."""
    from opsnn_lake.store import has_group

    group = group.strip("/")
    if not has_group(path, group):
        from opsnn_lake.store import open_tree

        groups = [g.lstrip("/") for g in open_tree(path).groups if g != "/"]
        raise SchemaError(f"{path}: no group {group!r}; groups: {', '.join(groups)}")
    from opsnn_lake.store import open_dataset

    ds: xr.Dataset = open_dataset(path, group, chunks=chunks)  # verified reads: damage raises
    if variables is not None:
        missing = [v for v in variables if v not in ds.variables]
        if missing:
            known = ", ".join(map(str, ds.data_vars))
            raise SchemaError(f"{path}/{group}: no variable(s) {missing}; variables: {known}")
        ds = ds[list(variables)]
    return ds


class RunSource(DataSource):  # type: ignore[misc]  # intake is untyped: its bases are Any
    """One run of the lake as an intake data source (container ``xarray``).

    Parameters
    ----------
    path : path-like or str
        The run's store directory, or its ``s3://`` URL.
    group : str, optional
        A group of the store (``"segment000/exc"``): :meth:`to_dask` then gives that
        group's :class:`xarray.Dataset`; by default the whole store as a DataTree.
    variables : list of str, optional
        Keep only these variables of ``group``.
    chunks : dict, optional
        dask chunks; by default the store's own chunks.
    metadata : dict, optional
        The run's index row (parameters under their bare names).
    storage_options : dict, optional
        Options of the object-store client for an ``s3://`` store (else ``AWS_*``).
    """

    name = "opsnn_lake_run"
    version = _VERSION
    container = "xarray"
    partition_access = False

    def __init__(
        self,
        path: str | os.PathLike[str],
        group: str | None = None,
        variables: Sequence[str] | None = None,
        chunks: Any = None,
        metadata: Mapping[str, Any] | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        where = _location(path, what="RunSource path", storage_options=storage_options)
        if isinstance(where, ObjectLocation):
            where = ObjectLocation(
                where.bucket, where.key, where.options, (metadata or {}).get("run_id")
            )
        self.path = where
        self.group = group
        self.variables = None if variables is None else list(variables)
        self.chunks = chunks
        self._data: Any = None
        super().__init__(storage_options=storage_options, metadata=dict(metadata or {}))

    def _existing(self) -> Path | ObjectLocation:
        _require_store(self.path, " on its lake")
        return self.path

    def _open(self) -> Any:
        if self._data is None:
            from opsnn_lake.store import open_tree, read_root_attrs

            path = self._existing()
            _check_holds_run(path, (self.metadata or {}).get("run_id"))
            if self.group is None:
                self._data = open_tree(path, chunks=self.chunks)
            else:
                read_root_attrs(path)  # refuse foreign or newer stores with our message
                self._data = _open_group(
                    path, self.group, variables=self.variables, chunks=self.chunks
                )
        return self._data

    def _get_schema(self) -> Schema:
        data = self._open()
        return Schema(
            datashape=None,
            dtype=None,
            shape=None,
            npartitions=1,
            extra_metadata={"dims": {str(k): int(v) for k, v in data.sizes.items()}},
        )

    def to_dask(self) -> Any:
        """The run as lazy xarray (dask arrays): a DataTree, or ``group``'s Dataset."""
        self._load_metadata()
        return self._data

    def read(self) -> Any:
        """The run loaded into memory (numpy arrays)."""
        return self.to_dask().compute()

    def _get_partition(self, i: int) -> Any:
        return self.read()

    def to_neo(self) -> neo.Block:
        """The run as a neo Block, equal to the one added (spike trains built lazily)."""
        from opsnn_lake.neo_convert import nodes_to_block
        from opsnn_lake.store import read_nodes

        path = self._existing()
        return nodes_to_block(read_nodes(path), where=str(path))

    def _close(self) -> None:
        if self._data is not None:
            self._data.close()
        self._data = None

    def _display_summary(self) -> Any:
        from opsnn_lake.display import summarize_run

        return summarize_run(self._existing(), self.metadata)

    def __repr__(self) -> str:
        from opsnn_lake.display import run_text

        try:
            return run_text(self._display_summary())
        except RunNotFoundError:  # a repr must not raise; say what is wrong instead
            return f"<RunSource {self.path}: the store is missing>"

    def _repr_html_(self) -> str:
        """Notebook display: populations, units, spikes, parameters, provenance."""
        import html

        from opsnn_lake.display import run_html

        try:
            return run_html(self._display_summary())
        except RunNotFoundError as err:
            return f"<pre>{html.escape(str(err))}</pre>"

    def _ipython_display_(self) -> None:
        # intake's DataSource shows its YAML description; show the run instead.
        from IPython.display import HTML, display

        display(HTML(self._repr_html_()))


class RunEntry(CatalogEntry):  # type: ignore[misc]  # intake is untyped: its bases are Any
    """Catalog entry of one run, made from its index row when it is looked up."""

    _container = "xarray"

    def __init__(self, catalog: LakeCatalog, row: Mapping[str, Any]) -> None:
        super().__init__(getenv=False, getshell=False)
        self._catalog = catalog
        self._row = dict(row)
        self._user_parameters: list[Any] = []

    @property
    def name(self) -> str:
        """The run id."""
        return str(self._row["run_id"])

    def _args(self) -> dict[str, Any]:
        cat = self._catalog
        args = {
            "path": str(_store_of(cat.lake_dir, self._row["path"], None)),
            "group": cat.group,
            "variables": cat.variables,
            "chunks": cat.chunks,
        }
        if isinstance(cat.lake_dir, ObjectLocation) and cat.lake_dir.shareable_options:
            args["storage_options"] = cat.lake_dir.shareable_options
        return args

    def describe(self) -> dict[str, Any]:
        """The entry as intake describes entries (args, metadata = the index row)."""
        return {
            "name": self.name,
            "container": "xarray",
            "plugin": [RunSource.name],
            "driver": [RunSource.name],
            "description": f"run {self.name} of the lake {self._catalog.lake_dir}",
            "direct_access": "allow",
            "user_parameters": [],
            "metadata": self._row,
            "args": self._args(),
        }

    def get(self, **user_parameters: Any) -> RunSource:
        """The run's :class:`RunSource`; keywords override ``group``, ``variables``…"""
        args = {**self._args(), **user_parameters}
        source = RunSource(**args, metadata=self._row)
        source.name = self.name
        source.description = f"run {self.name}"
        source.cat = self._catalog
        return source


class _RunEntries(Mapping[str, RunEntry]):
    """run id → entry, answered by the index on every call (nothing held in memory)."""

    def __init__(self, catalog: LakeCatalog) -> None:
        self._cat = catalog

    def __getitem__(self, key: str) -> RunEntry:
        row = self._cat._row(self._cat.resolve_run_id(key)) if isinstance(key, str) else None
        if row is None:
            raise KeyError(key)
        return RunEntry(self._cat, row)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._cat._row(key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._cat.run_ids())

    def __len__(self) -> int:
        return self._cat._index.count(self._cat.criteria)

    def items(self) -> Iterator[tuple[str, RunEntry]]:  # type: ignore[override]
        for row in self._cat._index.rows(self._cat.criteria):
            public = RunIndex.public_row(row)
            yield public["run_id"], RunEntry(self._cat, public)

    def values(self) -> Iterator[RunEntry]:  # type: ignore[override]
        return (entry for _, entry in self.items())


# --------------------------------------------------------------------------- the lake


class LakeCatalog(Catalog):  # type: ignore[misc]  # intake is untyped: its bases are Any
    """A lake (or a search result in it) as an intake catalog; one entry per run id.

    Parameters
    ----------
    lake : path-like, str or ObjectLake
        The lake directory (in the YAML: ``"{{ CATALOG_DIR }}../lake"``), or its
        ``s3://bucket/prefix`` URL (read through a read-only
        :class:`~opsnn_lake.object_lake.ObjectLake` view).
    criteria : list, optional
        Search terms ``[key, op, value]`` (see :func:`opsnn_lake.index.criteria_terms`);
        made by :meth:`search`, rarely given by hand.
    group : str, optional
        Default group for the runs' sources (``"segment000/exc"``).
    variables : list of str, optional
        Default variables kept from ``group``.
    chunks : dict, optional
        dask chunks; by default the stores' own.
    storage_options : dict, optional
        For an ``s3://`` lake: the object-store client's options (else ``AWS_*``).
    **kwargs
        Passed to :class:`intake.catalog.Catalog` (``name``, ``metadata``…).

    Raises
    ------
    NotALakeError
        If ``lake`` is missing or not an OpSNN lake.
    IndexVersionError
        If the lake's index was written by a newer opsnn_lake.
    SchemaError
        If an argument is not what the catalog expects (e.g. a YAML edited by hand),
        or a search names an unknown parameter.

    Examples
    --------
    >>> cat = intake.open_catalog("catalogs/lake.yaml")["lake"]           # doctest: +SKIP
    >>> sub = cat.search(g_inh=(40, 60), seed=[1, 2])                     # doctest: +SKIP
    >>> len(sub), list(sub)[:3]                                           # doctest: +SKIP
    >>> sub.to_dataset("segment000/exc", variables=["spike_count"])      # doctest: +SKIP
    """

    name = "opsnn_lake"
    version = _VERSION
    container = "catalog"
    partition_access = None

    def __init__(
        self,
        lake: str | os.PathLike[str] | ObjectLake = "lake",
        criteria: Sequence[Sequence[Any]] | None = None,
        group: str | None = None,
        variables: Sequence[str] | None = None,
        chunks: Any = None,
        storage_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        # Everything is set before Catalog.__init__, which builds the entries container,
        # and kept private: Catalog.__getattr__ turns unknown public names into entry
        # look-ups (so a typo would query the index for a run of that name).
        where = kwargs.get("metadata", {}) or {}
        source = f" (catalog in {where['catalog_dir']})" if "catalog_dir" in where else ""
        self._lake_dir: Path | ObjectLocation
        self._view = _object_view(lake, storage_options)
        if self._view is not None:
            self._lake_dir = self._view.root
            self._index = self._view.index
        else:
            self._lake_dir = check_lake_dir(_local_path(lake, what=f"argument 'lake'{source}"))
            self._index = open_lake_index(self._lake_dir)
        if criteria is not None and (
            isinstance(criteria, str | Mapping)
            or not all(isinstance(t, Sequence) and not isinstance(t, str) for t in criteria)
        ):
            raise SchemaError(
                f"argument 'criteria'{source} must be a list of [key, op, value] terms, "
                f"got {criteria!r}; use LakeCatalog.search(**criteria) instead"
            )
        self._terms = self._index.terms(criteria or [])
        self._group = group
        self._variables = None if variables is None else list(variables)
        self._chunks = chunks
        kwargs["ttl"] = None  # the index is live: nothing to reload, ever
        kwargs.setdefault("name", "lake")
        super().__init__(**kwargs)

    # ------------------------------------------------------------ intake's hooks

    def _make_entries_container(self) -> _RunEntries:
        return _RunEntries(self)

    def _load(self) -> None:
        """Nothing to load: the index answers every question when it is asked."""

    def _close(self) -> None:
        self._index.close()

    def walk(
        self, sofar: dict[str, Any] | None = None, prefix: list[str] | None = None, depth: int = 2
    ) -> dict[str, Any]:
        """All entries (every run: costly on a big lake; prefer :meth:`search`).

        Called by a parent catalog's ``walk`` or text ``search`` (``sofar`` given), it
        adds nothing, so searching the YAML catalog does not list every run.
        """
        if sofar is not None:
            return sofar
        entries: dict[str, Any] = super().walk(sofar=sofar, prefix=prefix, depth=depth)
        return entries

    def __dir__(self) -> list[str]:
        # intake lists every entry name here; 100,000 run ids would freeze tab completion
        return sorted(set(object.__dir__(self)))

    def _ipython_key_completions_(self) -> list[str]:
        return self.run_ids()

    def _display_summary(self) -> Any:
        from opsnn_lake.display import summarize_runs, units_of_runs

        frame = self.to_dataframe()
        title = f"LakeCatalog {self.name!r}" + (" (search result)" if self._terms else "")
        return summarize_runs(
            frame,
            title=title,
            location=str(self._lake_dir),
            units=units_of_runs(self._lake_dir, frame),
            criteria=self._terms,
        )

    def __repr__(self) -> str:
        from opsnn_lake.display import runs_text

        return runs_text(self._display_summary())

    def _repr_html_(self) -> str:
        """Notebook display: run count, models, simulators, size, parameters' values."""
        from opsnn_lake.display import runs_html

        return runs_html(self._display_summary())

    def _ipython_display_(self) -> None:
        # intake's Catalog defines _ipython_display_ (it shows the YAML entry), which
        # IPython prefers over _repr_html_; show the runs instead.
        from IPython.display import HTML, display

        display(HTML(self._repr_html_()))

    def unique(self, column: str | None = None) -> Any:
        """Distinct values of a column or parameter among this catalog's runs.

        Parameters
        ----------
        column : str, optional
            A parameter (``"g_inh"``) or index column (``"model"``, ``"seed"``).

        Returns
        -------
        list or pandas.Series
            With ``column``: its sorted distinct values (missing values left out).
            Without: a Series, one entry per column, each the list of its distinct values
            (as ``intake_esm``'s ``unique()``).

        Raises
        ------
        SchemaError
            If ``column`` is neither an index column nor a parameter of these runs.
        """
        import pandas as pd

        frame = self.to_dataframe().reset_index()
        if column is not None:
            if column not in frame.columns:
                known = ", ".join(c for c in frame.columns if c not in ("path",))
                raise SchemaError(f"unique: no column or parameter {column!r}; known: {known}")
            values = frame[column].dropna().unique().tolist()
            return sorted(values, key=lambda v: (str(type(v)), v))
        skip = {"path", "created", "inputs"}
        from opsnn_lake.display import drop_seed_aliases

        frame = drop_seed_aliases(frame)  # one seed entry, as in every table
        return pd.Series(
            {
                c: sorted(frame[c].dropna().unique().tolist(), key=lambda v: (str(type(v)), v))
                for c in frame.columns
                if c not in skip
            },
            name="unique",
        )

    # ------------------------------------------------------------ properties

    @property
    def lake_dir(self) -> Path | ObjectLocation:
        """The lake directory (absolute), or the bucket prefix of an object lake."""
        return self._lake_dir

    @property
    def criteria(self) -> list[list[Any]]:
        """The search terms that define this catalog (empty: the whole lake)."""
        return [list(t) for t in self._terms]

    @property
    def group(self) -> str | None:
        """Default group of the runs' sources."""
        return self._group

    @property
    def variables(self) -> list[str] | None:
        """Default variables of the runs' sources."""
        return self._variables

    @property
    def chunks(self) -> Any:
        """dask chunks of the runs' sources (None: the stores' own)."""
        return self._chunks

    @property
    def df(self) -> pd.DataFrame:
        """The index rows of this catalog's runs (as :meth:`to_dataframe`)."""
        return self.to_dataframe()

    # ------------------------------------------------------------ queries

    def _row(self, run_id: str) -> dict[str, Any] | None:
        row = self._index.get(run_id, self._terms)
        return None if row is None else RunIndex.public_row(row)

    def resolve_run_id(self, key: str) -> str:
        """The run id ``key`` stands for: itself, or the one run id it is a prefix of.

        Returns ``key`` unchanged when it matches no run or several, so the caller's
        look-up fails with intake's ``KeyError``.
        """
        if not key or self._row(key) is not None:
            return key
        ids = [
            r
            for r in self._index.run_ids([*self._terms, ["run_id", "contains", key]])
            if r.startswith(key)
        ]
        return ids[0] if len(ids) == 1 else key

    def __getitem__(self, key: Any) -> Any:
        """A run by id or unique id prefix (``cat["va-3a9f"]``), as intake's catalogs."""
        if isinstance(key, str) and "." not in key:
            key = self.resolve_run_id(key)
        return super().__getitem__(key)

    def run_ids(self) -> list[str]:
        """The run ids of this catalog, sorted."""
        return self._index.run_ids(self._terms)

    def search(self, text: str | None = None, **criteria: Any) -> LakeCatalog:
        """A new catalog of the runs that also match ``criteria``; nothing is read yet.

        Parameters
        ----------
        text : str, optional
            A substring of the run id (intake's free-text search).
        **criteria
            As :meth:`opsnn_lake.Lake.search`: equality, ``(low, high)`` inclusive
            ranges (``None`` for an open side), lists (any of), ``None`` (missing),
            nested names as ``stim__rate`` or ``**{"stim.rate": 5}``.

        Returns
        -------
        LakeCatalog
            A narrower catalog (chained searches combine with AND).

        Raises
        ------
        SchemaError
            For a name no run has (the message lists the known ones) or a bad value.
        """
        if "study" in criteria:  # an explore study's runs (lineage beside the index)
            from opsnn_lake import studies

            criteria = dict(criteria)
            if isinstance(self._lake_dir, ObjectLocation):
                raise SchemaError(
                    f"{self._lake_dir}: expected a local lake for study=, got a bucket "
                    "(explore studies live in local lakes only); select the runs by "
                    "run_id instead"
                )
            criteria["run_id"] = studies.run_ids(self._lake_dir, criteria.pop("study"))
        terms = self._index.terms(_plain_criteria(criteria))
        if text:
            terms.insert(0, ["run_id", "contains", str(text)])
        new = type(self)(
            self._view if self._view is not None else str(self._lake_dir),
            criteria=self.criteria + terms,
            group=self._group,
            variables=self._variables,
            chunks=self._chunks,
            name=self.name,
            description=self.description,
            # a deep copy: lists shared with `criteria` would show as anchors in .yaml()
            metadata={**(self.metadata or {}), "search": copy.deepcopy(self.criteria + terms)},
        )
        new.cat = self
        return new

    def to_dataframe(self) -> pd.DataFrame:
        """The index rows of this catalog's runs, indexed by run id (one query)."""
        return self._index.search(self._terms)

    def _parameter_coords(self, frame: pd.DataFrame) -> dict[str, Any]:
        names = [c for c in frame.columns if c not in FIXED_COLUMNS] + [
            c for c in RUN_COORDS if c in frame.columns
        ]
        return {name: ("run", frame[name].to_numpy()) for name in names}

    def _open_all(
        self, frame: pd.DataFrame, group: str, variables: Sequence[str] | None, chunks: Any
    ) -> list[xr.Dataset]:
        from concurrent.futures import ThreadPoolExecutor

        paths = [
            _store_of(self._lake_dir, p, r) for p, r in zip(frame["path"], frame.index, strict=True)
        ]

        def one(path: Path | ObjectLocation, run_id: str) -> xr.Dataset:
            _require_store(path, f" --lake {self._lake_dir}")
            _check_holds_run(path, run_id)
            return _open_group(path, group, variables=variables, chunks=chunks)

        # Opening reads only metadata, but a round trip per store adds up: overlap them.
        with ThreadPoolExecutor(max_workers=min(8, max(1, len(paths)))) as pool:
            return list(pool.map(one, paths, [str(r) for r in frame.index]))

    def to_dataset(
        self,
        group: str | None = None,
        *,
        variables: Sequence[str] | None = None,
        chunks: Any = None,
    ) -> xr.Dataset:
        """One group of every run as ONE lazy Dataset along a new ``run`` dimension.

        The run ids label ``run``; every parameter of the selected runs, and ``model``,
        ``simulator`` and ``seed``, are coordinates along ``run``, so results can be
        grouped or plotted against them. Arrays stay dask arrays.

        Parameters
        ----------
        group : str, optional
            The group to read (``"segment000/exc"``); the catalog's ``group`` by default.
        variables : list of str, optional
            Variables to keep (default: the catalog's, else all).
        chunks : dict, optional
            dask chunks per run (default: the stores' own).

        Returns
        -------
        xarray.Dataset
            Dims of the group plus ``run``. Dimensions without labels (``unit``,
            ``spike``) are aligned by position and padded where runs differ in length:
            ragged ``spike_time`` gets NaN after each run's last spike and integer
            variables become float where padded. ``spike_count`` says how many spike
            times of a run are real. Labelled dims (``time``) are outer-joined.

        Raises
        ------
        SchemaError
            If no group is given, or a run lacks the group or a variable.
        RunNotFoundError
            If a run's store is missing (see ``opsnn-lake check``).
        """
        import numpy as np
        import xarray as xr

        group = group or self._group
        if group is None:
            raise SchemaError(
                "to_dataset: give the group to read, e.g. group='segment000/exc' "
                "(see a run's groups with cat[run_id].to_dask().groups)"
            )
        variables = self._variables if variables is None else variables
        frame = self.to_dataframe()
        if frame.empty:
            return xr.Dataset(coords={"run": np.array([], dtype=object)})
        datasets = self._open_all(frame, group, variables, chunks or self._chunks)
        return _concat_runs(datasets).assign_coords(
            {"run": frame.index.to_numpy(), **self._parameter_coords(frame)}
        )

    def to_datatree(self, group: str | None = None, *, chunks: Any = None) -> xr.DataTree:
        """Every run as one lazy DataTree: a child per run id, parameters as coordinates.

        The root holds the run table (dimension ``run``, parameters as coordinates);
        each child ``/<run id>`` holds that run's store (or only ``group``), with the
        run's parameters as scalar coordinates. Nothing is padded: ragged data stays
        as stored.
        """
        import xarray as xr

        from opsnn_lake.store import open_tree

        group = group or self._group
        frame = self.to_dataframe()
        coords = self._parameter_coords(frame)
        root = xr.Dataset(coords={"run": frame.index.to_numpy(), **coords})
        nodes: dict[str, Any] = {"/": root}
        if group is not None:
            datasets = self._open_all(frame, group, self._variables, chunks or self._chunks)
        for i, run_id in enumerate(frame.index):
            scalars = {name: values[1][i] for name, values in coords.items()}
            if group is not None:
                nodes[f"/{run_id}"] = datasets[i].assign_coords(scalars)
                continue
            store = _store_of(self._lake_dir, frame["path"].iloc[i], run_id)
            _check_holds_run(store, run_id)
            tree = open_tree(store, chunks=chunks or self._chunks)
            for path, node in tree.subtree_with_keys:
                key = f"/{run_id}" if path == "." else f"/{run_id}/{path}"
                ds = node.to_dataset(inherit=False)
                nodes[key] = ds.assign_coords(scalars) if path == "." else ds
        return xr.DataTree.from_dict(nodes)


def _concat_runs(datasets: Sequence[xr.Dataset]) -> xr.Dataset:
    """Datasets of one group of several runs, stacked along a new ``run`` dimension.

    Ragged dims have no labels and differ between runs; they are labelled by position
    so that ``concat`` pads instead of refusing, then the labels are dropped again.
    """
    import numpy as np
    import xarray as xr

    positional: set[str] = set()
    labelled = []
    for ds in datasets:
        free = {d: np.arange(n) for d, n in ds.sizes.items() if d not in ds.indexes}
        positional.update(map(str, free))  # zarr dimension names are strings
        labelled.append(ds.assign_coords(free))
    combined = xr.concat(
        labelled,
        dim="run",
        data_vars="all",
        coords="all",  # per-unit coordinates may differ between runs: keep each
        join="outer",
        combine_attrs="drop_conflicts",
    )
    return combined.drop_vars(sorted(positional))


def _object_view(lake: Any, storage_options: Mapping[str, Any] | None) -> ObjectLake | None:
    """The read-only view of an object lake named by ``lake`` (None for a local lake)."""
    from opsnn_lake.storage.objects import is_url as _is_url

    if type(lake).__name__ == "ObjectLake":
        return lake  # type: ignore[no-any-return]  # a search's parent view, shared
    if isinstance(lake, str) and _is_url(lake) and not lake.startswith("file://"):
        from opsnn_lake.object_lake import ObjectLake

        return ObjectLake(lake, mode="r", storage_options=storage_options)
    return None


# --------------------------------------------------------------------------- the YAML


def catalog_text(
    lake: str | os.PathLike[str] | ObjectLocation, catalog_dir: str | os.PathLike[str], name: str
) -> str:
    """The YAML of a catalog in ``catalog_dir`` with one entry ``name`` for ``lake``.

    A local lake is given relative to the catalog's folder through intake's
    ``{{ CATALOG_DIR }}`` (absolute, with a trailing slash), so the repository and
    its lake can move together; an object lake by its URL and storage options.
    """
    import yaml

    if isinstance(lake, ObjectLocation):
        args: dict[str, Any] = {"lake": lake.url}
        if lake.shareable_options:
            args["storage_options"] = lake.shareable_options
        rel = lake.url
    else:
        rel = os.path.relpath(Path(lake).absolute(), Path(catalog_dir).absolute())
        args = {"lake": "{{ CATALOG_DIR }}" + Path(rel).as_posix()}
    doc = {
        # No "version" key anywhere: intake reads a version above 1 as a v2 catalog.
        "metadata": {"generated_by": GENERATED_BY, "catalog_format": CATALOG_FORMAT},
        "sources": {
            name: {
                "driver": LakeCatalog.name,
                "description": (
                    f"OpSNN lake {rel}: runs by parameters (.search), lazy xarray (.to_dask)"
                ),
                "args": args,
            }
        },
    }
    header = (
        "# Written by opsnn_lake (`opsnn-lake catalog`); rewrite it with that command.\n"
        "# It lists no runs: the entry reads the lake's index, so it stays current.\n"
    )
    if isinstance(lake, ObjectLocation):
        header += (
            "# Credentials are never written here: readers set AWS_ACCESS_KEY_ID and\n"
            "# AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) in their environment.\n"
        )
    text: str = yaml.safe_dump(doc, sort_keys=False)
    return header + text


def _read_yaml(path: Path) -> Any:
    from opsnn_lake.safe_yaml import load_yaml

    try:
        # bounded: refuses alias bombs and oversized files in milliseconds
        return load_yaml(path, what="catalog")
    except SchemaError as err:
        raise SchemaError(
            f"{path}: not a readable YAML catalog ({err}). Nothing was changed; fix the "
            "file or move it away, then run `opsnn-lake catalog`"
        ) from None


def _check_ours(path: Path) -> None:
    data = _read_yaml(path)
    meta = data.get("metadata") if isinstance(data, dict) else None
    if not isinstance(meta, dict) or meta.get("generated_by") != GENERATED_BY:
        raise SchemaError(
            f"{path}: exists and was not written by opsnn_lake (no 'metadata: "
            f"generated_by: {GENERATED_BY}'); refusing to overwrite it. Write the "
            "catalog elsewhere or move this file away"
        )


def write_catalog(
    lake: str | os.PathLike[str] | ObjectLocation,
    path: str | os.PathLike[str] = "catalogs/lake.yaml",
    *,
    name: str = "lake",
) -> Path:
    """Write the intake catalog YAML of a lake (atomically; unchanged files are kept).

    Parameters
    ----------
    lake : path-like or ObjectLocation
        The lake directory. It may not exist yet (the catalog then opens once it
        does), but an existing directory must be a lake. Or an object lake's location
        (its URL and storage options go into the YAML: prefer ``AWS_*`` variables
        for credentials, which stay out of the file).
    path : path-like
        The YAML file (default ``catalogs/lake.yaml``); parent folders are created.
    name : str
        The entry name: ``intake.open_catalog(path)[name]``.

    Returns
    -------
    pathlib.Path
        The YAML file.

    Raises
    ------
    SchemaError
        If ``path`` exists but is unreadable or not written by opsnn_lake (it is left
        untouched), or ``name`` is not a usable entry name.
    NotALakeError
        If ``lake`` exists and is not a lake.
    """
    if not isinstance(name, str) or not name or "." in name or name != name.strip():
        raise SchemaError(f"catalog entry name {name!r}: expected a non-empty name without dots")
    lake_dir: Path | ObjectLocation
    if isinstance(lake, ObjectLocation) or (isinstance(lake, str) and is_url(lake)):
        lake_dir = lake if isinstance(lake, ObjectLocation) else parse_url(lake)
    else:
        lake_dir = Path(lake).absolute()
        if lake_dir.exists():
            check_lake_dir(lake_dir)
    path = Path(path).absolute()
    text = catalog_text(lake_dir, path.parent, name)
    if path.exists():
        _check_ours(path)
        if path.read_text(encoding="utf-8") == text:
            return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # readers see the old file or the new one, never half of it
    return path


def open_catalog(path: str | os.PathLike[str] = "catalogs/lake.yaml", name: str = "lake") -> Any:
    """``intake.open_catalog(path)[name]`` with errors that name the file and the problem.

    The YAML is read with a safe loader and checked before intake parses it.

    Raises
    ------
    SchemaError
        If the file is not valid YAML, or has no entry ``name`` using this driver.
    NotALakeError, IndexVersionError
        As :class:`LakeCatalog`.
    """
    import intake

    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"{path}: no such catalog; write it with `opsnn-lake catalog`")
    data = _read_yaml(path)
    sources = data.get("sources") if isinstance(data, dict) else None
    entry = sources.get(name) if isinstance(sources, dict) else None
    if not isinstance(entry, dict) or entry.get("driver") != LakeCatalog.name:
        names = sorted(sources) if isinstance(sources, dict) else []
        raise SchemaError(
            f"{path}: no entry {name!r} with driver {LakeCatalog.name!r} under 'sources' "
            f"(entries: {names}); rewrite the file with `opsnn-lake catalog`"
        )
    return intake.open_catalog(str(path))[name]
