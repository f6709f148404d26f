"""The same models on sPyNNaker, mapped onto a virtual board (configured by the test).

A virtual board runs sPyNNaker's whole mapping and loading pipeline but returns no
data, so the stores have every population and variable, with zero spikes and samples.
The runs go through the same subprocess route as any sweep run.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from opsnn_lake import Lake
from opsnn_lake.cli import main
from opsnn_lake.simulators import RunRequest, plan_run, run_in_subprocess, run_model

VIRTUAL_BOARD_CFG = """\
[Machine]
virtual_board = True
version = 5

[Reports]
default_report_file_path = {reports}

[Logging]
default = warning
"""


@pytest.fixture
def board_dir(tmp_path, monkeypatch) -> Path:
    """A working directory whose spynnaker.cfg asks for a virtual SpiNN-5 board."""
    (tmp_path / "spynnaker.cfg").write_text(
        VIRTUAL_BOARD_CFG.format(reports=tmp_path / "spinn_reports")
    )
    user = tmp_path / "user_config"  # sPyNNaker wants one user cfg; not the real ~
    user.mkdir()
    (user / ".spynnaker.cfg").write_text("")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(user))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_va_on_a_virtual_spinnaker_board(board_dir, capsys):
    spec = board_dir / "va.yaml"
    spec.write_text("model: va\nsimulator: nest\nparameters: {n_pop: 200, tstop: 100.0}\n")
    code = main(["sweep", str(spec), "--simulator", "spinnaker", "--lake", "lake"])
    assert code == 0, capsys.readouterr()
    lake = Lake(board_dir / "lake")
    (run_id,) = lake.search(simulator="spinnaker").index
    prov = lake.provenance(run_id)
    assert prov.simulator_version == metadata.version("sPyNNaker")
    assert prov.threads is None and prov.parameters["setup"] == {
        "timestep": 0.1,
        "min_delay": 0.2,
    }
    tree = lake.open(run_id)
    (segment,) = tree.children.values()
    assert list(segment.children) == ["exc", "inh"]
    exc, inh = segment["exc"].ds, segment["inh"].ds
    assert exc.sizes["unit"] == 160 and inh.sizes["unit"] == 40
    assert exc["spike_time"].size == 0 and int(exc["spike_count"].sum()) == 0
    assert exc["v"].shape == (0, 2)  # recorded on 2 cells, no samples on a virtual board
    assert "v" not in inh  # sPyNNaker's empty (0, 0) signal for the view is not kept
    assert (board_dir / "spinn_reports").is_dir()  # the cfg of the working dir was used
    block = lake.to_neo(run_id)
    assert len(block.segments[0].spiketrains) == 200


def test_v1_sheet_with_a_lake_input_on_a_virtual_board(board_dir):
    lake = Lake(board_dir / "lake")
    bump = run_model(
        "moving_bump", lake=lake, simulator=None, parameters={"side": 6, "duration": 100.0}
    )
    params = {"side_exc": 8, "side_inh": 4, "tstop": 100.0, "stimulus": bump.run_id}
    planned = plan_run("v1_sheet", simulator="spinnaker", parameters=params, lake=lake)
    request = RunRequest(model="v1_sheet", simulator="spinnaker", parameters=params)
    out = run_in_subprocess(request, lake.path, run_id=planned.run_id, timeout=300)
    assert out.status == "done", out
    assert lake.search(input=bump.run_id, simulator="spinnaker").index.tolist() == [planned.run_id]
    (segment,) = lake.open(planned.run_id).children.values()
    assert segment["exc"].ds.sizes["unit"] == 64 and segment["inh"].ds.sizes["unit"] == 16
