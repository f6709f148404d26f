"""Shared fixtures: a hermetic user environment, temporary lakes and real NEST runs.

The suite must pass whatever the user keeps in their home directory: sPyNNaker refuses
to start when it finds two user configs (``~/.spynnaker.cfg`` next to the one a test
writes), NEST reads ``~/.nestrc``, dask merges ``~/.config/dask/*.yaml`` and
``$DASK_CONFIG``. So HOME, the XDG directories and dask's config paths point into a
scratch directory for the whole session. They are set when this file is imported,
before any test module imports dask, matplotlib or a simulator (those read their
configuration once, at import), and subprocesses inherit them through ``os.environ``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.s3_server"]

#: Variables pointing at the user's configuration; each is redirected for the session.
HERMETIC_DIRS = {
    "HOME": "home",
    "XDG_CONFIG_HOME": "home/.config",
    "XDG_CACHE_HOME": "home/.cache",
    "XDG_DATA_HOME": "home/.local/share",
    "XDG_STATE_HOME": "home/.local/state",
    "XDG_CONFIG_DIRS": "etc/xdg",  # appdirs.site_config_dir: sPyNNaker looks there too
    "XDG_DATA_DIRS": "usr/share",
    "DASK_CONFIG": "home/.config/dask",
    "DASK_ROOT_CONFIG": "etc/dask",
    "IPYTHONDIR": "home/.ipython",
    "MPLCONFIGDIR": "home/.config/matplotlib",
}
#: Variables that would steer a library from outside the test (unset for the session).
HERMETIC_UNSET = ("NEST_DATA_DIR_RC", "SPINNAKER_CFG", "PYTHONSTARTUP", "JUPYTER_CONFIG_DIR")


def _isolate_user_environment() -> tuple[Path, dict[str, str | None]]:
    root = Path(tempfile.mkdtemp(prefix="opsnn-tests-home-"))
    saved: dict[str, str | None] = {}
    for name, rel in HERMETIC_DIRS.items():
        saved[name] = os.environ.get(name)
        (root / rel).mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(root / rel)
    for name in HERMETIC_UNSET:
        saved[name] = os.environ.pop(name, None)
    return root, saved


_HERMETIC_ROOT, _SAVED_ENV = _isolate_user_environment()
os.environ.setdefault("PYNEST_QUIET", "1")  # NEST prints a banner to stdout otherwise

# Imported only now, so that nothing they pull in has read the user's configuration.
import neo  # noqa: E402

from opsnn_lake import Lake  # noqa: E402
from opsnn_lake.testing import nest_network_block  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def hermetic_home() -> Iterator[Path]:
    """The session's scratch HOME (already in ``os.environ``); removed at the end."""
    home = Path(os.environ["HOME"])
    # A test that reset the environment would silently read the user's files again.
    assert home == _HERMETIC_ROOT / "home", f"HOME changed before the session: {home}"
    yield home
    for name, value in _SAVED_ENV.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    shutil.rmtree(_HERMETIC_ROOT, ignore_errors=True)


#: A small real sweep of simulate/va.py: 2 g_inh x 2 seeds, 400 cells, 400 ms (~10 s).
SMALL_VA_SWEEP = """\
model: va
simulator: nest
parameters: {n_pop: 400, pconn: 0.1, tstop: 400.0}
grid:
  g_inh: [30.0, 80.0]
seeds: [1, 2]
workers: 2
"""


@pytest.fixture(scope="session")
def va_lake_dir(tmp_path_factory) -> Path:
    """A folder like a user's project after a small sweep: ``lake/`` and ``catalogs/lake.yaml``.

    Real NEST runs of ``simulate/va.py`` through the sweep command (one process each);
    tests read it and must not add to it.
    """
    from opsnn_lake.cli import main

    root = tmp_path_factory.mktemp("va_project")
    spec = root / "small_sweep.yaml"
    spec.write_text(SMALL_VA_SWEEP)
    code = main(["sweep", str(spec), "--lake", str(root / "lake")])
    assert code == 0, "the small VA sweep failed"
    Lake(root / "lake").write_catalog(root / "catalogs" / "lake.yaml")
    return root


@pytest.fixture
def lake(tmp_path) -> Lake:
    """An empty lake in a temporary directory."""
    return Lake(tmp_path / "lake")


@pytest.fixture(scope="session")
def nest_block() -> neo.Block:
    """A real NEST run: 4 populations (one recorded through a PopulationView), 1 segment."""
    return nest_network_block(segments=1)


@pytest.fixture(scope="session")
def nest_block_two_segments() -> neo.Block:
    """A real NEST run with ``sim.reset()`` between two segments."""
    return nest_network_block(segments=2, seed=11)


SPINNAKER_SCRIPT = """
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
exc = sim.Population(20, sim.IF_curr_exp(), label="exc")
inh = sim.Population(10, sim.IF_curr_exp(), label="inh")
drive = sim.Population(5, sim.SpikeSourcePoisson(rate=50.0), label="drive")
sim.Projection(drive, exc, sim.AllToAllConnector(), sim.StaticSynapse(weight=1.0, delay=1.0))
sim.Projection(exc, inh, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.5, delay=1.0))
exc.record(["spikes", "v"])
inh.record("spikes")
sim.run(50.0)
sim.reset()
sim.run(50.0)
sim.end()
"""


@pytest.fixture(scope="session")
def spinnaker_template(tmp_path_factory) -> Path:
    """A run folder left by a real sPyNNaker run on a virtual board (2 segments, 50 ms each).

    A virtual board records nothing: tests write recordings into copies of its
    databases (:func:`opsnn_lake.testing.samples.fill_spinnaker_database`).
    """
    import subprocess
    import sys

    work = tmp_path_factory.mktemp("spinnaker")
    (work / "xdg").mkdir()
    (work / "xdg" / ".spynnaker.cfg").write_text("")  # an empty user cfg: defaults only
    (work / "spynnaker.cfg").write_text(
        "[Machine]\nvirtual_board = True\nversion = 5\n\n"
        f"[Reports]\ndefault_report_file_path = {work}/spinn_reports\n"
        "keep_data_database = True\n\n[Logging]\ndefault = warning\n"
    )
    (work / "run.py").write_text(SPINNAKER_SCRIPT)
    env = {**os.environ, "XDG_CONFIG_HOME": str(work / "xdg")}
    done = subprocess.run(
        [sys.executable, "run.py"], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (folder,) = (work / "spinn_reports").rglob("run_1")
    return folder
