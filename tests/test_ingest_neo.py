"""Batch ingestion of neo files (pickle, NIX, NWB) written from a real NEST run."""

from __future__ import annotations

import copy
import datetime as dt
import json
import pickle
import shutil

import neo
import numpy as np
import pytest
from neo.io import NWBIO, NixIO, PickleIO

from opsnn_lake import Lake
from opsnn_lake.errors import SchemaError, UntrustedInputError
from opsnn_lake.ingest import ingest, read_manifest
from opsnn_lake.provenance import file_sha256
from opsnn_lake.sources.neo_files import read_neo_file
from opsnn_lake.testing import assert_blocks_equal


@pytest.fixture(scope="module")
def annotated_block(nest_block) -> neo.Block:
    """The NEST run with run metadata in its annotations (a copy: the fixture is shared)."""
    block = copy.deepcopy(nest_block)
    block.annotate(model="va_small", parameters={"g_exc": 4.0, "n_pop": 100}, seed=7)
    return block


@pytest.fixture(scope="module")
def pickle_file(tmp_path_factory, annotated_block):
    path = tmp_path_factory.mktemp("neo") / "run.pkl"
    PickleIO(str(path)).write_block(annotated_block)
    return path


def trains_of(block):
    return [st for seg in block.segments for st in seg.spiketrains]


def test_pickle_file_round_trips_with_provenance(tmp_path, pickle_file, annotated_block):
    lake = Lake(tmp_path / "lake")
    report = ingest([pickle_file], lake=lake, trust_pickle=True, workers=1, progress=False)
    assert report.ok and len(report.added) == 1
    run_id = report.added[0].run_id
    assert run_id.startswith("va_small-")
    assert_blocks_equal(annotated_block, lake.to_neo(run_id))
    prov = lake.provenance(run_id)
    assert prov.model == "va_small" and prov.seed == 7 and prov.simulator == "nest"
    assert prov.parameters == {"g_exc": 4.0, "n_pop": 100}
    assert prov.sources == [
        {
            "path": str(pickle_file),
            "sha256": file_sha256(pickle_file),
            "bytes": pickle_file.stat().st_size,
        }
    ]
    assert list(lake.search(model="va_small", g_exc=(3, 5)).index) == [run_id]


def test_pickle_is_refused_unless_trusted(tmp_path, pickle_file):
    with pytest.raises(UntrustedInputError, match="--trust-pickle") as err:
        read_neo_file(pickle_file)
    assert str(pickle_file) in str(err.value) and "runs code" in str(err.value)
    lake = Lake(tmp_path / "lake")
    report = ingest([pickle_file], lake=lake, workers=1, progress=False)
    assert len(report.failed) == 1 and "trusted: true" in report.failed[0].error
    assert len(lake) == 0


def test_known_checksums_are_skipped_before_loading(tmp_path, pickle_file):
    lake = Lake(tmp_path / "lake")
    first = ingest([pickle_file], lake=lake, trust_pickle=True, workers=1, progress=False)
    copy_path = tmp_path / "same_bytes.pkl"
    shutil.copyfile(pickle_file, copy_path)
    # Not trusted now: loading would be refused, so "skipped" proves nothing was loaded.
    again = ingest([pickle_file, copy_path], lake=lake, workers=1, progress=False)
    assert again.ok and len(again.skipped) == 2 and not again.added
    assert set(again.run_ids) == {first.run_ids[0]} and len(lake) == 1


def slim(block: neo.Block) -> neo.Block:
    """The run without the excitatory cells' signals (NIX writes those slowly)."""
    block = copy.deepcopy(block)
    for seg in block.segments:
        seg.analogsignals = [
            sig for sig in seg.analogsignals if sig.annotations["source_population"] != "exc"
        ]
    return block


