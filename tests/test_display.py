"""Notebook display, the catalog's unique(), dir(opsnn_lake) and a light first open."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import intake
import pytest

import opsnn_lake
from opsnn_lake import Lake, SchemaError


@pytest.fixture(scope="module")
def cat(va_lake_dir):
    return intake.open_catalog(str(va_lake_dir / "catalogs" / "lake.yaml"))["lake"]


def test_lake_and_catalog_show_runs_models_parameters_and_size(va_lake_dir, cat) -> None:
    lake = Lake(va_lake_dir / "lake", create=False)
    for obj, title in ((lake, "Lake"), (cat, "LakeCatalog 'lake'")):
        text, html = repr(obj), obj._repr_html_()
        assert text.startswith(f"<{title}: 4 runs, ") and "kB" in text.splitlines()[0]
        assert "va (4)" in text and "nest (4)" in text
        assert "g_inh  30, 80 nS" in text  # the parameter that varies, with its unit
        assert "seeds:      1, 2" in text
        assert "p.seed" not in text and "rng_seed" not in text  # one seed, not three
        assert "<table>" in html and "g_inh" in html and "30, 80 nS" in html
        assert "fixed parameters" in html  # the others folded away
    found = cat.search(g_inh=30.0)
    assert repr(found).startswith("<LakeCatalog 'lake' (search result): 2 runs")
    assert "g_inh eq 30.0" in found._repr_html_()


def test_run_shows_populations_spikes_parameters_and_provenance(cat) -> None:
    run_id = cat.run_ids()[0]
    source = cat[run_id]
    row = cat.df.loc[run_id]
    text, html = repr(source), source._repr_html_()
    assert text.startswith(f"<run {run_id}: simulation, va on nest, 2 groups, {row['n_spikes']}")
    assert "segment000/exc: 320 units" in text and "segment000/inh: 80 units" in text
    assert "g_inh=" in text and " nS" in text and "provenance: seed" in text
    for part in ("segment000", "exc", "inh", "320", "provenance", "nest 3.", "model_hash"[:5]):
        assert part in html, part


def test_unique_values(cat) -> None:
    assert cat.unique("g_inh") == [30.0, 80.0]
    assert cat.unique("seed") == [1, 2]
    table = cat.unique()
    assert table["model"] == ["va"] and table["g_inh"] == [30.0, 80.0]
    assert [k for k in table.index if "seed" in k and k != "stim_seed"] == ["seed"]
    assert cat.search(g_inh=80.0).unique("g_inh") == [80.0]
    with pytest.raises(SchemaError, match="no column or parameter 'nope'"):
        cat.unique("nope")


def test_dir_lists_the_public_names() -> None:
    names = dir(opsnn_lake)
    for name in ("Lake", "LakeCatalog", "Provenance", "open_catalog", "LakeError"):
        assert name in names, name


def test_first_open_imports_no_neo_pandas_xarray_or_zarr(va_lake_dir) -> None:
    code = textwrap.dedent(
        f"""
        import json, sys, time
        t0 = time.perf_counter()
        import intake
        cat = intake.open_catalog({str(va_lake_dir / "catalogs" / "lake.yaml")!r})["lake"]
        n = len(cat.search(g_inh=(20, 60), seed=[1, 2]))
        seconds = time.perf_counter() - t0
        heavy = [m for m in ("neo", "pandas", "xarray", "zarr", "dask") if m in sys.modules]
        print(json.dumps({{"n": n, "heavy": heavy, "seconds": seconds}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["n"] == 2 and result["heavy"] == []


def test_progress_bars_use_tqdm_auto() -> None:
    # tqdm.auto: a widget in a notebook, text in a terminal (plain tqdm prints text
    # lines into notebook cells)
    package = Path(opsnn_lake.__file__).parent
    plain = [
        f"{path.relative_to(package)}:{i}"
        for path in sorted(package.rglob("*.py"))
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"^\s*(from tqdm import|import tqdm\b)", line)
    ]
    assert plain == []
