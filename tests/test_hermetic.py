"""The suite ignores the user's own configuration (issue 13).

A sPyNNaker user has ``~/.spynnaker.cfg`` (sPyNNaker writes one on first use), a NEST
user may have ``~/.nestrc``, a dask user ``~/.config/dask/*.yaml``. The session fixture in
``conftest.py`` points HOME, XDG_* and dask's config paths into a scratch directory;
here a real pytest subprocess, started with a HOME holding all three, runs a sPyNNaker
virtual-board test, a dask analysis test and the checks below, and must pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HOSTILE_KEY = "opsnn-hostile-marker"


def _spynnaker_user_cfg() -> str:
    """What sPyNNaker writes to ``~/.spynnaker.cfg`` when it finds no user config."""
    import spinn_front_end_common.interface.config_setup as fec

    template = Path(fec.__file__).with_name(fec.TEMPLATE_FILE).read_text()
    return template + "\n# Copy any additional settings you want to change here\n"


def make_user_home(home: Path) -> Path:
    """A HOME like a SpiNNaker + NEST + dask user's, with settings that would show."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".spynnaker.cfg").write_text(_spynnaker_user_cfg())
    (home / ".nestrc").write_text("(opsnn hostile nestrc was read) M_FATAL message\n")
    dask_dir = home / ".config" / "dask"
    dask_dir.mkdir(parents=True)
    (dask_dir / "user.yaml").write_text(f"{HOSTILE_KEY}: true\nscheduler: no-such-scheduler\n")
    return home


def test_the_session_home_is_a_scratch_directory() -> None:
    import dask
    import spinn_utilities.config_holder as holder

    home = Path(os.environ["HOME"])
    assert home.name == "home" and home.parent.name.startswith("opsnn-tests-home-")
    assert Path("~").expanduser() == home
    assert dask.config.get(HOSTILE_KEY, None) is None
    assert dask.config.get("scheduler", None) is None
    assert not (home / ".spynnaker.cfg").exists() and not (home / ".nestrc").exists()
    assert os.environ["DASK_CONFIG"].startswith(str(home))
    assert "opsnn-tests-home-" in os.environ["XDG_CONFIG_DIRS"]
    assert holder is not None  # sPyNNaker's config finder reads only these variables


def test_user_files_would_be_read_without_the_fixture(tmp_path) -> None:
    # Proves the files below are live: a plain process with this HOME picks them up.
    home = make_user_home(tmp_path / "user")
    env = {**os.environ, "HOME": str(home)}
    for name in ("XDG_CONFIG_HOME", "DASK_CONFIG", "DASK_ROOT_CONFIG"):
        env.pop(name, None)
    code = f"import dask; print(dask.config.get({HOSTILE_KEY!r}, None))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "True", out.stderr


def test_suite_passes_with_a_users_spynnaker_nest_and_dask_config(tmp_path) -> None:
    home = make_user_home(tmp_path / "user")
    env = {**os.environ, "HOME": str(home)}
    # As on the user's machine: their XDG/dask variables unset, so HOME decides.
    for name in ("XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "DASK_CONFIG", "DASK_ROOT_CONFIG"):
        env.pop(name, None)
    tests = Path(__file__).parent
    selected = [
        f"{tests / 'test_hermetic.py'}::test_the_session_home_is_a_scratch_directory",
        f"{tests / 'test_spinnaker_runner.py'}::test_va_on_a_virtual_spinnaker_board",
        f"{tests / 'test_analysis_results.py'}::test_rates_are_lazy_and_carry_run_parameters",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *selected],
        env=env,
        cwd=tests.parent,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout
    # and nothing was written into the user's home by the run
    assert sorted(p.name for p in home.iterdir()) == [".config", ".nestrc", ".spynnaker.cfg"]