def test_nix_and_nwb_files_through_a_manifest_in_parallel(tmp_path, annotated_block):
    annotated_block = slim(annotated_block)
    data = tmp_path / "data"
    (data / "nix").mkdir(parents=True)
    nix_block = copy.deepcopy(annotated_block)
    # NIX keeps a dict annotation as its keys only, so metadata travels as JSON text.
    nix_block.annotations["parameters"] = json.dumps({"g_exc": 5.0, "n_pop": 100})
    io = NixIO(str(data / "nix" / "run.nix"), mode="ow")
    io.write_block(nix_block)
    io.close()
    nwb_block = copy.deepcopy(annotated_block)
    nwb_block.annotations.clear()
    nwb_block.annotate(
        session_start_time=dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
        session_description="va_small on NEST",
        identifier="run-nwb",
    )
    NWBIO(str(data / "run.nwb"), mode="w").write_all_blocks([nwb_block])
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        "entries:\n"
        "  - paths: ['data/**/*.nix']\n"
        "    simulator_version: '3.10'\n"
        "  - paths: data/run.nwb\n"
        "    model: va_small\n"
        "    simulator: nest\n"
        "    seed: 8\n"
        "    parameters: {g_exc: 6.0, n_pop: 100}\n"
        "    extra: {note: converted by a lab script}\n"
    )
    lake = Lake(tmp_path / "lake")
    report = ingest(manifests=[manifest], lake=lake, workers=2, progress=False)
    assert report.ok, report.failed
    by_file = {o.label.rsplit("/", 1)[1]: o.run_id for o in report.added}
    nix = lake.provenance(by_file["run.nix"])
    assert (nix.model, nix.seed, nix.parameters["g_exc"]) == ("va_small", 7, 5.0)
    assert nix.simulator_version == "3.10" and nix.extra["ingest"]["io"] == "NixIO"
    nwb = lake.provenance(by_file["run.nwb"])
    assert (nwb.model, nwb.seed, nwb.simulator, nwb.parameters["g_exc"]) == (
        "va_small",
        8,
        "nest",
        6.0,
    )
    assert nwb.extra["note"] == "converted by a lab script"
    assert lake.search(g_exc=6.0).index.tolist() == [by_file["run.nwb"]]
    original = trains_of(annotated_block)
    for run_id in by_file.values():
        got = trains_of(lake.to_neo(run_id))
        assert len(got) == len(original)
        for a, b in zip(original, got, strict=True):
            np.testing.assert_allclose(b.rescale("ms").magnitude, a.magnitude, rtol=1e-12)


