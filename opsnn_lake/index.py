"""The lake's run index: one SQLite row per run, every parameter a column of its own.

The stores are the source of truth; the index is derived from them (:func:`row_from_attrs`)
and can be rebuilt at any time. SQLite gives transactions and safe concurrent writers
(WAL journal, ``BEGIN IMMEDIATE``, a generous busy timeout); a new parameter name adds
a column inside the same transaction as the row that brings it. Readers (the intake
catalog) open the database read-only and never take the write lock.

Parameter columns are named ``p.<name>`` (nested parameters flattened with dots:
``p.stim.rate``); :meth:`RunIndex.search` and the DataFrames it returns use the bare
names wherever they do not clash with a fixed column.

Search criteria are keyword → value pairs (see :meth:`RunIndex.where`). They are turned
into *terms*, ``[key, op, value]`` lists of plain JSON values, so a narrowed catalog can
be pickled, written to YAML and sent to dask workers.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsnn_lake.errors import IndexVersionError, NotALakeError, SchemaError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FIXED_COLUMNS",
    "INDEX_VERSION",
    "OPS",
    "RunIndex",
    "criteria_terms",
    "flatten",
    "row_from_attrs",
]

INDEX_VERSION = 1
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
        row[PARAM_PREFIX + key] = _sql_value(value)
    return row


def _check_scalar(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise SchemaError(
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
            raise SchemaError(f"search: criterion name {key!r} must be a non-empty string")
        if key == "input":
            values = list(value) if isinstance(value, list | set | frozenset | tuple) else [value]
            terms.append([key, "input", [_check_scalar(key, v) for v in values]])
        elif value is None:
            terms.append([key, "null", None])
        elif isinstance(value, tuple):
            if len(value) != 2:
                raise SchemaError(f"search: range for {key!r} must be (low, high), got {value!r}")
            terms.append([key, "range", [_check_scalar(key, v) for v in value]])
        elif isinstance(value, list | set | frozenset):
            terms.append([key, "in", [_check_scalar(key, v) for v in value]])
        else:
            terms.append([key, "eq", _check_scalar(key, value)])
    return terms


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


Criteria = Mapping[str, Any] | Sequence[Sequence[Any]] | None


class RunIndex:
    """The SQLite index of one lake.

    Parameters
    ----------
    path : path-like
        The database file (created if missing, unless ``read_only``).
    read_only : bool
        Open for reading only (the intake catalog): nothing is created or locked for
        writing; the connection may be used from several threads.

    Raises
    ------
    IndexVersionError
        If the index was written by a newer opsnn_lake (nothing is changed).
    SchemaError
        If the file is not an SQLite database or not a lake index.
    NotALakeError
        If ``read_only`` and the file does not exist.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._columns: set[str] | None = None
        try:
            if read_only:
                if not self.path.is_file():
                    raise NotALakeError(
                        f"{self.path}: no lake index; run `opsnn-lake reindex --lake "
                        f"{self.path.parent}` to build it from the stores"
                    )
                uri = self.path.absolute().as_uri() + "?mode=ro"
                self._conn = sqlite3.connect(
                    uri, uri=True, timeout=120.0, isolation_level=None, check_same_thread=False
                )
                self._check_version(self._conn)
            else:
                self._conn = sqlite3.connect(self.path, timeout=120.0, isolation_level=None)
                self._conn.execute("PRAGMA busy_timeout = 120000")
                self._create()
        except sqlite3.DatabaseError as err:
            self._close_quietly()
            raise SchemaError(
                f"{self.path}: not a readable lake index ({err}). The index is derived data: "
                "move the file away and run `opsnn-lake reindex` to rebuild it from the stores"
            ) from None
        except BaseException:
            self._close_quietly()
            raise

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()

    def _check_version(self, conn: sqlite3.Connection) -> bool:
        """Raise for a newer index; return False if the index has no version yet."""
        try:
            found = conn.execute("SELECT value FROM meta WHERE key='index_version'").fetchone()
        except sqlite3.OperationalError:
            if self.read_only:
                raise SchemaError(f"{self.path}: not an OpSNN lake index (no meta table)") from None
            return False
        if found is None:
            if self.read_only:
                raise SchemaError(f"{self.path}: not an OpSNN lake index (no index_version)")
            return False
        try:
            version = int(found[0])
        except ValueError:
            raise SchemaError(f"{self.path}: index_version {found[0]!r} is not a number") from None
        if version > INDEX_VERSION:
            raise IndexVersionError(
                f"{self.path}: index version {version} is newer than this opsnn_lake "
                f"supports ({INDEX_VERSION}); upgrade opsnn_lake (nothing was changed)"
            )
        return True

    def _create(self) -> None:
        with self._write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            if not self._check_version(conn):
                conn.execute("INSERT INTO meta VALUES ('index_version', ?)", (str(INDEX_VERSION),))
            cols = ", ".join(f"{_quote(c)} {t}" for c, t in FIXED_COLUMNS.items())
            conn.execute(f"CREATE TABLE IF NOT EXISTS runs ({cols})")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS run_inputs (run_id TEXT, input_id TEXT, "
                "PRIMARY KEY (run_id, input_id))"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS run_inputs_input ON run_inputs (input_id)")
        self._conn.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL is safe against crashed or killed processes (what the lake
        # promises; see docs/decisions.md) and spares an fsync on every registered run.
        self._conn.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise PermissionError(f"{self.path}: index opened read-only")
        # BEGIN IMMEDIATE takes the write lock up front, so concurrent writers queue
        # instead of failing half-way with "database is locked".
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def columns(self, *, refresh: bool = False) -> set[str]:
        """Column names of the runs table."""
        if self._columns is None or refresh:
            rows = self._conn.execute("PRAGMA table_info(runs)").fetchall()
            self._columns = {r[1] for r in rows}
        return self._columns

    def parameter_names(self) -> list[str]:
        """Names of every parameter some run has (nested ones dotted), sorted."""
        n = len(PARAM_PREFIX)
        return sorted(c[n:] for c in self.columns(refresh=True) if c.startswith(PARAM_PREFIX))

    # ------------------------------------------------------------------ writing

    def insert(self, rows: Iterable[Mapping[str, Any]], *, replace: bool = False) -> int:
        """Insert rows in one transaction, adding parameter columns as needed.

        Returns
        -------
        int
            The number of rows inserted (an existing run id is kept unless ``replace``).
        """
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self._write() as conn:
            return self._insert_rows(conn, rows, verb)

    def _insert_rows(
        self, conn: sqlite3.Connection, rows: Iterable[Mapping[str, Any]], verb: str
    ) -> int:
        n = 0
        existing = self.columns(refresh=True)
        for row in rows:
            for col in row:
                if col not in existing:
                    conn.execute(f"ALTER TABLE runs ADD COLUMN {_quote(col)}")
                    existing.add(col)
            names = ", ".join(_quote(c) for c in row)
            marks = ", ".join("?" for _ in row)
            cur = conn.execute(f"{verb} INTO runs ({names}) VALUES ({marks})", list(row.values()))
            n += cur.rowcount
            for input_id in json.loads(row.get("inputs") or "[]"):
                conn.execute(
                    "INSERT OR IGNORE INTO run_inputs VALUES (?, ?)", (row["run_id"], input_id)
                )
        return n

    def delete(self, run_ids: Iterable[str]) -> None:
        """Remove rows (used by ``check --repair`` for rows whose store is gone)."""
        ids = list(run_ids)
        with self._write() as conn:
            conn.executemany("DELETE FROM runs WHERE run_id = ?", [(i,) for i in ids])
            conn.executemany("DELETE FROM run_inputs WHERE run_id = ?", [(i,) for i in ids])

    def replace_all(
        self, rows: Iterable[Mapping[str, Any]] | Callable[[], Iterable[Mapping[str, Any]]]
    ) -> int:
        """Recreate the runs table from ``rows`` in one transaction.

        Readers see the old index or the new one. ``rows`` may be a callable, called
        while the write lock is held (so no writer can register a run in between).

        Returns
        -------
        int
            The number of rows in the new index.
        """
        with self._write() as conn:
            conn.execute("DROP TABLE IF EXISTS runs")
            conn.execute("DELETE FROM run_inputs")
            cols = ", ".join(f"{_quote(c)} {t}" for c, t in FIXED_COLUMNS.items())
            conn.execute(f"CREATE TABLE runs ({cols})")
            self._columns = None
            return self._insert_rows(conn, rows() if callable(rows) else rows, "INSERT OR REPLACE")

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

    def get(self, run_id: str, criteria: Criteria = None) -> dict[str, Any] | None:
        """One row as a dict (raw column names), or None if absent or not matching."""
        clause, args = self.where(criteria)
        cur = self._conn.execute(
            f"SELECT * FROM runs WHERE run_id = ? AND {clause}", [run_id, *args]
        )
        row = cur.fetchone()
        return None if row is None else dict(zip([d[0] for d in cur.description], row, strict=True))

    def rows(self, criteria: Criteria = None) -> Iterator[dict[str, Any]]:
        """Matching rows as dicts (raw column names), sorted by run id, streamed."""
        clause, args = self.where(criteria)
        cur = self._conn.execute(f"SELECT * FROM runs WHERE {clause} ORDER BY run_id", args)
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row, strict=True))

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
        """Column of a search key: a fixed column, else the parameter ``key``.

        Accepts ``a.b`` and ``a__b`` for nested parameters.

        Raises
        ------
        SchemaError
            If no run has such a column; the message lists the known names.
        """
        cols = self.columns(refresh=True)
        for candidate in (key, PARAM_PREFIX + key, PARAM_PREFIX + key.replace("__", ".")):
            if candidate in cols:
                return candidate
        if key == "input":
            return "input"
        known = sorted(FIXED_COLUMNS) + self.parameter_names()
        raise SchemaError(f"search: no column or parameter {key!r}; known: {', '.join(known)}")

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
                raise SchemaError(f"search: term {term!r} must be [key, op, value], op in {OPS}")
            if term[1] not in ("input", "contains"):
                self.column_for(term[0])
        return terms

    def where(self, criteria: Criteria) -> tuple[str, list[Any]]:
        """SQL ``WHERE`` clause and arguments for search criteria.

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
            col = _quote(self.column_for(key))
            if op == "null":
                clauses.append(f"{col} IS NULL")
            elif op == "range":
                lo, hi = value
                if lo is None and hi is None:
                    clauses.append(f"{col} IS NOT NULL")
                if lo is not None:
                    clauses.append(f"{col} >= ?")
                    args.append(lo)
                if hi is not None:
                    clauses.append(f"{col} <= ?")
                    args.append(hi)
            elif op == "in":
                clauses.append(f"{col} IN ({', '.join('?' for _ in value)})")
                args.extend(_sql_value(v) for v in value)
            else:
                clauses.append(f"{col} = ?")
                args.append(_sql_value(value))
        return (" AND ".join(clauses) or "1"), args

    def search(
        self,
        criteria: Criteria = None,
        *,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Rows matching ``criteria`` (see :meth:`where`) as a DataFrame indexed by run id.

        Parameter columns carry their bare names (``g_inh``, ``stim.rate``); parameters
        that none of the selected runs has are left out.
        """
        import pandas as pd

        clause, args = self.where(criteria)
        sql = f"SELECT * FROM runs WHERE {clause} ORDER BY run_id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        frame = pd.read_sql_query(sql, self._conn, params=args)
        renames = {
            c: c[len(PARAM_PREFIX) :]
            for c in frame.columns
            if c.startswith(PARAM_PREFIX) and c[len(PARAM_PREFIX) :] not in FIXED_COLUMNS
        }
        # Parameters no selected run has are noise in a narrow search.
        empty = [c for c in frame.columns if c.startswith(PARAM_PREFIX) and frame[c].isna().all()]
        return frame.drop(columns=empty).rename(columns=renames).set_index("run_id")

    def count(self, criteria: Criteria = None) -> int:
        """Number of rows matching ``criteria``."""
        clause, args = self.where(criteria)
        return int(
            self._conn.execute(f"SELECT COUNT(*) FROM runs WHERE {clause}", args).fetchone()[0]
        )
