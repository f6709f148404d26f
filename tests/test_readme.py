"""The README's "Use it" snippets run as written, on a small real lake (issue 13)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def use_it_snippets() -> list[str]:
    """The ```python blocks of the README's "## Use it" section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Use it", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_use_it_snippets_run_as_written(va_lake_dir, tmp_path) -> None:
    snippets = use_it_snippets()
    assert len(snippets) == 2 and "intake.open_catalog" in snippets[0]
    project = tmp_path / "project"  # a copy: the second snippet adds a run
    shutil.copytree(va_lake_dir, project)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(README.parent), os.environ.get("PYTHONPATH", "")]),
    }
    for i, code in enumerate(snippets):
        done = subprocess.run(
            [sys.executable, "-W", "default", "-c", code],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"snippet {i + 1} failed:\n{code}\n{done.stderr[-3000:]}"
        assert "Warning" not in done.stderr, done.stderr  # nothing leaks to the user
    from opsnn_lake import Lake

    assert len(Lake(project / "lake", create=False).search(model="my_model")) == 1
