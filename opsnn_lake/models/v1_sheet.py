"""A 2D sheet of excitatory and inhibitory cells with distance-dependent connectivity.

The travelling-wave setting of the OpSNN project: ``side_exc``² excitatory and
``side_inh``² inhibitory ``IF_cond_exp`` cells on two square grids (PyNN ``Grid2D``)
covering the same ``extent`` x ``extent`` µm sheet (a torus when ``periodic``). Every
pair is connected with probability ``p * exp(-d / lambda)`` (PyNN
``DistanceDependentProbabilityConnector``, ``d`` in µm) and a delay that grows with
distance, ``min_delay + d / v_axon``, so activity spreads as waves.

The sheet is driven by an input run from the lake, named by the ``stimulus`` parameter
(e.g. a :mod:`moving_bump`): its spike trains become a ``SpikeSourceArray`` laid out on
the same sheet from their ``x``/``y`` grid annotations and connected to the excitatory
cells with a Gaussian footprint of width ``sigma_in`` µm. The runner records the input's
run id in the provenance (``lake.search(input=<id>)`` finds the sheets it drove).

Input spike times are played from ``stimulus_onset`` ms on and put on the sheet's ``dt``
grid (the first step at or after each spike). PyNN's NEST back-end delivers a source
spike through a parrot neuron one ``min_delay`` late and so asks NEST for it at
``t - min_delay``, which must be > 0: an input whose first spike would fall at or before
``min_delay`` (a moving bump fires from 0.1 ms on) is refused before the simulation
starts, with the onset that makes it playable. The default onset, ``min_delay + dt``,
plays every input.

The populations carry ``extent`` (``[[x0, x1], [y0, y1]]``, µm) and ``periodic``
annotations; with PyNN's ``Grid2D`` structure and its cells' positions the lake stores
them with every run (see ``docs/format.md``, *Positions*).

Parameters are in PyNN units except distances (µm), speeds (µm/ms) and conductances (nS).
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

import neo
import numpy as np
from pyNN.random import NumpyRNG, RandomDistribution
from pyNN.space import Grid2D, Space

if TYPE_CHECKING:
    from pyNN.common import BasePopulation

NAME = "v1_sheet"

INPUTS = {"stimulus": "run id of a spike-source input with x/y grid annotations (moving_bump)"}

PARAMETERS: dict[str, float | int | str] = {
    # --- sheet -----------------------------------------------------------------------
    "side_exc": 20,  # excitatory grid: side_exc**2 cells
    "side_inh": 10,  # inhibitory grid: side_inh**2 cells
    "extent": 1000.0,  # (µm) side of the square sheet
    "periodic": 1,  # 1: distances wrap around (a torus), no edge effects
    # --- recurrent connectivity: p * exp(-d / lambda) ----------------------------------
    "p_exc": 0.3,
    "lambda_exc": 150.0,  # (µm)
    "p_inh": 0.6,
    "lambda_inh": 200.0,  # (µm) wider than excitation: surround inhibition
    "g_exc": 1.0,  # (nS)
    "g_inh": 80.0,  # (nS)
    "min_delay": 0.5,  # (ms) delay at d = 0; the runner's min_delay too
    "v_axon": 300.0,  # (µm/ms) delay grows by d / v_axon
    # --- input -------------------------------------------------------------------------
    "stimulus": "",  # run id of the input run (see INPUTS)
    "p_in": 0.8,  # peak probability of an input -> exc connection
    "sigma_in": 60.0,  # (µm) Gaussian footprint of an input source
    "g_in": 8.0,  # (nS)
    "stimulus_onset": -1.0,  # (ms) sheet time of the input's time 0; < 0: min_delay + dt
    # --- simulation ----------------------------------------------------------------------
    "dt": 0.1,  # (ms)
    "tstop": 500.0,  # (ms)
    "seed": 4242,  # NumpyRNG seed for connectivity and initial v
    # --- cells (IF_cond_exp, as the VA benchmark) ---------------------------------------
    "cm": 0.2,  # (nF)
    "tau_m": 20.0,  # (ms)
    "v_rest": -60.0,  # (mV)
    "v_reset": -60.0,  # (mV)
    "v_thresh": -50.0,  # (mV)
    "tau_refrac": 5.0,  # (ms)
    "tau_syn_e": 5.0,  # (ms)
    "tau_syn_i": 10.0,  # (ms)
    "e_rev_e": 0.0,  # (mV)
    "e_rev_i": -80.0,  # (mV)
    # --- recording -------------------------------------------------------------------------
    "n_record_v": 4,  # membrane potential of the first n excitatory cells
    "record_input": 0,  # 1: also store the input spikes as population "stimulus"
}

SIMULATOR_SETTINGS: dict[str, dict[str, Any]] = {
    "nest": {"threads": 1, "max_delay": 20.0, "rng_seed": 42},
    "spinnaker": {},
}

_NS_TO_US = 1e-3


def _on_spinnaker(sim: ModuleType) -> bool:
    return "spinnaker" in sim.__name__.lower()


def _grid(side: int, extent: float) -> Grid2D:
    step = extent / side
    return Grid2D(aspect_ratio=1.0, dx=step, dy=step, x0=step / 2, y0=step / 2)


def _sheet(
    sim: ModuleType, n: int, cell: Any, grid: Grid2D, label: str, on_board: bool
) -> BasePopulation:
    if not on_board:
        return sim.Population(n, cell, structure=grid, label=label)
    # sPyNNaker turns a Grid2D structure into a 2D vertex that needs 2D atoms-per-core
    # settings; the same positions given explicitly keep the population 1D.
    pop = sim.Population(n, cell, label=label)
    pop.positions = grid.generate_positions(n)
    return pop


def stimulus_onset(params: dict[str, Any]) -> float:
    """Sheet time (ms) at which the input's time 0 is played."""
    onset = float(params["stimulus_onset"])
    return float(params["min_delay"]) + float(params["dt"]) if onset < 0 else onset


