"""tonic event-camera samples as ``input`` runs, and their spike-source view for PyNN.

Files are read in tonic's own per-file formats with tonic's own readers and dtypes —
never through the dataset classes, which download whenever their expected folder
layout is incomplete:

* ``NMNIST``: ``<Train|Test>/<digit>/<id>.bin``, 5 bytes an event, read by
  ``tonic.io.read_mnist_file``; the target is the folder's last digit.
* ``POKERDVS``: ``<pips_train|pips_test>/<cl|he|di|sp>/<id>.npy``, rows ``t, x, y, p``.
* ``DVSGesture``: ``<ibmGestureTrain|ibmGestureTest>/user<NN>_<lighting>/<target>.npy``,
  rows ``x, y, p, t`` with ``t`` in ms (tonic multiplies by 1000, as done here).

Event times are µs in every dataset, as in tonic. One file is one sample and one run
(``kind="input"``): its events in a group named from the sanitised label, and its
spike-source view as a neo segment, so ``lake.to_neo(input_id)`` works too::

    /                       attrs: tonic = {dataset, sensor_size, ordering, time_units,
                            samples, view}; block, segments (the view's neo metadata)
    /<label>                x, y, t (µs), p on dim ``event``; attrs: label, target,
                            dataset, sample_index, split, sensor_size,
                            source {path, sha256, bytes}, tonic_dtype
    /view/spike_sources     the view (polarity "separate", ms): one spike train per
                            pixel and polarity, ``x``/``y``/``channel`` unit coordinates

The sample index is the file's position in tonic's enumeration of its split folder
(sorted sub-folders, sorted files; DVSGesture, which tonic leaves in directory order,
sorted too). Dataset, label, target, split and sample index are also the run's
parameters, so ``lake.search(kind="input", dataset="NMNIST", target=3)`` finds samples.

:func:`spike_source_view` turns events into per-pixel spike times (ms) for a PyNN
``SpikeSourceArray``, with one vectorised sort: no loop over pixels or events.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

import numpy as np

from opsnn_lake.errors import SchemaError
from opsnn_lake.provenance import Provenance
from opsnn_lake.schema import (
    DIM_EVENT,
    SPIKE_COUNT,
    SPIKE_TIME,
    Node,
    Variable,
    sanitize_label,
    unique_names,
)
from opsnn_lake.sources.base import Item, Metadata

__all__ = [
    "DATASETS",
    "SpikeSourceView",
    "TonicFiles",
    "TonicSample",
    "input_spike_source",
    "read_events",
    "read_sample",
    "spike_source_view",
    "view_block",
]

POLARITY_MODES = ("separate", "merge", "on", "off")
EVENT_FIELDS = ("x", "y", "t", "p")
# Stored dtypes: compact, and wide enough for any sensor tonic knows (<= 1280 x 720).
_STORED = {"x": np.int16, "y": np.int16, "t": np.int64, "p": np.int8}
_ATTRS = {
    "x": {"long_name": "pixel column", "units": "1"},
    "y": {"long_name": "pixel row", "units": "1"},
    "t": {"long_name": "event time", "units": "us"},
    "p": {"long_name": "polarity", "units": "1"},
}


@dataclass(frozen=True)
class _Format:
    """How one tonic dataset lays out and encodes its sample files."""

    name: str
    tonic_class: str
    extension: str
    reader: Callable[[Path, Any], np.ndarray]
    label_of: Callable[[Path, Any], tuple[int, str, dict[str, Any]]]

    def cls(self) -> Any:
        import tonic.datasets

        return getattr(tonic.datasets, self.tonic_class)


def _read_nmnist(path: Path, cls: Any) -> np.ndarray:
    import tonic.io

    size = path.stat().st_size
    if size % 5:
        raise SchemaError(
            f"{path}: {size} bytes is not a whole number of 5-byte N-MNIST events (truncated file?)"
        )
    return tonic.io.read_mnist_file(str(path), dtype=cls.dtype)


def _load_npy(path: Path) -> np.ndarray:
    try:
        data = np.load(path, allow_pickle=False)  # object arrays would unpickle: refused
    except (ValueError, OSError, EOFError) as err:
        raise SchemaError(f"{path}: not a readable .npy event file: {err}") from None
    if data.ndim != 2 or data.shape[1] != 4 or data.dtype.kind not in "biuf":
        raise SchemaError(
            f"{path}: expected a numeric (events, 4) array, got {data.dtype} {data.shape}"
        )
    return data


def _read_pokerdvs(path: Path, cls: Any) -> np.ndarray:
    from numpy.lib import recfunctions

    return recfunctions.unstructured_to_structured(_load_npy(path), cls.dtype)


def _read_dvsgesture(path: Path, cls: Any) -> np.ndarray:
    from numpy.lib import recfunctions

    events = _load_npy(path)
    events[:, 3] *= 1000  # ms -> µs, as tonic's DVSGesture does
    return recfunctions.unstructured_to_structured(events, cls.dtype)


def _nmnist_label(path: Path, cls: Any) -> tuple[int, str, dict[str, Any]]:
    folder = path.parent.name
    if not folder or not folder[-1].isdigit():
        raise SchemaError(f"{path}: N-MNIST samples live in a folder named by their digit")
    target = int(folder[-1])  # tonic takes the folder's last character
    return target, cls.classes[target], {}


def _pokerdvs_label(path: Path, cls: Any) -> tuple[int, str, dict[str, Any]]:
    folder = path.parent.name[-2:]
    if folder not in cls.int_classes:
        raise SchemaError(
            f"{path}: POKERDVS samples live in a folder named by their class "
            f"{sorted(cls.int_classes)}, not {path.parent.name!r}"
        )
    return cls.int_classes[folder], folder, {}


def _dvsgesture_label(path: Path, cls: Any) -> tuple[int, str, dict[str, Any]]:
    user, sep, lighting = path.parent.name.partition("_")
    if not (path.stem.isdigit() and sep and user.startswith("user") and user[4:].isdigit()):
        raise SchemaError(f"{path}: DVSGesture samples are user<NN>_<lighting>/<target>.npy files")
    target = int(path.stem)
    if not 0 <= target < len(cls.classes):
        raise SchemaError(f"{path}: gesture {target} is not one of 0..{len(cls.classes) - 1}")
    return target, cls.classes[target], {"user": int(user[4:]), "lighting": lighting}


DATASETS: dict[str, _Format] = {
    f.name: f
    for f in (
        _Format("NMNIST", "NMNIST", ".bin", _read_nmnist, _nmnist_label),
        _Format("POKERDVS", "POKERDVS", ".npy", _read_pokerdvs, _pokerdvs_label),
        _Format("DVSGesture", "DVSGesture", ".npy", _read_dvsgesture, _dvsgesture_label),
    )
}


def dataset_format(name: str) -> _Format:
    """The format of a dataset, by tonic class name (case-insensitive).

    Raises
    ------
    SchemaError
        For a dataset this module does not read; the message lists those it does.
    """
    for key, fmt in DATASETS.items():
        if key.lower() == str(name).lower():
            return fmt
    raise SchemaError(f"tonic dataset {name!r} is not supported; supported: {', '.join(DATASETS)}")


@cache
def _enumeration(root: str, extension: str) -> dict[str, int]:
    """tonic's order of the sample files of a split folder: sorted folders, sorted files."""
    order: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(extension):
                order[str(Path(dirpath, name).absolute())] = len(order)
    return order


