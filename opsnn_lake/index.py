"""The lake's run index: one SQLite row per run, every parameter a column of its own.

The stores are the source of truth; the index is derived from them (:func:`row_from_attrs`)
and can be rebuilt at any time. SQLite gives transactions and safe concurrent writers
(WAL journal, ``BEGIN IMMEDIATE``, a generous busy timeout); a new parameter name adds
a column inside the same transaction as the row that brings it.

Parameter columns are named ``p.<name>`` (nested parameters flattened with dots:
``p.stim.rate``); :meth:`RunIndex.search` and the DataFrames it returns use the bare
names wherever they do not clash with a fixed column.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from opsnn_lake.errors import IndexVersionError, SchemaError

__all__ = ["INDEX_VERSION", "RunIndex", "flatten", "row_from_attrs"]

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


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class RunIndex:
    """The SQLite index of one lake.

    Parameters
    ----------
    path : path-like
        The database file (created if missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn = sqlite3.connect(self.path, timeout=120.0, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout = 120000")
        self._columns: set[str] | None = None
        with self._write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            found = conn.execute("SELECT value FROM meta WHERE key='index_version'").fetchone()
            if found is None:
                conn.execute("INSERT INTO meta VALUES ('index_version', ?)", (str(INDEX_VERSION),))
            elif int(found[0]) > INDEX_VERSION:
                raise IndexVersionError(
                    f"{self.path}: index version {found[0]} is newer than this opsnn_lake "
                    f"supports ({INDEX_VERSION}); upgrade opsnn_lake (nothing was changed)"
                )
            cols = ", ".join(f"{_quote(c)} {t}" for c, t in FIXED_COLUMNS.items())
            conn.execute(f"CREATE TABLE IF NOT EXISTS runs ({cols})")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS run_inputs (run_id TEXT, input_id TEXT, "
                "PRIMARY KEY (run_id, input_id))"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS run_inputs_input ON run_inputs (input_id)")
        self._conn.execute("PRAGMA journal_mode=WAL")

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
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

    def replace_all(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Replace every row in one transaction (readers see the old or the new index)."""
        with self._write() as conn:
            conn.execute("DELETE FROM runs")
            conn.execute("DELETE FROM run_inputs")
            self._insert_rows(conn, rows, "INSERT OR REPLACE")

    def __contains__(self, run_id: object) -> bool:
        sql = "SELECT 1 FROM runs WHERE run_id = ? LIMIT 1"
        return self._conn.execute(sql, (run_id,)).fetchone() is not None

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def run_ids(self) -> list[str]:
        """All run ids, sorted."""
        return [r[0] for r in self._conn.execute("SELECT run_id FROM runs ORDER BY run_id")]

    def get(self, run_id: str) -> dict[str, Any] | None:
        """One row as a dict, or None."""
        cur = self._conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        row = cur.fetchone()
        return None if row is None else dict(zip([d[0] for d in cur.description], row, strict=True))

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
        known = sorted(FIXED_COLUMNS) + sorted(
            c[len(PARAM_PREFIX) :] for c in cols if c.startswith(PARAM_PREFIX)
        )
        raise SchemaError(f"search: no column or parameter {key!r}; known: {', '.join(known)}")

    def where(self, criteria: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """SQL ``WHERE`` clause and arguments for search criteria.

        A value matches by equality; a 2-tuple ``(lo, hi)`` is an inclusive range
        (``None`` leaves a side open); a list or set matches any of its values;
        ``None`` matches missing values; ``input=<run id>`` matches runs driven by it.
        """
        clauses, args = [], []
        for key, value in criteria.items():
            col = self.column_for(key)
            if col == "input":
                values = value if isinstance(value, list | set | frozenset) else [value]
                marks = ", ".join("?" for _ in values)
                clauses.append(
                    f"run_id IN (SELECT run_id FROM run_inputs WHERE input_id IN ({marks}))"
                )
                args.extend(values)
            elif value is None:
                clauses.append(f"{_quote(col)} IS NULL")
            elif isinstance(value, tuple):
                if len(value) != 2:
                    raise SchemaError(
                        f"search: range for {key!r} must be (low, high), got {value!r}"
                    )
                lo, hi = value
                if lo is not None:
                    clauses.append(f"{_quote(col)} >= ?")
                    args.append(lo)
                if hi is not None:
                    clauses.append(f"{_quote(col)} <= ?")
                    args.append(hi)
            elif isinstance(value, list | set | frozenset):
                values = list(value)
                clauses.append(f"{_quote(col)} IN ({', '.join('?' for _ in values)})")
                args.extend(_sql_value(v) for v in values)
            else:
                clauses.append(f"{_quote(col)} = ?")
                args.append(_sql_value(value))
        return (" AND ".join(clauses) or "1"), args

    def search(
        self, criteria: Mapping[str, Any] | None = None, *, limit: int | None = None
    ) -> pd.DataFrame:
        """Rows matching ``criteria`` (see :meth:`where`) as a DataFrame indexed by run id."""
        clause, args = self.where(criteria or {})
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

    def count(self, criteria: Mapping[str, Any] | None = None) -> int:
        """Number of rows matching ``criteria``."""
        clause, args = self.where(criteria or {})
        return int(
            self._conn.execute(f"SELECT COUNT(*) FROM runs WHERE {clause}", args).fetchone()[0]
        )
