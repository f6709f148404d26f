"""A lake: a directory (or a bucket prefix) of run stores plus the index that finds them.

The layout — ``runs/<id>.zarr``, ``staging/``, ``index.sqlite``, ``quarantine/`` in a
directory; attempts, commit records and an index snapshot in a bucket — is named in
:mod:`opsnn_lake.storage.layout` alone. ``Lake("s3://bucket/prefix")`` gives an
:class:`~opsnn_lake.object_lake.ObjectLake`, the same API on object storage.

Adding a run writes its store into ``staging/``, publishes it with one ``rename`` into
``runs/`` and only then inserts its index row; readers search the index, so they see a
run complete or not at all. A crash between publish and insert leaves a store without a
row, which :meth:`Lake.check` reports and ``repair`` mends from the store itself.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import neo
import pandas as pd

from opsnn_lake import store as _store
from opsnn_lake.errors import (
    CorruptStoreError,
    InvalidArgumentError,
    LakeReadOnlyError,
    LakeWriteError,
    NotALakeError,
    RunNotFoundError,
    SchemaError,
)
from opsnn_lake.index import (
    PARAM_PREFIX,
    RunIndex,
    _decode_value,
    encode_value,
    open_lake_index,
    row_from_attrs,
)
from opsnn_lake.marker import LAKE_FORMAT, LAKE_VERSION, check_lake_dir
from opsnn_lake.marker import check_marker as _check_marker
from opsnn_lake.neo_convert import block_to_nodes, nodes_to_block
from opsnn_lake.provenance import Provenance
from opsnn_lake.schema import SCHEMA_NAME, SCHEMA_VERSION, SPIKE_COUNT, SPIKE_TIME, Node
from opsnn_lake.storage.layout import LocalLayout
from opsnn_lake.storage.objects import is_url

__all__ = [
    "CheckReport",
    "Lake",
    "check_lake_dir",
    "content_sha256",
    "resolve_run_id",
    "summarize",
]


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
        layout = node.spike_layout(where=path)
        if layout is not None and layout.t_start is not None and layout.t_stop is not None:
            duration = max(duration, layout.t_stop - layout.t_start)
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
    #: run id → what is wrong with its store (missing chunk, failed checksum, edited
    #: metadata); these runs are moved to the quarantine folder by ``repair``.
    damaged: dict[str, str] = field(default_factory=dict)
    #: run id → how its index row differs from what its store says (``repair`` rewrites it)
    bad_rows: dict[str, str] = field(default_factory=dict)
    #: run id → where ``repair`` moved its store
    quarantined: dict[str, str] = field(default_factory=dict)
    repaired: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing is out of place."""
        return not (
            self.stores_without_row
            or self.rows_without_store
            or self.staging_leftovers
            or self.bad_stores
            or self.damaged
            or self.bad_rows
        )

    def lines(self) -> list[str]:
        """Human-readable report lines."""
        out = [f"store without index row: {r}" for r in self.stores_without_row]
        out += [f"index row without store: {r}" for r in self.rows_without_store]
        out += [f"staging left-over: {p}" for p in self.staging_leftovers]
        out += [f"unreadable store {p}: {why}" for p, why in self.bad_stores.items()]
        out += [f"damaged run {r}: {why}" for r, why in self.damaged.items()]
        out += [f"index row differs from its store: {r}: {why}" for r, why in self.bad_rows.items()]
        out += [f"quarantined run {r}: moved to {p}" for r, p in self.quarantined.items()]
        return out


