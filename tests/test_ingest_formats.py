"""Choosing readers, refusing garbage, and grouping one simulation's files into one run."""

from __future__ import annotations

import neo
import numpy as np
import pytest
from neo.io import PickleIO

from opsnn_lake import Lake
from opsnn_lake.cli import main
from opsnn_lake.ingest import ingest
from opsnn_lake.sources.neo_files import read_spike_text

PATTERN_2020 = "(?P<run>.+)_(?P<population>exc|inh)"


def spike_text(block: neo.Block) -> str:
    """One line of spike times (s) per cell, tab-separated: AsciiSpikeTrainIO's format."""
    lines = [
        "\t".join(repr(float(t)) for t in st.rescale("s").magnitude)
        for st in block.segments[0].spiketrains
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def text_file(tmp_path_factory, nest_block):
    path = tmp_path_factory.mktemp("text") / "spikes.txt"
    path.write_text(spike_text(nest_block))
    return path


def errors_of(report):
    return {o.label.rsplit("/", 1)[-1]: o.error for o in report.failed}


def test_generic_extensions_are_refused_with_the_choices(tmp_path, text_file):
    files = {}
    for ext in ("txt", "bin", "dat", "csv"):
        files[ext] = tmp_path / f"run.{ext}"
        files[ext].write_bytes(text_file.read_bytes())
    lake = Lake(tmp_path / "lake")
    report = ingest(files.values(), lake=lake, workers=1, progress=False)
    errors = errors_of(report)
    assert len(report.failed) == 4 and len(lake) == 0
    for ext, choices in {
        "txt": ["AsciiSpikeTrainIO", "AsciiSignalIO"],
        "bin": ["NMNIST", "RawBinarySignalIO"],
        "dat": ["NestIO", "RawBinarySignalIO"],
        "csv": ["AsciiSignalIO"],
    }.items():
        error = errors[f"run.{ext}"]
        assert str(files[ext]) in error and "--format NAME" in error, error
        assert all(choice in error for choice in choices), error


def test_format_option_and_manifest_key_choose_the_reader(tmp_path, text_file, nest_block):
    lake = tmp_path / "lake"
    argv = ["ingest", str(text_file), "--format", "AsciiSpikeTrainIO", "--lake", str(lake)]
    assert main([*argv, "--workers", "1", "--no-progress"]) == 0
    (run_id,) = Lake(lake).search().index
    trains = Lake(lake).to_neo(run_id).segments[0].spiketrains
    expected = nest_block.segments[0].spiketrains
    assert len(trains) == len(expected)
    for st, ref in zip(trains, expected, strict=True):
        assert np.array_equal(st.magnitude, ref.rescale("s").magnitude) and str(st.units) == "1.0 s"
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        f"entries:\n  - paths: {text_file}\n    format: asciispiketrainio\n    model: m\n"
    )
    report = ingest(manifests=[manifest], lake=lake, workers=1, progress=False)
    assert report.ok and len(report.added) == 1, report.outcomes
    assert Lake(lake).provenance(report.run_ids[0]).extra["ingest"]["io"] == "AsciiSpikeTrainIO"
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"entries:\n  - paths: {text_file}\n    format: SpikeTextIO\n")
    failed = ingest(manifests=[bad], lake=lake, workers=1, progress=False)
    assert "unknown format 'SpikeTextIO'; choose one of: nwb, sonata" in failed.failed[0].error


