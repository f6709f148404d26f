"""``opsnn-lake ingest``: batch ingestion of neo files, sPyNNaker run folders and tonic data.

::

    opsnn-lake ingest old_runs/ spinnaker_reports/ --lake lake --trust-pickle
    opsnn-lake ingest --manifest ingest/example_manifest.yaml
    opsnn-lake ingest nmnist/Test --tonic NMNIST

Paths may be files or folders. Each is offered to the sources in
:data:`~opsnn_lake.sources.DISCOVERY_ORDER` (their ``can_read``; :func:`source_for`),
and a folder none of them claims is walked: sPyNNaker run folders (holding
``data.sqlite3``) are read by :mod:`~opsnn_lake.sources.spinnaker_folder`, every file
with an extension neo reads by :mod:`~opsnn_lake.sources.neo_files` (except generic
ones such as ``.txt``, ``.json``, ``.npy``: name those files explicitly), and other
files are listed as ignored. With ``--tonic DATASET`` the paths are tonic sample files
(:mod:`~opsnn_lake.sources.tonic`).

A manifest (YAML, read with ``yaml.safe_load``) names paths or globs and the metadata
to attach; see :func:`read_manifest` and ``ingest/example_manifest.yaml``.

Items are read in parallel worker processes (``--workers``, default: the number of
CPUs), each writing its run to the lake (writes are atomic and safe from several
processes), with a progress bar. Every run's id derives from its files' checksums, so
a file already in the lake is skipped after hashing, without being loaded, and a
re-run ingests only what failed or is new. A failure is reported with the file and
the reason, the batch goes on, nothing partial becomes visible, and the exit code is 1.
"""

from __future__ import annotations

import glob
import hashlib
import json
import multiprocessing
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from opsnn_lake.errors import LakeError, SchemaError, SpecError
from opsnn_lake.lake import Lake
from opsnn_lake.processes import die_with_parent
from opsnn_lake.provenance import Provenance, data_sha256
from opsnn_lake.sources import DISCOVERY_ORDER, SOURCES, Source
from opsnn_lake.sources.base import (
    METADATA_FIELDS,
    Item,
    Metadata,
    plain_json,
    source_records,
)
from opsnn_lake.sources.tonic import DATASETS, dataset_format

__all__ = [
    "IngestReport",
    "Manifest",
    "Outcome",
    "discover",
    "group_items",
    "ingest",
    "read_manifest",
    "source_for",
]

MANIFEST_KEYS = ("entries", "trusted")
ENTRY_KEYS = ("paths", "tonic", *METADATA_FIELDS, "format", "group", "allow_empty")

Status = Literal["added", "skipped", "failed"]


# --------------------------------------------------------------------------- manifests


@dataclass(frozen=True)
class ManifestEntry:
    """One entry of a manifest: glob patterns, a tonic dataset (or None), metadata."""

    patterns: tuple[str, ...]
    tonic: str | None
    metadata: Metadata
    fmt: str | None = None
    group: str | None = None
    allow_empty: bool = False


@dataclass(frozen=True)
class Manifest:
    """A validated ingestion manifest, as :func:`read_manifest` reads it.

    The manifest is YAML (``yaml.safe_load``: no tags, no code)::

        trusted: false            # optional default for every entry
        entries:
          - paths: ["runs/2021/*.pkl", "runs/2022/**/*.nix"]   # globs, relative to this file
            trusted: true         # these pickles may be loaded
            model: va
            simulator: nest
            simulator_version: "2.20.1"
            seed: 98765
            parameters: {n_pop: 4000, g_inh: 51.0}
            extra: {notebook: "p. 42"}
          - paths: nmnist/Test
            tonic: NMNIST         # tonic sample files of this dataset
          - paths: "brainhack2020/*.pkl"
            trusted: true
            group: "(?P<run>.+)_(?P<population>exc|inh)"   # one run per simulation
            model: va
          - paths: "spikes/*.txt"
            format: AsciiSpikeTrainIO   # the reader, for extensions that do not say
            allow_empty: false          # refuse files read into nothing (default)

    ``group`` is ``all`` (every file of the entry is one run) or a regular expression
    matched against file names without extension: files with the same ``run`` group
    (or the same whole match) form one run, and a ``population`` group names each
    file's population (:func:`group_items`).
    """

    path: Path
    entries: tuple[ManifestEntry, ...]