def test_bad_files_fail_alone_and_a_rerun_takes_only_what_failed(
    tmp_path, pickle_file, annotated_block
):
    batch = tmp_path / "batch"
    batch.mkdir()
    shutil.copyfile(pickle_file, batch / "good.pkl")
    other = copy.deepcopy(annotated_block)
    other.annotations["seed"] = 8
    full = tmp_path / "other.pkl"
    PickleIO(str(full)).write_block(other)
    raw = full.read_bytes()
    (batch / "truncated.pkl").write_bytes(raw[: len(raw) // 3])
    (batch / "empty.nix").write_bytes(b"")
    (batch / "corrupt.nix").write_bytes(np.random.default_rng(0).bytes(4096))
    (batch / "README.txt.bak").write_text("notes")  # walked: ignored, not an error
    (batch / "params.json").write_text("{}")  # neo has a .json reader, but a walk skips it
    unknown = tmp_path / "run.xyz"
    unknown.write_text("?")
    lake = Lake(tmp_path / "lake")
    report = ingest([batch, unknown], lake=lake, trust_pickle=True, workers=1, progress=False)
    assert [o.label.rsplit("/", 1)[1] for o in report.added] == ["good.pkl"]
    errors = {o.label.rsplit("/", 1)[1]: o.error for o in report.failed}
    assert set(errors) == {"truncated.pkl", "empty.nix", "corrupt.nix", "run.xyz"}
    for name, error in errors.items():
        assert name in error
    assert "truncated" in errors["truncated.pkl"]
    assert "empty file" in errors["empty.nix"]
    assert "neo cannot read" in errors["corrupt.nix"] and "NixIO" in errors["corrupt.nix"]
    assert "unknown extension '.xyz'" in errors["run.xyz"]
    assert report.ignored == [str(batch / "README.txt.bak"), str(batch / "params.json")]
    assert lake.check().ok and len(lake) == 1  # nothing partial, no staging left-overs

    shutil.copyfile(full, batch / "truncated.pkl")
    (batch / "empty.nix").unlink()
    (batch / "corrupt.nix").unlink()
    rerun = ingest([batch], lake=lake, trust_pickle=True, workers=1, progress=False)
    assert rerun.ok and len(lake) == 2
    assert [o.label.rsplit("/", 1)[1] for o in rerun.added] == ["truncated.pkl"]
    assert [o.label.rsplit("/", 1)[1] for o in rerun.skipped] == ["good.pkl"]
    assert lake.provenance(rerun.added[0].run_id).seed == 8


def test_several_blocks_in_one_file_become_one_run(tmp_path, nest_block):
    parts = []
    for label in ("exc", "inh"):
        part = neo.Block(name=label, simulator="NEST", model="two_pops")
        seg = neo.Segment(name="segment000")
        seg.spiketrains = [
            copy.deepcopy(st)
            for st in nest_block.segments[0].spiketrains
            if st.annotations["source_population"] == label
        ]
        part.segments.append(seg)
        parts.append(part)
    path = tmp_path / "pops.pkl"
    path.write_bytes(pickle.dumps(parts))  # what PickleIO reads back as a list of Blocks
    lake = Lake(tmp_path / "lake")
    report = ingest([path], lake=lake, trust_pickle=True, workers=1, progress=False)
    assert report.ok, report.failed
    block = lake.to_neo(report.run_ids[0])
    assert block.annotations["model"] == "two_pops"
    assert set(block.annotations["populations"]) == {"exc", "inh"}
    assert len(block.segments[0].spiketrains) == sum(len(p.segments[0].spiketrains) for p in parts)
    assert lake.provenance(report.run_ids[0]).model == "two_pops"


def test_manifest_validation_names_the_problem(tmp_path):
    bad_key = tmp_path / "bad_key.yaml"
    bad_key.write_text("entries:\n  - paths: x.pkl\n    modle: va\n")
    with pytest.raises(SchemaError, match="entries\\[0\\]: unknown key 'modle'") as err:
        read_manifest(bad_key)
    assert "valid keys: paths, tonic, model" in str(err.value) and str(bad_key) in str(err.value)
    top = tmp_path / "top.yaml"
    top.write_text("entrys: []\n")
    with pytest.raises(SchemaError, match="unknown key 'entrys'; valid keys: entries, trusted"):
        read_manifest(top)
    broken = tmp_path / "broken.yaml"
    broken.write_text("entries: [\n  - paths: x\n")
    with pytest.raises(SchemaError, match="malformed YAML"):
        read_manifest(broken)
    typed = tmp_path / "typed.yaml"
    typed.write_text("entries:\n  - paths: x.pkl\n    seed: one\n")
    with pytest.raises(SchemaError, match="seed: expected an integer"):
        read_manifest(typed)
    code = tmp_path / "code.yaml"
    code.write_text("entries: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(SchemaError, match="malformed YAML"):
        read_manifest(code)

    empty_glob = tmp_path / "globs.yaml"
    empty_glob.write_text("entries:\n  - paths: ['nothing/*.nix']\n")
    lake = Lake(tmp_path / "lake")
    report = ingest(manifests=[bad_key, empty_glob], lake=lake, workers=1, progress=False)
    assert len(report.failed) == 2
    assert "modle" in report.failed[0].error and "matches nothing" in report.failed[1].error
