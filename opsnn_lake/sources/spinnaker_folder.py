"""sPyNNaker run folders as runs, read through sPyNNaker's own ``NeoBufferDatabase``.

sPyNNaker writes each run under ``<report dir>/reports/<timestamp>/run_<n>/``: the
recordings of segment 0 in ``data.sqlite3``, of segment ``k`` (after ``sim.reset()``)
in ``data<k>.sqlite3``. It deletes them when the script ends unless the cfg says::

    [Reports]
    keep_data_database = True

A run folder becomes **one run with one segment per database** when every database
records the same populations (label and size), as PyNN's ``reset()`` does; otherwise
(the network changed between segments) **each database is a run of its own**. A
database whose ``segment`` table has no ``t_stop`` recorded nothing (a virtual board,
or a run that did not finish) and is refused.

Decoding needs no sPyNNaker set-up: ``NeoBufferDatabase`` takes the time step, units
and layout from the database itself and reads no configuration (sPyNNaker raises if
its configuration is read before ``sim.setup()``, and reading does not), so nothing but
the database decides how it is decoded, and sPyNNaker's global state is left as found
(no ``unittest_setup()``: that is sPyNNaker's test helper, which would leave the
process mocked, with a stand-in 1 ms time step, for whatever uses sPyNNaker next).
Opening a database registers it in sPyNNaker's per-segment database cache, which a
live simulation uses to find its own data, so reading refuses to run while
``sim.setup()`` is in force in the same process; the ``ingest`` command reads in worker
processes anyway.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import neo

from opsnn_lake.errors import LakeError, SchemaError
from opsnn_lake.neo_convert import block_to_nodes, merge_blocks
from opsnn_lake.provenance import Provenance
from opsnn_lake.schema import Node
from opsnn_lake.sources.base import Item, Metadata
from opsnn_lake.sources.neo_files import parse_simulator

__all__ = [
    "SpinnakerFolders",
    "find_run_folders",
    "is_report_folder",
    "is_run_folder",
    "read_databases",
]

_DB_NAME = re.compile(r"^data(\d*)\.sqlite3$")
_RUN_DIR = re.compile(r"^run_\d+$")


def segment_databases(folder: Path) -> list[Path]:
    """The ``data*.sqlite3`` files of a run folder, in segment order."""
    found = []
    for path in folder.iterdir():
        match = _DB_NAME.match(path.name)
        if match and path.is_file():
            found.append((int(match[1] or 0), path))
    return [p for _, p in sorted(found)]


def is_run_folder(path: Path) -> bool:
    """True for a folder holding sPyNNaker's ``data.sqlite3`` (a ``run_<n>`` folder)."""
    return path.is_dir() and (path / "data.sqlite3").is_file()


def is_report_folder(path: Path) -> bool:
    """True for sPyNNaker's ``reports/<timestamp>`` folder (it holds ``run_<n>`` folders)."""
    if not path.is_dir():
        return False
    if (path / "global_provenance.sqlite3").is_file():
        return True
    return any(_RUN_DIR.match(p.name) and is_run_folder(p) for p in path.iterdir())


def find_run_folders(path: Path) -> list[Path]:
    """Every run folder at or below ``path`` (a run folder, report folder or any tree)."""
    path = Path(path)
    if path.is_file() and _DB_NAME.match(path.name):
        return [path.parent]
    if is_run_folder(path):
        return [path]
    if not path.is_dir():
        return []
    return sorted(p.parent for p in path.rglob("data.sqlite3") if is_run_folder(p.parent))