def _expect(value: Any, types: type | tuple[type, ...], *, where: str, what: str) -> Any:
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        raise SpecError(f"{where}: expected {what}, got {value!r}")
    return value


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _unknown_keys(data: Mapping[str, Any], valid: Sequence[str], *, where: str) -> None:
    for key in data:
        if key not in valid:
            raise SpecError(f"{where}: unknown key {key!r}; valid keys: {', '.join(valid)}")


def read_manifest(path: str | os.PathLike[str], *, trust_pickle: bool = False) -> Manifest:
    """Read and validate an ingestion manifest.

    The format is described at :class:`Manifest`.

    Parameters
    ----------
    path : path-like
        The manifest file.
    trust_pickle : bool
        Trust every entry's pickle files (``--trust-pickle``).

    Returns
    -------
    Manifest
        The entries with their metadata.

    Raises
    ------
    SchemaError
        For malformed YAML, an unknown key (the message names it and lists the valid
        ones) or a value of the wrong type; the message names the manifest.
    """
    from opsnn_lake.safe_yaml import load_yaml

    path = Path(path)
    try:
        # bounded: refuses alias bombs and oversized files in milliseconds
        data = load_yaml(path, what="manifest")
    except SchemaError as err:
        raise SpecError(f"malformed YAML or unreadable manifest: {err}") from None
    where = f"manifest {path}"
    _expect(data, dict, where=where, what="a mapping with an 'entries' list")
    _unknown_keys(data, MANIFEST_KEYS, where=where)
    default_trust = _expect(
        data.get("trusted", False), bool, where=f"{where}: trusted", what="a bool"
    )
    raw_entries = _expect(data.get("entries"), list, where=f"{where}: entries", what="a list")
    trusted = default_trust or trust_pickle
    entries = [
        _entry(raw, path.parent, trusted, str(path), f"{where}: entries[{i}]")
        for i, raw in enumerate(raw_entries)
    ]
    return Manifest(path=path, entries=tuple(entries))


def _entry(raw: Any, base: Path, trusted: bool, origin: str, where: str) -> ManifestEntry:
    _expect(raw, dict, where=where, what="a mapping")
    _unknown_keys(raw, ENTRY_KEYS, where=where)
    paths = raw.get("paths")
    if isinstance(paths, str):
        paths = [paths]
    if not paths or not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise SpecError(f"{where}: 'paths' must be a path or glob, or a non-empty list of them")
    patterns = tuple(str(base / os.path.expanduser(p)) for p in paths)
    tonic = raw.get("tonic")
    if tonic is not None:
        tonic = dataset_format(_expect(tonic, str, where=f"{where}: tonic", what="a str")).name
    fields: dict[str, Any] = {}
    for key in ("model", "model_hash", "simulator", "simulator_version"):
        if raw.get(key) is not None:
            fields[key] = _expect(raw[key], str, where=f"{where}: {key}", what="a str")
    if raw.get("seed") is not None:
        fields["seed"] = _expect(raw["seed"], int, where=f"{where}: seed", what="an integer")
    for key in ("parameters", "extra"):
        if raw.get(key) is not None:
            value = _expect(raw[key], dict, where=f"{where}: {key}", what="a mapping")
            fields[key] = plain_json(value, where=f"{where}: {key}")
    entry_trust = _expect(raw.get("trusted", False), bool, where=f"{where}: trusted", what="a bool")
    metadata = Metadata(trusted=trusted or entry_trust, origin=origin, **fields)
    fmt = raw.get("format")
    if fmt is not None:
        fmt = _expect(fmt, str, where=f"{where}: format", what="a reader name")
        tonic, fmt = _split_format(fmt, tonic, where=f"{where}: format")
    group = raw.get("group")
    if group is not None:
        group = _expect(group, str, where=f"{where}: group", what="'all' or a regex")
        _group_pattern(group, where=f"{where}: group")
    allow_empty = _expect(
        raw.get("allow_empty", False), bool, where=f"{where}: allow_empty", what="a bool"
    )
    return ManifestEntry(
        patterns=patterns,
        tonic=tonic,
        metadata=metadata,
        fmt=fmt,
        group=group,
        allow_empty=allow_empty,
    )


