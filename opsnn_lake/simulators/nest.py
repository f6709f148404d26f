"""NEST back-end: PyNN's ``pyNN.nest``; version from the ``nest-simulator`` package.

Set-up costs removed here (:func:`defer_projection_sources`, run by the runner before
``sim.setup``), each leaving what NEST builds unchanged:

* after every ``nest.Connect``, PyNN 0.13's ``Projection._connect`` asks NEST for the
  status of *all* the new connections just to collect their source ids
  (``GetConnections(...).sources()``, a dict per synapse: 1.5 s of the 2.4 s PyNN spends
  building the 4000-cell Vogels-Abbott network with native connectors). Those ids only
  serve later queries (``prj.get``, ``prj.set``, saving), so PyNN now collects them on
  first use: the same set, from the same query, when (and only if) something needs it;
* ``Population.record`` asks NEST, cell by cell, whether each cell lives on this MPI
  process (a status dict per cell, 0.1 s for 4000 cells); in a single-process run every
  cell does, so the answer is given without asking.

Set ``OPSNN_NEST_EAGER_SOURCES=1`` to keep PyNN's own behaviour.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

from opsnn_lake.simulators.runner import Backend

__all__ = ["BACKEND", "defer_projection_sources"]

_PENDING = "_opsnn_pending_sources"
_SOURCES = "_opsnn_sources"


def _sources(self: Any) -> set[int]:
    state = self.__dict__
    if state.pop(_PENDING, False):
        import nest

        conns = nest.GetConnections(
            synapse_model=self.nest_synapse_model, synapse_label=self.nest_synapse_label
        )
        state[_SOURCES].update(conns.sources())
    return state[_SOURCES]


def _set_sources(self: Any, value: set[int]) -> None:
    self.__dict__[_SOURCES] = value


def defer_projection_sources(sim: ModuleType) -> bool:
    """Remove ``pyNN.nest`` set-up costs that do not change the network (module docstring).

    Returns
    -------
    bool
        True if the change is in place (PyNN 0.13.x and not disabled by the environment).
    """
    import pyNN
    from pyNN.nest.projections import Projection
    from pyNN.nest.standardmodels.synapses import TsodyksMarkramSynapse

    if os.environ.get("OPSNN_NEST_EAGER_SOURCES") == "1":
        return False
    if getattr(Projection, "_opsnn_deferred", False):
        return True
    if not pyNN.__version__.startswith("0.13."):
        return False  # the private method replaced below is PyNN 0.13's
    eager_connect = Projection._connect

    def _connect(self: Any, rule_params: dict[str, Any], syn_params: dict[str, Any]) -> None:
        if isinstance(self.synapse_type, TsodyksMarkramSynapse):
            return eager_connect(self, rule_params, syn_params)
        import nest

        syn_params.update({"synapse_label": self.nest_synapse_label})
        nest.Connect(self.pre.node_collection, self.post.node_collection, rule_params, syn_params)
        self._simulator.state.stale_connection_cache = True
        self.__dict__[_PENDING] = True
        return None

    Projection._sources = property(_sources, _set_sources)
    Projection._connect = _connect
    Projection._opsnn_deferred = True
    if sim.num_processes() == 1:  # fixed when MPI starts, before any cell exists
        sim.simulator.ID.local = property(_always_local)
    return True


def _always_local(self: Any) -> bool:
    return True


BACKEND = Backend(
    name="nest",
    pynn_module="pyNN.nest",
    distribution="nest-simulator",
    environ={"PYNEST_QUIET": "1"},  # NEST prints a banner on import otherwise
    fastpath="opsnn_lake.fastpath:nest_nodes",  # reads NEST's recorders without neo
    prepare="opsnn_lake.simulators.nest:defer_projection_sources",
)
