"""A lake: a directory of run stores plus the index that finds them.

Layout::

    <lake>/lake.json          marker: format name and version (refuses foreign dirs)
    <lake>/runs/<id>.zarr     published stores (the source of truth)
    <lake>/staging/           stores being written (<id>.<pid>.<random>), never read
    <lake>/index.sqlite       one row per run (derived; rebuilt by :meth:`Lake.reindex`)

Adding a run writes its store into ``staging/``, publishes it with one ``rename`` into
``runs/`` and only then inserts its index row; readers search the index, so they see a
run complete or not at all. A crash between publish and insert leaves a store without a
row, which :meth:`Lake.check` reports and ``repair`` mends from the store itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import neo
import pandas as pd

from opsnn_lake import store as _store
from opsnn_lake.errors import NotALakeError, RunNotFoundError, SchemaError
from opsnn_lake.index import RunIndex, row_from_attrs
from opsnn_lake.neo_convert import block_to_nodes, nodes_to_block
from opsnn_lake.provenance import Provenance
from opsnn_lake.schema import SCHEMA_NAME, SCHEMA_VERSION, SPIKE_COUNT, SPIKE_TIME, Node

__all__ = ["CheckReport", "Lake", "check_lake_dir", "content_sha256", "summarize"]

LAKE_FORMAT = "opsnn-lake"
LAKE_VERSION = 1
LAKE_MARKER = "lake.json"


def content_sha256(nodes: Mapping[str, Node]) -> str:
    """Checksum of a store's content: every group's attributes and arrays."""
    digest = hashlib.sha256()
    for path in sorted(nodes):
        node = nodes[path]
        digest.update(json.dumps([path, node.attrs], sort_keys=True, default=str).encode())
        for name in sorted(node.variables):
            var = node.variables[name]
            header = [name, var.dims, var.data.dtype.str, var.data.shape, var.attrs]
            digest.update(json.dumps(header, sort_keys=True, default=str).encode())
            digest.update(var.data.tobytes())
    return digest.hexdigest()


def summarize(nodes: Mapping[str, Node]) -> dict[str, Any]:
    """Index summary of a store: units, spikes and duration (ms) across segments."""
    n_spikes = 0
    units_by_segment: dict[str, int] = {}
    duration = 0.0
    for path, node in nodes.items():
        if path.count("/") != 1:
            continue
        segment = path.split("/")[0]
        if SPIKE_COUNT in node.variables:
            units_by_segment[segment] = units_by_segment.get(segment, 0) + int(
                node.variables[SPIKE_COUNT].data.size
            )
            n_spikes += int(node.variables[SPIKE_TIME].data.size)
        meta = node.attrs.get("spiketrains") or {}
        if "t_start" in meta and "t_stop" in meta:
            duration = max(duration, meta["t_stop"] - meta["t_start"])
    return {
        "n_units": max(units_by_segment.values(), default=0),
        "n_spikes": n_spikes,
        "duration": duration,
    }


@dataclass
class CheckReport:
    """What :meth:`Lake.check` found: each list names run ids or paths."""

    stores_without_row: list[str] = field(default_factory=list)
    rows_without_store: list[str] = field(default_factory=list)
    staging_leftovers: list[str] = field(default_factory=list)
    bad_stores: dict[str, str] = field(default_factory=dict)
    repaired: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing is out of place."""
        return not (
            self.stores_without_row
            or self.rows_without_store
            or self.staging_leftovers
            or self.bad_stores
        )

    def lines(self) -> list[str]:
        """Human-readable report lines."""
        out = [f"store without index row: {r}" for r in self.stores_without_row]
        out += [f"index row without store: {r}" for r in self.rows_without_store]
        out += [f"staging left-over: {p}" for p in self.staging_leftovers]
        out += [f"unreadable store {p}: {why}" for p, why in self.bad_stores.items()]
        return out