def _split_format(fmt: str, tonic: str | None, *, where: str) -> tuple[str | None, str | None]:
    """``(tonic dataset, reader)`` for a format name: tonic datasets go to the tonic source."""
    from opsnn_lake.sources.neo_files import format_choices

    if fmt.lower() in {d.lower() for d in DATASETS}:
        return dataset_format(fmt).name, None
    choices = format_choices()
    if not any(fmt.lower() in (c.lower(), c.rsplit(".", 1)[-1].lower()) for c in choices):
        raise SpecError(f"{where}: unknown format {fmt!r}; choose one of: {', '.join(choices)}")
    return tonic, fmt


def _group_pattern(group: str, *, where: str) -> re.Pattern[str] | None:
    """The compiled ``group`` regex (None for ``all``), checked."""
    if group == "all":
        return None
    try:
        return re.compile(group)
    except re.error as err:
        raise SpecError(
            f"{where}: {group!r} is not a regular expression ({err}); give 'all' or a regex "
            "such as '(?P<run>.+)_(?P<population>exc|inh)'"
        ) from None


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class Outcome:
    """What happened to one item (or to a path or manifest that gave no item)."""

    label: str
    status: Status
    source: str | None = None
    run_id: str | None = None
    error: str | None = None
    nbytes: int = 0
    seconds: float = 0.0


@dataclass
class Discovery:
    """Items found at some paths, files ignored, and paths that failed already."""

    items: list[Item] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    failures: list[Outcome] = field(default_factory=list)

    def extend(self, other: Discovery) -> None:
        """Append another discovery's findings."""
        self.items += other.items
        self.ignored += other.ignored
        self.failures += other.failures


def discover(
    path: str | os.PathLike[str],
    metadata: Metadata,
    *,
    tonic: str | None = None,
    fmt: str | None = None,
    allow_empty: bool = False,
) -> Discovery:
    """Find the items at a path (see the module docstring for the rules).

    ``fmt`` names the reader of every neo file found (``--format``); in a folder walk
    it also selects the files: those with an extension that reader reads.

    Never raises for bad input: problems become failed :class:`Outcome` s naming the path.
    """
    found = Discovery()
    path = Path(path)
    options: dict[str, Any] = {"fmt": fmt, "allow_empty": allow_empty}
    try:
        if not path.exists():
            raise SchemaError(f"{path}: no such file or folder")
        source = source_for(path, tonic=tonic, fmt=fmt)
        if source is not None:
            found.items += source.discover(path, metadata, dataset=tonic, **options)
        else:
            found.extend(_walk(path, metadata, **options))
    except (LakeError, OSError) as err:
        found.failures.append(Outcome(label=str(path), status="failed", error=str(err)))
    return found


def source_for(
    path: Path, *, tonic: str | None = None, fmt: str | None = None, walk: bool = False
) -> Source | None:
    """The source that reads a path, or None (a folder to walk, a file a walk ignores).

    The sources are asked in :data:`~opsnn_lake.sources.DISCOVERY_ORDER`: the first that
    ``can_read`` the path reads it; else the first that ``explains`` it takes it, so
    that discovering or loading it names the problem and the fix. In a folder walk
    (``walk=True``) a file goes to a source only when one ``explains`` it (it looks
    like that source's data).
    """
    options: dict[str, Any] = {"dataset": tonic, "fmt": fmt}
    explaining = [s for s in DISCOVERY_ORDER if s.explains(path, walk=walk, **options)]
    if walk and not explaining:
        return None
    for source in DISCOVERY_ORDER:
        if source.can_read(path, **options):
            return source
    return explaining[0] if explaining else None


