"""Space and travelling waves: positions in stores, activity maps, wave velocity, movies.

Ground truth: the v1_sheet (real NEST runs, 12 x 12 excitatory cells) driven by moving
bumps of known speed and direction must give the bump's velocity back.
"""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from PIL import Image

from opsnn_lake import Lake
from opsnn_lake.analysis import activity_map, spatial_correlation, wave_velocity
from opsnn_lake.cli import main
from opsnn_lake.simulators.runner import run_model

EXTENT = 1000.0  # v1_sheet's default sheet side (µm)
SIDE = 12  # bump grid and excitatory sheet side
SPEEDS = (0.04, 0.06, 0.08)  # bump speeds (grid cells/ms)
DIRECTIONS = (0.0, 90.0)
SHEET = {"tstop": 200.0, "side_exc": SIDE, "side_inh": 6}


def _bump(lake: Lake, seed: int = 1, **params) -> str:
    params = {"side": SIDE, "duration": 200.0, **params}
    return run_model("moving_bump", lake=lake, simulator=None, parameters=params, seed=seed).run_id


@pytest.fixture(scope="module")
def wave_lake(tmp_path_factory):
    """Sheets driven by bumps of three speeds in two directions, and one by no bump."""
    lake = Lake(tmp_path_factory.mktemp("waves") / "lake")
    truth = {}
    for speed in SPEEDS:
        for direction in DIRECTIONS:
            bump = _bump(lake, speed=speed, direction=direction)
            sheet = run_model("v1_sheet", lake=lake, parameters={**SHEET, "stimulus": bump}, seed=1)
            truth[sheet.run_id] = (speed * EXTENT / SIDE, direction)
    silent = _bump(lake, peak_rate=0.0)
    quiet = run_model("v1_sheet", lake=lake, parameters={**SHEET, "stimulus": silent}, seed=1)
    return lake, truth, quiet.run_id


