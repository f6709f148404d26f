"""The tonic datasets read: each one's folder layout, file encoding and labels.

Files are read in tonic's own per-file formats with tonic's own readers and dtypes,
never through the dataset classes (which download whenever their expected folder
layout is incomplete); the package docstring lists the layouts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from opsnn_lake.errors import SchemaError

__all__ = ["DATASETS", "dataset_format"]


@dataclass(frozen=True)
class _Format:
    """How one tonic dataset lays out and encodes its sample files."""

    name: str
    tonic_class: str
    extension: str
    reader: Callable[[Path, Any], np.ndarray]
    label_of: Callable[[Path, Any], tuple[int, str, dict[str, Any]]]

    def cls(self) -> Any:
        import tonic.datasets

        return getattr(tonic.datasets, self.tonic_class)


def _read_nmnist(path: Path, cls: Any) -> np.ndarray:
    import tonic.io

    size = path.stat().st_size
    if size % 5:
        raise SchemaError(
            f"{path}: {size} bytes is not a whole number of 5-byte N-MNIST events (truncated file?)"
        )
    return tonic.io.read_mnist_file(str(path), dtype=cls.dtype)


def _load_npy(path: Path) -> np.ndarray:
    try:
        data = np.load(path, allow_pickle=False)  # object arrays would unpickle: refused
    except (ValueError, OSError, EOFError) as err:
        raise SchemaError(f"{path}: not a readable .npy event file: {err}") from None
    if data.ndim != 2 or data.shape[1] != 4 or data.dtype.kind not in "biuf":
        raise SchemaError(
            f"{path}: expected a numeric (events, 4) array, got {data.dtype} {data.shape}"
        )
    return data


def _read_pokerdvs(path: Path, cls: Any) -> np.ndarray:
    from numpy.lib import recfunctions

    return recfunctions.unstructured_to_structured(_load_npy(path), cls.dtype)


def _read_dvsgesture(path: Path, cls: Any) -> np.ndarray:
    from numpy.lib import recfunctions

    events = _load_npy(path)
    events[:, 3] *= 1000  # ms -> µs, as tonic's DVSGesture does
    return recfunctions.unstructured_to_structured(events, cls.dtype)


def _nmnist_label(path: Path, cls: Any) -> tuple[int, str, dict[str, Any]]:
    folder = path.parent.name
    if not folder or not folder[-1].isdigit():
        raise SchemaError(f"{path}: N-MNIST samples live in a folder named by their digit")
    target = int(folder[-1])  # tonic takes the folder's last character
    return target, cls.classes[target], {}


def _pokerdvs_label(path: Path, cls: Any) -> tuple[int, str, dict[str, Any]]:
    folder = path.parent.name[-2:]
    if folder not in cls.int_classes:
        raise SchemaError(
            f"{path}: POKERDVS samples live in a folder named by their class "
            f"{sorted(cls.int_classes)}, not {path.parent.name!r}"
        )
    return cls.int_classes[folder], folder, {}


def _dvsgesture_label(path: Path, cls: Any) -> tuple[int, str, dict[str, Any]]:
    user, sep, lighting = path.parent.name.partition("_")
    if not (path.stem.isdigit() and sep and user.startswith("user") and user[4:].isdigit()):
        raise SchemaError(f"{path}: DVSGesture samples are user<NN>_<lighting>/<target>.npy files")
    target = int(path.stem)
    if not 0 <= target < len(cls.classes):
        raise SchemaError(f"{path}: gesture {target} is not one of 0..{len(cls.classes) - 1}")
    return target, cls.classes[target], {"user": int(user[4:]), "lighting": lighting}


DATASETS: dict[str, _Format] = {
    f.name: f
    for f in (
        _Format("NMNIST", "NMNIST", ".bin", _read_nmnist, _nmnist_label),
        _Format("POKERDVS", "POKERDVS", ".npy", _read_pokerdvs, _pokerdvs_label),
        _Format("DVSGesture", "DVSGesture", ".npy", _read_dvsgesture, _dvsgesture_label),
    )
}


def dataset_format(name: str) -> _Format:
    """The format of a dataset, by tonic class name (case-insensitive).

    Raises
    ------
    SchemaError
        For a dataset this module does not read; the message lists those it does.
    """
    for key, fmt in DATASETS.items():
        if key.lower() == str(name).lower():
            return fmt
    raise SchemaError(f"tonic dataset {name!r} is not supported; supported: {', '.join(DATASETS)}")


@cache
def enumeration(root: str, extension: str) -> dict[str, int]:
    """tonic's order of the sample files of a split folder: sorted folders, sorted files."""
    order: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(extension):
                order[str(Path(dirpath, name).absolute())] = len(order)
    return order