def _walk(root: Path, metadata: Metadata, *, fmt: str | None, allow_empty: bool) -> Discovery:
    found = Discovery()
    options: dict[str, Any] = {"fmt": fmt, "allow_empty": allow_empty}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        folder_source = source_for(here, fmt=fmt)
        if folder_source is not None:  # a run or report folder: its files are the source's
            found.items += folder_source.discover(here, metadata, **options)
            dirnames.clear()
            continue
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            file = here / name
            source = source_for(file, fmt=fmt, walk=True)
            if source is not None:
                found.items += source.discover(file, metadata, **options)
            else:
                found.ignored.append(str(file))
    return found


def group_items(items: Sequence[Item], group: str, *, where: str = "--group") -> Discovery:
    """Group the neo-file items of one simulation into one item each.

    Parameters
    ----------
    items : sequence of Item
        Items found at some paths (those of sources whose items are not one file each,
        ``groups_files`` False — sPyNNaker folders, tonic samples — pass through).
    group : str
        ``"all"``: every file is one run. Otherwise a regular expression matched (in
        full) against each file name without its extension: files with equal ``run``
        groups (or equal whole matches, without a ``run`` group) form one run, and a
        ``population`` group, if present, names the file's population — e.g.
        ``(?P<run>.+)_(?P<population>exc|inh)`` for ``sim3_exc.pkl`` and ``sim3_inh.pkl``.
    where : str
        What to name in errors (the option or manifest entry).

    Returns
    -------
    Discovery
        The grouped items, and a failure for each file the pattern does not match.
    """
    pattern = _group_pattern(group, where=where)
    found = Discovery()
    groups: dict[str, list[tuple[Item, str | None]]] = {}
    for item in items:
        if not SOURCES[item.source].groups_files:
            found.items.append(item)
            continue
        stem = Path(item.files[0]).stem
        match = None if pattern is None else pattern.fullmatch(stem)
        if pattern is not None and match is None:
            error = (
                f"{item.label}: its name {stem!r} does not match the {where} "
                f"pattern {group!r}; fix the pattern or leave the file out"
            )
            found.failures.append(Outcome(label=item.label, status="failed", error=error))
            continue
        names = match.groupdict() if match is not None else {}
        key = "all" if match is None else names.get("run") or match.group(0)
        groups.setdefault(key, []).append((item, names.get("population")))
    found.items += [
        _group_item(key, members, named=pattern is not None) for key, members in groups.items()
    ]
    return found


def _group_item(key: str, members: list[tuple[Item, str | None]], *, named: bool) -> Item:
    """One item reading the files of ``members`` (with their populations) as one run."""
    files = [m.files[0] for m, _ in members]
    parent = os.path.commonpath([os.path.dirname(f) for f in files])
    label = str(Path(parent) / key) if named else parent
    return replace(
        members[0][0],
        label=f"{label} ({len(files)} files: {', '.join(Path(f).name for f in files)})",
        files=tuple(files),
        options={
            "formats": tuple(m.options.get("formats", (None,))[0] for m, _ in members),
            "populations": tuple(pop for _, pop in members),
            "allow_empty": any(m.options.get("allow_empty") for m, _ in members),
        },
    )


def _discover_manifest(manifest: Manifest) -> Discovery:
    found = Discovery()
    for i, entry in enumerate(manifest.entries):
        entry_found = Discovery()
        for pattern in entry.patterns:
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                entry_found.failures.append(
                    Outcome(
                        label=pattern,
                        status="failed",
                        error=f"manifest {manifest.path}: entries[{i}]: "
                        f"{pattern!r} matches nothing",
                    )
                )
            for match in matches:
                entry_found.extend(
                    discover(
                        match,
                        entry.metadata,
                        tonic=entry.tonic,
                        fmt=entry.fmt,
                        allow_empty=entry.allow_empty,
                    )
                )
        if entry.group is not None:
            grouped = group_items(
                entry_found.items, entry.group, where=f"manifest {manifest.path}: entries[{i}]"
            )
            grouped.failures = entry_found.failures + grouped.failures
            grouped.ignored = entry_found.ignored
            entry_found = grouped
        found.extend(entry_found)
    return found


