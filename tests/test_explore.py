"""explore: the lake's analyses choose the next parameters; the lake is the study's storage.

Real NEST runs of a small VA network, real optuna samplers, real SIGKILLs.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import intake
import psutil
import pytest
from matplotlib.image import imread

import opsnn_lake
from opsnn_lake import Lake, SchemaError
from opsnn_lake.cli import main
from opsnn_lake.explorer import load_spec, parse_spec
from opsnn_lake.simulators.runner import plan_run, run_model

REPO = Path(__file__).resolve().parents[1]
SMALL = {"n_pop": 400, "pconn": 0.1, "tstop": 200.0, "n_record_v": 0}
SPEC = {
    "model": "va",
    "parameters": SMALL,
    "space": {
        "g_exc": {"low": 1.0, "high": 8.0, "step": 1.0},
        "g_inh": {"low": 20.0, "high": 160.0, "step": 20.0},
    },
    "objective": {
        "population": "exc",
        "rate": {"target": 20.0, "tolerance": 0.2},
        "cv": [0.7, 1.3],
    },
    "strategy": "tpe",
    "budget": 4,
    "workers": 2,
    "seed": 3,
    "timeout": 120,
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stratgy": "tpe"}, "unknown key 'stratgy'; valid keys: model, simulator"),
        ({"strategy": "annealing"}, "strategy 'annealing' is unknown; valid: tpe, cmaes, gp"),
        ({"space": {"g_ihn": [1, 2]}}, r"space: 'g_ihn' is not a parameter of 'va'"),
        ({"space": {"g_inh": [1, 2, 3]}}, r"space\['g_inh'\]: a range is \[low, high\]"),
        ({"space": {"g_inh": {"low": 5, "high": 1}}}, r"space\['g_inh'\]: low \(5\) must be below"),
        ({"space": {"g_inh": {"low": 0, "high": 1, "log": True}}}, "a log range needs low > 0"),
        ({"space": {"g_inh": {"lo": 1}}}, r"space\['g_inh'\]: unknown key 'lo'; valid keys: low"),
        ({"objective": {"rat": 1}}, "objective: unknown key 'rat'; valid keys: population"),
        ({"objective": {"cv": [1.2, 0.8]}}, r"objective.cv: low \(1.2\) must be below"),
        ({"objective": {"population": "exc"}}, "objective has no term"),
        (
            {"objective": {"rate": {"target": 20}, "mode": "constraints"}, "strategy": "cmaes"},
            "mode constraints needs strategy tpe or gp",
        ),
        ({"budget": 0}, "'budget' must be a positive integer"),
        ({"warm_start": "yes"}, "'warm_start' must be true or false"),
        ({"parameters": {"g_inh": 50.0}}, r"space: 'g_inh' is also fixed in 'parameters'"),
    ],
)
def test_bad_specs_are_refused_naming_the_key(change, message):
    with pytest.raises(SchemaError, match=message):
        parse_spec({**SPEC, **change}, path=Path("x.yaml"))


def test_spec_file_is_read_safely(tmp_path):
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text("model: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(SchemaError, match=r"hostile\.yaml: not valid YAML"):
        load_spec(hostile)
    spec = load_spec(REPO / "simulate" / "va_explore.yaml", budget=3)
    assert spec.budget == 3 and spec.strategy == "tpe" and spec.warm_start
    # budget and workers are not part of the study's identity: changing them resumes it
    assert spec.study_id() == load_spec(REPO / "simulate" / "va_explore.yaml").study_id()


def test_trials_are_lake_runs_with_lineage_and_known_ones_cost_nothing(tmp_path):
    lake = Lake(tmp_path / "lake")
    result = opsnn_lake.explore(SPEC, lake=lake)
    trials = result.trials
    assert len(trials) == 4 and set(trials["state"]) <= {"complete", "failed"}
    assert result.simulated == trials["run_id"].nunique()
    assert result.best_params and set(result.best_params) == {"g_exc", "g_inh"}
    assert (trials["rate"] > 0).all() and trials["objective"].notna().all()
    # Lineage never changes a run: the id is the plain run's content-derived id.
    row = trials.iloc[0]
    plain = plan_run("va", parameters={**SMALL, "g_exc": row.g_exc, "g_inh": row.g_inh})
    assert row.run_id == plain.run_id
    found = lake.search(study=result.study)
    assert set(found.index) == set(trials["run_id"])
    assert set(found["strategy"]) == {"tpe"} and found["trial"].notna().all()
    assert found.loc[row.run_id, "objective"] == pytest.approx(row.objective)
    with pytest.raises(SchemaError, match="no study 'nope'"):
        lake.search(study="nope")
    # the intake catalog finds them too
    lake.write_catalog(tmp_path / "catalogs" / "lake.yaml")
    cat = intake.open_catalog(str(tmp_path / "catalogs" / "lake.yaml"))["lake"]
    assert set(cat.search(study=result.study).run_ids()) == set(trials["run_id"])
    # Same study again: at its budget, nothing asked, nothing simulated.
    again = opsnn_lake.explore(SPEC, lake=lake)
    assert again.simulated == 0 and len(again.trials) == 4
    # Another strategy over the same points: those in the lake cost no simulation.
    grid = opsnn_lake.explore({**SPEC, "strategy": "grid", "budget": 64, "space": {
        "g_exc": {"low": 1.0, "high": 2.0, "step": 1.0},
        "g_inh": {"low": 20.0, "high": 40.0, "step": 20.0}}}, lake=lake)  # fmt: skip
    assert len(grid.trials) == 4  # the grid's size caps the budget
    known = set(trials["run_id"]) & set(grid.trials["run_id"])
    assert grid.simulated == grid.trials["run_id"].nunique() - len(known)
    # GP (PyTorch) past its 5 random start-up trials, on that 2 x 2 lattice: all known.
    gp = opsnn_lake.explore({**SPEC, "strategy": "gp", "budget": 7, "workers": 1, "space": {
        "g_exc": {"low": 1.0, "high": 2.0, "step": 1.0},
        "g_inh": {"low": 20.0, "high": 40.0, "step": 20.0}}}, lake=lake)  # fmt: skip
    assert len(gp.trials) == 7 and gp.simulated == 0
    assert set(gp.trials["run_id"]) <= set(grid.trials["run_id"])


def test_failed_and_silent_runs_are_kept_as_nan_failures(tmp_path):
    lake = Lake(tmp_path / "lake")
    # No input kick: the network never fires; its run is stored, told as a failure.
    silent = opsnn_lake.explore(
        {**SPEC, "parameters": {**SMALL, "stim_rate": 0.0}, "budget": 1, "workers": 1},
        lake=lake,
    )
    (record,) = silent.records
    assert record["status"] == "silent" and record["state"] == "failed"
    assert math.isnan(silent.trials["objective"].iloc[0]) and record["run_id"] in lake
    # A run that times out leaves no store but stays a trial, with its error.
    slow = opsnn_lake.explore(
        {**SPEC, "budget": 2, "workers": 2, "timeout": 0.2, "strategy": "random"}, lake=lake
    )
    assert list(slow.trials["state"]) == ["failed", "failed"]
    assert slow.trials["error"].str.contains("timed out").all() and slow.failed_runs == 2
    assert not slow.best_params and slow.trials["rate"].isna().all()
    on_disk = sorted((lake.path / "studies" / slow.study / "trials").glob("*.json"))
    assert [json.loads(p.read_text())["objective"] for p in on_disk] == [None, None]


def test_warm_start_tells_matching_runs_without_simulating(tmp_path):
    lake = Lake(tmp_path / "lake")
    for g_inh in (40.0, 80.0):
        run_model("va", lake=lake, parameters={**SMALL, "g_exc": 4.0, "g_inh": g_inh})
    # another network size: not the same study's runs
    run_model("va", lake=lake, parameters={**SMALL, "n_pop": 300, "g_exc": 4.0, "g_inh": 40.0})
    result = opsnn_lake.explore({**SPEC, "warm_start": True, "budget": 2}, lake=lake)
    warm = result.trials[result.trials["status"] == "warm"]
    assert sorted(warm["g_inh"]) == [40.0, 80.0] and not warm["simulated"].any()
    assert len(result.trials) == 4  # the budget counts the trials asked, not the warm ones


def _explore_cli(spec: Path, lake: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "opsnn_lake.cli", "explore", str(spec), "--lake", str(lake)]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for_orphans(lake: Path, timeout: float = 60.0) -> None:
    """Simulations outlive a killed explore (own sessions); let them end as they would."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for proc in psutil.process_iter(["cmdline"]):
            cmd = proc.info["cmdline"] or []
            if str(lake) in cmd and proc.pid != os.getpid():
                alive.append(proc)
        if not alive:
            return
        time.sleep(0.2)
    raise AssertionError(f"simulations still running: {alive}")


