"""neo files on disk (NIX, NWB, pickle and every other format neo reads) as runs.

One file is one run. neo's own IO classes read it: the candidates for the file's
extension (``neo.io.io_by_extension``), NixIO before the other ``.h5`` readers, each
opened read-only (NixIO's default mode would write to the file). A file holding several
Blocks — PyNN writes one per population — is merged into one Block with the
populations side by side (:func:`opsnn_lake.neo_convert.merge_blocks`).

Model, parameters, seed and simulator are taken from the Block's annotations where
present (``model``, ``model_hash``, ``parameters``, ``seed``, ``simulator``,
``simulator_version``; PyNN's ``simulator`` annotation, e.g. ``"NEST"``, is
normalised to ``"nest"``) and from the manifest entry otherwise; the Block itself is
stored unchanged.

Pickle runs code when it is loaded, so a ``.pkl``/``.pickle`` file is read only when
its metadata says it is trusted (``--trust-pickle`` or ``trusted: true`` in the
manifest); otherwise :class:`~opsnn_lake.errors.UntrustedInputError` says why and how.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import neo

from opsnn_lake.errors import SchemaError, UntrustedInputError
from opsnn_lake.neo_convert import block_to_nodes, merge_blocks
from opsnn_lake.provenance import Provenance
from opsnn_lake.schema import Node, unique_names
from opsnn_lake.sources.base import Item, Metadata, plain_json

__all__ = [
    "NeoFiles",
    "neo_extensions",
    "provenance_from_annotations",
    "read_neo_file",
    "walk_extensions",
]

PICKLE_EXTENSIONS = frozenset({"pkl", "pickle"})
# Tried first for their extensions: the formats PyNN users write (the other ``.h5``
# readers — Biocam, MEArec, Maxwell — would otherwise be tried before NIX).
_PREFERRED = ("NixIO", "NWBIO", "PickleIO")
# Constructor arguments that make an IO read-only (NixIO defaults to "rw").
_READ_ONLY = {"neo.io.nixio.NixIO": {"mode": "ro"}, "neo.io.nwbio.NWBIO": {"mode": "r"}}
_ANNOTATION_KEYS = ("model", "model_hash", "parameters", "seed", "simulator", "simulator_version")


def neo_extensions() -> frozenset[str]:
    """File extensions (lower case, no dot) that some neo IO reads from a single file."""
    import neo.io

    return frozenset(
        ext
        for ext, ios in neo.io.io_by_extension.items()
        if ext and any(getattr(io, "mode", "file") in ("file", "one-file") for io in ios)
    )


# Extensions some neo IO reads but that also name notes, configs and arrays found next to
# runs (README.txt, params.json, spikes.npy…): a folder walk leaves them alone; name the
# file, or match it with a manifest glob, to ingest it anyway.
GENERIC_EXTENSIONS = frozenset(
    {"txt", "csv", "tsv", "asc", "json", "xml", "dat", "npy", "bin", "raw", "mat", "set", "fake"}
)


def walk_extensions() -> frozenset[str]:
    """Extensions a folder walk ingests: :func:`neo_extensions` minus generic ones."""
    return frozenset(e for e in neo_extensions() if e not in GENERIC_EXTENSIONS and not e.isdigit())


def _candidates(path: Path) -> list[type]:
    import neo.io

    ext = path.suffix[1:].lower()
    ios = [
        io
        for io in neo.io.io_by_extension.get(ext, [])
        if getattr(io, "mode", "file") in ("file", "one-file")
    ]
    if not ios:
        raise SchemaError(
            f"{path}: unknown extension {path.suffix or '(none)'!r}: no neo IO reads such "
            "files (neo reads e.g. .nix, .h5, .nwb, .pkl; tonic event files need --tonic "
            "DATASET; sPyNNaker run folders are found by their data.sqlite3)"
        )

    def rank(io: type) -> int:
        return _PREFERRED.index(io.__name__) if io.__name__ in _PREFERRED else len(_PREFERRED)

    # Two classes are named NixIO (the writer and neo's rawio-based reader): keep both.
    return sorted(ios, key=rank)


def _io_name(io_class: type) -> str:
    """``NixIO``, or ``nixio_fr.NixIO`` for neo's second class of that name."""
    module = io_class.__module__.rsplit(".", 1)[-1]
    return (
        io_class.__name__
        if module == io_class.__name__.lower()
        else (f"{module}.{io_class.__name__}")
    )


