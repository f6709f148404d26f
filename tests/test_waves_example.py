"""The wave example in analyse/ runs from the intake catalog to its figure and movie."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
from matplotlib.image import imread
from PIL import Image

from opsnn_lake import Lake
from opsnn_lake.simulators.runner import run_model

EXAMPLE = Path(__file__).resolve().parents[1] / "analyse" / "v1_waves.py"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """./lake with four small real sheet runs (lambda_exc x g_inh) on one bump; ./catalogs."""
    root = tmp_path_factory.mktemp("waves-example")
    lake = Lake(root / "lake")
    bump = run_model(
        "moving_bump",
        lake=lake,
        simulator=None,
        parameters={"side": 12, "duration": 150.0, "speed": 0.06},
        seed=1,
    ).run_id
    small = {"stimulus": bump, "tstop": 150.0, "side_exc": 12, "side_inh": 6}
    for lam in (100.0, 150.0):
        for g in (40.0, 120.0):
            params = {**small, "lambda_exc": lam, "g_inh": g}
            run_model("v1_sheet", lake=lake, parameters=params, seed=1)
    lake.write_catalog(root / "catalogs" / "lake.yaml")
    return root


def test_wave_example_goes_from_catalog_to_movie(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE)])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(EXAMPLE), run_name="__main__")
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "4 runs of 'v1_sheet'" in out
    assert "wave speed (um/ms) by lambda_exc and g_inh:" in out
    figures = project / "analyse" / "figures"
    image = imread(figures / "wave_speed.png")
    assert image.shape[0] > 400 and image[..., :3].std() > 0.05
    frame = imread(figures / "wave_frame.png")
    assert frame[..., :3].std() > 0.05
    (movie,) = figures.glob("v1_sheet-*.gif")
    with Image.open(movie) as gif:
        assert gif.n_frames == 30  # 150 ms in 5 ms frames
