"""The worked example analyse/va_regime.py: a search for AI parameters and its regime map."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
import yaml
from matplotlib.image import imread

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "analyse" / "va_regime.py"


def test_example_finds_candidates_and_draws_the_regime_map(tmp_path, monkeypatch, capsys):
    # The shipped spec, shorter runs so the test takes seconds.
    spec = yaml.safe_load((REPO / "simulate" / "va_explore.yaml").read_text())
    spec["parameters"]["tstop"] = 200.0
    (tmp_path / "simulate").mkdir()
    (tmp_path / "simulate" / "va_explore.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.chdir(tmp_path)
    argv = [str(EXAMPLE), "--budget", "4", "--map-points", "3"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(EXAMPLE), run_name="__main__")
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "coarse map: {'done': 9}" in out
    assert "13 trials" in out  # 9 warm-start runs of the coarse map + 4 asked
    assert "runs of the study in the lake" in out and "best parameters: {'g_exc'" in out
    figures = sorted(p.name for p in (tmp_path / "analyse" / "figures").glob("*.png"))
    assert figures == ["explore_progress.png", "regime_cv.png", "regime_rate.png"]
    for name in figures:
        image = imread(tmp_path / "analyse" / "figures" / name)
        assert image.shape[0] > 400 and image[..., :3].std() > 0.05
