"""Errors raised by OpSNN lake.

Every error derives from :class:`LakeError`; the specific ones also derive from the
builtin a caller would naturally catch (a missing run is a ``KeyError``, a bad block a
``ValueError``). Messages name the file or object, and state what was expected, what
was got, and how to fix it.

Which error for what:

* :class:`SchemaError` — data that does not fit the run-store contract (a bad Block,
  a store of the wrong shape or version, a file that cannot be ingested);
* :class:`CorruptStoreError` — a store damaged after it was written;
* :class:`SpecError` — a sweep, explore or SLURM spec, or an ingestion manifest, that
  is malformed (unknown key, wrong type, bad value);
* :class:`InvalidArgumentError` — a bad argument to the public API (a search
  criterion, an option value).

``SpecError`` and ``InvalidArgumentError`` are subclasses of ``SchemaError`` (and so of
``LakeError`` and ``ValueError``): before they existed ``SchemaError`` was raised for
specs and arguments too, and code written then (``except SchemaError``) keeps working.
New code catches the specific class.
"""

from __future__ import annotations

__all__ = [
    "CorruptStoreError",
    "IndexMissingError",
    "IndexVersionError",
    "InvalidArgumentError",
    "LakeError",
    "LakeReadOnlyError",
    "LakeWriteError",
    "NotALakeError",
    "RunNotFoundError",
    "SchemaError",
    "SpecError",
    "UntrustedInputError",
]


class LakeError(Exception):
    """Root of every error raised by opsnn_lake."""


class SchemaError(LakeError, ValueError):
    """Data that does not fit the run-store contract (a bad Block, a store or file of the
    wrong shape); the base class of :class:`SpecError` and :class:`InvalidArgumentError`."""


class SpecError(SchemaError):
    """A malformed spec: sweep or explore YAML, SLURM options, or an ingestion manifest.

    The message names the file (or ``--option``) and key, what was expected, what was
    found, and the fix (often the list of valid keys or choices). A ``LakeError`` and a
    ``ValueError``; a ``SchemaError`` so that older ``except SchemaError`` code still
    catches it.
    """


class InvalidArgumentError(SchemaError):
    """A bad argument to the public API (e.g. a search criterion or value).

    The message names the argument, what was expected, what was got, and the fix. A
    ``LakeError`` and a ``ValueError``; a ``SchemaError`` so that older
    ``except SchemaError`` code still catches it.
    """


class RunNotFoundError(LakeError, KeyError):
    """No run with that id in the lake."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "run not found"


class NotALakeError(LakeError, FileNotFoundError):
    """A directory that exists but is not an OpSNN lake (refused rather than overwritten)."""


class IndexVersionError(LakeError, RuntimeError):
    """The lake index was written by a newer, incompatible version of opsnn_lake."""


class UntrustedInputError(LakeError, PermissionError):
    """Input that would run code when loaded (pickle) and was not declared trusted."""


class CorruptStoreError(LakeError, OSError):
    """A run store damaged after it was written: a chunk missing or failing its checksum,
    or metadata changed since writing. Raised by every read path instead of fill values
    or wrong numbers; ``opsnn-lake check --repair`` quarantines such runs."""


class LakeReadOnlyError(LakeError, PermissionError):
    """The lake (or its index) must be written and this process may not write it."""


class IndexMissingError(LakeError, FileNotFoundError):
    """A lake with stores has no usable index (missing or empty file): rebuild it."""


class LakeWriteError(LakeError, OSError):
    """Writing a run failed for lack of space or a file-size limit (names run and file)."""
