"""The specific errors: what they are, and that spec and argument checks raise them."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsnn_lake import InvalidArgumentError, Lake, LakeError, SchemaError, SpecError
from opsnn_lake.errors import CorruptStoreError


@pytest.mark.parametrize("error", [SpecError, InvalidArgumentError])
def test_specific_errors_keep_older_handlers_working(error):
    # `except SchemaError` and `except ValueError` written before them still catch them
    assert issubclass(error, SchemaError) and issubclass(error, LakeError)
    assert issubclass(error, ValueError)
    assert not issubclass(CorruptStoreError, SchemaError)  # damage is not a bad argument


def test_sweep_and_explore_specs_raise_spec_errors():
    from opsnn_lake import explorer, sweep

    with pytest.raises(SpecError, match=r"spec\.yaml: unknown key 'grd'; valid keys: "):
        sweep.parse_spec({"model": "va", "grd": {}}, path=Path("spec.yaml"))
    with pytest.raises(SpecError, match=r"explore\.yaml: unknown key 'budgt'"):
        explorer.parse_spec({"model": "va", "budgt": 3}, path=Path("explore.yaml"))


def test_manifest_errors_are_spec_errors(tmp_path):
    from opsnn_lake.ingest import read_manifest

    path = tmp_path / "m.yaml"
    path.write_text("entries:\n  - paths: a.nix\n    seed: abc\n")
    with pytest.raises(SpecError, match=r"m\.yaml: entries\[0\]: seed: expected an integer, got"):
        read_manifest(path)


def test_bad_search_arguments_are_invalid_argument_errors(tmp_path, nest_block):
    lake = Lake(tmp_path / "lake")
    lake.add(nest_block, model="net", parameters={"g_inh": 40.0}, seed=1)
    with pytest.raises(InvalidArgumentError, match="'g_inh' holds numbers, got '40'"):
        lake.search(g_inh="40")
    with pytest.raises(InvalidArgumentError, match="no column or parameter 'g_ihn'"):
        lake.search(g_ihn=40.0)


def test_slurm_options_raise_spec_errors():
    from opsnn_lake.cluster import SlurmOptions

    with pytest.raises(SpecError, match=r"unknown SLURM option\(s\) \['queue'\]"):
        SlurmOptions.from_dict({"queue": "short"})
