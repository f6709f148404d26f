"""``opsnn-lake analyse`` and ``opsnn-lake plot`` on a real lake."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from matplotlib.image import imread

from opsnn_lake import Lake
from opsnn_lake import analysis as an
from opsnn_lake.cli import main


@pytest.fixture(scope="module")
def lake(tmp_path_factory, nest_block) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("cli") / "lake")
    for g in (40.0, 50.0, 60.0):
        lake.add(nest_block, model="net", parameters={"g_inh": g}, seed=int(g))
    return lake


def test_analyse_prints_a_table_and_writes_zarr(lake, tmp_path, capsys):
    out = tmp_path / "stats.zarr"
    code = main(
        ["analyse", "--lake", str(lake.path), "--where", "g_inh=45..60", "--stat", "rate",
         "--stat", "fano", "--window", "50", "--population", "exc", "-o", str(out)]
    )  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0
    assert "rate (Hz)" in text and "fano" in text and "g_inh" in text
    assert "2 runs, rate, fano" in text
    tree = xr.open_datatree(out, engine="zarr")
    runs = lake.search(g_inh=(45, 60))
    expected = an.firing_rate(runs, lake=lake, populations="exc").compute()
    np.testing.assert_array_equal(tree["rate"]["rate"].values, expected.values)
    assert tree["fano"]["fano"].attrs["window_ms"] == 50.0


def test_analyse_writes_netcdf_and_uses_workers(lake, tmp_path, capsys):
    out = tmp_path / "psd.nc"
    code = main(["analyse", "--lake", str(lake.path), "--stat", "psd", "--bin-size", "2",
                 "--workers", "1", "-o", str(out)])  # fmt: skip
    assert code == 0
    ds = xr.open_dataset(out)
    assert ds["psd"].shape[0] == 3 * 4  # 3 runs x 4 populations
    assert "psd peak (Hz)" in capsys.readouterr().out


def test_analyse_errors_and_empty_selection(lake, capsys):
    assert main(["analyse", "--lake", str(lake.path), "--where", "g_inh=99"]) == 1
    assert "nothing to analyse" in capsys.readouterr().out
    assert main(["analyse", "--lake", str(lake.path), "--stat", "rate", "--window", "5"]) == 2
    assert "--window applies to fano" in capsys.readouterr().err
    assert main(["analyse", "--lake", str(lake.path), "--population", "exd"]) == 2
    assert "no population named ['exd']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["analyse", "--lake", str(lake.path), "--stat", "median"])


def test_plot_raster_and_statistic_pngs(lake, tmp_path, capsys):
    run_id = lake.search().index[0]
    raster_png = tmp_path / "raster.png"
    assert main(["plot", "--lake", str(lake.path), "raster", run_id, "-o", str(raster_png)]) == 0
    assert imread(raster_png).shape[1] > 900
    stat_png = tmp_path / "cv.png"
    code = main(["plot", "--lake", str(lake.path), "stat", "--stat", "cv", "--x", "g_inh",
                 "-o", str(stat_png)])  # fmt: skip
    assert code == 0 and imread(stat_png).ndim == 3
    assert f"wrote {stat_png}" in capsys.readouterr().out
    assert main(["plot", "--lake", str(lake.path), "raster", "nope", "-o", str(raster_png)]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