@dataclass(frozen=True, kw_only=True)
class TonicSample:
    """One event sample, as read from its file or from an input run.

    Attributes
    ----------
    events : numpy.ndarray
        Structured array with tonic's dtype for the dataset (fields x, y, t in µs, p).
    dataset : str
        tonic dataset class name.
    sensor_size : tuple of int
        (width, height, polarities), as tonic.
    target : int
        Class index; ``label`` is its name.
    sample_index : int
        Position in tonic's enumeration of the split folder.
    split : str or None
        ``"train"``, ``"test"`` or None when the folder name does not say.
    extra : dict
        Dataset-specific fields (DVSGesture: user, lighting).
    run_id : str or None
        The input run it was read from, if any.
    """

    events: np.ndarray
    dataset: str
    sensor_size: tuple[int, int, int]
    target: int
    label: str
    sample_index: int
    split: str | None
    extra: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    source: dict[str, Any] = field(default_factory=dict)


def _split_of(root: Path) -> str | None:
    name = root.name.lower()
    return "train" if "train" in name else "test" if "test" in name else None


def read_sample(path: str | Path, dataset: str) -> TonicSample:
    """Read one sample file of a tonic dataset with tonic's reader and dtype.

    Parameters
    ----------
    path : str or Path
        The sample file, inside the dataset's folder layout (module docstring).
    dataset : str
        tonic dataset class name: ``"NMNIST"``, ``"POKERDVS"`` or ``"DVSGesture"``.

    Raises
    ------
    SchemaError
        For an unsupported dataset, a missing, empty, truncated or corrupt file, a file
        outside the dataset's layout, or events outside the sensor; the message names
        the file.
    """
    fmt = dataset_format(dataset)
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"{path}: no such file")
    if path.suffix != fmt.extension:
        raise SchemaError(f"{path}: {fmt.name} sample files end in {fmt.extension}")
    if path.stat().st_size == 0:
        raise SchemaError(f"{path}: empty file (0 bytes); nothing to ingest")
    cls = fmt.cls()
    target, label, extra = fmt.label_of(path, cls)
    events = fmt.reader(path, cls)
    sensor = tuple(int(s) for s in cls.sensor_size)
    _check_events(events, sensor, where=str(path))
    root = path.parent.parent
    index = _enumeration(str(root.absolute()), fmt.extension).get(str(path.absolute()), -1)
    return TonicSample(
        events=events,
        dataset=fmt.name,
        sensor_size=sensor,  # type: ignore[arg-type]
        target=target,
        label=label,
        sample_index=index,
        split=_split_of(root),
        extra=extra,
    )


