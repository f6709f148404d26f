"""NWB and SONATA out of the lake and back in; one run id for one Block in any format."""

from __future__ import annotations

import copy
import json

import h5py
import numpy as np
import pytest
from neo.io import NixIO, PickleIO

from opsnn_lake import Lake
from opsnn_lake.cli import main
from opsnn_lake.ingest import ingest
from opsnn_lake.neo_convert import block_to_nodes
from opsnn_lake.nwb import read_nwb, write_nwb
from opsnn_lake.sources.base import Metadata

PROVENANCE = {"model": "va_small", "parameters": {"g_exc": 4.0}, "seed": 5, "simulator": "nest"}


def spikes_and_signals(block):
    """Per segment: (population, spike times as int64 bits, units, t_start, t_stop), signals."""
    out = []
    for seg in block.segments:
        trains = [
            (
                st.annotations.get("source_population"),
                st.magnitude.astype(np.float64).view(np.int64).tolist(),
                str(st.units.dimensionality),
                float(st.t_start),
                float(st.t_stop),
            )
            for st in seg.spiketrains
        ]
        signals = [
            (sig.name, sig.magnitude.tobytes(), str(sig.units.dimensionality), float(sig.t_start))
            for sig in seg.analogsignals
        ]
        out.append((sorted(trains, key=lambda t: str(t[0])), sorted(signals)))
    return out


@pytest.fixture
def stored(lake, nest_block):
    return lake, lake.add(nest_block, **PROVENANCE)


def test_nwb_export_passes_nwbinspector_and_reads_back_bitwise(tmp_path, stored, nest_block):
    from nwbinspector import Importance, inspect_nwbfile
    from pynwb import NWBHDF5IO

    lake, run_id = stored
    path = lake.to_nwb(run_id, tmp_path / "out" / "run.nwb")
    messages = list(inspect_nwbfile(nwbfile_path=str(path)))
    bad = [
        m
        for m in messages
        if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)
    ]
    assert not bad, [(m.check_function_name, m.message) for m in bad]

    trains = [st for seg in nest_block.segments for st in seg.spiketrains]
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        units = nwb.units.to_dataframe()
        assert len(units) == len(trains)
        assert list(units["population"]) == [st.annotations["source_population"] for st in trains]
        assert list(units["cell_index"]) == [int(st.annotations["source_index"]) for st in trains]
        assert list(units["global_id"]) == [int(st.annotations["channel_id"]) for st in trains]
        for times, st in zip(units["spike_times"], trains, strict=True):
            np.testing.assert_allclose(times, st.rescale("s").magnitude, rtol=1e-15)
        v = nwb.acquisition["exc_v"]
        assert (v.unit, v.conversion, v.rate) == ("volts", 0.001, 10000.0)
        assert nwb.identifier == run_id and nwb.subject.sex == "U"
        notes = json.loads(nwb.notes)
        assert notes["provenance"]["parameters"] == {"g_exc": 4.0}
        assert "va_small" in nwb.session_description and "nest" in nwb.session_description
    # Bitwise: spike times, units, bounds and signals equal the run's.
    assert spikes_and_signals(read_nwb(path)) == spikes_and_signals(lake.to_neo(run_id))

    # Ingested into another lake: the same data; into its own lake: the same run.
    other = Lake(tmp_path / "other")
    report = ingest([path], lake=other, workers=1, progress=False)
    assert report.ok and len(report.added) == 1, report.outcomes
    again = other.to_neo(report.run_ids[0])
    assert spikes_and_signals(again) == spikes_and_signals(lake.to_neo(run_id))
    assert other.provenance(report.run_ids[0]).seed == 5
    home = ingest([path], lake=lake, workers=1, progress=False)
    assert home.ok and home.run_ids == [run_id] and len(lake) == 1


def test_nwb_spike_times_are_written_in_chunks(tmp_path, monkeypatch, stored):
    import opsnn_lake.nwb as nwb

    lake, run_id = stored
    monkeypatch.setattr(nwb, "CHUNK_SPIKES", 97)  # many chunks, one not full
    path = lake.to_nwb(run_id, tmp_path / "chunked.nwb")
    assert spikes_and_signals(read_nwb(path)) == spikes_and_signals(lake.to_neo(run_id))