def resolve_run_id(index: RunIndex, run_id: str, *, where: str) -> str:
    """A full run id from a unique prefix (a full id is returned as it is).

    Raises
    ------
    RunNotFoundError
        Naming ``where`` and, for an ambiguous prefix, the matching run ids.
    """
    if not isinstance(run_id, str) or not run_id:
        raise RunNotFoundError(f"{where}: a run id must be a non-empty string, got {run_id!r}")
    if run_id in index:
        return run_id
    matches = [r for r in index.run_ids([["run_id", "contains", run_id]]) if r.startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunNotFoundError(
            f"{where}: no run {run_id!r} (nor one starting with it); see lake.search() "
            "or `opsnn-lake ls`"
        )
    shown = ", ".join(matches[:5]) + (f" … ({len(matches)} in all)" if len(matches) > 5 else "")
    raise RunNotFoundError(f"{where}: run id prefix {run_id!r} is ambiguous: {shown}")


def _row_differences(indexed: Mapping[str, Any], derived: Mapping[str, Any]) -> str:
    """How an index row differs from the row its store gives ("" if it does not)."""

    def as_indexed(key: str, value: Any) -> Any:
        # A parameter as the index gives it back (lists and dicts as JSON text).
        if not key.startswith(PARAM_PREFIX) or value is None:
            return value
        return _decode_value(*encode_value(value))

    diffs = [
        f"{key}: index has {indexed.get(key)!r}, store says {value!r}"
        for key, value in derived.items()
        if indexed.get(key) != as_indexed(key, value)
    ]
    diffs += [
        f"{key}: index has {value!r}, store has no such value"
        for key, value in indexed.items()
        if key not in derived and value is not None
    ]
    return "; ".join(diffs)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    """Delete a staging left-over (a link only as a link: never what it points to)."""
    if path.is_symlink():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _store_bytes(path: Path) -> int:
    """Bytes of a store's files, not following nor counting symbolic links."""
    total = 0
    for folder, _dirs, files in os.walk(path, followlinks=False):
        for name in files:
            st = os.lstat(os.path.join(folder, name))
            if not os.path.islink(os.path.join(folder, name)):
                total += st.st_size
    return total


def _write_error(run_id: str, where: Path, err: OSError) -> LakeWriteError:
    """An OSError of writing a run as a LakeError naming the run, the file and the fix."""
    name = err.filename or where
    reason = err.strerror or str(err)
    fix = {
        errno.ENOSPC: "free disk space",
        errno.EDQUOT: "free space within your disk quota",
        errno.EFBIG: "raise the file-size limit (ulimit -f)",
    }.get(err.errno or 0, "fix the cause")
    error = LakeWriteError(
        f"run {run_id!r}: writing {name} failed: {reason}; nothing was published. "
        f"{fix[0].upper() + fix[1:]} and add the run again"
    )
    error.errno = err.errno
    return error


def _checked_mode(mode: str, create: bool | None) -> str:
    if mode not in ("a", "r+", "r"):
        raise ValueError(f"Lake: mode {mode!r} is not one of 'a', 'r+', 'r'")
    return "r+" if create is False and mode == "a" else mode


#: Environment variable read when ``register`` is not given: ``0`` makes every
#: ``Lake(path)`` of the process publish without writing the index (workers on other
#: nodes of a shared file system; see docs/scale.md).
REGISTER_ENV = "OPSNN_LAKE_REGISTER"


def _register_default(register: bool | None) -> bool:
    if register is not None:
        return bool(register)
    value = os.environ.get(REGISTER_ENV, "1").strip().lower()
    return value not in ("0", "false", "no", "off")


def _local_lake_path(path: str | os.PathLike[str]) -> Path:
    """The absolute path of a local lake; a URL mangled by ``pathlib`` is refused.

    ``Path("s3://bucket/lake")`` is ``s3:/bucket/lake``: a folder named ``s3:`` would be
    created and written as if it were the bucket.
    """
    absolute = Path(path).absolute()
    for part in Path(path).parts:
        if part.endswith(":") and is_url(part):
            raise InvalidArgumentError(
                f"lake {str(path)!r}: the path has a part {part!r}, a URL passed through "
                "pathlib.Path; give the URL as a string (s3://bucket/prefix) or a local path"
            )
    return absolute


class Lake:
    """Open or create a lake directory.

    Parameters
    ----------
    path : path-like
        The lake directory (default ``./lake``). Created if missing (mode ``"a"``); an
        existing directory must be an OpSNN lake or empty.
    mode : {"a", "r+", "r"}
        ``"a"`` (default): open for writing, creating the lake if missing. ``"r+"``: open
        an existing lake for writing. ``"r"``: read only — nothing is created, locked or
        written (the index is read with SQLite's ``immutable``/``mode=ro``), so it works
        on read-only mounts and on lakes of other users; :meth:`add`, :meth:`reindex`
        and ``check(repair=True)`` raise :class:`~opsnn_lake.errors.LakeReadOnlyError`.
    create : bool, optional
        Kept for older callers: ``create=False`` is ``mode="r+"``.
    register : bool, optional
        ``True``: :meth:`add` also writes the run's index row. ``False``: it only
        publishes the store and leaves the index alone, for writers on other nodes of a
        shared file system (SQLite's locking is not to be trusted there); the one process
        that keeps the index registers their runs with :meth:`sync`. Default: ``True``
        unless the environment variable ``OPSNN_LAKE_REGISTER`` is ``0``.
    storage_options : dict, optional
        For ``s3://bucket/prefix`` lakes only: the client's options (``endpoint``,
        ``access_key_id``, ``secret_access_key``, ``region``, ``allow_http``…); by
        default the standard ``AWS_*`` environment variables. See
        :class:`~opsnn_lake.object_lake.ObjectLake`.

    Raises
    ------
    NotALakeError
        If ``path`` exists, is not empty and is not a lake (nothing is written there),
        or does not exist and the mode does not create.
    LakeReadOnlyError
        If a writing mode is asked for a lake this process may not write.
    IndexMissingError
        In mode ``"r"``, if the lake has stores but its index is missing or empty (a
        writing mode rebuilds such an index from the stores, as :meth:`reindex` does).

    Examples
    --------
    >>> lake = Lake(tmp_path / "lake")                      # doctest: +SKIP
    >>> run_id = lake.add(block, model="va", parameters={"g_inh": 51.0}, seed=1)  # doctest: +SKIP
    >>> lake.search(g_inh=(40, 60))                          # doctest: +SKIP
    >>> Lake("/shared/lake", mode="r").search(g_inh=51.0)    # doctest: +SKIP
    >>> Lake("s3://my-bucket/lake").search(g_inh=51.0)       # doctest: +SKIP
    """

    path: Path

    def __new__(cls, path: str | os.PathLike[str] = "lake", *args: Any, **kwargs: Any) -> Lake:
        # A URL (or anything with a scheme, typos included) is never a local folder:
        # Lake("s3://…") is an ObjectLake, other schemes are refused there.
        text = os.fspath(path) if isinstance(path, os.PathLike) else path
        if cls is Lake and is_url(text):
            from opsnn_lake.object_lake import ObjectLake

            instance: Lake = object.__new__(ObjectLake)
            return instance
        return object.__new__(cls)

    def __init__(
        self,
        path: str | os.PathLike[str] = "lake",
        *,
        mode: str = "a",
        create: bool | None = None,
        register: bool | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.mode = _checked_mode(mode, create)
        self.register = _register_default(register)
        self._open(path, storage_options)

    def _open(self, path: str | os.PathLike[str], storage_options: Any) -> None:
        """Open (or create) the lake directory ``path``."""
        if storage_options is not None:
            raise InvalidArgumentError(
                f"Lake({str(path)!r}, storage_options=…): storage options apply to "
                "s3:// lakes only; a local lake takes none"
            )
        self.path = _local_lake_path(path)
        self.layout = LocalLayout(self.path)
        self.runs_dir = self.layout.runs_dir
        self.staging_dir = self.layout.staging_dir
        if self.mode == "r":
            if not self.path.exists():
                raise NotALakeError(
                    f"{self.path}: no lake here; create one with opsnn_lake.Lake(path) "
                    "or `opsnn-lake demo`"
                )
            check_lake_dir(self.path)
            self.index = open_lake_index(self.path)
            return
        self._open_for_writing()

    def _open_for_writing(self) -> None:
        marker = self.layout.marker
        if marker.is_file():
            _check_marker(marker)
            self._check_writable()
        elif self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise NotALakeError(
                f"{self.path}: exists and is not an OpSNN lake (no lake.json); refusing to "
                "write into it. Give a new or empty directory, or the path of an existing lake."
            )
        elif self.mode == "r+":
            raise NotALakeError(
                f"{self.path}: no lake here; create one with opsnn_lake.Lake(path) "
                "or `opsnn-lake demo`"
            )
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self._check_writable()
            tmp = self.path / f".lake.json.{os.getpid()}.{uuid.uuid4().hex}"
            tmp.write_text(json.dumps({"format": LAKE_FORMAT, "version": LAKE_VERSION}))
            os.replace(tmp, marker)  # concurrent creators write the same content
        self.runs_dir.mkdir(exist_ok=True)
        self.staging_dir.mkdir(exist_ok=True)
        db = self.layout.index_path
        if not self.register:  # only validates rows; never writes, locks or rebuilds the index
            self.index = RunIndex(db, read_only=True, empty_ok=True)
            return
        lost = (not db.is_file() or db.stat().st_size == 0) and bool(self.layout.count_stores())
        self.index = RunIndex(db)
        if lost:  # a lost index is rebuilt from the stores, never extended as if empty
            self.reindex()

    def _check_writable(self) -> None:
        # Asked up front: SQLite's own words ("unable to open database file") would
        # send the user to rebuild an index that is fine.
        for where in (self.path, self.runs_dir, self.staging_dir, self.layout.index_path):
            if where.exists() and not os.access(where, os.W_OK):
                raise LakeReadOnlyError(
                    f"{where}: this process may not write the lake {self.path}. Open it "
                    f"read-only with Lake({str(self.path)!r}, mode='r') (the CLI's ls, "
                    "analyse, plot and check do that), or run this as a user "
                    "who may write the lake"
                )

    @property
    def read_only(self) -> bool:
        """True if opened with ``mode="r"``."""
        return self.mode == "r"

    def _require_writable(self, what: str) -> None:
        if self.read_only:
            raise LakeReadOnlyError(
                f"{self.path}: {what} needs to write the lake, which was opened read-only "
                f"(mode='r'); open it with Lake({str(self.path)!r}) instead"
            )

    def __repr__(self) -> str:
        from opsnn_lake.display import runs_text

        return runs_text(self._display_summary())

    def _repr_html_(self) -> str:
        from opsnn_lake.display import runs_html

        return runs_html(self._display_summary())

    def _display_summary(self) -> Any:
        from opsnn_lake.display import summarize_runs, units_of_runs

        frame = self.search()
        units = units_of_runs(self.path, frame)
        return summarize_runs(frame, title="Lake", location=str(self.path), units=units)

    @property
    def location(self) -> str:
        """Where the lake lives, as given to :class:`Lake` by child processes."""
        return str(self.path)

    def discard_unfinished(self, run_id: str, pid: int) -> list[str]:
        """Remove what the dead writer process ``pid`` left staged for ``run_id``.

        Returns the names removed. A runner calls it when a child it started dies;
        anything else left behind is ``check --repair``'s.
        """
        removed = []
        for staged in self.layout.staging_entries():
            if staged.name.startswith(f"{run_id}.") and self.layout.staging_owner(staged) == pid:
                _remove(staged)
                removed.append(staged.name)
        return removed

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self.index

    # ------------------------------------------------------------------ writing

    def has_run(self, run_id: str) -> bool:
        """True if ``run_id`` is registered and its store is published (a finished run)."""
        return run_id in self.index and self.store_path(run_id).exists()

    def store_path(self, run_id: str) -> Path:
        """Where the store of ``run_id`` lives (whether or not it exists)."""
        return self.layout.store(run_id)

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
        self._require_writable("lake.add")
        start = time.perf_counter() if started is None else started
        provenance = self._identified(nodes, provenance)
        return self._add(provenance.run_id(), nodes, provenance, start)

    def _add(
        self, run_id: str, nodes: Mapping[str, Node], provenance: Provenance, start: float
    ) -> str:
        """Write, publish and register one run of a lake directory."""
        final = self.store_path(run_id)
        if not self._inside(final):
            raise SchemaError(
                f"{final}: a symbolic link out of the lake {self.path} stands where run "
                f"{run_id!r} goes; remove the link and add the run again"
            )
        if final.exists():
            # Published stores are complete (only a rename puts them there); one left
            # without a row by a crash is registered now instead of being written again.
            if self.register and run_id not in self.index:
                self.index.insert([self._row(final)])
            return run_id
        attrs, published = self._write_and_publish(
            run_id, final, nodes, self._root_attrs(run_id, provenance, nodes, start)
        )
        if self.register:
            self._register(run_id, final, attrs, published)
        return run_id  # unregistered: the index keeper's sync() registers it

    @staticmethod
    def _identified(nodes: Mapping[str, Node], provenance: Provenance) -> Provenance:
        """The provenance that names the run (a content checksum when nothing else does)."""
        if provenance.model is None and not provenance.sources:
            return replace(provenance, content_sha256=content_sha256(nodes))
        return provenance

    def _root_attrs(
        self, run_id: str, provenance: Provenance, nodes: Mapping[str, Node], start: float
    ) -> Callable[[], dict[str, Any]]:
        """The root attributes of a run's store, made once its arrays are encoded."""
        summary = summarize(nodes)

        def root_attrs() -> dict[str, Any]:
            # Called once the arrays are encoded, so the write time can be recorded.
            timings = {**provenance.timings, "write": round(time.perf_counter() - start, 6)}
            prov = replace(provenance, timings=timings)
            attrs = {
                "schema": SCHEMA_NAME,
                "schema_version": SCHEMA_VERSION,
                "run_id": run_id,
                "kind": prov.kind,
                "provenance": prov.to_dict(),
                "summary": summary,
            }
            # Refuse a row the index could not write before anything is published.
            self.index.prepare(row_from_attrs(attrs, path="", nbytes=0))
            return attrs

        return root_attrs

    def _write_and_publish(
        self,
        run_id: str,
        final: Path,
        nodes: Mapping[str, Node],
        root_attrs: Callable[[], dict[str, Any]],
    ) -> tuple[dict[str, Any], bool]:
        """Write the store aside, then rename it into place (False: another writer won)."""
        staged = self.layout.staged(run_id)
        try:
            attrs = _store.write_store(staged, nodes, root_attrs)
            published = _store.publish(staged, final)
        except OSError as err:
            shutil.rmtree(staged, ignore_errors=True)
            raise _write_error(run_id, staged, err) from err
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        return attrs, published

    def _register(
        self, run_id: str, final: Path, attrs: Mapping[str, Any], published: bool
    ) -> None:
        """Insert the row of a run just published (a failure takes the store back)."""
        if published:
            # The row comes from the attributes just written (what reindex reads back
            # from disk), which spares re-opening the store on the hot path of every run.
            row = row_from_attrs(
                attrs, path=self.layout.relative(final), nbytes=_store_bytes(final)
            )
        else:
            # Another writer published this run first and our copy was discarded: index
            # the store that survived, exactly as reindex would.
            row = self._row(final)
        try:
            self.index.insert([row])
        except BaseException as err:
            if published:
                self._unpublish(run_id, final)
            if isinstance(err, LakeWriteError):
                named = LakeWriteError(f"run {run_id!r} (not added): {err}")
                named.errno = err.errno
                raise named from err
            if isinstance(err, OSError):
                raise _write_error(run_id, self.index.path, err) from err
            raise

    def _unpublish(self, run_id: str, final: Path) -> None:
        """Take back a store whose row could not be written (no store without a row)."""
        if run_id in self.index:
            return  # a concurrent writer registered it meanwhile: keep it
        aside = self.layout.unpublished(run_id)
        try:
            os.rename(final, aside)
        except OSError:
            return  # left for `check --repair`, which registers it from the store
        shutil.rmtree(aside, ignore_errors=True)

    def _row(self, store: Path, *, nbytes: int | None = None) -> dict[str, Any]:
        attrs = _store.read_root_attrs(store)
        if nbytes is None:
            nbytes = _store_bytes(store)
        return row_from_attrs(attrs, path=self.layout.relative(store), nbytes=nbytes)

    # ------------------------------------------------------------------ reading

    def resolve_run_id(self, run_id: str) -> str:
        """The full run id of ``run_id`` or of a unique prefix of one (``"va-3a9f"``).

        Raises
        ------
        RunNotFoundError
            If no run id starts with ``run_id``, or several do (the message lists them).
        """
        return resolve_run_id(self.index, run_id, where=str(self.path))

    def _existing(self, run_id: str) -> Path:
        if run_id not in self.index and not self.store_path(run_id).exists():
            run_id = self.resolve_run_id(run_id)
        path = self.store_path(run_id)
        if not self._inside(path):
            raise SchemaError(
                f"{path}: a symbolic link out of the lake {self.path}; the lake never "
                "follows links out of itself. Replace the link by the store itself"
            )
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

        ``study=<study id>`` (or a list) keeps the runs an explore study tried and adds
        its lineage columns (``study``, ``trial``, ``strategy``, ``objective``,
        ``trial_state``); see :mod:`opsnn_lake.studies`.
        """
        from opsnn_lake.jsonable import plain

        # numpy scalars and arrays search like the Python values they hold
        criteria = {key: plain(value) for key, value in criteria.items()}
        if "study" in criteria:  # lineage lives beside the runs, not in the index
            from opsnn_lake import studies

            study = criteria.pop("study")
            criteria["run_id"] = studies.run_ids(self.path, study)
            return studies.join(self.index.search(criteria), self.path, study)
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
            ``path``, now holding the run in NWB.

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
            The catalog YAML (absolute).

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
        # Symbolic links are neither followed nor counted: a link could lead out of the
        # lake (another user's data, /etc) and would make one store count twice.
        return self.layout.stores()

    def count_stores(self) -> int:
        """Number of published stores (indexed or not): what :meth:`reindex` reads."""
        return self.layout.count_stores()

    def _inside(self, path: Path) -> bool:
        """True unless ``path`` is, or is reached through, a link leading out of the lake."""
        try:
            path.resolve().relative_to(self.path.resolve())
        except ValueError:
            return False
        return not path.is_symlink()

    def _checked_row(self, store: Path, *, nbytes: int | None = None) -> dict[str, Any]:
        row = self._row(store, nbytes=nbytes)
        if row["run_id"] != self.layout.run_of(store):
            raise SchemaError(
                f"{store}: holds run {row['run_id']!r} under another name; move it to "
                f"{self.store_path(row['run_id']).name} or out of the lake"
            )
        return row

    def check(
        self,
        *,
        repair: bool = False,
        deep: bool = False,
        progress: bool = False,
        older_than: float | None = None,
    ) -> CheckReport:
        """Compare stores, index and staging area; verify every store; optionally mend.

        Finds stores without an index row (a writer killed between publishing and
        registering), rows without a store, staging directories of writers that are no
        longer running (a writer killed while writing), unreadable stores, damaged
        stores (metadata changed since writing, chunk files missing; with ``deep`` also
        chunks failing their CRC-32C) and index rows that differ from their store.

        Parameters
        ----------
        repair : bool
            Register stores that have no row (from the store itself), remove rows whose
            store is gone, rewrite rows that differ from their store, delete staging
            left-overs, and move damaged stores to ``<lake>/quarantine/`` (never
            deleted; their rows are removed). Unreadable foreign stores are reported only.
        deep : bool
            Also read every chunk and verify its checksum (reads all the data).
        progress : bool
            Show a progress bar over the stores.
        older_than : float, optional
            Count a staging entry as a left-over only once it is this old (seconds),
            for writers on other nodes, whose process ids mean nothing here. Default:
            any entry of a process that is not running on this machine. For an
            ``s3://`` lake: uncommitted write attempts this old (default 3600 s).

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
        if repair:
            self._require_writable("check --repair")
        report = CheckReport()
        self._check(report, repair=repair, deep=deep, progress=progress, older_than=older_than)
        return report

    def _check(
        self, report: CheckReport, *, repair: bool, deep: bool, progress: bool, older_than: Any
    ) -> None:
        """:meth:`check` of a lake directory, into ``report``."""
        indexed = {row["run_id"]: row for row in self.index.rows()}  # before listing stores
        on_disk = {self.layout.run_of(p): p for p in self._stores()}
        new_rows, fixed_rows = self._check_stores(report, indexed, on_disk, deep, progress)
        report.rows_without_store = sorted(set(indexed) - set(on_disk))
        report.staging_leftovers = self._staging_leftovers(older_than)
        if repair:
            self.index.insert(new_rows)
            self.index.insert(fixed_rows, replace=True)
            self.index.delete(report.rows_without_store)
            for run_id in report.damaged:
                report.quarantined[run_id] = str(self.layout.quarantine(on_disk[run_id]))
            self.index.delete(list(report.damaged))
            for staged_path in report.staging_leftovers:
                _remove(Path(staged_path))
            report.repaired = True

    def _check_stores(
        self,
        report: CheckReport,
        indexed: Mapping[str, Mapping[str, Any]],
        on_disk: Mapping[str, Path],
        deep: bool,
        progress: bool,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Verify every store into ``report``; return the rows to add and to rewrite."""
        runs: Iterable[str] = sorted(on_disk)
        if progress:
            from tqdm.auto import tqdm

            runs = tqdm(list(runs), desc="check --deep" if deep else "check", unit="run")
        new_rows, fixed_rows = [], []
        for run_id in runs:
            store = on_disk[run_id]
            try:
                problems = _store.check_store(store, deep=deep)
            except SchemaError as err:  # not a run store: reported, never moved
                report.bad_stores[str(store)] = str(err)
                continue
            if problems:
                extra = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                report.damaged[run_id] = problems[0] + extra
                continue
            # The size from the row if there is one: measuring it walks every file.
            nbytes = indexed[run_id].get("bytes") if run_id in indexed else None
            try:
                row = self._checked_row(store, nbytes=nbytes)
                self.index.prepare(row)  # a row the index cannot hold is a bad store
            except SchemaError as err:
                report.bad_stores[str(store)] = str(err)
                continue
            if run_id not in indexed:
                new_rows.append(row)
                report.stores_without_row.append(run_id)
                continue
            differs = _row_differences(indexed[run_id], row)
            if differs:
                report.bad_rows[run_id] = differs
                fixed_rows.append(row)
        return new_rows, fixed_rows

    def _staging_leftovers(self, older_than: float | None) -> list[str]:
        """Staging entries of writers no longer running (and old enough, if asked)."""
        found = []
        now = time.time()
        for staged in self.layout.staging_entries():
            pid = self.layout.staging_owner(staged)
            if not (pid is None or pid == os.getpid() or not _pid_alive(pid)):
                continue
            if older_than is not None and now - staged.lstat().st_mtime < older_than:
                continue
            found.append(str(staged))
        return found

    @property
    def quarantine_dir(self) -> Path:
        """Where ``check --repair`` moves damaged stores (``<lake>/quarantine``)."""
        return self.layout.quarantine_dir

    @property
    def quarantine_location(self) -> str:
        """Where ``check --repair`` puts damaged runs, as text (a folder or a URL)."""
        return str(self.layout.quarantine_dir)

    def refresh(self) -> list[str]:
        """Follow runs other processes added (an object lake's view; nothing to do here).

        A local lake's index is the shared SQLite file itself: every search already sees
        what other writers registered. Returns the run ids newly seen (none here).
        """
        return []

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
        self._require_writable("reindex")
        stores: Iterable[Path] = self._stores()
        if progress:
            from tqdm.auto import tqdm

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

    def sync(self) -> list[str]:
        """Register the published runs the index does not hold yet; return their ids.

        The index keeper's half of ``register=False``: writers on other nodes only
        publish stores, and this one process adds their rows (reading each new store's
        root attributes), leaving every row it already has untouched.
        """
        self._require_writable("sync")
        if not self.register:
            raise LakeWriteError(
                f"{self.path}: this Lake was opened with register=False, which never writes "
                "the index; call sync() on a Lake(path) of the process that keeps the index"
            )
        known = set(self.index.run_ids())
        new = [p for p in self._stores() if self.layout.run_of(p) not in known]
        rows = [row for row in map(self._row_or_none, new) if row is not None]
        if rows:
            self.index.insert(rows)
        return [row["run_id"] for row in rows]

    def _row_or_none(self, path: Path) -> dict[str, Any] | None:
        try:
            row = self._checked_row(path)
            self.index.prepare(row)
        except (SchemaError, CorruptStoreError):  # reported by check, never indexed
            return None
        return row
