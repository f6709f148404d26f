"""Where a lake keeps what: the one place that names its folders and objects.

On a file system (:class:`LocalLayout`)::

    <lake>/lake.json          marker: format name and version (refuses foreign dirs)
    <lake>/runs/<id>.zarr     published stores (the source of truth)
    <lake>/staging/           stores being written (<id>.<pid>.<random>), never read
    <lake>/index.sqlite       one row per run (derived; rebuilt by ``reindex``)
    <lake>/quarantine/        damaged stores moved aside by ``check --repair`` (never read)

In a bucket (:class:`ObjectLayout`), where there is no rename::

    <prefix>/lake.json                    marker
    <prefix>/data/<id>/<attempt>/…        one write attempt's store objects (manifest too)
    <prefix>/runs/<id>.json               commit record: the run is published
    <prefix>/index/snapshot.sqlite        compacted index view (derived; ``reindex``)
    <prefix>/quarantine/<id>.<stamp>.json records of damaged runs (their data is kept)

A writer puts its store under a fresh attempt prefix, then commits it with ONE
conditional create of ``runs/<id>.json`` naming that attempt; readers list ``runs/``, so
they never see an attempt that is not committed, and of two writers of one run exactly
one create wins (docs/decisions.md, "Lakes on object storage").
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opsnn_lake.errors import SchemaError
from opsnn_lake.storage import objects
from opsnn_lake.storage.objects import ObjectInfo, ObjectLocation

__all__ = [
    "COMMIT_FORMAT",
    "Attempt",
    "LocalLayout",
    "ObjectLayout",
    "committed_manifest",
    "peek_node_document",
]

MARKER = "lake.json"
COMMIT_FORMAT = "opsnn-lake-commit"
COMMIT_VERSION = 1


class LocalLayout:
    """The folders and files of a lake directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.marker = path / MARKER
        self.runs_dir = path / "runs"
        self.staging_dir = path / "staging"
        self.quarantine_dir = path / "quarantine"
        self.index_path = path / "index.sqlite"

    def store(self, run_id: str) -> Path:
        """Where the published store of ``run_id`` lives."""
        return self.runs_dir / f"{run_id}.zarr"

    @staticmethod
    def lake_of(store: Path) -> Path:
        """The lake folder of a published store (``<lake>/runs/<id>.zarr``)."""
        return store.parent.parent

    def run_of(self, store: Path) -> str:
        """The run id a published store's name gives."""
        return store.name[: -len(".zarr")]

    def relative(self, store: Path) -> str:
        """A store's path as index rows hold it (relative to the lake)."""
        return str(store.relative_to(self.path))

    def holds(self, run_id: str, rel: str) -> bool:
        """True if ``rel`` (an index row's path) is where the store of ``run_id`` goes."""
        return Path(rel) == Path("runs", f"{run_id}.zarr")

    def staged(self, run_id: str) -> Path:
        """A fresh staging folder for one write of ``run_id`` (``<id>.<pid>.<random>``)."""
        return self.staging_dir / f"{run_id}.{os.getpid()}.{uuid.uuid4().hex[:8]}"

    def unpublished(self, run_id: str) -> Path:
        """Where a store taken back after a failed registration goes before deletion."""
        return self.staging_dir / f"{run_id}.{os.getpid()}.unpublished"

    @staticmethod
    def staging_owner(entry: Path) -> int | None:
        """The process id in a staging entry's name (None if it has none)."""
        # <run id>.<pid>.<random>; run ids may contain dots, so split from the right
        parts = entry.name.rsplit(".", 2)
        return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None

    def stores(self) -> list[Path]:
        """Published stores (symbolic links are neither followed nor counted)."""
        if not self.runs_dir.is_dir():
            return []
        return sorted(
            p for p in self.runs_dir.iterdir() if p.name.endswith(".zarr") and not p.is_symlink()
        )

    def count_stores(self) -> int:
        """Number of published stores, without sorting or stat-ing each."""
        if not self.runs_dir.is_dir():
            return 0
        with os.scandir(self.runs_dir) as entries:
            return sum(1 for e in entries if e.name.endswith(".zarr") and not e.is_symlink())

    def staging_entries(self) -> list[Path]:
        """Everything in the staging folder."""
        return sorted(self.staging_dir.iterdir()) if self.staging_dir.is_dir() else []

    def quarantine(self, store: Path) -> Path:
        """Move a damaged store out of ``runs/`` (one rename; never deleted)."""
        self.quarantine_dir.mkdir(exist_ok=True)
        target = self.quarantine_dir / store.name
        if target.exists():  # damaged twice (re-created, damaged again): keep both
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            target = self.quarantine_dir / f"{store.name}.{stamp}.{uuid.uuid4().hex[:6]}"
        os.rename(store, target)
        return target