def test_sigkill_at_random_moments_then_resume_repeats_no_simulation(tmp_path):
    import yaml

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, "budget": 6, "strategy": "random"}))
    lake_dir = tmp_path / "lake"
    rng = random.Random(os.getpid())
    for _ in range(2):
        proc = _explore_cli(spec, lake_dir)
        time.sleep(rng.uniform(2.0, 7.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _wait_for_orphans(lake_dir)
    lake = Lake(lake_dir)
    before = set(p.name for p in lake.runs_dir.iterdir())
    result = opsnn_lake.explore(load_spec(spec), lake=lake)
    after = set(p.name for p in lake.runs_dir.iterdir())
    assert len(result.records) == 6 and all(r["state"] != "pending" for r in result.records)
    assert [r["number"] for r in result.records] == list(range(6))
    # Every simulation of the resumed call made a new store: none was run again.
    assert result.simulated == len(after - before)
    assert set(result.trials["run_id"]) <= {n.removesuffix(".zarr") for n in after}
    done = [r["run_id"] for r in result.records if r["simulated"]]
    assert len(done) == len(set(done))


def test_cli_writes_the_plots(tmp_path):
    import yaml

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, "budget": 2}))
    out = tmp_path / "plots"
    code = main(["explore", str(spec), "--lake", str(tmp_path / "lake"), "--plot", str(out)])
    assert code == 0
    for name in ("progress.png", "plane.png"):
        image = imread(out / name)
        assert image.shape[0] > 400 and image[..., :3].std() > 0.05