def _connect_ro(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


def _populations(db: Path) -> tuple[tuple[str, int], ...] | None:
    """(label, size) of the populations a database records, or None if unreadable."""
    try:
        conn = _connect_ro(db)
        try:
            rows = conn.execute(
                "SELECT DISTINCT label, pop_size FROM recording_view ORDER BY label"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return tuple((str(label), int(size)) for label, size in rows)


def _runs_of(folder: Path) -> list[list[Path]]:
    """Group a folder's databases into runs: one run unless their populations differ.

    An unreadable database keeps the folder whole, so it fails as one (naming that
    database) instead of leaving its readable segments in the lake as runs of their own.
    """
    dbs = segment_databases(folder)
    pops = [_populations(db) for db in dbs]
    if None in pops or len(set(pops)) <= 1:
        return [dbs]
    return [[db] for db in dbs]


def _refuse_live_simulation() -> None:
    """Refuse to read while a sPyNNaker simulation is set up here (module docstring)."""
    from spynnaker.pyNN.data import SpynnakerDataView

    if SpynnakerDataView.is_setup():
        raise LakeError(
            "a sPyNNaker simulation is set up in this process; reading a run folder "
            "would replace its entry in sPyNNaker's segment database cache. Call "
            "sim.end() first, or ingest from another process (`opsnn-lake ingest` does)."
        )


def _segment_info(db: Path) -> tuple[int, float | None, str]:
    try:
        conn = _connect_ro(db)
        try:
            row = conn.execute(
                "SELECT segment_number, t_stop, simulator FROM segment LIMIT 1"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as err:
        raise SchemaError(f"{db}: not a readable sPyNNaker data database: {err}") from None
    if row is None:
        raise SchemaError(f"{db}: its segment table is empty; did the simulation run?")
    return int(row[0]), row[1], str(row[2])


def read_databases(dbs: Sequence[str | Path], *, name: str | None = None) -> neo.Block:
    """Read sPyNNaker data databases (one per segment) into one Block.

    Parameters
    ----------
    dbs : sequence of path
        ``data.sqlite3``, ``data1.sqlite3``… in segment order, all recording the same
        populations.
    name : str, optional
        Name of the Block (default: the run folder's path).

    Returns
    -------
    neo.Block
        One segment per database, every recorded population side by side (PyNN's
        per-population Block annotations under ``annotations["populations"]``).

    Raises
    ------
    SchemaError
        If a database is corrupt or truncated, recorded nothing, or its populations
        differ from the first one's; the message names the database.
    LakeError
        If a sPyNNaker simulation is set up in this process.
    """
    _refuse_live_simulation()
    per_pop: dict[str, neo.Block] = {}
    for db in map(Path, dbs):
        number, t_stop, _ = _segment_info(db)
        if t_stop is None:
            raise SchemaError(
                f"{db}: recorded nothing (no t_stop in its segment table): a virtual-board "
                "run, or one that stopped before its data were read"
            )
        try:
            _read_segment(db, number, per_pop)
        except SchemaError:
            raise
        except Exception as err:  # sqlite3, sPyNNaker and numpy errors on damaged data
            raise SchemaError(
                f"{db}: sPyNNaker cannot decode this database (corrupt or truncated?): "
                f"{type(err).__name__}: {err}"
            ) from None
    if not per_pop:
        raise SchemaError(f"{', '.join(map(str, dbs))}: no recorded population")
    return merge_blocks(per_pop, name=name if name is not None else str(Path(dbs[0]).parent))


def _read_segment(db: Path, number: int, per_pop: dict[str, neo.Block]) -> None:
    """Append segment ``number`` of every population in ``db`` to its Block in ``per_pop``."""
    from spynnaker.pyNN.utilities.neo_buffer_database import NeoBufferDatabase

    with NeoBufferDatabase(str(db)) as reader:
        labels = reader.get_recording_populations()
        if per_pop and sorted(labels) != sorted(per_pop):
            raise SchemaError(
                f"{db}: records populations {sorted(labels)}, the first segment "
                f"{sorted(per_pop)}; such databases are ingested as separate runs"
            )
        for label in labels:
            part = reader.get_full_block(label, "all", None, None)
            seg = part.segments[number] if number < len(part.segments) else None
            if seg is None:
                raise SchemaError(f"{db}: population {label!r} has no segment {number}")
            block = per_pop.setdefault(label, neo.Block(name=part.name, **part.annotations))
            block.segments.append(seg)
            seg.block = block


class SpinnakerFolders:
    """Source of sPyNNaker run folders (see the module docstring)."""

    name: ClassVar[str] = "spinnaker"
    kind: ClassVar[str] = "simulation"
    groups_files: ClassVar[bool] = False

    def can_read(self, path: Path, **options: Any) -> bool:
        """A run folder, a report folder, or one of sPyNNaker's ``data*.sqlite3`` files.

        Never when a reader (``fmt``) or a tonic ``dataset`` is named.
        """
        if options.get("fmt") is not None or options.get("dataset") is not None:
            return False
        path = Path(path)
        if path.is_file():  # a database named alone (its folder is read)
            return path.name.startswith("data") and path.suffix == ".sqlite3"
        return is_run_folder(path) or is_report_folder(path)

    def explains(self, path: Path, *, walk: bool = False, **options: Any) -> bool:
        """Never: a folder it cannot read is walked, and a walk finds run folders itself."""
        return False

    def discover(self, path: Path, metadata: Metadata, **options: Any) -> list[Item]:
        """Items for every run folder at or below ``path``: per folder or per database."""
        folders = find_run_folders(path)
        if not folders:
            raise SchemaError(f"{path}: no sPyNNaker run folder (with data.sqlite3) here")
        items = []
        for folder in folders:
            runs = _runs_of(folder)
            for dbs in runs:
                label = str(folder) if len(runs) == 1 else str(dbs[0])
                items.append(
                    Item(
                        source=self.name,
                        label=label,
                        files=tuple(str(db.absolute()) for db in dbs),
                        metadata=metadata,
                        options={"folder": str(folder.absolute())},
                    )
                )
        return items

    def load(
        self, item: Item, sources: Sequence[Mapping[str, Any]]
    ) -> tuple[dict[str, Node], Provenance]:
        """Read the databases through sPyNNaker and lay them out as store nodes."""
        start = time.perf_counter()
        block = read_databases(item.files, name=item.options.get("folder"))
        read_s = time.perf_counter() - start
        _, _, sim_text = _segment_info(Path(item.files[0]))
        simulator, version = parse_simulator(sim_text)
        md = item.metadata
        nodes = block_to_nodes(block, where=item.label)
        prov = Provenance(
            kind=self.kind,
            model=md.model,
            model_hash=md.model_hash,
            parameters=dict(md.parameters),
            seed=md.seed,
            simulator=md.simulator or simulator,
            simulator_version=md.simulator_version or version,
            sources=[dict(s) for s in sources],
            timings={"read": round(read_s, 6)},
            extra={
                **md.extra,
                "simulator_annotation": sim_text,
                "ingest": {
                    "source": self.name,
                    "run_folder": item.options.get("folder"),
                    "manifest": md.origin,
                },
            },
        )
        return nodes, prov
