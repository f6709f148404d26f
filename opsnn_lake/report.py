"""``opsnn-lake report``: the lake as a static HTML site, browsable with no server.

::

    opsnn-lake report -o report/                       # every run
    opsnn-lake report --where model=va -o report-va/    # a search

``report/index.html`` holds the runs as one table (click a heading to sort, type in
the box to filter: words must all appear in a row, ``key=value`` or ``key<value``
compare a column), the lake's summary and the mean firing rate against each parameter
that varies (one line per population, mean ± SEM across runs). Each run has a page,
``runs/<run id>.html``, with its populations, parameters (with units), provenance and a
raster. Plain files only: open them from disk, copy them anywhere, serve them from any
static host. Sumatra's record browser needs a Django server; this needs a browser.
"""

from __future__ import annotations

import html
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsnn_lake.display import (
    compact_columns,
    drop_seed_aliases,
    human_size,
    label,
    run_html,
    runs_html,
    summarize_run,
    summarize_runs,
    units_of_runs,
)

if TYPE_CHECKING:
    import pandas as pd

    from opsnn_lake.lake import Lake

__all__ = ["write_report"]

#: At most this many parameters get a plot of the rate against them.
MAX_PARAMETER_PLOTS = 4

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}
table.runs{border-collapse:collapse}
table.runs th,table.runs td{padding:2px 10px;border-bottom:1px solid #ddd;text-align:right}
table.runs td:first-child,table.runs th:first-child{text-align:left;font-family:monospace}
table.runs th{cursor:pointer;user-select:none;background:#f4f4f4;position:sticky;top:0}
table.runs th[aria-sort=ascending]::after{content:" ▲"}
table.runs th[aria-sort=descending]::after{content:" ▼"}
#filter{width:28em;padding:3px 6px;margin:0.5em 0}
.plots figure{display:inline-block;width:48%;margin:0 1% 1em 0}
.plots img{width:100%;border:1px solid #eee}
img.raster{max-width:900px;width:100%;border:1px solid #eee}
.muted{color:#777}
"""

_SCRIPT = r"""
(function () {
  const table = document.getElementById("runs");
  const body = table.tBodies[0];
  const box = document.getElementById("filter");
  const count = document.getElementById("count");
  const heads = Array.from(table.tHead.rows[0].cells);
  function cellValue(row, i) {
    const cell = row.cells[i];
    return cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
  }
  function compare(a, b) {
    const x = parseFloat(a), y = parseFloat(b);
    if (!isNaN(x) && !isNaN(y) && String(x) === a.trim() && String(y) === b.trim()) return x - y;
    if (!isNaN(x) && !isNaN(y)) return x - y;
    return a.localeCompare(b);
  }
  heads.forEach(function (th, i) {
    th.addEventListener("click", function () {
      const descending = th.getAttribute("aria-sort") === "ascending";
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      const rows = Array.from(body.rows);
      rows.sort(function (r, s) {
        const c = compare(cellValue(r, i), cellValue(s, i));
        return descending ? -c : c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  const names = heads.map(function (th) { return th.dataset.name; });
  function matches(row, word) {
    const m = word.match(/^([^=<>]+)(=|<|>)(.*)$/);
    if (m && names.indexOf(m[1]) >= 0) {
      const v = cellValue(row, names.indexOf(m[1]));
      if (m[2] === "=") return v === m[3] || parseFloat(v) === parseFloat(m[3]);
      const x = parseFloat(v), y = parseFloat(m[3]);
      return m[2] === "<" ? x < y : x > y;
    }
    return row.textContent.toLowerCase().indexOf(word.toLowerCase()) >= 0;
  }
  function apply() {
    const words = box.value.trim().split(/\s+/).filter(Boolean);
    let shown = 0;
    Array.from(body.rows).forEach(function (row) {
      const ok = words.every(function (w) { return matches(row, w); });
      row.hidden = !ok;
      if (ok) shown += 1;
    });
    count.textContent = shown + " of " + body.rows.length + " runs";
  }
  box.addEventListener("input", apply);
  const start = new URLSearchParams(window.location.search).get("q");
  if (start) box.value = start;
  apply();
})();
"""


def _page(title: str, body: str, *, script: str = "") -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}"
        + (f"<script>{script}</script>" if script else "")
        + "</body></html>\n"
    )


def _cell(value: Any) -> str:
    import pandas as pd

    if value is None or (not isinstance(value, str | list) and pd.isna(value)):
        return "<td data-value=''></td>"
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"<td data-value='{html.escape(text, quote=True)}'>{html.escape(text)}</td>"


def _runs_table(frame: pd.DataFrame, columns: list[str], units: Mapping[str, str]) -> str:
    head = "".join(
        f"<th data-name='{html.escape(c, quote=True)}'>{html.escape(label(c, units))}</th>"
        for c in ["run_id", *columns]
    )
    rows = []
    for run_id, row in frame.iterrows():
        cells = [
            f"<td data-value='{html.escape(str(run_id), quote=True)}'>"
            f"<a href='runs/{html.escape(str(run_id), quote=True)}.html'>{html.escape(str(run_id))}"
            "</a></td>"
        ]
        for c in columns:
            if c == "size":
                nbytes = int(row["bytes"])
                cells.append(f"<td data-value='{nbytes}'>{human_size(nbytes)}</td>")
            else:
                cells.append(_cell(row[c]))
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        "<input id='filter' type='search' placeholder='filter: words, key=value, key<value' "
        "aria-label='filter runs'> <span id='count' class='muted'></span>"
        f"<table id='runs' class='runs'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _parameter_plots(
    lake: Lake, frame: pd.DataFrame, params: list[str], units: Mapping[str, str], out: Path
) -> list[tuple[str, str]]:
    """The mean firing rate against each varying numeric parameter: (file, caption)."""
    import numpy as np

    from opsnn_lake.analysis import firing_rate
    from opsnn_lake.analysis.plots import plot_statistic

    numeric = [
        p for p in params if np.issubdtype(frame[p].dtype, np.number) and frame[p].nunique() > 1
    ][:MAX_PARAMETER_PLOTS]
    spiking = frame[frame["n_spikes"] > 0] if "n_spikes" in frame.columns else frame
    if not numeric or spiking.empty:
        return []
    rate = firing_rate(spiking, lake=lake).compute()
    plots = []
    for name in numeric:
        path = out / "plots" / f"rate_vs_{name}.png"
        fig = plot_statistic(rate, name, hue="population", path=path, units=units)
        fig.clear()
        plots.append((f"plots/{path.name}", f"mean firing rate against {label(name, units)}"))
    return plots


def _write_run_page(
    lake: Lake, run_id: str, row: Mapping[str, Any], out: Path, *, rasters: bool
) -> None:
    """``runs/<run id>.html``: the run's summary, and its raster when asked for."""
    from opsnn_lake.analysis.plots import raster

    summary = summarize_run(lake.store_path(run_id), dict(row))
    image = ""
    if rasters and summary.populations and any(p.n_units for p in summary.populations):
        fig = raster(run_id, lake=lake, path=out / "runs" / f"{run_id}.png")
        fig.clear()
        image = f"<h2>raster</h2><img class='raster' src='{run_id}.png' alt='raster of {run_id}'>"
    details = run_html(summary).replace("<details>", "<details open>")
    nav = "<p><a href='../index.html'>← all runs</a></p>"
    body = f"{nav}<h1>run {html.escape(run_id)}</h1>{details}{image}"
    (out / "runs" / f"{run_id}.html").write_text(_page(f"run {run_id}", body), "utf-8")


def write_report(
    lake: Lake,
    out: str | os.PathLike[str],
    *,
    criteria: Mapping[str, Any] | None = None,
    rasters: bool = True,
    progress: bool = False,
) -> Path:
    """Write the static HTML report of a lake (or the runs matching ``criteria``).

    Parameters
    ----------
    lake : Lake
        The lake.
    out : path-like
        Folder to write into (created; a previous report there is replaced).
    criteria : mapping, optional
        Search criteria, as :meth:`Lake.search`.
    rasters : bool
        Draw a raster on each run's page (the slow part: about 0.3 s per run).
    progress : bool
        Show a progress bar over the runs.

    Returns
    -------
    pathlib.Path
        The ``index.html`` written.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    frame = lake.search(**dict(criteria or {}))
    units = units_of_runs(lake.path, frame)
    for sub in ("runs", "plots"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir(parents=True, exist_ok=True)
    table_frame = drop_seed_aliases(frame.assign(size=frame["bytes"]))
    columns = compact_columns(table_frame)
    params = [c for c in columns if c not in ("model", "simulator", "seed", "n_spikes", "size")]
    for run_id in tqdm(list(frame.index), desc="report", unit="run", disable=not progress):
        _write_run_page(lake, run_id, frame.loc[run_id].to_dict(), out, rasters=rasters)
    plots = _parameter_plots(lake, frame, params, units, out) if len(frame) > 1 else []
    figures = "".join(
        f"<figure><img src='{src}' alt='{html.escape(cap)}'>"
        f"<figcaption class='muted'>{html.escape(cap)}</figcaption></figure>"
        for src, cap in plots
    )
    where = f" matching {json.dumps(dict(criteria))}" if criteria else ""
    overview = summarize_runs(frame, title="OpSNN lake", location=str(lake.path), units=units)
    body = (
        f"<h1>OpSNN lake report{html.escape(where)}</h1>{runs_html(overview)}"
        f"<h2>runs</h2>{_runs_table(table_frame, columns, units)}"
        + (f"<h2>parameters</h2><div class='plots'>{figures}</div>" if figures else "")
    )
    index = out / "index.html"
    index.write_text(_page("OpSNN lake report", body, script=_SCRIPT), "utf-8")
    return index
