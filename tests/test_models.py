"""Models by name: folders first, then the ``opsnn_lake.models`` entry points, never the repo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import opsnn_lake
from opsnn_lake.demo import demo_spec_path
from opsnn_lake.errors import SchemaError
from opsnn_lake.lake import Lake
from opsnn_lake.models import (
    ENTRY_POINT_GROUP,
    MODELS_ENV,
    bundled_file,
    find_model_file,
    registered_models,
)
from opsnn_lake.simulators.runner import load_model
from opsnn_lake.sweep import load_spec, plan_sweep

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(opsnn_lake.__file__).resolve().parent
BUNDLED = sorted(p.name for p in (PACKAGE / "models").glob("*.py") if p.stem != "__init__")


def _entry_points() -> dict[str, str]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    return pyproject["project"]["entry-points"][ENTRY_POINT_GROUP]


@pytest.mark.parametrize("name", [*BUNDLED, "specs/demo_sweep.yaml"])
def test_bundled_files_are_byte_identical_to_simulate(name):
    # Same bytes, same model hash, same run ids from either copy.
    assert bundled_file(name).read_bytes() == (REPO / "simulate" / Path(name).name).read_bytes()


def test_every_bundled_model_is_registered_as_an_entry_point():
    assert BUNDLED == ["moving_bump.py", "v1_sheet.py", "va.py"]
    assert _entry_points() == {Path(n).stem: f"opsnn_lake.models.{Path(n).stem}" for n in BUNDLED}


def test_nothing_in_the_package_refers_to_the_repository_folder():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text("utf-8")
        assert "parents[2]" not in text and "_REPO" not in text, path


def test_bundled_and_repository_copies_make_the_same_run_ids(tmp_path, monkeypatch):
    repo_va = load_model(REPO / "simulate" / "va.py")
    assert load_model(bundled_file("va.py")).code_hash == repo_va.code_hash
    # The demo from a folder with no simulate/: the bundled spec and model.
    lake = Lake(tmp_path / "lake")
    repo_plan = plan_sweep(load_spec(REPO / "simulate" / "demo_sweep.yaml"), lake)
    monkeypatch.chdir(tmp_path)
    assert demo_spec_path() == bundled_file("specs/demo_sweep.yaml")
    plan = plan_sweep(load_spec(demo_spec_path()), lake)
    assert [p.run_id for p in plan] == [p.run_id for p in repo_plan]
    assert load_model("va").path == bundled_file("va.py")


def test_user_folders_override_bundled_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(MODELS_ENV, raising=False)
    assert find_model_file("va") == bundled_file("va.py")
    (tmp_path / "simulate").mkdir()
    shutil.copy(REPO / "simulate" / "va.py", tmp_path / "simulate" / "va.py")
    assert find_model_file("va") == tmp_path / "simulate" / "va.py"
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(REPO / "simulate" / "va.py", mine / "va.py")
    monkeypatch.setenv(MODELS_ENV, os.pathsep.join([str(tmp_path / "none"), str(mine)]))
    assert find_model_file("va") == mine / "va.py"
    spec_dir = tmp_path / "study"
    spec_dir.mkdir()
    shutil.copy(REPO / "simulate" / "va.py", spec_dir / "va.py")
    assert find_model_file("va", [spec_dir]) == spec_dir / "va.py"


def test_an_unknown_model_lists_places_and_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SchemaError, match=r"model 'nope'.*entry point 'nope'.*known models:.*va"):
        find_model_file("nope")


def test_installed_package_finds_the_demo_model_through_its_entry_point(tmp_path):
    """As a non-editable install: the package alone on the path, no simulate/, no clone.

    The package is copied into a fresh site folder with the distribution metadata its
    pyproject.toml declares (the entry points), as pip would install it.
    """
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "opsnn_lake", ignore=shutil.ignore_patterns("__pycache__"))
    dist = site / "opsnn_lake-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: opsnn-lake\nVersion: 0.1.0\n")
    lines = [f"[{ENTRY_POINT_GROUP}]"] + [f"{k} = {v}" for k, v in _entry_points().items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    work = tmp_path / "work"  # the user's folder: no simulate/
    work.mkdir()
    script = (
        "import json, sys\n"
        "import opsnn_lake.models as m\n"
        "from opsnn_lake.demo import demo_spec_path\n"
        "print(json.dumps({'package': m.__file__, 'va': str(m.find_model_file('va')),\n"
        "  'how': m.registered_models()['va'][1], 'spec': str(demo_spec_path()),\n"
        "  'path': sys.path}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != MODELS_ENV}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert Path(found["package"]).is_relative_to(site)
    assert Path(found["va"]) == (site / "opsnn_lake" / "models" / "va.py").resolve()
    assert found["how"] == "entry point va = opsnn_lake.models.va"
    assert Path(found["spec"]).is_relative_to(site)
    # The clone itself is not importable (its venv may live inside it: that is no clone)
    on_path = {(work / p).resolve() for p in found["path"]}
    assert REPO not in on_path and REPO / "simulate" not in on_path


def test_registered_models_come_from_the_entry_point_group_when_installed():
    # In this environment the metadata may predate the group; bundled copies still count.
    models = registered_models()
    assert {"va", "moving_bump", "v1_sheet"} <= set(models)
    for name, (path, how) in models.items():
        assert path.is_file() and (how == "bundled" or how.startswith("entry point")), name