# --------------------------------------------------------------------------- running


class _Worker:
    """Ingests items into one lake; lives in each worker process (or in the caller)."""

    def __init__(self, lake_path: str, known: Mapping[str, str]) -> None:
        self.lake = Lake(lake_path, create=False)
        self.known = dict(known)

    def __call__(self, item: Item) -> Outcome:
        start = time.perf_counter()
        source = SOURCES[item.source]
        nbytes = 0
        try:
            sources = source_records(item.files)
            nbytes = sum(s["bytes"] for s in sources)
            key = item_key(source.kind, sources, item)
            if key in self.known:  # same bytes, same reading: skipped without loading
                return self._outcome(item, "skipped", start, run_id=self.known[key], nbytes=nbytes)
            nodes, prov = source.load(item, sources)
            ingest_extra = {**prov.extra.get("ingest", {}), "key": key}
            prov = replace(
                prov,
                content_sha256=data_sha256(nodes),
                extra={**prov.extra, "ingest": ingest_extra},
            )
            origin = self._exported(prov)
            run_id = origin or prov.run_id()
            status: Status = "skipped" if run_id in self.lake else "added"
            if origin is None:
                self.lake.add_nodes(nodes, prov)
            self.known[key] = run_id
            return self._outcome(item, status, start, run_id=run_id, nbytes=nbytes)
        except (LakeError, OSError) as err:
            return self._outcome(item, "failed", start, error=_naming(item, err), nbytes=nbytes)
        except Exception as err:  # a reader's own bug must not stop the batch
            error = f"{item.label}: unexpected {type(err).__name__}: {err}"
            return self._outcome(item, "failed", start, error=error, nbytes=nbytes)

    def _exported(self, prov: Provenance) -> str | None:
        """The lake run an exported file came from, if it is here with the same data.

        A run made by a simulation is identified by its model and parameters, so an NWB
        file exported from it would otherwise come back as a second, data-identified
        run; equal data digests make it the same run.
        """
        origin = prov.extra.get("ingest", {}).get("exported_from")
        if not isinstance(origin, str) or origin not in self.lake:
            return None
        from opsnn_lake.store import read_nodes

        stored = read_nodes(self.lake.store_path(origin))
        return origin if data_sha256(stored) == prov.content_sha256 else None

    @staticmethod
    def _outcome(item: Item, status: Status, start: float, **kwargs: Any) -> Outcome:
        return Outcome(
            label=item.label,
            status=status,
            source=item.source,
            seconds=time.perf_counter() - start,
            **kwargs,
        )


def item_key(kind: str, sources: Sequence[Mapping[str, Any]], item: Item) -> str:
    """What a worker knows before loading: file checksums and how they are read.

    Equal keys give equal runs (same bytes, reader, grouping and metadata), so an item
    whose key is in the lake is skipped without loading. The run id itself comes from
    the data read (:func:`~opsnn_lake.provenance.data_sha256`), not from this key.
    """
    md = item.metadata
    record = {
        "kind": kind,
        "sha256": [s["sha256"] for s in sources],
        "options": {k: v for k, v in item.options.items() if k != "allow_empty"},
        "metadata": [
            md.model,
            md.model_hash,
            md.parameters,
            md.seed,
            md.simulator,
            md.simulator_version,
        ],
    }
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def known_keys(lake: Lake) -> dict[str, str]:
    """``item_key`` → run id of the ingested runs in a lake (from their provenance)."""
    from opsnn_lake.store import read_root_attrs

    known: dict[str, str] = {}
    for run_id in lake.index.run_ids():
        try:
            prov = read_root_attrs(lake.store_path(run_id))["provenance"]
        except (LakeError, OSError):  # a damaged store: `opsnn-lake check` reports it
            continue
        extra = prov.get("extra")
        ingest_extra = extra.get("ingest") if isinstance(extra, Mapping) else None
        key = ingest_extra.get("key") if isinstance(ingest_extra, Mapping) else None
        if isinstance(key, str):
            known[key] = run_id
    return known


