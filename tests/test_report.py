"""``opsnn-lake report``: a static HTML site, checked in a real headless Chromium.

The report is opened from disk (no server) by Debian's ``chromium --headless``: a
harness page loads it in a frame, types into the filter box, clicks a column heading,
follows every run link and reads each image's decoded size, then writes what it saw
into its own DOM, which ``--dump-dom`` prints.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from opsnn_lake import Lake
from opsnn_lake.cli import main

HARNESS = Path(__file__).with_name("report_harness.html")  # INDEX: the report's URL


def _chromium_dump(url: str, profile: Path) -> str:
    """The DOM of ``url`` after its scripts ran, from a real headless Chromium."""
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is required (apt-get install chromium; see .ci/run)"
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--allow-file-access-from-files",  # the harness frame reads the report's DOM
        f"--user-data-dir={profile}", "--virtual-time-budget=30000", "--dump-dom", url,
    ]  # fmt: skip
    # Its own process group, so that nothing Chromium started outlives the test.
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return out


@pytest.fixture(scope="module")
def report(va_lake_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "site"
    code = main(["--lake", str(va_lake_dir / "lake"), "report", "-o", str(out)])
    assert code == 0
    return out


def test_report_files(report, va_lake_dir) -> None:
    lake = Lake(va_lake_dir / "lake", create=False)
    ids = sorted(lake.search().index)
    assert sorted(p.stem for p in (report / "runs").glob("*.html")) == ids
    assert sorted(p.stem for p in (report / "runs").glob("*.png")) == ids
    assert (report / "plots" / "rate_vs_g_inh.png").is_file()
    page = (report / "runs" / f"{ids[0]}.html").read_text()
    for text in ("segment000", "exc", "inh", "g_inh", "nS", "provenance", "nest", "created"):
        assert text in page, text


def test_report_in_headless_chromium(report, va_lake_dir, tmp_path) -> None:
    harness = tmp_path / "harness.html"
    index = (report / "index.html").as_uri()
    harness.write_text(HARNESS.read_text().replace("INDEX", json.dumps(index)))
    dom = _chromium_dump(harness.as_uri(), tmp_path / "profile")
    found = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    seen = json.loads(html.unescape(found.group(1)))
    assert "error" not in seen, seen.get("error")

    lake = Lake(va_lake_dir / "lake", create=False)
    frame = lake.search()
    assert seen["n_rows"] == len(frame) == 4
    assert "g_inh" in seen["columns"] and "seed" in seen["columns"]
    # filtering: only the two runs with g_inh = 30, then none
    assert sorted(seen["filtered"]) == sorted(frame.index[frame["g_inh"] == 30.0])
    assert seen["count"] == "2 of 4 runs" and seen["none"] == 0
    # sorting by a numeric column, both ways
    spikes = sorted(frame["n_spikes"].tolist())
    assert seen["ascending"] == spikes and seen["descending"] == spikes[::-1]
    # images decoded (naturalWidth > 0) on the index and on every run page
    assert seen["index_images"] and all(w > 0 for _, w in seen["index_images"])
    assert len(seen["pages"]) == 4
    for page in seen["pages"]:
        run_id = page["href"].rsplit("/", 1)[-1].removesuffix(".html")
        assert page["h1"] == f"run {run_id}"
        assert page["images"] and all(w > 0 for w in page["images"]), page["href"]
        assert "exc" in page["text"] and "g_inh" in page["text"]
    assert seen["back_rows"] == 4  # the link back from a run page resolves too
