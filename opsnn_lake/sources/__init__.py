"""Ingestion sources: neo files, sPyNNaker run folders and tonic event files.

Each source follows :class:`~opsnn_lake.sources.base.Source` (``discover`` then
``load``); :data:`SOURCES` maps their names to instances. The ``opsnn-lake ingest``
command (:mod:`opsnn_lake.ingest`) runs them in parallel. The spike-source view of a
tonic input run is :func:`~opsnn_lake.sources.tonic.input_spike_source`.
"""

from __future__ import annotations

from opsnn_lake.sources.base import Item, Metadata, Source
from opsnn_lake.sources.neo_files import NeoFiles, read_neo_file
from opsnn_lake.sources.spinnaker_folder import SpinnakerFolders, read_databases
from opsnn_lake.sources.tonic import (
    SpikeSourceView,
    TonicFiles,
    input_spike_source,
    read_events,
    read_sample,
    spike_source_view,
)

__all__ = [
    "SOURCES",
    "Item",
    "Metadata",
    "NeoFiles",
    "Source",
    "SpikeSourceView",
    "SpinnakerFolders",
    "TonicFiles",
    "input_spike_source",
    "read_databases",
    "read_events",
    "read_neo_file",
    "read_sample",
    "spike_source_view",
]

SOURCES: dict[str, Source] = {s.name: s for s in (NeoFiles(), SpinnakerFolders(), TonicFiles())}