def _naming(item: Item, err: BaseException) -> str:
    """The error message, prefixed with the item when it does not name a file already."""
    text = str(err)
    if any(name in text for name in (item.label, *item.files)):
        return text
    return f"{item.label}: {text}"


_WORKER: _Worker | None = None


def _init_worker(lake_path: str, known: Mapping[str, str], parent_pid: int | None = None) -> None:
    global _WORKER
    if parent_pid is not None:
        # A killed ingest must not leave its workers idling for minutes.
        die_with_parent(parent_pid)
    _WORKER = _Worker(lake_path, known)


def _work(item: Item) -> Outcome:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER(item)


@dataclass
class IngestReport:
    """The outcome of every item, in the order found, and the files ignored."""

    outcomes: list[Outcome] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def _with(self, status: Status) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def added(self) -> list[Outcome]:
        """Items stored as new runs."""
        return self._with("added")

    @property
    def skipped(self) -> list[Outcome]:
        """Items whose run was in the lake already."""
        return self._with("skipped")

    @property
    def failed(self) -> list[Outcome]:
        """Items (or paths, manifests) that could not be ingested."""
        return self._with("failed")

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed

    @property
    def run_ids(self) -> list[str]:
        """Run ids of the items added or found in the lake, in order."""
        return [o.run_id for o in self.outcomes if o.run_id is not None]

    def summary(self) -> str:
        """One line: counts, bytes and throughput."""
        nbytes = sum(o.nbytes for o in self.outcomes if o.status != "failed")
        return (
            f"ingest: {len(self.added)} added, {len(self.skipped)} already in the lake, "
            f"{len(self.failed)} failed, {len(self.ignored)} ignored; "
            f"{nbytes / 1e6:.1f} MB in {self.seconds:.1f} s"
        )


