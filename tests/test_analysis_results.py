"""Analysis results: lazy, one task per run and group, parameters as coordinates, every
accepted input gives the same numbers, clear errors, files that read back."""

from __future__ import annotations

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from opsnn_lake import Lake, SchemaError
from opsnn_lake import analysis as an

G_INH = (40.0, 50.0, 60.0)


@pytest.fixture(scope="module")
def lake(tmp_path_factory, nest_block, nest_block_two_segments) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("results") / "lake")
    for i, g in enumerate(G_INH):
        lake.add(nest_block, model="net", parameters={"g_inh": g, "n_pop": 145}, seed=i)
    lake.add(nest_block_two_segments, model="net", parameters={"g_inh": 50.0, "n_pop": 145}, seed=9)
    return lake


def test_rates_are_lazy_and_carry_run_parameters(lake):
    runs = lake.search()
    rate = an.firing_rate(runs, lake=lake)
    assert rate.chunks is not None  # dask-backed: nothing computed yet
    for name in ("run", "segment", "population", "unit_index", "g_inh", "seed", "model"):
        assert name in rate.coords, name
    n_groups = sum(
        len(lake.open(r)[s].attrs["populations"])
        for r in runs.index
        for s in lake.open(r).attrs["segments"]
    )
    assert len(rate.chunks[0]) == n_groups  # one task per run and group
    by_g = rate.groupby("g_inh").mean().compute()
    assert list(by_g.g_inh.values) == list(G_INH)
    values = rate.compute()
    for g in G_INH:
        manual = values.values[values.g_inh.values == g].mean()
        assert by_g.sel(g_inh=g).item() == pytest.approx(manual, rel=1e-12)
    # the MultiIndex selects like labels
    exc = values.sel(population="exc")
    assert set(exc.run.values) == set(runs.index)
    assert (values.sel(run=runs.index[0]).channel_id.values > 0).all()


def test_statistics_computed_together_read_each_store_once(lake):
    runs = lake.search(seed=[0, 1])
    tree = an.analyse(runs, ["rate", "cv", "fano", "correlation", "psd"], lake=lake)
    graphs = [node.dataset[name].data.__dask_graph__() for name, node in tree.children.items()]
    keys = set().union(*[set(g) for g in graphs])
    reads = {k for k in keys if isinstance(k, str) and k.startswith("opsnn-spikes-")}
    assert len(reads) == 2 * 4  # 2 runs x 4 populations, shared by the 5 statistics
    computed = an.analyse(runs, ["rate", "cv"], lake=lake, compute=True)
    assert computed["rate"].dataset["rate"].chunks is None  # numbers, not dask


def test_every_input_form_gives_the_same_numbers(lake):
    import intake

    runs = lake.search(g_inh=50.0)
    reference = an.isi_cv(runs, lake=lake).compute()
    catalog_file = lake.write_catalog(lake.path.parent / "catalogs" / "lake.yaml")
    catalog = intake.open_catalog(str(catalog_file))["lake"]
    forms = {
        "run ids": an.isi_cv(list(runs.index), lake=lake),
        "DataTrees": an.isi_cv({r: lake.open(r) for r in runs.index}),
        "catalog search": an.isi_cv(catalog.search(g_inh=50.0)),
        "lake path": an.isi_cv(str(lake.path)),
    }
    for name, value in forms.items():
        value = value.compute()
        value = value.isel(unit=np.isin(value.run.values, runs.index))
        assert value.sizes == reference.sizes, name
        np.testing.assert_array_equal(value.values, reference.values, err_msg=name)
        assert list(value.run.values) == list(reference.run.values), name


def test_group_results_index_run_segment_population(lake):
    psd = an.rate_psd(lake, bin_size=2.0, populations=["exc", "inh"]).compute()
    assert psd.dims == ("group", "frequency")
    assert psd.frequency.attrs["units"] == "Hz"
    two = lake.search(seed=9).index[0]
    assert set(psd.sel(run=two).segment.values) == {"segment000", "segment001"}
    mean = psd.sel(population="exc").groupby("g_inh").mean()
    assert mean.dims == ("g_inh", "frequency") and np.isfinite(mean.values).all()
    pr = an.population_rate(lake, bin_size=5.0, populations="exc").compute()
    assert pr.time.values[0] == 0.0 and pr.time.values[1] == 5.0
    psth = an.psth(lake, bin_size=20.0, populations="exc").compute()
    assert psth.indexes["group"].names == ["run", "population"]


