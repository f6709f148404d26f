"""The NEST back-end's PyNN speed-ups: same network, scoped to the run, version-gated."""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import pytest

from opsnn_lake import Lake, _versions
from opsnn_lake.simulators import plan_run, run_model
from opsnn_lake.simulators.nest import EAGER_ENV, pynn_speedups

SMALL_VA = {"n_pop": 300, "pconn": 0.05, "tstop": 1.0}


def _pynn_state() -> dict[str, Any]:
    """What the speed-ups replace in PyNN, by identity."""
    import pyNN.nest as sim
    from pyNN.nest.projections import Projection

    return {
        "_connect": Projection.__dict__["_connect"],
        "_sources": Projection.__dict__.get("_sources"),
        "local": sim.simulator.ID.__dict__["local"],
        "class attributes": sorted(Projection.__dict__),
    }


def _va_connections(rng: str, *, speedups: bool) -> list[tuple[int, int, float, float]]:
    """Build a small VA network on NEST; every connection NEST holds, sorted."""
    import nest
    import pyNN.nest as sim

    plan = plan_run("va", parameters={**SMALL_VA, "rng": rng}, seed=11)
    with pynn_speedups(sim) if speedups else contextlib.nullcontext(False) as active:
        assert active is speedups
        sim.setup(**plan.setup)
        plan.model.module.build(sim, dict(plan.parameters))
        conns = nest.GetConnections().get(["source", "target", "weight", "delay"])
        sim.end()
    return sorted(zip(*(conns[k] for k in ("source", "target", "weight", "delay")), strict=True))


@pytest.mark.parametrize("rng", ["native", "numpy"])
def test_nest_holds_the_same_connections_with_and_without_speedups(rng):
    # native: NEST draws the synapses (the replaced _connect); numpy: PyNN draws them and
    # connects cell by cell (its _sources set, through the replaced attribute)
    before = _pynn_state()
    eager = _va_connections(rng, speedups=False)
    fast = _va_connections(rng, speedups=True)
    assert len(eager) > 4000
    assert fast == eager
    assert _pynn_state() == before


def test_projections_answer_get_and_set_inside_and_after():
    import nest
    import pyNN.nest as sim

    before = _pynn_state()
    with pynn_speedups(sim) as active:
        assert active
        assert _pynn_state() != before
        sim.setup(timestep=0.1, min_delay=0.5, rng_seed=9)
        pre = sim.Population(30, sim.IF_cond_exp(), label="pre")
        post = sim.Population(20, sim.IF_cond_exp(), label="post")
        connector = sim.FixedProbabilityConnector(0.3, rng=sim.NativeRNG(seed=9))
        synapse = sim.StaticSynapse(weight=0.01, delay=0.5)
        used = sim.Projection(pre, post, connector, synapse)
        kept = sim.Projection(post, pre, connector, synapse)  # first used after the block
        depressing = sim.TsodyksMarkramSynapse(U=0.5, weight=0.01, delay=0.5)
        eager = sim.Projection(pre, post, connector, depressing)  # PyNN's own _connect
        projections = (used, kept, eager)
        first = {id(p): (int(p.pre.first_id), int(p.post.first_id)) for p in projections}

        def expected(prj: Any) -> list[tuple[int, int]]:
            conns = nest.GetConnections(synapse_label=prj.nest_synapse_label)
            return sorted(zip(conns.get("source"), conns.get("target"), strict=True))

        def got(prj: Any) -> list[tuple[int, int]]:
            f = first[id(prj)]
            listed = prj.get("weight", format="list", with_address=True)
            return sorted((int(i) + f[0], int(j) + f[1]) for i, j, _ in listed)

        assert len(expected(used)) > 50 and len(expected(eager)) > 50
        # prj.get and prj.set rely on the source ids PyNN no longer collects at connect
        assert got(used) == expected(used)
        assert got(eager) == expected(eager)
        used.set(weight=0.02)
        conns = nest.GetConnections(synapse_label=used.nest_synapse_label)
        assert set(conns.get("weight")) == {20.0}  # NEST keeps nS, PyNN µS
    # PyNN's own code again; the projection still alive has its sources, as PyNN's would
    assert _pynn_state() == before
    assert got(kept) == expected(kept) and len(expected(kept)) > 50
    kept.set(weight=0.03)
    conns = nest.GetConnections(synapse_label=kept.nest_synapse_label)
    assert set(conns.get("weight")) == {30.0}
    sim.end()