@dataclass(frozen=True)
class Attempt:
    """The objects of one write attempt (``data/<id>/<attempt>``)."""

    key: str
    run_id: str
    keys: tuple[str, ...]
    nbytes: int
    newest: datetime

    def age(self) -> float:
        """Seconds since its last object was written."""
        return (datetime.now(UTC) - self.newest).total_seconds()


_ATTEMPT = re.compile(r"^data/(?P<run>[^/]+)/(?P<attempt>[0-9a-f]{32})$")
# The same, as the whole key of a store location: "<lake prefix>/data/<id>/<attempt>".
_ATTEMPT_AT = re.compile(r"^(?:(?P<lake>.*)/)?(?P<attempt>data/(?P<run>[^/]+)/[0-9a-f]{32})$")


def committed_manifest(store: ObjectLocation) -> tuple[bytes | None, str | None]:
    """A store's manifest bytes and the SHA-256 its commit record names for them.

    Both are read at once (one round trip). The digest is None where no record names
    this store: not a write attempt of a lake, not (or no longer) committed, or a record
    this version cannot read; the lake, not the store, decides what is visible.
    """
    from opsnn_lake.storage.verify import MANIFEST

    match = _ATTEMPT_AT.match(store.key)
    if match is None:
        return objects.get(store, MANIFEST), None
    lake = ObjectLocation(store.bucket, match["lake"] or "", store.options)
    manifest_key = f"{match['attempt']}/{MANIFEST}"
    got = objects.get_many(lake, [manifest_key, ObjectLayout.record_key(match["run"])])
    try:
        record = json.loads(got[ObjectLayout.record_key(match["run"])] or b"")
        named = record.get("store") == match["attempt"] and record.get("run_id") == match["run"]
        digest = record.get("manifest_sha256") if named else None
    except (ValueError, AttributeError):
        digest = None
    return got[manifest_key], digest if isinstance(digest, str) and digest else None


def peek_node_document(node: Path | ObjectLocation) -> Any:
    """A store node's ``zarr.json`` as JSON, unverified; None if it cannot be read.

    For summaries and reprs only (they must never raise, nor import zarr); reads that
    matter go through :func:`opsnn_lake.store.read_metadata`, which verifies.
    """
    try:
        if isinstance(node, ObjectLocation):
            return json.loads(objects.get(node, "zarr.json") or b"")
        return json.loads((node / "zarr.json").read_text(encoding="utf-8"))
    except Exception:  # OSError, bad JSON, or any error of an object store's client
        return None