def _check_events(events: np.ndarray, sensor: Sequence[int], *, where: str) -> None:
    for name, size in (("x", sensor[0]), ("y", sensor[1]), ("p", max(2, sensor[2]))):
        values = events[name]
        bad = np.flatnonzero((values < 0) | (values >= size))
        if bad.size:
            i = int(bad[0])
            raise SchemaError(
                f"{where}: event {i} has {name}={values[i]}, outside the sensor "
                f"[0, {size}) ({bad.size} such events; corrupt file or wrong dataset?)"
            )
    if events.size and events["t"].min() < 0:
        raise SchemaError(f"{where}: negative event times (corrupt file?)")


VIEW_SEGMENT = "view"
VIEW_POPULATION = "spike_sources"


def sample_nodes(sample: TonicSample) -> dict[str, Node]:
    """The store nodes of one sample: its events, and its spike-source view as spike trains.

    The view (``polarity="separate"``, event times in ms, no window) is stored as a neo
    segment, so ``lake.to_neo(input_id)`` gives one spike train per pixel and polarity,
    annotated with ``x``, ``y`` and ``channel``: what a model that takes a spike-source
    input run (``simulate/v1_sheet.py``) builds its ``SpikeSourceArray`` from.
    """
    view = spike_source_view(sample.events, sample.sensor_size)
    nodes = _view_nodes(view, sample)
    group = unique_names(
        [VIEW_SEGMENT, sanitize_label(sample.label, fallback="sample")], prefix="g"
    )[1]
    events = sample.events
    variables = {
        name: Variable(
            dims=(DIM_EVENT,),
            data=np.asarray(events[name]).astype(_STORED[name]),
            attrs=dict(_ATTRS[name]),
        )
        for name in EVENT_FIELDS
    }
    fields = events.dtype.names
    attrs = {
        "label": sample.label,
        "target": sample.target,
        "dataset": sample.dataset,
        "sample_index": sample.sample_index,
        "split": sample.split,
        "sensor_size": list(sample.sensor_size),
        "n_events": int(events.size),
        "source": dict(sample.source),
        # tonic events are a structured array: their dtype has field names
        "tonic_dtype": [[n, events.dtype[n].str] for n in cast(tuple[str, ...], fields)],
        **sample.extra,
    }
    nodes[""].attrs["tonic"] = {
        "dataset": sample.dataset,
        "sensor_size": list(sample.sensor_size),
        "ordering": "".join(EVENT_FIELDS),
        "time_units": "us",
        "samples": [group],
        "view": {"segment": VIEW_SEGMENT, "polarity": "separate", "t_start": 0.0, "offset": 0.0},
    }
    nodes[group] = Node(attrs=attrs, variables=variables)
    return nodes


