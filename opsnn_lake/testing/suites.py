"""Compliance suites every ingestion source and simulator back-end passes.

As neo's ``BaseTestRawIO`` and zarr's ``StoreTests``: a test module subclasses the
suite, names what it tests and provides small real samples; the suite's tests then
check the contract. They need pytest (a test dependency).

:class:`SourceTests` (one subclass per source, or per format of a source)::

    class TestNixFiles(SourceTests):
        source = SOURCES["neo"]

        @pytest.fixture
        def sample(self, tmp_path):
            return write_nix(tmp_path / "nix")        # a file or folder a user would name

        @pytest.fixture
        def bad_sample(self, tmp_path):
            ...                                       # a truncated or corrupt one

:class:`BackendTests` (one subclass per simulator)::

    class TestNest(BackendTests):
        simulator = "nest"

Override the ``environment`` fixture when the simulator needs configuration files or
environment variables (the sPyNNaker suite writes a virtual-board ``spynnaker.cfg``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import pytest

from opsnn_lake.lake import Lake
from opsnn_lake.provenance import Provenance, data_sha256
from opsnn_lake.sources.base import Item, Metadata, Source, source_records
from opsnn_lake.testing.samples import FOREIGN_SAMPLES

__all__ = ["BackendTests", "SourceTests"]


class SourceTests:
    """What every ingestion source does, checked on small real samples.

    Subclasses set :attr:`source` (and :attr:`options`, :attr:`ingest_options` where
    the source needs them) and provide the fixtures ``sample`` (the path of a small
    real file or folder the source reads, made in ``tmp_path``) and ``bad_sample`` (a
    damaged one: truncated, corrupt, empty).
    """

    #: The source under test.
    source: ClassVar[Source]
    #: Options given to ``can_read`` and ``discover`` (``dataset``, ``fmt``…).
    options: ClassVar[Mapping[str, Any]] = {}
    #: Keywords of :func:`opsnn_lake.ingest.ingest` for the sample (``tonic``, ``fmt``…).
    ingest_options: ClassVar[Mapping[str, Any]] = {}

    @pytest.fixture
    def sample(self, tmp_path: Path) -> Path:
        """A small real sample the source reads."""
        raise NotImplementedError("a SourceTests subclass provides the `sample` fixture")

    @pytest.fixture
    def bad_sample(self, tmp_path: Path) -> Path:
        """A damaged sample the source must refuse, naming the file."""
        raise NotImplementedError("a SourceTests subclass provides the `bad_sample` fixture")

    @pytest.fixture
    def foreign(self, tmp_path: Path) -> dict[str, Path]:
        """Samples of the other sources (by source name)."""
        return {
            name: make(tmp_path / "foreign" / name)
            for name, make in FOREIGN_SAMPLES.items()
            if name != self.source.name
        }

    # ------------------------------------------------------------------ helpers

    def ingest(self, path: Path, lake: Lake) -> Any:
        """Ingest ``path`` into ``lake`` in this process; the report."""
        from opsnn_lake.ingest import ingest

        return ingest([path], lake=lake, workers=1, progress=False, **self.ingest_options)

    def items(self, path: Path) -> list[Item]:
        """The source's items at ``path``."""
        return self.source.discover(path, Metadata(trusted=True), **self.options)

    # ------------------------------------------------------------------ the contract

    def test_follows_the_source_protocol(self) -> None:
        assert isinstance(self.source, Source)
        assert self.source.name and self.source.kind in ("simulation", "input")
        assert isinstance(self.source.groups_files, bool)
        from opsnn_lake.sources import DISCOVERY_ORDER, SOURCES

        assert SOURCES[self.source.name] is self.source  # registered under its name
        assert self.source in DISCOVERY_ORDER  # and asked by discovery

    def test_can_read_its_samples(self, sample: Path) -> None:
        assert self.source.can_read(sample, **self.options)
        from opsnn_lake.ingest import source_for

        found = source_for(sample, tonic=self.options.get("dataset"), fmt=self.options.get("fmt"))
        assert found is self.source, f"discovery gives {sample} to {found!r}"

    def test_cannot_read_other_sources_samples(self, foreign: dict[str, Path]) -> None:
        for name, path in foreign.items():
            assert not self.source.can_read(path, **self.options), f"claims {name}: {path}"

    def test_cannot_read_what_is_not_there(self, tmp_path: Path) -> None:
        missing = tmp_path / "missing.file"
        assert not self.source.can_read(missing, **self.options)
        assert not self.source.explains(missing, **self.options)
        assert not self.source.explains(missing, walk=True, **self.options)

    def test_a_walk_takes_what_it_reads(self, sample: Path) -> None:
        # A file a folder walk hands to this source is one it reads or explains.
        files = (
            [sample] if sample.is_file() else sorted(p for p in sample.rglob("*") if p.is_file())
        )
        for file in files:
            if self.source.explains(file, walk=True, **self.options):
                assert self.source.can_read(file, **self.options), file

    def test_discover_and_load(self, sample: Path) -> None:
        items = self.items(sample)
        assert items and all(item.source == self.source.name for item in items)
        for item in items:
            assert all(Path(f).is_absolute() and Path(f).exists() for f in item.files)
            sources = source_records(item.files)
            nodes, prov = self.source.load(item, sources)
            assert nodes and isinstance(prov, Provenance)
            assert prov.kind == self.source.kind
            assert [s["sha256"] for s in prov.sources] == [s["sha256"] for s in sources]

    def test_run_ids_are_stable(self, sample: Path, tmp_path: Path) -> None:
        first = self.ingest(sample, Lake(tmp_path / "one"))
        second = self.ingest(sample, Lake(tmp_path / "two"))
        assert first.ok and second.ok, first.outcomes + second.outcomes
        assert first.run_ids and first.run_ids == second.run_ids
        again = self.ingest(sample, Lake(tmp_path / "one"))
        assert again.run_ids == first.run_ids and not again.added  # known: skipped

    def test_bad_input_is_refused_naming_the_file(self, bad_sample: Path, tmp_path: Path) -> None:
        lake = Lake(tmp_path / "lake")
        report = self.ingest(bad_sample, lake)
        assert report.failed and not report.added
        for outcome in report.failed:
            assert outcome.error and bad_sample.name in outcome.error, outcome.error
        assert len(lake) == 0 and lake.check().ok

    def test_round_trip_to_a_lake(self, sample: Path, tmp_path: Path) -> None:
        lake = Lake(tmp_path / "lake")
        report = self.ingest(sample, lake)
        assert report.ok and report.run_ids, report.outcomes
        from opsnn_lake.store import read_nodes

        for run_id in report.run_ids:
            prov = lake.provenance(run_id)
            assert prov.kind == self.source.kind
            assert prov.extra["ingest"]["source"] == self.source.name
            stored = read_nodes(lake.store_path(run_id))
            assert data_sha256(stored) == prov.content_sha256  # the data read is stored
            block = lake.to_neo(run_id)
            assert block.segments
            assert lake.search(run_id=run_id).shape[0] == 1
        self.check_round_trip(lake, report.run_ids, sample)

    def check_round_trip(self, lake: Lake, run_ids: list[str], sample: Path) -> None:
        """Source-specific checks of the ingested runs (none by default)."""


