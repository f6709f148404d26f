"""tonic event files as input runs, their spike-source view, and lineage to simulations.

The sample files are written here in tonic's own formats (nothing is downloaded):
N-MNIST's 5-byte events, POKERDVS and DVSGesture ``.npy`` arrays.
"""

from __future__ import annotations

import numpy as np
import pytest
import tonic.io
from tonic.datasets import NMNIST, POKERDVS, DVSGesture

from opsnn_lake import Lake
from opsnn_lake.errors import SchemaError
from opsnn_lake.ingest import ingest
from opsnn_lake.neo_convert import block_to_nodes
from opsnn_lake.provenance import file_sha256
from opsnn_lake.sources.tonic import (
    TonicSample,
    input_spike_source,
    read_events,
    read_sample,
    sample_nodes,
    spike_source_view,
    view_block,
)


def random_events(n: int, size=(34, 34), t_max: int = 300_000, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.integers(0, size[0], n),
        "y": rng.integers(0, size[1], n),
        "t": np.sort(rng.integers(0, t_max, n)),
        "p": rng.integers(0, 2, n),
    }


def write_nmnist(path, ev: dict) -> None:
    """N-MNIST's format: x, y, p<<7 | t[22:16], t[15:8], t[7:0] (t in µs)."""
    t = np.asarray(ev["t"], dtype=np.uint32)
    raw = np.empty((t.size, 5), dtype=np.uint8)
    raw[:, 0] = ev["x"]
    raw[:, 1] = ev["y"]
    raw[:, 2] = (np.asarray(ev["p"], dtype=np.uint32) << 7) | ((t >> 16) & 0x7F)
    raw[:, 3] = (t >> 8) & 0xFF
    raw[:, 4] = t & 0xFF
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw.tobytes())


def write_pokerdvs(path, ev: dict) -> None:
    """POKERDVS's npy: rows t, x, y, p (tonic turns them into its dtype)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.column_stack([ev["t"], ev["x"], ev["y"], ev["p"]]).astype(np.int64))


def write_dvsgesture(path, ev: dict) -> None:
    """DVSGesture's npy: rows x, y, p, t with t in ms."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = np.column_stack([ev["x"], ev["y"], ev["p"], np.asarray(ev["t"]) / 1000.0])
    np.save(path, rows)


@pytest.fixture
def nmnist_tree(tmp_path):
    """An N-MNIST test split: digits 0 and 3, three samples."""
    root = tmp_path / "NMNIST" / "Test"
    events = {}
    for i, rel in enumerate(["0/00002.bin", "3/00001.bin", "3/00007.bin"]):
        events[rel] = random_events(500 + 100 * i, seed=i)
        write_nmnist(root / rel, events[rel])
    return root, events


def test_nmnist_sample_is_read_with_tonic_reader(nmnist_tree):
    root, events = nmnist_tree
    sample = read_sample(root / "3/00007.bin", "NMNIST")
    ev = events["3/00007.bin"]
    assert sample.events.dtype == NMNIST.dtype
    for name in "xytp":
        np.testing.assert_array_equal(sample.events[name], ev[name])
    ref = tonic.io.read_mnist_file(str(root / "3/00007.bin"), dtype=NMNIST.dtype)
    np.testing.assert_array_equal(sample.events, ref)
    assert (sample.target, sample.label, sample.split) == (3, "3 - three", "test")
    assert sample.sample_index == 2  # tonic's order: 0/00002, 3/00001, 3/00007
    assert sample.sensor_size == (34, 34, 2)


def test_nmnist_tree_becomes_input_runs(tmp_path, nmnist_tree):
    root, events = nmnist_tree
    lake = Lake(tmp_path / "lake")
    report = ingest([root], lake=lake, tonic="NMNIST", workers=1, progress=False)
    assert report.ok and len(report.added) == 3
    found = lake.search(kind="input", dataset="NMNIST", target=3)
    assert len(found) == 2 and set(found["sample_index"]) == {1, 2}
    run_id = report.added[2].run_id
    data = read_events(lake, run_id)
    assert data.events.dtype == NMNIST.dtype
    for name in "xytp":
        np.testing.assert_array_equal(data.events[name], events["3/00007.bin"][name])
    path = root / "3/00007.bin"
    assert data.source["sha256"] == file_sha256(path)
    prov = lake.provenance(run_id)
    assert prov.kind == "input" and prov.sources[0]["sha256"] == file_sha256(path)
    tree = lake.open(run_id)
    assert tree.attrs["tonic"]["samples"] == ["3_-_three"]
    group = tree["3_-_three"]
    assert group["t"].dims == ("event",) and group["t"].attrs["units"] == "us"
    assert group.attrs["label"] == "3 - three" and group.attrs["sensor_size"] == [34, 34, 2]
    again = ingest([root], lake=lake, tonic="NMNIST", workers=1, progress=False)
    assert len(again.skipped) == 3 and len(lake) == 3


