"""One run in a fresh Python process: :func:`run_in_subprocess` and the sweep's dask task.

A simulator kernel holds global state, and a crash must not take the sweep with it, so
every run gets its own process (``runner.child_main``). The parent only starts it,
waits (killing it on a timeout or an interruption), keeps the last lines of its output
and reads its :class:`~opsnn_lake.simulators.records.RunResult` from a pipe. It needs no
scratch file and no Lake until a run fails (then the lake removes what the dead child
left staged), and this module imports no simulator, neo or zarr: a fresh dask worker
starts its first child at once instead of first importing what only the child uses.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from opsnn_lake.simulators.records import RunRequest, RunResult

if TYPE_CHECKING:
    from opsnn_lake.lake import Lake

__all__ = ["run_in_subprocess", "run_task"]

_CHILD = (
    "import sys; from opsnn_lake.simulators.runner import child_main; "
    "sys.exit(child_main(sys.argv[1:]))"
)
#: Lines of a failed child's output kept for its report.
LOG_LINES = 15
#: Seconds to wait for the output readers once the child is gone (a grandchild may hold
#: the pipes open; its output is not ours).
_DRAIN = 5.0


def _location(lake: Any) -> str:
    """Where the child finds the lake: a Lake's ``location``, an URL, or an absolute path."""
    if hasattr(lake, "location"):
        return str(lake.location)
    text = str(os.fspath(lake))
    return text if "://" in text else os.path.abspath(text)  # the child may have another cwd


def _lines() -> collections.deque[str]:
    return collections.deque(maxlen=LOG_LINES)


@dataclass
class _Child:
    """A running child, its output readers and what they read."""

    proc: subprocess.Popen[bytes]
    readers: list[threading.Thread]
    tail: collections.deque[str] = field(default_factory=lambda: _lines())
    result: list[bytes] = field(default_factory=list)

    def finish_reading(self, *, output: bool) -> None:
        """Wait for the result line (and, if ``output``, the rest of the output)."""
        output_reader, result_reader = self.readers
        result_reader.join(timeout=_DRAIN)
        if output:  # only a failure's report needs it; a grandchild may keep it open
            output_reader.join(timeout=_DRAIN)


def _read_lines(stream: Any, tail: collections.deque[str]) -> None:
    with contextlib.suppress(OSError, ValueError):
        for line in stream:
            tail.append(line.decode(errors="replace").rstrip("\n"))


def _read_result_line(fd: int, chunks: list[bytes]) -> None:
    # One line, not up to EOF: a process the child forked may hold the pipe open.
    with open(fd, "rb") as pipe, contextlib.suppress(OSError):
        chunks.append(pipe.readline())


def _reader(target: Any, *args: Any) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name="opsnn-child-output", daemon=True)
    thread.start()
    return thread


def _start_child(
    request: RunRequest, location: str, register: bool, run_id: str | None, cwd: Any
) -> _Child:
    read_fd, write_fd = os.pipe()
    argv = [sys.executable, "-c", _CHILD, "--lake", location, "--request", request.to_json()]
    argv += ["--result-fd", str(write_fd), "--parent", str(os.getpid())]
    argv += ["--register", "1" if register else "0"]
    if run_id:
        argv += ["--expect", run_id]
    env = {**os.environ, "PYNEST_QUIET": "1", "PYTHONUNBUFFERED": "1"}
    try:
        # Same process group as this one (killing the sweep's group kills the runs);
        # the child also dies with this process (processes.die_with_parent).
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                cwd=cwd, env=env, pass_fds=(write_fd,))  # fmt: skip
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)  # the child has its copy; EOF comes when it exits
    child = _Child(proc, [])
    child.readers = [_reader(_read_lines, proc.stdout, child.tail),
                     _reader(_read_result_line, read_fd, child.result)]  # fmt: skip
    return child