def stimulus_times(
    trains: list[neo.SpikeTrain], params: dict[str, Any], *, on_board: bool
) -> list[np.ndarray]:
    """Input spike times (ms) as the sheet plays them: shifted by the onset, on its dt grid.

    Raises
    ------
    ValueError
        On NEST, if a spike would fall at or before ``min_delay`` (PyNN asks NEST for it
        at ``t - min_delay``, which must be positive); the message gives the onset to use.
    """
    dt, onset, min_delay = float(params["dt"]), stimulus_onset(params), float(params["min_delay"])
    out = []
    for st in trains:
        t = np.asarray(st.rescale("ms").magnitude, dtype=float) + onset
        # Up to the next step of the grid (1e-9 absorbs the float error of on-grid times);
        # rounded to the nearest double of k * dt, as NEST checks times against its grid.
        k = np.ceil(t / dt - 1e-9)
        out.append(np.round(k * dt, 9))
    first = min((float(t[0]) for t in out if t.size), default=np.inf)
    if not on_board and first <= min_delay + 1e-9:
        need = min_delay + dt - (first - onset)
        raise ValueError(
            f"{NAME}: the stimulus's first spike would play at {first:g} ms, at or before "
            f"min_delay = {min_delay:g} ms; PyNN's NEST back-end cannot deliver it (NEST: "
            f"'spike time cannot be set to 0'). Set stimulus_onset >= {need:g} ms "
            "(or leave it at -1: min_delay + dt)"
        )
    return out


def _stimulus(
    sim: ModuleType, block: neo.Block, params: dict[str, Any], on_board: bool
) -> BasePopulation:
    """The input run as spike sources at their places on the sheet."""
    extent = float(params["extent"])
    trains = list(block.segments[0].spiketrains)
    if not trains:
        raise ValueError(f"{NAME}: the stimulus run has no spike trains")
    missing = [i for i, st in enumerate(trains) if not {"x", "y"} <= set(st.annotations)]
    if missing:
        raise ValueError(f"{NAME}: stimulus trains {missing[:5]} lack x/y grid annotations")
    side = int(block.annotations.get("side", 1 + max(int(st.annotations["x"]) for st in trains)))
    times = stimulus_times(trains, params, on_board=on_board)
    spike_times = [t.tolist() for t in times] if on_board else [sim.Sequence(t) for t in times]
    stim = sim.Population(
        len(trains), sim.SpikeSourceArray(spike_times=spike_times), label="stimulus"
    )
    step = extent / side
    xy = np.array([[int(st.annotations["x"]), int(st.annotations["y"])] for st in trains])
    stim.positions = np.vstack([(xy.T + 0.5) * step, np.zeros(len(trains))])
    _annotate(stim, extent=[[0.0, extent], [0.0, extent]], periodic=bool(int(params["periodic"])))
    return stim


def _annotate(pop: BasePopulation, **annotations: Any) -> None:
    # sPyNNaker's Population has PyNN's ``annotations`` dict but no ``annotate``.
    if hasattr(pop, "annotate"):
        pop.annotate(**annotations)
    else:
        pop.annotations.update(annotations)