def view_block(
    sample: TonicSample, *, view: SpikeSourceView | None = None, sources: Any = None
) -> Any:
    """The spike-source view of a sample as a neo Block: one SpikeTrain per source.

    Parameters
    ----------
    sample : TonicSample
        The sample (its label, dataset and sensor size name the Block).
    view : SpikeSourceView, optional
        Default: ``spike_source_view(sample.events, sample.sensor_size)``.
    sources : array of int, optional
        Only these spike sources (default: all; one neo object each, so this is slow
        for large sensors — the store is written without it, see :func:`sample_nodes`).

    Returns
    -------
    neo.Block
        One segment ``"view"``; trains annotated with ``x``, ``y`` and ``channel``.
    """
    import neo

    view = view if view is not None else spike_source_view(sample.events, sample.sensor_size)
    sources = np.arange(view.size) if sources is None else np.asarray(sources)
    channel, y, x = np.unravel_index(np.arange(view.size), view.shape)
    t_stop = float(view.times.max()) if view.times.size else 0.0
    width, height = sample.sensor_size[:2]
    block = neo.Block(
        name=sample.label,
        description=f"{sample.dataset} sample {sample.sample_index}: one spike source per pixel",
        dataset=sample.dataset,
        sensor_size=list(sample.sensor_size),
        polarity="separate",
        **({"side": int(width)} if width == height else {}),
    )
    seg = neo.Segment(name=VIEW_SEGMENT)
    seg.spiketrains = [
        neo.SpikeTrain(
            view.times[view.offsets[i] : view.offsets[i + 1]],
            units="ms",
            t_start=0.0,
            t_stop=t_stop,
            source_population=VIEW_POPULATION,
            x=x[i],
            y=y[i],
            channel=channel[i],
        )
        for i in sources
    ]
    block.segments.append(seg)
    return block


def _view_nodes(view: SpikeSourceView, sample: TonicSample) -> dict[str, Node]:
    """Store nodes of the view's Block, exactly as ``block_to_nodes`` lays them out.

    Building one neo SpikeTrain per pixel costs seconds (32768 for DVSGesture), so
    ``block_to_nodes`` lays out a Block of the first and last source only — which
    differ in every annotation that varies — and the full arrays are then put in
    place. Any per-train variable this cannot fill is an error, not a silent gap
    (``tests/test_tonic.py`` compares this with the full neo route array by array).
    """
    from opsnn_lake.neo_convert import block_to_nodes, time_scale

    block = view_block(sample, view=view, sources=np.unique([0, view.size - 1]))
    channel, y, x = np.unravel_index(np.arange(view.size), view.shape)
    per_source = {"x": x, "y": y, "channel": channel}
    nodes = block_to_nodes(block, where=f"{sample.dataset} sample {sample.label!r}")
    (path,) = [p for p in nodes if p.startswith(f"{VIEW_SEGMENT}/")]
    node = nodes[path]
    meta = node.attrs["spiketrains"]
    full = {SPIKE_COUNT: view.counts()}
    full.update(
        {
            meta["annotation_vars"][k]: v
            for k, v in per_source.items()
            if k in meta["annotation_vars"]
        }
    )
    for name, var in list(node.variables.items()):
        if name == SPIKE_TIME:
            node.variables[name] = replace(
                var, data=view.times, scale_factor=time_scale(view.times)
            )
        elif name in full:
            node.variables[name] = replace(var, data=np.asarray(full[name], dtype=var.data.dtype))
        else:
            raise SchemaError(f"tonic view: cannot fill per-train variable {name!r} of {path}")
    if any(meta.get(key) for key in ("annotation_lists", "attribute_lists")):
        raise SchemaError(f"tonic view: unexpected per-train lists in {path}")
    node.dim_sizes()  # every unit variable now has one value per source
    return nodes