def test_objective_is_zero_exactly_in_the_target_and_nan_for_undefined_statistics():
    spec = parse_spec(
        {
            **SPEC,
            "objective": {
                "rate": {"target": 20.0, "tolerance": 0.1},
                "cv": [0.8, 1.2],
                "synchrony": {"max": 0.1},
                "psd_peak": [5.0, 50.0],
            },
        }
    )
    objective = spec.objective
    assert objective.statistics == ["rate", "cv", "correlation", "psd"]
    inside = {"rate": 21.9, "cv": 1.0, "synchrony": 0.05, "psd_peak": 20.0}
    assert objective.evaluate(inside) == (0.0, {}, True)
    # rate 30 Hz: |30 - 20| / (0.1 * 20) - 1 = 4; cv 1.4: 0.2 outside over half-width 0.2
    value, _, hit = objective.evaluate({**inside, "rate": 30.0, "cv": 1.4})
    assert value == pytest.approx(5.0) and not hit
    value, _, _ = objective.evaluate({**inside, "synchrony": 0.3, "psd_peak": 72.5})
    assert value == pytest.approx(2.0 + 1.0)
    value, _, hit = objective.evaluate({**inside, "cv": math.nan})
    assert math.isnan(value) and not hit
    constrained = parse_spec(
        {**SPEC, "objective": {"rate": {"target": 20.0}, "cv": [0.8, 1.2], "mode": "constraints"}}
    ).objective
    value, constraints, hit = constrained.evaluate({"rate": 25.0, "cv": 1.5})
    assert value == pytest.approx(0.25) and constraints["cv"] > 0 and not hit
