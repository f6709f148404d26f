"""Child processes that never outlive their parent.

A sweep runs each simulation in a child process and an ingest runs a pool of workers.
If the parent is killed (``kill PID``, ``kill -9``, or the whole process group), its
children must stop too, within a second, instead of simulating for hours or idling as
orphans. Two mechanisms, both started in the child by :func:`die_with_parent`:

* Linux's ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the child when the
  thread that started it exits. It works even while the child holds the GIL in a
  simulator kernel. (The starting thread is the one waiting for the child, so it only
  exits with its process.)
* A daemon thread that polls ``os.getppid()`` twice a second: for systems without
  ``prctl``, and for a parent that died before the ``prctl`` call.

Children stay in their parent's process group (no new session), so ``kill -- -PGID``
reaches them directly as well.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, *, poll: float = 0.5) -> None:
    """Make this process exit when the process ``parent_pid`` is gone.

    Parameters
    ----------
    parent_pid : int
        The pid of the parent, as the parent saw it (``os.getpid()`` there).
    poll : float
        Seconds between two checks of the watcher thread.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)  # the parent is gone already (re-parented to init or a subreaper)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll)
        os._exit(1)  # no clean-up: the parent's staging files are `check --repair`'s

    threading.Thread(target=watch, name="opsnn-parent-watch", daemon=True).start()
