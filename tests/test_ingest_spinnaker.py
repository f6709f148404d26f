"""sPyNNaker run folders: made by a real PyNN-on-sPyNNaker run, read by NeoBufferDatabase.

A virtual board records nothing, so after the run the test writes recordings into the
kept databases in sPyNNaker's own format (an int32 time step, then little-endian uint32
bit fields for spikes or S16.15 words for ``v``) and lets sPyNNaker decode them.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from opsnn_lake import Lake
from opsnn_lake.ingest import ingest
from opsnn_lake.provenance import file_sha256
from opsnn_lake.testing.samples import fill_spinnaker_database as fill


@pytest.fixture
def template(spinnaker_template):
    """A run folder left by a real sPyNNaker run on a virtual board (2 segments)."""
    return spinnaker_template


@pytest.fixture
def run_folder(tmp_path, template):
    folder = tmp_path / "reports" / "2024-05-01-12-00-00-000000" / "run_1"
    shutil.copytree(template.parent, folder.parent)
    expected = [fill(folder / "data.sqlite3", 1), fill(folder / "data1.sqlite3", 2)]
    return folder, expected


def test_run_folder_is_one_run_with_a_segment_per_database(tmp_path, run_folder):
    folder, expected = run_folder
    dbs = [folder / "data.sqlite3", folder / "data1.sqlite3"]
    before = [file_sha256(db) for db in dbs]
    lake = Lake(tmp_path / "lake")
    report = ingest([folder], lake=lake, workers=1, progress=False)
    assert report.ok and len(report.added) == 1, report.failed
    run_id = report.run_ids[0]
    block = lake.to_neo(run_id)
    assert len(block.segments) == 2
    for seg, want in zip(block.segments, expected, strict=True):
        for label in ("exc", "inh"):
            trains = [st for st in seg.spiketrains if st.annotations["source_population"] == label]
            assert len(trains) == len(want[(label, "spikes")])
            for st, times in zip(trains, want[(label, "spikes")], strict=True):
                np.testing.assert_array_equal(st.rescale("ms").magnitude, times)
        (v,) = [sig for sig in seg.analogsignals if sig.name == "v"]
        np.testing.assert_array_equal(v.magnitude, want[("exc", "v")])
    prov = lake.provenance(run_id)
    assert (prov.simulator, prov.simulator_version) == ("spinnaker", "1!7.4.1")
    assert [s["sha256"] for s in prov.sources] == before
    assert [file_sha256(db) for db in dbs] == before  # read-only: the databases are untouched
    assert block.annotations["populations"]["exc"]["last_index"] == (20,)
    again = ingest([folder], lake=lake, workers=1, progress=False)
    assert again.ok and len(again.skipped) == 1 and len(lake) == 1


def test_report_tree_is_walked_in_worker_processes(tmp_path, run_folder, template):
    folder, _ = run_folder
    (folder.parent / "global_provenance.sqlite3").write_bytes(b"")  # sPyNNaker's, not ours
    (folder.parent / "finished").write_text("")
    later = tmp_path / "reports" / "2024-05-02-09-00-00-000000" / "run_1"
    shutil.copytree(template, later)
    fill(later / "data.sqlite3", 5)
    fill(later / "data1.sqlite3", 6)
    lake = Lake(tmp_path / "lake")
    report = ingest([tmp_path / "reports"], lake=lake, workers=2, progress=False)
    assert report.ok and len(report.added) == 2 and report.ignored == [], report.failed
    assert [o.label for o in report.added] == [str(folder), str(later)]
    assert lake.search(simulator="spinnaker")["n_units"].tolist() == [30, 30]


def test_changed_populations_give_a_run_per_database(tmp_path, run_folder):
    folder, _ = run_folder
    conn = sqlite3.connect(folder / "data1.sqlite3")
    conn.execute("UPDATE population SET label = 'inh_b' WHERE label = 'inh'")
    conn.commit()
    conn.close()
    lake = Lake(tmp_path / "lake")
    report = ingest([folder], lake=lake, workers=1, progress=False)
    assert report.ok and len(report.added) == 2
    labels = sorted(o.label.rsplit("/", 1)[1] for o in report.added)
    assert labels == ["data.sqlite3", "data1.sqlite3"]
    pops = sorted(
        sorted(lake.to_neo(run_id).annotations["populations"]) for run_id in report.run_ids
    )
    assert pops == [["exc", "inh"], ["exc", "inh_b"]]


def test_empty_and_damaged_databases_fail_clearly(tmp_path, template):
    virtual = tmp_path / "virtual" / "run_1"
    shutil.copytree(template, virtual)
    damaged = tmp_path / "damaged" / "run_1"
    shutil.copytree(template, damaged)
    fill(damaged / "data.sqlite3", 3)
    fill(damaged / "data1.sqlite3", 4)
    with open(damaged / "data1.sqlite3", "r+b") as f:
        f.truncate(3000)
    lake = Lake(tmp_path / "lake")
    report = ingest([virtual, damaged], lake=lake, workers=1, progress=False)
    assert not report.added and len(report.failed) == 2
    errors = " | ".join(o.error for o in report.failed)
    assert f"{virtual}/data.sqlite3: recorded nothing" in errors
    assert f"{damaged}/data1.sqlite3" in errors
    assert len(lake) == 0 and lake.check().ok


READER_STATE = textwrap.dedent(
    """
    import json, sys
    from spinn_utilities.config_holder import get_config_str
    from spynnaker.pyNN.data import SpynnakerDataView
    from opsnn_lake.sources.spinnaker_folder import read_databases

    def state():
        found = {"set_up": SpynnakerDataView.is_setup()}
        for key, call in (("time_step", SpynnakerDataView.get_simulation_time_step_ms),
                          ("config", lambda: get_config_str("Machine", "version"))):
            try:
                found[key] = call()
            except Exception as err:
                found[key] = type(err).__name__
        return found

    before = state()
    block = read_databases(sys.argv[1:])
    print(json.dumps({"before": before, "after": state(), "segments": len(block.segments)}))
    """
)


def test_reading_leaves_spynnaker_as_it_found_it(run_folder):
    # No unittest_setup(): sPyNNaker decodes from the database alone (reading any of its
    # configuration before sim.setup() would raise), and a later sim.setup() in the same
    # process finds sPyNNaker unset, not mocked with a stand-in 1 ms time step.
    folder, _ = run_folder
    dbs = [str(folder / "data.sqlite3"), str(folder / "data1.sqlite3")]
    done = subprocess.run(
        [sys.executable, "-c", READER_STATE, *dbs], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["segments"] == 2
    assert found["before"] == found["after"]
    assert found["after"]["set_up"] is False
    assert found["after"]["time_step"] == "NotSetupException"
    assert found["after"]["config"] == "ConfigException"