def build(
    sim: ModuleType, params: dict[str, Any], inputs: dict[str, neo.Block]
) -> dict[str, BasePopulation]:
    """Build the sheet on an already set-up simulator; do not run it.

    Parameters
    ----------
    sim : module
        A PyNN simulator module on which ``setup`` was called.
    params : dict
        Complete parameters (see :data:`PARAMETERS`).
    inputs : dict
        ``{"stimulus": neo.Block}``: the input run named by ``params["stimulus"]``.

    Returns
    -------
    dict of str to BasePopulation
        ``"exc"``, ``"inh"`` and, with ``record_input``, ``"stimulus"``.
    """
    p = params
    extent = float(p["extent"])
    on_board = _on_spinnaker(sim)
    # sPyNNaker refuses seeded host-side RNGs by default and draws on the board instead.
    rng = None if on_board else NumpyRNG(seed=int(p["seed"]), parallel_safe=True)
    cell = sim.IF_cond_exp(
        cm=p["cm"],
        tau_m=p["tau_m"],
        v_rest=p["v_rest"],
        v_reset=p["v_reset"],
        v_thresh=p["v_thresh"],
        tau_refrac=p["tau_refrac"],
        tau_syn_E=p["tau_syn_e"],
        tau_syn_I=p["tau_syn_i"],
        e_rev_E=p["e_rev_e"],
        e_rev_I=p["e_rev_i"],
    )
    n_exc, n_inh = int(p["side_exc"]) ** 2, int(p["side_inh"]) ** 2
    exc = _sheet(sim, n_exc, cell, _grid(int(p["side_exc"]), extent), "exc", on_board)
    inh = _sheet(sim, n_inh, cell, _grid(int(p["side_inh"]), extent), "inh", on_board)
    # Before anything is connected: an input the simulator cannot play is refused
    # before the (longer) network build, not by NEST half way through.
    stim = _stimulus(sim, inputs["stimulus"], p, on_board)
    for pop in (exc, inh):
        _annotate(pop, extent=[[0.0, extent], [0.0, extent]], periodic=bool(int(p["periodic"])))
    v_init = RandomDistribution("uniform", low=p["v_reset"], high=p["v_thresh"], rng=rng)
    exc.initialize(v=v_init)
    inh.initialize(v=v_init)

    periodic = ((0.0, extent), (0.0, extent), None) if int(p["periodic"]) else None
    space = Space(axes="xy", periodic_boundaries=periodic)
    delay: str | float = f"{float(p['min_delay'])} + d / {float(p['v_axon'])}"
    if on_board:
        # sPyNNaker 7.4 indexes positions the wrong way round when it evaluates a
        # distance expression for delays; use the delay at the mean distance instead.
        delay = float(p["min_delay"]) + 0.38 * extent / float(p["v_axon"])
    for pre, p_key, lam_key, g_key, receptor in (
        (exc, "p_exc", "lambda_exc", "g_exc", "excitatory"),
        (inh, "p_inh", "lambda_inh", "g_inh", "inhibitory"),
    ):
        for post in (exc, inh):
            # One connector per projection: sPyNNaker caches the probabilities of the
            # first post-population in the connector and breaks on the second.
            connector = sim.DistanceDependentProbabilityConnector(
                f"{float(p[p_key])} * exp(-d / {float(p[lam_key])})",
                allow_self_connections=False,
                rng=rng,
            )
            sim.Projection(
                pre,
                post,
                connector,
                sim.StaticSynapse(weight=float(p[g_key]) * _NS_TO_US, delay=delay),
                receptor_type=receptor,
                space=space,
                label=f"{pre.label}->{post.label}",
            )

    sim.Projection(
        stim,
        exc,
        sim.DistanceDependentProbabilityConnector(
            f"{float(p['p_in'])} * exp(-d**2 / (2 * {float(p['sigma_in'])}**2))", rng=rng
        ),
        sim.StaticSynapse(weight=float(p["g_in"]) * _NS_TO_US, delay=float(p["min_delay"])),
        receptor_type="excitatory",
        space=space,
        label="stimulus->exc",
    )

    exc.record("spikes")
    inh.record("spikes")
    if int(p["n_record_v"]) > 0:
        exc[: int(p["n_record_v"])].record("v")
    populations: dict[str, BasePopulation] = {"exc": exc, "inh": inh}
    if int(p["record_input"]):
        stim.record("spikes")
        populations["stimulus"] = stim
    return populations
