"""``opsnn-lake demo``: a real sweep, the catalog, a rate table and a plot."""

from __future__ import annotations

import numpy as np
import pytest

from opsnn_lake import Lake
from opsnn_lake.cli import main
from opsnn_lake.demo import demo_spec_path, population_rates, rate_figure
from opsnn_lake.sweep import load_spec

TINY_DEMO = """\
model: va
parameters: {n_pop: 800, pconn: 0.05, tstop: 200.0}
grid:
  g_inh: [40.0, 80.0]
seeds: [3]
workers: 2
"""


def test_demo_sweeps_writes_catalog_prints_rates_and_plots(tmp_path, monkeypatch, capsys):
    import intake
    from matplotlib.image import imread

    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo.yaml").write_text(TINY_DEMO)
    assert main(["demo", "--spec", "demo.yaml"]) == 0
    out = capsys.readouterr().out
    lake = Lake(tmp_path / "lake")  # the default lake, ./lake
    assert len(lake) == 2
    for run_id in lake.search().index:
        assert run_id in out

    # The printed rates are the stores' spikes per cell per second.
    rates = population_rates(lake, list(lake.search().index))
    for run_id, row in rates.iterrows():
        block = lake.to_neo(run_id)
        for pop, n_cells in (("exc", 640), ("inh", 160)):
            trains = [
                st
                for st in block.segments[0].spiketrains
                if st.annotations["source_population"] == pop
            ]
            assert len(trains) == n_cells
            expected = sum(len(st) for st in trains) / (n_cells * 0.2)
            assert row[f"rate_{pop}"] == pytest.approx(expected, rel=1e-12)
            assert f"{row[f'rate_{pop}']:.2f}" in out
    assert (rates["rate_exc"] > 1.0).all()

    # The catalog notebooks open, and the plot.
    cat = intake.open_catalog(str(tmp_path / "catalogs" / "lake.yaml"))["lake"]
    assert sorted(cat) == sorted(lake.search().index)
    image = imread(tmp_path / "lake_demo_rates.png")
    assert image.ndim == 3 and image.shape[0] > 100 and np.ptp(image) > 0

    # Run again: everything is in the lake already.
    assert main(["demo", "--spec", "demo.yaml"]) == 0
    assert "2 cached" in capsys.readouterr().out


def test_the_real_demo_spec_is_small():
    spec = load_spec(demo_spec_path())
    assert spec.simulator == "nest" and "g_inh" in spec.grid and len(spec.seeds) == 2
    assert spec.parameters["n_pop"] <= 2000 and spec.parameters["tstop"] <= 1000.0


def test_the_rate_figure_names_the_parameter_with_its_unit():
    import pandas as pd

    rates = pd.DataFrame({"g_inh": [40.0, 40.0, 80.0], "rate_exc": [20.0, 22.0, 15.0]})
    (ax,) = rate_figure(rates, "g_inh", unit="nS").axes
    assert ax.get_xlabel() == "g_inh (nS)" and ax.get_ylabel() == "firing rate (Hz)"
    assert rate_figure(rates, "g_inh").axes[0].get_xlabel() == "g_inh"
