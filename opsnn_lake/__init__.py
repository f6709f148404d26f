"""OpSNN lake: a data lake and catalog for spiking-network runs.

neo Blocks from PyNN simulations (NEST, SpiNNaker), ingested files and tonic inputs
become chunked zarr v3 stores with provenance, indexed for search and opened lazily
with xarray and dask, singly or across many runs.

>>> import opsnn_lake
>>> lake = opsnn_lake.Lake("lake")                         # doctest: +SKIP
>>> run_id = lake.add(block, model="va", parameters={...})  # doctest: +SKIP
>>> lake.search(g_inh=(40, 60))                             # doctest: +SKIP
>>> tree = lake.open(run_id)                                # doctest: +SKIP
>>> block = lake.to_neo(run_id)                             # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

from opsnn_lake.errors import (
    CorruptStoreError,
    IndexVersionError,
    InvalidArgumentError,
    LakeError,
    NotALakeError,
    RunNotFoundError,
    SchemaError,
    SpecError,
    UntrustedInputError,
)

if TYPE_CHECKING:
    from opsnn_lake.catalog import LakeCatalog, open_catalog
    from opsnn_lake.explorer import explore
    from opsnn_lake.lake import Lake
    from opsnn_lake.provenance import Provenance

__all__ = [
    "CorruptStoreError",
    "IndexVersionError",
    "InvalidArgumentError",
    "Lake",
    "LakeCatalog",
    "LakeError",
    "NotALakeError",
    "Provenance",
    "RunNotFoundError",
    "SchemaError",
    "SpecError",
    "UntrustedInputError",
    "__version__",
    "explore",
    "open_catalog",
]

# Heavy names load on first use (PEP 562), so intake can find the catalog driver and
# the CLI can start without importing neo, pandas and zarr up front.
# Add a public name here (and to __all__) to export it lazily.
_LAZY = {
    "Lake": "opsnn_lake.lake",
    "LakeCatalog": "opsnn_lake.catalog",
    "Provenance": "opsnn_lake.provenance",
    "explore": "opsnn_lake.explorer",
    "open_catalog": "opsnn_lake.catalog",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'opsnn_lake' has no attribute {name!r}")


def __dir__() -> list[str]:
    # Tab completion (``opsnn_lake.L<TAB>``) must offer the lazy names before first use.
    return sorted(set(globals()) | set(__all__))


try:
    __version__ = metadata.version("opsnn-lake")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"
