"""Models shipped with the package, and how a model given by name is found.

The bundled models (``va.py``, ``moving_bump.py``, ``v1_sheet.py``) and the demo's
``specs/demo_sweep.yaml`` are byte-identical copies of the repository's ``simulate/`` files,
so an installed package runs ``opsnn-lake demo`` with no clone at hand, and a run id
made from either copy is the same (a model's hash is of its code, never of its path).
``simulate/`` stays the folder users edit; a test keeps the copies identical.

A model name (``model: va`` in a sweep spec) is looked up, first hit wins, in:

1. the folders given by the caller (a sweep passes the folder of its spec);
2. the folders of the ``OPSNN_LAKE_MODELS`` environment variable (``os.pathsep``-separated);
3. ``./simulate`` of the current directory;
4. the ``opsnn_lake.models`` entry-point group: ``name = "package.module"``, the module's
   file is the model (it is read, not imported, until a run loads it). opsnn-lake
   registers its bundled models there; another package can register its own;
5. the bundled models themselves, for an installation whose metadata predates them.

So a user's ``simulate/va.py`` (or one on ``OPSNN_LAKE_MODELS``) overrides the bundled
``va``. A path (``model: nets/mine.py``) is never looked up by name.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from opsnn_lake.errors import SchemaError

__all__ = [
    "ENTRY_POINT_GROUP",
    "MODELS_ENV",
    "bundled_file",
    "find_model_file",
    "model_search_path",
    "registered_models",
]

#: Entry-point group naming model modules: ``name = "package.module"``.
ENTRY_POINT_GROUP = "opsnn_lake.models"
#: Environment variable: folders of model files, separated by ``os.pathsep``.
MODELS_ENV = "OPSNN_LAKE_MODELS"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BUNDLED = Path(__file__).resolve().parent


def bundled_file(name: str) -> Path:
    """The path of a file shipped in this package (``"va.py"``, ``"specs/demo_sweep.yaml"``)."""
    return _BUNDLED / name


def model_search_path(extra: Sequence[str | os.PathLike[str]] = ()) -> list[Path]:
    """Folders searched for a model name: ``extra``, ``$OPSNN_LAKE_MODELS``, ``./simulate``.

    Absolute paths, duplicates removed, in search order. Entry points come after these.
    """
    env = [d for d in os.environ.get(MODELS_ENV, "").split(os.pathsep) if d]
    dirs = [Path(d) for d in extra] + [Path(d) for d in env] + [Path.cwd() / "simulate"]
    seen: list[Path] = []
    for d in dirs:
        d = d.absolute()
        if d not in seen:
            seen.append(d)
    return seen


def registered_models() -> dict[str, tuple[Path, str]]:
    """Models of the entry-point group, then bundled ones: name → (file, where found).

    ``where found`` reads ``entry point va = opsnn_lake.models.va`` or ``bundled``.
    An entry whose module cannot be located is left out.
    """
    found: dict[str, tuple[Path, str]] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            continue
        try:
            spec = importlib.util.find_spec(ep.module)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        found[ep.name] = (Path(spec.origin).resolve(), f"entry point {ep.name} = {ep.value}")
    for path in sorted(_BUNDLED.glob("*.py")):
        if path.stem != "__init__":
            found.setdefault(path.stem, (path, "bundled"))
    return found


def find_model_file(
    model: str | os.PathLike[str], search: Sequence[str | os.PathLike[str]] = ()
) -> Path:
    """The file of a model given by name (see the module docstring) or by path.

    Raises
    ------
    SchemaError
        If nothing matches; the message lists the places searched and the known names.
    """
    text = os.fspath(model)
    if _NAME.fullmatch(text):
        dirs = model_search_path(search)
        for d in dirs:
            if (d / f"{text}.py").is_file():
                return (d / f"{text}.py").resolve()
        registered = registered_models()
        if text in registered:
            return registered[text][0]
        known = {p.stem for d in dirs if d.is_dir() for p in d.glob("*.py")} | set(registered)
        raise SchemaError(
            f"model {text!r}: no {text}.py in {', '.join(str(d) for d in dirs)}, and no "
            f"entry point {text!r} in group {ENTRY_POINT_GROUP!r}; known models: "
            f"{', '.join(sorted(known - {'__init__'})) or 'none'} (or give the path of a "
            f".py file, or add a folder to {MODELS_ENV})"
        )
    candidates = [Path(text)] + [Path(d) / text for d in search]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    looked = ", ".join(map(str, candidates))
    raise SchemaError(f"model {text!r}: file not found (looked at {looked})")