def _read_with(io_class: type, path: Path) -> list[neo.Block]:
    kwargs = _READ_ONLY.get(f"{io_class.__module__}.{io_class.__name__}", {})
    io = io_class(str(path), **kwargs)
    try:
        if hasattr(io, "read_all_blocks"):
            blocks = io.read_all_blocks(lazy=False)
        else:
            blocks = io.read(lazy=False)
    finally:
        close = getattr(io, "close", None)
        if callable(close):
            close()
    # PickleIO returns whatever was pickled (a Block, or a list of them, wrapped in a list)
    if isinstance(blocks, neo.Block):
        blocks = [blocks]
    if isinstance(blocks, list) and len(blocks) == 1 and isinstance(blocks[0], list | tuple):
        blocks = list(blocks[0])
    if not isinstance(blocks, list) or not all(isinstance(b, neo.Block) for b in blocks):
        raise SchemaError(f"{path}: holds {type(blocks).__name__}, not neo Blocks")
    return blocks


def read_neo_file(path: str | Path, *, trusted: bool = False) -> tuple[neo.Block, str]:
    """Read a neo file into one Block (several Blocks merged as populations).

    Parameters
    ----------
    path : str or Path
        The file. Its extension selects the neo IO classes tried.
    trusted : bool
        Allow loading pickle files (which run code when loaded).

    Returns
    -------
    block : neo.Block
        The data.
    io_name : str
        The neo IO class that read it.

    Raises
    ------
    UntrustedInputError
        For a pickle file when ``trusted`` is False.
    SchemaError
        For an empty file, an unknown extension, or a file no candidate IO can read
        (truncated, corrupt, another format); the message names the file and what each
        IO said.
    """
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise SchemaError(f"{path}: empty file (0 bytes); nothing to ingest")
    candidates = _candidates(path)
    if path.suffix[1:].lower() in PICKLE_EXTENSIONS and not trusted:
        raise UntrustedInputError(
            f"{path}: refusing to load a pickle file: unpickling runs code stored in the "
            "file, so it is loaded only when you say it is trusted. If you (or a tool you "
            "trust) wrote it, re-run with --trust-pickle, or set `trusted: true` on its "
            "manifest entry."
        )
    errors = []
    for io_class in candidates:
        try:
            blocks = _read_with(io_class, path)
        except Exception as err:  # neo IOs raise any type on foreign files
            errors.append(f"{_io_name(io_class)}: {type(err).__name__}: {err}")
            continue
        if not blocks:
            errors.append(f"{_io_name(io_class)}: the file holds no Block")
            continue
        return _one_block(blocks, path), _io_name(io_class)
    raise SchemaError(
        f"{path}: neo cannot read this file (truncated, corrupt or not this format): "
        + "; ".join(errors)
    )


def _one_block(blocks: list[neo.Block], path: Path) -> neo.Block:
    if len(blocks) == 1:
        return blocks[0]
    counts = {len(b.segments) for b in blocks}
    if len(counts) > 1:
        raise SchemaError(
            f"{path}: holds {len(blocks)} Blocks with different segment counts "
            f"{sorted(counts)}; one file is one run, so split the file into one per run"
        )
    names = unique_names([b.name for b in blocks], prefix="block")
    merged = merge_blocks(dict(zip(names, blocks, strict=True)), name=path.stem)
    # Run-level annotations (model, parameters…) shared by all Blocks stay on the run.
    for key in _ANNOTATION_KEYS:
        values = [b.annotations.get(key) for b in blocks]
        if values[0] is not None and all(_same(v, values[0]) for v in values):
            merged.annotations[key] = values[0]
    return merged


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except ValueError:  # numpy arrays
        return False


_SPINNAKER = re.compile(r"sPyNNaker_under_version\((?P<version>[^-)\s]+)")


def parse_simulator(text: str) -> tuple[str, str | None]:
    """Normalise a PyNN ``simulator`` annotation: ``"NEST"`` → ``("nest", None)``.

    sPyNNaker's ``"sPyNNaker_under_version(1!7.4.1-…)"`` gives ``("spinnaker", "1!7.4.1")``.
    """
    match = _SPINNAKER.match(text)
    if match:
        return "spinnaker", match["version"]
    name = text.strip().lower()
    for known in ("nest", "neuron", "brian2", "brian", "spinnaker"):
        if name.startswith(known) or name.startswith(f"pynn.{known}"):
            return known, None
    return name, None