def test_off_grid_spike_times_survive_nwb_bitwise(tmp_path, nest_block):
    block = copy.deepcopy(nest_block)
    seg = block.segments[0]
    trains = list(seg.spiketrains)
    rng = np.random.default_rng(1)
    for i, st in enumerate(trains[:3]):  # new trains: a deep copy may share the arrays
        times = np.sort(st.magnitude + rng.random(st.size) * 1e-3)  # times no grid reproduces
        trains[i] = st.duplicate_with_new_data(times * st.units)
        trains[i].annotations.update(st.annotations)
    seg.spiketrains = trains
    nodes = block_to_nodes(block)
    path = write_nwb(nodes, tmp_path / "off.nwb", run_id="x", provenance={})
    with h5py.File(path, "r") as f:
        assert "spike_times_exact" in f["units"]
    assert spikes_and_signals(read_nwb(path)) == spikes_and_signals(block)


def test_a_run_without_spikes_exports_to_nwb(tmp_path, nest_block):
    from nwbinspector import Importance, inspect_nwbfile

    silent = copy.deepcopy(nest_block)  # a silent network: cells, signals, no spikes
    seg = silent.segments[0]
    seg.spiketrains = [
        st.duplicate_with_new_data(st.magnitude[:0] * st.units) for st in seg.spiketrains
    ]
    for new, old in zip(seg.spiketrains, nest_block.segments[0].spiketrains, strict=True):
        new.annotations.update(old.annotations)
    signals_only = copy.deepcopy(nest_block)  # signals, no cells with spike trains at all
    signals_only.segments[0].spiketrains = []
    for name, block in (("silent", silent), ("signals", signals_only)):
        path = write_nwb(block_to_nodes(block), tmp_path / f"{name}.nwb", run_id="x", provenance={})
        assert spikes_and_signals(read_nwb(path)) == spikes_and_signals(block)
        bad = [
            (m.check_function_name, m.message)
            for m in inspect_nwbfile(nwbfile_path=str(path))
            if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)
        ]
        assert not bad, (name, bad)


def test_sonata_export_is_read_by_libsonata_and_round_trips(tmp_path, stored, nest_block):
    import libsonata

    lake, run_id = stored
    out = tmp_path / "sonata"
    argv = ["export", run_id, "--format", "sonata", "-o", str(out), "--lake", str(lake.path)]
    assert main(argv) == 0
    path = out / f"{run_id}.h5"
    reader = libsonata.SpikeReader(str(path))
    assert sorted(reader.get_population_names()) == ["exc", "inh", "noise", "pulses"]
    seg = nest_block.segments[0]
    for name in reader.get_population_names():
        pop = reader[name]
        assert pop.sorting == "by_id" and pop.time_units == "ms"
        trains = [st for st in seg.spiketrains if st.annotations["source_population"] == name]
        expected = sorted(
            (int(st.annotations["source_index"]), float(t)) for st in trains for t in st.magnitude
        )
        assert sorted(pop.get()) == expected
    with h5py.File(path, "r") as f:
        assert f["spikes/exc"].attrs["sorting"] == 1  # HDF5 enum: by_id

    # lake -> SONATA -> lake: identical spikes, silent cells and bounds included.
    back = Lake(tmp_path / "back")
    report = ingest([path], lake=back, workers=1, progress=False)
    assert report.ok and len(report.added) == 1, report.outcomes
    original = spikes_and_signals(lake.to_neo(run_id))
    returned = spikes_and_signals(back.to_neo(report.run_ids[0]))
    assert [trains for trains, _ in returned] == [trains for trains, _ in original]
    assert back.provenance(report.run_ids[0]).model == "va_small"