class TonicFiles:
    """Source of tonic sample files: one ``input`` run per file."""

    name: ClassVar[str] = "tonic"
    kind: ClassVar[str] = "input"

    def can_read(self, path: Path, **options: Any) -> bool:
        """With a ``dataset`` named: a file with that dataset's extension, or a folder
        holding one.

        Without ``dataset`` nothing: a ``.bin`` or ``.npy`` file does not say it holds
        events, nor of which sensor.
        """
        dataset = options.get("dataset")
        if dataset is None:
            return False
        try:
            fmt = dataset_format(dataset)
        except SchemaError:
            return False
        path = Path(path)
        if path.is_dir():
            return next(path.rglob(f"*{fmt.extension}"), None) is not None
        return path.is_file() and path.name.endswith(fmt.extension)

    def discover(self, path: Path, metadata: Metadata, **options: Any) -> list[Item]:
        """Items for a sample file, or every sample file below a folder.

        Parameters
        ----------
        dataset : str
            tonic dataset class name (keyword, required).
        """
        fmt = dataset_format(options.get("dataset") or "")
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.rglob(f"*{fmt.extension}") if p.is_file())
            if not files:
                raise SchemaError(f"{path}: no {fmt.name} sample files (*{fmt.extension}) here")
        else:
            files = [path]
        return [
            Item(
                source=self.name,
                label=str(f),
                files=(str(f.absolute()),),
                metadata=metadata,
                options={"dataset": fmt.name},
            )
            for f in files
        ]

    def load(
        self, item: Item, sources: Sequence[Mapping[str, Any]]
    ) -> tuple[dict[str, Node], Provenance]:
        """Read the sample file and lay it out as an input store."""
        start = time.perf_counter()
        sample = read_sample(item.files[0], item.options["dataset"])
        sample = replace(sample, source=dict(sources[0]))
        read_s = time.perf_counter() - start
        md = item.metadata
        params = {
            **md.parameters,  # what the file says about itself wins over the manifest
            "dataset": sample.dataset,
            "label": sample.label,
            "target": sample.target,
            "sample_index": sample.sample_index,
            "split": sample.split,
            **sample.extra,
        }
        prov = Provenance(
            kind=self.kind,
            model=md.model,
            parameters=params,
            sources=[dict(s) for s in sources],
            timings={"read": round(read_s, 6)},
            extra={**md.extra, "ingest": {"source": self.name, "manifest": md.origin}},
        )
        return sample_nodes(sample), prov


# --------------------------------------------------------------------------- reading back