def _angle(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def test_sheet_velocity_matches_the_bump(wave_lake):
    lake, truth, _ = wave_lake
    maps = activity_map(list(truth), lake=lake, population="exc", bin=5.0)
    velocity = wave_velocity(maps).compute()
    for run, (speed, direction) in truth.items():
        got = velocity.sel(run=run).isel(window=0)
        assert float(got.speed) == pytest.approx(speed, rel=0.15), run
        assert _angle(float(got.direction), direction) < 15.0, run
        assert float(got.r2) > 0.8
    assert velocity.speed.attrs["units"] == "um/ms"
    assert set(velocity.g_inh.values) == {80.0}  # run parameters ride along


def test_windows_follow_the_bump_and_latency_method_agrees_on_direction(wave_lake):
    lake, truth, _ = wave_lake
    run = next(r for r, (s, d) in truth.items() if s == pytest.approx(0.06 * EXTENT / SIDE))
    maps = activity_map([run], lake=lake, population="exc", bin=5.0)
    windows = wave_velocity(maps, window=100.0, step=50.0).compute()
    assert windows.sizes["window"] == 3
    np.testing.assert_allclose(windows.window_start.values, [0.0, 50.0, 100.0])
    speed, direction = truth[run]
    for k in range(3):
        assert float(windows.speed[0, k]) == pytest.approx(speed, rel=0.3)
        assert _angle(float(windows.direction[0, k]), direction) < 20.0
    latency = wave_velocity(maps, window=100.0, method="latency").compute()
    assert _angle(float(latency.direction[0, 0]), direction) < 30.0


def test_no_input_gives_no_wave(wave_lake):
    lake, _, quiet = wave_lake
    velocity = wave_velocity(activity_map([quiet], lake=lake, population="exc", bin=5.0))
    velocity = velocity.compute()
    assert np.isnan(velocity.speed.values).all()
    assert np.isnan(velocity.direction.values).all()


def test_shuffled_positions_destroy_the_wave(wave_lake):
    lake, truth, _ = wave_lake
    maps = activity_map(list(truth), lake=lake, population="exc", bin=5.0, shuffle=3)
    assert maps.attrs["shuffled"] == 3
    velocity = wave_velocity(maps).compute()
    assert np.isnan(velocity.speed.values).all()
    assert (velocity.r2.values < 0.5).all()
    # Same spikes, only their places permuted.
    plain = activity_map(list(truth), lake=lake, population="exc", bin=5.0)
    np.testing.assert_array_equal(maps.sum(("y", "x")).values, plain.sum(("y", "x")).values)


def test_spatial_correlation_falls_with_distance(wave_lake):
    lake, truth, _ = wave_lake
    maps = activity_map(list(truth), lake=lake, population="exc", bin=5.0)
    corr = spatial_correlation(maps, distances=np.arange(0.0, 600.0, 100.0)).compute()
    assert corr.dims == ("run", "window", "distance")
    np.testing.assert_allclose(corr.distance.values, [50.0, 150.0, 250.0, 350.0, 450.0])
    near, far = corr.isel(distance=0).values, corr.isel(distance=-1).values
    assert (near > far + 0.1).all()
    assert (np.abs(far) < 0.2).all()


def test_activity_map_is_lazy_per_run_and_counts_every_spike(wave_lake):
    lake, _, _ = wave_lake
    runs = lake.search(model="v1_sheet")
    maps = activity_map(runs, lake=lake, population="exc", bin=5.0)
    assert maps.dims == ("run", "time", "y", "x")
    assert maps.chunks[0] == (1,) * len(runs)  # one task per run
    assert maps.sizes["time"] == 40 and maps.sizes["x"] == maps.sizes["y"] == SIDE
    np.testing.assert_allclose(maps.x.values, (np.arange(SIDE) + 0.5) * EXTENT / SIDE)
    assert maps.attrs["periodic"] == 1 and maps.x.attrs["units"] == "um"
    assert "g_inh" in maps.coords and "stimulus" in maps.coords
    totals = maps.sum(("time", "y", "x")).compute()
    tree = lake.open(runs.index[0])
    n_exc = int(tree["segment000/exc"]["spike_count"].sum())
    assert int(totals.sel(run=runs.index[0])) == n_exc
    coarse = activity_map(runs, lake=lake, population="exc", bin=5.0, grid=(3, 4))
    assert coarse.shape[2:] == (3, 4)
    np.testing.assert_array_equal(coarse.sum(("y", "x")).values, maps.sum(("y", "x")).values)
    rate = activity_map([runs.index[0]], lake=lake, population="exc", bin=5.0, output="rate")
    counts = maps.sel(run=[runs.index[0]])
    np.testing.assert_allclose(rate.values, counts.values * 1000.0 / 5.0)  # one cell a pixel
    from_tree = activity_map([tree], population="exc", bin=5.0)
    np.testing.assert_array_equal(from_tree.values[0], counts.values[0])
    assert from_tree.attrs["periodic"] == 1  # one code path: the tree's structure is read too


def test_positions_and_structure_are_stored_and_round_trip(tmp_path):
    lake = Lake(tmp_path / "lake")
    bump = _bump(lake, speed=0.05)  # the input: first spike at 0.1 ms < min_delay
    params = {**SHEET, "stimulus": bump, "n_record_v": 2}
    fast = run_model("v1_sheet", lake=lake, parameters=params, seed=1)
    other = Lake(tmp_path / "neo")
    _bump(other, speed=0.05)
    slow = run_model("v1_sheet", lake=other, parameters=params, seed=1, fastpath=False)
    assert fast.run_id == slow.run_id
    a = zarr.open_group(lake.store_path(fast.run_id), mode="r")
    b = zarr.open_group(other.store_path(slow.run_id), mode="r")
    step = EXTENT / SIDE
    for pop, side in (("exc", SIDE), ("inh", 6)):
        group = a[f"segment000/{pop}"]
        for name in ("x", "y", "z", "spike_time", "spike_count"):
            assert (
                np.asarray(group[name]).tobytes()
                == np.asarray(b[f"segment000/{pop}/{name}"]).tobytes()
            )
        s = EXTENT / side
        i = np.arange(side * side)
        # PyNN's Grid2D fills x first (sequential): cell i at column i // side, row i % side.
        np.testing.assert_allclose(np.asarray(group["x"]), (i // side + 0.5) * s)
        np.testing.assert_allclose(np.asarray(group["y"]), (i % side + 0.5) * s)
        np.testing.assert_array_equal(np.asarray(group["z"]), 0.0)
    np.testing.assert_allclose(
        np.asarray(a["segment000/exc/v_x"]), np.asarray(a["segment000/exc/x"])[:2]
    )
    structure = lake.open(fast.run_id).attrs["block"]["annotations"]["populations"]["exc"][
        "structure"
    ]
    assert structure["type"] == "Grid2D" and structure["shape"] == [SIDE, SIDE]
    assert structure["parameters"]["dx"] == pytest.approx(step)
    assert structure["extent"] == [[0.0, EXTENT], [0.0, EXTENT]] and structure["periodic"] is True
    block = lake.to_neo(fast.run_id)
    exc = [
        st for st in block.segments[0].spiketrains if st.annotations["source_population"] == "exc"
    ]
    assert exc[13].annotations["x"] == pytest.approx(1.5 * step)
    assert exc[13].annotations["y"] == pytest.approx(1.5 * step)
    assert lake.to_neo(fast.run_id).segments[0].analogsignals[0].array_annotations["x"].size == 2
    bump_group = lake.open(bump)["bump/bump"]
    assert bump_group["x"].dtype.kind == "i" and int(bump_group["x"].max()) == SIDE - 1


@pytest.mark.parametrize(
    ("seed", "side", "side_exc", "side_inh", "speed", "duration"),
    [(1, 12, 12, 6, 0.05, 200.0), (2, 6, 10, 5, 0.1, 60.0), (3, 20, 8, 4, 0.02, 60.0)],
)
def test_any_bump_drives_any_sheet_or_is_refused_before_simulating(
    tmp_path, seed, side, side_exc, side_inh, speed, duration
):
    lake = Lake(tmp_path / "lake")
    bump = _bump(lake, seed=seed, side=side, speed=speed, duration=duration)
    first = float(np.min([t[0] for t in _first_spikes(lake, bump)]))
    params = {"stimulus": bump, "tstop": duration, "side_exc": side_exc, "side_inh": side_inh}
    result = run_model("v1_sheet", lake=lake, parameters=params, seed=seed)  # default onset
    assert lake.search(model="v1_sheet").loc[result.run_id, "n_spikes"] > 0
    at_zero = {**params, "stimulus_onset": 0.0}  # the input played as it is
    if first <= 0.5:  # at or before min_delay: NEST cannot take it; refused, lake unchanged
        with pytest.raises(ValueError, match=r"first spike would play at .* Set stimulus_onset >="):
            run_model("v1_sheet", lake=lake, parameters=at_zero, seed=seed)
        assert len(lake.search(model="v1_sheet")) == 1
    else:
        run_model("v1_sheet", lake=lake, parameters=at_zero, seed=seed)
        assert len(lake.search(model="v1_sheet")) == 2
    if (seed, side, speed) == (1, 12, 0.05):
        assert first == pytest.approx(0.1)  # the input: refused above, runs by default


def _first_spikes(lake: Lake, run_id: str) -> list[np.ndarray]:
    return [st.magnitude for st in lake.to_neo(run_id).segments[0].spiketrains if st.size]


def test_movie_and_wave_speed_figure_from_the_cli(wave_lake, tmp_path, capsys):
    lake, truth, _ = wave_lake
    run = next(iter(truth))
    gif = tmp_path / "run.gif"
    args = ["plot", "--lake", str(lake.path), "movie", run, "--population", "exc"]
    assert main([*args, "--bin", "10", "-o", str(gif)]) == 0
    with Image.open(gif) as movie:
        assert movie.n_frames == 20  # 200 ms in 10 ms frames
        movie.seek(5)
        frame = np.asarray(movie.convert("RGB"))
        assert frame.shape[0] > 200 and frame.std() > 10
    png = tmp_path / "speed.png"
    code = main(
        ["plot", "--lake", str(lake.path), "stat", "--stat", "wave_speed", "--where",
         "model=v1_sheet", "--x", "g_inh", "--population", "exc", "-o", str(png)]
    )  # fmt: skip
    assert code == 0 and png.stat().st_size > 10_000
    assert main([*args, "-o", str(tmp_path / "run.avi")]) != 0
    assert ".gif or .mp4" in capsys.readouterr().err


def test_wave_speed_figure_of_a_sweep_lake_with_its_input_runs(wave_lake, tmp_path):
    """The documented command, no --where: the bump (input) runs, which have no 'exc'
    and no g_inh, are not on the plot's axis and must not make it fail."""
    lake, _, _ = wave_lake
    assert set(lake.search()["kind"]) == {"simulation", "input"}
    png = tmp_path / "speed.png"
    code = main(
        ["plot", "--lake", str(lake.path), "stat", "--stat", "wave_speed", "--x", "g_inh",
         "--population", "exc", "-o", str(png)]
    )  # fmt: skip
    assert code == 0 and png.stat().st_size > 10_000


def _write_nmnist(path, n: int = 3000, seed: int = 0) -> None:
    """An N-MNIST file (x, y, p<<7 | t[22:16], t[15:8], t[7:0]) of random events."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 100_000, n)).astype(np.uint32)
    raw = np.empty((n, 5), dtype=np.uint8)
    raw[:, 0], raw[:, 1] = rng.integers(0, 34, n), rng.integers(0, 34, n)
    raw[:, 2] = (rng.integers(0, 2, n).astype(np.uint32) << 7) | ((t >> 16) & 0x7F)
    raw[:, 3], raw[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw.tobytes())


def test_movie_of_a_tonic_input_run(tmp_path):
    from opsnn_lake.ingest import ingest

    path = tmp_path / "NMNIST" / "Test" / "3" / "00001.bin"
    _write_nmnist(path)
    lake = Lake(tmp_path / "lake")
    run = ingest([path], lake=lake, tonic="NMNIST", workers=1, progress=False).run_ids[0]
    maps = activity_map([run], lake=lake, bin=10.0)
    assert maps.shape[2:] == (34, 34) and maps.x.attrs["units"] == "1"
    view = next(n for n in lake.open(run).subtree if n.name == maps.attrs["population"])
    times = view["spike_time"].values
    assert times.size > 2500  # one spike per event (a few merge in one time step)
    end = float(maps.time[-1]) + 10.0  # whole bins only, as elephant bins
    assert int(maps.sum()) == int((times < end).sum())
    gif = tmp_path / "tonic.gif"
    assert (
        main(["plot", "--lake", str(lake.path), "movie", run, "--bin", "20", "-o", str(gif)]) == 0
    )
    with Image.open(gif) as movie:
        assert movie.n_frames >= 4


def test_positions_on_a_virtual_spinnaker_board(tmp_path, monkeypatch):
    """sPyNNaker (whole mapping pipeline on a virtual board, no data) keeps positions."""
    from opsnn_lake.simulators import RunRequest, plan_run, run_in_subprocess

    (tmp_path / "spynnaker.cfg").write_text(
        "[Machine]\nvirtual_board = True\nversion = 5\n\n"
        f"[Reports]\ndefault_report_file_path = {tmp_path / 'reports'}\n\n"
        "[Logging]\ndefault = warning\n"
    )
    user = tmp_path / "user_config"  # sPyNNaker wants one user cfg; not the real ~
    user.mkdir()
    (user / ".spynnaker.cfg").write_text("")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(user))
    monkeypatch.chdir(tmp_path)
    lake = Lake(tmp_path / "lake")
    bump = _bump(lake, side=6, duration=50.0)
    params = {"side_exc": 6, "side_inh": 3, "tstop": 50.0, "stimulus": bump}
    planned = plan_run("v1_sheet", simulator="spinnaker", parameters=params, lake=lake)
    request = RunRequest(model="v1_sheet", simulator="spinnaker", parameters=params)
    out = run_in_subprocess(request, lake.path, run_id=planned.run_id, timeout=300)
    assert out.status == "done", out
    tree = lake.open(planned.run_id)
    (segment,) = tree.children.values()
    exc = segment["exc"]
    i = np.arange(36)
    np.testing.assert_allclose(exc["x"].values, (i // 6 + 0.5) * EXTENT / 6)
    np.testing.assert_allclose(exc["y"].values, (i % 6 + 0.5) * EXTENT / 6)
    structure = tree.attrs["block"]["annotations"]["populations"]["exc"]["structure"]
    assert structure["extent"] == [[0.0, EXTENT], [0.0, EXTENT]] and structure["periodic"] is True