def test_sonata_report_of_another_writer_becomes_a_run(tmp_path):
    """A by-time sorted report as NEST/BMTK tools write it: node ids and times only."""
    path = tmp_path / "spikes.h5"
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(0, 500, 300)).round(1)
    nodes = rng.integers(0, 40, 300).astype(np.uint64)
    with h5py.File(path, "w") as f:
        group = f.create_group("spikes/v1")
        group.attrs.create(
            "sorting",
            2,
            dtype=h5py.enum_dtype({"none": 0, "by_id": 1, "by_time": 2}, basetype="u1"),
        )
        group.create_dataset("timestamps", data=times).attrs["units"] = "ms"
        group.create_dataset("node_ids", data=nodes)
    lake = Lake(tmp_path / "lake")
    report = ingest([path], lake=lake, workers=1, progress=False)
    assert report.ok, report.outcomes
    block = lake.to_neo(report.run_ids[0])
    trains = block.segments[0].spiketrains
    assert [int(st.annotations["source_index"]) for st in trains] == sorted(set(nodes.tolist()))
    for st in trains:
        mine = np.sort(times[nodes == st.annotations["source_index"]])
        assert np.array_equal(st.magnitude, mine) and st.annotations["source_population"] == "v1"


def slim(block):
    """The run without the excitatory cells' signals (NIX writes those slowly)."""
    block = copy.deepcopy(block)
    for seg in block.segments:
        seg.analogsignals = [
            s for s in seg.analogsignals if s.annotations["source_population"] != "exc"
        ]
    return block


def test_one_block_as_pickle_nix_and_nwb_is_one_run(tmp_path, nest_block):
    block = slim(nest_block)
    data = tmp_path / "data"
    data.mkdir()
    PickleIO(str(data / "run.pkl")).write_block(block)
    nix = NixIO(str(data / "run.nix"), mode="ow")
    nix.write_block(copy.deepcopy(block))
    nix.close()
    write_nwb(block_to_nodes(block), data / "run.nwb", run_id="elsewhere", provenance={})
    lake = Lake(tmp_path / "lake")
    # NIX keeps dict annotations as keys only (PyNN's simulator is lost): the manifest says it.
    metadata = Metadata(model="va_small", seed=5, simulator="nest", trusted=True)
    files = [data / "run.pkl", data / "run.nix", data / "run.nwb"]
    report = ingest(files, lake=lake, metadata=metadata, workers=1, progress=False)
    assert report.ok, [o.error for o in report.failed]
    assert len(set(report.run_ids)) == 1 and len(report.added) == 1 and len(report.skipped) == 2
    prov = lake.provenance(report.run_ids[0])
    assert prov.sources[0]["path"] == str(files[0])
    assert prov.extra["ingest"]["io"] == "PickleIO"
    # Other metadata is another run, even with the same data.
    other = ingest(
        [files[1]],
        lake=lake,
        metadata=Metadata(model="va_small", seed=6),
        workers=1,
        progress=False,
    )
    assert other.ok and other.run_ids[0] != report.run_ids[0]


def test_nwb_export_of_1e5_units_stays_in_bounded_memory(tmp_path):
    import tracemalloc

    from pynwb import NWBHDF5IO

    from opsnn_lake.neo_convert import spike_group
    from opsnn_lake.provenance import Provenance
    from opsnn_lake.schema import Node

    n = 100_000
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 20, n)
    unit = np.repeat(np.arange(n), counts)
    ticks = rng.integers(0, 10_000, counts.sum())
    times = ticks[np.lexsort((ticks, unit))] * 0.1
    node = Node(attrs={"label": "big", "label_from_annotation": True})
    spike_group(
        node,
        times=times,
        counts=counts,
        units="ms",
        dtype="<f8",
        t_start=np.zeros(n),
        t_stop=np.full(n, 1000.0),
        unit_annotations={"source_index": np.arange(n), "channel_id": np.arange(n) + 1},
        annotations={},
        attributes={},
    )
    nodes = {
        "": Node(attrs={"block": {}, "segments": ["s0"]}),
        "s0": Node(attrs={"populations": ["big"]}),
        "s0/big": node,
    }
    lake = Lake(tmp_path / "lake")
    run_id = lake.add_nodes(nodes, Provenance(model="big", seed=1))
    tracemalloc.start()
    try:
        path = lake.to_nwb(run_id, tmp_path / "big.nwb")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # ~1e6 spikes: 8 MB of float64. No per-unit Python lists: the peak stays a small
    # multiple of the flat arrays (the store's packed and decoded copies, one chunk).
    assert peak < 120e6, peak / 1e6
    with NWBHDF5IO(str(path), "r") as io:
        units = io.read().units
        assert len(units.id) == n and units.spike_times_index.data[-1] == times.size
        np.testing.assert_array_equal(units["global_id"].data[:5], np.arange(1, 6))
