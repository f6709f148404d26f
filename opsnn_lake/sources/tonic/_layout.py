"""An event sample as store nodes: its events, and its spike-source view as spike trains.

The layout (root ``tonic`` attribute, the events group, ``/view/spike_sources``) is
drawn in the package docstring (:mod:`opsnn_lake.sources.tonic`).
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from opsnn_lake import jsonable
from opsnn_lake.neo_convert import DEFAULT_TRAIN_ATTRIBUTES, spike_group
from opsnn_lake.schema import DIM_EVENT, Node, Variable, sanitize_label, unique_names
from opsnn_lake.sources.tonic._sample import TonicSample
from opsnn_lake.sources.tonic._view import (
    EVENT_FIELDS,
    VIEW_POPULATION,
    VIEW_SEGMENT,
    SpikeSourceView,
    source_pixels,
    spike_source_view,
    view_metadata,
    view_t_stop,
)

__all__ = ["sample_nodes"]

# Stored dtypes: compact, and wide enough for any sensor tonic knows (<= 1280 x 720).
_STORED = {"x": np.int16, "y": np.int16, "t": np.int64, "p": np.int8}
_ATTRS = {
    "x": {"long_name": "pixel column", "units": "1"},
    "y": {"long_name": "pixel row", "units": "1"},
    "t": {"long_name": "event time", "units": "us"},
    "p": {"long_name": "polarity", "units": "1"},
}
# neo's metadata of a container made with no more than a name (and annotations).
_CONTAINER_DEFAULTS = {
    "description": None,
    "file_origin": None,
    "file_datetime": None,
    "rec_datetime": None,
    "index": None,
}


def sample_nodes(sample: TonicSample) -> dict[str, Node]:
    """The store nodes of one sample: its events, and its spike-source view as spike trains.

    The view (``polarity="separate"``, event times in ms, no window) is stored as a neo
    segment, so ``lake.to_neo(input_id)`` gives one spike train per pixel and polarity,
    annotated with ``x``, ``y`` and ``channel``: what a model that takes a spike-source
    input run (``simulate/v1_sheet.py``) builds its ``SpikeSourceArray`` from. The
    nodes are those ``block_to_nodes(view_block(sample))`` gives, built without one
    neo object per pixel (``tests/test_tonic.py`` compares the two).
    """
    view = spike_source_view(sample.events, sample.sensor_size)
    nodes = view_nodes(view, sample)
    group = unique_names(
        [VIEW_SEGMENT, sanitize_label(sample.label, fallback="sample")], prefix="g"
    )[1]
    nodes[""].attrs["tonic"] = {
        "dataset": sample.dataset,
        "sensor_size": list(sample.sensor_size),
        "ordering": "".join(EVENT_FIELDS),
        "time_units": "us",
        "samples": [group],
        "view": {"segment": VIEW_SEGMENT, "polarity": "separate", "t_start": 0.0, "offset": 0.0},
    }
    nodes[group] = _events_node(sample)
    return nodes


def _events_node(sample: TonicSample) -> Node:
    """The sample's events on dim ``event``, with what identifies the sample."""
    events = sample.events
    variables = {
        name: Variable(
            dims=(DIM_EVENT,),
            data=np.asarray(events[name]).astype(_STORED[name]),
            attrs=dict(_ATTRS[name]),
        )
        for name in EVENT_FIELDS
    }
    fields = cast(tuple[str, ...], events.dtype.names)  # a structured array: named fields
    attrs = {
        "label": sample.label,
        "target": sample.target,
        "dataset": sample.dataset,
        "sample_index": sample.sample_index,
        "split": sample.split,
        "sensor_size": list(sample.sensor_size),
        "n_events": int(events.size),
        "source": dict(sample.source),
        "tonic_dtype": [[n, events.dtype[n].str] for n in fields],
        **sample.extra,
    }
    return Node(attrs=attrs, variables=variables)


def view_nodes(view: SpikeSourceView, sample: TonicSample) -> dict[str, Node]:
    """Store nodes of the view's Block (:func:`view_block`), as ``block_to_nodes`` lays them out.

    Root and segment carry the Block's and segment's neo metadata; the one population
    group is laid out by :func:`~opsnn_lake.neo_convert.spike_group` from the view's
    flat arrays: every train starts at 0 and stops at the last spike, has neo's default
    attributes, and is annotated with its pixel (``x``, ``y``, ``channel``).
    """
    where = f"{sample.dataset} sample {sample.label!r}"
    meta = view_metadata(sample)
    block = {"name": meta["name"], "description": meta["description"]}
    block.update({k: v for k, v in _CONTAINER_DEFAULTS.items() if k != "description"})
    block["annotations"] = meta["annotations"]
    segment: dict[str, Any] = {"name": VIEW_SEGMENT, **_CONTAINER_DEFAULTS, "annotations": {}}
    population = Node(attrs={"label": VIEW_POPULATION, "label_from_annotation": True})
    spike_group(
        population,
        times=view.times,
        counts=view.counts(),
        units="ms",
        dtype=view.times.dtype.str,
        t_start=np.zeros(view.size),
        t_stop=np.full(view.size, view_t_stop(view)),
        unit_annotations=source_pixels(view),
        annotations={},
        attributes=DEFAULT_TRAIN_ATTRIBUTES,
    )
    root: dict[str, Any] = {
        "block": jsonable.encode_mapping(block, where=f"{where} metadata"),
        "segments": [VIEW_SEGMENT],
    }
    seg = {
        "segment": jsonable.encode_mapping(segment, where=f"{where} metadata"),
        "populations": [VIEW_POPULATION],
    }
    return {
        "": Node(attrs=root),
        VIEW_SEGMENT: Node(attrs=seg),
        f"{VIEW_SEGMENT}/{VIEW_POPULATION}": population,
    }
