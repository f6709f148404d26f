"""The lake's run index: one SQLite row per run, its parameters in a long table.

The stores are the source of truth; the index is derived from them (:func:`row_from_attrs`)
and can be rebuilt at any time. SQLite gives transactions and safe concurrent writers
(WAL journal, ``BEGIN IMMEDIATE``, a generous busy timeout).

Layout (index version 2; see docs/decisions.md, "An index nothing can poison")::

    runs(run_id PRIMARY KEY, kind, simulator, ..., path)      fixed columns, one row a run
    params(run_id, name, type, value, exact)                   one row per run and parameter
    param_types(name, type)                                    the value types each name has
    run_inputs(run_id, input_id)                               lineage
    meta(key, value)                                           index_version

Parameter names are *values* here, never SQL identifiers, so any name Provenance accepts
is stored as is: names differing only in case, any Unicode (NUL included), and any number
of distinct names (SQLite's 2000-column limit no longer applies). ``value`` holds a
comparable SQLite value (``type`` says which JSON type it came from: ``int``, ``real``,
``bool``, ``text``, ``json`` for lists, ``null``); integers beyond 64 bits are kept exactly
in ``exact`` (decimal text) with their float approximation in ``value`` for ranges. An
index on ``(name, type, value)`` answers each criterion with index range scans alone.

Rows exchanged with callers (:func:`row_from_attrs`, :meth:`RunIndex.rows`) are flat dicts:
the fixed columns plus ``p.<name>`` per parameter (nested parameters flattened with dots:
``p.stim.rate``); :meth:`RunIndex.search` and the DataFrames it returns use the bare
names wherever they do not clash with a fixed column.

Search criteria are keyword → value pairs (see :meth:`RunIndex.where`). They are turned
into *terms*, ``[key, op, value]`` lists of plain JSON values, so a narrowed catalog can
be pickled, written to YAML and sent to dask workers. Values are checked against the
types the column holds, so ``g_inh="51"`` on a numeric parameter is an error, not an
empty result.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsnn_lake.errors import (
    IndexMissingError,
    IndexVersionError,
    InvalidArgumentError,
    LakeError,
    LakeReadOnlyError,
    LakeWriteError,
    NotALakeError,
    SchemaError,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FIXED_COLUMNS",
    "INDEX_VERSION",
    "INT64_MAX",
    "INT64_MIN",
    "OPS",
    "RunIndex",
    "criteria_terms",
    "flatten",
    "open_lake_index",
    "row_from_attrs",
]

INDEX_VERSION = 2
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
PARAM_PREFIX = "p."
FIXED_COLUMNS = {
    "run_id": "TEXT PRIMARY KEY",
    "kind": "TEXT",
    "simulator": "TEXT",
    "simulator_version": "TEXT",
    "model": "TEXT",
    "seed": "INTEGER",
    "n_units": "INTEGER",
    "n_spikes": "INTEGER",
    "duration": "REAL",
    "bytes": "INTEGER",
    "created": "TEXT",
    "inputs": "TEXT",
    "path": "TEXT",
}
#: Operators of search terms: equality, inclusive range, any of, missing, input lineage,
#: and a substring of the run id (the free-text search of intake catalogs).
OPS = ("eq", "range", "in", "null", "input", "contains")

_NUMERIC = frozenset({"int", "real"})
_TEXTUAL = frozenset({"text", "json"})

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS runs ("
    + ", ".join(f'"{c}" {t}' for c, t in FIXED_COLUMNS.items())
    + ")",
    # WITHOUT ROWID: the primary key is the row, so a run's parameters sit together.
    # rid is the rowid of the run's row in `runs`: integer keys keep the intersections
    # of several criteria cheap (run ids are 25-character strings).
    "CREATE TABLE IF NOT EXISTS params (rid INTEGER NOT NULL, name TEXT NOT NULL, "
    "type TEXT NOT NULL, value, exact TEXT, PRIMARY KEY (rid, name)) WITHOUT ROWID",
    # (name, type, value) + the primary key: every criterion is answered from this index
    # alone (a covering index), one range scan per type family.
    "CREATE INDEX IF NOT EXISTS params_name_type_value ON params (name, type, value)",
    # An ordinary rowid table: rowid order is first-seen order, the order of columns.
    "CREATE TABLE IF NOT EXISTS param_types (name TEXT NOT NULL, type TEXT NOT NULL, "
    "UNIQUE (name, type))",
    "CREATE TABLE IF NOT EXISTS run_inputs (run_id TEXT, input_id TEXT, "
    "PRIMARY KEY (run_id, input_id))",
    "CREATE INDEX IF NOT EXISTS run_inputs_input ON run_inputs (input_id)",
)


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested parameter dicts: ``{"stim": {"rate": 5}}`` → ``{"stim.rate": 5}``."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def _sql_value(value: Any) -> Any:
    if value is None or isinstance(value, int | float | str):
        return value
    return json.dumps(value, sort_keys=True)  # lists and the like: searchable as text


def encode_value(value: Any) -> tuple[str, Any, str | None]:
    """A parameter value as ``(type, comparable SQLite value, exact text or None)``."""
    if value is None:
        return "null", None, None
    if isinstance(value, bool):
        return "bool", int(value), None
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return "int", value, None
        return "int", _approx(value), str(value)
    if isinstance(value, float):
        return "real", value, None
    if isinstance(value, str):
        return "text", value, None
    return "json", json.dumps(value, sort_keys=True), None


def _approx(value: int) -> float:
    try:
        return float(value)
    except OverflowError:  # beyond the float range: only the sign orders it
        return math.inf if value > 0 else -math.inf


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def open_lake_index(lake_dir: str | Path) -> RunIndex:
    """The index of a lake, read-only; a lake without runs yet reads as empty.

    Raises
    ------
    IndexMissingError
        If the lake has stores but ``index.sqlite`` is missing or empty (0 bytes): that
        is a lost index, not an empty lake; the message says how to rebuild it.
    """
    from opsnn_lake.storage.layout import LocalLayout

    layout = LocalLayout(Path(lake_dir))
    db = layout.index_path
    missing = not db.is_file() or db.stat().st_size == 0
    if missing:
        n_stores = layout.count_stores()
        if n_stores:
            what = "is missing" if not db.exists() else "is empty (0 bytes)"
            raise IndexMissingError(
                f"{db}: the lake index {what}, but {layout.runs_dir} holds {n_stores} "
                f"store(s); rebuild the index with `opsnn-lake reindex --lake {lake_dir}` "
                "(as a user who may write the lake)"
            )
    return RunIndex(db, read_only=True, empty_ok=missing)


def _int_or_none(text: Any) -> Any:
    return None if text is None or text != text else int(text)


def _decode_value(type_: str, value: Any, exact: str | None) -> Any:
    if type_ == "bool":
        return bool(value)
    if exact is not None:
        return int(exact)
    return value


def row_from_attrs(attrs: Mapping[str, Any], *, path: str, nbytes: int) -> dict[str, Any]:
    """The index row of a store, from its root attributes alone (so reindex == add)."""
    prov = attrs["provenance"]
    summary = attrs.get("summary", {})
    row = {
        "run_id": attrs["run_id"],
        "kind": attrs["kind"],
        "simulator": prov.get("simulator"),
        "simulator_version": prov.get("simulator_version"),
        "model": prov.get("model"),
        "seed": prov.get("seed"),
        "n_units": summary.get("n_units"),
        "n_spikes": summary.get("n_spikes"),
        "duration": summary.get("duration"),
        "bytes": nbytes,
        "created": prov.get("created"),
        "inputs": json.dumps(prov.get("inputs", [])),
        "path": path,
    }
    for key, value in flatten(prov.get("parameters", {})).items():
        row[PARAM_PREFIX + key] = value
    return row


def _check_scalar(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise InvalidArgumentError(
        f"search: value for {key!r} must be a number, string, bool or None, got {value!r}"
    )


def criteria_terms(criteria: Mapping[str, Any]) -> list[list[Any]]:
    """Search criteria as ``[key, op, value]`` terms of plain JSON values.

    Parameters
    ----------
    criteria : Mapping
        Column or parameter name → value: a scalar matches by equality; a 2-tuple
        ``(low, high)`` is an inclusive range (``None`` leaves a side open); a list or
        set matches any of its values; ``None`` matches runs without the value;
        ``input=<run id or list>`` matches runs driven by those inputs.

    Returns
    -------
    list of list
        One ``[key, op, value]`` per criterion, ``op`` one of :data:`OPS`.

    Raises
    ------
    SchemaError
        For a value of a type that cannot be searched (a dict, a 3-tuple…).
    """
    terms: list[list[Any]] = []
    for key, value in criteria.items():
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError(f"search: criterion name {key!r} must be a non-empty string")
        value = _plain(value)
        if key == "input":
            values = list(value) if isinstance(value, list | set | frozenset | tuple) else [value]
            terms.append([key, "input", [_check_scalar(key, v) for v in values]])
        elif value is None:
            terms.append([key, "null", None])
        elif isinstance(value, tuple):
            if len(value) != 2:
                raise InvalidArgumentError(
                    f"search: range for {key!r} must be (low, high), got {value!r}"
                )
            terms.append([key, "range", [_check_scalar(key, _plain(v)) for v in value]])
        elif isinstance(value, list | set | frozenset):
            terms.append([key, "in", [_check_scalar(key, _plain(v)) for v in value]])
        else:
            terms.append([key, "eq", _check_scalar(key, value)])
    return terms


def _plain(value: Any) -> Any:
    """numpy scalars as the Python values they stand for (``np.float64(51)`` → 51.0)."""
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy" and getattr(value, "ndim", 1) == 0:
        return item()
    return value


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _kind(value: Any) -> str:
    """The type family a search value needs in a column: bool, number or text."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "text"