def _check_marker(marker: Path) -> None:
    try:
        meta = json.loads(marker.read_text())
    except (OSError, ValueError) as err:
        raise NotALakeError(f"{marker}: unreadable lake marker: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != LAKE_FORMAT:
        raise NotALakeError(f"{marker}: not an OpSNN lake marker (format {LAKE_FORMAT!r} expected)")
    if not isinstance(meta.get("version"), int) or meta["version"] > LAKE_VERSION:
        raise NotALakeError(
            f"{marker}: lake version {meta.get('version')!r} is newer than this "
            f"opsnn_lake supports ({LAKE_VERSION}); upgrade opsnn_lake"
        )


def check_lake_dir(path: str | os.PathLike[str]) -> Path:
    """The absolute path of an existing lake, checked without writing anything.

    Raises
    ------
    NotALakeError
        If ``path`` does not exist or is not an OpSNN lake (no valid ``lake.json``).
    """
    lake_path = Path(path).absolute()
    marker = lake_path / LAKE_MARKER
    if not marker.is_file():
        what = "does not exist" if not lake_path.exists() else "is not an OpSNN lake (no lake.json)"
        raise NotALakeError(
            f"{lake_path}: {what}; create a lake with opsnn_lake.Lake(path) or `opsnn-lake demo`"
        )
    _check_marker(marker)
    return lake_path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lake:
    """Open or create a lake directory.

    Parameters
    ----------
    path : path-like
        The lake directory (default ``./lake``). Created if missing; an existing
        directory must be an OpSNN lake or empty.
    create : bool
        If False, a missing lake is an error instead of being created.

    Raises
    ------
    NotALakeError
        If ``path`` exists, is not empty and is not a lake (nothing is written there),
        or does not exist and ``create`` is False.

    Examples
    --------
    >>> lake = Lake(tmp_path / "lake")                      # doctest: +SKIP
    >>> run_id = lake.add(block, model="va", parameters={"g_inh": 51.0}, seed=1)  # doctest: +SKIP
    >>> lake.search(g_inh=(40, 60))                          # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str] = "lake", *, create: bool = True) -> None:
        self.path = Path(path).absolute()
        marker = self.path / LAKE_MARKER
        if marker.is_file():
            _check_marker(marker)
        elif self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise NotALakeError(
                f"{self.path}: exists and is not an OpSNN lake (no lake.json); refusing to "
                "write into it. Give a new or empty directory, or the path of an existing lake."
            )
        elif not create:
            raise NotALakeError(
                f"{self.path}: no lake here; create one with opsnn_lake.Lake(path) "
                "or `opsnn-lake demo`"
            )
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            tmp = self.path / f".lake.json.{os.getpid()}.{uuid.uuid4().hex}"
            tmp.write_text(json.dumps({"format": LAKE_FORMAT, "version": LAKE_VERSION}))
            os.replace(tmp, marker)  # concurrent creators write the same content
        self.runs_dir = self.path / "runs"
        self.staging_dir = self.path / "staging"
        self.runs_dir.mkdir(exist_ok=True)
        self.staging_dir.mkdir(exist_ok=True)
        self.index = RunIndex(self.path / "index.sqlite")

    def __repr__(self) -> str:
        return f"Lake({str(self.path)!r}, runs={len(self.index)})"

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self.index

    # ------------------------------------------------------------------ writing

    def store_path(self, run_id: str) -> Path:
        """Where the store of ``run_id`` lives (whether or not it exists)."""
        return self.runs_dir / f"{run_id}.zarr"

    def add(self, block: neo.Block, **provenance: Any) -> str:
        """Store a neo Block as a run and register it.

        Parameters
        ----------
        block : neo.Block
            The data (see :func:`opsnn_lake.neo_convert.block_to_nodes` for what it may hold).
        **provenance
            Fields of :class:`~opsnn_lake.provenance.Provenance`: ``model``,
            ``parameters``, ``seed``, ``simulator``, ``inputs``, ``sources``, ``timings``…

        Returns
        -------
        str
            The content-derived run id. Adding the same run again returns the same id
            and changes nothing.

        Raises
        ------
        SchemaError
            For a Block or provenance the store cannot keep (nothing is written).
        """
        if not isinstance(block, neo.Block):
            raise SchemaError(f"lake.add: expected a neo.Block, got {type(block).__name__}")
        where = provenance.pop("where", None) or f"Block {block.name!r}"
        unknown = set(provenance) - set(Provenance.field_names())
        if unknown:
            raise SchemaError(
                f"lake.add: unknown provenance keys {sorted(unknown)}; "
                f"valid: {', '.join(Provenance.field_names())}"
            )
        start = time.perf_counter()
        nodes = block_to_nodes(block, where=where)
        return self.add_nodes(nodes, Provenance(**provenance), started=start)

    def add_nodes(
        self, nodes: Mapping[str, Node], provenance: Provenance, *, started: float | None = None
    ) -> str:
        """Store and register already laid-out nodes (the fast path of a simulator)."""
        start = time.perf_counter() if started is None else started
        if provenance.model is None and not provenance.sources:
            provenance = replace(provenance, content_sha256=content_sha256(nodes))
        run_id = provenance.run_id()
        final = self.store_path(run_id)
        if final.exists():
            # Published stores are complete (only a rename puts them there); one left
            # without a row by a crash is registered now instead of being written again.
            if run_id not in self.index:
                self.index.insert([self._row(final)])
            return run_id
        summary = summarize(nodes)

        def root_attrs() -> dict[str, Any]:
            # Called once the arrays are encoded, so the write time can be recorded.
            timings = {**provenance.timings, "write": round(time.perf_counter() - start, 6)}
            prov = replace(provenance, timings=timings)
            return {
                "schema": SCHEMA_NAME,
                "schema_version": SCHEMA_VERSION,
                "run_id": run_id,
                "kind": prov.kind,
                "provenance": prov.to_dict(),
                "summary": summary,
            }

        staged = self.staging_dir / f"{run_id}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        try:
            attrs = _store.write_store(staged, nodes, root_attrs)
            _store.publish(staged, final)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        # The row comes from the attributes just written (what reindex reads back from
        # disk), which spares re-opening the store on the hot path of every run.
        row = row_from_attrs(
            attrs, path=str(final.relative_to(self.path)), nbytes=_store.store_bytes(final)
        )
        self.index.insert([row])
        return run_id

    def _row(self, store: Path) -> dict[str, Any]:
        attrs = _store.read_root_attrs(store)
        return row_from_attrs(
            attrs, path=str(store.relative_to(self.path)), nbytes=_store.store_bytes(store)
        )

    # ------------------------------------------------------------------ reading

    def _existing(self, run_id: str) -> Path:
        path = self.store_path(run_id)
        if not path.exists():
            hint = "" if run_id in self.index else " (not in the index either)"
            raise RunNotFoundError(f"{self.path}: no run {run_id!r}{hint}; see lake.search()")
        return path

    def search(self, **criteria: Any) -> pd.DataFrame:
        """Runs matching all criteria, one row each, indexed by run id.

        Parameters
        ----------
        **criteria
            Column or parameter name → value (equality), ``(low, high)`` (inclusive
            range, ``None`` for an open side), list (any of), ``None`` (missing).
            Nested parameters as ``stim__rate`` or ``**{"stim.rate": 5}``;
            ``input=<run id>`` finds the runs that saw an input.

        Returns
        -------
        pandas.DataFrame
            Columns: id fields, sizes, path, and one column per parameter.

        Examples
        --------
        >>> lake.search(model="va", g_inh=(40, 60), seed=[1, 2])  # doctest: +SKIP
        """
        return self.index.search(criteria)

    def open(self, run_id: str, *, chunks: Any = None) -> Any:
        """The run's store as a lazy :class:`xarray.DataTree` (dask arrays)."""
        return _store.open_tree(self._existing(run_id), chunks=chunks)

    def to_neo(self, run_id: str) -> neo.Block:
        """The run as a neo Block equal to the one added (spike trains built lazily)."""
        path = self._existing(run_id)
        return nodes_to_block(_store.read_nodes(path), where=str(path))

    def to_nwb(self, run_id: str, path: str | os.PathLike[str]) -> Path:
        """Write a run as an NWB file (Units table, TimeSeries; see :mod:`opsnn_lake.nwb`).

        Parameters
        ----------
        run_id : str
            The run.
        path : path-like
            The ``.nwb`` file to write (replaced if it exists).

        Returns
        -------
        Path
            The file written.

        Raises
        ------
        RunNotFoundError
            If the lake has no such run.
        """
        from opsnn_lake.nwb import write_nwb

        store = self._existing(run_id)
        nodes = _store.read_nodes(store)
        attrs = nodes[""].attrs
        return write_nwb(nodes, path, run_id=run_id, provenance=attrs["provenance"])

    def provenance(self, run_id: str) -> Provenance:
        """The provenance record of a run."""
        return Provenance.from_dict(_store.read_root_attrs(self._existing(run_id))["provenance"])

    def write_catalog(
        self, path: str | os.PathLike[str] = "catalogs/lake.yaml", *, name: str = "lake"
    ) -> Path:
        """Write the intake catalog YAML that opens this lake.

        The YAML holds one entry, ``name``, pointing at this lake by a path relative to
        the YAML's directory; it lists no runs (the entry reads the live index), so it
        never needs rewriting when runs are added. See :mod:`opsnn_lake.catalog`.

        Parameters
        ----------
        path : path-like
            Where to write (default ``catalogs/lake.yaml``); parent folders are created.
        name : str
            The entry name (``intake.open_catalog(path)[name]``).

        Returns
        -------
        pathlib.Path
            The file written.

        Raises
        ------
        SchemaError
            If ``path`` exists and is not a catalog written by opsnn_lake (unreadable
            YAML, or someone else's catalog): it is left untouched.
        """
        from opsnn_lake.catalog import write_catalog

        return write_catalog(self.path, path, name=name)

    # ------------------------------------------------------------------ upkeep

    def _stores(self) -> list[Path]:
        return sorted(p for p in self.runs_dir.iterdir() if p.name.endswith(".zarr"))

    def _checked_row(self, store: Path) -> dict[str, Any]:
        row = self._row(store)
        if row["run_id"] != store.name[: -len(".zarr")]:
            raise SchemaError(
                f"{store}: holds run {row['run_id']!r} under another name; move it to "
                f"{self.store_path(row['run_id']).name} or out of the lake"
            )
        return row

    def check(self, *, repair: bool = False) -> CheckReport:
        """Compare stores, index and staging area; optionally mend what is out of place.

        Finds stores without an index row (a writer killed between publishing and
        registering), rows without a store, staging directories of writers that are no
        longer running (a writer killed while writing) and unreadable stores.

        Parameters
        ----------
        repair : bool
            Register stores that have no row (from the store itself), remove rows whose
            store is gone and delete staging left-overs. Unreadable stores are reported,
            never deleted.

        Returns
        -------
        CheckReport
            What was found (and whether it was repaired).

        Notes
        -----
        Safe while other processes write: the index is read before the stores are
        listed, and a store is published before its row is inserted, so a live writer
        can at worst show up as a store without a row for a moment (registering it is
        harmless); staging directories of live local processes are skipped.
        """
        report = CheckReport()
        indexed = set(self.index.run_ids())  # before listing the stores: see Notes
        on_disk = {p.name[: -len(".zarr")]: p for p in self._stores()}
        new_rows = []
        for run_id in sorted(set(on_disk) - indexed):
            try:
                new_rows.append(self._checked_row(on_disk[run_id]))
                report.stores_without_row.append(run_id)
            except SchemaError as err:
                report.bad_stores[str(on_disk[run_id])] = str(err)
        report.rows_without_store = sorted(indexed - set(on_disk))
        for staged in sorted(self.staging_dir.iterdir()):
            # <run id>.<pid>.<random>; run ids may contain dots, so split from the right
            parts = staged.name.rsplit(".", 2)
            pid = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None
            if pid is None or pid == os.getpid() or not _pid_alive(pid):
                report.staging_leftovers.append(str(staged))
        if repair:
            self.index.insert(new_rows)
            self.index.delete(report.rows_without_store)
            for staged_path in report.staging_leftovers:
                if Path(staged_path).is_dir():
                    shutil.rmtree(staged_path, ignore_errors=True)
                else:
                    Path(staged_path).unlink(missing_ok=True)
            report.repaired = True
        return report

    def reindex(self, *, progress: bool = False) -> int:
        """Rebuild the index from the stores alone, in one transaction.

        The table is recreated, so parameters no store has any more disappear too.
        Readers see the old index or the new one; a store published by a concurrent
        writer while the stores are being read is picked up under the write lock.

        Parameters
        ----------
        progress : bool
            Show a progress bar while reading the stores.

        Returns
        -------
        int
            Number of runs indexed. Unreadable stores are skipped (see :meth:`check`).
        """
        stores: Iterable[Path] = self._stores()
        if progress:
            from tqdm import tqdm

            stores = tqdm(list(stores), desc="reindex", unit="run")
        rows: dict[str, dict[str, Any] | None] = {}
        for path in stores:
            rows[path.name] = self._row_or_none(path)

        def current_rows() -> list[dict[str, Any]]:
            # Called under the write lock: list again, so nothing published meanwhile
            # is dropped, and read only the stores that appeared since.
            out = []
            for path in self._stores():
                row = rows[path.name] if path.name in rows else self._row_or_none(path)
                if row is not None:
                    out.append(row)
            return out

        return self.index.replace_all(current_rows)

    def _row_or_none(self, path: Path) -> dict[str, Any] | None:
        try:
            return self._checked_row(path)
        except SchemaError:
            return None
