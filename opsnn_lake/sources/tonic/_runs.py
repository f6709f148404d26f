"""Input runs read back: a sample's events, and its spike-source view for a network."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from opsnn_lake.errors import SchemaError
from opsnn_lake.sources.tonic._sample import TonicSample
from opsnn_lake.sources.tonic._view import SpikeSourceView, spike_source_view

__all__ = ["input_spike_source", "read_events"]

# Attributes of a sample's group that TonicSample has fields for; the rest is ``extra``.
_KNOWN = frozenset(
    {
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
)


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
    return TonicSample(
        events=events,
        dataset=attrs["dataset"],
        sensor_size=tuple(attrs["sensor_size"]),
        target=int(attrs["target"]),
        label=attrs["label"],
        sample_index=int(attrs["sample_index"]),
        split=attrs.get("split"),
        extra={k: v for k, v in attrs.items() if k not in _KNOWN},
        run_id=run_id,
        source=dict(attrs.get("source") or {}),
    )


def input_spike_source(lake: Any, run_id: str, **options: Any) -> SpikeSourceView:
    """The spike-source view of an input run (options as :func:`spike_source_view`).

    Record ``view.run_id`` in the simulation's ``inputs`` so that
    ``lake.search(input=run_id)`` finds every run driven by this input.
    """
    sample = options.pop("sample", None)
    data = read_events(lake, run_id, sample=sample)
    return spike_source_view(data.events, data.sensor_size, run_id=run_id, **options)