class ObjectLayout:
    """The objects of a lake in a bucket (see the module docstring)."""

    SNAPSHOT = "index/snapshot.sqlite"
    QUARANTINE = "quarantine"

    def __init__(self, root: ObjectLocation) -> None:
        self.root = root

    @staticmethod
    def record_key(run_id: str) -> str:
        """The key of a run's commit record."""
        return f"runs/{run_id}.json"

    def new_attempt(self, run_id: str) -> ObjectLocation:
        """A fresh prefix for one write attempt of ``run_id``."""
        return self.root.child(f"data/{run_id}/{uuid.uuid4().hex}", run_id=run_id)

    def store(self, run_id: str, key: str) -> ObjectLocation:
        """The location of a committed store (``key`` from its commit record)."""
        return self.root.child(key, run_id=run_id)

    def absent(self, run_id: str) -> ObjectLocation:
        """A location of ``run_id`` that holds nothing (a run not committed)."""
        return self.root.child(f"data/{run_id}/-", run_id=run_id)

    @staticmethod
    def lake_of(store: ObjectLocation) -> ObjectLocation:
        """The lake prefix of a committed store (``<prefix>/data/<id>/<attempt>``)."""
        prefix = "/".join(store.key.split("/")[:-3])
        return ObjectLocation(store.bucket, prefix, store.options)

    @staticmethod
    def holds(run_id: str, rel: str) -> bool:
        """True if ``rel`` (an index row's path) is a write attempt of ``run_id``."""
        match = _ATTEMPT.match(str(rel))
        return match is not None and match["run"] == run_id

    def record(
        self, run_id: str, attempt: ObjectLocation, row: Mapping[str, Any], manifest: str
    ) -> bytes:
        """The commit record of an attempt: its key, manifest digest and index row."""
        document = {
            "format": COMMIT_FORMAT,
            "version": COMMIT_VERSION,
            "run_id": run_id,
            "store": attempt.key[len(self.root.key) :].strip("/"),
            "manifest_sha256": manifest,
            "committed": datetime.now(UTC).isoformat(timespec="seconds"),
            "row": dict(row),
        }
        return json.dumps(document, sort_keys=True, allow_nan=True).encode()

    def commit(self, run_id: str, record: bytes) -> str | None:
        """Publish a run: create its record unless one exists.

        Returns its stamp (ETag) if this call created it, None if another writer had.
        """
        return objects.create(self.root, self.record_key(run_id), record)

    def own_record(self, run_id: str, attempt: str) -> str | None:
        """The stamp of the commit record of ``run_id`` if it names ``attempt``, else None."""
        key = self.record_key(run_id)
        info = objects.get_info(self.root, key)
        content = objects.get(self.root, key)
        try:
            named = json.loads(content or b"").get("store")
        except (ValueError, AttributeError):
            return None
        if info is None or named != attempt:
            return None
        return info.etag or str(info.modified)

    def parse_record(self, run_id: str, content: bytes | None) -> dict[str, Any]:
        """A commit record's content, checked.

        Raises
        ------
        SchemaError
            If it is not a commit record of ``run_id`` (names the object).
        """
        where = f"{self.root.url}/{self.record_key(run_id)}"
        try:
            record = json.loads(content or b"")
        except ValueError as err:
            raise SchemaError(f"{where}: not a commit record ({err})") from None
        if (
            not isinstance(record, dict)
            or record.get("format") != COMMIT_FORMAT
            or record.get("run_id") != run_id
            or not self.holds(run_id, str(record.get("store")))
            or not isinstance(record.get("row"), dict)
        ):
            raise SchemaError(f"{where}: not a commit record of run {run_id!r}")
        if not isinstance(record.get("version"), int) or record["version"] > COMMIT_VERSION:
            raise SchemaError(f"{where}: commit record version {record.get('version')!r} is newer")
        return record

    def record_stamps(self) -> dict[str, str]:
        """run id → stamp (ETag) of every commit record: one listing of ``runs/``."""
        out = {}
        for key, info in objects.list_objects(self.root, "runs").items():
            name = key[len("runs/") :]
            if name.endswith(".json") and "/" not in name:
                out[name[: -len(".json")]] = info.etag or str(info.modified)
        return out

    def read_records(self, run_ids: Iterable[str]) -> dict[str, bytes | None]:
        """The commit records of runs (concurrent reads; None for those gone)."""
        ids = list(run_ids)
        got = objects.get_many(self.root, [self.record_key(r) for r in ids])
        return {r: got[self.record_key(r)] for r in ids}

    def attempts(self) -> dict[str, Attempt]:
        """Every write attempt in the bucket, committed or not (one listing of ``data/``)."""
        grouped: dict[str, list[tuple[str, ObjectInfo]]] = {}
        for key, info in objects.list_objects(self.root, "data").items():
            parts = key.split("/", 3)
            if len(parts) == 4:
                grouped.setdefault("/".join(parts[:3]), []).append((key, info))
        return {
            prefix: Attempt(
                key=prefix,
                run_id=prefix.split("/")[1],
                keys=tuple(k for k, _ in found),
                nbytes=sum(i.size for _, i in found),
                newest=max(i.modified for _, i in found),
            )
            for prefix, found in grouped.items()
        }

    def delete_attempt(self, attempt: str, keys: Iterable[str] | None = None) -> None:
        """Delete the objects of a write attempt (listed first unless ``keys`` are given)."""
        if keys is None:
            keys = [f"{attempt}/{k}" for k in objects.list_objects(self.root.child(attempt))]
        objects.delete_many(self.root, keys)

    def quarantined_stores(self) -> set[str]:
        """The attempt keys that quarantine records point to (kept, never leftovers)."""
        keys = list(objects.list_objects(self.root, self.QUARANTINE))
        stores = set()
        for content in objects.get_many(self.root, keys).values():
            try:
                stores.add(str(json.loads(content or b"")["store"]))
            except (ValueError, KeyError, TypeError):
                continue
        return stores

    def rewrite(self, run_id: str, record: bytes) -> None:
        """Replace a run's commit record (``check --repair`` of a row that differs)."""
        objects.put(self.root, self.record_key(run_id), record)

    def quarantine(self, run_id: str, record: bytes) -> str:
        """Move a run's commit record to ``quarantine/`` (its data stays, referenced)."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        key = f"{self.QUARANTINE}/{run_id}.{stamp}.{uuid.uuid4().hex[:6]}.json"
        objects.put(self.root, key, record)
        objects.delete_many(self.root, [self.record_key(run_id)])
        return f"{self.root.url}/{key}"