def read_events(lake: Any, run_id: str, *, sample: str | None = None) -> TonicSample:
    """The events of an input run, with tonic's dtype for its dataset.

    Parameters
    ----------
    lake : Lake
        The lake holding the run.
    run_id : str
        An input run written by this module.
    sample : str, optional
        Group name, if the run holds several samples (default: the only one).

    Raises
    ------
    SchemaError
        If the run is not a tonic input run or has no such sample.
    """
    tree = lake.open(run_id)
    meta = tree.attrs.get("tonic")
    if not isinstance(meta, Mapping):
        raise SchemaError(f"run {run_id}: not a tonic input run (no 'tonic' root attribute)")
    samples = list(meta["samples"])
    name = sample if sample is not None else samples[0]
    if name not in samples or (sample is None and len(samples) != 1):
        raise SchemaError(f"run {run_id}: choose a sample among {samples}, got {sample!r}")
    node = tree[name]
    attrs = dict(node.attrs)
    dtype = np.dtype([(str(n), str(t)) for n, t in attrs["tonic_dtype"]])
    events = np.empty(int(attrs["n_events"]), dtype=dtype)
    for field_name in dtype.names or ():
        events[field_name] = node[field_name].values
    known = {
        "label",
        "target",
        "dataset",
        "sample_index",
        "split",
        "sensor_size",
        "n_events",
        "source",
        "tonic_dtype",
    }
    return TonicSample(
        events=events,
        dataset=attrs["dataset"],
        sensor_size=tuple(attrs["sensor_size"]),
        target=int(attrs["target"]),
        label=attrs["label"],
        sample_index=int(attrs["sample_index"]),
        split=attrs.get("split"),
        extra={k: v for k, v in attrs.items() if k not in known},
        run_id=run_id,
        source=dict(attrs.get("source") or {}),
    )


@dataclass(frozen=True, kw_only=True)
class SpikeSourceView:
    """Per-pixel spike times of an event sample: one spike source per pixel and channel.

    The spike times of source ``i`` are ``times[offsets[i]:offsets[i + 1]]`` (ms,
    sorted). Source ``i`` is pixel ``(x, y)`` of channel ``c`` with
    ``i = (c * height + y) * width + x``, the C order of tonic's ``(channel, y, x)``
    frames (:meth:`index`).

    Attributes
    ----------
    times : numpy.ndarray
        float64 spike times (ms), grouped by source, sorted within each.
    offsets : numpy.ndarray
        int64, ``n_sources + 1`` boundaries into ``times``.
    shape : tuple of int
        ``(channels, height, width)``.
    t_start, t_stop : float
        The window of event time kept (ms); ``t_stop`` is ``inf`` when open.
    offset : float
        Added to every time after the window start is subtracted (ms).
    run_id : str or None
        The input run the events came from (record it in ``inputs=[...]``).
    """

    times: np.ndarray
    offsets: np.ndarray
    shape: tuple[int, int, int]
    t_start: float = 0.0
    t_stop: float = float("inf")
    offset: float = 0.0
    run_id: str | None = None

    @property
    def size(self) -> int:
        """Number of spike sources (the size of the PyNN population)."""
        return int(self.offsets.size - 1)

    def counts(self) -> np.ndarray:
        """Number of spikes of each source."""
        return np.diff(self.offsets)

    def spike_times(self) -> list[np.ndarray]:
        """One array of times (ms) per source: ``SpikeSourceArray(spike_times=...)``."""
        return np.split(self.times, self.offsets[1:-1])

    def index(self, x: Any, y: Any, channel: Any = 0) -> np.ndarray:
        """Source index of pixel ``(x, y)`` in ``channel`` (arrays broadcast)."""
        _, height, width = self.shape
        return (np.asarray(channel) * height + np.asarray(y)) * width + np.asarray(x)