def test_pokerdvs_and_dvsgesture_samples(tmp_path):
    ev = random_events(300, size=(35, 35), seed=4)
    poker = tmp_path / "pips_train" / "he" / "he_0001.npy"
    write_pokerdvs(poker, ev)
    sample = read_sample(poker, "POKERDVS")
    assert sample.events.dtype == POKERDVS.dtype
    assert (sample.label, sample.target, sample.split) == ("he", 1, "train")
    for name in "xytp":
        np.testing.assert_array_equal(sample.events[name], ev[name])

    ev = random_events(400, size=(128, 128), seed=5)
    ev["t"] = ev["t"] - ev["t"] % 1000  # whole ms: DVSGesture stores ms
    gesture = tmp_path / "ibmGestureTest" / "user24_led" / "4.npy"
    write_dvsgesture(gesture, ev)
    sample = read_sample(gesture, "DVSGesture")
    assert sample.events.dtype == DVSGesture.dtype
    assert sample.label == "Right arm ccw" and sample.extra == {"user": 24, "lighting": "led"}
    np.testing.assert_array_equal(sample.events["t"], ev["t"])  # µs, as tonic

    lake = Lake(tmp_path / "lake")
    report = ingest([poker.parent.parent], lake=lake, tonic="POKERDVS", workers=1, progress=False)
    report2 = ingest([gesture], lake=lake, tonic="dvsgesture", workers=1, progress=False)
    assert report.ok and report2.ok
    back = read_events(lake, report2.run_ids[0])
    np.testing.assert_array_equal(back.events, sample.events)
    assert back.extra == {"user": 24, "lighting": "led"}
    assert set(lake.search(kind="input")["dataset"]) == {"POKERDVS", "DVSGesture"}


def test_bad_tonic_files_are_reported_and_the_rest_ingested(tmp_path):
    root = tmp_path / "Train"
    write_nmnist(root / "1/good.bin", random_events(50))
    write_nmnist(root / "1/trunc.bin", random_events(50))
    with open(root / "1/trunc.bin", "r+b") as f:
        f.truncate(5 * 50 - 2)
    (root / "2").mkdir()
    (root / "2/empty.bin").write_bytes(b"")
    off = random_events(50)
    off["x"][7] = 40  # N-MNIST's sensor is 34 pixels wide
    write_nmnist(root / "2/off.bin", off)
    lake = Lake(tmp_path / "lake")
    report = ingest([root], lake=lake, tonic="NMNIST", workers=1, progress=False)
    assert len(report.added) == 1
    errors = {o.label.rsplit("/", 1)[1]: o.error for o in report.failed}
    assert set(errors) == {"trunc.bin", "empty.bin", "off.bin"}
    assert "trunc.bin" in errors["trunc.bin"] and "truncated" in errors["trunc.bin"]
    assert "empty" in errors["empty.bin"]
    assert "event 7 has x=40" in errors["off.bin"]
    assert lake.check().ok and len(lake) == 1

    obj = tmp_path / "pips_test" / "cl" / "obj.npy"
    obj.parent.mkdir(parents=True)
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(SchemaError, match=r"obj\.npy"):
        read_sample(obj, "POKERDVS")
    with pytest.raises(SchemaError, match="supported: NMNIST, POKERDVS, DVSGesture"):
        read_sample(obj, "CIFAR10DVS")


def per_pixel_reference(ev, sensor, *, polarity, t_start=0.0, t_stop=np.inf, offset=0.0):
    """Straightforward loops (the shape of the view's contract), for comparison only."""
    width, height, _ = sensor
    channels = 2 if polarity == "separate" else 1
    out = [[] for _ in range(channels * height * width)]
    for x, y, t, p in zip(ev["x"], ev["y"], ev["t"], ev["p"], strict=True):
        ms = t / 1000.0
        if not t_start <= ms < t_stop:
            continue
        if (polarity == "on" and p != 1) or (polarity == "off" and p != 0):
            continue
        c = p if polarity == "separate" else 0
        out[(c * height + y) * width + x].append(ms - t_start + offset)
    return [np.sort(np.array(times, dtype=float)) for times in out]


@pytest.mark.parametrize(
    "options",
    [
        {"polarity": "separate"},
        {"polarity": "merge"},
        {"polarity": "on", "t_start": 50.0, "t_stop": 200.0},
        {"polarity": "off", "t_start": 10.0, "offset": 1.0},
    ],
)
def test_spike_source_view_matches_a_per_pixel_loop(options):
    sensor = (12, 9, 2)
    ev = random_events(3000, size=sensor[:2], seed=9)
    view = spike_source_view(ev, sensor, **options)
    expected = per_pixel_reference(ev, sensor, **options)
    got = view.spike_times()
    assert view.size == len(expected) == len(got)
    for i, (a, b) in enumerate(zip(got, expected, strict=True)):
        np.testing.assert_array_equal(a, b, err_msg=f"source {i}")
    assert view.index(3, 4, 0) == 4 * 12 + 3


