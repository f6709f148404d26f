"""Every statistic equals elephant's on the to_neo Blocks of the same runs (rtol 1e-9).

The lake holds two real NEST runs (one with two segments) and a Block of edge cases:
silent units, one spike, two spikes, spikes on window and bin edges and at t_start and
t_stop, spikes within elephant's rounding tolerance of an edge, duplicate times, trains
with different bounds, and trains in seconds.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

import neo
import numpy as np
import pytest
import quantities as pq
from elephant.conversion import BinnedSpikeTrain
from elephant.spectral import welch_psd
from elephant.spike_train_correlation import correlation_coefficient
from elephant.statistics import cv, fanofactor, isi, mean_firing_rate, time_histogram

from opsnn_lake import Lake, SchemaError
from opsnn_lake import analysis as an

RTOL = 1e-9
ATOL = 1e-12  # for values that are exactly 0 on one side and ~1e-17 on the other


def _train(times, units="ms", t_start=0.0, t_stop=200.0, pop="edge"):
    st = neo.SpikeTrain(np.asarray(times, float), units=units, t_start=t_start, t_stop=t_stop)
    st.annotations["source_population"] = pop
    return st


def edge_block() -> neo.Block:
    rng = np.random.default_rng(3)
    edge = [
        [],  # silent
        [42.0],  # one spike: no interval
        [10.0, 60.0],  # one interval: CV 0
        [0.0, 5.0, 10.0, 50.0, 100.0, 150.0, 200.0],  # on window edges, t_start, t_stop
        np.arange(5.0, 200.0, 10.0),  # regular
        [49.99999999999999, 99.999999999, 100.00000001],  # within / outside tolerance
        [20.0, 20.0],  # duplicate times: mean interval 0
        [101.0, 102.0, 103.0, 104.0],  # one window full, the others empty
        np.sort(rng.uniform(0, 200, 40)).round(1),
        np.sort(rng.uniform(0, 200, 15)),
    ]
    ragged = [
        _train([12.0, 30.0, 149.0], t_start=10.0, t_stop=150.0, pop="ragged"),
        _train([5.0, 80.0, 81.0, 190.0], t_start=0.0, t_stop=200.0, pop="ragged"),
        _train([], t_start=10.0, t_stop=180.0, pop="ragged"),
    ]
    secs = [
        _train(t, units="s", t_stop=0.2, pop="secs")
        for t in ([0.0123, 0.05, 0.1, 0.15], [], [0.005, 0.010, 0.0150000001, 0.2])
    ]
    seg = neo.Segment(name="edges")
    seg.spiketrains.extend([_train(t) for t in edge] + ragged + secs)
    block = neo.Block(name="edge-cases")
    block.segments.append(seg)
    return block


@pytest.fixture(scope="module")
def lake(tmp_path_factory, nest_block, nest_block_two_segments) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("elephant") / "lake")
    lake.add(nest_block, model="net", parameters={"g_inh": 40.0}, seed=7)
    lake.add(nest_block_two_segments, model="net", parameters={"g_inh": 50.0}, seed=11)
    lake.add(edge_block(), model="edges", parameters={"g_inh": 60.0}, seed=1)
    return lake


@pytest.fixture(scope="module")
def runs(lake):
    return lake.search()


def groups(lake: Lake, exclude: tuple[str, ...] = ()) -> Iterator[tuple[dict, list]]:
    """(selection, spike trains) for every segment and population of every run."""
    for run_id in lake.search().index:
        block = lake.to_neo(run_id)
        for i, seg in enumerate(block.segments):
            pops: dict[str, list] = {}
            for st in seg.spiketrains:
                pops.setdefault(st.annotations["source_population"], []).append(st)
            names = lake.open(run_id).attrs["segments"]
            for pop, trains in pops.items():
                if pop not in exclude:
                    yield {"run": run_id, "segment": names[i], "population": pop}, trains


def close(ours, reference, what) -> None:
    np.testing.assert_allclose(
        np.asarray(ours, float),
        np.asarray(reference, float),
        rtol=RTOL,
        atol=ATOL,
        equal_nan=True,
        err_msg=str(what),
    )


@pytest.fixture(autouse=True)
def _quiet():
    # elephant warns about empty trains and discarded spikes at t_stop: expected here
    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    logging.disable(logging.NOTSET)


@pytest.mark.parametrize("window", [None, (20.0, 120.0)])
def test_firing_rate(lake, runs, window):
    kwargs = {} if window is None else {"t_start": window[0], "t_stop": window[1]}
    rate = an.firing_rate(runs, lake=lake, **kwargs).compute()
    assert rate.attrs["units"] == "Hz"
    checked = 0
    for sel, trains in groups(lake):
        if window is None:
            ref = [mean_firing_rate(st).rescale("Hz").magnitude for st in trains]
        else:
            lo, hi = window * pq.ms
            # elephant raises "Empty input spiketrain" for a silent train with a window;
            # the analysis gives 0 Hz there, as elephant does without a window.
            ref = [
                mean_firing_rate(st, lo, hi).rescale("Hz").magnitude if len(st) else 0.0
                for st in trains
            ]
        close(rate.sel(**sel).values, ref, sel)
        checked += len(trains)
    assert checked == rate.sizes["unit"]
    silent = rate.sel(run=runs.index[runs.model == "edges"][0], population="edge")
    assert silent.values[0] == 0.0  # a silent unit fires at 0 Hz, not NaN


def test_isi_cv(lake, runs):
    values = an.isi_cv(runs, lake=lake).compute()
    for sel, trains in groups(lake):
        close(values.sel(**sel).values, [cv(isi(st)) for st in trains], sel)
    edge = values.sel(run=runs.index[runs.model == "edges"][0], population="edge").values
    assert np.isnan(edge[:2]).all()  # silent and one spike: no interval
    assert edge[2] == 0.0 and abs(edge[4]) < 1e-12  # one interval; a regular train
    assert np.isnan(edge[6])  # duplicate times: mean interval 0, as scipy's variation


@pytest.mark.parametrize("window", [None, (10.0, 190.0)])
def test_fano_factor(lake, runs, window):
    kwargs = {} if window is None else {"t_start": window[0], "t_stop": window[1]}
    pops = ["exc", "inh", "noise", "pulses", "edge", "secs"] + ([] if window else ["ragged"])
    values = an.fano_factor(runs, lake=lake, window=50.0, populations=pops, **kwargs).compute()
    for sel, trains in groups(lake, exclude=() if window is None else ("ragged",)):
        ref = []
        for st in trains:
            bounds = (
                {}
                if window is None
                else {"t_start": window[0] * pq.ms, "t_stop": window[1] * pq.ms}
            )
            counts = BinnedSpikeTrain(st, bin_size=50 * pq.ms, **bounds).to_array()[0]
            ref.append(fanofactor([np.zeros(c) for c in counts]))
        close(values.sel(**sel).values, ref, sel)
    edge = values.sel(run=runs.index[runs.model == "edges"][0], population="edge").values
    assert np.isnan(edge[0])  # no spike in any window
    if window is not None:  # elephant refuses to bin outside a train's range: so do we
        with pytest.raises(SchemaError, match="reaches outside the spike trains' shared range"):
            an.fano_factor(runs, lake=lake, window=50.0, populations="ragged", **kwargs)


@pytest.mark.parametrize(("units", "binary"), [(12, False), (12, True), ([9, 3, 0, 500], False)])
def test_correlation_coefficients(lake, runs, units, binary):
    values = an.correlation_coefficients(
        runs,
        lake=lake,
        units=units,
        bin_size=5.0,
        binary=binary,
        populations=["exc", "inh", "edge", "secs"],
    ).compute()
    for sel, trains in groups(lake, exclude=("ragged", "noise", "pulses")):
        wanted = list(range(units)) if isinstance(units, int) else units
        present = [u for u in wanted if u < len(trains)]
        binned = BinnedSpikeTrain([trains[u] for u in present], bin_size=5 * pq.ms)
        ref = np.atleast_2d(correlation_coefficient(binned, binary=binary))
        ours = values.sel(**sel).values
        rows = [i for i, u in enumerate(wanted) if u < len(trains)]
        close(ours[np.ix_(rows, rows)], ref, sel)
        missing = [i for i, u in enumerate(wanted) if u >= len(trains)]
        assert np.isnan(ours[missing]).all() and np.isnan(ours[:, missing]).all()


def test_correlation_of_silent_unit_is_nan(lake, runs):
    values = an.correlation_coefficients(runs, lake=lake, units=3, populations="edge").compute()
    matrix = values.isel(group=0).values
    assert np.isnan(matrix[0]).all() and np.isnan(matrix[:, 0]).all()
    assert matrix[1, 1] == pytest.approx(1.0) and matrix[2, 2] == pytest.approx(1.0)


def test_population_rate(lake, runs):
    values = an.population_rate(
        runs, lake=lake, bin_size=1.0, populations=["exc", "inh", "noise", "pulses", "edge", "secs"]
    ).compute()
    for sel, trains in groups(lake, exclude=("ragged",)):
        ref = time_histogram(trains, bin_size=1 * pq.ms, output="rate").rescale("Hz")
        ours = values.sel(**sel)
        close(ours.values[: ref.shape[0]], ref.magnitude[:, 0], sel)
        close(ours.time.values[: ref.shape[0]], ref.times.rescale("ms").magnitude, sel)


def test_ragged_bounds_need_a_window(lake, runs):
    with pytest.raises(SchemaError, match="different t_start values; pass t_start="):
        an.population_rate(runs, lake=lake, populations="ragged")
    values = an.population_rate(
        runs, lake=lake, populations="ragged", t_start=10.0, t_stop=150.0, bin_size=10.0
    ).compute()
    ((sel, trains),) = list(groups(lake, exclude=("edge", "secs", "exc", "inh", "noise", "pulses")))
    ref = time_histogram(trains, 10 * pq.ms, t_start=10 * pq.ms, t_stop=150 * pq.ms, output="rate")
    close(values.sel(**sel).dropna("time").values, ref.rescale("Hz").magnitude[:, 0], sel)


@pytest.mark.parametrize("options", [{}, {"frequency_resolution": 20.0}, {"len_segment": 64}])
def test_rate_psd(lake, runs, options):
    values = an.rate_psd(
        runs, lake=lake, bin_size=1.0, populations=["exc", "inh", "edge", "secs"], **options
    ).compute()
    assert values.attrs["units"] == "Hz**2/Hz"
    for sel, trains in groups(lake, exclude=("ragged", "noise", "pulses")):
        rate = time_histogram(trains, bin_size=1 * pq.ms, output="rate").rescale("Hz")
        freqs, psd = welch_psd(rate, **options)
        close(values.sel(**sel).values, psd.magnitude[0], sel)
        close(values.frequency.values, freqs.magnitude, "frequencies")


@pytest.mark.parametrize("output", ["counts", "mean", "rate"])
def test_psth_pools_segments(lake, runs, output):
    values = an.psth(
        runs, lake=lake, bin_size=10.0, output=output, populations=["exc", "inh"]
    ).compute()
    two_segments = runs.index[runs.g_inh == 50.0][0]
    block = lake.to_neo(two_segments)
    assert len(block.segments) == 2
    for pop in ("exc", "inh"):
        trains = [
            st
            for seg in block.segments
            for st in seg.spiketrains
            if st.annotations["source_population"] == pop
        ]
        ref = time_histogram(trains, bin_size=10 * pq.ms, output=output)
        if output == "rate":
            ref = ref.rescale("Hz")
        close(values.sel(run=two_segments, population=pop).values, ref.magnitude[:, 0], pop)


def test_signal_summary(lake, runs):
    values = an.signal_summary(runs, "v", lake=lake).compute()
    assert values["mean"].attrs["units"] == "mV"
    n = 0
    for run_id in runs.index:
        block = lake.to_neo(run_id)
        names = lake.open(run_id).attrs["segments"]
        for i, seg in enumerate(block.segments):
            for sig in seg.analogsignals:
                if sig.name != "v":
                    continue
                pop = sig.annotations["source_population"]
                ours = values.sel(run=run_id, segment=names[i], population=pop)
                data = sig.magnitude
                for name, ref in [
                    ("mean", data.mean(axis=0)),
                    ("std", data.std(axis=0)),
                    ("min", data.min(axis=0)),
                    ("max", data.max(axis=0)),
                ]:
                    close(ours[name].values, ref, (run_id, pop, name))
                np.testing.assert_array_equal(
                    ours.channel_id.values, sig.annotations["channel_ids"]
                )
                n += data.shape[1]
    assert n == values.sizes["channel"] > 0


def test_unit_blocks_give_the_same_numbers(lake, runs):
    import dask

    whole = an.analyse(
        runs, ["rate", "cv", "fano", "correlation"], lake=lake, compute=True, populations="exc"
    )
    with dask.config.set({"opsnn_lake.analysis.spikes-per-task": 50}):
        rate = an.firing_rate(runs, lake=lake, populations="exc")
        assert len(rate.data.chunks[0]) > 3 * len(runs)  # several tasks per group
        split = an.analyse(
            runs, ["rate", "cv", "fano", "correlation"], lake=lake, compute=True, populations="exc"
        )
    for name in ("rate", "cv", "fano", "correlation"):
        a, b = whole[name].dataset[name].values, split[name].dataset[name].values
        np.testing.assert_array_equal(a, b)
