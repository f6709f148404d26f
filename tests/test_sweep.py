"""Sweeps: YAML specs checked up front, configurations run in parallel processes on dask."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from opsnn_lake import Lake, SchemaError
from opsnn_lake.cli import main
from opsnn_lake.sweep import SPEC_KEYS, expand, load_spec, parse_spec, plan_sweep

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"model": "va", "gird": {}}, "unknown key 'gird'; valid keys: model, simulator"),
        ({"grid": {"g_inh": [1.0]}}, "'model' .* is required"),
        ({"model": "va", "simulator": "brian"}, "simulator 'brian' is unknown; valid: nest"),
        ({"model": "va", "grid": {"g_inh": 51.0}}, r"grid\['g_inh'\] must be a non-empty list"),
        ({"model": "va", "grid": {"g_inh": []}}, r"grid\['g_inh'\] must be a non-empty list"),
        ({"model": "va", "list": {"g_inh": 1}}, "'list' must be a list of mappings"),
        (
            {"model": "va", "grid": {"g_inh": [1.0]}, "list": [{"g_inh": 2.0}]},
            r"list\[0\] sets \['g_inh'\], which the grid also varies",
        ),
        ({"model": "va", "seeds": [1, "two"]}, "seeds: 'two' is not an integer"),
        ({"model": "va", "seeds": []}, "'seeds' must be a non-empty list"),
        ({"model": "va", "timeout": -5}, "'timeout' must be a positive number"),
        ({"model": "va", "workers": 0}, "'workers' must be a positive integer"),
        ({"model": "va", "parameters": [1, 2]}, "'parameters' must be a mapping"),
        (
            {"model": "va", "settings": {"threads": 2}},
            "settings: unknown simulator 'threads'; valid: nest, spinnaker",
        ),
        (
            {"model": "v1_sheet", "inputs": {"stimulus": {"model": "moving_bump", "sed": 1}}},
            r"inputs\['stimulus'\]: unknown key 'sed'; valid keys: model, parameters, seed",
        ),
        (["model", "va"], "expected a mapping of keys"),
    ],
)
def test_bad_specs_are_refused_naming_the_key(data, message):
    with pytest.raises(SchemaError, match=message):
        parse_spec(data, path=Path("spec.yaml"))


def test_bad_files_and_parameters_are_named(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("model: va\ngrid: {g_inh: [1, 2\n")
    with pytest.raises(SchemaError, match=r"bad.yaml: not valid YAML"):
        load_spec(bad_yaml)
    with pytest.raises(SchemaError, match=r"missing.yaml: cannot be read"):
        load_spec(tmp_path / "missing.yaml")
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text("model: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(SchemaError, match="not valid YAML"):  # safe loader: no code runs
        load_spec(hostile)
    typo = parse_spec({"model": "va", "grid": {"g_inhh": [1.0]}}, path=tmp_path / "t.yaml")
    with pytest.raises(SchemaError, match=r"unknown parameter\(s\) \['g_inhh'\]; valid: .*g_inh"):
        plan_sweep(typo, Lake(tmp_path / "lake"))
    assert len(Lake(tmp_path / "lake")) == 0
    assert "list" in SPEC_KEYS


def test_expand_grid_list_and_seeds():
    spec = parse_spec(
        {
            "model": "va",
            "parameters": {"n_pop": 100, "g_exc": 1.0},
            "grid": {"g_inh": [40.0, 60.0], "pconn": [0.1, 0.2]},
            "list": [{"g_exc": 4.0}, {"r_ei": 3.0}],
            "seeds": [1, 2],
        }
    )
    configs = expand(spec)
    assert len(configs) == 2 * 2 * 2 * 2
    assert configs[0] == {
        "parameters": {"n_pop": 100, "g_exc": 4.0, "g_inh": 40.0, "pconn": 0.1},
        "seed": 1,
    }
    assert {c["parameters"]["g_exc"] for c in configs} == {4.0, 1.0}  # list item > fixed
    assert expand(parse_spec({"model": "va"})) == [{"parameters": {}, "seed": None}]


def test_settings_apply_to_their_simulator_only(tmp_path):
    lake = Lake(tmp_path / "lake")
    data = {"model": "va", "settings": {"nest": {"threads": 2}}}
    (nest_plan,) = plan_sweep(parse_spec(data), lake)
    assert nest_plan.request.settings == {"threads": 2}
    (spin_plan,) = plan_sweep(parse_spec({**data, "simulator": "spinnaker"}), lake)
    assert spin_plan.request.settings == {}
    default = plan_sweep(parse_spec({"model": "va"}), lake)[0].run_id
    assert nest_plan.run_id != default  # threads change NEST's results, and the id


def test_shipped_specs_are_valid(tmp_path):
    lake = Lake(tmp_path / "lake")
    demo = plan_sweep(load_spec(REPO / "simulate" / "demo_sweep.yaml"), lake)
    full = plan_sweep(load_spec(REPO / "simulate" / "va_sweep.yaml"), lake)
    assert len(demo) == 6 and len(full) == 15
    assert len({p.run_id for p in demo + full}) == 21
    assert len(lake) == 0  # planning runs nothing


def test_sweep_inputs_are_generated_once_and_named_in_every_run(tmp_path):
    lake = Lake(tmp_path / "lake")
    spec = load_spec(REPO / "simulate" / "v1_sheet_sweep.yaml")
    planned = plan_sweep(spec, lake)
    (bump_id,) = lake.search(kind="input").index  # generated while planning
    assert len(planned) == 12 and len(lake) == 1
    assert {p.request.parameters["stimulus"] for p in planned} == {bump_id}
    assert plan_sweep(spec, lake)[0].run_id == planned[0].run_id  # no new input
    assert len(lake) == 1
    bad = parse_spec({"model": "v1_sheet", "inputs": {"stim": {"model": "moving_bump"}}})
    with pytest.raises(SchemaError, match=r"inputs\['stim'\]: model 'v1_sheet' has no such input"):
        plan_sweep(bad, lake)


def _write_spec(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_sweep_runs_in_parallel_reports_failures_and_skips_known_runs(tmp_path, capsys):
    lake_dir = tmp_path / "lake"
    spec = _write_spec(
        tmp_path / "sweep.yaml",
        """
        model: va
        parameters: {tstop: 100.0, n_record_v: 0}
        list:
          - {n_pop: 300, g_inh: 40.0}
          - {n_pop: 300, g_inh: 60.0}
          - {n_pop: 1}                      # va refuses to build: a crash
          - {n_pop: 3000, tstop: 100000.0}  # far longer than the timeout
        seeds: [1]
        timeout: 60
        workers: 2
        """,
    )
    # 30 s: generous, so that the normal runs finish on a loaded machine too
    code = main(["sweep", str(spec), "--lake", str(lake_dir), "--timeout", "30"])
    out = capsys.readouterr().out
    assert code == 1
    assert "2 done, 2 failed" in out
    assert "ValueError: n_pop must be at least 2" in out
    assert "timed out after 30.0 s" in out
    lake = Lake(lake_dir)
    assert len(lake) == 2 and sorted(lake.search()["g_inh"]) == [40.0, 60.0]
    assert list(lake.staging_dir.iterdir()) == []  # the failures left nothing behind
    assert lake.check().ok
    stores = {p.name: p.stat().st_mtime_ns for p in lake.runs_dir.iterdir()}

    # Known configurations are skipped without starting a simulator.
    main(["sweep", str(spec), "--lake", str(lake_dir), "--dry-run"])
    dry = capsys.readouterr().out.splitlines()
    assert sum("in lake" in line for line in dry) == 2
    assert sum("to run" in line for line in dry) == 2
    spec_ok = _write_spec(
        tmp_path / "ok.yaml",
        """
        model: va
        parameters: {tstop: 100.0, n_record_v: 0, n_pop: 300}
        grid: {g_inh: [40.0, 60.0]}
        seeds: [1]
        """,
    )
    assert main(["sweep", str(spec_ok), "--lake", str(lake_dir)]) == 0
    assert "2 cached" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in lake.runs_dir.iterdir()} == stores


def test_sweep_on_a_running_dask_cluster(tmp_path, capsys):
    from distributed import LocalCluster

    spec = _write_spec(
        tmp_path / "one.yaml",
        """
        model: va
        parameters: {tstop: 50.0, n_pop: 200, n_record_v: 0}
        seeds: [7]
        """,
    )
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        args = ["sweep", str(spec), "--lake", str(tmp_path / "lake")]
        code = main([*args, "--scheduler", cluster.scheduler_address])
    assert code == 0 and "1 done" in capsys.readouterr().out
    (row,) = Lake(tmp_path / "lake").search().itertuples()
    assert row.seed == 7 and row.n_units == 200


def test_sweep_records_round_trip_and_name_bad_fields(tmp_path):
    from opsnn_lake import SpecError
    from opsnn_lake.simulators import RunRequest, RunResult
    from opsnn_lake.sweep import PlannedRun, SweepResult, SweepSpec

    spec = parse_spec(
        {"model": "va", "grid": {"g_inh": [40.0, 60.0]}, "list": [{"g_exc": 4.0}],
         "seeds": [1], "settings": {"nest": {"threads": 1}}, "timeout": 30, "workers": 2},
        path=tmp_path / "s.yaml",
    )  # fmt: skip
    assert SweepSpec.from_dict(spec.to_dict(), path=spec.path) == spec
    (run, *_) = plan_sweep(spec, Lake(tmp_path / "lake"))
    assert PlannedRun.from_dict(run.to_dict()) == run
    assert RunRequest.from_json(run.request.to_json()) == run.request
    result = RunResult(run_id=run.run_id, status="failed", error="boom", notes=("removed x",))
    assert RunResult.from_dict(result.to_dict()) == result and result.failed
    both = SweepResult(run, result)
    assert SweepResult.from_dict(both.to_dict()) == both
    assert (both.run_id, both.status, both.seed, both.parameters["g_exc"]) == (
        run.run_id, "failed", 1, 4.0,
    )  # fmt: skip
    with pytest.raises(SpecError, match=r"run result: 'status' must be one of done, cached"):
        RunResult.from_dict({**result.to_dict(), "status": "maybe"})
    with pytest.raises(SpecError, match=r"run request: 'seed' must be an integer, got 'one'"):
        RunRequest.from_dict({**run.request.to_dict(), "seed": "one"})
    with pytest.raises(SpecError, match=r"planned run: unknown key 'cahced'"):
        PlannedRun.from_dict({**run.to_dict(), "cahced": True})


def test_the_simulator_override_replaces_one_field_and_is_checked():
    spec = parse_spec({"model": "va", "grid": {"g_inh": [40.0]}, "list": [{"g_exc": 4.0}]})
    spinnaker = spec.with_simulator("spinnaker")
    assert spinnaker.simulator == "spinnaker"
    assert spinnaker == parse_spec({**spec.to_dict(), "simulator": "spinnaker"})
    with pytest.raises(SchemaError, match="simulator 'brian' is unknown; valid: nest, spinnaker"):
        spec.with_simulator("brian")
