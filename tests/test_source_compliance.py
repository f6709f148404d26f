"""Every ingestion source passes :class:`opsnn_lake.testing.SourceTests`.

neo files (NIX), NWB and SONATA files (read by OpSNN's own readers within the neo-files
source), sPyNNaker run folders and tonic sample files, each from small real files
written here.
"""

from __future__ import annotations

import shutil
from typing import Any, ClassVar

import pytest

from opsnn_lake.sources import SOURCES
from opsnn_lake.testing import SourceTests
from opsnn_lake.testing.samples import (
    fill_spinnaker_database,
    write_nix,
    write_nmnist,
    write_nwb_sample,
    write_sonata_sample,
)


def truncated(path, fraction=0.5):
    """``path`` cut to a fraction of its bytes (a copy interrupted mid-way)."""
    with open(path, "r+b") as f:
        f.truncate(int(path.stat().st_size * fraction))
    return path


class TestNeoFiles(SourceTests):
    source = SOURCES["neo"]

    @pytest.fixture
    def sample(self, tmp_path):
        return write_nix(tmp_path / "nix")

    @pytest.fixture
    def bad_sample(self, tmp_path):
        return truncated(write_nix(tmp_path / "bad", seed=1))

    def check_round_trip(self, lake, run_ids, sample):
        (run_id,) = run_ids
        prov = lake.provenance(run_id)
        assert prov.model == "sample" and prov.seed == 3 and prov.parameters == {"g": 1.5}
        (segment,) = lake.to_neo(run_id).segments
        assert len(segment.spiketrains) == 12 and len(segment.analogsignals) == 1


class TestNwbFiles(SourceTests):
    source = SOURCES["neo"]

    @pytest.fixture
    def sample(self, tmp_path):
        return write_nwb_sample(tmp_path / "nwb")

    @pytest.fixture
    def bad_sample(self, tmp_path):
        return truncated(write_nwb_sample(tmp_path / "bad", seed=1))

    def check_round_trip(self, lake, run_ids, sample):
        (run_id,) = run_ids
        assert lake.provenance(run_id).extra["ingest"]["io"] == "nwb"


class TestSonataFiles(SourceTests):
    source = SOURCES["neo"]

    @pytest.fixture
    def sample(self, tmp_path):
        return write_sonata_sample(tmp_path / "sonata")

    @pytest.fixture
    def bad_sample(self, tmp_path):
        return truncated(write_sonata_sample(tmp_path / "bad", seed=1))

    def check_round_trip(self, lake, run_ids, sample):
        (run_id,) = run_ids
        assert lake.provenance(run_id).extra["ingest"]["io"] == "sonata"
        assert len(lake.to_neo(run_id).segments[0].spiketrains) == 12


class TestSpinnakerFolders(SourceTests):
    source = SOURCES["spinnaker"]

    @pytest.fixture
    def sample(self, tmp_path, spinnaker_template):
        folder = tmp_path / "reports" / "2024-05-01-12-00-00-000000" / "run_1"
        shutil.copytree(spinnaker_template, folder)
        fill_spinnaker_database(folder / "data.sqlite3", 1)
        fill_spinnaker_database(folder / "data1.sqlite3", 2)
        return folder

    @pytest.fixture
    def bad_sample(self, tmp_path, spinnaker_template):
        folder = tmp_path / "virtual" / "run_1"  # a virtual board's run recorded nothing
        shutil.copytree(spinnaker_template, folder)
        return folder

    def check_round_trip(self, lake, run_ids, sample):
        (run_id,) = run_ids
        assert len(lake.to_neo(run_id).segments) == 2  # one segment per database


class TestTonicFiles(SourceTests):
    source = SOURCES["tonic"]
    options: ClassVar[dict[str, Any]] = {"dataset": "NMNIST"}
    ingest_options: ClassVar[dict[str, Any]] = {"tonic": "NMNIST"}

    @pytest.fixture
    def sample(self, tmp_path):
        root = tmp_path / "NMNIST" / "Test"
        write_nmnist(root / "0" / "00002.bin", n=200, seed=1)
        write_nmnist(root / "3" / "00001.bin", n=300, seed=2)
        return root

    @pytest.fixture
    def bad_sample(self, tmp_path):
        return truncated(write_nmnist(tmp_path / "Train" / "1" / "trunc.bin", n=50), 0.99)

    def check_round_trip(self, lake, run_ids, sample):
        assert len(run_ids) == 2
        assert {lake.provenance(r).kind for r in run_ids} == {"input"}


def test_discovery_order_puts_specific_sources_first():
    from opsnn_lake.sources import DISCOVERY_ORDER

    assert [s.name for s in DISCOVERY_ORDER] == ["tonic", "spinnaker", "neo"]
