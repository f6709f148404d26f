"""The checks every read of a run store makes, wherever the store lives.

A store's manifest records the SHA-256 of each metadata document (and of each entry of
the consolidated metadata); every chunk ends in a CRC-32C and every chunk is written.
These functions compare what a read got with that, and raise
:class:`~opsnn_lake.errors.CorruptStoreError` naming run, array and chunk. The local
(:class:`opsnn_lake.store.VerifiedStore`) and object
(:class:`opsnn_lake.store.VerifiedObjectStore`) zarr stores share them through
:class:`Verifying`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opsnn_lake.errors import CorruptStoreError
from opsnn_lake.storage.objects import ObjectLocation

__all__ = [
    "CHUNK_KEY",
    "MANIFEST",
    "Verifying",
    "arrays_without_crc",
    "check_chunk",
    "check_document",
    "corrupt",
    "entry_digests",
    "parse_manifest",
]

MANIFEST = "opsnn-manifest.json"  # metadata digests, beside the zarr hierarchy
# "<array path>/c/<i>/<j>…": the default chunk key encoding with "/" (docs/format.md §1).
CHUNK_KEY = re.compile(r"^(?P<array>.+)/c/(?P<index>\d+(?:/\d+)*)$")

Root = Path | ObjectLocation


def run_name(root: Root) -> str:
    """The run a store holds, as messages name it."""
    if isinstance(root, ObjectLocation):
        return root.run_id or root.name
    return root.name[: -len(".zarr")] if root.name.endswith(".zarr") else root.name


def corrupt(root: Root, array: str, problem: str, *, chunk: str | None = None) -> CorruptStoreError:
    """The error for a damaged store: run, location, array, chunk and the fix."""
    what = f"array {array!r}" + (f", chunk {chunk!r}" if chunk is not None else "")
    return CorruptStoreError(
        f"run {run_name(root)!r} ({root}): {what}: {problem}. The store was damaged after "
        "it was written; run `opsnn-lake check --repair` to quarantine it, then re-create "
        "the run (re-run the simulation or re-ingest its source)"
    )


def node_of(key: str) -> str:
    """The node a key belongs to (``"/"`` for the root)."""
    return key.rpartition("/")[0] or "/"


def entry_digests(root: Mapping[str, Any]) -> dict[str, str]:
    """Digest of the root attributes ("/") and of each consolidated entry (canonical JSON)."""
    entries = dict((root.get("consolidated_metadata") or {}).get("metadata") or {})
    entries["/"] = root.get("attributes")
    return {
        path: hashlib.sha256(
            json.dumps(entry, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()
        ).hexdigest()
        for path, entry in sorted(entries.items())
    }


def parse_manifest(
    root: Root, content: bytes | None, root_document: bytes | None
) -> dict[str, str] | None:
    """The digests of a manifest's bytes (``content``; None: there is no manifest).

    ``root_document`` (the root ``zarr.json``) says whether a store without a manifest
    is of schema 1 (none expected) or damaged.

    Raises
    ------
    CorruptStoreError
        If the manifest is unreadable, or a schema-2 store has none.
    """
    if content is None:
        try:
            version = json.loads(root_document or b"")["attributes"]["schema_version"]
        except (ValueError, KeyError, TypeError):
            return None  # not ours or unreadable: the root-attribute check says so
        if isinstance(version, int) and version >= 2:
            raise corrupt(root, "/", f"its manifest ({MANIFEST}) is missing")
        return None
    try:
        document = json.loads(content)
    except ValueError as err:
        raise corrupt(root, "/", f"its manifest ({MANIFEST}) is unreadable: {err}") from None
    digests = document.get("metadata") if isinstance(document, dict) else None
    if not isinstance(digests, dict) or not all(isinstance(v, str) for v in digests.values()):
        raise corrupt(root, "/", f"its manifest ({MANIFEST}) lists no metadata digests")
    entries = document.get("consolidated") or {}
    # One flat mapping: files by their key, consolidated entries as "zarr.json:<path>".
    return {**digests, **{f"zarr.json:{k}": v for k, v in entries.items()}}


def check_document(
    root: Root, key: str, content: bytes | None, manifest: Mapping[str, str] | None
) -> None:
    """Compare a metadata document with the manifest (no manifest: schema 1, unverified)."""
    if manifest is None:
        return
    expected = manifest.get(key)
    if content is None:
        if expected is not None:
            raise corrupt(root, node_of(key), "its metadata document zarr.json is missing")
        return
    if expected is None:
        raise corrupt(root, node_of(key), "zarr.json was added after writing (not in the manifest)")
    if hashlib.sha256(content).hexdigest() != expected:
        node = node_of(key)
        if key == "zarr.json":
            node = ", ".join(_changed_entries(content, manifest)) or node
        raise corrupt(
            root, node, "metadata (zarr.json) changed after writing: it differs from the manifest"
        )


def _changed_entries(content: bytes, manifest: Mapping[str, str]) -> list[str]:
    """The nodes whose consolidated entry differs from the manifest (names the array)."""
    try:
        now = entry_digests(json.loads(content))
    except (ValueError, AttributeError):
        return []
    recorded = {k[len("zarr.json:") :]: v for k, v in manifest.items() if ":" in k}
    return sorted(p for p in set(now) | set(recorded) if now.get(p) != recorded.get(p))


def check_chunk(root: Root, key: str, content: bytes | None) -> None:
    """A chunk must exist (every chunk is written) and pass its CRC-32C."""
    import google_crc32c

    match = CHUNK_KEY.match(key)
    if match is None:
        return
    array, index = match["array"], match["index"].replace("/", ",")
    if content is None:
        raise corrupt(
            root,
            array,
            "the chunk file is missing (other readers would return fill values)",
            chunk=index,
        )
    stored = int.from_bytes(content[-4:], "little") if len(content) >= 4 else None
    if stored is None or google_crc32c.value(content[:-4]) != stored:
        raise corrupt(root, array, "the chunk fails its CRC-32C checksum", chunk=index)


def arrays_without_crc(root_document: bytes | None) -> frozenset[str]:
    """Arrays of a store whose codecs end in no ``crc32c`` (early schema-1 stores)."""
    try:
        nodes = json.loads(root_document or b"")["consolidated_metadata"]["metadata"]
    except (ValueError, KeyError, TypeError):
        return frozenset()
    return frozenset(
        name
        for name, meta in nodes.items()
        if isinstance(meta, dict)
        and meta.get("node_type") == "array"
        and not any(c.get("name") == "crc32c" for c in meta.get("codecs") or [])
    )


class Verifying:
    """Mixin of a read-only zarr store that verifies what it hands to zarr.

    Put it before the zarr store class (``class VerifiedStore(Verifying, LocalStore)``).
    A chunk that is missing or fails its CRC-32C, and a ``zarr.json`` that differs
    from the manifest, raise :class:`~opsnn_lake.errors.CorruptStoreError` when zarr
    asks for them: lazy reads stay lazy and are checked when their data is read.
    """

    where: Root
    manifest: dict[str, str] | None
    unchecked: frozenset[str]

    def reached_through_link(self, key: str) -> bool:
        """True if reading ``key`` would follow a symbolic link (local stores only)."""
        return False

    def verify(self, key: str, buffer: Any, whole: bool) -> None:
        """Check one read (``whole``: the complete object was read)."""
        if not whole:  # partial reads are not ours to make (no sharding); nothing to check
            return
        if buffer is not None and self.reached_through_link(key):
            match = CHUNK_KEY.match(key)
            array = match["array"] if match else node_of(key)
            chunk = match["index"].replace("/", ",") if match else None
            raise corrupt(
                self.where,
                array,
                f"{key} is reached through a symbolic link, which the lake never follows",
                chunk=chunk,
            )
        content = None if buffer is None else buffer.to_bytes()
        if key.rpartition("/")[2] == "zarr.json":
            check_document(self.where, key, content, self.manifest)
        else:
            match = CHUNK_KEY.match(key)
            if match is None or match["array"] not in self.unchecked:
                check_chunk(self.where, key, content)

    async def get(self, key: str, prototype: Any = None, byte_range: Any = None) -> Any:
        """zarr's ``get``, verified."""
        buffer = await super().get(key, prototype, byte_range)  # type: ignore[misc]
        self.verify(key, buffer, byte_range is None)
        return buffer

    async def get_partial_values(self, prototype: Any, key_ranges: Any) -> list[Any]:
        """zarr's ``get_partial_values``, verified."""
        key_ranges = list(key_ranges)
        buffers = await super().get_partial_values(prototype, key_ranges)  # type: ignore[misc]
        for (key, byte_range), buffer in zip(key_ranges, buffers, strict=True):
            self.verify(key, buffer, byte_range is None)
        return list(buffers)