def _wait(child: _Child, timeout: float | None) -> tuple[int, bool]:
    """``(exit code, timed out)``; the child is killed on a timeout or an interruption."""
    try:
        return child.proc.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        _kill(child.proc)
        return child.proc.wait(), True
    except BaseException:
        _kill(child.proc)  # interrupted (Ctrl-C, a cancelled task): the run goes too
        child.proc.wait()
        raise


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def _child_result(child: _Child) -> RunResult | None:
    import json

    try:
        return RunResult.from_dict(json.loads(b"".join(child.result)))
    except ValueError:  # nothing written (a killed child), or not one of ours
        return None


def _failure_reason(code: int, timed_out: bool, timeout: float | None, result: Any) -> str:
    if timed_out:
        return f"timed out after {timeout} s"
    if result is not None and result.error:
        return str(result.error)
    if code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    return f"exit code {code}"


def _discard_unfinished(location: str, register: bool, run_id: str | None, pid: int) -> list[str]:
    """Remove what the dead writer ``pid`` left unfinished of ``run_id``; notes for the report."""
    if run_id is None:
        return []
    from opsnn_lake.lake import Lake

    lake = Lake(location, register=register)
    return [f"removed unfinished store {name}" for name in lake.discard_unfinished(run_id, pid)]


def run_in_subprocess(
    request: RunRequest,
    lake: Lake | str | os.PathLike[str],
    *,
    run_id: str | None = None,
    timeout: float | None = None,
    cwd: str | os.PathLike[str] | None = None,
    register: bool | None = None,
) -> RunResult:
    """Run one configuration in a fresh Python process and wait for it.

    Parameters
    ----------
    request : RunRequest
        What to run.
    lake : Lake, str or path-like
        The lake or its location (a path or URL the child can reach).
    run_id : str, optional
        The id the parent planned; the child refuses to run if its plan differs (the
        model file changed in between).
    timeout : float, optional
        Seconds before the child is killed (it dies with this process too).
    cwd : path-like, optional
        Working directory of the child (sPyNNaker reads ``spynnaker.cfg`` there).
    register : bool, optional
        False: the child only publishes the run (``Lake(register=False)``), for workers
        on other nodes; the index keeper registers it with ``Lake.sync``. Default: the
        given Lake's ``register``, else True.

    Returns
    -------
    RunResult
        ``status`` ``"done"``, ``"cached"`` or ``"failed"``; ``seconds`` from start to
        exit of the child. Never raises for a failed run: a crash or timeout is
        reported (``error``, ``log``: the last lines of its output), and the unfinished
        store is removed (``notes``).
    """
    location = _location(lake)
    if register is None:
        register = bool(getattr(lake, "register", True))
    start = time.perf_counter()
    child = _start_child(request, location, register, run_id, cwd)
    code, timed_out = _wait(child, timeout)
    seconds = round(time.perf_counter() - start, 3)
    child.finish_reading(output=False)
    result = _child_result(child)
    if code == 0 and result is not None and not result.failed:
        return replace(result, seconds=seconds)
    child.finish_reading(output=True)
    run_id = run_id or (result.run_id if result is not None else None)
    return RunResult.failure(
        run_id,
        _failure_reason(code, timed_out, timeout, result),
        log="\n".join(child.tail),
        notes=tuple(_discard_unfinished(location, register, run_id, child.proc.pid)),
        seconds=seconds,
        registered=register,
    )


def run_task(
    request: RunRequest,
    location: str,
    run_id: str,
    timeout: float | None,
    cwd: str | None,
    register: bool,
) -> RunResult:
    """One run of a sweep on a dask worker: a fresh Python process, never an exception."""
    try:
        return run_in_subprocess(
            request, location, run_id=run_id, timeout=timeout, cwd=cwd, register=register
        )
    except Exception as err:  # the worker itself must report, whatever happened
        return RunResult.failure(run_id, f"{type(err).__name__}: {err}")
