"""The worked example in analyse/ runs from the intake catalog to its figures."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
from matplotlib.image import imread

from opsnn_lake import Lake
from opsnn_lake.simulators.runner import run_model

EXAMPLE = Path(__file__).resolve().parents[1] / "analyse" / "va_inhibition.py"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A folder like the repository's: ./lake with six small real VA runs, ./catalogs."""
    root = tmp_path_factory.mktemp("example")
    lake = Lake(root / "lake")
    small = {"n_pop": 400, "pconn": 0.1, "tstop": 300.0}
    for g in (20.0, 51.0, 90.0):
        for seed in (1, 2):
            run_model("va", lake=lake, parameters={**small, "g_inh": g}, seed=seed)
    lake.write_catalog(root / "catalogs" / "lake.yaml")
    return root


def test_example_goes_from_catalog_to_figures(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE)])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(EXAMPLE), run_name="__main__")
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "6 runs of 'va'" in out
    assert "mean rate by g_inh:" in out
    figures = sorted(p.name for p in (project / "analyse" / "figures").glob("*.png"))
    assert figures == [
        "correlation_vs_g_inh.png",
        "cv_vs_g_inh.png",
        "fano_vs_g_inh.png",
        "psd_by_g_inh.png",
        "raster.png",
        "rate_vs_g_inh.png",
    ]
    for name in figures:
        image = imread(project / "analyse" / "figures" / name)
        assert image.shape[0] > 400 and image.shape[1] > 600
        assert image[..., :3].std() > 0.05  # not a blank canvas
