"""SpiNNaker back-end: sPyNNaker's ``pyNN.spiNNaker``; version from ``sPyNNaker``.

Which machine is used (a real board by name, a spalloc server, or a virtual board) is
sPyNNaker's configuration (``spynnaker.cfg`` in the working directory, else
``~/.spynnaker.cfg``), never this code's; see ``docs/simulate.md``.
"""

from __future__ import annotations

from opsnn_lake.simulators.runner import Backend

__all__ = ["BACKEND"]

BACKEND = Backend(name="spinnaker", pynn_module="pyNN.spiNNaker", distribution="sPyNNaker")