def ingest(
    paths: Iterable[str | os.PathLike[str]] = (),
    *,
    lake: Lake | str | os.PathLike[str] = "lake",
    manifests: Iterable[str | os.PathLike[str]] = (),
    trust_pickle: bool = False,
    tonic: str | None = None,
    fmt: str | None = None,
    group: str | None = None,
    allow_empty: bool = False,
    metadata: Metadata | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> IngestReport:
    """Ingest files, folders and manifests into a lake, in parallel.

    Parameters
    ----------
    paths : iterable of path-like
        neo files, sPyNNaker run folders, tonic sample files, or folders holding them.
    lake : Lake or path-like
        The lake (created if missing).
    manifests : iterable of path-like
        Manifest files (:func:`read_manifest`); a bad manifest is a failure of its own.
    trust_pickle : bool
        Load pickle files (they run code when loaded) from ``paths`` and manifests.
    tonic, fmt : str, optional
        How to read the files in ``paths``: a tonic dataset class (``"NMNIST"``…), a
        reader (``--format``: :func:`~opsnn_lake.sources.neo_files.format_choices`).
        Without, files whose extension does not say how to read them fail.
    group : str, optional
        Group the files of ``paths`` into runs (``--group``): ``"all"`` or a regex with
        ``run`` and ``population`` groups (:func:`group_items`).
    allow_empty : bool
        Store files read into no spike trains and no signals, or only "Column n" signals.
    metadata : Metadata, optional
        Metadata for the runs of ``paths`` (model, parameters…).
    workers : int, optional
        Worker processes (default: the number of CPUs); 1 reads in this process.
    progress : bool
        Show a tqdm progress bar on stderr.

    Returns
    -------
    IngestReport
        One :class:`Outcome` per item (added, skipped or failed, with the error).
    """
    start = time.perf_counter()
    lake = lake if isinstance(lake, Lake) else Lake(lake)
    found = _discover_paths(
        paths, metadata, trust_pickle=trust_pickle, tonic=tonic, fmt=fmt, allow_empty=allow_empty
    )
    if group is not None:
        found = _grouped(found, group)
    found.extend(_discover_manifests(manifests, trust_pickle=trust_pickle))
    items = _unique(found.items)
    known = known_keys(lake) if items else {}
    outcomes = _run_items(items, str(lake.path), known, workers=workers, progress=progress)
    seconds = time.perf_counter() - start
    return IngestReport(outcomes=found.failures + outcomes, ignored=found.ignored, seconds=seconds)


def _grouped(found: Discovery, group: str) -> Discovery:
    """``found`` with its neo-file items grouped into runs (:func:`group_items`)."""
    grouped = group_items(found.items, group)
    return Discovery(grouped.items, found.ignored, found.failures + grouped.failures)


def _discover_paths(
    paths: Iterable[str | os.PathLike[str]],
    metadata: Metadata | None,
    *,
    trust_pickle: bool,
    tonic: str | None,
    fmt: str | None,
    allow_empty: bool,
) -> Discovery:
    """The items at the paths named by the user, read as ``tonic``/``fmt`` say."""
    base = metadata or Metadata()
    if trust_pickle and not base.trusted:
        base = replace(base, trusted=True)
    if tonic is not None:
        tonic = dataset_format(tonic).name
    if fmt is not None:
        tonic, fmt = _split_format(fmt, tonic, where="--format")
    found = Discovery()
    for path in paths:
        found.extend(discover(path, base, tonic=tonic, fmt=fmt, allow_empty=allow_empty))
    return found


def _discover_manifests(
    manifests: Iterable[str | os.PathLike[str]], *, trust_pickle: bool
) -> Discovery:
    """The items of every manifest; a manifest that does not read is a failure of its own."""
    found = Discovery()
    for manifest_path in manifests:
        try:
            manifest = read_manifest(manifest_path, trust_pickle=trust_pickle)
        except SchemaError as err:
            found.failures.append(
                Outcome(label=str(manifest_path), status="failed", error=str(err))
            )
            continue
        found.extend(_discover_manifest(manifest))
    return found


def _unique(items: list[Item]) -> list[Item]:
    seen: dict[tuple[str, ...], Item] = {}
    for item in items:
        seen.setdefault(item.files, item)  # the first mention (and its metadata) wins
    return list(seen.values())


def _run_items(
    items: list[Item],
    lake_path: str,
    known: Mapping[str, str],
    *,
    workers: int | None,
    progress: bool,
) -> list[Outcome]:
    from tqdm.auto import tqdm

    n_workers = min(workers or os.cpu_count() or 1, len(items))
    results: dict[int, Outcome] = {}
    bar = tqdm(total=len(items), desc="ingest", unit="item", disable=not progress or not items)
    try:
        if n_workers <= 1:
            worker = _Worker(lake_path, known)
            for i, item in enumerate(items):
                results[i] = _tick(bar, worker(item))
        else:
            _run_pool(items, lake_path, known, n_workers, bar, results)
    finally:
        bar.close()
    return [results[i] for i in range(len(items))]


def _run_pool(
    items: list[Item],
    lake_path: str,
    known: Mapping[str, str],
    n_workers: int,
    bar: Any,
    results: dict[int, Outcome],
) -> None:
    # spawn: the caller may hold a simulator kernel or threads that a fork would copy.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=n_workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(lake_path, known, os.getpid()),
    ) as pool:
        pending: dict[Future[Outcome], int] = {
            pool.submit(_work, item): i for i, item in enumerate(items)
        }
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    i = pending.pop(future)
                    try:
                        results[i] = _tick(bar, future.result())
                    except BrokenProcessPool as err:
                        error = f"{items[i].label}: a worker process died ({err}); re-run to retry"
                        results[i] = _tick(
                            bar, Outcome(items[i].label, "failed", items[i].source, error=error)
                        )
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _tick(bar: Any, outcome: Outcome) -> Outcome:
    bar.update(1)
    return outcome
