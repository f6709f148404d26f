"""The spike-source view of event samples: per-pixel spike times for PyNN, and as neo."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from opsnn_lake.errors import SchemaError
from opsnn_lake.sources.tonic._sample import TonicSample

__all__ = [
    "EVENT_FIELDS",
    "POLARITY_MODES",
    "VIEW_POPULATION",
    "VIEW_SEGMENT",
    "SpikeSourceView",
    "spike_source_view",
    "view_block",
]

POLARITY_MODES = ("separate", "merge", "on", "off")
EVENT_FIELDS = ("x", "y", "t", "p")
VIEW_SEGMENT = "view"
VIEW_POPULATION = "spike_sources"


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

    Examples
    --------
    >>> view = spike_source_view(events, (34, 34, 2), offset=1.0)  # doctest: +SKIP
    >>> cells = sim.SpikeSourceArray(spike_times=view.spike_times())  # doctest: +SKIP
    >>> sources = sim.Population(view.size, cells)  # doctest: +SKIP
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

    Parameters
    ----------
    events : structured array or mapping
        Fields ``x``, ``y``, ``t`` (µs, as tonic) and ``p``.
    sensor_size : sequence of int
        ``(width, height, polarities)``, as tonic.
    polarity : {"separate", "merge", "on", "off"}
        One channel per polarity (``p`` is the channel); both in one channel; only
        ``p == 1`` / ``p == 0`` events, one channel.
    t_start, t_stop : float
        Keep events with ``t_start <= t < t_stop`` (ms of event time; None: no end).
    offset : float
        Spike time (ms) of an event at ``t_start``: NEST drops spikes at or before 0,
        so ``offset=1.0`` keeps it.
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
    """
    if polarity not in POLARITY_MODES:
        raise SchemaError(f"polarity {polarity!r} is not one of {POLARITY_MODES}")
    x, y, t, p = _event_fields(events)
    width, height, n_pol = (int(s) for s in sensor_size)
    shape = (max(n_pol, 2) if polarity == "separate" else 1, height, width)
    stop = np.inf if t_stop is None else float(t_stop)
    t_ms = t / 1000.0  # tonic's µs -> PyNN's ms
    keep = _kept(t_ms, p, polarity, t_start=t_start, t_stop=stop)
    source, t_ms = _source_index(x[keep], y[keep], p[keep], polarity, shape=shape), t_ms[keep]
    order = np.lexsort((t_ms, source))  # with one bincount: no loop over pixels or events
    offsets = np.zeros(shape[0] * height * width + 1, dtype=np.int64)
    np.cumsum(np.bincount(source, minlength=offsets.size - 1), out=offsets[1:])
    return SpikeSourceView(
        times=t_ms[order] - t_start + offset,
        offsets=offsets,
        shape=shape,
        t_start=float(t_start),
        t_stop=stop,
        offset=float(offset),
        run_id=run_id,
    )


def _event_fields(events: np.ndarray | Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The ``x``, ``y``, ``t``, ``p`` arrays of a structured array or mapping."""
    try:
        return [np.asarray(events[name]) for name in EVENT_FIELDS]
    except (KeyError, ValueError) as err:
        raise SchemaError(f"events need fields {EVENT_FIELDS}: {err}") from None


def _kept(
    t_ms: np.ndarray, p: np.ndarray, polarity: str, *, t_start: float, t_stop: float
) -> np.ndarray:
    """Which events the window and the polarity mode keep."""
    keep = (t_ms >= t_start) & (t_ms < t_stop)
    if polarity == "on":
        keep &= p == 1
    elif polarity == "off":
        keep &= p == 0
    return keep


def _source_index(
    x: np.ndarray, y: np.ndarray, p: np.ndarray, polarity: str, *, shape: tuple[int, int, int]
) -> np.ndarray:
    """Spike-source index of each event, ``(channel * height + y) * width + x``."""
    channels, height, width = shape
    if x.size and (x.min() < 0 or x.max() >= width or y.min() < 0 or y.max() >= height):
        raise SchemaError(f"events fall outside the sensor {width} x {height}")
    channel = p.astype(np.int64) if polarity == "separate" else np.zeros(x.size, np.int64)
    if channel.size and (channel.min() < 0 or channel.max() >= channels):
        raise SchemaError(f"polarities outside 0..{channels - 1}")
    return (channel * height + y.astype(np.int64)) * width + x.astype(np.int64)


def view_metadata(sample: TonicSample) -> dict[str, Any]:
    """Name, description and annotations of a sample's view Block (``view_block``)."""
    width, height = sample.sensor_size[:2]
    return {
        "name": sample.label,
        "description": f"{sample.dataset} sample {sample.sample_index}: one spike source per pixel",
        "annotations": {
            "dataset": sample.dataset,
            "sensor_size": list(sample.sensor_size),
            "polarity": "separate",
            **({"side": int(width)} if width == height else {}),
        },
    }


def source_pixels(view: SpikeSourceView) -> dict[str, np.ndarray]:
    """Pixel column ``x``, row ``y`` and ``channel`` of every spike source, in this order."""
    channel, y, x = np.unravel_index(np.arange(view.size), view.shape)
    return {"x": x, "y": y, "channel": channel}


def view_t_stop(view: SpikeSourceView) -> float:
    """t_stop of the view's trains: the last spike (ms), 0 without spikes."""
    return float(view.times.max()) if view.times.size else 0.0


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
    per_source = source_pixels(view)
    t_stop = view_t_stop(view)
    meta = view_metadata(sample)
    block = neo.Block(name=meta["name"], description=meta["description"], **meta["annotations"])
    seg = neo.Segment(name=VIEW_SEGMENT)
    seg.spiketrains = [
        neo.SpikeTrain(
            view.times[view.offsets[i] : view.offsets[i + 1]],
            units="ms",
            t_start=0.0,
            t_stop=t_stop,
            source_population=VIEW_POPULATION,
            x=per_source["x"][i],
            y=per_source["y"][i],
            channel=per_source["channel"][i],
        )
        for i in sources
    ]
    block.segments.append(seg)
    return block
