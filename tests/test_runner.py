"""The simulation runner: real NEST runs of the simulate/ models straight into the lake."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from opsnn_lake import Lake, SchemaError
from opsnn_lake.simulators import (
    RunRequest,
    RunResult,
    get_backend,
    load_model,
    plan_run,
    run_in_subprocess,
    run_model,
)
from opsnn_lake.testing import assert_blocks_equal

SMALL_VA = {"n_pop": 800, "pconn": 0.05, "tstop": 200.0}  # 40 inputs a cell: sustained


@pytest.fixture(scope="module")
def va_lake(tmp_path_factory):
    """One small VA run (fast path) in a lake shared by the tests that only read it."""
    lake = Lake(tmp_path_factory.mktemp("va") / "lake")
    result = run_model("va", lake=lake, parameters=SMALL_VA, seed=3)
    return lake, result


def test_va_run_is_stored_with_exc_and_inh_populations(va_lake):
    lake, result = va_lake
    assert not result.skipped
    tree = lake.open(result.run_id)
    (segment,) = tree.children.values()
    assert list(segment.children) == ["exc", "inh"]  # two views of one population
    exc, inh = segment["exc"].ds, segment["inh"].ds
    assert exc.sizes["unit"] == 640 and inh.sizes["unit"] == 160
    assert exc["v"].shape == (2001, 2)  # v of the first 2 excitatory cells
    assert "v" not in inh
    counts = exc["spike_count"].values.sum() + inh["spike_count"].values.sum()
    late = (exc["spike_time"].values > 150.0).sum() + (inh["spike_time"].values > 150.0).sum()
    assert late > 100  # self-sustained activity, long after the 50 ms kick
    row = lake.search(run_id=result.run_id).iloc[0]
    assert row["n_spikes"] == counts and row["n_units"] == 800
    # the cells of "inh" follow those of "exc" in the parent population
    exc_ids = exc["channel_id"].values
    inh_ids = inh["channel_id"].values
    assert exc_ids.max() < inh_ids.min()
    assert np.array_equal(np.concatenate([exc_ids, inh_ids]), np.arange(800) + exc_ids.min())


def test_provenance_of_a_run(va_lake):
    lake, result = va_lake
    prov = lake.provenance(result.run_id)
    model = load_model("va")
    assert prov.kind == "simulation" and prov.model == "va"
    assert prov.model_hash == model.code_hash
    assert prov.simulator == "nest" and prov.simulator_version == metadata.version("nest-simulator")
    import nest

    assert prov.simulator_version == nest.__version__
    assert prov.seed == 3 and prov.threads == 1
    assert prov.parameters["n_pop"] == 800 and prov.parameters["g_inh"] == 51.0
    assert prov.parameters["seed"] == 3  # the run seed drives the model's seed ...
    assert prov.parameters["setup"]["rng_seed"] == 3  # ... and NEST's kernel seed
    assert prov.parameters["setup"]["timestep"] == 0.1
    assert prov.parameters["setup"]["min_delay"] == 0.2
    for phase in ("build", "simulate", "write"):
        assert prov.timings[phase] > 0
    assert Path(prov.extra["model_file"]) == model.path


def test_run_id_is_known_before_simulating_and_memoised(va_lake):
    lake, result = va_lake
    plan = plan_run("va", parameters=SMALL_VA, seed=3)
    assert plan.run_id == result.run_id
    # 51 and 51.0 are the same configuration; a changed parameter or seed is another.
    assert plan_run("va", parameters={**SMALL_VA, "g_inh": 51}, seed=3).run_id == plan.run_id
    assert plan_run("va", parameters={**SMALL_VA, "g_inh": 50}, seed=3).run_id != plan.run_id
    assert plan_run("va", parameters=SMALL_VA, seed=4).run_id != plan.run_id
    assert plan_run("va", parameters=SMALL_VA, seed=3, settings={"threads": 2}).run_id != (
        plan.run_id
    )
    before = sorted(p.name for p in lake.runs_dir.iterdir())
    again = run_model("va", lake=lake, parameters=SMALL_VA, seed=3)
    assert again.skipped and again.run_id == result.run_id and again.timings == {}
    assert sorted(p.name for p in lake.runs_dir.iterdir()) == before


def test_fast_path_and_neo_route_store_the_same_run(va_lake, tmp_path):
    lake, result = va_lake
    other = Lake(tmp_path / "neo")
    neo_run = run_model("va", lake=other, parameters=SMALL_VA, seed=3, fastpath=False)
    assert neo_run.run_id == result.run_id
    fast_block, neo_block = lake.to_neo(result.run_id), other.to_neo(neo_run.run_id)
    for block in (fast_block, neo_block):  # two runs: only their wall-clock dates differ
        block.segments[0].rec_datetime = None
    assert_blocks_equal(fast_block, neo_block)


def test_bad_parameters_models_and_simulators_are_named(tmp_path):
    with pytest.raises(SchemaError, match=r"unknown parameter\(s\) \['g_inhh'\].*valid:.*g_inh"):
        plan_run("va", parameters={"g_inhh": 40.0})
    with pytest.raises(SchemaError, match=r"'n_pop': expected an integer, got 4000.5"):
        plan_run("va", parameters={"n_pop": 4000.5})
    with pytest.raises(SchemaError, match="'rng': expected a string"):
        plan_run("va", parameters={"rng": 3})
    with pytest.raises(SchemaError, match=r"simulator 'brian'.*valid: nest, spinnaker"):
        plan_run("va", simulator="brian")
    with pytest.raises(SchemaError, match=r"no nosuchmodel.py.*known models:.*va"):
        load_model("nosuchmodel")
    broken = tmp_path / "broken.py"
    broken.write_text('NAME = "broken"\nPARAMETERS = {"dt": 0.1, "tstop": 10.0}\n')
    with pytest.raises(SchemaError, match=r"broken.py: a simulation model must define build\(\)"):
        load_model(broken)
    no_seed = tmp_path / "no_seed.py"
    no_seed.write_text(
        'NAME = "no_seed"\nPARAMETERS = {"dt": 0.1, "tstop": 10.0}\n'
        "def build(sim, params):\n    return {}\n"
    )
    with pytest.raises(SchemaError, match="a seed would change nothing"):
        plan_run(no_seed, simulator="spinnaker", seed=1)


def test_input_generator_and_v1_sheet_driven_by_it(tmp_path):
    lake = Lake(tmp_path / "lake")
    bump_params = {"side": 10, "duration": 200.0, "speed": 0.03, "x0": 1.0}
    bump = run_model("moving_bump", lake=lake, simulator=None, parameters=bump_params, seed=5)
    assert run_model(
        "moving_bump", lake=lake, simulator=None, parameters=bump_params, seed=5
    ).skipped
    bump_prov = lake.provenance(bump.run_id)
    assert bump_prov.kind == "input" and bump_prov.simulator is None
    assert bump_prov.parameters["side"] == 10 and bump_prov.seed == 5
    assert lake.search(kind="input").index.tolist() == [bump.run_id]

    sheet_params = {"side_exc": 12, "side_inh": 6, "tstop": 200.0, "stimulus": bump.run_id}
    sheet = run_model("v1_sheet", lake=lake, parameters=sheet_params)
    prov = lake.provenance(sheet.run_id)
    assert prov.inputs == [bump.run_id] and bump.run_id in prov.input_checksums
    assert lake.search(input=bump.run_id).index.tolist() == [sheet.run_id]
    tree = lake.open(sheet.run_id)
    (segment,) = tree.children.values()
    assert segment["exc"].ds.sizes["unit"] == 144 and segment["inh"].ds.sizes["unit"] == 36

    # The response follows the bump: in the first 100 ms (bump centre x = 1 → 4 of 10
    # input cells, i.e. the first 40% of the sheet) most excitatory spikes are there.
    block = lake.to_neo(sheet.run_id)
    exc = [
        st for st in block.segments[0].spiketrains if st.annotations["source_population"] == "exc"
    ]
    column = np.concatenate(
        [np.full(np.count_nonzero(st.magnitude < 100.0), i // 12) for i, st in enumerate(exc)]
    )  # Grid2D fills x-major: cell i is in column i // side
    assert column.size > 20
    assert np.mean(column < 6) > 0.7

    with pytest.raises(SchemaError, match=r"input parameter 'stimulus'.*no run 'nope'"):
        plan_run("v1_sheet", parameters={**sheet_params, "stimulus": "nope"}, lake=lake)
    with pytest.raises(SchemaError, match="give the run id of an input run"):
        plan_run("v1_sheet", lake=lake)


CRASHING_MODEL = """
import os
NAME = "crashing"
PARAMETERS = {"dt": 0.1, "tstop": 100.0, "how": "raise"}
SIMULATOR_SETTINGS = {"nest": {"rng_seed": 1}}