def spike_source_view(
    events: np.ndarray | Mapping[str, np.ndarray],
    sensor_size: Sequence[int],
    *,
    polarity: Literal["separate", "merge", "on", "off"] = "separate",
    t_start: float = 0.0,
    t_stop: float | None = None,
    offset: float = 0.0,
    run_id: str | None = None,
) -> SpikeSourceView:
    """Turn events into per-pixel spike times (ms) for a PyNN ``SpikeSourceArray``.

    One ``lexsort`` on (source, time) and one ``bincount``: no Python loop over pixels
    or events.

    Parameters
    ----------
    events : structured array or mapping
        Fields ``x``, ``y``, ``t`` (µs, as tonic) and ``p``.
    sensor_size : sequence of int
        ``(width, height, polarities)``, as tonic.
    polarity : {"separate", "merge", "on", "off"}
        ``"separate"``: one channel per polarity (``p`` is the channel); ``"merge"``:
        both polarities in one channel; ``"on"`` / ``"off"``: only ``p == 1`` / ``p == 0``
        events, one channel.
    t_start, t_stop : float
        Keep events with ``t_start <= t < t_stop`` (ms of event time); ``t_stop=None``
        keeps everything after ``t_start``.
    offset : float
        Spike time of an event at ``t_start`` (ms): times are ``t - t_start + offset``.
        NEST drops spikes at or before time 0, so use e.g. ``offset=1.0`` to keep an
        event at ``t_start``.
    run_id : str, optional
        The input run the events came from, kept on the view.

    Returns
    -------
    SpikeSourceView
        Times and offsets; ``view.spike_times()`` is the list PyNN takes.

    Raises
    ------
    SchemaError
        For an unknown polarity mode, missing fields, or events outside the sensor.

    Examples
    --------
    >>> view = spike_source_view(events, (34, 34, 2), offset=1.0)  # doctest: +SKIP
    >>> cells = sim.SpikeSourceArray(spike_times=view.spike_times())  # doctest: +SKIP
    >>> sources = sim.Population(view.size, cells)  # doctest: +SKIP
    """
    if polarity not in POLARITY_MODES:
        raise SchemaError(f"polarity {polarity!r} is not one of {POLARITY_MODES}")
    try:
        x, y, t, p = (np.asarray(events[name]) for name in EVENT_FIELDS)
    except (KeyError, ValueError) as err:
        raise SchemaError(f"events need fields {EVENT_FIELDS}: {err}") from None
    width, height, n_pol = (int(s) for s in sensor_size)
    channels = max(n_pol, 2) if polarity == "separate" else 1
    stop = np.inf if t_stop is None else float(t_stop)
    t_ms = t / 1000.0  # tonic's µs -> PyNN's ms
    keep = (t_ms >= t_start) & (t_ms < stop)
    if polarity == "on":
        keep &= p == 1
    elif polarity == "off":
        keep &= p == 0
    x, y, p, t_ms = x[keep], y[keep], p[keep], t_ms[keep]
    if x.size and (x.min() < 0 or x.max() >= width or y.min() < 0 or y.max() >= height):
        raise SchemaError(f"events fall outside the sensor {width} x {height}")
    channel = p.astype(np.int64) if polarity == "separate" else np.zeros(x.size, np.int64)
    if channel.size and (channel.min() < 0 or channel.max() >= channels):
        raise SchemaError(f"polarities outside 0..{channels - 1}")
    source = (channel * height + y.astype(np.int64)) * width + x.astype(np.int64)
    order = np.lexsort((t_ms, source))
    n_sources = channels * height * width
    offsets = np.zeros(n_sources + 1, dtype=np.int64)
    np.cumsum(np.bincount(source, minlength=n_sources), out=offsets[1:])
    return SpikeSourceView(
        times=t_ms[order] - t_start + offset,
        offsets=offsets,
        shape=(channels, height, width),
        t_start=float(t_start),
        t_stop=stop,
        offset=float(offset),
        run_id=run_id,
    )


def input_spike_source(lake: Any, run_id: str, **options: Any) -> SpikeSourceView:
    """The spike-source view of an input run (options as :func:`spike_source_view`).

    Record ``view.run_id`` in the simulation's ``inputs`` so that
    ``lake.search(input=run_id)`` finds every run driven by this input.
    """
    sample = options.pop("sample", None)
    data = read_events(lake, run_id, sample=sample)
    return spike_source_view(data.events, data.sensor_size, run_id=run_id, **options)