def test_stored_view_is_laid_out_as_the_neo_route_would():
    ev = random_events(400, size=(6, 5), seed=11)
    events = np.zeros(400, dtype=NMNIST.dtype)
    for name in "xytp":
        events[name] = ev[name]
    sample = TonicSample(
        events=events,
        dataset="NMNIST",
        sensor_size=(6, 5, 2),
        target=1,
        label="1 - one",
        sample_index=0,
        split="test",
    )
    fast = sample_nodes(sample)
    slow = block_to_nodes(view_block(sample), where="slow")
    assert set(fast) == {*slow, "1_-_one"}  # plus the events group
    for path, node in slow.items():
        extra = {"tonic"} if path == "" else set()  # the root also describes the events
        assert {k: v for k, v in fast[path].attrs.items() if k not in extra} == node.attrs, path
        assert fast[path].coords == node.coords, path
        assert fast[path].variables.keys() == node.variables.keys(), path
        for name, var in node.variables.items():
            got = fast[path].variables[name]
            assert got.dims == var.dims and got.attrs == var.attrs, (path, name)
            assert got.data.dtype == var.data.dtype, (path, name)
            np.testing.assert_array_equal(got.data, var.data, err_msg=f"{path}/{name}")
            assert got.scale_factor == var.scale_factor, (path, name)


def test_input_run_opens_as_neo_spike_sources(tmp_path, nmnist_tree):
    root, events = nmnist_tree
    lake = Lake(tmp_path / "lake")
    run_id = ingest([root / "0/00002.bin"], lake=lake, tonic="NMNIST", workers=1).run_ids[0]
    block = lake.to_neo(run_id)
    trains = block.segments[0].spiketrains
    assert len(trains) == 2 * 34 * 34 and block.annotations["side"] == 34
    view = spike_source_view(events["0/00002.bin"], (34, 34, 2))
    for i in [0, 1, 35, 34 * 34 + 5, 2 * 34 * 34 - 1]:
        np.testing.assert_array_equal(trains[i].magnitude, view.spike_times()[i])
        st = trains[i]
        assert view.index(st.annotations["x"], st.annotations["y"], st.annotations["channel"]) == i
    row = lake.search(kind="input").loc[run_id]
    assert row["n_units"] == 2 * 34 * 34 and row["n_spikes"] == 500


def test_spike_source_view_rejects_bad_options():
    ev = random_events(10)
    with pytest.raises(SchemaError, match="polarity 'both'"):
        spike_source_view(ev, (34, 34, 2), polarity="both")
    with pytest.raises(SchemaError, match="outside the sensor"):
        spike_source_view(ev, (8, 8, 2))


def test_nest_network_driven_by_input_records_lineage(tmp_path, nmnist_tree):
    import pyNN.nest as sim

    root, _ = nmnist_tree
    lake = Lake(tmp_path / "lake")
    input_id = ingest([root / "3/00001.bin"], lake=lake, tonic="NMNIST", workers=1).run_ids[0]
    view = input_spike_source(lake, input_id, polarity="merge", offset=1.0)
    assert view.run_id == input_id and view.size == 34 * 34

    sim.setup(timestep=0.1, min_delay=0.1, rng_seed=3)
    source = sim.Population(
        view.size, sim.SpikeSourceArray(spike_times=view.spike_times()), label="retina"
    )
    cells = sim.Population(40, sim.IF_cond_exp(), label="v1")
    conn = sim.FixedProbabilityConnector(0.2, rng=sim.NumpyRNG(seed=3))
    sim.Projection(source, cells, conn, sim.StaticSynapse(weight=0.02, delay=0.5))
    source.record("spikes")
    cells.record("spikes")
    sim.run(310.0)
    from opsnn_lake.neo_convert import merge_blocks

    block = merge_blocks({"retina": source.get_data(), "v1": cells.get_data()}, name="driven")
    sim.end()

    trains = [
        st
        for st in block.segments[0].spiketrains
        if st.annotations["source_population"] == "retina"
    ]
    np.testing.assert_array_equal([len(st) for st in trains], view.counts())
    np.testing.assert_allclose(np.concatenate([st.magnitude for st in trains]), view.times)

    run_id = lake.add(
        block,
        model="nmnist_driven",
        parameters={"polarity": "merge", "weight": 0.02},
        seed=3,
        simulator="nest",
        inputs=[input_id],
    )
    assert list(lake.search(input=input_id).index) == [run_id]
    assert lake.provenance(run_id).inputs == [input_id]


def test_v1_sheet_takes_a_tonic_input(tmp_path, nmnist_tree):
    from opsnn_lake.simulators.runner import run_model

    root, _ = nmnist_tree
    lake = Lake(tmp_path / "lake")
    input_id = ingest([root / "3/00001.bin"], lake=lake, tonic="NMNIST", workers=1).run_ids[0]
    params = {"stimulus": input_id, "tstop": 100.0, "side_exc": 10, "side_inh": 5}
    result = run_model("v1_sheet", lake=lake, parameters=params, seed=1)
    assert list(lake.search(input=input_id).index) == [result.run_id]
    assert lake.provenance(result.run_id).inputs == [input_id]
    assert lake.search(model="v1_sheet").loc[result.run_id, "n_spikes"] > 0
