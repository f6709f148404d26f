"""neo files on disk (NIX, NWB, pickle and every other format neo reads) as runs.

One file is one run, unless several are grouped (``--group``): then the files of one
simulation (PyNN writes one per population) are one run, populations side by side.

Which reader reads a file (:func:`resolve_format`):

* ``--format NAME`` (or ``format:`` in a manifest): a neo IO class (``NixIO``,
  ``PickleIO``, ``AsciiSpikeTrainIO``…), ``nwb`` (:mod:`opsnn_lake.nwb`) or ``sonata``
  (:mod:`opsnn_lake.sonata`);
* otherwise the extension: ``.h5`` files are told apart by content (a SONATA spike
  report has ``/spikes``, an NWB file ``nwb_version``; the rest go to NixIO first);
  ``.nwb`` files written by OpSNN lake are read by :mod:`opsnn_lake.nwb`, others by
  neo's NWBIO; extensions that are generic or that neo maps to several readers
  (``.txt``, ``.bin``, ``.dat``, ``.csv``…) are refused with the list of choices, as
  a guess there stores garbage (a spike-time text file read as "Column n" signals).

Each neo IO is opened read-only (NixIO's default mode would write to the file). A file
holding several Blocks is merged into one Block with the populations side by side
(:func:`opsnn_lake.neo_convert.merge_blocks`). A file read into nothing — no spike
trains and no signals, or only unnamed "Column n" signals — is refused unless
``allow_empty`` is given.

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
import numpy as np

from opsnn_lake.errors import SchemaError, UntrustedInputError
from opsnn_lake.neo_convert import POPULATION_KEY, block_to_nodes, merge_blocks
from opsnn_lake.provenance import Provenance
from opsnn_lake.schema import Node, unique_names
from opsnn_lake.sources.base import Item, Metadata, plain_json

__all__ = [
    "NeoFiles",
    "format_choices",
    "neo_extensions",
    "provenance_from_annotations",
    "read_neo_file",
    "resolve_format",
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


def format_extensions(fmt: str) -> frozenset[str]:
    """Extensions a folder walk with ``--format fmt`` ingests."""
    import neo.io

    name = resolve_format("x", fmt)
    if name == "nwb":
        return frozenset({"nwb", "h5"})
    if name == "sonata":
        return frozenset({"h5", "sonata"})
    return frozenset(
        ext
        for ext, ios in neo.io.io_by_extension.items()
        if any(io.__name__ == str(name).rsplit(".", 1)[-1] for io in ios)
    )


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


# Formats read by OpSNN lake's own readers rather than a neo IO class.
OWN_FORMATS = ("nwb", "sonata")
# Extensions whose readers are told apart by the file's content (HDF5 files).
_SNIFFED = frozenset({"h5", "hdf5", "nwb"})
_COLUMN = re.compile(r"^Column \d+$")


def format_choices(ext: str | None = None) -> list[str]:
    """Reader names ``--format`` accepts, for one extension (e.g. ``"txt"``) or all.

    neo IO class names (``nixio_fr.NixIO`` for neo's second class of that name), ``nwb``
    and ``sonata``; tonic dataset names are accepted too (handled by the tonic source).
    """
    import neo.io

    from opsnn_lake.sources.tonic import DATASETS

    if ext is None:
        names = sorted({_io_name(io) for io in neo.io.iolist if _single_file(io)})
        return [*OWN_FORMATS, *names, *DATASETS]
    ext = ext.lower()
    names = [_io_name(io) for io in neo.io.io_by_extension.get(ext, []) if _single_file(io)]
    own = [f for f, exts in (("nwb", ("nwb", "h5")), ("sonata", ("h5", "sonata"))) if ext in exts]
    tonic = [name for name, f in DATASETS.items() if f.extension == f".{ext}"]
    return [*own, *dict.fromkeys(names), *tonic]


def _single_file(io: type) -> bool:
    return getattr(io, "mode", "file") in ("file", "one-file")


def _ambiguous(ext: str) -> bool:
    """Whether a guess from this extension alone could store garbage."""
    if ext in _SNIFFED or ext in PICKLE_EXTENSIONS or ext == "nix":
        return False
    import neo.io

    readers = {io.__name__ for io in neo.io.io_by_extension.get(ext, []) if _single_file(io)}
    return ext in GENERIC_EXTENSIONS or len(readers) > 1


def _sniff_hdf5(path: Path) -> str | None:
    """``"sonata"``, ``"nwb"`` (ours), ``"NWBIO"`` (others' NWB) or None, from the content."""
    try:
        import h5py
    except ImportError:  # without h5py (the interchange extra) the neo candidates read it
        return None
    try:
        with h5py.File(path, "r") as f:
            if "spikes" in f and isinstance(f["spikes"], h5py.Group):
                return "sonata"
            if "nwb_version" in f.attrs:
                from opsnn_lake.nwb import is_opsnn_nwb

                return "nwb" if is_opsnn_nwb(f) else "NWBIO"
    except OSError:  # not HDF5 (or truncated): the neo candidates will say why
        return None
    return None


def resolve_format(path: str | Path, fmt: str | None = None) -> str | None:
    """The reader for a file: ``fmt`` checked, or chosen from extension and content.

    Parameters
    ----------
    path : str or Path
        The file.
    fmt : str, optional
        A name from :func:`format_choices` (case-insensitive).

    Returns
    -------
    str or None
        ``"nwb"``, ``"sonata"``, a neo IO name, or None: try neo's candidates for the
        extension in order (NixIO, NWBIO, PickleIO first).

    Raises
    ------
    SchemaError
        For an unknown ``fmt`` (listing the valid ones), or, without ``fmt``, for an
        extension that is generic or names several readers (listing those readers).
    """
    path = Path(path)
    ext = path.suffix[1:].lower()
    if fmt is not None:
        choices = format_choices()
        for choice in choices:
            if choice.lower() == fmt.lower() or choice.rsplit(".", 1)[-1].lower() == fmt.lower():
                return choice
        raise SchemaError(f"{path}: unknown --format {fmt!r}; choose one of: {', '.join(choices)}")
    if ext in _SNIFFED:
        return _sniff_hdf5(path)
    if _ambiguous(ext):
        choices = format_choices(ext)
        raise SchemaError(
            f"{path}: the extension {path.suffix!r} does not say how to read this file "
            f"(neo maps it to several or generic readers; guessing stores garbage). Name "
            f"the reader with --format NAME (or `format:` in the manifest), one of: "
            f"{', '.join(choices)}"
        )
    return None


def read_neo_file(
    path: str | Path,
    *,
    trusted: bool = False,
    fmt: str | None = None,
    allow_empty: bool = False,
) -> tuple[neo.Block, str]:
    """Read a neo file into one Block (several Blocks merged as populations).

    Parameters
    ----------
    path : str or Path
        The file.
    trusted : bool
        Allow loading pickle files (which run code when loaded).
    fmt : str, optional
        The reader (:func:`format_choices`); by default chosen by :func:`resolve_format`.
    allow_empty : bool
        Accept a file read into no spike trains and no signals, or into unnamed
        "Column n" signals only (refused by default: that is a wrong reader's output).

    Returns
    -------
    block : neo.Block
        The data.
    io_name : str
        The reader that read it.

    Raises
    ------
    UntrustedInputError
        For a pickle file when ``trusted`` is False.
    SchemaError
        For an empty file, an unknown or ambiguous extension, a file no candidate
        reader can read (truncated, corrupt, another format), or a file read into
        nothing; the message names the file and what each reader said.
    """
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise SchemaError(f"{path}: empty file (0 bytes); nothing to ingest")
    chosen = resolve_format(path, fmt)
    if chosen in OWN_FORMATS or chosen == "AsciiSpikeTrainIO":
        block = _read_own(chosen, path)
        _check_not_empty(block, path, chosen, allow_empty=allow_empty)
        return block, chosen
    if chosen is not None:
        candidates = [io for io in _all_ios() if _io_name(io) == chosen]
    else:
        candidates = _candidates(path)
    _refuse_untrusted_pickle(path, candidates, trusted=trusted)
    return _read_first(path, candidates, allow_empty=allow_empty)


def _refuse_untrusted_pickle(path: Path, candidates: list[type], *, trusted: bool) -> None:
    is_pickle = any(io.__name__ == "PickleIO" for io in candidates)
    if (path.suffix[1:].lower() in PICKLE_EXTENSIONS or is_pickle) and not trusted:
        raise UntrustedInputError(
            f"{path}: refusing to load a pickle file: unpickling runs code stored in the "
            "file, so it is loaded only when you say it is trusted. If you (or a tool you "
            "trust) wrote it, re-run with --trust-pickle, or set `trusted: true` on its "
            "manifest entry."
        )


def _read_first(path: Path, candidates: list[type], *, allow_empty: bool) -> tuple[neo.Block, str]:
    """The Block of the first candidate reader that reads the file into something."""
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
        block = _one_block(blocks, path)
        _check_not_empty(block, path, _io_name(io_class), allow_empty=allow_empty)
        return block, _io_name(io_class)
    raise SchemaError(
        f"{path}: neo cannot read this file (truncated, corrupt or not this format): "
        + "; ".join(errors)
    )


def _all_ios() -> list[type]:
    import neo.io

    return [io for io in neo.io.iolist if _single_file(io)]


def _read_own(name: str, path: Path) -> neo.Block:
    if name == "nwb":
        from opsnn_lake.nwb import read_nwb

        return read_nwb(path)
    if name == "sonata":
        from opsnn_lake.sonata import read_sonata

        return read_sonata(path)
    return read_spike_text(path)


def _check_not_empty(block: neo.Block, path: Path, reader: str, *, allow_empty: bool) -> None:
    if allow_empty:
        return
    trains = sum(len(seg.spiketrains) for seg in block.segments)
    signals = [sig for seg in block.segments for sig in seg.analogsignals]
    if not trains and not signals:
        raise SchemaError(
            f"{path}: {reader} read no spike trains and no signals from this file; "
            "nothing would be stored. If another reader fits, name it with --format; "
            "to store an empty run anyway, pass --allow-empty (`allow_empty: true`)"
        )
    if not trains and all(sig.name is None or _COLUMN.match(str(sig.name)) for sig in signals):
        raise SchemaError(
            f"{path}: {reader} read only {len(signals)} unnamed signals ('Column n') and no "
            "spike trains: this is a table read as generic columns, likely the wrong "
            "reader. Name the reader with --format (e.g. AsciiSpikeTrainIO for one line of "
            "spike times per cell); to store the columns anyway, pass --allow-empty"
        )


_DELIMITERS = re.compile(r"[\t,; ]+")


def read_spike_text(path: str | Path, *, units: str = "s", t_start: float = 0.0) -> neo.Block:
    """Read a spike-time text file (neo's ``AsciiSpikeTrainIO`` format), checked.

    One line per cell, its spike times separated by tabs, spaces, commas or semicolons;
    an empty line is a cell that did not fire. Unlike neo's reader, every line must
    parse completely and the file must end with a newline, so a truncated file is an
    error naming the line instead of a silently shortened last train.

    Parameters
    ----------
    path : str or Path
        The file.
    units : str
        Unit of the times (neo's default: seconds).
    t_start : float
        Start of every train (in ``units``); t_stop is the latest spike.

    Returns
    -------
    neo.Block
        One segment, one train per line (annotated ``channel_index``, float64).

    Raises
    ------
    SchemaError
        Naming the file and line: a value that is not a number, NaN, unsorted times,
        times before ``t_start``, or a last line without its newline (truncated file).
    """
    import quantities as pq

    path = Path(path)
    text = path.read_text(encoding="utf-8", errors="strict")
    lines = text.split("\n")
    if lines[-1] != "":
        raise SchemaError(
            f"{path}: line {len(lines)} is incomplete: the file does not end with a "
            "newline (truncated while being written or copied?); re-export the file"
        )
    trains = [_spike_line(line, path, n, t_start) for n, line in enumerate(lines[:-1], start=1)]
    if not trains:
        raise SchemaError(f"{path}: no lines; nothing to ingest")
    t_stop = max([t_start, *(float(t[-1]) for t in trains if t.size)])
    seg = neo.Segment(name=path.stem, file_origin=path.name)
    unit = pq.Quantity(1.0, units).units
    spiketrains = []
    for i, times in enumerate(trains):
        st = neo.SpikeTrain(times * unit, t_start=t_start * unit, t_stop=t_stop * unit)
        st.annotate(channel_index=i)
        spiketrains.append(st)
    seg.spiketrains = spiketrains  # one assignment: neo's append is quadratic
    block = neo.Block(name=path.stem, file_origin=path.name)
    block.segments.append(seg)
    seg.block = block
    return block


def _spike_line(line: str, path: Path, n: int, t_start: float) -> np.ndarray:
    """The spike times on line ``n`` of a spike-time text file, checked."""
    fields = [f for f in _DELIMITERS.split(line.strip()) if f]
    try:
        times = np.array([float(f) for f in fields], dtype=np.float64)
    except ValueError:
        bad = next(f for f in fields if not _is_float(f))
        raise SchemaError(
            f"{path}: line {n}: {bad!r} is not a spike time (expected numbers separated "
            "by tabs, spaces or commas; truncated or not a spike-time file?)"
        ) from None
    if not np.isfinite(times).all():
        raise SchemaError(f"{path}: line {n}: NaN or infinite spike time")
    if times.size and (np.diff(times) < 0).any():
        raise SchemaError(f"{path}: line {n}: spike times are not sorted")
    if times.size and times[0] < t_start:
        raise SchemaError(f"{path}: line {n}: spike time {times[0]} before t_start {t_start}")
    return times


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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
    fields["parameters"] = dict(metadata.parameters)
    if ann.get("parameters") is not None:
        fields["parameters"].update(_annotated_parameters(ann["parameters"], where=where))
        used.append("parameters")
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


def _annotated_parameters(value: Any, *, where: str) -> dict[str, Any]:
    """The ``parameters`` annotation as plain JSON (a dict, or a JSON object's text)."""
    raw = value
    if isinstance(value, str):  # NIX and NWB keep dicts only as JSON text
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, Mapping):
        raise SchemaError(
            f"{where}: annotation 'parameters' must be a dict (or a JSON object), got {raw!r}"
        )
    return plain_json(dict(value), where=f"{where}: annotation 'parameters'")


class NeoFiles:
    """Source of neo files: one run per file, or per group of files (module docstring).

    Item options: ``formats`` (reader per file, or None to choose by extension),
    ``populations`` (population label per file, or None to keep the file's own),
    ``allow_empty`` (accept files read into nothing).
    """

    name: ClassVar[str] = "neo"
    groups_files: ClassVar[bool] = True
    kind: ClassVar[str] = "simulation"

    def can_read(self, path: Path, **options: Any) -> bool:
        """A file whose reader is named (``fmt``) or known from its extension.

        Not for tonic sample files (``dataset`` given), nor for files whose extension is
        generic or names several readers (``.txt``, ``.bin``…): those need ``fmt``.
        """
        path = Path(path)
        if options.get("dataset") is not None or not path.is_file():
            return False
        if options.get("fmt") is not None:
            return True
        ext = path.suffix[1:].lower()
        return ext in neo_extensions() and not _ambiguous(ext)

    def explains(self, path: Path, *, walk: bool = False, **options: Any) -> bool:
        """Any file named by the user (loading it names the problem: an unknown or
        ambiguous extension, the ``--format`` to give); in a walk, files with an
        extension neo reads (that ``fmt`` reads, when named), generic ones excepted."""
        path = Path(path)
        if options.get("dataset") is not None or not path.is_file():
            return False
        if not walk:
            return True
        fmt = options.get("fmt")
        extensions = walk_extensions() if fmt is None else format_extensions(fmt)
        return path.suffix[1:].lower() in extensions

    def discover(self, path: Path, metadata: Metadata, **options: Any) -> list[Item]:
        """One item for a file (its extension is checked when it is loaded)."""
        fmt = options.get("fmt")
        return [
            Item(
                source=self.name,
                label=str(path),
                files=(str(Path(path).absolute()),),
                metadata=metadata,
                options={
                    "formats": (fmt,),
                    "populations": (None,),
                    "allow_empty": bool(options.get("allow_empty", False)),
                },
            )
        ]

    def load(
        self, item: Item, sources: Sequence[Mapping[str, Any]]
    ) -> tuple[dict[str, Node], Provenance]:
        """Read the file(s) with neo (or OpSNN's NWB/SONATA readers) as store nodes."""
        start = time.perf_counter()
        n = len(item.files)
        formats = item.options.get("formats") or (None,) * n
        populations = item.options.get("populations") or (None,) * n
        allow_empty = bool(item.options.get("allow_empty", False))
        blocks: list[neo.Block] = []
        readers: list[str] = []
        for file, fmt in zip(item.files, formats, strict=True):
            block, io_name = read_neo_file(
                file, trusted=item.metadata.trusted, fmt=fmt, allow_empty=allow_empty
            )
            blocks.append(block)
            readers.append(io_name)
        if n == 1 and populations[0] is None:
            block = blocks[0]
        else:
            block = _group_blocks(blocks, item.files, populations, label=item.label)
        read_s = time.perf_counter() - start
        where = item.label
        fields = provenance_from_annotations(block, item.metadata, where=where)
        nodes = block_to_nodes(block, where=where)
        extra = {
            **item.metadata.extra,
            **fields.pop("extra"),
            "ingest": {
                "source": self.name,
                "io": readers[0] if n == 1 else readers,
                "manifest": item.metadata.origin,
            },
        }
        exported = {b.annotations.get("exported_from") for b in blocks} - {None}
        if len(exported) == 1:  # a file exported from a lake: ingest may find that run
            extra["ingest"]["exported_from"] = exported.pop()
        prov = Provenance(
            kind=self.kind,
            sources=[dict(s) for s in sources],
            extra=extra,
            timings={"read": round(read_s, 6)},
            **fields,
        )
        return nodes, prov


def _relabel(block: neo.Block, label: str) -> None:
    """Name the population of every train and signal of ``block`` (one file, one population)."""
    for seg in block.segments:
        for obj in (*seg.spiketrains, *seg.analogsignals):
            obj.annotations[POPULATION_KEY] = label


def _group_blocks(
    blocks: Sequence[neo.Block],
    files: Sequence[str],
    populations: Sequence[str | None],
    *,
    label: str,
) -> neo.Block:
    """The Blocks of one simulation's files as one Block, populations side by side.

    A file given a population name (the ``population`` group of a ``--group`` pattern)
    has all its trains and signals relabelled, which is how the 2020 scripts' files,
    each labelled "All Cells", become ``exc`` and ``inh``. Two files giving the same
    population label are refused: their cells would be mixed into one population.
    """
    owner: dict[str | None, str] = {}
    for block, file, pop in zip(blocks, files, populations, strict=True):
        if pop is not None:
            _relabel(block, pop)
        found = {
            _label_of(obj)
            for seg in block.segments
            for obj in (*seg.spiketrains, *seg.analogsignals)
        }
        for name in found:
            if name in owner:
                raise SchemaError(
                    f"{label}: {owner[name]} and {file} both hold population {name!r}; "
                    "grouped files must hold different populations. Name each file's "
                    "population with a --group pattern such as "
                    "'(?P<run>.+)_(?P<population>exc|inh)'"
                )
            owner[name] = file
    names = unique_names([Path(f).stem for f in files], prefix="file")
    merged = merge_blocks(dict(zip(names, blocks, strict=True)), name=label)
    for key in _ANNOTATION_KEYS:
        values = [b.annotations.get(key) for b in blocks]
        if values[0] is not None and all(_same(v, values[0]) for v in values):
            merged.annotations[key] = values[0]
    return merged


def _label_of(obj: Any) -> str | None:
    value = obj.annotations.get(POPULATION_KEY)
    return value if isinstance(value, str) else None