def test_truncated_or_garbled_spike_text_names_the_line(tmp_path, text_file):
    text = text_file.read_text()
    cut = tmp_path / "cut.txt"
    cut.write_text(text[: len(text) // 2])  # stops inside a line
    n_line = text[: len(text) // 2].count("\n") + 1
    garbled = tmp_path / "garbled.txt"
    lines = text.splitlines(keepends=True)
    garbled.write_text("".join(lines[:3]) + "1.5\t2.x\n" + "".join(lines[3:]))
    report = ingest(
        [cut, garbled], lake=tmp_path / "lake", fmt="AsciiSpikeTrainIO", workers=1, progress=False
    )
    errors = errors_of(report)
    assert (
        f"{cut}: line {n_line} is incomplete" in errors["cut.txt"]
        and "truncated" in errors["cut.txt"]
    )
    assert f"{garbled}: line 4: '2.x' is not a spike time" in errors["garbled.txt"]
    assert len(Lake(tmp_path / "lake")) == 0
    # Empty lines are cells that did not fire, not errors.
    quiet = tmp_path / "quiet.txt"
    quiet.write_text("0.5\t0.75\n\n1.0\n")
    assert [st.size for st in read_spike_text(quiet).segments[0].spiketrains] == [2, 0, 1]


def test_column_signals_and_empty_reads_are_refused_unless_asked(tmp_path, text_file):
    empty = tmp_path / "empty.pkl"
    block = neo.Block(name="nothing")
    block.segments.append(neo.Segment())
    PickleIO(str(empty)).write_block(block)
    lake = tmp_path / "lake"
    columns = ingest([text_file], lake=lake, fmt="AsciiSignalIO", workers=1, progress=False)
    assert "only" in columns.failed[0].error and "'Column n'" in columns.failed[0].error
    assert "--format" in columns.failed[0].error and "--allow-empty" in columns.failed[0].error
    nothing = ingest([empty], lake=lake, trust_pickle=True, workers=1, progress=False)
    assert f"{empty}: PickleIO read no spike trains and no signals" in nothing.failed[0].error
    assert len(Lake(lake)) == 0
    argv = ["ingest", str(empty), "--trust-pickle", "--allow-empty", "--lake", str(lake)]
    assert main([*argv, "--workers", "1", "--no-progress"]) == 0
    asked = ingest(
        [text_file], lake=lake, fmt="AsciiSignalIO", allow_empty=True, workers=1, progress=False
    )
    assert asked.ok and len(Lake(lake)) == 2


def test_tonic_bin_needs_its_format(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    t = np.sort(rng.integers(0, 300_000, n)).astype(np.uint32)
    raw = np.empty((n, 5), dtype=np.uint8)  # N-MNIST's 5-byte events
    raw[:, 0], raw[:, 1] = rng.integers(0, 34, n), rng.integers(0, 34, n)
    raw[:, 2] = (rng.integers(0, 2, n).astype(np.uint32) << 7) | ((t >> 16) & 0x7F)
    raw[:, 3], raw[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    sample = tmp_path / "NMNIST" / "Test" / "3" / "00001.bin"
    sample.parent.mkdir(parents=True)
    sample.write_bytes(raw.tobytes())
    lake = tmp_path / "lake"
    refused = ingest([sample], lake=lake, workers=1, progress=False)
    assert "NMNIST" in refused.failed[0].error and len(Lake(lake)) == 0
    report = ingest([sample], lake=lake, fmt="NMNIST", workers=1, progress=False)
    assert report.ok and Lake(lake).search().loc[report.run_ids[0], "kind"] == "input"


# --------------------------------------------------------------------------- grouping


def write_pynn_files(folder, *, seed: int, naming: str) -> list:
    """A real NEST run whose populations PyNN's write_data saves one file each."""
    import pyNN.nest as sim

    sim.setup(timestep=0.1, min_delay=0.2, rng_seed=seed)
    if naming == "2020":  # the 2020 scripts: views of one "All Cells" population
        cells = sim.Population(50, sim.IF_cond_exp(), label="All Cells")
        exc, inh = cells[:40], cells[40:]
        targets = [cells]
        names = [f"sim{seed}_exc.pkl", f"sim{seed}_inh.pkl"]
    else:
        exc = sim.Population(40, sim.IF_cond_exp(), label="exc")
        inh = sim.Population(10, sim.IF_cond_exp(), label="inh")
        targets = [exc, inh]
        names = ["exc.pkl", "inh.pkl"]
    noise = sim.Population(20, sim.SpikeSourcePoisson(rate=80.0), label="noise")
    rng = sim.NumpyRNG(seed=seed)
    for target in targets:
        sim.Projection(
            noise,
            target,
            sim.FixedProbabilityConnector(0.3, rng=rng),
            sim.StaticSynapse(weight=0.02, delay=0.5),
        )
    exc.record(["spikes", "v"])
    inh.record("spikes")
    sim.run(200.0)
    paths = [folder / name for name in names]
    exc.write_data(str(paths[0]))
    inh.write_data(str(paths[1]))
    sim.end()
    return paths


def test_pynn_write_data_files_become_one_run(tmp_path):
    data = tmp_path / "run1"
    data.mkdir()
    paths = write_pynn_files(data, seed=3, naming="pynn")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "entries:\n"
        f"  - paths: {data}/*.pkl\n"
        "    trusted: true\n"
        "    group: all\n"
        "    model: exc_inh\n"
        "    seed: 3\n"
        "    parameters: {n_exc: 40, n_inh: 10}\n"
    )
    lake = Lake(tmp_path / "lake")
    report = ingest(manifests=[manifest], lake=lake, workers=1, progress=False)
    assert report.ok and len(report.added) == 1, report.outcomes
    run_id = report.run_ids[0]
    prov = lake.provenance(run_id)
    assert (prov.model, prov.seed, prov.parameters) == ("exc_inh", 3, {"n_exc": 40, "n_inh": 10})
    assert prov.simulator == "nest"
    assert [s["path"] for s in prov.sources] == [str(p) for p in paths]
    seg = lake.to_neo(run_id).segments[0]
    assert {st.annotations["source_population"] for st in seg.spiketrains} == {"exc", "inh"}
    assert len(seg.spiketrains) == 50 and [s.name for s in seg.analogsignals] == ["v"]
    tree = lake.open(run_id)
    assert {"exc", "inh"} <= set(tree[tree.attrs["segments"][0]].children)
    # The same files again: known, skipped without loading.
    again = ingest(manifests=[manifest], lake=lake, workers=1, progress=False)
    assert again.ok and again.run_ids == [run_id] and len(again.skipped) == 1


def test_2020_naming_gives_one_run_per_simulation(tmp_path):
    data = tmp_path / "brainhack"
    data.mkdir()
    files = write_pynn_files(data, seed=1, naming="2020") + write_pynn_files(
        data, seed=2, naming="2020"
    )
    for path in files[:2]:  # both files' Blocks hold one population, "All Cells"
        block = PickleIO(str(path)).read_block()
        labels = {st.annotations["source_population"] for st in block.segments[0].spiketrains}
        assert labels == {"All Cells"}
    lake = tmp_path / "lake"
    mixed = ingest(files[:2], lake=lake, trust_pickle=True, group="all", workers=1, progress=False)
    assert "both hold population 'All Cells'" in mixed.failed[0].error
    assert "(?P<population>" in mixed.failed[0].error
    argv = ["ingest", str(data), "--trust-pickle", "--group", PATTERN_2020, "--lake", str(lake)]
    assert main([*argv, "--workers", "1", "--no-progress"]) == 0
    runs = Lake(lake).search()
    assert len(runs) == 2
    for run_id in runs.index:
        seg = Lake(lake).to_neo(run_id).segments[0]
        counts = {}
        for st in seg.spiketrains:
            label = st.annotations["source_population"]
            counts[label] = counts.get(label, 0) + 1
        assert counts == {"exc": 40, "inh": 10}
        sources = [s["path"].rsplit("/", 1)[1] for s in Lake(lake).provenance(run_id).sources]
        assert sources in (["sim1_exc.pkl", "sim1_inh.pkl"], ["sim2_exc.pkl", "sim2_inh.pkl"])
    stray = data / "notes_extra.pkl"
    stray.write_bytes(files[0].read_bytes())
    report = ingest([stray], lake=lake, trust_pickle=True, group=PATTERN_2020, progress=False)
    assert "does not match the --group pattern" in report.failed[0].error
