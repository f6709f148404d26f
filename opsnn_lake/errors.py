"""Errors raised by OpSNN lake.

Every error derives from :class:`LakeError`; the specific ones also derive from the
builtin a caller would naturally catch (a missing run is a ``KeyError``, a bad block a
``ValueError``). Messages name the file or object, the problem, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "CorruptStoreError",
    "IndexMissingError",
    "IndexVersionError",
    "LakeError",
    "LakeReadOnlyError",
    "LakeWriteError",
    "NotALakeError",
    "RunNotFoundError",
    "SchemaError",
    "UntrustedInputError",
]


class LakeError(Exception):
    """Root of every error raised by opsnn_lake."""


class SchemaError(LakeError, ValueError):
    """Data that does not fit the run-store contract (bad block, corrupt store, bad spec)."""


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