def test_run_model_leaves_pynn_unchanged(tmp_path):
    before = _pynn_state()
    result = run_model("va", lake=Lake(tmp_path / "lake"), parameters=SMALL_VA, seed=2)
    assert not result.skipped and result.timings["build"] > 0
    assert _pynn_state() == before


def test_eager_environment_keeps_pynn_behaviour(monkeypatch):
    import pyNN.nest as sim

    monkeypatch.setenv(EAGER_ENV, "1")
    before = _pynn_state()
    with pynn_speedups(sim) as active:
        assert not active
        assert _pynn_state() == before


def test_unverified_pynn_falls_back_with_a_warning(monkeypatch):
    import pyNN.nest as sim

    monkeypatch.setattr(_versions, "installed_version", lambda dist: "0.14.1")
    before = _pynn_state()
    with (
        pytest.warns(RuntimeWarning, match=r"PyNN 0\.14\.1 is not verified.*PyNN>=0\.13,<0\.14"),
        pynn_speedups(sim) as active,
    ):
        assert not active
        assert _pynn_state() == before
    assert _pynn_state() == before


def test_installed_versions_are_the_verified_ones():
    # Fails on purpose when an upgrade leaves a verified range: verify the new version
    # (this suite) and widen opsnn_lake/_versions.py and pyproject.toml together.
    for dist, verified in _versions.VERIFIED.items():
        version = _versions.installed_version(dist)
        assert verified.contains(version), f"{dist} {version} not in {verified.specifier}"
        _versions.require_verified(dist, "this test")


def test_pyproject_pins_the_verified_ranges():
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pins = {d.split(">")[0].split("<")[0].split("=")[0].strip(): d for d in deps}
    for dist, verified in _versions.VERIFIED.items():
        assert pins[dist].replace(" ", "") == dist + verified.specifier


@pytest.mark.parametrize(
    ("dist", "version", "ok"),
    [
        ("PyNN", "0.13.0", True),
        ("PyNN", "0.13.7.dev0", True),
        ("PyNN", "0.12.4", False),
        ("PyNN", "0.14.0", False),
        ("PyNN", "1.0", False),
        ("neo", "0.14.6", True),
        ("neo", "0.15.0rc1", False),
        ("zarr", "3.1.3", True),
        ("zarr", "3.1.2", False),
        ("zarr", "3.2.0", False),
        ("zarr", "v3.1.6", True),
    ],
)
def test_version_ranges(dist, version, ok):
    assert _versions.VERIFIED[dist].contains(version) is ok


def test_fake_versions_stop_the_internals_loudly(monkeypatch, tmp_path):
    import pyNN.nest as sim

    from opsnn_lake.fastpath import nest_nodes
    from opsnn_lake.neo_convert import LazySpikeTrains
    from opsnn_lake.store import verified_store

    fake = {"PyNN": "0.14.0", "neo": "0.15.2", "zarr": "3.2.0"}
    monkeypatch.setattr(_versions, "installed_version", fake.__getitem__)
    for dist, version in fake.items():
        spec = _versions.VERIFIED[dist].specifier
        with pytest.raises(_versions.UnverifiedVersionError) as err:
            _versions.require_verified(dist, "a feature")
        message = str(err.value)
        for part in (dist, version, spec, f"pip install '{dist}{spec}'", "a feature"):
            assert part in message
        assert isinstance(err.value, RuntimeError)
    with pytest.raises(_versions.UnverifiedVersionError, match=r"fast path.*PyNN 0\.14\.0"):
        nest_nodes({}, sim)
    with pytest.raises(_versions.UnverifiedVersionError, match=r"LazySpikeTrains.*neo 0\.15\.2"):
        LazySpikeTrains.from_factory(list, n_trains=0, multiplexed=None, t_start=None, t_stop=None)
    with pytest.raises(_versions.UnverifiedVersionError, match=r"verified reads.*zarr 3\.2\.0"):
        verified_store(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the real versions pass silently
        monkeypatch.undo()
        LazySpikeTrains.from_factory(list, n_trains=0, multiplexed=None, t_start=None, t_stop=None)
