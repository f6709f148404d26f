"""NEST back-end: PyNN's ``pyNN.nest``; version from the ``nest-simulator`` package.

Set-up costs removed here by :func:`pynn_speedups`, a context manager the runner holds
around set-up, build, run and collection (so the change lives only while a run is
simulated, and PyNN is PyNN again afterwards), each leaving what NEST builds unchanged:

* after every ``nest.Connect``, PyNN 0.13's ``Projection._connect`` asks NEST for the
  status of *all* the new connections just to collect their source ids
  (``GetConnections(...).sources()``, a dict per synapse: 1.5 s of the 2.4 s PyNN spends
  building the 4000-cell Vogels-Abbott network with native connectors). Those ids only
  serve later queries (``prj.get``, ``prj.set``, saving), so PyNN now collects them on
  first use: the same set, from the same query, when (and only if) something needs it;
* ``Population.record`` asks NEST, cell by cell, whether each cell lives on this MPI
  process (a status dict per cell, 0.1 s for 4000 cells); in a single-process run every
  cell does, so the answer is given without asking.

Both replace private PyNN code, so they apply only on a PyNN version verified for them
(:data:`opsnn_lake._versions.VERIFIED`); on any other, PyNN's own behaviour is kept and a
warning says so (the speed-ups are optional: results are the same without them). Set
``OPSNN_NEST_EAGER_SOURCES=1`` to keep PyNN's own behaviour.
"""

from __future__ import annotations

import contextlib
import os
import warnings
import weakref
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from opsnn_lake import _versions
from opsnn_lake.fastpath import nest_nodes
from opsnn_lake.simulators.runner import Backend

__all__ = ["BACKEND", "EAGER_ENV", "pynn_speedups"]

EAGER_ENV = "OPSNN_NEST_EAGER_SOURCES"
"""Environment variable: ``"1"`` keeps PyNN's own (eager) behaviour."""

_PENDING = "_opsnn_pending_sources"  # instance flag: source ids not collected yet
_MARK = "_opsnn_speedups"  # class flag: the speed-ups are in force


def _resolve(prj: Any) -> None:
    """Collect a projection's pending source ids: PyNN's own query, run late."""
    state = prj.__dict__
    if state.pop(_PENDING, False):
        import nest

        conns = nest.GetConnections(
            synapse_model=prj.nest_synapse_model, synapse_label=prj.nest_synapse_label
        )
        state.setdefault("_sources", set()).update(conns.sources())


def _get_sources(self: Any) -> set[int]:
    _resolve(self)
    sources: set[int] = self.__dict__["_sources"]  # the key PyNN's own instances use
    return sources


def _set_sources(self: Any, value: set[int]) -> None:
    self.__dict__["_sources"] = value


def _always_local(self: Any) -> bool:
    return True


@contextlib.contextmanager
def pynn_speedups(sim: ModuleType) -> Iterator[bool]:
    """Remove ``pyNN.nest`` set-up costs that do not change the network, while in force.

    Enter before ``sim.setup`` and leave after the last use of the network's
    projections (the runner leaves after ``sim.end``). On leaving, PyNN's own
    ``Projection._connect`` and ``ID.local`` are back, and every projection built in
    between that is still alive gets its source ids, so it keeps working as PyNN's own.
    Nested use is harmless (the outermost one restores).

    Parameters
    ----------
    sim : module
        ``pyNN.nest``.

    Yields
    ------
    bool
        True if the speed-ups are in force; False if PyNN's own behaviour is kept
        (``OPSNN_NEST_EAGER_SOURCES=1``, or a PyNN version not verified for them, which
        also warns).

    Examples
    --------
    >>> import pyNN.nest as sim  # doctest: +SKIP
    >>> with pynn_speedups(sim):  # doctest: +SKIP
    ...     sim.setup(); build(sim, params); sim.run(100.0); sim.end()
    """
    from pyNN.nest.projections import Projection

    if not _speedups_allowed():
        yield False
        return
    if Projection.__dict__.get(_MARK, False):  # an outer pynn_speedups is in force
        yield True
        return
    deferred: weakref.WeakSet[Any] = weakref.WeakSet()
    restore = _install(sim, deferred)
    try:
        yield True
    finally:
        restore()
        for prj in list(deferred):  # alive after the run: give it what PyNN would have
            _resolve(prj)


def _speedups_allowed() -> bool:
    """False under ``OPSNN_NEST_EAGER_SOURCES=1`` or on an unverified PyNN (which warns)."""
    if os.environ.get(EAGER_ENV) == "1":
        return False
    if not _versions.is_verified("PyNN"):
        verified = _versions.VERIFIED["PyNN"]
        warnings.warn(
            f"PyNN {_versions.installed_version('PyNN')} is not verified for opsnn_lake's "
            f"NEST set-up speed-ups (PyNN{verified.specifier}); building with PyNN's own "
            f"code, which is slower but equivalent. Install 'PyNN{verified.specifier}' "
            "for the speed-ups.",
            RuntimeWarning,
            stacklevel=4,
        )
        return False
    return True


def _install(sim: ModuleType, deferred: weakref.WeakSet[Any]) -> Callable[[], None]:
    """Put the speed-ups in force; return the function that takes them back."""
    from pyNN.nest.projections import Projection
    from pyNN.nest.standardmodels.synapses import TsodyksMarkramSynapse

    eager_connect = Projection.__dict__["_connect"]
    id_class = sim.simulator.ID
    own_local = id_class.__dict__["local"]

    def _connect(self: Any, rule_params: dict[str, Any], syn_params: dict[str, Any]) -> None:
        # PyNN 0.13's _connect without its closing GetConnections(...).sources()
        if isinstance(self.synapse_type, TsodyksMarkramSynapse):
            eager_connect(self, rule_params, syn_params)  # needs NEST's tau_psc
            return
        import nest

        syn_params.update({"synapse_label": self.nest_synapse_label})
        nest.Connect(self.pre.node_collection, self.post.node_collection, rule_params, syn_params)
        self._simulator.state.stale_connection_cache = True
        self.__dict__[_PENDING] = True
        deferred.add(self)

    def restore() -> None:
        Projection._connect = eager_connect
        del Projection._sources  # instances keep theirs under "_sources", as PyNN's do
        delattr(Projection, _MARK)
        id_class.local = own_local

    Projection._sources = property(_get_sources, _set_sources)
    Projection._connect = _connect
    setattr(Projection, _MARK, True)
    if sim.num_processes() == 1:  # fixed when MPI starts, before any cell exists
        id_class.local = property(_always_local)
    return restore


BACKEND = Backend(
    name="nest",
    pynn_module="pyNN.nest",
    distribution="nest-simulator",
    environ={"PYNEST_QUIET": "1"},  # NEST prints a banner on import otherwise
    fastpath=nest_nodes,  # reads NEST's recorders without neo
    prepare=pynn_speedups,
)
