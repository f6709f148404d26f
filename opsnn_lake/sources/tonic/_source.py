"""The ingestion source of tonic sample files: one ``input`` run per file."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from opsnn_lake.errors import SchemaError
from opsnn_lake.provenance import Provenance
from opsnn_lake.schema import Node
from opsnn_lake.sources.base import Item, Metadata
from opsnn_lake.sources.tonic._formats import dataset_format
from opsnn_lake.sources.tonic._layout import sample_nodes
from opsnn_lake.sources.tonic._sample import read_sample

__all__ = ["TonicFiles"]


class TonicFiles:
    """Source of tonic sample files: one ``input`` run per file."""

    name: ClassVar[str] = "tonic"
    kind: ClassVar[str] = "input"
    groups_files: ClassVar[bool] = False

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

    def explains(self, path: Path, *, walk: bool = False, **options: Any) -> bool:
        """Any existing path named by the user with a supported ``dataset`` (discovering
        it names the problem: no sample files there); never in a walk."""
        if walk or options.get("dataset") is None or not Path(path).exists():
            return False
        try:
            dataset_format(options["dataset"])
        except SchemaError:
            return False
        return True

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
