"""Plots: a population-coloured raster of one run, a statistic against parameters."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.image import imread

from opsnn_lake import Lake, SchemaError
from opsnn_lake import analysis as an
from opsnn_lake.analysis.plots import plot_statistic, raster


@pytest.fixture(scope="module")
def lake(tmp_path_factory, nest_block, nest_block_two_segments) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("plots") / "lake")
    for g in (40.0, 60.0):
        for n, block in ((100, nest_block), (200, nest_block_two_segments)):
            lake.add(block, model="net", parameters={"g_inh": g, "n_pop": n}, seed=int(g))
    return lake


def test_raster_png_shows_every_spike_by_population(lake, tmp_path, nest_block):
    run_id = lake.search(n_pop=100, g_inh=40.0).index[0]
    path = tmp_path / "raster.png"
    fig = raster(run_id, lake=lake, path=path)
    image = imread(path)
    assert image.shape[0] > 500 and image.shape[1] > 900
    top, bottom = fig.axes
    collections = [c for c in top.collections if isinstance(c, PathCollection)]
    trains = nest_block.segments[0].spiketrains
    pops = list(dict.fromkeys(st.annotations["source_population"] for st in trains))
    assert [c.get_label().split(" ")[0] for c in collections] == pops
    assert sum(len(c.get_offsets()) for c in collections) == sum(len(st) for st in trains)
    colours = {tuple(np.round(c.get_facecolor()[0], 3)) for c in collections}
    assert len(colours) == len(pops)  # one colour per population
    ranges = [(c.get_offsets()[:, 1].min(), c.get_offsets()[:, 1].max()) for c in collections]
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))  # stacked
    assert len(bottom.lines) == len(pops)  # a rate per population


def test_raster_errors_name_the_problem(lake):
    with pytest.raises(SchemaError, match="expected one run, got 4"):
        raster(lake, lake=None)
    run_id = lake.search(n_pop=200).index[0]
    with pytest.raises(SchemaError, match="no segment 'segment009'; segments: segment000"):
        raster(run_id, lake=lake, segment="segment009")
    fig = raster(run_id, lake=lake, segment="segment001", populations=["exc", "inh"])
    assert len([c for c in fig.axes[0].collections if isinstance(c, PathCollection)]) == 2


def test_statistic_against_one_parameter_with_hue(lake, tmp_path):
    rate = an.firing_rate(lake, populations="exc")
    path = tmp_path / "rate.png"
    fig = plot_statistic(rate, "g_inh", hue="n_pop", path=path)
    assert imread(path).ndim == 3
    (ax,) = [a for a in fig.axes if a.get_xlabel() == "g_inh"]
    lines = [container.lines[0] for container in ax.containers]  # errorbar data lines
    assert len(lines) == 2  # one per n_pop
    values = rate.compute()
    per_run = {
        run: values.values[values.run.values == run].mean() for run in set(values.run.values)
    }
    runs = lake.search()
    expected = runs.assign(rate=[per_run[r] for r in runs.index])
    for line, n in zip(lines, (100, 200), strict=True):
        want = expected[expected.n_pop == n].groupby("g_inh")["rate"].mean()
        np.testing.assert_allclose(line.get_ydata(), want.to_numpy())
        np.testing.assert_allclose(line.get_xdata(), want.index.to_numpy())


def test_statistic_heat_map_over_two_parameters(lake, tmp_path):
    cv = an.isi_cv(lake)
    fig = plot_statistic(cv, "g_inh", y="n_pop", path=tmp_path / "cv.png")
    ax = fig.axes[0]
    grid = ax.images[0].get_array()
    assert grid.shape == (2, 2)  # n_pop x g_inh
    assert [t.get_text() for t in ax.get_xticklabels()] == ["40", "60"]
    assert np.isfinite(grid).all()
    with pytest.raises(SchemaError, match="'nope' is not a parameter of these runs"):
        plot_statistic(cv, "nope")


def test_spectra_are_curves_per_parameter_value(lake, tmp_path):
    psd = an.rate_psd(lake, populations="exc", bin_size=2.0)
    fig = plot_statistic(psd, "g_inh", path=tmp_path / "psd.png")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "frequency (Hz)"
    assert len(ax.lines) == 2
    assert len(ax.lines[0].get_xdata()) == psd.sizes["frequency"]
    with pytest.raises(SchemaError, match="hue= is not supported"):
        plot_statistic(psd, "g_inh", hue="n_pop")


def test_one_run_per_point_note_reads_right():
    """The note under a figure of single runs (e.g. wave speed per run) reads as English."""
    from matplotlib.figure import Figure

    from opsnn_lake.analysis.plots import _error_note

    for band, expected in ((False, "no error bars"), (True, "no error band")):
        ax = Figure().subplots()
        _error_note(ax, [1, 1], band=band)
        (text,) = [t.get_text() for t in ax.texts]
        assert text.endswith(expected) and "error error" not in text
