"""The ``opsnn-lake ingest`` command: exit codes, messages, manifests, progress."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from neo.io import PickleIO

from opsnn_lake import Lake
from opsnn_lake.cli import main
from opsnn_lake.ingest import read_manifest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_pickle(tmp_path_factory, nest_block):
    path = tmp_path_factory.mktemp("cli") / "run.pkl"
    PickleIO(str(path)).write_block(nest_block)
    return path


def test_failures_give_exit_code_1_and_name_the_files(tmp_path, run_pickle, capsys):
    data = tmp_path / "data"
    data.mkdir()
    good = data / "good.pkl"
    good.write_bytes(run_pickle.read_bytes())
    cut = data / "cut.pkl"
    cut.write_bytes(run_pickle.read_bytes()[:5000])
    odd = tmp_path / "odd.abc"
    odd.write_text("?")
    lake = tmp_path / "lake"
    argv = ["ingest", str(data), str(odd), "--lake", str(lake), "--trust-pickle"]
    assert main([*argv, "--workers", "1", "--no-progress"]) == 1
    out, err = capsys.readouterr()
    assert "1 added" in out and "2 failed" in out
    assert f"{cut}: neo cannot read this file" in err and "truncated" in err
    assert f"{odd}: unknown extension '.abc'" in err
    assert len(Lake(lake)) == 1

    cut.write_bytes(run_pickle.read_bytes())  # same bytes as good.pkl: the same run
    rerun = ["ingest", str(data), "--lake", str(lake), "--trust-pickle", "--workers", "1"]
    assert main([*rerun, "--no-progress"]) == 0
    out, _ = capsys.readouterr()
    assert "0 added, 2 already in the lake, 0 failed" in out


def test_untrusted_pickle_says_how_to_trust_it(tmp_path, run_pickle, capsys):
    assert main(["ingest", str(run_pickle), "--lake", str(tmp_path / "lake"), "--no-progress"]) == 1
    _, err = capsys.readouterr()
    assert "refusing to load a pickle file" in err and "--trust-pickle" in err


def test_manifest_errors_and_metadata(tmp_path, run_pickle, capsys):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "a.pkl").write_bytes(run_pickle.read_bytes())
    good = tmp_path / "good.yaml"
    good.write_text(
        "entries:\n"
        "  - paths: runs/*.pkl\n"
        "    trusted: true\n"
        "    model: legacy\n"
        "    parameters: {g_inh: 51.0}\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("entries:\n  - paths: runs/*.pkl\n    paramters: {g_inh: 1}\n")
    lake = tmp_path / "lake"
    code = main(["ingest", "-m", str(bad), "-m", str(good), "--lake", str(lake), "--no-progress"])
    assert code == 1
    _, err = capsys.readouterr()
    assert f"manifest {bad}: entries[0]: unknown key 'paramters'; valid keys: paths" in err
    found = Lake(lake).search(model="legacy", g_inh=51.0)
    assert len(found) == 1  # the good manifest went ahead


def test_usage_errors_exit_2(tmp_path, capsys):
    lake = str(tmp_path / "lake")
    assert main(["ingest", "--lake", lake]) == 2
    assert "give PATHs or --manifest" in capsys.readouterr().err
    assert main(["ingest", str(tmp_path), "--tonic", "MNIST-DVS", "--lake", lake]) == 2
    assert "supported: NMNIST, POKERDVS, DVSGesture" in capsys.readouterr().err
    assert main(["ingest", str(tmp_path), "--workers", "0", "--lake", lake]) == 2


def test_shipped_example_manifest_is_valid():
    manifest = read_manifest(REPO / "ingest" / "example_manifest.yaml")
    assert manifest.entries
    assert any(e.tonic == "NMNIST" for e in manifest.entries)
    assert any(e.metadata.trusted for e in manifest.entries)


def test_command_runs_in_parallel_with_a_progress_bar(tmp_path, run_pickle):
    data = tmp_path / "data"
    data.mkdir()
    block = PickleIO(str(run_pickle)).read_block()
    for i in range(3):  # distinct seeds: three runs (the id comes from data and metadata)
        block.annotations["seed"] = i
        PickleIO(str(data / f"r{i}.pkl")).write_block(block)
    lake = tmp_path / "lake"
    exe = Path(sys.executable).with_name("opsnn-lake")
    done = subprocess.run(
        [str(exe), "ingest", str(data), "--lake", str(lake), "--trust-pickle", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYNEST_QUIET": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ingest: 3 added" in done.stdout
    assert "3/3" in done.stderr  # tqdm's progress bar
    assert len(Lake(lake)) == 3
