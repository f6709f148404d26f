"""One safe YAML reader for every file a user hands over: sweep specs, ingest manifests, catalogs.

``yaml.safe_load`` runs no code, but it still trusts a document's *shape*: a 400-byte
file of nested aliases (a "billion laughs" bomb) expands to billions of nodes in the
code that walks it, and a huge file takes minutes and gigabytes to parse. This reader
refuses both before anything is built from them:

* files larger than ``max_bytes`` (1 MiB by default; these files are hand-written);
* documents whose *expanded* size (every alias counted as a copy of what it names) is
  above ``max_nodes``; the size is computed once per distinct node, so even a bomb is
  measured in microseconds;
* documents nested deeper than ``max_depth``.

Errors are :class:`~opsnn_lake.errors.SpecError` (a ``SchemaError``) naming the file and the limit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from opsnn_lake.errors import SpecError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "load_yaml"]

MAX_BYTES = 1 << 20
MAX_NODES = 100_000
MAX_DEPTH = 100


def load_yaml(
    path: str | os.PathLike[str],
    *,
    what: str = "YAML file",
    max_bytes: int = MAX_BYTES,
    max_nodes: int = MAX_NODES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Read one YAML document safely (no tags, no code, bounded size).

    Parameters
    ----------
    path : path-like
        The file.
    what : str
        What the file is, for messages (``"sweep spec"``, ``"manifest"``…).
    max_bytes, max_nodes, max_depth : int
        Limits on the file size (bytes), the expanded node count and the nesting depth.

    Returns
    -------
    Any
        The document (``None`` for an empty file).

    Raises
    ------
    SpecError
        If the file cannot be read, is not valid UTF-8 YAML, or breaks a limit; the
        message names the file.
    """
    import yaml

    path = Path(path)
    text = _read_text(path, what=what, max_bytes=max_bytes)
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, path=path, what=what, max_nodes=max_nodes, max_depth=max_depth)
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        raise SpecError(f"{what} {path}: not valid YAML: {err}") from None
    except RecursionError:
        raise SpecError(f"{what} {path}: nested too deeply to read") from None
    finally:
        loader.dispose()


def _read_text(path: Path, *, what: str, max_bytes: int) -> str:
    """The file's text: at most ``max_bytes`` bytes of UTF-8."""
    try:
        with open(path, "rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as err:
        raise SpecError(f"{what} {path}: cannot be read: {err.strerror or err}") from None
    if len(raw) > max_bytes:
        raise SpecError(
            f"{what} {path}: larger than {max_bytes:,} bytes; refusing to parse it "
            "(these files are small and hand-written: is it the right file?)"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(f"{what} {path}: not UTF-8 text ({err})") from None


def _check_size(node: Any, *, path: Path, what: str, max_nodes: int, max_depth: int) -> None:
    """Refuse a node graph whose expansion is too big or too deep (iteratively)."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(node, False)]
    while stack:
        current, done = stack.pop()
        key = id(current)
        if key in size and not done:
            continue
        children = _children(current)
        if not done:
            stack.append((current, True))
            stack.extend((c, False) for c in children if id(c) not in size)
            continue
        size[key] = 1 + sum(size.get(id(c), 1) for c in children)
        depth[key] = 1 + max((depth.get(id(c), 1) for c in children), default=0)
        if size[key] > max_nodes:
            raise SpecError(
                f"{what} {path}: expands to more than {max_nodes:,} values (aliases "
                "repeating aliases: a 'billion laughs' document?); refusing to read it"
            )
        if depth[key] > max_depth:
            raise SpecError(f"{what} {path}: nested more than {max_depth} levels deep")


def _children(node: Any) -> list[Any]:
    value = node.value
    if not isinstance(value, list):
        return []  # a scalar
    out: list[Any] = []
    for item in value:
        if isinstance(item, tuple):  # mapping: (key node, value node)
            out.extend(item)
        else:
            out.append(item)
    return out