_FAMILY = {"bool": frozenset({"bool"}), "number": _NUMERIC, "text": _TEXTUAL}
_FIXED_FAMILY = {
    c: ("number" if t.split()[0] in ("INTEGER", "REAL") else "text")
    for c, t in FIXED_COLUMNS.items()
}


Criteria = Mapping[str, Any] | Sequence[Sequence[Any]] | None


class RunIndex:
    """The SQLite index of one lake.

    Parameters
    ----------
    path : path-like
        The database file (created if missing, unless ``read_only``).
    read_only : bool
        Open for reading only: nothing is created, locked or written (no ``-wal`` or
        ``-shm`` file either); the connection may be used from several threads. A
        database with a live writer (its ``-wal`` file exists) is read through SQLite's
        ``mode=ro``; otherwise with ``immutable=1``, which needs no lock and works on
        read-only mounts.
    empty_ok : bool
        With ``read_only``, a missing file reads as an empty index (a lake with no runs
        yet) instead of raising.

    Raises
    ------
    IndexVersionError
        If the index was written by a newer opsnn_lake (nothing is changed), or, read
        only, by an older one that must be rebuilt first.
    SchemaError
        If the file is not an SQLite database or not a lake index.
    NotALakeError
        If ``read_only`` and the file does not exist.
    LakeReadOnlyError
        If the index must be written and the process may not write it.
    """

    def __init__(
        self, path: str | Path, *, read_only: bool = False, empty_ok: bool = False
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._types: dict[str, set[str]] | None = None
        self._state: tuple[bool, int, int] | None = None  # file seen by a read-only conn
        self._live = False
        self._db: sqlite3.Connection  # set through the _conn setter below
        try:
            if read_only:
                self._conn = self._connect_read_only(empty_ok=empty_ok)
            else:
                self._conn = sqlite3.connect(self.path, timeout=120.0, isolation_level=None)
                self._conn.execute("PRAGMA busy_timeout = 120000")
                self._create()
        except sqlite3.DatabaseError as err:
            self._close_quietly()
            raise self._explain(err) from None
        except BaseException:
            self._close_quietly()
            raise

    @classmethod
    def in_memory(cls, name: str, snapshot: bytes | None = None) -> RunIndex:
        """An index held in memory: the view of a lake in a bucket.

        Parameters
        ----------
        name : str
            What messages call it (the lake's URL).
        snapshot : bytes, optional
            A serialised index (``serialize()`` of another view) to start from; one
            that cannot be read (damaged, other version) is ignored: the view is
            derived data, rebuilt from the commit records.
        """
        index = cls.__new__(cls)
        index.path = Path(name)
        index.read_only = False
        index._types = None
        index._state = None
        index._live = False
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        if snapshot:
            try:
                conn.deserialize(snapshot)
                if index._check_version(conn) != INDEX_VERSION:
                    raise sqlite3.DatabaseError("another index version")
            except (sqlite3.DatabaseError, LakeError):
                conn.close()
                conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        index._conn = conn
        index._create()
        conn.execute("CREATE TABLE IF NOT EXISTS stamps (run_id TEXT PRIMARY KEY, stamp TEXT)")
        return index

    def serialize(self) -> bytes:
        """The whole database as bytes (what :meth:`in_memory` starts from)."""
        return self._conn.serialize()

    def stamps(self) -> dict[str, str]:
        """run id → stamp of the record each row of an in-memory view came from."""
        return dict(self._conn.execute("SELECT run_id, stamp FROM stamps").fetchall())

    def set_stamps(self, stamps: Mapping[str, str | None]) -> None:
        """Remember (or, with None, forget) the record stamps of rows of a view."""
        with self._write() as conn:
            for run_id, stamp in stamps.items():
                if stamp is None:
                    conn.execute("DELETE FROM stamps WHERE run_id = ?", (run_id,))
                else:
                    conn.execute("INSERT OR REPLACE INTO stamps VALUES (?, ?)", (run_id, stamp))

    def _connect_read_only(self, *, empty_ok: bool) -> sqlite3.Connection:
        if not self.path.is_file():
            if empty_ok:
                conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                for sql in _SCHEMA:
                    conn.execute(sql)
                return conn
            raise NotALakeError(
                f"{self.path}: no lake index; run `opsnn-lake reindex --lake "
                f"{self.path.parent}` to build it from the stores"
            )
        return self._open_file_read_only()

    def _empty_file(self) -> bool:
        try:
            return self.path.stat().st_size == 0
        except OSError:
            return True

    def _file_state(self) -> tuple[bool, int, int]:
        st = self.path.stat()
        return Path(f"{self.path}-wal").exists(), st.st_mtime_ns, st.st_size

    def _open_file_read_only(self) -> sqlite3.Connection:
        uri = self.path.absolute().as_uri()
        # mode=ro with no -wal file would create -wal and -shm (and leave them behind);
        # immutable=1 reads the file as it is, lock-free, and works on read-only mounts.
        # A -wal file means a writer is (or was) at work: its commits are in the WAL,
        # which only mode=ro reads (the writer made -shm, so nothing new is created).
        self._state = self._file_state()
        if self._state[0]:
            conn = sqlite3.connect(
                uri + "?mode=ro", uri=True, timeout=120.0, isolation_level=None,
                check_same_thread=False,
            )  # fmt: skip
            try:
                self._check_version(conn)
                self._live = True
                return conn
            except sqlite3.OperationalError:
                conn.close()  # e.g. a -shm this user may not read: read the file as it is
        conn = sqlite3.connect(
            uri + "?immutable=1", uri=True, isolation_level=None, check_same_thread=False
        )
        self._live = False
        try:
            self._check_version(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._state is None and self.read_only and self._empty_file():
            pass  # still no index: the in-memory empty one stands in
        elif self._state is None and self.read_only:
            try:  # the lake's first run arrived
                new = self._open_file_read_only()
            except (LakeError, sqlite3.DatabaseError):
                self._state = None  # a writer is still creating it: ask again next time
            else:
                self._db.close()
                self._db = new
        elif self.read_only and not self._live:
            # An immutable connection never sees later changes: reopen when a writer
            # has started (a -wal file appeared) or the file changed, so a catalog kept
            # open in a notebook follows the live lake.
            state: tuple[bool, int, int] | None
            try:
                state = self._file_state()
            except OSError:
                state = self._state
            if state != self._state:
                old = self._db
                self._db = self._open_file_read_only()
                old.close()
        return self._db

    @_conn.setter
    def _conn(self, conn: sqlite3.Connection) -> None:
        self._db = conn

    def _explain(self, err: sqlite3.DatabaseError) -> Exception:
        """A DatabaseError as a LakeError saying what is wrong and the right fix."""
        text = str(err)
        lake = self.path.parent
        if "readonly" in text or "unable to open" in text or "read-only" in text:
            return LakeReadOnlyError(
                f"{self.path}: this process cannot write the lake index ({text}). Read the "
                f"lake with Lake({str(lake)!r}, mode='r') (the CLI's ls, analyse, plot and "
                "check do), or run writing commands as a user who may write the lake"
            )
        if "locked" in text or "busy" in text:
            return SchemaError(
                f"{self.path}: the lake index stayed locked by another writer ({text}); "
                "retry when the other sweep or ingest has finished"
            )
        return SchemaError(
            f"{self.path}: not a readable lake index ({text}). The index is derived "
            f"data: move the file away and run `opsnn-lake reindex --lake {lake}` to "
            "rebuild it from the stores"
        )

    def _close_quietly(self) -> None:
        conn = getattr(self, "_db", None)
        if conn is not None:
            conn.close()

    def _check_version(self, conn: sqlite3.Connection) -> int | None:
        """Raise for a newer index; return its version (None if it has none yet)."""
        try:
            found = conn.execute("SELECT value FROM meta WHERE key='index_version'").fetchone()
        except sqlite3.OperationalError:
            if self.read_only:
                raise SchemaError(
                    f"{self.path}: not an OpSNN lake index (no meta table); if the lake "
                    f"has stores, run `opsnn-lake reindex --lake {self.path.parent}`"
                ) from None
            return None
        if found is None:
            if self.read_only:
                raise SchemaError(f"{self.path}: not an OpSNN lake index (no index_version)")
            return None
        try:
            version = int(found[0])
        except ValueError:
            raise SchemaError(f"{self.path}: index_version {found[0]!r} is not a number") from None
        if version > INDEX_VERSION:
            raise IndexVersionError(
                f"{self.path}: index version {version} is newer than this opsnn_lake "
                f"supports ({INDEX_VERSION}); upgrade opsnn_lake (nothing was changed)"
            )
        if version < INDEX_VERSION and self.read_only:
            raise IndexVersionError(
                f"{self.path}: index version {version} predates this opsnn_lake "
                f"({INDEX_VERSION}); open the lake once for writing (`opsnn-lake reindex "
                f"--lake {self.path.parent}`) to upgrade it"
            )
        return version

    def _create(self) -> None:
        with self._write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            version = self._check_version(conn)
            old_rows: list[dict[str, Any]] = []
            if version is not None and version < INDEX_VERSION:
                # Version 1 kept parameters as columns of `runs`: carry its rows over.
                cur = conn.execute("SELECT * FROM runs")
                names = [d[0] for d in cur.description]
                for values in cur:
                    old = dict(zip(names, values, strict=True))
                    old_rows.append(
                        {k: v for k, v in old.items() if k in FIXED_COLUMNS or v is not None}
                    )
                conn.execute("DROP TABLE runs")
                conn.execute("DELETE FROM run_inputs")
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('index_version', ?)", (str(INDEX_VERSION),)
            )
            for sql in _SCHEMA:
                conn.execute(sql)
            if old_rows:
                self._insert_rows(conn, old_rows, replace=True)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL is safe against crashed or killed processes (what the lake
        # promises; see docs/decisions.md) and spares an fsync on every registered run.
        self._conn.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise PermissionError(f"{self.path}: index opened read-only")
        # BEGIN IMMEDIATE takes the write lock up front, so concurrent writers queue
        # instead of failing half-way with "database is locked".
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.OperationalError as err:
            raise self._write_failed(err) from None
        finally:
            self._types = None

    def _write_failed(self, err: sqlite3.OperationalError) -> Exception:
        text = str(err)
        if "full" in text or "I/O" in text:
            failure = LakeWriteError(
                f"{self.path}: writing the lake index failed ({text}); nothing was "
                "registered. Free disk space (or raise the file-size limit) and retry; "
                f"`opsnn-lake check --repair --lake {self.path.parent}` registers stores "
                "left without a row"
            )
            failure.errno = 28 if "full" in text else 5
            return failure
        return self._explain(err)

    def prepare(self, row: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Check that ``row`` can be written; return its ``params`` rows.

        Raises
        ------
        SchemaError
            Naming the run and the column or parameter that the index cannot hold.
        """
        run_id = row.get("run_id")
        for col, type_ in FIXED_COLUMNS.items():
            value = row.get(col)
            if value is None:
                continue
            bad = (
                not isinstance(value, int | float) or isinstance(value, bool)
                if type_.startswith(("INTEGER", "REAL"))
                else not isinstance(value, str)
            )
            if not bad and isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
                bad = True
            if not bad and isinstance(value, str):
                bad = not _encodable(value)
            if bad:
                raise SchemaError(
                    f"run {run_id!r}: the index cannot hold {col}={value!r} "
                    f"(column type {type_.split()[0]}); nothing was written"
                )
        params = []
        for col, value in row.items():
            if not col.startswith(PARAM_PREFIX):
                continue
            name = col[len(PARAM_PREFIX) :]
            encoded = encode_value(value)
            if not _encodable(name) or (isinstance(encoded[1], str) and not _encodable(encoded[1])):
                raise SchemaError(
                    f"run {run_id!r}: parameter {name!r} holds a lone surrogate, which the "
                    "index cannot store; nothing was written"
                )
            params.append((run_id, name, *encoded))
        return params

    def columns(self, *, refresh: bool = False) -> set[str]:
        """Names a row may have: the fixed columns and ``p.<name>`` per parameter."""
        return set(FIXED_COLUMNS) | {PARAM_PREFIX + n for n in self.param_types(refresh=refresh)}

    def param_types(self, *, refresh: bool = True) -> dict[str, set[str]]:
        """Every parameter name some run has → the value types it holds, first-seen order."""
        if self._types is None or refresh:
            types: dict[str, set[str]] = {}
            for name, type_ in self._conn.execute(
                "SELECT name, type FROM param_types ORDER BY rowid"
            ):
                types.setdefault(name, set()).add(type_)
            self._types = types
        return self._types

    def parameter_names(self) -> list[str]:
        """Names of every parameter some run has (nested ones dotted), sorted."""
        return sorted(self.param_types())

    # ------------------------------------------------------------------ writing

    def insert(self, rows: Iterable[Mapping[str, Any]], *, replace: bool = False) -> int:
        """Insert rows in one transaction.

        Parameters
        ----------
        rows : iterable of mapping
            Rows as :func:`row_from_attrs` makes them.
        replace : bool
            Replace the row of a run id already indexed (default: keep it).

        Returns
        -------
        int
            The number of rows inserted.

        Raises
        ------
        SchemaError
            If a row cannot be written (nothing of the transaction is kept).
        """
        with self._write() as conn:
            return self._insert_rows(conn, rows, replace=replace)

    def _insert_rows(
        self, conn: sqlite3.Connection, rows: Iterable[Mapping[str, Any]], *, replace: bool
    ) -> int:
        n = 0
        fixed = list(FIXED_COLUMNS)
        sql = f"INSERT INTO runs ({', '.join(_quote(c) for c in fixed)}) VALUES " + (
            "(" + ", ".join("?" for _ in fixed) + ")"
        )
        for row in rows:
            run_id = row["run_id"]
            params = self.prepare(row)
            try:
                old = conn.execute("SELECT rowid FROM runs WHERE run_id = ?", (run_id,)).fetchone()
                if old is not None:
                    if not replace:
                        continue  # already indexed, kept
                    conn.execute("DELETE FROM params WHERE rid = ?", old)
                    conn.execute("DELETE FROM runs WHERE rowid = ?", old)
                    conn.execute("DELETE FROM run_inputs WHERE run_id = ?", (run_id,))
                cur = conn.execute(sql, [row.get(c) for c in fixed])
                n += 1
                rid = cur.lastrowid
                conn.executemany(
                    "INSERT INTO params VALUES (?, ?, ?, ?, ?)", [(rid, *p[1:]) for p in params]
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO param_types (name, type) VALUES (?, ?)",
                    [(p[1], p[2]) for p in params],
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO run_inputs VALUES (?, ?)",
                    [(run_id, i) for i in json.loads(row.get("inputs") or "[]")],
                )
            except (
                sqlite3.InterfaceError,
                sqlite3.IntegrityError,
                OverflowError,
                UnicodeEncodeError,
                ValueError,
            ) as err:
                raise SchemaError(
                    f"{self.path}: cannot index run {run_id!r}: {err}. Provenance should "
                    "have refused this value; please report it (the store is kept and "
                    "`opsnn-lake check --repair` indexes it once fixed)"
                ) from None
        return n

    def delete(self, run_ids: Iterable[str]) -> None:
        """Remove rows (used by ``check --repair`` for rows whose store is gone)."""
        ids = [(i,) for i in run_ids]
        with self._write() as conn:
            conn.executemany(
                "DELETE FROM params WHERE rid IN (SELECT rowid FROM runs WHERE run_id = ?)", ids
            )
            for table in ("runs", "run_inputs"):
                conn.executemany(f"DELETE FROM {table} WHERE run_id = ?", ids)

    def replace_all(
        self, rows: Iterable[Mapping[str, Any]] | Callable[[], Iterable[Mapping[str, Any]]]
    ) -> int:
        """Recreate the index from ``rows`` in one transaction.

        Readers see the old index or the new one. ``rows`` may be a callable, called
        while the write lock is held (so no writer can register a run in between).

        Returns
        -------
        int
            The number of rows in the new index.
        """
        with self._write() as conn:
            for table in ("runs", "params", "param_types", "run_inputs"):
                conn.execute(f"DELETE FROM {table}")
            return self._insert_rows(conn, rows() if callable(rows) else rows, replace=True)

    # ------------------------------------------------------------------ reading

    def __contains__(self, run_id: object) -> bool:
        sql = "SELECT 1 FROM runs WHERE run_id = ? LIMIT 1"
        return self._conn.execute(sql, (run_id,)).fetchone() is not None

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def run_ids(self, criteria: Criteria = None) -> list[str]:
        """Run ids matching ``criteria`` (all by default), sorted."""
        clause, args = self.where(criteria)
        sql = f"SELECT run_id FROM runs WHERE {clause} ORDER BY run_id"
        return [r[0] for r in self._conn.execute(sql, args)]

    def _params_of(self, clause: str, args: list[Any]) -> dict[str, dict[str, Any]]:
        """run id → {``p.<name>``: value} for the runs matching a WHERE clause."""
        out: dict[str, dict[str, Any]] = {}
        sql = (
            "SELECT r.run_id, p.name, p.type, p.value, p.exact FROM params p "
            "JOIN runs r ON r.rowid = p.rid "
            f"WHERE p.rid IN (SELECT rowid FROM runs WHERE {clause})"
        )
        for run_id, name, type_, value, exact in self._conn.execute(sql, args):
            out.setdefault(run_id, {})[PARAM_PREFIX + name] = _decode_value(type_, value, exact)
        return out

    def get(self, run_id: str, criteria: Criteria = None) -> dict[str, Any] | None:
        """One row as a dict (``p.<name>`` per parameter), or None if absent or not matching."""
        clause, args = self.where(criteria)
        clause = f"run_id = ? AND {clause}"
        cur = self._conn.execute(f"SELECT * FROM runs WHERE {clause}", [run_id, *args])
        found = cur.fetchone()
        if found is None:
            return None
        row = dict(zip([d[0] for d in cur.description], found, strict=True))
        row.update(self._params_of(clause, [run_id, *args]).get(run_id, {}))
        return row

    def rows(self, criteria: Criteria = None) -> Iterator[dict[str, Any]]:
        """Matching rows as dicts (``p.<name>`` per parameter), sorted by run id."""
        clause, args = self.where(criteria)
        params = self._params_of(clause, args)
        cur = self._conn.execute(f"SELECT * FROM runs WHERE {clause} ORDER BY run_id", args)
        names = [d[0] for d in cur.description]
        for values in cur:
            row = dict(zip(names, values, strict=True))
            row.update(params.get(row["run_id"], {}))
            yield row

    @staticmethod
    def public_row(row: Mapping[str, Any]) -> dict[str, Any]:
        """A raw row with bare parameter names, missing parameters dropped, inputs decoded."""
        out: dict[str, Any] = {}
        for col, value in row.items():
            if col.startswith(PARAM_PREFIX):
                if value is None:
                    continue
                bare = col[len(PARAM_PREFIX) :]
                out[col if bare in FIXED_COLUMNS else bare] = value
            elif col == "inputs":
                out[col] = json.loads(value or "[]")
            else:
                out[col] = value
        return out

    def column_for(self, key: str) -> str:
        """Column of a search key: a fixed column, else ``p.<name>`` of a parameter.

        Accepts ``a.b`` and ``a__b`` for nested parameters, and ``p.<name>`` for a
        parameter whose name is also a fixed column's (``p.seed``).

        Raises
        ------
        SchemaError
            If no run has such a column; the message lists the known names.
        """
        if key in FIXED_COLUMNS:
            return key
        types = self.param_types()
        candidates = [key, key.replace("__", ".")]
        if key.startswith(PARAM_PREFIX):
            candidates.insert(1, key[len(PARAM_PREFIX) :])
        for name in candidates:
            if name in types:
                return PARAM_PREFIX + name
        if key == "input":
            return "input"
        known = sorted(FIXED_COLUMNS) + sorted(types)
        shown = ", ".join(known[:60]) + (f", … ({len(known) - 60} more)" if len(known) > 60 else "")
        raise InvalidArgumentError(f"search: no column or parameter {key!r}; known: {shown}")

    def _check_type(self, key: str, column: str, op: str, value: Any) -> None:
        """Refuse a value no run's ``column`` can equal (``g_inh="51"`` on numbers)."""
        if op in ("null", "input", "contains"):
            return
        values = [v for v in (value if op in ("range", "in") else [value]) if v is not None]
        if op == "range" and any(isinstance(v, bool) for v in values):
            raise InvalidArgumentError(
                f"search: range bounds for {key!r} must be numbers or strings, got "
                f"{value!r}; give e.g. {key}=(40, 60)"
            )
        if column in FIXED_COLUMNS:
            has = {_FIXED_FAMILY[column]}
        else:
            held = self.param_types()[column[len(PARAM_PREFIX) :]] - {"null"}
            has = {fam for fam, types in _FAMILY.items() if held & types}
        for v in values:
            if _kind(v) not in has and has:
                what = " or ".join(
                    sorted(
                        {"bool": "booleans", "number": "numbers", "text": "strings"}[h] for h in has
                    )
                )
                hint = {"number": f"{key}=51", "text": f"{key}='abc'", "bool": f"{key}=True"}
                raise InvalidArgumentError(
                    f"search: {key!r} holds {what}, got {v!r} ({type(v).__name__}); no run "
                    f"could match. Give a value of that type, e.g. "
                    f"{' or '.join(hint[h] for h in sorted(has))}"
                )

    def terms(self, criteria: Criteria) -> list[list[Any]]:
        """``criteria`` (a mapping or terms) as checked terms whose keys all resolve."""
        if criteria is None:
            return []
        terms = (
            criteria_terms(criteria)
            if isinstance(criteria, Mapping)
            else [list(t) for t in criteria]
        )
        for term in terms:
            if len(term) != 3 or term[1] not in OPS:
                raise InvalidArgumentError(
                    f"search: term {term!r} must be [key, op, value], op in {OPS}"
                )
            if term[1] not in ("input", "contains"):
                self._check_type(term[0], self.column_for(term[0]), term[1], term[2])
        return terms

    def where(self, criteria: Criteria) -> tuple[str, list[Any]]:
        """SQL ``WHERE`` clause (on table ``runs``) and arguments for search criteria.

        ``criteria`` is a mapping (see :func:`criteria_terms`: a value matches by
        equality; a 2-tuple ``(lo, hi)`` is an inclusive range, ``None`` leaving a side
        open; a list or set matches any of its values; ``None`` matches missing
        values; ``input=<run id>`` matches runs driven by it) or a list of terms.
        """
        clauses: list[str] = []
        args: list[Any] = []
        for key, op, value in self.terms(criteria):
            if op == "input":
                marks = ", ".join("?" for _ in value)
                clauses.append(
                    f"run_id IN (SELECT run_id FROM run_inputs WHERE input_id IN ({marks}))"
                )
                args.extend(value)
                continue
            if op == "contains":
                clauses.append("instr(run_id, ?) > 0")
                args.append(str(value))
                continue
            column = self.column_for(key)
            if column in FIXED_COLUMNS:
                clause, more = _fixed_clause(_quote(column), op, value)
            else:
                clause, more = _param_clause(column[len(PARAM_PREFIX) :], op, value)
            clauses.append(clause)
            args.extend(more)
        return (" AND ".join(clauses) or "1"), args

    def search(
        self,
        criteria: Criteria = None,
        *,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Rows matching ``criteria`` (see :meth:`where`) as a DataFrame indexed by run id.

        Parameter columns carry their bare names (``g_inh``, ``stim.rate``; ``p.seed``
        for a parameter named as a fixed column), in first-seen order; parameters that
        none of the selected runs has are left out.
        """
        import pandas as pd

        clause, args = self.where(criteria)
        if limit is not None:
            clause = (
                f"run_id IN (SELECT run_id FROM runs WHERE {clause} "
                f"ORDER BY run_id LIMIT {int(limit)})"
            )
        frame = pd.read_sql_query(
            f"SELECT rowid AS _rid, * FROM runs WHERE {clause} ORDER BY run_id",
            self._conn,
            params=args,
        ).set_index("run_id")
        rids = frame.pop("_rid")
        types = self.param_types()
        if len(types) <= 500:
            params = self._pivot_sql(types, clause, args, rids)
        else:  # too many names for one SELECT list: pivot in Python
            params = self._pivot_python(clause, args, rids)
        rank = {n: i for i, n in enumerate(types)}
        names = sorted(params, key=lambda n: rank.get(n, len(rank)))
        if names:
            renamed = {n: PARAM_PREFIX + n if n in FIXED_COLUMNS else n for n in names}
            frame = pd.concat([frame, params[names].rename(columns=renamed)], axis=1)
        return frame

    def _pivot_sql(
        self, types: Mapping[str, set[str]], clause: str, args: list[Any], rids: pd.Series
    ) -> pd.DataFrame:
        """Parameter columns of the selected runs, pivoted by SQLite (fast, ≤ 500 names)."""
        import pandas as pd

        names = list(types)
        select, select_args = ["rid"], []
        for i, name in enumerate(names):
            select.append(f"MAX(CASE WHEN name = ? THEN value END) AS v{i}")
            select_args.append(name)
            if "int" in types[name]:
                select.append(f"MAX(CASE WHEN name = ? THEN exact END) AS e{i}")
                select_args.append(name)
        wide = pd.read_sql_query(
            f"SELECT {', '.join(select)} FROM params WHERE type != 'null' AND "
            f"rid IN (SELECT rowid FROM runs WHERE {clause}) GROUP BY rid",
            self._conn,
            params=[*select_args, *args],
        ).set_index("rid")
        wide = wide.reindex(rids.to_numpy())
        out = {}
        for i, name in enumerate(names):
            column = wide[f"v{i}"]
            if column.isna().all():
                continue  # no selected run has it
            if f"e{i}" in wide and wide[f"e{i}"].notna().any():
                exact = wide[f"e{i}"]
                column = column.astype(object).where(exact.isna(), exact.map(_int_or_none))
            if "bool" in types[name]:
                # type 'bool' rows hold 0/1; give them back as bools
                flags = self._bool_rids(name)
                mask = wide.index.isin(flags) & column.notna().to_numpy()
                if mask.any():
                    column = column.astype(object)
                    column[mask] = column[mask].astype(bool)
            out[name] = column.set_axis(rids.index)
        return pd.DataFrame(out, index=rids.index)

    def _bool_rids(self, name: str) -> list[int]:
        sql = "SELECT rid FROM params WHERE name = ? AND type = 'bool'"
        return [r[0] for r in self._conn.execute(sql, (name,))]

    def _pivot_python(self, clause: str, args: list[Any], rids: pd.Series) -> pd.DataFrame:
        """Parameter columns of the selected runs, pivoted row by row (any number of names)."""
        import pandas as pd

        position = dict(zip(rids.tolist(), range(len(rids)), strict=True))
        columns: dict[str, list[Any]] = {}
        sql = (
            "SELECT rid, name, type, value, exact FROM params "
            f"WHERE rid IN (SELECT rowid FROM runs WHERE {clause}) AND type != 'null'"
        )
        for rid, name, type_, value, exact in self._conn.execute(sql, args):
            column = columns.get(name)
            if column is None:
                column = columns[name] = [None] * len(rids)
            column[position[rid]] = _decode_value(type_, value, exact)
        # pandas infers each column's dtype as read_sql would (floats with NaN…)
        return pd.DataFrame(
            {n: pd.Series(c, index=rids.index) for n, c in columns.items()}, index=rids.index
        )

    def count(self, criteria: Criteria = None) -> int:
        """Number of rows matching ``criteria``."""
        clause, args = self.where(criteria)
        return int(
            self._conn.execute(f"SELECT COUNT(*) FROM runs WHERE {clause}", args).fetchone()[0]
        )


def _fixed_clause(col: str, op: str, value: Any) -> tuple[str, list[Any]]:
    if op == "null":
        return f"{col} IS NULL", []
    if op == "range":
        lo, hi = value
        parts, args = [f"{col} IS NOT NULL"], []
        if lo is not None:
            parts.append(f"{col} >= ?")
            args.append(lo)
        if hi is not None:
            parts.append(f"{col} <= ?")
            args.append(hi)
        return " AND ".join(parts), args
    values = value if op == "in" else [value]
    return f"{col} IN ({', '.join('?' for _ in values)})", [_sql_value(v) for v in values]


def _match_groups(values: Sequence[Any]) -> list[tuple[str, list[Any]]]:
    """Conditions on ``params`` rows equal to any of ``values``, one per type family.

    Values are grouped so each condition is ``type IN (...) AND value IN (...)``, which
    SQLite answers from the (name, type, value) index instead of scanning every row of
    the parameter.
    """
    groups: dict[str, list[Any]] = {}
    for v in values:
        if isinstance(v, bool):
            groups.setdefault("type = 'bool' AND value", []).append(int(v))
        elif isinstance(v, int) and not INT64_MIN <= v <= INT64_MAX:
            groups.setdefault("type = 'int' AND exact", []).append(str(v))
        elif isinstance(v, int | float):
            groups.setdefault("type IN ('int', 'real') AND value", []).append(v)
        else:
            groups.setdefault("type IN ('text', 'json') AND value", []).append(_sql_value(v))
    return [
        (f"{head} {'= ?' if len(vs) == 1 else 'IN (' + ', '.join('?' for _ in vs) + ')'}", vs)
        for head, vs in groups.items()
    ]


def _bound(value: Any) -> Any:
    # Beyond 64 bits a range compares float approximations (``value`` holds those).
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        return _approx(value)
    return value


def _param_clause(name: str, op: str, value: Any) -> tuple[str, list[Any]]:
    sub = "rowid IN (SELECT rid FROM params WHERE name = ? AND {})"
    if op == "null":  # missing, or stored as JSON null
        return "rowid NOT IN (SELECT rid FROM params WHERE name = ? AND type != 'null')", [name]
    if op == "range":
        lo, hi = value
        numeric = any(isinstance(v, int | float) for v in (lo, hi))
        parts = ["type IN ('int', 'real')" if numeric else "type = 'text'"]
        args: list[Any] = [name]
        if lo is not None:
            parts.append("value >= ?")
            args.append(_bound(lo))
        if hi is not None:
            parts.append("value <= ?")
            args.append(_bound(hi))
        if lo is None and hi is None:
            parts = ["type != 'null'"]
        return sub.format(" AND ".join(parts)), args
    values = value if op == "in" else [value]
    if not values:
        return "0", []
    clauses, args = [], []
    for cond, more in _match_groups(values):
        clauses.append(sub.format(cond))
        args.extend([name, *more])
    return "(" + " OR ".join(clauses) + ")", args
