"""Both simulator back-ends pass :class:`opsnn_lake.testing.BackendTests`.

A small VA network on NEST, and on sPyNNaker mapped onto a virtual board (a working
directory whose ``spynnaker.cfg`` asks for one, and a user config of its own, as in
``test_spinnaker_runner.py``).
"""

from __future__ import annotations

import os

import pytest

from opsnn_lake.testing import BackendTests

VIRTUAL_BOARD_CFG = """\
[Machine]
virtual_board = True
version = 5

[Reports]
default_report_file_path = {reports}

[Logging]
default = warning
"""


class TestNest(BackendTests):
    simulator = "nest"


class TestSpinnaker(BackendTests):
    simulator = "spinnaker"

    @pytest.fixture(scope="class")
    @classmethod
    def environment(cls, tmp_path_factory):
        work = tmp_path_factory.mktemp("backend_spinnaker")
        (work / "spynnaker.cfg").write_text(VIRTUAL_BOARD_CFG.format(reports=work / "reports"))
        user = work / "user_config"  # sPyNNaker wants one user cfg; not the real ~
        user.mkdir()
        (user / ".spynnaker.cfg").write_text("")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("XDG_CONFIG_HOME", str(user))
            patch.chdir(work)
            yield work
        assert not os.environ.get("XDG_CONFIG_HOME", "").startswith(str(user))
