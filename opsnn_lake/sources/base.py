"""What every ingestion source provides, and how an ingested run gets its id.

A *source* turns things users already have on disk into runs: neo files
(:mod:`opsnn_lake.sources.neo_files`), sPyNNaker run folders
(:mod:`opsnn_lake.sources.spinnaker_folder`) and tonic event files
(:mod:`opsnn_lake.sources.tonic`); NWB and SONATA files are neo files read by OpSNN's
own readers (:mod:`opsnn_lake.nwb`, :mod:`opsnn_lake.sonata`). Each follows the
:class:`Source` protocol in three steps:

0. ``can_read(path, **options)`` says, cheaply and without reading data, whether the
   source reads a path named by the user; :func:`opsnn_lake.ingest.discover` asks the
   sources in :data:`opsnn_lake.sources.DISCOVERY_ORDER` and the first that says yes
   discovers it (``explains`` picks the source that names the problem with a path no
   source reads, and the files a folder walk takes);
1. ``discover(path, metadata)`` lists the :class:`Item` s found at a path, cheaply and
   in the calling process: one item per future run, naming the files whose bytes
   define it;
2. ``load(item, sources)`` reads one item (in a worker process) and returns the store
   nodes and the :class:`~opsnn_lake.provenance.Provenance` to register.

An ingested run is identified by its content: the run id hashes the data read
(:func:`~opsnn_lake.provenance.data_sha256`) and the metadata that came with it
(:meth:`Provenance.identity`), not the file bytes, so one Block saved as pickle, NIX
and NWB is one run. The checksums of the files are recorded in ``sources``, and a
re-run skips an item whose files and reading options are known
(:func:`opsnn_lake.ingest.item_key`) without loading it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from opsnn_lake.errors import SchemaError
from opsnn_lake.provenance import IDENTITY_FIELDS, Provenance, file_sha256
from opsnn_lake.schema import Node

__all__ = [
    "METADATA_FIELDS",
    "Item",
    "Metadata",
    "Source",
    "plain_json",
    "source_records",
]

# What a manifest entry may set: the identity fields, and what is kept but not hashed.
METADATA_FIELDS = (*IDENTITY_FIELDS, "extra", "trusted")


@dataclass(frozen=True, kw_only=True)
class Metadata:
    """What a manifest entry (or the command line) attaches to the runs it names.

    Parameters
    ----------
    model, model_hash : str, optional
        Model name and hash of its code, for files that do not say.
    parameters : dict
        Run parameters (JSON values); a file's own annotations take precedence key by key.
    seed : int, optional
        Random seed of the runs.
    simulator, simulator_version : str, optional
        E.g. ``"nest"``, ``"2.20.1"``.
    extra : dict
        Kept in the provenance record, not searched.
    trusted : bool
        Whether pickle files may be loaded (pickle runs code when loaded).
    origin : str, optional
        Where this metadata comes from (a manifest path), for the provenance record.
    """

    model: str | None = None
    model_hash: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    simulator: str | None = None
    simulator_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    trusted: bool = False
    origin: str | None = None


@dataclass(frozen=True, kw_only=True)
class Item:
    """One future run: the files that define it and how to read them.

    Parameters
    ----------
    source : str
        Name of the :class:`Source` that reads it (``"neo"``, ``"spinnaker"``, ``"tonic"``).
    label : str
        What messages name: the file or folder.
    files : tuple of str
        Absolute paths of the files whose bytes define the run (checksummed, in order).
    metadata : Metadata
        What the manifest or command line attaches.
    options : dict
        Source-specific settings found by ``discover`` (tonic dataset, sample index…).
    """

    source: str
    label: str
    files: tuple[str, ...]
    metadata: Metadata = field(default_factory=Metadata)
    options: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Source(Protocol):
    """The protocol every ingestion source follows (see the module docstring)."""

    name: ClassVar[str]
    kind: ClassVar[str]
    #: Whether ``--group`` may join this source's items (one file each) into one run.
    groups_files: ClassVar[bool]

    def can_read(self, path: Path, **options: Any) -> bool:
        """Whether this source reads ``path`` (a file or folder named by the user).

        Cheap (names, extensions, a file's first bytes) and never raising: a path that
        does not exist is not readable. ``options`` are those given to ``discover``
        (``fmt``, ``dataset``, ``allow_empty``); a source that needs an option to know
        its files (tonic's ``dataset``) reads nothing without it, and a source reads
        nothing when an option names another source's reader.
        """
        ...

    def explains(self, path: Path, *, walk: bool = False, **options: Any) -> bool:
        """Whether this source takes a path it cannot read, to say why it cannot.

        Asked, in :data:`~opsnn_lake.sources.DISCOVERY_ORDER`, about a path named by the
        user that no source ``can_read`` (``walk=False``): discovering or loading it then
        names the problem and the fix (no sample files there, an unknown extension).
        With ``walk=True``, about a file met in a folder walk: whether it looks like this
        source's data (others are listed as ignored). Cheap and never raising.
        """
        ...

    def discover(self, path: Path, metadata: Metadata, **options: Any) -> list[Item]:
        """Items found at ``path`` (a file or folder), without reading their data.

        Raises
        ------
        SchemaError
            If ``path`` is not something this source reads; the message names it.
        """
        ...

    def load(
        self, item: Item, sources: Sequence[Mapping[str, Any]]
    ) -> tuple[dict[str, Node], Provenance]:
        """Read one item into store nodes and its provenance (with ``sources`` recorded).

        Raises
        ------
        SchemaError, UntrustedInputError
            For anything that cannot be ingested; the message names the file.
        """
        ...


def source_records(files: Sequence[str]) -> list[dict[str, Any]]:
    """``{"path", "sha256", "bytes"}`` of each file (the provenance ``sources`` list)."""
    return [
        {"path": str(Path(f).absolute()), "sha256": file_sha256(f), "bytes": os.path.getsize(f)}
        for f in files
    ]


def plain_json(value: Any, *, where: str) -> Any:
    """Turn annotation values into plain JSON (numpy scalars and arrays to Python).

    Raises
    ------
    SchemaError
        If a value has no plain JSON form (the message names ``where``).
    """
    if isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, np.ndarray) and value.dtype.kind in "biufU":
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(k): plain_json(v, where=f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v, where=f"{where}[{i}]") for i, v in enumerate(value)]
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise SchemaError(
            f"{where}: {type(value).__name__} value {value!r} is not a JSON value "
            "(numbers, strings, booleans, lists, dicts; no NaN)"
        ) from None
    return value
