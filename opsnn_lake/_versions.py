"""Versions of third-party packages whose private internals opsnn_lake relies on.

Three places use what a package does not promise to keep:

* ``PyNN`` — :func:`opsnn_lake.simulators.nest.pynn_speedups` replaces
  ``pyNN.nest.Projection._connect`` and ``ID.local``; :mod:`opsnn_lake.fastpath` reads
  the recorders' private state (``_spike_detector``, ``_multimeter``,
  ``_recording_start_time``, ``_record_filter``, ``_time_offset``…);
* ``neo`` — :class:`opsnn_lake.neo_convert.LazySpikeTrains` overrides
  ``SpikeTrainList`` methods over its private attributes (``_items``,
  ``_spike_time_array``, ``_channel_id_array``, ``_spiketrain_metadata``…);
* ``zarr`` — the verifying stores of :mod:`opsnn_lake.store` (``VerifiedStore``,
  ``VerifiedObjectStore``) override the store's ``get`` and ``get_partial_values`` and
  rely on zarr reading every key through them (:func:`opsnn_lake.store.verified_store`
  checks the version).

:data:`VERIFIED` holds the versions these were checked against (the same ranges pin
them in ``pyproject.toml``; a test keeps both in step and fails when the installed
versions leave them). Code using those internals calls :func:`require_verified`, so an
unverified version stops with an :class:`UnverifiedVersionError` naming the package,
the installed version, the verified range and the fix, instead of misbehaving. The
optional NEST speed-ups ask :func:`is_verified` instead and fall back to PyNN's own
behaviour with a warning.

To verify a new version: install it, run the test suite (the NEST connection test of
the speed-ups, the fast-path equivalence test and the neo round trips cover the
internals), then widen the range here and in ``pyproject.toml``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from importlib import metadata

from opsnn_lake.errors import LakeError

__all__ = [
    "VERIFIED",
    "UnverifiedVersionError",
    "VersionRange",
    "installed_version",
    "is_verified",
    "require_verified",
]


class UnverifiedVersionError(LakeError, RuntimeError):
    """An installed package version whose internals opsnn_lake has not been checked on."""


_RELEASE = re.compile(r"^\s*v?(\d+(?:\.\d+)*)")


def _release(version: str) -> tuple[int, ...]:
    """The release numbers of a version string (``"3.1.6rc1"`` → ``(3, 1, 6)``)."""
    match = _RELEASE.match(version)
    if match is None:
        raise UnverifiedVersionError(
            f"cannot read version string {version!r}: expected release numbers such as "
            "'3.1.6'; reinstall the package from a release"
        )
    return tuple(int(part) for part in match[1].split("."))


@dataclass(frozen=True)
class VersionRange:
    """A half-open range of releases, ``minimum <= version < below``.

    Parameters
    ----------
    distribution : str
        Name of the distribution as pip knows it (``"PyNN"``).
    module : str
        The module whose ``__version__`` is the running version (``"pyNN"``).
    minimum : str
        Lowest verified release (inclusive).
    below : str
        First release not verified (exclusive).
    """

    distribution: str
    module: str
    minimum: str
    below: str

    @property
    def specifier(self) -> str:
        """The range as a PEP 440 specifier, as written in ``pyproject.toml``."""
        return f">={self.minimum},<{self.below}"

    def contains(self, version: str) -> bool:
        """True if ``version`` lies in the range (pre-releases count as their release)."""
        release = _release(version)
        return _release(self.minimum) <= release < _release(self.below)


VERIFIED: dict[str, VersionRange] = {
    r.distribution: r
    for r in (
        VersionRange("PyNN", "pyNN", minimum="0.13", below="0.14"),
        VersionRange("neo", "neo", minimum="0.14", below="0.15"),
        VersionRange("zarr", "zarr", minimum="3.1.3", below="3.2"),
    )
}
"""Verified version ranges, by distribution name."""


def installed_version(distribution: str) -> str:
    """The running version of a package of :data:`VERIFIED`.

    The ``__version__`` of its module when imported (what actually runs, even from a
    source checkout), else the installed distribution's metadata.

    Raises
    ------
    KeyError
        If ``distribution`` is not in :data:`VERIFIED`.
    """
    module = sys.modules.get(VERIFIED[distribution].module)
    version = getattr(module, "__version__", None)
    if isinstance(version, str):
        return version
    return metadata.version(distribution)


def is_verified(distribution: str) -> bool:
    """True if the running version of ``distribution`` is in its verified range."""
    return VERIFIED[distribution].contains(installed_version(distribution))


def require_verified(distribution: str, feature: str) -> None:
    """Refuse to use ``feature`` on a version of ``distribution`` not verified for it.

    Parameters
    ----------
    distribution : str
        A key of :data:`VERIFIED` (``"PyNN"``, ``"neo"``, ``"zarr"``).
    feature : str
        What relies on the package's internals, for the message.

    Raises
    ------
    UnverifiedVersionError
        If the running version is outside the verified range.
    """
    verified = VERIFIED[distribution]
    version = installed_version(distribution)
    if not verified.contains(version):
        raise UnverifiedVersionError(
            f"{feature} relies on internals of {distribution} verified for "
            f"{distribution}{verified.specifier}, but {distribution} {version} is "
            f"installed. Fix: pip install '{distribution}{verified.specifier}' (or verify "
            f"{distribution} {version} and widen opsnn_lake._versions.VERIFIED)"
        )