def _annotated_simulator(block: neo.Block) -> str | None:
    if isinstance(block.annotations.get("simulator"), str):
        return block.annotations["simulator"]
    pops = block.annotations.get("populations")  # merge_blocks keeps PyNN's per-population ones
    if isinstance(pops, Mapping):
        found = {p.get("simulator") for p in pops.values() if isinstance(p, Mapping)}
        found.discard(None)
        if len(found) == 1:
            value = found.pop()
            return value if isinstance(value, str) else None
    return None


def provenance_from_annotations(
    block: neo.Block, metadata: Metadata, *, where: str
) -> dict[str, Any]:
    """Provenance fields from a Block's annotations, the manifest filling the gaps.

    Returns
    -------
    dict
        ``model``, ``model_hash``, ``parameters``, ``seed``, ``simulator``,
        ``simulator_version`` (missing ones from ``metadata``) and ``extra`` (with the
        raw simulator annotation and the annotation keys used).

    Raises
    ------
    SchemaError
        If an annotation has the wrong type (e.g. ``parameters`` not a dict or JSON
        object, ``seed`` not an integer); the message names the file and key.
    """
    ann = block.annotations
    used: list[str] = []
    fields: dict[str, Any] = {}
    for key in ("model", "model_hash", "simulator_version"):
        if ann.get(key) is not None:
            if not isinstance(ann[key], str):
                raise SchemaError(f"{where}: annotation {key!r} must be a str, got {ann[key]!r}")
            fields[key] = ann[key]
            used.append(key)
    params = dict(metadata.parameters)
    if ann.get("parameters") is not None:
        value = ann["parameters"]
        if isinstance(value, str):  # NIX and NWB keep dicts only as JSON text
            try:
                value = json.loads(value)
            except ValueError:
                value = None
        if not isinstance(value, Mapping):
            raise SchemaError(
                f"{where}: annotation 'parameters' must be a dict (or a JSON object), "
                f"got {ann['parameters']!r}"
            )
        params.update(plain_json(dict(value), where=f"{where}: annotation 'parameters'"))
        used.append("parameters")
    fields["parameters"] = params
    if ann.get("seed") is not None:
        seed = plain_json(ann["seed"], where=f"{where}: annotation 'seed'")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise SchemaError(f"{where}: annotation 'seed' must be an integer, got {seed!r}")
        fields["seed"] = seed
        used.append("seed")
    extra: dict[str, Any] = {}
    raw_sim = _annotated_simulator(block)
    if raw_sim is not None:
        name, version = parse_simulator(raw_sim)
        fields["simulator"] = name
        if version and "simulator_version" not in fields:
            fields["simulator_version"] = version
        extra["simulator_annotation"] = raw_sim
        used.append("simulator")
    for key in ("model", "model_hash", "seed", "simulator", "simulator_version"):
        if fields.get(key) is None and getattr(metadata, key) is not None:
            fields[key] = getattr(metadata, key)
    extra["annotations_used"] = used
    fields["extra"] = extra
    return fields


class NeoFiles:
    """Source of neo files: one run per file (see the module docstring)."""

    name: ClassVar[str] = "neo"
    kind: ClassVar[str] = "simulation"

    def discover(self, path: Path, metadata: Metadata, **options: Any) -> list[Item]:
        """One item for a file (its extension is checked when it is loaded)."""
        return [
            Item(
                source=self.name,
                label=str(path),
                files=(str(Path(path).absolute()),),
                metadata=metadata,
            )
        ]

    def load(
        self, item: Item, sources: Sequence[Mapping[str, Any]]
    ) -> tuple[dict[str, Node], Provenance]:
        """Read the file with neo and lay it out as store nodes."""
        start = time.perf_counter()
        path = Path(item.files[0])
        block, io_name = read_neo_file(path, trusted=item.metadata.trusted)
        read_s = time.perf_counter() - start
        fields = provenance_from_annotations(block, item.metadata, where=str(path))
        nodes = block_to_nodes(block, where=str(path))
        extra = {
            **item.metadata.extra,
            **fields.pop("extra"),
            "ingest": {"source": self.name, "io": io_name, "manifest": item.metadata.origin},
        }
        prov = Provenance(
            kind=self.kind,
            sources=[dict(s) for s in sources],
            extra=extra,
            timings={"read": round(read_s, 6)},
            **fields,
        )
        return nodes, prov
