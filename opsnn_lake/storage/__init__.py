"""The storage layer: every byte a lake reads or writes goes through here.

* :mod:`opsnn_lake.store` — the zarr run store: encoding, writing, verified reading,
  CF decoding and zarr's warnings (scoped), for a local folder or an object prefix;
* :mod:`opsnn_lake.storage.objects` — object-storage locations (``s3://bucket/prefix``)
  and their I/O: concurrent puts, the create-only put that commits a run, listings;
* :mod:`opsnn_lake.storage.verify` — the checks every read makes (manifest digests,
  CRC-32C, missing chunks), shared by local and object stores;
* :mod:`opsnn_lake.storage.layout` — where a lake keeps what (runs, staging, quarantine,
  index, commit records), on a file system and in a bucket.

Object storage changes only these modules: the lake, the catalog and the analyses hold
a *location* (a :class:`~pathlib.Path` or an
:class:`~opsnn_lake.storage.objects.ObjectLocation`) and pass it to :mod:`opsnn_lake.store`.
"""

from opsnn_lake.storage.objects import ObjectLocation, is_url, parse_url

__all__ = ["ObjectLocation", "is_url", "parse_url"]