def build(sim, params):
    if params["how"] == "abort":
        os.abort()
    raise RuntimeError("the model failed on purpose")
"""


def test_crash_and_timeout_in_a_subprocess_leave_nothing(tmp_path):
    lake = Lake(tmp_path / "lake")
    model = tmp_path / "crashing.py"
    model.write_text(CRASHING_MODEL)
    raised = run_in_subprocess(RunRequest(model=str(model)), lake.path, timeout=60)
    assert raised.status == "failed"
    assert raised.error == "RuntimeError: the model failed on purpose"
    aborted = run_in_subprocess(
        RunRequest(model=str(model), parameters={"how": "abort"}), lake.path, timeout=60
    )
    assert aborted.status == "failed" and aborted.error == "killed by signal SIGABRT"
    long_run = RunRequest(model="va", parameters={"n_pop": 2000, "tstop": 60000.0})
    planned = plan_run("va", parameters=long_run.parameters).run_id
    slow = run_in_subprocess(long_run, lake.path, run_id=planned, timeout=3.0)
    assert slow.status == "failed" and slow.error == "timed out after 3.0 s"
    assert slow.run_id == planned
    assert len(lake) == 0
    assert list(lake.runs_dir.iterdir()) == [] and list(lake.staging_dir.iterdir()) == []
    assert lake.check().ok


def test_subprocess_run_refuses_a_changed_model(tmp_path):
    lake = Lake(tmp_path / "lake")
    request = RunRequest(model="va", parameters={"n_pop": 100, "tstop": 10.0})
    out = run_in_subprocess(request, lake.path, run_id="va-0000", timeout=60)
    assert out.status == "failed" and "differs from the planned va-0000" in out.error
    assert len(lake) == 0


def test_backends_differ_only_in_module_and_version():
    nest_b, spin_b = get_backend("nest"), get_backend("spinnaker")
    assert (nest_b.pynn_module, spin_b.pynn_module) == ("pyNN.nest", "pyNN.spiNNaker")
    import spynnaker

    assert spin_b.version() == spynnaker.__version__ == metadata.version("sPyNNaker")
    assert nest_b.fastpath and spin_b.fastpath is None  # sPyNNaker data goes through neo


def _index_bytes(lake: Lake) -> dict[str, bytes]:
    """The index database and its write-ahead log, byte for byte."""
    names = ("index.sqlite", "index.sqlite-wal")
    return {n: (lake.path / n).read_bytes() for n in names if (lake.path / n).exists()}


def test_a_child_that_only_publishes_leaves_the_index_to_sync(tmp_path):
    lake = Lake(tmp_path / "lake")
    request = RunRequest(model="va", parameters={"n_pop": 100, "tstop": 20.0}, seed=2)
    before = _index_bytes(lake)
    result = run_in_subprocess(request, lake.location, register=False, timeout=120)
    assert isinstance(result, RunResult)
    assert result.status == "done" and not result.registered and result.seconds > 0
    assert _index_bytes(lake) == before  # the child never wrote the index
    assert len(lake) == 0 and lake.store_path(result.run_id).is_dir()
    assert lake.sync() == [result.run_id]  # the index keeper registers it
    assert lake.has_run(result.run_id) and lake.check().ok
    again = run_in_subprocess(request, lake.location, register=False, timeout=120)
    assert again.status == "cached" and again.run_id == result.run_id


def test_backends_are_found_by_loaders_and_their_hooks_are_callables(monkeypatch):
    import dataclasses

    from opsnn_lake import simulators
    from opsnn_lake.fastpath import nest_nodes
    from opsnn_lake.simulators.nest import pynn_speedups

    nest_b = get_backend("nest")
    assert nest_b.fastpath is nest_nodes and nest_b.prepare is pynn_speedups
    monkeypatch.setitem(simulators.SIMULATORS, "nest_copy", lambda: dataclasses.replace(
        nest_b, name="nest_copy"))  # fmt: skip
    assert "nest_copy" in simulators.simulator_names()
    assert get_backend("nest_copy").name == "nest_copy"
    monkeypatch.setitem(simulators.SIMULATORS, "broken", lambda: "pyNN.nest")
    with pytest.raises(SchemaError, match="'broken': its loader returned str, expected"):
        get_backend("broken")


def test_the_worker_side_of_a_run_imports_no_simulator_neo_or_zarr():
    # A fresh dask worker unpickles the sweep's task before starting the child; what it
    # imports delays the first run (benchmarks/sweep.py: fresh workers 89 % -> 99 % busy).
    import subprocess
    import sys

    code = (
        "import sys; import opsnn_lake.simulators.process, opsnn_lake.simulators.records; "
        "print(sorted(m for m in ('neo', 'zarr', 'pandas', 'nest', 'pyNN', 'opsnn_lake.lake') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
