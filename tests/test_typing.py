"""mypy on the package with the project's configuration: no error, strict on the public API.

The configuration is ``[tool.mypy]`` in pyproject.toml: every module non-strict, the
modules that define the public names strictly. The run reuses mypy's cache
(``.mypy_cache``), so after CI's own mypy step (.ci/run) it takes seconds.
"""

import importlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import opsnn_lake

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["mypy"]


def _strict_modules() -> set[str]:
    strict = set()
    for override in _config()["overrides"]:
        if override.get("disallow_untyped_defs"):
            modules = override["module"]
            strict.update([modules] if isinstance(modules, str) else modules)
    return strict


def test_mypy_reports_no_error():
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"mypy found errors (fix them, or the config):\n{report}"
    assert "Success: no issues found" in report, report


def test_public_names_are_checked_strictly():
    # Every module that defines a name of opsnn_lake.__all__ is in the strict override,
    # and the strict override names modules that exist.
    strict = _strict_modules()
    defining = {"opsnn_lake"}
    for name in opsnn_lake.__all__:
        value = getattr(opsnn_lake, name)
        module = getattr(value, "__module__", "opsnn_lake")
        if module.startswith("opsnn_lake"):
            defining.add(module)
    assert defining <= strict, f"public modules not strict: {sorted(defining - strict)}"
    for module in strict:
        importlib.import_module(module)


def test_new_modules_default_to_non_strict():
    # Strictness is opt-in per module: the global section stays non-strict so that a
    # module added in parallel work is checked, and passes, without annotations first.
    config = _config()
    for flag in ("strict", "disallow_untyped_defs", "disallow_any_generics"):
        assert not config.get(flag), f"[tool.mypy] sets {flag} globally"
    wildcards = [m for m in _strict_modules() if m.endswith("*")]
    assert not wildcards, f"strict modules are listed one by one, not {wildcards}"
