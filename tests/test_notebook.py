"""``analyse/lake_tour.ipynb`` runs top to bottom on a real kernel, outputs stripped in git.

nbclient starts a real IPython kernel (ipykernel) in the notebook's folder, as Jupyter
does; the catalog of a small real NEST sweep is given through ``OPSNN_LAKE_CATALOG``.
Any cell error fails the test, and so does anything written to stderr (a leaked warning
is a failure a user would see).
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parents[1] / "analyse" / "lake_tour.ipynb"


def test_notebook_is_stored_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert 'intake.open_catalog(CATALOG)["lake"]' in "".join(c.source for c in code)


def test_notebook_runs_on_a_real_kernel(va_lake_dir, monkeypatch) -> None:
    monkeypatch.setenv("OPSNN_LAKE_CATALOG", str(va_lake_dir / "catalogs" / "lake.yaml"))
    # the kernel is a subprocess: it finds this checkout the way the tests do
    paths = [str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    stderr = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr, stderr
    html = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    # the catalog, the search result and the run show as HTML, not as intake's YAML
    assert any("LakeCatalog" in h and "4 runs" in h for h in html)
    assert any("run va-" in h and "segment000" in h for h in html)
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the statistic against g_inh and the raster
    text = "".join(o.get("text", "") for o in outputs)
    assert "mean excitatory rate: elephant" in text