def test_summary_table_and_saved_files(lake, tmp_path):
    tree = an.analyse(lake, ["rate", "cv", "psd", "psth"], lake=None, compute=True)
    table = an.summary_table(tree)
    assert table.index.names == ["run", "segment", "population"]
    assert {"g_inh", "rate (Hz)", "cv", "psd peak (Hz)", "psth (Hz)"} <= set(table.columns)
    rate = tree["rate"].dataset["rate"]
    first = table.index[0]
    expected = rate.sel(run=first[0], segment=first[1], population=first[2]).mean().item()
    assert table["rate (Hz)"].iloc[0] == pytest.approx(expected)

    zarr_path = an.save(tree, tmp_path / "stats.zarr")
    back = xr.open_datatree(zarr_path, engine="zarr")
    np.testing.assert_array_equal(back["rate"]["rate"].values, rate.values)
    assert list(back["rate"]["run"].values) == list(rate.run.values)
    nc_path = an.save(tree, tmp_path / "stats.nc")
    flat = xr.open_dataset(nc_path)
    np.testing.assert_array_equal(flat["cv"].values, tree["cv"].dataset["cv"].values)
    np.testing.assert_array_equal(flat["psd"].values, tree["psd"].dataset["psd"].values)
    assert "psd_frequency" in flat.dims
    with pytest.raises(SchemaError, match=r"use a \.zarr or \.nc"):
        an.save(tree, tmp_path / "stats.csv")


def test_clear_errors(lake):
    runs = lake.search()
    with pytest.raises(SchemaError, match="needs its lake: pass lake="):
        an.firing_rate(runs)
    with pytest.raises(SchemaError, match=r"no population named \['exd'\].*known: .*'exc'"):
        an.firing_rate(runs, lake=lake, populations="exd")
    with pytest.raises(SchemaError, match="expected a positive number of ms"):
        an.population_rate(runs, lake=lake, bin_size=0)
    with pytest.raises(SchemaError, match="unknown statistics \\['rates'\\]; choose from rate"):
        an.analyse(runs, ["rates"], lake=lake)
    with pytest.raises(SchemaError, match="cannot analyse a int"):
        an.firing_rate(3)
    with pytest.raises(SchemaError, match="reaches outside the spike trains' shared range"):
        an.fano_factor(runs, lake=lake, t_start=0.0, t_stop=500.0)
    with pytest.raises(SchemaError, match=r"window of 300\.0 ms does not fit"):
        an.fano_factor(runs, lake=lake, window=300.0)
    with pytest.raises(SchemaError, match="output='median' is not valid"):
        an.psth(runs, lake=lake, output="median")
    short = an.rate_psd(runs, lake=lake, t_stop=100.0, populations="exc")
    assert short.sizes["frequency"] > 0
    with pytest.raises(SchemaError, match="units=0: expected a positive number"):
        an.correlation_coefficients(runs, lake=lake, units=0)


def test_windows_of_different_length_need_a_common_segment(lake, tmp_path, nest_block):
    import copy

    other = Lake(tmp_path / "other")
    other.add(nest_block, model="net", parameters={"g_inh": 1.0}, seed=1)
    longer = copy.deepcopy(nest_block)
    for seg in longer.segments:
        seg.spiketrains = [st.time_shift(0 * st.units) for st in seg.spiketrains]
        for st in seg.spiketrains:
            st.t_stop = st.t_stop * 2
    other.add(longer, model="net", parameters={"g_inh": 2.0}, seed=1)
    with pytest.raises(SchemaError, match="pass len_segment= or frequency_resolution="):
        an.rate_psd(other, populations="exc")
    psd = an.rate_psd(other, populations="exc", len_segment=64).compute()
    assert psd.sizes["group"] == 2
    rate = an.population_rate(other, populations="exc", bin_size=10.0).compute()
    assert rate.sizes["time"] == 40  # the longer run's bins; NaN after the shorter's end
    short = rate.values[rate.g_inh.values == 1.0][0]
    assert np.isfinite(short[:20]).all() and np.isnan(short[20:]).all()


def test_per_unit_coordinates_follow_unit_blocks(lake):
    with dask.config.set({"opsnn_lake.analysis.spikes-per-task": 40}):
        rate = an.firing_rate(lake, populations="exc")
        assert len(rate.chunks[0]) > len(lake)  # groups split into blocks of units
        values = rate.compute()
    whole = an.firing_rate(lake, populations="exc").compute()
    np.testing.assert_array_equal(values.values, whole.values)
    np.testing.assert_array_equal(values.channel_id.values, whole.channel_id.values)
    frame = values.to_dataframe()
    assert isinstance(frame.index, pd.MultiIndex)
