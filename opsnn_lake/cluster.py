"""Where parallel work runs: dask's local cluster, a running scheduler, or SLURM jobs.

Sweeps and analyses ask :func:`dask_client` for a ``distributed.Client`` and never build
clusters themselves, so "local", ``--scheduler ADDRESS`` and ``--cluster slurm`` behave
the same everywhere. SLURM clusters come from dask-jobqueue's ``SLURMCluster``: each SLURM
job is one dask worker; its resources and set-up lines come from :class:`SlurmOptions`
(the ``slurm:`` section of a sweep spec, or a ``slurm.yaml`` next to it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from opsnn_lake.errors import InvalidArgumentError, SpecError

__all__ = [
    "CLUSTERS",
    "SlurmOptions",
    "dask_client",
    "load_slurm_options",
    "slurm_options_for",
]

CLUSTERS = ("local", "slurm")
# A local cluster's dashboard is for this machine only: any free port on the loopback.
_LOCAL_DASHBOARD = "127.0.0.1:0"


def _positive_int(data: Mapping[str, Any], key: str, default: int, *, where: str) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{where}: {key!r} must be a positive integer, got {value!r}")
    return value


def _text(data: Mapping[str, Any], key: str, default: str | None, *, where: str) -> str | None:
    value = data.get(key, default)
    if value is not None and not isinstance(value, str):
        raise SpecError(f"{where}: {key!r} must be a string, got {value!r}")
    return value


def _lines(data: Mapping[str, Any], key: str, *, where: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where}: {key!r} must be a list of strings, got {value!r}")
    return tuple(value)


def _env(data: Mapping[str, Any], *, where: str) -> tuple[tuple[str, str], ...]:
    value = data.get("env", {})
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and k.isidentifier() and isinstance(v, str | int | float)
        for k, v in value.items()
    ):
        raise SpecError(
            f"{where}: 'env' must map variable names to values, e.g. {{OMP_NUM_THREADS: 1}}; "
            f"got {value!r}"
        )
    return tuple((k, str(v)) for k, v in value.items())


@dataclass(frozen=True, kw_only=True)
class SlurmOptions:
    """Resources and set-up of the SLURM jobs that run dask workers.

    Parameters
    ----------
    partition : str, optional
        SLURM partition (``sbatch -p``); default: the cluster's default partition.
    account : str, optional
        SLURM account (``sbatch -A``).
    jobs : int
        SLURM jobs (dask workers) to start.
    cores : int
        Cores per job; each worker runs this many tasks at once (a sweep task waits for
        one simulator process, so a core a task).
    memory : str
        Memory per job, e.g. ``"4GB"``.
    walltime : str
        Time limit per job, ``HH:MM:SS``.
    modules : tuple of str
        Environment modules loaded before the worker starts (``module load NAME``).
    env : tuple of (str, str)
        Environment variables exported before the worker starts.
    prologue : tuple of str
        Further shell lines run before the worker starts (e.g. activating a venv).
    job_extra : tuple of str
        Extra ``#SBATCH`` directives, e.g. ``"--qos=short"``.
    python : str, optional
        Python executable of the workers; default: the one running this process (the
        right choice when the venv is on a file system every node mounts).
    interface : str, optional
        Network interface the scheduler and workers listen on (e.g. ``"ib0"`` for
        InfiniBand, ``"lo"`` for a one-node test cluster); default: dask's choice.
    """

    partition: str | None = None
    account: str | None = None
    jobs: int = 1
    cores: int = 1
    memory: str = "2GB"
    walltime: str = "01:00:00"
    modules: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    prologue: tuple[str, ...] = ()
    job_extra: tuple[str, ...] = ()
    python: str | None = None
    interface: str | None = None

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "slurm options") -> SlurmOptions:
        """Validate a mapping (a spec's ``slurm:`` section); errors name the key."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise SpecError(f"{where}: expected a mapping of SLURM options, got {data!r}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"{where}: unknown SLURM option(s) {unknown}; valid: {sorted(known)}")
        return cls(
            partition=_text(data, "partition", None, where=where),
            account=_text(data, "account", None, where=where),
            jobs=_positive_int(data, "jobs", 1, where=where),
            cores=_positive_int(data, "cores", 1, where=where),
            memory=_text(data, "memory", "2GB", where=where) or "2GB",
            walltime=_text(data, "walltime", "01:00:00", where=where) or "01:00:00",
            modules=_lines(data, "modules", where=where),
            env=_env(data, where=where),
            prologue=_lines(data, "prologue", where=where),
            job_extra=_lines(data, "job_extra", where=where),
            python=_text(data, "python", None, where=where),
            interface=_text(data, "interface", None, where=where),
        )

    def to_dict(self) -> dict[str, Any]:
        """The options as plain YAML-able values (inverse of :meth:`from_dict`)."""
        data = asdict(self)
        data["env"] = dict(self.env)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    def job_script_prologue(self) -> list[str]:
        """Shell lines run in each job before the dask worker starts."""
        lines = [f"module load {m}" for m in self.modules]
        lines += [f"export {k}={_shell_quote(v)}" for k, v in self.env]
        return [*lines, *self.prologue]


def _shell_quote(value: str) -> str:
    import shlex

    return shlex.quote(value)


def slurm_options_for(spec_path: str | os.PathLike[str] | None, section: Any) -> SlurmOptions:
    """SLURM options of a spec: its ``slurm:`` section, else ``slurm.yaml`` beside it.

    Parameters
    ----------
    spec_path : path-like or None
        The sweep (or explore) spec file, whose folder may hold ``slurm.yaml``.
    section : mapping or None
        The spec's own ``slurm:`` section, which wins when given.
    """
    if section is not None:
        return SlurmOptions.from_dict(section, where=f"{spec_path}: slurm")
    if spec_path is not None:
        beside = Path(spec_path).with_name("slurm.yaml")
        if beside.is_file():
            return load_slurm_options(beside)
    return SlurmOptions()


def load_slurm_options(path: str | os.PathLike[str]) -> SlurmOptions:
    """Read SLURM options from a YAML file (safe loader); errors name the file and key."""
    from opsnn_lake.safe_yaml import load_yaml

    data = load_yaml(path, what="SLURM options")  # bounded: refuses alias bombs
    return SlurmOptions.from_dict(data, where=str(path))


def _slurm_cluster(options: SlurmOptions, work_dir: Path) -> Any:
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError as err:  # an optional extra: say how to get it
        raise SpecError(
            "--cluster slurm needs dask-jobqueue: pip install 'opsnn-lake[slurm]'"
        ) from err
    extra = [f"--account={options.account}"] if options.account else []
    return SLURMCluster(
        queue=options.partition,
        cores=options.cores,
        processes=1,
        memory=options.memory,
        walltime=options.walltime,
        python=options.python or sys.executable,
        job_script_prologue=options.job_script_prologue(),
        job_extra_directives=[*extra, *options.job_extra],
        log_directory=str(work_dir / "slurm-logs"),
        local_directory=str(work_dir / "dask-worker-space"),
        interface=options.interface,
        # The scheduler runs here; workers on the compute nodes connect back to it.
        scheduler_options={"dashboard_address": ":0"},
    )


def _announce(client: Any, description: str, say: Callable[[str], None]) -> None:
    from opsnn_lake.display import dashboard_link

    link = dashboard_link(client)  # None when the scheduler serves no dashboard
    say(f"{description}; dashboard: {link}" if link else description)


@contextmanager
def dask_client(
    *,
    scheduler: str | None = None,
    cluster: str | None = None,
    slurm: SlurmOptions | None = None,
    workers: int | None = None,
    processes: bool = True,
    work_dir: str | os.PathLike[str] | None = None,
    announce: Callable[[str], None] | None = None,
) -> Iterator[Any]:
    """A ``distributed.Client`` for the duration of a ``with`` block.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://host:8786``); wins over ``cluster``.
    cluster : {"local", "slurm"}, optional
        ``"slurm"`` starts a dask-jobqueue ``SLURMCluster`` with ``slurm`` options;
        ``"local"`` (default) a ``LocalCluster`` on this machine.
    slurm : SlurmOptions, optional
        Jobs, cores, memory, walltime, partition and set-up of the SLURM workers.
    workers : int, optional
        Local cluster: worker processes (or threads, with ``processes=False``); SLURM:
        overrides ``slurm.jobs``.
    processes : bool
        Local cluster only: worker processes (work that holds the GIL, like reading and
        reducing stores) or threads in this process (work that waits on subprocesses).
    work_dir : path-like, optional
        Where SLURM job scripts write logs and workers spill (default: the current folder).
    announce : callable, optional
        Called once with a line naming the cluster and its dashboard (default: print to
        stderr); distributed clusters are long work, so their dashboard is shown.
    """
    say = announce or (lambda line: print(line, file=sys.stderr))
    if cluster not in (None, *CLUSTERS):
        raise InvalidArgumentError(
            f"unknown cluster {cluster!r}; choose one of {', '.join(CLUSTERS)}"
        )
    client, owned, description = _connect(
        scheduler, cluster, slurm, workers, processes, Path(work_dir or os.getcwd()).absolute()
    )
    _announce(client, description, say)
    try:
        yield client
    finally:
        client.close()
        if owned is not None:
            owned.close()


def _connect(
    scheduler: str | None,
    cluster: str | None,
    slurm: SlurmOptions | None,
    workers: int | None,
    processes: bool,
    work_dir: Path,
) -> tuple[Any, Any, str]:
    """``(client, the cluster started for it or None, a line describing it)``."""
    from distributed import Client

    if scheduler:
        return Client(scheduler), None, f"dask scheduler {scheduler}"
    if cluster == "slurm":
        options = slurm or SlurmOptions()
        owned = _slurm_cluster(options, work_dir)
        owned.scale(jobs=workers or options.jobs)
        return Client(owned), owned, f"SLURM cluster, {workers or options.jobs} job(s)"
    n = workers or os.cpu_count() or 1
    owned = _local_cluster(n, processes)
    return Client(owned), owned, f"dask local cluster, {n} worker(s)"


def _local_cluster(n: int, processes: bool) -> Any:
    """``n`` worker processes, or one worker of ``n`` threads in this process."""
    from distributed import LocalCluster

    if processes:
        return LocalCluster(
            n_workers=n, threads_per_worker=1, host="127.0.0.1",
            dashboard_address=_LOCAL_DASHBOARD,
        )  # fmt: skip
    return LocalCluster(  # tcp, not inproc: the dashboard link then names 127.0.0.1
        n_workers=1, threads_per_worker=n, processes=False, protocol="tcp://",
        host="127.0.0.1", dashboard_address=_LOCAL_DASHBOARD,
    )  # fmt: skip
