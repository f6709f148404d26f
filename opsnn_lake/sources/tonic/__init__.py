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

One concern a module: ``_formats`` (each dataset's files), ``_sample`` (one sample
read), ``_view`` (the spike-source view, and as neo), ``_layout`` (a sample as store
nodes), ``_source`` (the ingestion source), ``_runs`` (input runs read back).
"""

from __future__ import annotations

from opsnn_lake.sources.tonic._formats import DATASETS, dataset_format
from opsnn_lake.sources.tonic._layout import sample_nodes
from opsnn_lake.sources.tonic._runs import input_spike_source, read_events
from opsnn_lake.sources.tonic._sample import TonicSample, read_sample
from opsnn_lake.sources.tonic._source import TonicFiles
from opsnn_lake.sources.tonic._view import (
    EVENT_FIELDS,
    POLARITY_MODES,
    VIEW_POPULATION,
    VIEW_SEGMENT,
    SpikeSourceView,
    spike_source_view,
    view_block,
)

__all__ = [
    "DATASETS",
    "EVENT_FIELDS",
    "POLARITY_MODES",
    "VIEW_POPULATION",
    "VIEW_SEGMENT",
    "SpikeSourceView",
    "TonicFiles",
    "TonicSample",
    "dataset_format",
    "input_spike_source",
    "read_events",
    "read_sample",
    "sample_nodes",
    "spike_source_view",
    "view_block",
]