class BackendTests:
    """What every simulator back-end does: a small real network through the runner.

    Subclasses set :attr:`simulator` and may change :attr:`model`,
    :attr:`parameters` and :attr:`seed`, and override the ``environment`` fixture.
    One run goes through :func:`~opsnn_lake.simulators.run_in_subprocess` (as a sweep
    runs it), one in this process through the neo route.
    """

    #: Back-end name (``opsnn_lake.simulators.SIMULATORS``).
    simulator: ClassVar[str]
    model: ClassVar[str] = "va"
    parameters: ClassVar[Mapping[str, Any]] = {"n_pop": 200, "pconn": 0.05, "tstop": 100.0}
    seed: ClassVar[int] = 5
    #: Population labels the model records.
    populations: ClassVar[tuple[str, ...]] = ("exc", "inh")

    @pytest.fixture(scope="class")
    @classmethod
    def environment(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
        """A working directory for the runs (the current directory while they run)."""
        work = tmp_path_factory.mktemp(f"backend_{cls.simulator}")
        old = Path.cwd()
        os.chdir(work)
        try:
            yield work
        finally:
            os.chdir(old)

    @classmethod
    def request(cls) -> Any:
        """The run request of the suite's network."""
        from opsnn_lake.simulators import RunRequest

        return RunRequest(model=cls.model, **cls.run_keywords())

    @classmethod
    def run_keywords(cls) -> dict[str, Any]:
        """Simulator, parameters and seed of the suite's network, as the runner takes them."""
        return {"simulator": cls.simulator, "parameters": dict(cls.parameters), "seed": cls.seed}

    @pytest.fixture(scope="class")
    @classmethod
    def runner_run(cls, environment: Path) -> tuple[Lake, Any]:
        """The network run by the runner in a child process."""
        from opsnn_lake.simulators import run_in_subprocess

        lake = Lake(environment / "lake")
        result = run_in_subprocess(cls.request(), lake.path, timeout=600, cwd=environment)
        return lake, result

    @pytest.fixture(scope="class")
    @classmethod
    def neo_route_run(cls, environment: Path) -> tuple[Lake, Any]:
        """The same network run in this process, stored through neo."""
        from opsnn_lake.simulators import run_model

        lake = Lake(environment / "neo_lake")
        return lake, run_model(cls.model, lake=lake, fastpath=False, **cls.run_keywords())

    @staticmethod
    def _field(result: Any, name: str) -> Any:
        return result[name] if isinstance(result, Mapping) else getattr(result, name)

    def test_backend_is_registered(self) -> None:
        from opsnn_lake.simulators import get_backend

        backend = get_backend(self.simulator)
        assert backend.name == self.simulator
        assert backend.version() == metadata.version(backend.distribution)

    def test_runs_through_the_runner(self, runner_run: tuple[Lake, Any]) -> None:
        lake, result = runner_run
        run_id = self._field(result, "run_id")
        assert self._field(result, "status") == "done", result
        assert run_id in lake and lake.store_path(run_id).is_dir()
        tree = lake.open(run_id)
        (segment,) = tree.children.values()
        assert set(self.populations) <= set(segment.children)
        assert lake.search(simulator=self.simulator).shape[0] == 1

    def test_provenance_and_versions(self, runner_run: tuple[Lake, Any]) -> None:
        from opsnn_lake.simulators import get_backend

        lake, result = runner_run
        prov = lake.provenance(self._field(result, "run_id"))
        backend = get_backend(self.simulator)
        assert prov.kind == "simulation" and prov.model == self.model
        assert prov.simulator == self.simulator
        assert prov.simulator_version == metadata.version(backend.distribution)
        assert prov.seed == self.seed
        assert all(prov.parameters[k] == v for k, v in self.parameters.items())
        for phase in ("build", "simulate", "write"):
            assert prov.timings[phase] > 0
        for package in ("opsnn-lake", "neo", "numpy", "zarr"):
            assert prov.versions[package] == metadata.version(package)

    def test_run_id_is_known_before_and_the_run_memoised(
        self, runner_run: tuple[Lake, Any]
    ) -> None:
        from opsnn_lake.simulators import plan_run, run_model

        lake, result = runner_run
        plan = plan_run(self.model, **self.run_keywords())
        assert plan.run_id == self._field(result, "run_id")
        again = run_model(self.model, lake=lake, **self.run_keywords())
        assert again.skipped and again.run_id == plan.run_id

    def test_store_equals_the_neo_route(
        self, runner_run: tuple[Lake, Any], neo_route_run: tuple[Lake, Any]
    ) -> None:
        from opsnn_lake.testing import assert_blocks_equal

        lake, result = runner_run
        neo_lake, neo_result = neo_route_run
        run_id = self._field(result, "run_id")
        assert neo_result.run_id == run_id
        blocks = lake.to_neo(run_id), neo_lake.to_neo(run_id)
        for block in blocks:  # two runs: only their wall-clock dates differ
            for seg in block.segments:
                seg.rec_datetime = None
        assert_blocks_equal(*blocks)
