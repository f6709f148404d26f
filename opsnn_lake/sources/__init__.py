"""Ingestion sources: neo files, sPyNNaker run folders and tonic event files.

Each source follows :class:`~opsnn_lake.sources.base.Source` (``can_read``,
``discover`` then ``load``); :data:`SOURCES` maps their names to instances, and
:data:`DISCOVERY_ORDER` is the order in which ingestion asks them whether they read a
path (the first that says yes discovers it): tonic (only with a dataset named), then
sPyNNaker folders, then neo files (which include NWB and SONATA files). A new source
is added to both and its tests subclass :class:`opsnn_lake.testing.SourceTests`. The
``opsnn-lake ingest`` command (:mod:`opsnn_lake.ingest`) runs them in parallel. The
spike-source view of a tonic input run is :func:`~opsnn_lake.sources.tonic.input_spike_source`.
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
    "DISCOVERY_ORDER",
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
# Which source ingestion asks first: the most specific claims first.
DISCOVERY_ORDER: tuple[Source, ...] = (SOURCES["tonic"], SOURCES["spinnaker"], SOURCES["neo"])
