"""The rough edges a new user hit on the command line (issue 13), each with its test."""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.image import imread

from opsnn_lake import Lake, RunNotFoundError
from opsnn_lake import analysis as an
from opsnn_lake.analysis.plots import plot_statistic, raster
from opsnn_lake.cli import main


@pytest.fixture(scope="module")
def rate_lake(tmp_path_factory, nest_block) -> Lake:
    """Runs of a model with parameters named like statistics (rate, cv)."""
    lake = Lake(tmp_path_factory.mktemp("rate") / "lake")
    for i, rate in enumerate((5.0, 10.0)):
        lake.add(nest_block, model="stim", parameters={"rate": rate, "cv": 1.0}, seed=i)
    return lake


def test_lake_option_before_or_after_the_command(va_lake_dir, capsys) -> None:
    path = str(va_lake_dir / "lake")
    assert main(["--lake", path, "ls"]) == 0
    before = capsys.readouterr().out
    assert main(["ls", "--lake", path]) == 0
    assert capsys.readouterr().out == before and "4 runs" in before
    assert main(["--lake", "/nowhere", "ls", "--lake", path]) == 0  # the later one wins


def test_top_level_help_has_examples_and_no_markup(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "opsnn-lake ls --where" in out and "report" in out
    assert "``" not in out and ":func:" not in out and ":class:" not in out


def test_ls_shows_compact_columns_with_units(va_lake_dir, capsys) -> None:
    path = str(va_lake_dir / "lake")
    assert main(["ls", "--lake", path]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header == ["model", "simulator", "seed", "n_spikes", "size", "g_inh", "(nS)"]
    assert max(len(line) for line in out.splitlines()) < 120
    assert "more columns: --columns all" in out
    assert main(["ls", "--lake", path, "--columns", "+tau_m"]) == 0
    assert "tau_m (ms)" in capsys.readouterr().out
    assert main(["ls", "--lake", path, "--columns", "all"]) == 0
    assert "stim_rate (Hz)" in capsys.readouterr().out
    assert main(["ls", "--lake", path, "--columns", "nope"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err


def test_ls_compact_columns_in_a_lake_mixing_models_and_files() -> None:
    import pandas as pd

    from opsnn_lake.display import compact_columns

    # VA runs beside an ingested file with no parameters: VA's fixed parameters are
    # missing in one row, which is no reason to show all of them
    frame = pd.DataFrame(
        {"model": ["va", "va", None], "seed": [1, 1, None], "n_spikes": [5, 6, 7],
         "g_inh": [40.0, 51.0, None], "tau_m": [20.0, 20.0, None], "rng": ["numpy"] * 2 + [None]},
        index=pd.Index(["va-1", "va-2", "simulation-3"], name="run_id"),
    )  # fmt: skip
    assert compact_columns(frame) == ["model", "seed", "n_spikes", "g_inh"]


def test_run_id_prefixes(va_lake_dir, tmp_path, capsys) -> None:
    lake = Lake(va_lake_dir / "lake", create=False)
    run_id = lake.search().index[0]
    prefix = run_id[:9]
    assert lake.resolve_run_id(prefix) == run_id
    assert lake.provenance(prefix).seed == lake.provenance(run_id).seed
    assert lake.open(prefix).attrs["run_id"] == run_id
    with pytest.raises(RunNotFoundError, match="ambiguous"):
        lake.resolve_run_id("va-")
    with pytest.raises(RunNotFoundError, match="nor one starting with it"):
        lake.resolve_run_id("zz-")
    out = tmp_path / "r.png"
    assert main(["plot", "--lake", str(lake.path), "raster", prefix, "-o", str(out)]) == 0
    assert imread(out).shape[0] > 100
    import intake

    cat = intake.open_catalog(str(va_lake_dir / "catalogs" / "lake.yaml"))["lake"]
    assert cat[prefix].to_dask().attrs["run_id"] == run_id
    for fmt, ext in (("nwb", ".nwb"), ("sonata", ".h5")):
        args = ["export", "--lake", str(lake.path), prefix, "--format", fmt, "-o", str(tmp_path)]
        assert main(args) == 0, capsys.readouterr().err
        assert (tmp_path / f"{run_id}{ext}").exists()  # named by the full id


def test_statistic_named_like_a_parameter(rate_lake, capsys) -> None:
    code = main(["analyse", "--lake", str(rate_lake.path), "--stat", "rate", "--stat", "cv"])
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "2 runs" in out
    rate = an.firing_rate(rate_lake.search(), lake=rate_lake)
    assert "param_rate" in rate.coords and sorted(set(rate["param_rate"].values)) == [5.0, 10.0]
    fig = plot_statistic(rate, "rate")  # the parameter by its own name
    assert fig.axes[0].get_xlabel() == "rate"


def test_summary_table_has_one_seed_column(va_lake_dir) -> None:
    lake = Lake(va_lake_dir / "lake", create=False)
    table = an.summary_table(an.analyse(lake.search(), ["rate"], lake=lake, compute=True))
    seeds = [c for c in table.columns if "seed" in c and c != "stim_seed"]
    assert seeds == ["seed"]


def test_analyse_table_shows_parameter_units(va_lake_dir, capsys) -> None:
    assert main(["analyse", "--lake", str(va_lake_dir / "lake"), "--stat", "rate"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "g_inh (nS)" in header and "rate (Hz)" in header
    lake = Lake(va_lake_dir / "lake", create=False)
    table = an.summary_table(an.analyse(lake.search(), ["rate"], lake=lake, compute=True))
    assert "g_inh (nS)" in table.columns  # the notebook's table too


def test_hue_population_error_bars_and_units(va_lake_dir, tmp_path) -> None:
    lake = Lake(va_lake_dir / "lake", create=False)
    out = tmp_path / "rate.png"
    code = main(["plot", "--lake", str(lake.path), "stat", "--stat", "rate", "--x", "g_inh",
                 "--hue", "population", "-o", str(out)])  # fmt: skip
    assert code == 0 and out.is_file()
    rate = an.firing_rate(lake.search(), lake=lake)
    fig = plot_statistic(rate, "g_inh", hue="population", units={"g_inh": "nS"})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["exc", "inh"]
    assert ax.get_xlabel() == "g_inh (nS)"
    notes = [t.get_text() for t in ax.texts]
    assert any("mean ± SEM across runs" in t and "n = 2 runs per point" in t for t in notes)
    assert "4 runs" in fig._suptitle.get_text()
    # without units=: the model's UNITS reach the result's coordinates, then the axis
    assert rate["g_inh"].attrs["units"] == "nS"
    assert plot_statistic(rate, "g_inh").axes[0].get_xlabel() == "g_inh (nS)"


def test_correlation_label_names_bin_size_and_units(va_lake_dir) -> None:
    lake = Lake(va_lake_dir / "lake", create=False)
    corr = an.correlation_coefficients(lake.search(), lake=lake, units=20, bin_size=5.0)
    fig = plot_statistic(corr, "g_inh")
    label = fig.axes[0].get_ylabel()
    assert "5 ms bins" in label and "20 units per population" in label
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # the long label and title are readable: inside the figure
    canvas.draw()
    renderer, box = canvas.get_renderer(), fig.bbox
    for text in (fig.axes[0].yaxis.label, fig._suptitle):
        extent = text.get_window_extent(renderer)
        assert extent.x0 >= box.x0 and extent.x1 <= box.x1, text.get_text()
        assert extent.y0 >= box.y0 and extent.y1 <= box.y1, text.get_text()
    one_run = an.correlation_coefficients(lake.search().iloc[:1], lake=lake, units=20)
    one = plot_statistic(one_run, "g_inh")
    notes = [t.get_text() for t in one.axes[0].texts]
    assert notes == ["one run per point (n = 1): no error bars"]


def test_raster_draws_the_last_bin(va_lake_dir) -> None:
    lake = Lake(va_lake_dir / "lake", create=False)
    run_id = lake.search(g_inh=30.0).index[0]
    for bin_size in (5.0, 7.0):  # 400 ms is a whole number of 5 ms bins, not of 7 ms
        fig = raster(run_id, lake=lake, t_stop=400, bin_size=bin_size)
        for line in fig.axes[1].lines:
            x = np.asarray(line.get_xdata())
            assert x[-1] == pytest.approx(400.0)  # the rate line reaches the end
            assert np.all(np.diff(x) > 0)


def test_no_warning_reaches_the_user_through_to_neo(va_lake_dir, tmp_path) -> None:
    import subprocess
    import sys

    code = f"""
import elephant.spade  # sets warnings.simplefilter("once", UserWarning) on import
from opsnn_lake import Lake
lake = Lake({str(va_lake_dir / "lake")!r}, create=False)
run_id = lake.search().index[0]
lake.to_neo(run_id); lake.open(run_id)
"""
    done = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True,
                          text=True, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not re.search(r"Warning", done.stderr), done.stderr
