"""A lake in a bucket: ``Lake("s3://bucket/prefix")`` gives an :class:`ObjectLake`.

Same API as a local lake; what differs is how a run is published and how runs are found
(the object layout is in :mod:`opsnn_lake.storage.layout`):

* **Publishing without rename.** A write puts the store's objects (manifest included)
  under a fresh attempt prefix ``data/<id>/<attempt>/``, then commits it with ONE
  conditional create of ``runs/<id>.json`` (S3 ``If-None-Match: *``) holding the
  attempt, the manifest's digest and the index row. Readers list ``runs/``: a run is
  visible complete or not at all. Of two writers of one run exactly one create wins;
  the other deletes its attempt and returns the same id. A writer killed before its
  commit leaves an attempt no record points to: ``check`` reports it once older than
  ``older_than`` seconds and ``check --repair`` deletes it.
* **The index is a view, not a shared file.** Each ``ObjectLake`` holds an in-memory
  SQLite index built from the compacted snapshot ``index/snapshot.sqlite`` (written by
  ``reindex``, ``sync`` and ``check --repair``) plus the commit records it lacks (one
  listing of ``runs/``, the missing records fetched concurrently). :meth:`refresh`
  follows other writers; a process's own runs enter its view as they are committed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from opsnn_lake import store as _store
from opsnn_lake.errors import (
    InvalidArgumentError,
    LakeError,
    LakeWriteError,
    NotALakeError,
    SchemaError,
)
from opsnn_lake.index import RunIndex, row_from_attrs
from opsnn_lake.lake import (
    CheckReport,
    Lake,
    _row_differences,
)
from opsnn_lake.marker import LAKE_MARKER, check_marker_content, marker_content
from opsnn_lake.provenance import Provenance
from opsnn_lake.schema import Node
from opsnn_lake.storage import objects
from opsnn_lake.storage.layout import Attempt, ObjectLayout
from opsnn_lake.storage.objects import ObjectLocation, parse_url, short

__all__ = ["DEFAULT_LEFTOVER_AGE", "ObjectLake"]

#: ``check`` leaves younger uncommitted attempts alone: their writer may still be at work.
DEFAULT_LEFTOVER_AGE = 3600.0
#: A writable view that had to fetch this many records compacts them into the snapshot.
_COMPACT_AFTER = 500


class ObjectLake(Lake):
    """A lake in a bucket (``s3://bucket/prefix``); made by :class:`~opsnn_lake.lake.Lake`.

    Parameters
    ----------
    path : str
        ``s3://bucket/prefix``.
    mode : {"a", "r+", "r"}
        As for a local lake; ``"r"`` never writes anything (read-only credentials do).
    create : bool, optional
        ``create=False`` is ``mode="r+"``.
    register : bool, optional
        Accepted for the API's sake: every ``add`` commits its own record, so nothing
        waits for a registering process.
    storage_options : dict, optional
        obstore S3 options (``endpoint``, ``access_key_id``, ``secret_access_key``,
        ``region``, ``allow_http``…); the ``AWS_*`` environment variables fill in the
        rest. Child processes (sweeps, ingest workers) get their credentials from the
        environment only.

    Raises
    ------
    InvalidArgumentError
        For a URL that is not ``s3://bucket/prefix``.
    NotALakeError
        If the bucket is missing or unreachable, the prefix holds objects but no lake
        marker, or the mode does not create and there is no lake.
    """

    def _open(self, path: str | os.PathLike[str], storage_options: Any) -> None:
        """Open (or create) the lake at ``path``, an ``s3://`` URL."""
        text = os.fspath(path) if isinstance(path, os.PathLike) else str(path)
        self.root = parse_url(text, storage_options)
        self.bucket_layout = ObjectLayout(self.root)
        # No local path: the URL stands in (messages, child processes); Path-only uses
        # fail loudly instead of creating a local folder named "s3:".
        self.path = self.root.url  # type: ignore[assignment]
        objects.check_bucket(self.root)
        self._open_marker()
        self.index = RunIndex.in_memory(
            self.root.url, objects.get(self.root, ObjectLayout.SNAPSHOT)
        )
        self.refresh()

    def _open_marker(self) -> None:
        where = f"{self.root.url}/{LAKE_MARKER}"
        content = objects.get(self.root, LAKE_MARKER)
        if content is not None:
            check_marker_content(content, where=where)
            return
        if self.mode != "a":
            raise NotALakeError(
                f"{self.root.url}: no lake here (no {LAKE_MARKER}); create one with "
                f"opsnn_lake.Lake({self.root.url!r})"
            )
        if objects.any_below(self.root):
            content = objects.get(self.root, LAKE_MARKER)  # a concurrent creator's?
            if content is None:
                raise NotALakeError(
                    f"{self.root.url}: holds objects and is not an OpSNN lake (no "
                    f"{LAKE_MARKER}); refusing to write there. Give a new or empty prefix"
                )
            check_marker_content(content, where=where)
            return
        # Concurrent creators: one create wins, the others find the same marker.
        objects.create(self.root, LAKE_MARKER, marker_content())

    # ------------------------------------------------------------------ the view

    def refresh(self) -> list[str]:
        """Follow the lake: add runs committed since, drop runs quarantined since.

        One listing of ``runs/``; the records this view lacks (or whose record changed)
        are fetched concurrently.

        Returns
        -------
        list of str
            The run ids new to this view.
        """
        stamps = self.bucket_layout.record_stamps()
        held = self.index.stamps()
        gone = [r for r in self.index.run_ids() if r not in stamps]
        if gone:
            self.index.delete(gone)
            self.index.set_stamps(dict.fromkeys(gone))
        changed = [r for r, stamp in stamps.items() if held.get(r) != stamp]
        rows = self._rows_of_records(changed)
        if rows:
            self.index.insert(rows.values(), replace=True)
            self.index.set_stamps({r: stamps[r] for r in rows})
        if len(changed) >= _COMPACT_AFTER and not self.read_only:
            self._write_snapshot()
        return sorted(r for r in rows if r not in held)

    def _rows_of_records(self, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Index rows from commit records (unreadable ones are left to ``check``)."""
        rows = {}
        for run_id, content in self.bucket_layout.read_records(run_ids).items():
            if content is None:
                continue  # quarantined since it was listed
            try:
                record = self.bucket_layout.parse_record(run_id, content)
                row = {**record["row"], "path": record["store"]}
                self.index.prepare(row)
            except SchemaError:
                continue
            rows[run_id] = row
        return rows

    def _absorb(self, run_id: str) -> bool:
        """Add one run committed by another process to the view (False: not committed)."""
        if "/" in run_id or run_id in (".", ".."):  # never a run's record key
            return False
        rows = self._rows_of_records([run_id])
        if rows:
            self.index.insert(rows.values(), replace=True)
        return bool(rows)

    def _write_snapshot(self) -> None:
        objects.put(self.root, ObjectLayout.SNAPSHOT, self.index.serialize())

    def __contains__(self, run_id: object) -> bool:
        if not isinstance(run_id, str) or not run_id:
            return False
        return run_id in self.index or self._absorb(run_id)

    @property
    def location(self) -> str:
        """The lake's URL (child processes take their credentials from ``AWS_*``)."""
        return self.root.url

    @property
    def quarantine_location(self) -> str:
        """Where ``check --repair`` puts the records of damaged runs."""
        return f"{self.root.url}/{ObjectLayout.QUARANTINE}"

    def discard_unfinished(self, run_id: str, pid: int) -> list[str]:
        """Nothing to do at once: a dead writer's attempt is uncommitted, so never read.

        Attempts carry no process id (any machine may write); ``check --repair``
        removes them once they are older than its ``older_than``.
        """
        return []

    def _display_summary(self) -> Any:
        from opsnn_lake.display import summarize_runs, units_of_runs

        frame = self.search()
        units = units_of_runs(self.root, frame)
        return summarize_runs(frame, title="Lake", location=self.root.url, units=units)

    # ------------------------------------------------------------------ writing

    def has_run(self, run_id: str) -> bool:
        """True if ``run_id`` is committed (its record exists)."""
        return run_id in self

    def store_path(self, run_id: str) -> ObjectLocation:  # type: ignore[override]
        """The location of the committed store of ``run_id`` (one that holds nothing if
        the run is not committed)."""
        row = self.index.get(run_id)
        if row is None and self._absorb(run_id):
            row = self.index.get(run_id)
        if row is None:
            return self.bucket_layout.absent(run_id)
        return self.bucket_layout.store(run_id, str(row["path"]))

    def _add(
        self, run_id: str, nodes: Mapping[str, Node], provenance: Provenance, start: float
    ) -> str:
        """Write one run under a fresh attempt prefix, then commit it (one create)."""
        if run_id in self:
            return run_id  # committed already: same content-derived id, nothing to do
        attempt = self.bucket_layout.new_attempt(run_id)
        attrs = self._root_attrs(run_id, provenance, nodes, start)
        try:
            written = _store.write_store_info(attempt, nodes, attrs)
            row = row_from_attrs(written.attrs, path=self._key(attempt), nbytes=written.nbytes)
            record = self.bucket_layout.record(run_id, attempt, row, written.manifest_sha256)
        except BaseException as err:
            self._discard(attempt)
            if isinstance(err, LakeError) or not isinstance(err, Exception):
                raise
            raise LakeWriteError(
                f"run {run_id!r}: writing {attempt} failed: {short(err)}; nothing was "
                "committed. Check the bucket's endpoint, credentials and space, then add "
                "the run again"
            ) from err
        stamp = self._commit(run_id, attempt, record)
        if stamp is None:  # another writer committed this run first: keep theirs
            self._discard(attempt)
            self._absorb(run_id)
            return run_id
        self.index.insert([row], replace=True)
        self.index.set_stamps({run_id: stamp})
        return run_id

    def _commit(self, run_id: str, attempt: ObjectLocation, record: bytes) -> str | None:
        """Create the commit record; its stamp if it names ``attempt``, None if another's.

        A create whose reply was lost may have landed (and a retried one is then refused
        as if another writer had won), so the record is read back before anything is
        deleted: the attempt a record names is never discarded.
        """
        try:
            stamp = self.bucket_layout.commit(run_id, record)
        except BaseException as err:
            with contextlib.suppress(Exception):
                stamp = self.bucket_layout.own_record(run_id, self._key(attempt))
                if stamp is not None and isinstance(err, Exception):
                    return stamp
            if not isinstance(err, Exception):
                raise
            raise LakeWriteError(
                f"run {run_id!r}: committing {attempt} failed: {short(err)}; it may or may "
                "not have been committed. Its objects are kept: add the run again (a "
                "committed run is then found), and `opsnn-lake check --repair` removes "
                "them if they were not committed"
            ) from err
        if stamp is None:
            return self.bucket_layout.own_record(run_id, self._key(attempt))
        return stamp

    def _key(self, location: ObjectLocation) -> str:
        return location.key[len(self.root.key) :].strip("/")

    def _discard(self, attempt: ObjectLocation) -> None:
        """Delete an attempt that will not be committed (a failure leaves it to check)."""
        # The network may be what failed: check --repair cleans up then.
        with contextlib.suppress(Exception):
            self.bucket_layout.delete_attempt(self._key(attempt))

    # ------------------------------------------------------------------ reading

    def _existing(self, run_id: str) -> ObjectLocation:  # type: ignore[override]
        if run_id not in self:
            run_id = self.resolve_run_id(run_id)
        return self.store_path(run_id)

    def search(self, **criteria: Any) -> pd.DataFrame:
        """Runs matching all criteria (see :meth:`Lake.search`), from this view.

        Call :meth:`refresh` first to see runs other processes committed since.
        """
        if "study" in criteria:
            raise InvalidArgumentError(
                f"{self.root.url}: explore studies are kept in local lakes only; search "
                "this lake by parameters"
            )
        return super().search(**criteria)

    def write_catalog(
        self, path: str | os.PathLike[str] = "catalogs/lake.yaml", *, name: str = "lake"
    ) -> Path:
        """Write the intake catalog YAML of this lake (its URL and storage options)."""
        from opsnn_lake.catalog import write_catalog

        return write_catalog(self.root, path, name=name)

    # ------------------------------------------------------------------ upkeep

    def count_stores(self) -> int:
        """Number of committed runs (one listing of the commit records)."""
        return len(self.bucket_layout.record_stamps())

    def reindex(self, *, progress: bool = False) -> int:
        """Rebuild the view from the stores of the committed runs; write the snapshot.

        Returns
        -------
        int
            Number of runs indexed (unreadable stores are skipped; see :meth:`check`).
        """
        self._require_writable("reindex")
        stamps = self.bucket_layout.record_stamps()
        contents = self.bucket_layout.read_records(stamps)
        records = {}
        for run_id, content in contents.items():
            try:
                records[run_id] = self.bucket_layout.parse_record(run_id, content)
            except SchemaError:
                continue
        index = RunIndex.in_memory(self.root.url)
        rows = self._rows_from_stores(records, index, progress)
        index.insert(rows.values())
        index.set_stamps({r: stamps[r] for r in rows})
        self.index = index
        self._write_snapshot()
        return len(rows)

    def _rows_from_stores(
        self, records: Mapping[str, Mapping[str, Any]], index: RunIndex, progress: bool
    ) -> dict[str, dict[str, Any]]:
        """Index rows read from the stores themselves (concurrently)."""

        def one(run_id: str) -> dict[str, Any] | None:
            record = records[run_id]
            try:
                attrs = _store.read_root_attrs(self.bucket_layout.store(run_id, record["store"]))
                nbytes = int(record["row"].get("bytes") or 0)
                row = row_from_attrs(attrs, path=record["store"], nbytes=nbytes)
                if row["run_id"] != run_id:
                    return None
                index.prepare(row)
            except (SchemaError, OSError):
                return None
            return row

        ids = sorted(records)
        with ThreadPoolExecutor(max_workers=16) as pool:
            found: Iterable[dict[str, Any] | None] = pool.map(one, ids)
            if progress:
                from tqdm.auto import tqdm

                found = tqdm(found, total=len(ids), desc="reindex", unit="run")
            return {r: row for r, row in zip(ids, found, strict=True) if row is not None}

    def sync(self) -> list[str]:
        """Follow the lake (:meth:`refresh`) and compact the view into the snapshot.

        Returns
        -------
        list of str
            The run ids new to this view.
        """
        self._require_writable("sync")
        new = self.refresh()
        self._write_snapshot()
        return new

    def _check(
        self, report: CheckReport, *, repair: bool, deep: bool, progress: bool, older_than: Any
    ) -> None:
        """:meth:`Lake.check` of a lake in a bucket, into ``report``.

        Committed runs are verified like stores of a lake directory; uncommitted
        attempts older than ``older_than`` seconds (default :data:`DEFAULT_LEFTOVER_AGE`,
        so a live writer's attempt is spared) are ``staging_leftovers`` (URLs); runs
        whose record names no objects are ``rows_without_store``. ``repair`` deletes the
        left-overs, moves the records of damaged and store-less runs to
        ``quarantine/`` (their data is kept), rewrites records whose row differs from
        the store and writes a fresh snapshot.
        """
        age = DEFAULT_LEFTOVER_AGE if older_than is None else float(older_than)
        self.refresh()
        # Attempts before records: a writer committing in between is then seen committed.
        attempts = self.bucket_layout.attempts()
        contents = self.bucket_layout.read_records(self.bucket_layout.record_stamps())
        records = self._parsed_records(report, contents)
        fixed = self._check_records(report, records, attempts, deep, progress)
        kept = {str(r["store"]) for r in records.values()}
        kept |= self.bucket_layout.quarantined_stores()
        # A record this version cannot read (a newer format, damage) may still name one
        # of its run's attempts: those are never left-overs.
        unread = {r for r, content in contents.items() if content is not None} - set(records)
        leftovers = [
            a
            for k, a in sorted(attempts.items())
            if k not in kept and a.run_id not in unread and a.age() >= age
        ]
        report.staging_leftovers = [f"{self.root.url}/{a.key}" for a in leftovers]
        if repair:
            self._repair(report, contents, records, fixed, leftovers)

    def _parsed_records(
        self, report: CheckReport, contents: Mapping[str, bytes | None]
    ) -> dict[str, dict[str, Any]]:
        records = {}
        for run_id, content in contents.items():
            if content is None:
                continue  # quarantined since it was listed
            try:
                records[run_id] = self.bucket_layout.parse_record(run_id, content)
            except SchemaError as err:
                report.bad_stores[f"{self.root.url}/{ObjectLayout.record_key(run_id)}"] = str(err)
        return records

    def _check_records(
        self,
        report: CheckReport,
        records: Mapping[str, Mapping[str, Any]],
        attempts: Mapping[str, Attempt],
        deep: bool,
        progress: bool,
    ) -> dict[str, dict[str, Any]]:
        """Verify the store of every record into ``report``; return rows to rewrite."""
        indexed = {row["run_id"]: row for row in self.index.rows()}
        runs: Iterable[str] = sorted(records)
        if progress:
            from tqdm.auto import tqdm

            runs = tqdm(list(runs), desc="check --deep" if deep else "check", unit="run")
        fixed = {}
        for run_id in runs:
            key = str(records[run_id]["store"])
            # Committed after ``attempts`` was listed, its objects are there all the same.
            if key not in attempts and not objects.any_below(self.root.child(key)):
                report.rows_without_store.append(run_id)
                continue
            location = self.bucket_layout.store(run_id, key)
            try:
                problems = _store.check_store(location, deep=deep)
                if problems:
                    extra = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                    report.damaged[run_id] = problems[0] + extra
                    continue
                attrs = _store.read_root_attrs(location)
                nbytes = attempts[key].nbytes if key in attempts else _store.store_bytes(location)
                row = row_from_attrs(attrs, path=key, nbytes=nbytes)
                if row["run_id"] != run_id:
                    raise SchemaError(f"{location}: holds run {row['run_id']!r}, not {run_id!r}")
                self.index.prepare(row)
            except SchemaError as err:
                report.bad_stores[str(location)] = str(err)
                continue
            # The record's row is what every fresh view starts from; this view's row may
            # come from a snapshot that was rebuilt from the stores.
            differs = _record_row_differences(records[run_id], row) or _row_differences(
                indexed.get(run_id) or {}, row
            )
            if differs:
                report.bad_rows[run_id] = differs
                fixed[run_id] = row
        return fixed

    def _repair(
        self,
        report: CheckReport,
        contents: Mapping[str, bytes | None],
        records: Mapping[str, Mapping[str, Any]],
        fixed: Mapping[str, Mapping[str, Any]],
        leftovers: Iterable[Attempt],
    ) -> None:
        for attempt in leftovers:
            # Read back: a writer may have committed it since the records were listed.
            if self.bucket_layout.own_record(attempt.run_id, attempt.key) is None:
                self.bucket_layout.delete_attempt(attempt.key, attempt.keys)
        for run_id in [*report.damaged, *report.rows_without_store]:
            content = contents[run_id]
            if content is not None:
                report.quarantined[run_id] = self.bucket_layout.quarantine(run_id, content)
        for run_id, row in fixed.items():
            record = records[run_id]
            where = self.bucket_layout.store(run_id, str(record["store"]))
            digest = str(record.get("manifest_sha256") or "")
            self.bucket_layout.rewrite(
                run_id, self.bucket_layout.record(run_id, where, row, digest)
            )
        self.refresh()
        self._write_snapshot()
        report.repaired = True


def _record_row_differences(record: Mapping[str, Any], derived: Mapping[str, Any]) -> str:
    """How a commit record's row differs from the row its store gives ("" if it does not).

    Both are rows as :func:`~opsnn_lake.index.row_from_attrs` makes them (parameters
    not yet encoded for the index); sizes are left out (the record has the writer's).
    """
    recorded = {**(record.get("row") or {}), "path": record.get("store")}
    keys = (set(recorded) | set(derived)) - {"bytes"}
    diffs = [
        f"{key}: commit record has {recorded.get(key)!r}, store says {derived.get(key)!r}"
        for key in sorted(keys)
        if recorded.get(key) != derived.get(key)
    ]
    return "; ".join(diffs)
