"""One event sample: :class:`TonicSample`, read from its file with tonic's reader."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from opsnn_lake.errors import SchemaError
from opsnn_lake.sources.tonic._formats import dataset_format, enumeration

__all__ = ["TonicSample", "read_sample"]


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
    index = enumeration(str(root.absolute()), fmt.extension).get(str(path.absolute()), -1)
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
