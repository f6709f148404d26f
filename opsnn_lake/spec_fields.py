"""Checks of single spec and record fields, shared by sweep, explore and SLURM specs.

Each ``parse_*`` takes the raw value (as YAML or JSON gives it), the key and ``where``
(the spec or record named in messages), and returns the value in its record type or
raises :class:`~opsnn_lake.errors.SpecError` naming the key, what was expected and what
was given. The record classes (:class:`~opsnn_lake.sweep.SweepSpec`,
:class:`~opsnn_lake.explorer.ExploreSpec`, …) call one per field, as zarr's metadata
classes do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opsnn_lake.errors import SpecError

__all__ = [
    "SpecFile",
    "check_keys",
    "parse_bool",
    "parse_int",
    "parse_mapping",
    "parse_optional_int",
    "parse_positive_int",
    "parse_positive_number",
    "parse_settings",
    "parse_simulator",
    "parse_text",
    "require_mapping",
]


class SpecFile:
    """Mixin of spec records read from a file: ``kind``, ``path``, ``where``, ``search``."""

    kind = "spec"
    path: Path | None

    @property
    def where(self) -> str:
        """Name of the spec in messages."""
        return f"{self.kind} {self.path}" if self.path else self.kind

    @classmethod
    def checked(
        cls, data: Any, keys: Sequence[str], path: Path | None
    ) -> tuple[Mapping[str, Any], str]:
        """``(data, where)``: ``data`` as a mapping with only ``keys``, and the spec's name."""
        where = f"{cls.kind} {path}" if path else cls.kind
        return require_mapping(data, keys, where), where

    @property
    def search(self) -> list[str]:
        """Folders where the spec's models are looked up first."""
        return [str(self.path.parent)] if self.path else []


def require_mapping(data: Any, valid: Sequence[str], where: str) -> Mapping[str, Any]:
    """``data`` as a mapping with only ``valid`` keys (else a SpecError listing them)."""
    if not isinstance(data, Mapping):
        raise SpecError(f"{where}: expected a mapping of keys ({', '.join(valid)}), got {data!r}")
    check_keys(data, valid, where)
    return data


def check_keys(data: Mapping[str, Any], valid: Sequence[str], where: str) -> None:
    """Refuse a key not in ``valid``, listing the valid ones."""
    for key in data:
        if key not in valid:
            raise SpecError(f"{where}: unknown key {key!r}; valid keys: {', '.join(valid)}")


def parse_mapping(value: Any, key: str, where: str) -> dict[str, Any]:
    """A mapping of names to values (``None``: empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise SpecError(
            f"{where}: {key!r} must be a mapping of names to values, got {value!r}; "
            f"write it as {key}: {{name: value, ...}}"
        )
    return dict(value)


def parse_text(value: Any, key: str, where: str, *, required: bool = False) -> str | None:
    """A string; ``required``: a non-empty one."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        need = "a non-empty string" if required else "a string"
        raise SpecError(f"{where}: {key!r} must be {need}, got {value!r}")
    return value


def parse_bool(value: Any, key: str, where: str) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise SpecError(f"{where}: {key!r} must be true or false, got {value!r}")
    return value


def parse_int(value: Any, key: str, where: str) -> int:
    """An integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{where}: {key!r} must be an integer, got {value!r}")
    return value


def parse_optional_int(value: Any, key: str, where: str) -> int | None:
    """An integer or ``None``."""
    return None if value is None else parse_int(value, key, where)


def parse_positive_int(value: Any, key: str, where: str) -> int:
    """An integer ≥ 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{where}: {key!r} must be a positive integer, got {value!r}")
    return value


def parse_positive_number(value: Any, key: str, where: str, *, unit: str = "") -> float | None:
    """A number > 0 as float, or ``None``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        what = f"a positive number of {unit}" if unit else "a positive number"
        raise SpecError(f"{where}: {key!r} must be {what}, got {value!r}")
    return float(value)


def parse_simulator(value: Any, where: str) -> str:
    """A registered simulator back-end name (default ``"nest"`` for ``None``)."""
    from opsnn_lake.simulators import simulator_names

    value = "nest" if value is None else value
    names = simulator_names()
    if value not in names:
        raise SpecError(f"{where}: simulator {value!r} is unknown; valid: {', '.join(names)}")
    return str(value)


def parse_settings(value: Any, where: str) -> dict[str, dict[str, Any]]:
    """``sim.setup`` keywords per simulator: ``{nest: {threads: 2}}``."""
    from opsnn_lake.simulators import simulator_names

    settings = parse_mapping(value, "settings", where)
    names = simulator_names()
    for key, sub in settings.items():
        if key not in names:
            raise SpecError(
                f"{where}: settings: unknown simulator {key!r}; valid: {', '.join(names)} "
                "(settings are given per simulator, e.g. settings: {nest: {threads: 2}})"
            )
        settings[key] = parse_mapping(sub, f"settings[{key!r}]", where)
    return settings
